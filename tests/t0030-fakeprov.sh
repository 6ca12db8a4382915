#!/bin/bash
# The fake LLM provider (tests/fixtures/fakeprov.py) that the chat and route
# tests stand on: its wire formats, checks, scripted faults and hit log,
# driven with curl.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

TR=$SRC/tests/fixtures/transcripts
ANT_S='{"model":"claude-x","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello world"}]}'
ANT_J='{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"hello world"}]}'
OAI_S='{"model":"gpt-x","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello world"}]}'
OAI_N='{"model":"gpt-x","stream":true,"messages":[{"role":"user","content":"hello world"}]}'
OAI_J='{"model":"gpt-x","messages":[{"role":"user","content":"hello world"}]}'
GEM='{"contents":[{"role":"user","parts":[{"text":"hello world"}]}]}'
OLL='{"model":"llama3.2","messages":[{"role":"user","content":"hello world"}]}'
KEYS='{"anthropic":"sk-ant-test","openai":"sk-test","gemini":"g-test","kimi":"sk-kimi"}'

# fake: start a fake in ./fp with the test keys; the case's trap kills it.
fake() {
	fp_start "$PWD/fp" || return 1
	trap fp_stop EXIT
	echo "$KEYS" >fp/keys.json
}

# post PATH BODY [curl args]: body to ./body, headers to ./hdr, status to
# ./status; returns curl's exit status.
post() {
	p_path=$1
	p_body=$2
	shift 2
	curl -sS -N -o body -D hdr -w '%{http_code}' "$@" \
		--data-binary "$p_body" "$FP_URL$p_path" >status
}
ant() {
	a_body=$1
	shift
	post /v1/messages "$a_body" -H "x-api-key: ${KEY-sk-ant-test}" \
		-H 'anthropic-version: 2023-06-01' "$@"
}
oai() {
	o_body=$1
	shift
	post "${PFX-}/v1/chat/completions" "$o_body" \
		-H "Authorization: Bearer ${KEY-sk-test}" "$@"
}
gem() {
	g_method=$1
	shift
	post "/v1beta/models/gemini-2.5-flash:$g_method" "$GEM" \
		-H "x-goog-api-key: ${KEY-g-test}" "$@"
}
oll() {
	post /api/chat "$1"
}
# is_status N: the last post answered N.
is_status() {
	if [ "$(cat status)" != "$1" ]; then
		echo "status $(cat status), want $1:" >&2
		cat body >&2
		return 1
	fi
}
# data: the data fields of an SSE body, one per line.
data() {
	tr -d '\r' <"${1:-body}" | sed -n 's/^data: //p'
}
script() {
	printf '%s\n' "$@" >>fp/script.jsonl
}
hits() {
	fp_hits "$@"
}
# want_eq GOT WANT: the values are equal.
want_eq() {
	if [ "$1" != "$2" ]; then
		echo "got '$1', want '$2'" >&2
		return 1
	fi
}

t_case 'python3 is installed (make deps installs it)' '
	command -v python3 && python3 -c "import http.server, json"
'

t_case 'the port file appears; SIGTERM stops the fake' '
	fp_start "$PWD/fp" && pid=$FP_PID &&
	grep -qx "[0-9][0-9]*" fp/port &&
	curl -sS "$FP_URL/__health" >out && t_grep "^ok$" out &&
	fp_stop && ! kill -0 $pid 2>/dev/null &&
	t_fails 7 curl -sS "$FP_URL/__health"
'

t_case 'anthropic stream: the event order of the Messages API' '
	fake && ant "$ANT_S" && is_status 200 &&
	grep -qi "^content-type: text/event-stream" hdr &&
	grep -qi "^transfer-encoding: chunked" hdr &&
	printf "%s\n" message_start content_block_start ping \
		content_block_delta content_block_delta content_block_delta \
		content_block_stop message_delta message_stop >want &&
	sed -n "s/^event: //p" body >got && t_cmp want got &&
	data | jq -r .type >types && t_cmp want types &&
	data | jq -j "select(.type == \"content_block_delta\").delta.text" >text &&
	printf "echo: hello world" >want && t_cmp want text &&
	data | jq -e -s "map(select(.type == \"message_delta\"))[0] |
		.delta.stop_reason == \"end_turn\" and .usage.output_tokens == 3" &&
	data | jq -e -s ".[0].message | .usage.input_tokens == 2 and
		.model == \"claude-x\"" &&
	test "$(grep -c "^$" body)" -eq 9
