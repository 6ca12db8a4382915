#!/bin/bash
# cdt-route: many processes against one store, released together through
# a FIFO barrier: exactly one half-open trial; 64 senders leave the store
# intact with no "database is locked".  Under VALGRIND=1 a process may be
# so slow to start that it arrives after the trial closed the breaker and
# is served normally; exactly one trial still holds, and every other call
# is accounted for.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

rt_config() {
	cat >"$HOME/route.yaml" <<EOF
providers:
  a: {type: openai, base_url: '$FP_URL/a/v1', api_key_env: KEY_A,
      model: m-a, price: {input: 1, output: 2}}
  b: {type: openai, base_url: '$FP_URL/b/v1', api_key_env: KEY_B,
      model: m-b}
routing:
  priority: [a, b]
  max_retries: 0
  timeout: 5s
  breaker: {threshold: 5, reset: 1s, max_reset: 8s}
store:
  busy_timeout: 2m
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

# swarm N CMD...: start N copies of CMD, each blocked on the FIFO until
# all are waiting, then release them at once; waits for them all.  Copy
# i writes out.i, err.i and rc.i.
swarm() {
	n=$1; shift
	mkfifo go || return 1
	pids=
	for i in $(seq 1 "$n"); do
		(
			: >ready.$i
			cat go >/dev/null
			"$@" >out.$i 2>err.$i
			echo $? >rc.$i
		) &
		pids="$pids $!"
	done
	for t in $(seq 1 200); do
		[ "$(ls ready.* 2>/dev/null | wc -l)" -eq "$n" ] && break
		sleep 0.05
	done
	sleep 0.2	# each is now blocked opening the FIFO
	exec 3>go
	exec 3>&-
	for p in $pids; do wait "$p"; done
	[ "$(ls rc.* | wc -l)" -eq "$n" ]
}
export -f swarm

t_case '16 processes released together after the reset time: exactly one trial' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	echo "{\"a\":{\"status\":500}}" >fp/default.json &&
	for i in 1 2 3 4 5; do cdt-route send hi >/dev/null || exit 1; done &&
	rm fp/default.json && [ "$(brk a state)" = open ] && [ "$(h a)" = 5 ] &&
	echo "{\"family\":\"a\",\"stall_first_byte_ms\":1500}" >fp/script.jsonl &&
	sleep 1.1 &&
	swarm 16 cdt-route --provider a send hi &&
	served=$(cat rc.* | grep -c "^0$") &&
	refused=$(cat rc.* | grep -c "^69$") &&
	[ $((served + refused)) = 16 ] &&
	cat out.* | jq -s -e "map(select(.type == \"message\" and
		.metadata.attempts[0].trial == true)) | length == 1" &&
	[ "$(h a)" = $((5 + served)) ] &&
	cat out.* | jq -s -e "map(select(.type == \"error\") |
		.retry_after_s) | all(. >= 0 and . <= 7)" &&
	[ "$(brk a state)" = closed ] &&
	{ [ -n "${t_shims:-}" ] || [ "$(h a)" = 6 ]; }
'

# The store checks itself: SQLite's integrity_check; on PostgreSQL (make
# test-pg) pg_amcheck, as the superuser, over every table and index of
# this file's database (the heap, and each index against it).
store_intact() {
	if [ -z "${CDT_STORE_URL:-}" ]; then
		store-open "$CDT_HOME/cdt.db" "PRAGMA integrity_check" >ic &&
		echo "{\"integrity_check\":\"ok\"}" >want && t_cmp want ic
	else
		"$T_PG_BIN/pg_amcheck" --install-missing --heapallindexed \
			--parent-check --no-strict-names \
			"$T_PG_ADMIN_DB" >ic 2>&1 || { cat ic; return 1; }
		[ ! -s ic ] || { cat ic; return 1; }
	fi
}

# The swarms wait up to store.busy_timeout (2m above, not the default
# 10 s) for the write lock: on a loaded 2-core machine 64 writers in a
# queue can pass 10 s, and these cases are about integrity, not latency.
# Under memcheck each process runs ~50 times slower: there the swarm is
# 16.
N=64
[ -n "${t_shims:-}" ] && N=16
export N

t_case "$N concurrent sends on one store: intact, no lock errors, every row" '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	swarm $N cdt-route send hi &&
	[ "$(cat rc.* | sort -u)" = 0 ] &&
	! grep -l "locked\|busy" err.* &&
	[ "$(cat err.* | wc -c)" = 0 ] &&
	[ "$(h a)" = $N ] &&
	store_intact &&
	store-open "$CDT_HOME/cdt.db" "SELECT count(*) AS n, sum(ok) AS k
	  FROM usage WHERE provider = ?" "[\"a\"]" >n &&
	jq -e ".n == $N and .k == $N" n &&
	cdt-route status --no-stdin | jq -s -e ".[0].requests == $N"
'

t_case '32 concurrent sends to a failing provider: counted exactly' '
	fp_start fp && trap fp_stop EXIT && rt_config &&
	sed -i "s/threshold: 5/threshold: 1000/" "$HOME/route.yaml" &&
	echo "{\"a\":{\"status\":500}}" >fp/default.json &&
	swarm 32 cdt-route send hi &&
	[ "$(cat rc.* | sort -u)" = 0 ] && [ "$(h a)" = 32 ] &&
	[ "$(brk a failures)" = 32 ] &&
	! grep -l "locked\|busy" err.*
'

t_done
