#!/bin/bash
# cdt-route: each error class's verdict (retry, fallback, stop), proved by
# counting the fake's hits per provider; Retry-After in every form.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

# a, b, c: OpenAI-compatible providers on one fake (see t6000).
rt_config() {
	cat >"$HOME/route.yaml" <<EOF
providers:
  a: {type: openai, base_url: '${RT_A_URL:-$FP_URL/a/v1}',
      api_key_env: KEY_A, model: m-a, price: {input: 3, output: 15},
      max_input_tokens: 1000}
  b: {type: openai, base_url: '$FP_URL/b/v1', api_key_env: KEY_B,
      model: m-b, price: {input: 0.15, output: 0.6},
      max_input_tokens: 100000}
  c: {type: openai, base_url: '$FP_URL/c/v1', api_key_env: KEY_C,
      model: m-c}
routing:
  priority: [a, b]
  max_retries: ${RT_RETRIES:-0}
  timeout: ${RT_TIMEOUT:-2s}
  max_wait: 1s
  breaker: {threshold: 5, reset: ${RT_RESET:-1s}, max_reset: 8m}
EOF
	export CDT_CONFIG=$HOME/route.yaml KEY_A=ka KEY_B=kb KEY_C=kc
}
export -f rt_config

h() {
	fp_hits ".name == \"$1\""
}
export -f h

# A column of a provider's breaker row ("null" when absent).
brk() {
	store-open "$CDT_HOME/cdt.db" "SELECT $2 AS v FROM breakers WHERE
	  provider = ?" "[\"$1\"]" | jq -r ".v" | grep . || echo null
}
export -f brk

# The provider's route record from status.
st_of() {
	cdt-route status --no-stdin | jq -c "select(.provider == \"$1\")"
}
export -f st_of

errrec() {
	jq -c "select(.type == \"error\")" "$1"
}
export -f errrec

t_case 'S02 server error, no retries: one call, then the next provider' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"a\":{\"status\":500}}" >fp/default.json &&
	cdt-route send hi >out &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 1 ] &&
	jq -e ".provider == \"b\" and .metadata.route.reason == \"fallback:server\" and
		[.metadata.attempts[] | [.provider, .status, .class]] ==
		[[\"a\", 500, \"server\"], [\"b\", 200, null]]" out
'

t_case 'S04 server error, max_retries 2: three calls, then fallback' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 rt_config &&
	echo "{\"a\":{\"status\":502}}" >fp/default.json &&
	cdt-route send hi >out &&
	[ "$(h a)" = 3 ] && [ "$(h b)" = 1 ] &&
	jq -e "[.metadata.attempts[].provider] == [\"a\",\"a\",\"a\",\"b\"] and
		.metadata.wait_ms > 0" out
'

t_case 'S03 overloaded 503 once: retried on the same provider' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 rt_config &&
	echo "{\"family\":\"a\",\"status\":503}" >fp/script.jsonl &&
	cdt-route send hi >out &&
	[ "$(h a)" = 2 ] && [ "$(h b)" = 0 ] &&
	jq -e ".provider == \"a\"" out &&
	[ "$(brk a failures)" = 0 ]
'

t_case 'S15 Anthropic 529 once: retried, then served; count back to 0' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=1 rt_config &&
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k &&
	echo "{\"family\":\"anthropic\",\"status\":529}" >fp/script.jsonl &&
	cdt-route --provider claude send hi >out &&
	[ "$(fp_hits ".family == \"anthropic\"")" = 2 ] &&
	jq -e ".metadata.attempts[0].class == \"overloaded\"" out &&
	[ "$(brk claude failures)" = 0 ]
'

t_case 'S05 bad request: 65, no fallback, not counted' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 rt_config &&
	echo "{\"family\":\"a\",\"status\":400,\"message\":\"bad field\"}" >fp/script.jsonl &&
	t_fails 65 cdt-route send hi >out 2>err &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 0 ] &&
	errrec out | jq -e ".code == 65 and .class == \"bad_request\"" &&
	t_grep "bad field" err &&
	[ "$(brk a failures)" = 0 ]
'

t_case 'S06 context window: falls back to a larger window, not counted' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"family\":\"a\",\"context_window\":true}" >fp/script.jsonl &&
	cdt-route send hi >out &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 1 ] &&
	jq -e ".metadata.route.reason == \"fallback:context_window\"" out &&
	[ "$(brk a failures)" = 0 ] &&
	echo "{\"family\":\"a\",\"context_window\":true}" >>fp/script.jsonl &&
	t_fails 65 cdt-route --provider a,c send hi >out 2>err &&
	[ "$(h c)" = 0 ] &&
	errrec out | jq -e ".class == \"context_window\""