'

t_case 'anthropic without stream: one JSON message with Content-Length' '
	fake && ant "$ANT_J" && is_status 200 &&
	grep -qi "^content-length: [1-9]" hdr &&
	jq -e ".type == \"message\" and .content[0].text == \"echo: hello world\"
		and .stop_reason == \"end_turn\" and .usage.output_tokens == 3" body
'

t_case 'anthropic checks: key, version, max_tokens, roles, extra fields' '
	fake && script "{\"family\":\"anthropic\",\"status\":500}" &&
	KEY=wrong ant "$ANT_J" && is_status 401 &&
	jq -e ".type == \"error\" and .error.type == \"authentication_error\"" body &&
	post /v1/messages "$ANT_J" -H "anthropic-version: 2023-06-01" &&
	is_status 401 && t_grep "x-api-key header is required" body &&
	post /v1/messages "$ANT_J" -H "x-api-key: sk-ant-test" && is_status 400 &&
	t_grep "anthropic-version" body &&
	ant "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}" &&
	is_status 400 &&
	jq -e ".error.type == \"invalid_request_error\" and
		(.error.message | test(\"max_tokens\"))" body &&
	ant "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}" &&
	is_status 400 &&
	ant "{\"model\":\"m\",\"max_tokens\":5,\"n\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}" &&
	is_status 400 && t_grep "Extra inputs" body &&
	ant "not json" && is_status 400 &&
	ant "$ANT_J" && is_status 500 &&
	want_eq "$(hits ".auth_ok == false")" 2 &&
	want_eq "$(hits ".status == 400")" 5 &&
	want_eq "$(hits ".rule == 1")" 1 && want_eq "$(hits)" 8
'

t_case 'openai stream: role chunk, usage chunk, then [DONE]' '
	fake && oai "$OAI_S" && is_status 200 &&
	grep -qi "^content-type: text/event-stream" hdr &&
	data >d && want_eq "$(tail -n 1 d)" "[DONE]" &&
	head -n -1 d >chunks &&
	jq -e -s "length == 6 and .[0].choices[0].delta.role == \"assistant\"
		and .[4].choices[0].finish_reason == \"stop\"
		and .[5].choices == [] and .[5].usage.total_tokens == 7
		and ([.[0:5][] | .usage == null] | all)
		and ([.[] | .object == \"chat.completion.chunk\"] | all)" chunks &&
	jq -j ".choices[0].delta.content // empty" chunks >text &&
	printf "echo: hello world" >want && t_cmp want text &&
	oai "$OAI_N" && data | head -n -1 | jq -e -s "all(has(\"usage\") | not)"
'

t_case 'openai without stream; kimi flavour puts usage inside choices[0]' '
	fake && oai "$OAI_J" && is_status 200 &&
	jq -e ".object == \"chat.completion\" and
		.choices[0].message.content == \"echo: hello world\" and
		.usage.prompt_tokens == 2" body &&
	PFX=/kimi KEY=sk-kimi oai "$OAI_S" && is_status 200 &&
	data | head -n -1 >chunks &&
	jq -e -s ".[-1].choices[0].usage.completion_tokens == 3 and
		all(has(\"usage\") | not)" chunks &&
	cmp fp/last-kimi.json - <<<"$OAI_S" 2>/dev/null ||
	{ printf "%s" "$OAI_S" >sent && cmp sent fp/last-kimi.json; }
'

t_case 'openai checks: bearer key per name, unknown fields, stream_options' '
	fake && KEY=wrong oai "$OAI_J" && is_status 401 &&
	jq -e ".error.code == \"invalid_api_key\"" body &&
	post /v1/chat/completions "$OAI_J" && is_status 401 &&
	post /v1/chat/completions "$OAI_J" -H "Authorization: Basic eDp5" &&
	is_status 401 &&
	PFX=/kimi oai "$OAI_J" && is_status 401 &&
	oai "{\"model\":\"m\",\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}" &&
	is_status 400 && t_grep stream_options body &&
	oai "{\"model\":\"m\",\"bogus\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}" &&
	is_status 400 && t_grep "Unrecognized request argument" body &&
	oai "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}" && is_status 400 &&
	want_eq "$(hits ".auth == \"authorization\" and .auth_ok == false")" 1
'

t_case 'lmstudio needs no key unless keys.json names one' '
	fake && post /lmstudio/v1/chat/completions "$OAI_J" && is_status 200 &&
	echo "{\"lmstudio\":\"lm-key\"}" >fp/keys.json &&
	post /lmstudio/v1/chat/completions "$OAI_J" && is_status 401 &&
	PFX=/lmstudio KEY=lm-key oai "$OAI_J" && is_status 200
'

t_case 'gemini sse: usageMetadata on each chunk, STOP last, no [DONE]' '
	fake && gem "streamGenerateContent?alt=sse" && is_status 200 &&
	grep -qi "^content-type: text/event-stream" hdr &&
	! grep -q "DONE" body && data >d && test -s d &&
	jq -e -s "length == 3 and all(.usageMetadata.promptTokenCount == 2)
		and .[-1].candidates[0].finishReason == \"STOP\"
		and .[-1].usageMetadata.candidatesTokenCount == 3
		and (.[0:2] | all(.candidates[0].finishReason == null))" d &&
	jq -j ".candidates[0].content.parts[].text" d >text &&
	printf "echo: hello world" >want && t_cmp want text &&
	want_eq "$(hits ".auth == \"x-goog-api-key\" and .model == \"gemini-2.5-flash\"")" 1
'

t_case 'gemini generateContent, and the JSON array without alt=sse' '
	fake && gem generateContent && is_status 200 &&
	jq -e ".candidates[0].content.parts[0].text == \"echo: hello world\"
		and .usageMetadata.totalTokenCount == 5" body &&
	gem streamGenerateContent && is_status 200 &&
	jq -e "length == 3 and .[2].candidates[0].finishReason == \"STOP\"" body
'

t_case 'gemini checks: 403 without a key, 400 API_KEY_INVALID, ?key=, roles' '
	fake && KEY=wrong gem generateContent && is_status 400 &&
	jq -e ".error.status == \"INVALID_ARGUMENT\" and
		.error.details[0].reason == \"API_KEY_INVALID\"" body &&
	post /v1beta/models/g:generateContent "$GEM" && is_status 403 &&
	jq -e ".error.status == \"PERMISSION_DENIED\"" body &&
	post "/v1beta/models/g:generateContent?key=g-test" "$GEM" &&
	is_status 200 && want_eq "$(hits ".auth == \"query\"")" 1 &&
	post /v1beta/models/g:generateContent "{\"contents\":[{\"role\":\"assistant\",\"parts\":[{\"text\":\"x\"}]}]}" \
		-H "x-goog-api-key: g-test" && is_status 400 &&
	t_grep "valid role" body &&
	post /v1beta/models/g:generateContent "{\"contents\":[]}" \
		-H "x-goog-api-key: g-test" && is_status 400
'

t_case 'ollama: NDJSON, last line done:true; stream:false is one object' '
	fake && oll "$OLL" && is_status 200 &&
	grep -qi "^content-type: application/x-ndjson" hdr &&
	jq -e -s "length == 4 and (.[0:3] | all(.done == false))
		and .[3].done == true and .[3].done_reason == \"stop\"
		and .[3].eval_count == 3" body &&
	jq -j .message.content body >text &&
	printf "echo: hello world" >want && t_cmp want text &&
	oll "{\"model\":\"llama3.2\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" &&
	jq -e ".done == true and .message.content == \"echo: hi\"" body &&
	oll "{\"messages\":[]}" && is_status 400 &&
	jq -e ".error == \"model is required\"" body
'

t_case 'unknown paths and methods are 404 and logged' '
	fake && post /v1/nothing "{}" && is_status 404 &&
	curl -sS -o body -w "%{http_code}" "$FP_URL/v1/messages" >status &&
	is_status 404 &&
	want_eq "$(hits ".family == null and .status == 404")" 2
'

t_case 'scripted 429 with retry-after, then the happy default' '
	fake && script "{\"family\":\"anthropic\",\"status\":429,\"headers\":{\"retry-after\":\"7\"}}" &&
	ant "$ANT_J" && is_status 429 && grep -qi "^retry-after: 7" hdr &&
	jq -e ".type == \"error\" and .error.type == \"rate_limit_error\"" body &&
	oai "$OAI_J" && is_status 200 &&
	ant "$ANT_J" && is_status 200 &&
	want_eq "$(hits ".rule == 1 and .status == 429")" 1 &&
	want_eq "$(hits ".rule == null")" 2
'

t_case 'gemini 429 carries the scripted RetryInfo body' '
	fake && script "{\"family\":\"gemini\",\"status\":429,\"body\":{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"37s\"}]}}}" &&
	gem "streamGenerateContent?alt=sse" && is_status 429 &&
	jq -e ".error.details[0].retryDelay == \"37s\"" body
'

t_case 'default error bodies have each provider shape' '
	fake && script "{\"family\":\"anthropic\",\"status\":529}" \
		"{\"family\":\"openai\",\"status\":429}" \
		"{\"family\":\"kimi\",\"status\":429}" \
		"{\"family\":\"gemini\",\"status\":503}" \
		"{\"family\":\"ollama\",\"status\":500}" &&
	ant "$ANT_J" && is_status 529 &&
	jq -e ".error.type == \"overloaded_error\"" body &&
	oai "$OAI_J" && is_status 429 &&
	jq -e ".error.code == \"rate_limit_exceeded\"" body &&
	PFX=/kimi KEY=sk-kimi oai "$OAI_J" && is_status 429 &&
	jq -e ".error.type == \"rate_limit_reached_error\"" body &&
	gem generateContent && is_status 503 &&
	jq -e ".error.status == \"UNAVAILABLE\" and .error.code == 503" body &&
	oll "$OLL" && is_status 500 && jq -e ".error | type == \"string\"" body
'

t_case 'family, name, match and repeat select script lines' '
	fake && script "{\"family\":\"a\",\"status\":500,\"repeat\":2}" \
		"{\"match\":\"/b/\",\"status\":503}" &&
	for want in 500 500 200; do
		PFX=/a oai "$OAI_J" && is_status $want || exit 1
	done &&
	script "{\"family\":\"kimi\",\"status\":502}" \
		"{\"family\":\"openai\",\"status\":504}" &&
	oai "$OAI_J" && is_status 504 &&
	PFX=/kimi KEY=sk-kimi oai "$OAI_J" && is_status 502 &&
	PFX=/b oai "$OAI_J" && is_status 503 &&
	PFX=/b oai "$OAI_J" && is_status 200 &&
	oai "$OAI_J" && is_status 200 &&
	want_eq "$(hits ".name == \"a\" and .rule == 1")" 2 &&
	want_eq "$(hits ".prefix == \"/b\" and .rule == 2")" 1
'

t_case 'appending keeps the queue; writing the file anew starts it over' '
	fake && script "{\"family\":\"openai\",\"status\":500}" &&
	oai "$OAI_J" && is_status 500 &&
	oai "$OAI_J" && is_status 200 &&
	printf "{\"family\":\"openai\",\"status\":502}" >>fp/script.jsonl &&
	oai "$OAI_J" && is_status 200 &&
	echo >>fp/script.jsonl &&
	oai "$OAI_J" && is_status 502 && oai "$OAI_J" && is_status 200 &&
	rm fp/script.jsonl && script "{\"family\":\"openai\",\"status\":500}" &&
	oai "$OAI_J" && is_status 500 && oai "$OAI_J" && is_status 200 &&
	sleep 0.01 && echo "{\"family\":\"openai\",\"status\":500}" >fp/script.jsonl &&
	oai "$OAI_J" && is_status 500 && oai "$OAI_J" && is_status 200 &&
	echo "{\"family\":\"openai\",\"status\":501}" >fp/script.jsonl &&
	oai "$OAI_J" && is_status 501 &&
	echo "not json" >>fp/script.jsonl && oai "$OAI_J" && is_status 200 &&
	t_grep "script line 2: not JSON" fp/server.log
'

t_case 'default.json makes a provider fail until it goes' '
	fake && echo "{\"anthropic\":{\"status\":503},\"/a/\":{\"status\":500}}" \
		>fp/default.json &&
	ant "$ANT_J" && is_status 503 && ant "$ANT_J" && is_status 503 &&
	PFX=/a oai "$OAI_J" && is_status 500 &&
	oai "$OAI_J" && is_status 200 &&
	script "{\"family\":\"anthropic\",\"text\":\"ok\"}" &&
	ant "$ANT_J" && is_status 200 &&
	rm fp/default.json && ant "$ANT_J" && is_status 200 &&
	want_eq "$(hits ".rule == \"default\"")" 3
