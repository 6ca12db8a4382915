#!/bin/bash
# cdt-route against the fake provider: send's inputs and output, status,
# --check, pick, reset, config, keys, and the stream contract.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

# Three OpenAI-compatible providers a, b, c on one fake, told apart by
# their prefix; a and b in the priority list, c only in the task "code".
rt_config() {
	cat >"$HOME/route.yaml" <<EOF
providers:
  a: {type: openai, base_url: '$FP_URL/a/v1', api_key_env: KEY_A,
      model: m-a, price: {input: 3, output: 15}, max_input_tokens: 1000}
  b: {type: openai, base_url: '$FP_URL/b/v1', api_key_env: KEY_B,
      model: m-b, price: {input: 0.15, output: 0.6},
      max_input_tokens: 100000}
  c: {type: openai, base_url: '$FP_URL/c/v1', api_key_env: KEY_C,
      model: m-c}
routing:
  priority: [a, b]
  max_retries: ${RT_RETRIES:-0}
  timeout: 2s
  max_wait: 1s
  breaker: {threshold: 5, reset: 1s, max_reset: 8s}
  tasks:
    code: [c, a]
EOF
	export CDT_CONFIG=$HOME/route.yaml KEY_A=sk-test-key-aaaa KEY_B=kb \
		KEY_C=kc
}
export -f rt_config

h() {
	fp_hits ".name == \"$1\""
}
export -f h

# Open a provider's breaker in the store directly (reset 1 s).
rt_open() {
	store-open "$CDT_HOME/cdt.db" "INSERT INTO breakers (provider, state,
	  failures, opened_at, open_until, reset_ms, last_error, updated_at)
	  VALUES (?, 'open', 5, ?, ?, 1000, 'server', ?) ON CONFLICT
	  (provider) DO UPDATE SET state = 'open', failures = 5,
	  opened_at = excluded.opened_at, open_until = excluded.open_until,
	  reset_ms = 1000" \
	  "[\"$1\", $(date +%s%3N), $(( $(date +%s%3N) + ${2:-60000} )),
	    $(date +%s%3N)]" >/dev/null
}
export -f rt_open

t_case 'send PROMPT: the assistant message from the first provider' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route send hello world >out 2>err &&
	t_lines 1 out &&
	jq -e ".type == \"message\" and .role == \"assistant\" and
		.content == \"echo: hello world\" and .provider == \"a\" and
		.model == \"m-a\" and .partial == false and
		.stop_reason == \"end_turn\" and (.id | length) == 36 and
		.metadata.tokens == {input: 2, output: 3} and
		(.metadata.attempts | length) == 1 and
		.metadata.attempts[0].status == 200 and
		.metadata.attempts[0].provider == \"a\" and
		(.metadata.router_overhead_ms | type) == \"number\" and
		(.metadata.ttfb_ms | type) == \"number\" and
		.metadata.route.reason == \"priority\"" out &&
	jq -e "(.metadata.cost_usd - 0.000051 | fabs) < 1e-12" out &&
	[ "$(h a)" = 1 ] && [ "$(h b)" = 0 ] && t_lines 0 err
'

t_case 'S33 send: a model without a price costs null, never 0' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route --provider c send hi >out &&
	jq -e ".provider == \"c\" and .metadata.cost_usd == null and
		.metadata.cost_known == false and
		.metadata.tokens.input == 1" out
'

t_case 'send: raw stdin is the prompt, after the PROMPT words' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	printf "from stdin\n" | cdt-route send say >out &&
	jq -e ".content == \"echo: say\n\nfrom stdin\n\"" out
'