'

t_case 'S07 a request known too long for a: skipped without a call' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	head -c 6000 /dev/zero | tr "\0" x >big &&
	cdt-route send <big >out &&
	[ "$(h a)" = 0 ] && [ "$(h b)" = 1 ] &&
	cdt-route pick --input raw <big >out &&
	jq -e ".provider == \"b\" and .skipped[0].provider == \"a\" and
		.skipped[0].reason == \"context_window\" and
		.estimate.input_tokens == 1500" out &&
	t_fails 65 cdt-route --provider a send <big 2>err && [ "$(h a)" = 0 ]
'

t_case 'S08 auth: falls back, breaker opens at once, unhealthy; alone 77' '
	fp_start fp && trap fp_stop EXIT && RT_RESET=60s rt_config &&
	echo "{\"a\":\"the-right-key\"}" >fp/keys.json &&
	cdt-route send hi >out &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 1 ] &&
	jq -e ".metadata.attempts[0] | .status == 401 and .class == \"auth\"" out &&
	st_of a | jq -e ".state == \"open\" and .health == \"unhealthy\" and
		.last_error == \"auth\"" &&
	cdt-route send hi >out && [ "$(h a)" = 1 ] &&
	echo "{\"c\":\"the-right-key\"}" >fp/keys.json &&
	t_fails 77 cdt-route --provider c send hi >out 2>err &&
	errrec out | jq -e ".code == 77 and .class == \"auth\""
'

t_case 'model 404: falls back; everywhere 78' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"family\":\"a\",\"status\":404}" >fp/script.jsonl &&
	cdt-route send hi >out &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 1 ] &&
	jq -e ".metadata.attempts[0].class == \"not_found\"" out &&
	echo "{\"c\":{\"status\":404}}" >fp/default.json &&
	t_fails 78 cdt-route --provider c send hi >out 2>err &&
	[ "$(h c)" = 1 ]
'

t_case 'S09 429 with another usable: at once to b; a blocked, not counted' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 rt_config &&
	echo "{\"family\":\"a\",\"status\":429,\"headers\":{\"retry-after\":\"30\"}}" >fp/script.jsonl &&
	cdt-route send hi >out &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 1 ] &&
	jq -e ".metadata.wait_ms == 0 and
		.metadata.attempts[0].retry_after_s == 30" out &&
	st_of a | jq -e ".health == \"degraded\" and .failures == 0 and
		.blocked_until != null and .available == false and
		.retry_after_s >= 28 and .retry_after_s <= 30" &&
	cdt-route send hi >out && [ "$(h a)" = 1 ] && [ "$(h b)" = 2 ]
'

t_case 'S11 429 alone, Retry-After within max_wait: waits, then served' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=1 rt_config &&
	echo "{\"family\":\"a\",\"status\":429,\"headers\":{\"retry-after\":\"1\"}}" >fp/script.jsonl &&
	cdt-route --provider a send hi >out &&
	[ "$(h a)" = 2 ] &&
	jq -e ".provider == \"a\" and .metadata.wait_ms >= 1000" out
'

t_case 'S12 429 alone, Retry-After 120 s: 69 at once with retry_after_s' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 rt_config &&
	echo "{\"family\":\"a\",\"status\":429,\"headers\":{\"retry-after\":\"120\"}}" >fp/script.jsonl &&
	t_fails 69 cdt-route --provider a send hi >out 2>err &&
	[ "$(h a)" = 1 ] &&
	errrec out | jq -e ".code == 69 and .retry_after_s == 120" &&
	t_fails 69 cdt-route --provider a send hi >out 2>err &&
	[ "$(h a)" = 1 ] &&
	errrec out | jq -e ".retry_after_s >= 119 and .retry_after_s <= 120"
'

t_case 'Retry-After as an HTTP date' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	d=$(date -u -d "+40 seconds" "+%a, %d %b %Y %H:%M:%S GMT") &&
	echo "{\"family\":\"a\",\"status\":429,\"headers\":{\"retry-after\":\"$d\"}}" >fp/script.jsonl &&
	t_fails 69 cdt-route --provider a send hi >out 2>err &&
	errrec out | jq -e ".retry_after_s >= 38 and .retry_after_s <= 40"
'

t_case 'retry-after-ms' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"family\":\"a\",\"status\":429,\"headers\":{\"retry-after-ms\":\"7500\"}}" >fp/script.jsonl &&
	t_fails 69 cdt-route --provider a send hi >out 2>err &&
	errrec out | jq -e ".retry_after_s >= 7 and .retry_after_s <= 8"
'