'

t_case 'cut stream: 2 events, then the connection closes (curl sees it)' '
	fake && script "{\"family\":\"anthropic\",\"cut_after\":2}" &&
	t_fails 18 ant "$ANT_S" 2>err &&
	sed -n "s/^event: //p" body >got &&
	printf "%s\n" message_start content_block_start >want && t_cmp want got &&
	script "{\"family\":\"openai\",\"cut_after_text\":1}" &&
	t_fails 18 oai "$OAI_S" 2>err &&
	data | jq -j ".choices[0].delta.content" >text &&
	printf "echo: " >want && t_cmp want text &&
	script "{\"family\":\"ollama\",\"cut_after\":10}" &&
	t_fails 18 oll "$OLL" 2>err && jq -e -s "length == 4" body &&
	script "{\"family\":\"anthropic\",\"cut_after\":20}" &&
	t_fails 18 ant "$ANT_J" 2>err && test "$(wc -c <body)" -eq 20
'

t_case 'drop: no response at all; cut_after 0: the headers only' '
	fake && script "{\"family\":\"openai\",\"drop\":true}" \
		"{\"family\":\"gemini\",\"cut_after\":0}" &&
	t_fails 52 oai "$OAI_S" 2>err &&
	want_eq "$(hits ".status == 0")" 1 &&
	t_fails 18 gem "streamGenerateContent?alt=sse" 2>err &&
	is_status 200 && test ! -s body