t_case 'send: request and message records are taken, others forwarded' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	printf "%s\n" "{\"type\":\"zz\",\"n\":1}" \
	  "{\"type\":\"message\",\"role\":\"system\",\"content\":\"be brief\"}" \
	  "{\"type\":\"request\",\"messages\":[{\"role\":\"user\",\"content\":\"one two\"}],\"max_tokens\":7,\"temperature\":0.5}" \
	  "{\"type\":\"yy\"}" >in &&
	cdt-route send <in >out &&
	t_lines 3 out &&
	sed -n 1p out | jq -e ".type == \"zz\" and .n == 1" &&
	sed -n 2p out | jq -e ".type == \"yy\"" &&
	sed -n 3p out | jq -e ".content == \"echo: one two\"" &&
	jq -e ".max_tokens == 7 and .temperature == 0.5 and
		.messages[0] == {role: \"system\", content: \"be brief\"} and
		.messages[1].content == \"one two\"" fp/last-a.json
'

t_case 'send: a bad request record is 65, nothing sent' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"type\":\"request\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}" |
	t_fails 65 cdt-route send >out 2>err &&
	t_grep "role .robot." err && [ "$(h a)" = 0 ] &&
	jq -e "select(.type == \"error\") | .code == 65" out
'

t_case 'send: nothing to send is 66 without a call' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	t_fails 66 cdt-route send </dev/null >out 2>err &&
	t_grep "nothing to send" err && [ "$(h a)" = 0 ]
'

t_case 'send --stream: delta records as the reply arrives, then the message' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route send --stream one two three four >out &&
	[ "$(jq -s "map(select(.type == \"delta\")) | length" out)" -ge 2 ] &&
	jq -s -e "(map(select(.type == \"delta\") | .content) | add) ==
		(.[-1].content) and .[-1].type == \"message\" and
		(map(select(.type == \"delta\") | .message_id) | unique) ==
		[.[-1].id]" out
'

t_case 'send --text: the reply text only' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route --text send hi there >out &&
	printf "echo: hi there\n" >want && t_cmp want out
'

t_case 'send -m PROVIDER:MODEL pins the provider and model; --max-tokens' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route send -m b:special --max-tokens 9 hi >out &&
	jq -e ".provider == \"b\" and .model == \"special\"" out &&
	jq -e ".model == \"special\" and .max_tokens == 9" fp/last-b.json &&
	[ "$(h a)" = 0 ]
'

t_case 'send: bad option values are 64' '
	rt_config &&
	t_fails 64 cdt-route send --max-tokens x hi 2>err &&
	t_grep "max-tokens" err &&
	t_fails 64 cdt-route send --temperature 3 hi 2>err &&
	t_fails 64 cdt-route pick --strategy fastest 2>err </dev/null &&
	t_grep "strategy" err
'

t_case 'send: an upstream error record is forwarded; no provider called' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	printf "%s\n" "{\"type\":\"error\",\"tool\":\"cdt-x\",\"code\":75,\"class\":\"io\",\"message\":\"x\"}" >in &&
	t_fails 75 cdt-route send hi <in >out 2>err &&
	t_cmp in out && [ "$(h a)" = 0 ]
'

t_case 'keys: a named provider without one is 78 naming the variable' '
	fp_start fp && trap fp_stop EXIT && rt_config && unset KEY_B &&
	t_fails 78 cdt-route --provider b send hi >out 2>err &&
	t_grep "KEY_B" err && [ "$(h b)" = 0 ] &&
	cdt-route send hi >out && jq -e ".provider == \"a\"" out &&
	unset KEY_A &&
	t_fails 78 cdt-route send hi 2>err && t_grep "KEY_A" err &&
	t_grep "KEY_B" err
'

t_case 'keys: never in records, config or errors' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"a\":\"other-key\"}" >fp/keys.json &&
	cdt-route send hi >out 2>err; cdt-route config >>out 2>>err;
	cdt-route status >>out 2>>err;
	! grep -q "sk-test-key-aaaa" out err
'

t_case 'status: one route record per provider, priority then tasks' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route send hi >/dev/null &&
	cdt-route status >out &&
	jq -s -e "map(.provider) == [\"a\", \"b\", \"c\"]" out &&
	jq -s -e ".[0] | .type == \"route\" and .state == \"closed\" and
		.failures == 0 and .health == \"healthy\" and
		.requests == 1 and .errors == 0 and
		.tokens == {input: 1, output: 2} and
		(.latency_ms.p50 | type) == \"number\" and
		.open_until == null and .blocked_until == null and
		.available == true and (.cost_usd | type) == \"number\"" out &&
	jq -s -e ".[1] | .requests == 0 and .latency_ms.p50 == null and
		.cost_usd == null" out
'

t_case 'status --provider: those, in that order; aliases resolve' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route --provider c,a status >out &&
	jq -s -e "map(.provider) == [\"c\", \"a\"]" out &&
	cdt-route --provider openai status >out &&
	jq -s -e "map(.provider) == [\"codex\"] and
		.[0].health == \"unconfigured\"" out
'

t_case 'status --check: 0 healthy, 1 degraded or open, 69 none can serve' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route status --check >out && t_lines 3 out &&
	echo "{\"status\":500}" >"fp/script.jsonl" &&
	cdt-route send hi >/dev/null &&
	t_fails 1 cdt-route status --check >out &&
	jq -s -e ".[0].health == \"degraded\" and .[0].failures == 1" out &&
	rt_open a && rt_open b 5000 && rt_open c 9000 &&
	t_fails 69 cdt-route status --check >out 2>err &&
	jq -s -e ".[-1].type == \"error\" and
		(.[-1].retry_after_s) as \$r | \$r > 0 and \$r <= 5 and
		\$r == (.[] | select(.provider == \"b\") | .retry_after_s) and
		\$r < (.[] | select(.provider == \"c\") | .retry_after_s)" out &&
	unset KEY_A KEY_B KEY_C &&
	t_fails 69 cdt-route status --check >out 2>err
'

t_case 'status --text: a table row per provider' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route status --text >out && t_lines 3 out &&
	t_grep "^a  *closed  *healthy" out
'

t_case 'pick: the first usable provider and why, skipped ones named' '
	fp_start fp && trap fp_stop EXIT && rt_config && unset KEY_A &&
	cdt-route pick </dev/null >out &&
	jq -e ".type == \"route\" and .provider == \"b\" and
		.list == \"routing.priority\" and
		.skipped == [{provider: \"a\", model: \"m-a\",
			      reason: \"unconfigured\"}]" out &&
	[ "$(fp_hits)" = 0 ]
'

t_case 'pick --task and a request record'"'"'s task use the task rule' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route pick --task code </dev/null >out &&
	jq -e ".provider == \"c\" and .list == \"routing.tasks.code\"" out &&
	echo "{\"type\":\"request\",\"task\":\"code\",\"messages\":[]}" |
	cdt-route pick >out &&
	t_lines 2 out && sed -n 1p out | jq -e ".type == \"request\"" &&
	sed -n 2p out | jq -e ".provider == \"c\""
'

t_case 'pick --strategy cost: cheapest first, unknown price last' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	cdt-route --provider c,a,b pick --strategy cost </dev/null >out &&
	jq -e ".provider == \"b\" and
		(.candidates | map(.provider)) == [\"b\", \"a\", \"c\"] and
		.candidates[2].cost_usd_estimate == null" out &&
	rt_open b &&
	cdt-route --provider c,a,b pick --strategy cost </dev/null >out &&
	jq -e ".provider == \"a\" and .skipped[0].reason == \"breaker_open\"" out
'

t_case 'pick --strategy latency: lowest recent median first' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	now=$(date +%s%3N) &&
	for i in 1 2 3; do
		store-open "$CDT_HOME/cdt.db" "INSERT INTO usage (provider, ts,
		  latency_ms, ok) VALUES (?, ?, ?, 1), (?, ?, ?, 1)" \
		  "[\"a\", $now, 300, \"b\", $now, 50]" >/dev/null || exit 1
	done &&
	cdt-route pick --strategy latency </dev/null >out &&
	jq -e ".provider == \"b\" and .candidates[0].latency_ms_p50 == 50" out
'

t_case 'reset PROVIDER closes its breaker; reset closes all' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && rt_config &&
	rt_open a && rt_open b &&
	cdt-route reset a >out &&
	jq -s -e "length == 1 and .[0].provider == \"a\" and
		.[0].state == \"closed\" and .[0].health == \"healthy\"" out &&
	cdt-route status >out &&
	jq -s -e ".[1].state == \"open\"" out &&
	cdt-route reset >out && jq -s -e "map(.state) | unique == [\"closed\"]" out &&
	t_fails 78 cdt-route reset nosuch 2>err && t_grep "nosuch" err
'

t_case 'config: the effective routing config as a record' '
	FP_URL=http://127.0.0.1:9 rt_config &&
	cdt-route config </dev/null >out &&
	jq -e ".type == \"route_config\" and .priority == [\"a\", \"b\"] and
		.max_retries == 0 and .timeout_ms == 2000 and
		.max_wait_ms == 1000 and .breaker == {threshold: 5,
		reset_ms: 1000, max_reset_ms: 8000} and
		.tasks == {code: [\"c\", \"a\"]} and
		(.providers[] | select(.name == \"a\") | .configured == true and
		 .price == {input: 3, output: 15} and .key_source != null)" out
'

t_case 'config: a bad routing section is 78' '
	printf "routing:\n  breaker: {threshold: 0}\n" >bad.yaml &&
	CDT_CONFIG=$PWD/bad.yaml t_fails 78 cdt-route config 2>err </dev/null &&
	t_grep "threshold" err &&
	printf "routing:\n  priority: [claude, nosuch]\n" >bad.yaml &&
	CDT_CONFIG=$PWD/bad.yaml t_fails 78 cdt-route send hi 2>err &&
	t_grep "nosuch" err
'

t_done
