#!/bin/bash
# cdt-session limits (issue 7): a fork bomb and a memory hog, under
# timeout; the host stays usable and nothing is left behind.  The case
# names the mechanism from the session record's enforced_by, and fails
# (never skips) where there is none.
. "$(dirname "$0")/lib.sh"

# none_left PATTERN [PGREP-OPTION...]: no process matches within 2 s
# (the kernel ends a pid namespace's processes asynchronously).
none_left() {
	p=$1; shift
	for i in $(seq 20); do
		pgrep "$@" ${p:+-x -f "$p"} >/dev/null || return 0; sleep 0.1
	done
	echo "still running: $(pgrep -a "$@" ${p:+-x -f "$p"})"; return 1
}
export -f none_left

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

# The fallback, forced (sandbox.cgroup none, through its variable): as
# root RLIMIT_NPROC binds only because bwrap starts as an unprivileged
# uid of the sandbox.uid range; the workspace reaches it idmapped.
t_case 'fallback: the record names RLIMIT_NPROC (uid N), RLIMIT_AS, affinity' '
	S=$(CDT_SANDBOX_CGROUP=none cdt-session create --owner-pid 0) &&
	echo "$S" | jq -c ".sandbox.enforced_by | {pids, memory, cpus}" >by &&
	sed "s/^/# /" by &&
	jq -e ".pids | test(\"^RLIMIT_NPROC \\\\(uid 19000[0-9]{5}\\\\)$\")" by &&
	jq -e ".memory == \"RLIMIT_AS\" and .cpus == \"affinity\"" by &&
	id=$(echo "$S" | jq -r .id) &&
	CDT_SANDBOX_CGROUP=none cdt-session create --owner-pid 0 --jq .sandbox.enforced_by.pids >by2 &&
	echo "# a second session: $(cat by2)" &&
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "sandbox:\n  uid: 0\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	CDT_SANDBOX_CGROUP=none cdt-session create --owner-pid 0 --jq .sandbox.enforced_by.pids >by3 &&
	echo "none (RLIMIT_NPROC does not bind root)" >want && t_cmp want by3
'

t_case 'fallback: a fork bomb fails with EAGAIN under RLIMIT_NPROC as the uid; nothing is left' '
	export CDT_SANDBOX_CGROUP=none &&
	S=$(cdt-session create --owner-pid 0 --pids 32) &&
	uid=$(echo "$S" | jq -r .sandbox.enforced_by.pids | sed "s/.*uid \([0-9]*\))/\1/") &&
	echo "# pids by $(echo "$S" | jq -r .sandbox.enforced_by.pids)" &&
	id=$(echo "$S" | jq -r .id) &&
	timeout 60 cdt-session exec "$id" -- sh -c "
		cat /proc/self/status | grep -E \"^(Uid|Gid):\"
		i=0; while [ \$i -lt 200 ]; do sleep 7 & i=\$((i + 1)); done
		wait" >r 2>err; rc=$?;
	[ $rc -ne 0 ] && [ $rc -ne 124 ] &&
	jq -r "select(.type == \"exec\") | .data" r >out &&
	grep -q "Cannot fork" out && grep -q "^Uid:.*1000" out &&
	none_left "sleep 7" && none_left "" -U "$uid" &&
	cdt-session exec "$id" -- sh -c "echo host usable" >r2 &&
	jq -r "select(.type == \"exec\") | .data" r2 | grep -qx "host usable"
'

t_case 'fallback: a memory hog fails under RLIMIT_AS (MemoryError), not by a cgroup' '
	export CDT_SANDBOX_CGROUP=none &&
	id=$(cdt-session create --owner-pid 0 --memory 64M --jq .id) &&
	timeout 60 cdt-session exec "$id" -- python3 -c "
x = b\"x\" * (300 << 20)
print(\"allocated\")" >r 2>err; rc=$?;
	[ $rc -eq 1 ] &&
	jq -r "select(.type == \"exec\") | .data" r >out &&
	! grep -q allocated out && grep -q MemoryError out &&
	tail -n1 r | jq -e ".oom_killed == false and .signal == null"
'

t_case 'fallback: files written inside are root'"'"'s on the host; files and checkpoint see them' '
	export CDT_SANDBOX_CGROUP=none &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	ws=$(cdt-session get "$S" --jq .workspace) &&
	echo host >"$ws/h.txt" && chmod 600 "$ws/h.txt" &&
	cdt-session exec "$S" -- sh -c "cat h.txt && echo more >>h.txt &&
		mkdir -p d && echo inside >d/new.txt && stat -c %u:%g d/new.txt" >r &&
	jq -j "select(.type == \"exec\") | .data" r >out &&
	printf "host\n1000:1000\n" >want && t_cmp want out &&
	stat -c "%u:%g %a" "$ws/d/new.txt" "$ws/d" "$ws/h.txt" >own &&
	printf "0:0 644\n0:0 755\n0:0 600\n" >want && t_cmp want own &&
	cdt-files --session "$S" read d/new.txt </dev/null >f &&
	jq -e ".content == \"inside\\n\"" f &&
	cdt-checkpoint --session "$S" create -m fallback </dev/null >c &&
	jq -e ".type == \"checkpoint\" and .files_changed == 2" c &&
	git -C "$ws" show --name-only --format= "$(jq -r .sha c)" >names &&
	printf "d/new.txt\nh.txt\n" >want && t_cmp want names
'

t_case 'fallback: --cpus 1 by affinity, the detached process as the uid' '
	export CDT_SANDBOX_CGROUP=none &&
	S=$(cdt-session create --owner-pid 0 --type persistent --cpus 1) &&
	id=$(echo "$S" | jq -r .id) &&
	cdt-session exec "$id" --detach -- sleep 4201 >p &&
	jq -e ".enforced_by.cpus == \"affinity\" and (.enforced_by.pids | startswith(\"RLIMIT_NPROC (uid \"))" p &&
	pid=$(jq -r .pid p) &&
	uid=$(jq -r .enforced_by.pids p | sed "s/.*uid \([0-9]*\))/\1/") &&
	grep -q "^Cpus_allowed_list:[[:space:]]*0$" /proc/$pid/status &&
	awk "/^Uid:/ { print \$2 }" /proc/$pid/status >u && echo "$uid" >want && t_cmp want u &&
	cdt-session terminate "$id" >/dev/null && ! pgrep -f "sleep 4201"
'

t_done