'

t_case 'mid-stream errors in each provider shape' '
	fake && script "{\"family\":\"anthropic\",\"midstream_error\":\"overloaded_error\",\"after\":1}" \
		"{\"family\":\"ollama\",\"midstream_error\":\"model crashed\",\"after\":1}" \
		"{\"family\":\"openai\",\"midstream_error\":\"boom\",\"after\":2}" \
		"{\"family\":\"gemini\",\"midstream_error\":\"boom\"}" &&
	ant "$ANT_S" && is_status 200 &&
	sed -n "s/^event: //p" body | tail -n 2 >got &&
	printf "%s\n" content_block_delta error >want && t_cmp want got &&
	data | tail -n 1 | jq -e ".error.type == \"overloaded_error\"" &&
	oll "$OLL" && is_status 200 &&
	jq -e -s "length == 2 and .[1] == {\"error\":\"model crashed\"}" body &&
	oai "$OAI_S" && ! grep -q DONE body &&
	data | jq -e -s "(map(.choices[0].delta.content // empty) | join(\"\"))
		== \"echo: hello \" and .[-1].error.message == \"boom\"" &&
	gem "streamGenerateContent?alt=sse" &&
	data | jq -e -s "length == 2 and .[1].error.status == \"INTERNAL\""
'

t_case 'stall before the first byte: a client deadline fires' '
	fake && script "{\"family\":\"openai\",\"stall_first_byte_ms\":3000}" &&
	s=$(date +%s%N) && t_fails 28 oai "$OAI_S" -m 1 2>err &&
	e=$(date +%s%N) && test $(((e - s) / 1000000)) -lt 2500 &&
	test ! -s body && want_eq "$(hits)" 1
