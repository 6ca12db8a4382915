#!/bin/bash
# cdt-session exec --detach (issue 7): a long-running process of a
# persistent session, started in a fresh sandbox, detached, logged under
# the session and recorded as pid plus start time; terminate and gc kill
# it with its whole sandbox, and never a recycled pid.
. "$(dirname "$0")/lib.sh"

# persistent: create a persistent session, print its id.
persistent() {
	cdt-session create --type persistent --owner-pid 0 "$@" --jq .id
}
export -f persistent

# gone PATTERN: no process matches within 2 s (a kill is asynchronous).
gone() {
	for i in $(seq 20); do pgrep -f "$1" >/dev/null || return 0; sleep 0.1; done
	echo "still running: $(pgrep -af "$1")"; return 1
}
export -f gone

# start_of PID: field 22 of /proc/PID/stat.
start_of() {
	sed "s/.*) //" "/proc/$1/stat" | cut -d" " -f20
}
export -f start_of

t_case 'detach: a process record, the process running, its output logged' '
	S=$(persistent) &&
	cdt-session exec "$S" --detach -- sh -c "echo started; exec sleep 4101" >r &&
	t_lines 1 r &&
	jq -e ".type == \"process\" and .session_id == \"$S\" and
		.argv == [\"sh\",\"-c\",\"echo started; exec sleep 4101\"] and
		(.pid | type) == \"number\" and (.start_time | type) == \"number\" and
		(.started_at | test(\"Z$\"))" r &&
	pid=$(jq -r .pid r) && log=$(jq -r .log r) &&
	[ "$log" = "$CDT_HOME/sessions/$S/logs/1.log" ] &&
	[ "$(stat -c %a "$log")" = 600 ] &&
	[ "$(start_of "$pid")" = "$(jq -r .start_time r)" ] &&
	pgrep -f "sleep 4101" >/dev/null &&
	for i in $(seq 50); do grep -q started "$log" && break; sleep 0.1; done &&
	t_grep "^started$" "$log" &&
	cdt-session get --history "$S" >g &&
	jq -e ".processes | length == 1 and .[0].pid == $pid and .[0].ended_at == null and .[0].log == \"$log\"" g &&
	cdt-session exec "$S" --detach --jq .log -- sleep 4102 >log2 &&
	[ "$(cat log2)" = "$CDT_HOME/sessions/$S/logs/2.log" ] &&
	cdt-session terminate "$S" >/dev/null
'

t_case 'terminate kills the whole sandbox and records it; history goes through terminating' '
	S=$(persistent) &&
	cdt-session exec "$S" --detach -- sh -c "sleep 4111 & sleep 4112; wait" >r &&
	pid=$(jq -r .pid r) && st=$(jq -r .start_time r) &&
	pgrep -f "sleep 4111" >/dev/null && pgrep -f "sleep 4112" >/dev/null &&
	cdt-session terminate "$S" >t &&
	jq -e ".status == \"terminated\" and .ended_processes == [{\"pid\": $pid, \"start_time\": $st, \"end_reason\": \"killed\"}]" t &&
	gone "sleep 411[12]" &&
	cdt-session get --history "$S" >g &&
	jq -c "[.history[] | .to]" g >got &&
	echo "[\"creating\",\"running\",\"terminating\",\"terminated\"]" >want &&
	t_cmp want got &&
	jq -e ".processes[0].end_reason == \"killed\" and (.processes[0].ended_at | type) == \"string\"" g &&
	! ls -d /sys/fs/cgroup/*/cdt-detach-"${S:0:8}"* /sys/fs/cgroup/memory/*/*/cdt-detach-"${S:0:8}"* 2>/dev/null
'

t_case 'a recycled pid is never killed: a recorded start time that differs leaves the process alone' '
	S=$(persistent) &&
	cdt-session exec "$S" --detach -- sleep 4121 >r &&
	pid=$(jq -r .pid r) && st=$(jq -r .start_time r) &&
	sqlite3 "$CDT_HOME/cdt.db" "UPDATE session_processes SET start_time = start_time - 7 WHERE pid = $pid" &&
	cdt-session terminate "$S" >t &&
	jq -e ".ended_processes[0].end_reason == \"gone\"" t &&
	sleep 0.3 && kill -0 "$pid" && [ "$(start_of "$pid")" = "$st" ] &&
	pgrep -f "sleep 4121" >/dev/null &&
	{ sleep 4122 & } && other=$! &&
	sqlite3 "$CDT_HOME/cdt.db" "UPDATE session_processes SET pid = $other, ended_at = NULL, end_reason = NULL WHERE session_id = '\''$S'\''" &&
	cdt-session gc >/dev/null && sleep 0.3 && kill -0 "$other" &&
	cdt-session get --history "$S" --jq ".processes[0].end_reason" >why &&
	echo gone >want && t_cmp want why && kill "$other" &&
	sqlite3 "$CDT_HOME/cdt.db" "UPDATE session_processes SET pid = $pid, start_time = $st, ended_at = NULL, end_reason = NULL WHERE session_id = '\''$S'\''" &&
	cdt-session gc >/dev/null && gone "sleep 4121" &&
	cdt-session get --history "$S" --jq ".processes[0].end_reason" >why &&
	echo killed >want && t_cmp want why
'

t_case 'gc kills the processes of a session whose owner died' '
	{ sleep 60 & } && owner=$! &&
	S=$(cdt-session create --type persistent --owner-pid $owner --jq .id) &&
	cdt-session exec "$S" --detach -- sleep 4131 >r &&
	kill $owner && wait $owner; cdt-session gc >g &&
	jq -e ".id == \"$S\" and .reason == \"owner process gone\" and .ended_processes[0].end_reason == \"killed\"" g &&
	gone "sleep 4131"
'

t_case 'gc notes a process that exited by itself and removes its cgroups' '
	S=$(persistent) &&
	cdt-session exec "$S" --detach -- sh -c "echo bye" >r &&
	pid=$(jq -r .pid r) &&
	for i in $(seq 50); do [ -n "$(start_of "$pid" 2>/dev/null | grep -v "^$")" ] && [ "$(sed "s/.*) //" /proc/$pid/stat 2>/dev/null | cut -c1)" != Z ] || break; sleep 0.1; done &&
	cdt-session gc >g && t_lines 0 g &&
	cdt-session get --history "$S" --jq ".status, .processes[0].end_reason" >got &&
	printf "running\nexited\n" >want && t_cmp want got &&
	! ls -d /sys/fs/cgroup/*/cdt-detach-"${S:0:8}"* 2>/dev/null
'

t_case 'detach needs a persistent session: 125, the error record says 64' '
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	t_fails 125 cdt-session exec "$S" --detach -- sleep 1 >r 2>err &&
	t_grep "persistent" err && jq -e ".type == \"error\" and .code == 64" r
'

t_case 'detach when bwrap cannot start: 125 with its words, nothing recorded' '
	S=$(persistent) &&
	printf "#!/bin/sh\necho \"bwrap: No permissions to create new namespace\" >&2\nexit 1\n" >fake &&
	chmod +x fake &&
	CDT_TEST_BWRAP=$PWD/fake t_fails 125 cdt-session exec "$S" --detach -- sleep 1 >r 2>err &&
	jq -e ".type == \"error\" and .code == 69 and (.message | test(\"No permissions\"))" r &&
	cdt-session get --history "$S" --jq ".processes | length" >n && echo 0 >want && t_cmp want n
'

t_case 'detach under --sandbox none: terminate kills its process group' '
	S=$(persistent --sandbox none) &&
	cdt-session exec "$S" --detach -- sh -c "sleep 4141 & sleep 4142; wait" >r &&
	pgrep -f "sleep 4141" >/dev/null &&
	cdt-session terminate "$S" >t &&
	jq -e ".ended_processes[0].end_reason == \"killed\"" t && gone "sleep 414[12]"
'

t_case 'terminate sends SIGTERM first: a trap gets it and writes a file' '
	S=$(persistent) && ws=$(cdt-session get "$S" --jq .workspace) &&
	cdt-session exec "$S" --detach -- sh -c "trap \"echo got term >>/home/dev/t; exit 0\" TERM; echo up; while :; do sleep 0.1; done" >r &&
	log=$(jq -r .log r) &&
	for i in $(seq 50); do grep -q up "$log" && break; sleep 0.1; done &&
	cdt-session terminate "$S" >t &&
	jq -e ".ended_processes[0].end_reason == \"killed\"" t &&
	echo "got term" >want && t_cmp want "$ws/t" && gone "while :; do sleep 0.1"
'

t_case 'gc sends SIGTERM first too; the uid fallback the same' '
	{ sleep 60 & } && owner=$! &&
	S=$(CDT_SANDBOX_CGROUP=none cdt-session create --type persistent --owner-pid $owner --jq .id) &&
	ws=$(cdt-session get "$S" --jq .workspace) &&
	CDT_SANDBOX_CGROUP=none cdt-session exec "$S" --detach -- sh -c "trap \"echo gc term >>/home/dev/t; exit 0\" TERM; echo up; while :; do sleep 0.1; done" >r &&
	jq -e ".enforced_by.pids | startswith(\"RLIMIT_NPROC (uid \")" r &&
	log=$(jq -r .log r) &&
	for i in $(seq 50); do grep -q up "$log" && break; sleep 0.1; done &&
	kill $owner && wait $owner; cdt-session gc >g &&
	jq -e ".reason == \"owner process gone\" and .ended_processes[0].end_reason == \"killed\"" g &&
	echo "gc term" >want && t_cmp want "$ws/t" && stat -c %u "$ws/t" >u &&
	echo 0 >want && t_cmp want u && gone "while :; do sleep 0.1"
'

t_case 'a process that ignores SIGTERM is killed after sandbox.kill_grace' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "sandbox:\n  kill_grace: 2s\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	S=$(persistent) && ws=$(cdt-session get "$S" --jq .workspace) &&
	cdt-session exec "$S" --detach -- sh -c "trap \"echo ignored >>/home/dev/t\" TERM; echo up; while :; do sleep 0.1; done" >r &&
	log=$(jq -r .log r) &&
	for i in $(seq 50); do grep -q up "$log" && break; sleep 0.1; done &&
	cdt-session terminate "$S" >t &&
	jq -e ".ended_processes[0].end_reason == \"killed\"" t &&
	gone "while :; do sleep 0.1" && echo ignored >want && t_cmp want "$ws/t"
'

# Two processes that ignore SIGTERM share one grace period: both get TERM
# before either is killed, so A (recorded first) still ticks after B has
# written its TERM line.  One grace after another, A would be dead by then.
t_case 'several processes: SIGTERM to all first, one grace period together' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "sandbox:\n  kill_grace: 2s\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	S=$(persistent) && ws=$(cdt-session get "$S" --jq .workspace) &&
	cdt-session exec "$S" --detach -- sh -c "trap \"\" TERM; echo up; while :; do echo A tick >>/home/dev/t; sleep 0.1; done" >ra &&
	for i in $(seq 50); do grep -q up "$(jq -r .log ra)" && break; sleep 0.1; done &&
	cdt-session exec "$S" --detach -- sh -c "trap \"echo B term >>/home/dev/t\" TERM; echo up; while :; do sleep 0.1; done" >rb &&
	for i in $(seq 50); do grep -q up "$(jq -r .log rb)" && break; sleep 0.1; done &&
	cdt-session terminate "$S" >t &&
	jq -e "[.ended_processes[].end_reason] == [\"killed\", \"killed\"]" t &&
	t_grep "^B term$" "$ws/t" &&
	sed -n "/^B term$/,\$p" "$ws/t" | grep -c "^A tick$" >n &&
	[ "$(cat n)" -ge 1 ] && gone "echo A tick" && gone "echo B term"
'

t_case 'the log is rotated past sandbox.log_max: one older file kept, nothing lost in between' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "sandbox:\n  log_max: 2K\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	S=$(persistent) &&
	cdt-session exec "$S" --detach -- sh -c "i=0; while [ \$i -lt 300 ]; do echo \"line \$i of the detached process\"; i=\$((i + 1)); done; echo end; exec sleep 4161" >r &&
	log=$(jq -r .log r) &&
	for i in $(seq 50); do grep -q "^end$" "$log" 2>/dev/null && break; sleep 0.1; done &&
	t_grep "^end$" "$log" &&
	[ "$(stat -c %s "$log.1")" = 2048 ] && [ "$(stat -c %s "$log")" -le 2048 ] &&
	[ "$(stat -c %a "$log.1")" = 600 ] && [ "$(stat -c %a "$log")" = 600 ] &&
	{ i=0; while [ $i -lt 300 ]; do echo "line $i of the detached process"; i=$((i + 1)); done; echo end; } >all &&
	cat "$log.1" "$log" >kept && n=$(stat -c %s kept) &&
	tail -c "$n" all >want && t_cmp want kept &&
	! ls "$log.2" 2>/dev/null &&
	cdt-session terminate "$S" >/dev/null && gone "sleep 4161" &&
	gone "cdt-session exec $S"
'

t_done
