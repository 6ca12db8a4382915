#!/bin/bash
# cdt-chat: one turn through every provider against the fake; the record
# shapes, deltas, usage and cost; input order; usage errors; forwarding.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

# Every provider pointed at one fake, with keys the fake accepts.
fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant \
		OPENAI_BASE_URL=$FP_URL/v1 OPENAI_API_KEY=k-oai \
		GEMINI_BASE_URL=$FP_URL GEMINI_API_KEY=k-gem \
		MOONSHOT_BASE_URL=$FP_URL/kimi/v1 MOONSHOT_API_KEY=k-kimi \
		OLLAMA_HOST=$FP_URL LMSTUDIO_BASE_URL=$FP_URL/lmstudio/v1
}
export -f fp_env

# provider  fake family  fake name (last-NAME.json)  name in records
while read -r prov family name as; do
	export prov family name as
	t_case "$prov: happy path, user then assistant message" '
		fp_start fp && trap fp_stop EXIT && fp_env &&
		cdt-chat --provider $prov "hello there" >out 2>err &&
		t_lines 2 out &&
		sed -n 1p out | jq -e ".type == \"message\" and .role == \"user\" and
			.content == \"hello there\" and (.id | length) == 36" &&
		sed -n 2p out | jq -e --arg p $as ".type == \"message\" and
			.role == \"assistant\" and .content == \"echo: hello there\" and
			.provider == \$p and .stop_reason == \"end_turn\" and
			.partial == false and .replayed == false and
			.truncated == false and (.model | length) > 0 and
			(.timestamp | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$\"))" &&
		jq -s -e ".[0].conversation_id == .[1].conversation_id and
			.[0].conversation_id != null and .[0].id != .[1].id" out &&
		test "$(fp_hits ".name == \"$name\" or (.name == \"\" and .family == \"$family\")")" -eq 1 &&
		test -s fp/last-$name.json
	'
	t_case "$prov: usage becomes tokens; attempts and timings are there" '
		fp_start fp && trap fp_stop EXIT && fp_env &&
		echo "{\"family\":\"$name\",\"usage\":{\"input\":1000000,\"output\":2000000}}" >fp/script.jsonl &&
		cdt-chat --provider $prov "count me" >out 2>err &&
		sed -n 2p out | jq -e ".metadata.tokens.input == 1000000 and
			.metadata.tokens.output == 2000000 and
			(.metadata.ttfb_ms | type) == \"number\" and
			(.metadata.latency_ms | type) == \"number\" and
			(.metadata.router_overhead_ms | type) == \"number\" and
			(.metadata.attempts | length) == 1 and
			.metadata.attempts[0].provider == \"$as\" and
			(.metadata | has(\"cost_usd\")) and
			(.metadata.wait_ms | type) == \"number\" and
			.metadata.route.reason == \"priority\" and
			.metadata.route.strategy == \"priority\""
	'
	t_case "$prov: --stream: deltas in order, flushed, then the reply" '
		fp_start fp && trap fp_stop EXIT && fp_env &&
		echo "{\"family\":\"$name\",\"text\":\"alpha beta gamma delta\",\"chunks\":4}" >fp/script.jsonl &&
		cdt-chat --provider $prov --stream go >out 2>err &&
		jq -r .type out | uniq -c | sed "s/^ *//" >types &&
		printf "1 message\n4 delta\n1 message\n" >want && t_cmp want types &&
		id=$(sed -n \$p out | jq -r .id) &&
		jq -s -e --arg id "$id" "[.[] | select(.type == \"delta\")] |
			all(.message_id == \$id) and
			(map(.content) | add) == \"alpha beta gamma delta\"" out
	'
done <<'EOF'
claude anthropic anthropic claude
codex openai openai codex
openai openai openai codex
gemini gemini gemini gemini
kimi openai kimi kimi
ollama ollama ollama ollama
lmstudio openai lmstudio lmstudio
EOF

t_case 'cost: a known price gives cost_usd; an unknown one null, never 0' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "providers:\n  priced:\n    type: openai\n    base_url: %s/a/v1\n    model: m1\n    api_key_env: FAKE_KEY\n    price: {input: 1.0, output: 2.0}\n  free:\n    type: openai\n    base_url: %s/b/v1\n    api_key_env: FAKE_KEY\n    model: m2\n" \
		"$FP_URL" "$FP_URL" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	export FAKE_KEY=fk &&
	printf "%s\n" "{\"family\":\"a\",\"usage\":{\"input\":1000000,\"output\":500000}}" \
		"{\"family\":\"b\",\"usage\":{\"input\":10,\"output\":10}}" >fp/script.jsonl &&
	cdt-chat --provider priced hi >a 2>err && cdt-chat --provider free hi >b 2>>err &&
	sed -n 2p a | jq -e ".metadata.cost_usd == 2" &&
	sed -n 2p b | jq -e ".metadata.cost_usd == null"
'

t_case 'nothing to send: 66 and no request' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	t_fails 66 cdt-chat --provider claude </dev/null >out 2>err &&
	t_grep "nothing to send" err &&
	printf "  \n\n" | t_fails 66 cdt-chat --provider claude >out 2>err &&
	test "$(fp_hits)" -eq 0 &&
	jq -e ".type == \"error\" and .code == 66" out
'

t_case 'the message is the PROMPT words, then raw stdin' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "from stdin\n" | cdt-chat --provider claude explain this >out 2>err &&
	sed -n 1p out | jq -e ".content == \"explain this\n\nfrom stdin\n\"" &&
	jq -e ".messages[-1].content == \"explain this\n\nfrom stdin\n\"" fp/last-anthropic.json
'

t_case '-- makes a command word a prompt; a first word runs the command' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude -- log this >out 2>err &&
	sed -n 1p out | jq -e ".content == \"log this\"" &&
	cdt-chat log >log 2>err && t_lines 2 log
'

t_case '-s, --max-tokens and --temperature reach the request' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude -s "be brief" --max-tokens 77 --temperature 0.5 hi >out 2>err &&
	jq -e ".system == \"be brief\" and .max_tokens == 77 and .temperature == 0.5" fp/last-anthropic.json
'

t_case 'usage errors are 64' '
	t_fails 64 cdt-chat --max-tokens 0 hi 2>err && t_grep "max-tokens" err &&
	t_fails 64 cdt-chat --max-tokens x hi 2>err &&
	t_fails 64 cdt-chat --temperature 3 hi 2>err && t_grep "temperature" err &&
	t_fails 64 cdt-chat -c --conversation abc hi 2>err &&
	t_fails 64 cdt-chat --record a --replay b hi 2>err &&
	t_fails 64 cdt-chat --no-such-option hi 2>err &&
	t_fails 64 cdt-chat -i hello 2>err
'

t_case '-m PROVIDER:MODEL picks the provider and the model' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat -m ollama:llama3.2:1b hi >out 2>err &&
	jq -e ".model == \"llama3.2:1b\"" fp/last-ollama.json &&
	sed -n 2p out | jq -e ".provider == \"ollama\""
'

t_case 'CDT_PROVIDER sets the providers' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	CDT_PROVIDER=gemini cdt-chat hi >out 2>err &&
	sed -n 2p out | jq -e ".provider == \"gemini\""
'

t_case 'CDT_MODEL sets the model; -m wins over it' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	CDT_MODEL=ollama:tiny-model cdt-chat hi >out 2>err &&
	jq -e ".model == \"tiny-model\"" fp/last-ollama.json &&
	CDT_MODEL=ollama:tiny-model cdt-chat -m ollama:other hi >out 2>err &&
	jq -e ".model == \"other\"" fp/last-ollama.json
'

t_case 'a bare model that one provider knows goes to that provider' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	m=$(cdt-chat models | jq -r "select(.provider == \"gemini\" and (.default | not)) | .model" | head -1) &&
	[ -n "$m" ] &&
	cdt-chat -m "$m" hi >out 2>err &&
	sed -n 2p out | jq -e ".provider == \"gemini\"" &&
	test "$(fp_hits ".family == \"gemini\"")" -eq 1
'

t_case 'unknown records are forwarded unchanged, first, in order' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" "{\"type\":\"zz\",\"n\":1}" "{\"type\":\"yy\",\"s\":\"x\"}" >in &&
	cdt-chat --provider claude hi <in >out 2>err &&
	head -2 out >got && t_cmp in got && t_lines 4 out
'

t_case 'a malformed record is 65 and nothing is sent' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "{\"type\":\"zz\"}\n{\"type\":\n" |
		t_fails 65 cdt-chat --provider claude hi >out 2>err &&
	test "$(fp_hits)" -eq 0 &&
	printf "{\"type\":\"message\",\"role\":\"user\"}\n" |
		t_fails 65 cdt-chat --provider claude hi >out 2>err &&
	t_grep "bad message record" err && test "$(fp_hits)" -eq 0
'

t_case 'an upstream error record: forwarded, nothing sent, its code' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"type\":\"error\",\"tool\":\"cdt-files\",\"code\":66,\"class\":\"not_found\",\"message\":\"x\"}" |
		t_fails 66 cdt-chat --provider claude hi >out 2>err &&
	test "$(fp_hits)" -eq 0 && t_lines 1 out
'

t_case '>/dev/full is 74, and the reply is still stored' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	t_fails 74 cdt-chat --provider claude hi >/dev/full 2>err &&
	cdt-chat log >log && t_lines 2 log
'

t_case '--text on a pipe prints the reply text only' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude --text hello world >out 2>err &&
	printf "echo: hello world\n" >want && t_cmp want out
'

t_case '--jq runs on the tool'"'"'s own records' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"type\":\"zz\"}" | cdt-chat --provider claude --jq "select(.role == \"assistant\") | .content" hi >out 2>err &&
	printf "echo: hi\n" >want && t_cmp want out
'

t_case 'keys never reach argv, records or messages' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	export ANTHROPIC_API_KEY=sk-secret-123 &&
	echo "{\"anthropic\":\"sk-secret-123\"}" >fp/keys.json &&
	cdt-chat --provider claude hi >out 2>err &&
	! grep -r "sk-secret-123" out err "$CDT_HOME" &&
	export ANTHROPIC_API_KEY=sk-wrong-456 &&
	t_fails 77 cdt-chat --provider claude hi >out 2>err &&
	! grep -r "sk-wrong-456" out err "$CDT_HOME"
'

t_case 'models: one record per known model; a table on --text' '
	cdt-chat models >out 2>err &&
	jq -e -s "length > 6 and all(.type == \"model\") and
		(map(.provider) | unique | length) >= 6 and
		any(.provider == \"claude\" and .default) and
		all(has(\"context_window\") and has(\"price\"))" out &&
	cdt-chat models --text >txt && t_grep "^PROVIDER" txt &&
	t_grep "^claude" txt
'

t_case 'models lists the models config adds' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "providers:\n  local-gpt:\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n    model: my-model\n    models: [my-model, other-model]\n" \
		>"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	cdt-chat models >out 2>err &&
	jq -e -s "any(.provider == \"local-gpt\" and .model == \"my-model\" and .default) and
		any(.provider == \"local-gpt\" and .model == \"other-model\")" out
'

t_done