'

t_case 'stall after the first event: an idle deadline fires' '
	fake && script "{\"family\":\"openai\",\"stall_after\":1,\"stall_ms\":3000}" &&
	t_fails 28 oai "$OAI_S" -m 1 2>err && data >d &&
	jq -e -s "length == 1 and .[0].choices[0].delta.role == \"assistant\"" d
'

t_case 'slow chunks arrive one by one, each flushed' '
	fake && script "{\"family\":\"openai\",\"text\":\"Hello world\",\"chunks\":5,\"delay_ms\":100}" &&
	curl -sS -N -H "Authorization: Bearer sk-test" --data-binary "$OAI_S" \
		"$FP_URL/v1/chat/completions" | while IFS= read -r l; do
		if [ -n "$l" ]; then echo "$(date +%s%N) $l"; fi; done >stamped &&
	sed "s/^[0-9]* data: //" stamped | head -n -1 |
		jq -j ".choices[0].delta.content // empty" >text &&
	printf "Hello world" >want && t_cmp want text &&
	test "$(wc -l <stamped)" -eq 9 &&
	first=$(head -n 1 stamped | cut -d" " -f1) &&
	last=$(tail -n 1 stamped | cut -d" " -f1) &&
	test $(((last - first) / 1000000)) -ge 600
