#!/bin/bash
# cdt-session limits (issue 7): a fork bomb and a memory hog, under
# timeout; the host stays usable and nothing is left behind.  The case
# names the mechanism from the session record's enforced_by, and fails
# (never skips) where there is none.
. "$(dirname "$0")/lib.sh"

t_case 'enforced_by names a mechanism for pids and memory' '
	cdt-session create --owner-pid 0 >s &&
	jq -r ".sandbox.enforced_by | \"# pids: \(.pids); memory: \(.memory)\"" s &&
	jq -e ".sandbox.enforced_by | (.pids | startswith(\"none\") | not) and
		(.memory | startswith(\"none\") | not)" s
'

t_case '--cpus: a CFS quota (cgroup v1 cpu here) or cpu.max, else affinity; the record names it' '
	S=$(cdt-session create --owner-pid 0 --type persistent --cpus 0.5) &&
	by=$(echo "$S" | jq -r .sandbox.enforced_by.cpus) && echo "# cpus by $by" &&
	echo "$S" | jq -e ".sandbox.limits.cpus == 0.5" &&
	id=$(echo "$S" | jq -r .id) &&
	cdt-session exec "$id" --detach --jq .pid -- sh -c "while :; do :; done" >pid &&
	sqlite3 "$CDT_HOME/cdt.db" "SELECT cgroups FROM session_processes" >cg &&
	case $by in
	"cgroup v1 cpu.cfs_quota_us")
		d=$(jq -r ".[2]" cg) && case $d in /sys/fs/cgroup/cpu/*) ;; *) exit 1 ;; esac &&
		[ "$(cat "$d/cpu.cfs_quota_us")" = 50000 ] &&
		[ "$(cat "$d/cpu.cfs_period_us")" = 100000 ] &&
		grep -qx "$(cat pid)" "$d/cgroup.procs" &&
		sleep 1 && echo "# evidence, not asserted (load-dependent): $(tr "\n" " " <"$d/cpu.stat")" ;;
	"cgroup v2 cpu.max")
		d=$(jq -r ".[2]" cg) && [ "$(cat "$d/cpu.max")" = "50000 100000" ] &&
		grep -qx "$(cat pid)" "$d/cgroup.procs" ;;
	affinity)
		grep -q "^Cpus_allowed_list:[[:space:]]*0$" /proc/$(cat pid)/status ;;
	*) exit 1 ;;
	esac &&
	cdt-session terminate "$id" >/dev/null && [ ! -e "$(jq -r ".[2]" cg)" ]
'

t_case 'a fork bomb stops at --pids; no process is left behind' '
	S=$(cdt-session create --owner-pid 0 --pids 32) &&
	echo "# pids by $(echo "$S" | jq -r .sandbox.enforced_by.pids)" &&
	id=$(echo "$S" | jq -r .id) &&
	timeout 60 sh -c "echo \$\$ >pid; exec cdt-session exec $id -- sh -c \"
		i=0; while [ \\\$i -lt 200 ]; do sleep 7 & i=\\\$((i + 1)); done
		wait\"" >r 2>err; rc=$?;
	[ $rc -ne 0 ] && [ $rc -ne 124 ] &&
	jq -r "select(.type == \"exec\") | .data" r | grep -qi "fork" &&
	sleep 0.2 && ! pgrep -x -f "sleep 7" &&
	test -s pid && ! test -e "/sys/fs/cgroup/pids/cdt-exec-$(cat pid)" &&
	echo ok-host-usable | grep -q ok
'

t_case 'a memory hog is stopped at --memory; oom_killed where a cgroup did it' '
	S=$(cdt-session create --owner-pid 0 --memory 64M) &&
	by=$(echo "$S" | jq -r .sandbox.enforced_by.memory) &&
	echo "# memory by $by" && id=$(echo "$S" | jq -r .id) &&
	timeout 60 cdt-session exec "$id" -- python3 -c "
x = b\"x\" * (300 << 20)
print(\"allocated\")" >r 2>err; rc=$?;
	[ $rc -ne 0 ] && [ $rc -ne 124 ] &&
	! jq -r "select(.type == \"exec\") | .data" r | grep -q allocated &&
	case $by in
	cgroup*) tail -n1 r | jq -e ".oom_killed == true and .signal == \"SIGKILL\"" ;;
	*) jq -r "select(.type == \"exec\") | .data" r | grep -q MemoryError ;;
	esac
'

t_case 'disk: a file past --disk fails; a workspace over it refuses exec (75)' '
	S=$(cdt-session create --owner-pid 0 --disk 1M --jq .id) &&
	t_fails 1 cdt-session exec "$S" -- python3 -c "
try:
    open(\"big\", \"wb\").write(b\"x\" * (2 << 20))
except OSError as e:
    print(\"EFBIG\", e); raise SystemExit(1)" >r 2>err &&
	jq -r "select(.type == \"exec\") | .data" r | grep -q "File too large" &&
	ws=$(cdt-session get "$S" --jq .workspace) && rm -f "$ws/big" &&
	cdt-session exec "$S" -- sh -c "head -c 700000 /dev/zero >a; head -c 700000 /dev/zero >b" &&
	t_fails 125 cdt-session exec "$S" -- true >r 2>err &&
	t_grep "over its disk limit" err &&
	jq -e ".type == \"error\" and .code == 75" r &&
	rm "$ws/a" && cdt-session exec "$S" -- true
'

t_done
