#!/bin/bash
# lib/provider.c against the fake provider: one request per built-in
# provider through tests/helpers/provsend, the request each one sends,
# and the classification of the fake's scripted faults.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant \
		OPENAI_BASE_URL=$FP_URL/v1 OPENAI_API_KEY=k-oai \
		GEMINI_BASE_URL=$FP_URL GEMINI_API_KEY=k-gem \
		MOONSHOT_BASE_URL=$FP_URL/kimi/v1 MOONSHOT_API_KEY=k-kimi \
		OLLAMA_HOST=127.0.0.1:$FP_PORT \
		LMSTUDIO_BASE_URL=$FP_URL/lmstudio/v1
	printf '{"anthropic":"k-ant","openai":"k-oai","gemini":"k-gem",' \
		>"$FP_DIR/keys.json"
	printf '"kimi":"k-kimi","lmstudio":null}\n' >>"$FP_DIR/keys.json"
}
export -f fp_env

# provsend's last line: the result fields.
res() {
	sed -n \$p out | jq -e "$1"
}
export -f res

for p in claude codex openai gemini kimi ollama lmstudio; do
	t_case "$p: a streamed reply with tokens and stop reason" '
		fp_start fp && trap fp_stop EXIT && fp_env &&
		provsend -s "be brief" '"$p"' "say three words" >out &&
		test "$(head -n 1 out)" = "echo: say three words" &&
		res ".status == 0 and .class == null and
			.stop_reason == \"end_turn\" and .tokens_in > 0 and
			.tokens_out == 4 and .http_status == 200 and
			.output_began and (.partial | not) and .ttfb_ms >= 0" &&
		test "$(fp_hits ".auth_ok == true")" -eq 1
	'
done

t_case 'claude sends x-api-key and max_tokens, system at the top' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	provsend -s "be brief" claude hi >out &&
	jq -e ".max_tokens > 0 and .system == \"be brief\" and .stream and
		(.messages | length) == 1" fp/last-anthropic.json &&
	test "$(fp_hits ".auth == \"x-api-key\"")" -eq 1
'

t_case 'codex sends a Bearer key, stream_options and a system message' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	provsend -s "be brief" -n 50 codex hi >out &&
	jq -e ".stream_options.include_usage and .stream and
		.messages[0].role == \"system\" and .max_tokens == 50" \
		fp/last-openai.json &&
	test "$(fp_hits ".auth == \"bearer\"")" -eq 1
'

t_case 'gemini sends x-goog-api-key, never ?key=, and systemInstruction' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	provsend -s "be brief" gemini hi >out &&
	jq -e ".systemInstruction.parts[0].text == \"be brief\" and
		.contents[0].role == \"user\"" fp/last-gemini.json &&
	test "$(fp_hits ".auth == \"x-goog-api-key\"")" -eq 1 &&
	test "$(fp_hits ".auth == \"query\"")" -eq 0
'

t_case 'a wrong key is 77 auth for every provider' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	for p in claude codex gemini kimi; do
		ANTHROPIC_API_KEY=bad OPENAI_API_KEY=bad GEMINI_API_KEY=bad \
		MOONSHOT_API_KEY=bad t_fails 77 provsend $p hi >out &&
		res ".class == \"auth\" and (.message | test(\"bad\") | not)" ||
		return 1
	done
'

t_case 'no key: 78 naming the variable, no request made' '
	fp_start fp && trap fp_stop EXIT && fp_env && unset GEMINI_API_KEY &&
	t_fails 78 provsend gemini hi >out &&
	res ".class == \"config\" and
		(.message | test(\"GEMINI_API_KEY or GOOGLE_API_KEY\"))" &&
	test "$(fp_hits)" -eq 0
'

t_case 'faults: 429 with Retry-After, quota, context window, 529' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cat >fp/script.jsonl <<-EOS &&
	{"family":"anthropic","status":429,"headers":{"retry-after":"7"}}
	{"family":"openai","status":429,"body":{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}}
	{"family":"gemini","context_window":true}
	{"family":"anthropic","status":529}
	{"family":"gemini","status":429,"body":{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}}
	EOS
	t_fails 69 provsend claude hi >out &&
	res ".class == \"rate_limited\" and .retry_after_s == 7" &&
	t_fails 69 provsend codex hi >out &&
	res ".class == \"quota\"" &&
	t_fails 65 provsend gemini hi >out &&
	res ".class == \"context_window\"" &&
	t_fails 69 provsend claude hi >out &&
	res ".class == \"overloaded\" and .http_status == 529" &&
	t_fails 69 provsend gemini hi >out &&
	res ".class == \"rate_limited\" and .retry_after_s == 37"
'

t_case 'mid-stream errors: the class before output, 75 after' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cat >fp/script.jsonl <<-EOS &&
	{"family":"anthropic","midstream_error":"overloaded_error","after":0}
	{"family":"anthropic","midstream_error":"overloaded_error","after":1}
	{"family":"ollama","midstream_error":"model crashed","after":1}
	EOS
	t_fails 69 provsend claude "a b c d e" >out &&
	res ".class == \"overloaded\" and (.output_began | not)" &&
	t_fails 75 provsend claude "a b c d e" >out &&
	res ".class == \"stream_broken\" and .partial and
		.message == \"Overloaded\"" &&
	t_fails 75 provsend ollama "a b c d e" >out &&
	res ".class == \"stream_broken\" and .partial"
'

t_case 'cut streams, HTML and empty 200s, CRLF split at every byte' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cat >fp/script.jsonl <<-EOS &&
	{"family":"openai","cut_after_text":1}
	{"family":"gemini","html":true}
	{"family":"ollama","empty":true}
	{"family":"kimi","crlf":true,"split_every_byte":true,"text":"h\u00e9llo \u4e16\u754c"}
	EOS
	t_fails 75 provsend codex "a b c d e" >out &&
	res ".class == \"stream_broken\" and .partial" &&
	t_fails 69 provsend gemini hi >out &&
	res ".class == \"server\" and (.message | test(\"HTML\"))" &&
	t_fails 69 provsend ollama hi >out &&
	res ".class == \"server\" and (.message | test(\"empty\"))" &&
	provsend kimi hi >out &&
	test "$(head -n 1 out)" = "héllo 世界" &&
	res ".status == 0 and .tokens_out > 0"
'

t_case 'deadlines: silence before the first byte is timeout 69' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"family\":\"ollama\",\"stall_first_byte_ms\":3000}" \
		>fp/script.jsonl &&
	t_fails 69 provsend -t 500 ollama hi >out &&
	res ".class == \"timeout\""
'

t_case 'a config provider on the fake, and record then replay' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	cat >"$XDG_CONFIG_HOME/cdt/config.yaml" <<-EOS &&
	providers:
	  mine:
	    type: openai
	    base_url: $FP_URL/a/v1
	    api_key_cmd: echo k-a
	    model: m-1
	EOS
	echo "{\"a\":\"k-a\"}" >fp/keys.json &&
	provsend -R tape.jsonl mine "hello tape" >out &&
	res ".status == 0 and .key_source == \"api_key_cmd\" and
		.model == \"m-1\"" &&
	fp_stop &&
	provsend -r tape.jsonl replay "hello tape" >out2 &&
	test "$(head -n 1 out2)" = "echo: hello tape" &&
	sed -n \$p out2 | jq -e ".replayed and .model == \"m-1\"" &&
	t_fails 78 provsend -r tape.jsonl replay "other" >out3 &&
	sed -n \$p out3 | jq -e ".class == \"config\""
'

t_done