'

t_case 'a 200 with an HTML page, and a 200 with an empty body' '
	fake && script "{\"family\":\"openai\",\"html\":true}" \
		"{\"family\":\"openai\",\"empty\":true}" &&
	oai "$OAI_S" && is_status 200 && grep -qi "^content-type: text/html" hdr &&
	t_grep "<html>" body &&
	oai "$OAI_S" && is_status 200 && test ! -s body &&
	grep -qi "^content-length: 0" hdr
'

t_case 'crlf: every line of the stream ends in CRLF' '
	fake && script "{\"family\":\"openai\",\"crlf\":true}" \
		"{\"family\":\"anthropic\",\"crlf\":true}" &&
	oai "$OAI_S" && test -s body &&
	perl -ne "exit 1 unless /\r\n\z/" body &&
	data | grep -v DONE | jq -s -e "length == 6" &&
	ant "$ANT_S" && perl -ne "exit 1 unless /\r\n\z/" body &&
	test "$(tr -d "\r" <body | grep -c "^event: ")" -eq 9
'

t_case 'split_every_byte: one chunk per byte, same bytes as a whole' '
	fake && B="{\"model\":\"m\",\"max_tokens\":9,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"h\u00e9llo \u4e16\u754c\"}]}" &&
	ant "$B" && cp body whole &&
	script "{\"family\":\"anthropic\",\"split_every_byte\":true}" &&
	ant "$B" --raw && is_status 200 &&
	perl -e "local \$/; \$_ = <STDIN>; my (\$n, \$out) = (0, q());
		while (s/\A([0-9a-f]+)\r\n//) { my \$k = hex \$1; last if !\$k;
			die qq(chunk of \$k\n) if \$k != 1;
			\$out .= substr(\$_, 0, 1, q()); s/\A\r\n// or die qq(framing\n);
			\$n++ }
		die qq(rest\n) unless \$_ eq qq(\r\n); print \$out" <body >joined &&
	cmp whole joined && t_grep "世界" whole
'

t_case 'context_window: "prompt is too long" in each provider shape' '
	fake && for f in anthropic openai gemini ollama; do
		script "{\"family\":\"$f\",\"context_window\":true}"; done &&
	ant "$ANT_J" && is_status 400 &&
	jq -e ".error.message | startswith(\"prompt is too long\")" body &&
	oai "$OAI_J" && is_status 400 &&
	jq -e ".error.code == \"context_length_exceeded\"" body &&
	gem generateContent && is_status 400 &&
	jq -e ".error.status == \"INVALID_ARGUMENT\" and
		(.error.message | test(\"exceeds the maximum number of tokens\"))" body &&
	oll "$OLL" && is_status 400 && jq -e ".error | test(\"context\")" body
'

t_case 'transcripts are served byte for byte, each with its content type' '
	fake && n=0 && for f in "$TR"/*.sse "$TR"/*.ndjson "$TR"/*.json; do
		b=${f##*/} && script "{\"transcript\":\"$b\"}" &&
		case $b in
		anthropic-*) ant "$ANT_S" ;;
		openai-*|kimi-*) oai "$OAI_S" ;;
		gemini-*) gem "streamGenerateContent?alt=sse" ;;
		ollama-*) oll "$OLL" ;;
		*) echo "unknown transcript $b"; false ;;
		esac && is_status 200 && cmp "$f" body || exit 1
		case $b in
		*.sse) grep -qi "^content-type: text/event-stream" hdr ;;
		*.ndjson) grep -qi "^content-type: application/x-ndjson" hdr ;;
		*.json) grep -qi "^content-type: application/json" hdr ;;
		esac || exit 1
		n=$((n + 1))
	done && test $n -ge 30 &&
	script "{\"transcript\":\"anthropic-429.json\",\"status\":429}" &&
	ant "$ANT_J" && is_status 429 && cmp "$TR/anthropic-429.json" body &&
	script "{\"transcript\":\"gemini-crlf-utf8.sse\",\"split_every_byte\":true}" &&
	gem "streamGenerateContent?alt=sse" && cmp "$TR/gemini-crlf-utf8.sse" body
'