t_case 'Anthropic 429 with Retry-After in seconds' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k &&
	echo "{\"family\":\"anthropic\",\"status\":429,\"headers\":{\"retry-after\":\"7\"}}" >fp/script.jsonl &&
	t_fails 69 cdt-route --provider claude send hi >out 2>err &&
	errrec out | jq -e ".retry_after_s == 7"
'

t_case 'Gemini retryDelay in the body' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	export GEMINI_BASE_URL=$FP_URL GEMINI_API_KEY=g &&
	echo "{\"family\":\"gemini\",\"status\":429,\"body\":{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"slow down\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"37s\"}]}}}" >fp/script.jsonl &&
	t_fails 69 cdt-route --provider gemini send hi >out 2>err &&
	[ "$(fp_hits ".family == \"gemini\"")" = 1 ] &&
	errrec out | jq -e ".retry_after_s == 37" &&
	st_of gemini | jq -e ".last_error == \"rate_limited\""
'

t_case 'S14 quota: never retried, falls back, blocked long, unhealthy' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 rt_config &&
	echo "{\"family\":\"a\",\"status\":429,\"error_type\":\"insufficient_quota\",\"message\":\"You exceeded your current quota\"}" >fp/script.jsonl &&
	cdt-route send hi >out &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 1 ] &&
	jq -e ".metadata.attempts[0].class == \"quota\"" out &&
	st_of a | jq -e ".health == \"unhealthy\" and .failures == 0 and
		.retry_after_s >= 3500" &&
	echo "{\"family\":\"c\",\"status\":402}" >>fp/script.jsonl &&
	t_fails 69 cdt-route --provider c send hi >out 2>err &&
	[ "$(h c)" = 1 ] && errrec out | jq -e ".retry_after_s >= 3500"
'

t_case 'S16 timeout before the first byte: deadline fires, falls back' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 RT_TIMEOUT=1s rt_config &&
	echo "{\"family\":\"a\",\"stall_first_byte_ms\":6000}" >fp/script.jsonl &&
	s=$(date +%s%3N) &&
	cdt-route send hi >out &&
	e=$(date +%s%3N) && [ $((e - s)) -lt 4000 ] &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 1 ] &&
	jq -e ".metadata.attempts[0].class == \"timeout\"" out &&
	[ "$(brk a failures)" = 1 ]
'

t_case 'S17 connection refused: at once to the next, counted' '
	fp_start fp && trap fp_stop EXIT &&
	RT_RETRIES=2 RT_A_URL=http://127.0.0.1:1/a/v1 rt_config &&
	cdt-route send hi >out &&
	[ "$(h b)" = 1 ] &&
	jq -e "[.metadata.attempts[].class] == [\"connect\", null]" out &&
	[ "$(brk a failures)" = 1 ]
'

t_case 'S31 stream cut after output began: 75, no fallback, partial kept' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 rt_config &&
	echo "{\"family\":\"a\",\"text\":\"one two three four\",\"chunks\":3,\"cut_after_text\":1}" >fp/script.jsonl &&
	t_fails 75 cdt-route send --stream hi >out 2>err &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 0 ] &&
	jq -s -e "(map(select(.type == \"delta\")) | length) >= 1 and
		(map(select(.type == \"message\"))[0] | .partial == true and
		 .provider == \"a\" and .stop_reason == null) and .[-1].type == \"error\" and
		.[-1].code == 75 and .[-1].class == \"stream_broken\"" out &&
	[ "$(brk a failures)" = 1 ]
'

t_case 'S31 a mid-stream error event after output began: 75' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"family\":\"a\",\"text\":\"one two three\",\"midstream_error\":\"boom\",\"after\":1}" >fp/script.jsonl &&
	t_fails 75 cdt-route send hi >out 2>err &&
	[ "$(h b)" = 0 ]
'

t_case 'S30 stream cut before the first byte: falls back to b' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=2 rt_config &&
	echo "{\"family\":\"a\",\"cut_after\":0}" >fp/script.jsonl &&
	cdt-route send --stream hi there >out &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 1 ] &&
	jq -s -e "(map(select(.type == \"delta\") | .content) | add) ==
		\"echo: hi there\" and .[-1].provider == \"b\"" out
'

t_case 'S32 a list naming a provider twice tries it once per pass' '
	fp_start fp && trap fp_stop EXIT && RT_RETRIES=1 rt_config &&
	echo "{\"a\":{\"status\":500},\"b\":{\"status\":500}}" >fp/default.json &&
	t_fails 69 cdt-route --provider a,b,a,b,a send hi >out 2>err &&
	[ "$(h a)" = 2 ] && [ "$(h b)" = 2 ] &&
	errrec out | jq -e ".retry_after_s != null"
'

t_done
