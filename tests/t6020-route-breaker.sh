#!/bin/bash
# cdt-route: breakers in the store, across processes: opening after the
# threshold, zero connections while open, the half-open trial, its lease
# (a trial owner killed with SIGKILL), doubling, reset and probe.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

rt_config() {
	cat >"$HOME/route.yaml" <<EOF
providers:
  a: {type: openai, base_url: '$FP_URL/a/v1', api_key_env: KEY_A,
      model: m-a}
  b: {type: openai, base_url: '$FP_URL/b/v1', api_key_env: KEY_B,
      model: m-b}
routing:
  priority: [a, b]
  max_retries: 0
  timeout: ${RT_TIMEOUT:-2s}
  breaker: {threshold: 5, reset: ${RT_RESET:-1s}, max_reset: 8m}
EOF
	export CDT_CONFIG=$HOME/route.yaml KEY_A=ka KEY_B=kb
}
export -f rt_config

h() {
	fp_hits ".name == \"$1\""
}
export -f h

brk() {
	store-open "$CDT_HOME/cdt.db" "SELECT $2 AS v FROM breakers WHERE
	  provider = ?" "[\"$1\"]" | jq -r ".v" | grep . || echo null
}
export -f brk

st_of() {
	cdt-route status --no-stdin | jq -c "select(.provider == \"$1\")"
}
export -f st_of

# Wait (at most 10 s) until a can serve again.
until_available() {
	for i in $(seq 1 50); do
		cdt-route --provider "$1" status --no-stdin |
			jq -e ".available" >/dev/null && return 0
		sleep 0.2
	done
	echo "until_available: $1 never became available" >&2
	return 1
}
export -f until_available

# Five failing sends open a's breaker.
open_a() {
	echo "{\"a\":{\"status\":500}}" >fp/default.json &&
	for i in 1 2 3 4 5; do
		cdt-route send hi >/dev/null 2>&1 || return 1
	done &&
	rm fp/default.json && [ "$(brk a state)" = open ]
}
export -f open_a

t_case 'S18 five failures open the breaker; the sixth request: no connection' '
	fp_start fp && trap fp_stop EXIT && RT_RESET=60s rt_config &&
	echo "{\"a\":{\"status\":500}}" >fp/default.json &&
	for i in 1 2 3 4; do cdt-route send hi >/dev/null || exit 1; done &&
	[ "$(brk a state)" = closed ] && [ "$(brk a failures)" = 4 ] &&
	cdt-route send hi >/dev/null &&
	[ "$(h a)" = 5 ] && [ "$(brk a state)" = open ] &&
	st_of a | jq -e ".failures == 5 and .opened_at != null and
		.open_until != null and .health == \"unhealthy\" and
		.last_error == \"server\"" &&
	cdt-route send hi >out &&
	[ "$(h a)" = 5 ] && [ "$(h b)" = 6 ] &&
	jq -e "[.metadata.attempts[].provider] == [\"b\"]" out &&
	cdt-route pick </dev/null >out &&
	jq -e ".provider == \"b\" and .skipped[0].reason == \"breaker_open\" and
		.skipped[0].retry_after_s <= 60 and
		.skipped[0].retry_after_s >= 30" out
'

t_case 'all providers open: 69 at once, retry_after_s, no connection' '
	fp_start fp && trap fp_stop EXIT && RT_RESET=60s rt_config &&
	echo "{\"a\":{\"status\":500},\"b\":{\"status\":500}}" >fp/default.json &&
	for i in 1 2 3 4 5; do cdt-route send hi >/dev/null 2>&1; true; done &&
	[ "$(brk a state)" = open ] && [ "$(brk b state)" = open ] &&
	n=$(fp_hits) &&
	t_fails 69 cdt-route send hi >out 2>err &&
	[ "$(fp_hits)" = "$n" ] &&
	jq -e "select(.type == \"error\") | .code == 69 and
		.retry_after_s <= 60 and .retry_after_s >= 30" out &&
	t_grep "breaker open" err &&
	t_fails 69 cdt-route --provider a send hi >out 2>err &&
	[ "$(fp_hits)" = "$n" ]
'

t_case '--force tries an open provider; its success closes the breaker' '
	fp_start fp && trap fp_stop EXIT && RT_RESET=60s rt_config && open_a &&
	t_fails 69 cdt-route --provider a send hi >/dev/null 2>&1 &&
	cdt-route --provider a --force send hi >out &&
	[ "$(h a)" = 6 ] && jq -e ".metadata.route.reason == \"forced\"" out &&
	[ "$(brk a state)" = closed ]
'

t_case 'after the reset time: one trial; success closes' '
	fp_start fp && trap fp_stop EXIT && rt_config && open_a &&
	until_available a &&
	cdt-route --provider a send hi >out &&
	[ "$(h a)" = 6 ] &&
	jq -e ".metadata.attempts[0].trial == true and
		.metadata.route.reason == \"trial\"" out &&
	st_of a | jq -e ".state == \"closed\" and .failures == 0 and
		.health == \"healthy\""
'

t_case 'a failed trial reopens with the reset time doubled' '
	fp_start fp && trap fp_stop EXIT && rt_config && open_a &&
	[ "$(brk a reset_ms)" = 1000 ] &&
	echo "{\"a\":{\"status\":503}}" >fp/default.json &&
	until_available a &&
	t_fails 69 cdt-route --provider a send hi >out 2>err &&
	[ "$(h a)" = 6 ] && [ "$(brk a state)" = open ] &&
	[ "$(brk a reset_ms)" = 2000 ] &&
	ou=$(brk a open_until) && oa=$(brk a opened_at) &&
	[ $((ou - oa)) -eq 2000 ] &&
	until_available a &&
	cdt-route send hi >/dev/null && [ "$(h a)" = 7 ] &&
	[ "$(brk a reset_ms)" = 4000 ]
'

t_case 'a trial owner killed with SIGKILL does not wedge the breaker' '
	fp_start fp && trap fp_stop EXIT && RT_TIMEOUT=5s rt_config && open_a &&
	until_available a &&
	echo "{\"family\":\"a\",\"stall_first_byte_ms\":20000}" >fp/script.jsonl &&
	{ cdt-route --provider a send hi >o1 2>e1 & } && pid=$! &&
	for i in $(seq 1 100); do
		[ "$(h a)" = 6 ] && break; sleep 0.05
	done && [ "$(h a)" = 6 ] &&
	kill -9 $pid && { wait $pid; true; } &&
	[ "$(brk a state)" = half_open ] && [ "$(brk a trial_owner)" != null ] &&
	t_fails 69 cdt-route --provider a send hi >out 2>err &&
	[ "$(h a)" = 6 ] &&
	jq -e "select(.type == \"error\") | .retry_after_s <= 6" out &&
	until_available a &&
	cdt-route --provider a send hi >out &&
	[ "$(h a)" = 7 ] &&
	jq -e ".metadata.attempts[0].trial == true" out &&
	[ "$(brk a state)" = closed ]
'

t_case 'S19 a success while closed resets the count' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	printf "%s\n" "{\"family\":\"a\",\"status\":500,\"repeat\":4}" \
		"{\"family\":\"a\",\"text\":\"fine\"}" \
		"{\"family\":\"a\",\"status\":500,\"repeat\":4}" >fp/script.jsonl &&
	for i in $(seq 1 9); do cdt-route send hi >/dev/null || exit 1; done &&
	[ "$(h a)" = 9 ] &&
	st_of a | jq -e ".state == \"closed\" and .failures == 4 and
		.health == \"degraded\""
'

t_case 'S20 bad requests and context-window errors never count' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	printf "%s\n" "{\"family\":\"a\",\"status\":400,\"repeat\":5}" \
		"{\"family\":\"a\",\"context_window\":true,\"repeat\":5}" \
		>fp/script.jsonl &&
	for i in $(seq 1 10); do
		t_fails 65 cdt-route --provider a send hi >/dev/null 2>&1 ||
			exit 1
	done &&
	[ "$(h a)" = 10 ] && [ "$(h b)" = 0 ] &&
	st_of a | jq -e ".state == \"closed\" and .failures == 0"
'

t_case 'S26 reset: closed, count 0, no block; status healthy' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && RT_RESET=60s rt_config && open_a &&
	echo "{\"family\":\"b\",\"status\":429,\"headers\":{\"retry-after\":\"60\"}}" >fp/script.jsonl &&
	t_fails 69 cdt-route --provider b send hi >/dev/null 2>&1 &&
	st_of b | jq -e ".blocked_until != null" &&
	cdt-route reset >out &&
	jq -s -e "map(.state) == [\"closed\", \"closed\"] and
		map(.failures) == [0, 0] and map(.blocked_until) == [null, null]
		and map(.health) == [\"healthy\", \"healthy\"]" out &&
	cdt-route status --check >/dev/null
'

t_case 'probe: open providers are not contacted; a due one is its trial' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && RT_RESET=60s rt_config && open_a &&
	t_fails 1 cdt-route probe >out &&
	[ "$(h a)" = 5 ] && [ "$(h b)" = 6 ] &&
	jq -e ".max_tokens == 1" fp/last-b.json &&
	jq -s -e ".[0].probe.skipped == \"breaker_open\" and
		.[1].probe.status == 200 and .[1].health == \"healthy\"" out &&
	store-open "$CDT_HOME/cdt.db" "UPDATE breakers SET open_until = ?
	  WHERE provider = ?" "[$(( $(date +%s%3N) - 1 )), \"a\"]" &&
	cdt-route probe a >out &&
	[ "$(h a)" = 6 ] &&
	jq -e ".probe.trial == true and .state == \"closed\"" out
'

t_case 'probe: a rejected key marks the provider unhealthy' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"b\":\"other\"}" >fp/keys.json &&
	t_fails 1 cdt-route probe >out &&
	jq -s -e ".[1].probe.class == \"auth\" and .[1].state == \"open\" and
		.[1].health == \"unhealthy\"" out &&
	t_fails 69 cdt-route probe b >out 2>err
'

t_done