t_case 'transcripts: SSE events well formed, NDJSON lines JSON' '
	for f in "$TR"/*.sse; do
		tr -d "\r" <"$f" | sed -n "s/^data: //p" | grep -v "^\[DONE\]$" |
			jq -e . >/dev/null && test "$(tail -c 1 "$f" | od -An -c | tr -d " ")" = "\n" ||
			{ echo "bad $f"; exit 1; }
	done &&
	for f in "$TR"/*.ndjson "$TR"/*.json; do
		jq -e . "$f" >/dev/null || { echo "bad $f"; exit 1; }
	done &&
	for f in "$TR"/openai-*.sse "$TR"/kimi-*.sse; do
		case $f in *midstream*) continue ;; esac
		data "$f" | tail -n 1 | grep -qx "\[DONE\]" || { echo "$f"; exit 1; }
	done && ! grep -l DONE "$TR"/gemini-*.sse
'

t_case 'last-FAMILY.json holds the request body byte for byte' '
	fake && printf "%s" "$ANT_J" >sent && ant "$ANT_J" &&
	cmp sent fp/last-anthropic.json &&
	printf "%s" "$OAI_J" >sent && PFX=/a oai "$OAI_J" &&
	cmp sent fp/last-openai.json && cmp sent fp/last-a.json &&
	KEY=wrong ant "$ANT_S" && is_status 401 &&
	printf "%s" "$ANT_S" >sent && cmp sent fp/last-anthropic.json
'

t_case 'keep-alive: two streamed requests share one connection' '
	fake && curl -sS -N -v -o /dev/null -o /dev/null \
		-H "Authorization: Bearer sk-test" --data-binary "$OAI_S" \
		"$FP_URL/v1/chat/completions" "$FP_URL/v1/chat/completions" 2>err &&
	t_grep "Re-using existing connection" err && want_eq "$(hits)" 2
'

t_case 'a 2 MB body (Expect: 100-continue) is read whole' '
	fake && big=$(head -c 2000000 /dev/zero | tr "\0" a) &&
	B="{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"$big\"}]}" &&
	printf "%s" "$B" >sent && curl -sS -o body -w "%{http_code}" \
		-H "Authorization: Bearer sk-test" --data-binary @sent \
		"$FP_URL/v1/chat/completions" >status &&
	is_status 200 && cmp sent fp/last-openai.json
'

t_case 'hits record no key, and the log hides ?key=' '
	fake && ant "$ANT_J" && oai "$OAI_J" && PFX=/kimi KEY=sk-kimi oai "$OAI_J" &&
	post "/v1beta/models/g:generateContent?key=g-test" "$GEM" &&
	KEY=sk-ant-wrong ant "$ANT_J" &&
	want_eq "$(hits)" 5 &&
	! grep -r -e sk-ant -e sk-test -e sk-kimi -e g-test --exclude=keys.json fp
'

t_case '20 concurrent requests released together: every hit counted' '
	fake && script "{\"family\":\"openai\",\"status\":429,\"repeat\":10}" &&
	mkfifo gate && exec 3<>gate && pids= &&
	for i in $(seq 1 20); do
		( read -r _ <gate &&
		  curl -sS -N -o body.$i -w "%{http_code}" \
			-H "Authorization: Bearer sk-test" --data-binary "$OAI_S" \
			"$FP_URL/v1/chat/completions" >status.$i ) &
		pids="$pids $!"
	done &&
	sleep 0.5 && printf "go\n%.0s" $(seq 1 20) >&3 && wait $pids &&
	exec 3>&- &&
	want_eq "$(grep -l 429 status.* | wc -l)" 10 &&
	want_eq "$(grep -l 200 status.* | wc -l)" 10 &&
	want_eq "$(hits)" 20 && want_eq "$(hits ".status == 429 and .rule == 1")" 10 &&
	jq -e . fp/hits.jsonl >/dev/null &&
	for i in $(seq 1 20); do
		if grep -q 200 status.$i; then
			data body.$i | tail -n 1 | grep -qx "\[DONE\]" || exit 1
		fi
	done
'

t_case 'a script line with a wrong type is a 500; an unknown field is logged' '
	fake && script "{\"family\":\"openai\",\"chunks\":\"many\"}" \
		"{\"family\":\"openai\",\"cut_afer\":1}" \
		"{\"family\":\"openai\",\"transcript\":\"no-such-file.sse\"}" &&
	oai "$OAI_S" && is_status 500 && t_grep "chunks must be a number" body &&
	oai "$OAI_S" && is_status 200 && data | tail -n 1 | grep -qx "\[DONE\]" &&
	oai "$OAI_S" && is_status 500 && t_grep "no transcript" body &&
	want_eq "$(hits ".warn != null")" 3 &&
	t_grep "unknown script field .cut_afer." fp/server.log &&
	fp_stop 2>err && t_grep "cut_afer" err
'

t_case 'reasoning, cached usage and max_tokens in each wire format' '
	fake && for f in anthropic openai gemini ollama; do
		script "{\"family\":\"$f\",\"text\":\"a b\",\"reasoning\":\"think\",\"stop\":\"max_tokens\",\"usage\":{\"input\":1000,\"output\":500,\"cached\":800}}"
	done &&
	ant "$ANT_S" && data | jq -e -s "
		(map(select(.delta.type == \"thinking_delta\").delta.thinking) | join(\"\")) == \"think\"
		and (map(select(.delta.type == \"text_delta\").delta.text) | join(\"\")) == \"a b\"
		and any(.delta.type == \"signature_delta\")
		and .[0].message.usage.cache_read_input_tokens == 800
		and .[0].message.usage.input_tokens == 1000
		and (map(select(.type == \"message_delta\"))[0] |
			.delta.stop_reason == \"max_tokens\" and .usage.output_tokens == 500)" &&
	oai "$OAI_S" && data | grep -v DONE | jq -e -s "
		(map(.choices[0].delta.reasoning_content // empty) | join(\"\")) == \"think\"
		and (map(.choices[0].delta.content // empty) | join(\"\")) == \"a b\"
		and .[-2].choices[0].finish_reason == \"length\"
		and .[-1].usage.prompt_tokens_details.cached_tokens == 800
		and .[-1].usage.completion_tokens == 500" &&
	gem "streamGenerateContent?alt=sse" && data | jq -e -s "
		.[0].candidates[0].content.parts[0].thought == true
		and .[-1].candidates[0].finishReason == \"MAX_TOKENS\"
		and .[-1].usageMetadata.cachedContentTokenCount == 800
		and .[-1].usageMetadata.candidatesTokenCount == 500" &&
	oll "$OLL" && jq -e -s ".[-1] | .done_reason == \"length\" and
		.eval_count == 500 and .prompt_eval_count == 1000" body
'

t_case 'a patient client gets the reply after a first-byte stall' '
	fake && script "{\"family\":\"ollama\",\"stall_first_byte_ms\":400}" &&
	s=$(date +%s%N) && oll "$OLL" && e=$(date +%s%N) && is_status 200 &&
	test $(((e - s) / 1000000)) -ge 400 && jq -e -s ".[-1].done" body
'

t_case 'a chunked request body is read like a sized one' '
	fake && printf "%s" "$OAI_J" >sent &&
	curl -sS -o body -w "%{http_code}" -H "Transfer-Encoding: chunked" \
		-H "Authorization: Bearer sk-test" --data-binary @sent \
		"$FP_URL/v1/chat/completions" >status &&
	is_status 200 && cmp sent fp/last-openai.json &&
	jq -e ".choices[0].message.content == \"echo: hello world\"" body
'

t_case 'more strictness: system turn, stream type, content blocks' '
	fake &&
	ant "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]}" &&
	is_status 400 && t_grep "top-level .system." body &&
	ant "{\"model\":\"m\",\"max_tokens\":5,\"stream\":\"yes\",\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}" &&
	is_status 400 &&
	ant "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"y\"}]}]}" &&
	is_status 400 &&
	ant "{\"model\":\"m\",\"max_tokens\":5,\"system\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"y\"}]}]}" &&
	is_status 200 && jq -e ".content[0].text == \"echo: y\"" body &&
	oai "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}" && is_status 400 &&
	oai "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"y\"}]}]}" &&
	is_status 200 && jq -e ".choices[0].message.content == \"echo: y\"" body
'

t_case 'GET /__hits serves the hit log; --ttl ends a forgotten fake' '
	fake && oll "$OLL" && curl -sS "$FP_URL/__hits" >h &&
	jq -e -s "length == 1 and .[0].family == \"ollama\"" h &&
	{ python3 "$SRC/tests/fixtures/fakeprov.py" --state-dir t \
		--port-file t/port --ttl 0.5 & } && pid=$! &&
	for i in $(seq 1 60); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done &&
	! kill -0 $pid 2>/dev/null && test -s t/port
'

t_done
