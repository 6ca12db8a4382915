#!/bin/bash
# cdt-chat: exit codes of DESIGN §6 from the router, error records, and
# nothing lost: partial replies stored when the stream breaks, when the
# reader goes away, and on SIGINT.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant \
		OPENAI_BASE_URL=$FP_URL/v1 OPENAI_API_KEY=k-oai \
		GEMINI_BASE_URL=$FP_URL GEMINI_API_KEY=k-gem \
		MOONSHOT_BASE_URL=$FP_URL/kimi/v1 MOONSHOT_API_KEY=k-kimi \
		OLLAMA_HOST=$FP_URL LMSTUDIO_BASE_URL=$FP_URL/lmstudio/v1
}
export -f fp_env

# Short deadlines and no waiting on Retry-After, so failures are quick.
quick_cfg() {
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "routing:\n  max_wait: 0s\n  max_retries: 0\n  timeout: 5s\n" \
		>"$XDG_CONFIG_HOME/cdt/config.yaml"
}
export -f quick_cfg

t_case '69: rate limited with Retry-After, retry_after_s in the error' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	echo "{\"family\":\"anthropic\",\"status\":429,\"headers\":{\"retry-after\":\"7\"}}" >fp/script.jsonl &&
	t_fails 69 cdt-chat --provider claude hi >out 2>err &&
	sed -n \$p out | jq -e ".type == \"error\" and .code == 69 and
		.retry_after_s >= 6 and .retry_after_s <= 7" &&
	test -s err
'

t_case '69: a server that is down: no message printed, nothing stored' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	echo "{\"family\":\"anthropic\",\"status\":503,\"repeat\":-1}" >fp/script.jsonl &&
	t_fails 69 cdt-chat --provider claude hi >out 2>err &&
	t_lines 1 out && jq -e ".type == \"error\"" out &&
	t_fails 66 cdt-chat log >log 2>err2
'

t_case '75: a stream cut after output began; the part is stored, partial' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	echo "{\"family\":\"anthropic\",\"text\":\"one two three four\",\"chunks\":4,\"cut_after_text\":2}" >fp/script.jsonl &&
	t_fails 75 cdt-chat --provider claude --stream hi >out 2>err &&
	jq -r .type out >types &&
	printf "message\ndelta\ndelta\nmessage\nerror\n" >want && t_cmp want types &&
	sed -n 4p out | jq -e ".role == \"assistant\" and .partial == true and .provider == \"claude\" and
		.content == \"one two th\" and .stop_reason == null" &&
	sed -n 5p out | jq -e ".code == 75 and .class == \"stream_broken\"" &&
	cdt-chat log >log && t_lines 2 log &&
	sed -n 2p log | jq -e ".partial == true and .content == \"one two th\""
'

t_case '75: a mid-stream error event after output began' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	echo "{\"family\":\"anthropic\",\"text\":\"one two three\",\"chunks\":3,\"midstream_error\":\"overloaded_error\",\"after\":1}" >fp/script.jsonl &&
	t_fails 75 cdt-chat --provider claude hi >out 2>err &&
	cdt-chat log | sed -n 2p | jq -e ".partial == true and (.content | length) > 0"
'

for prov in codex gemini ollama; do
	export prov
	t_case "75: $prov cut mid-stream keeps the part" '
		fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
		fam=$prov && [ $prov = codex ] && fam=openai
		echo "{\"family\":\"$fam\",\"text\":\"one two three four\",\"chunks\":4,\"cut_after_text\":2}" >fp/script.jsonl &&
		t_fails 75 cdt-chat --provider $prov hi >out 2>err &&
		cdt-chat log | sed -n 2p | jq -e ".partial == true and .content == \"one two th\""
	'
done

t_case '77: the key is rejected' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	echo "{\"anthropic\":\"the-right-one\"}" >fp/keys.json &&
	t_fails 77 cdt-chat --provider claude hi >out 2>err &&
	sed -n \$p out | jq -e ".code == 77 and .class == \"auth\""
'

t_case '78: a named provider without a key names the variables' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	unset GEMINI_API_KEY &&
	t_fails 78 cdt-chat --provider gemini hi >out 2>err &&
	t_grep "GEMINI_API_KEY" err && t_grep "GOOGLE_API_KEY" err &&
	test "$(fp_hits)" -eq 0
'

t_case '65: a bad request is 65 with no fallback' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	echo "{\"family\":\"anthropic\",\"status\":400}" >fp/script.jsonl &&
	t_fails 65 cdt-chat --provider claude,codex hi >out 2>err &&
	test "$(fp_hits ".family == \"openai\"")" -eq 0
'

t_case '65: a context window error is 65' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	echo "{\"family\":\"anthropic\",\"context_window\":true}" >fp/script.jsonl &&
	t_fails 65 cdt-chat --provider claude hi >out 2>err
'

t_case 'a 200 whose body is HTML is an error, never a silent success' '
	fp_start fp && trap fp_stop EXIT && fp_env && quick_cfg &&
	echo "{\"family\":\"anthropic\",\"html\":true}" >fp/script.jsonl &&
	cdt-chat --provider claude hi >out 2>err; rc=$?
	[ $rc -ne 0 ] && sed -n \$p out | jq -e ".type == \"error\""
'

t_case 'the reader going away (| head -1) still stores the whole reply' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-auth init >/dev/null 2>&1 &&
	echo "{\"family\":\"anthropic\",\"text\":\"a b c d e f g h\",\"chunks\":8,\"delay_ms\":50}" >fp/script.jsonl &&
	{ cdt-chat --provider claude --stream hi 2>err; echo $? >rc; } | head -1 >first &&
	jq -e ".role == \"user\"" first &&
	test "$(cat rc)" -eq 141 &&
	cdt-chat log >log && t_lines 2 log &&
	sed -n 2p log | jq -e ".content == \"a b c d e f g h\" and .partial == false" &&
	test ! -s err
'

t_case 'SIGINT mid-stream: 130, the part received stored as partial' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"family\":\"anthropic\",\"text\":\"one two three four five six\",\"chunks\":6,\"delay_ms\":400}" >fp/script.jsonl &&
	{ cdt-chat --provider claude --stream hi > >(cat >out) 2>err & pid=$!; } &&
	i=0 && while ! grep -q "\"delta\"" out 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done &&
	kill -INT $pid && { wait $pid; rc=$?; } && [ $rc -eq 130 ] &&
	sleep 0.2 && sed -n \$p out | jq -e ".type == \"error\" and .code == 130" &&
	t_grep "interrupted" err &&
	cdt-chat log >log && t_lines 2 log &&
	sed -n 2p log | jq -e ".partial == true and (.content | startswith(\"one \"))
		and .content != \"one two three four five six\""
'

t_case '--no-log stores nothing, even a reply' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude --no-log hi >out 2>err && t_lines 2 out &&
	t_fails 66 cdt-chat log >log 2>err2
'

t_done
