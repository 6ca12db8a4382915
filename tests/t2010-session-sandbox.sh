#!/bin/bash
# cdt-session exec: the bubblewrap battery (issue 7).  These cases fail,
# never skip, when bwrap cannot start: CI runs them as root with bwrap.
. "$(dirname "$0")/lib.sh"

# new_session [OPTIONS]: create one, print its id.
new_session() {
	cdt-session create --owner-pid 0 "$@" --jq .id
}
export -f new_session

# wait_port: the listener of the case has written its port (5 s at most).
wait_port() {
	for i in $(seq 50); do [ -s port ] && return 0; sleep 0.1; done
	return 1
}
export -f wait_port

t_case 'bwrap starts here (the battery below depends on it)' '
	S=$(new_session) && cdt-session exec "$S" -- true
'

t_case 'output becomes exec records, then an exit record; the status passes' '
	S=$(new_session) &&
	t_fails 3 cdt-session exec "$S" -- sh -c "echo out; echo err >&2; exit 3" >r &&
	jq -se "map(select(.type == \"exec\" and .stream == \"stdout\") | .data) | add == \"out\n\"" r &&
	jq -se "map(select(.type == \"exec\" and .stream == \"stderr\") | .data) | add == \"err\n\"" r &&
	tail -n1 r | jq -e ".type == \"exit\" and .code == 3 and .signal == null and
		.timed_out == false and .session_id == \"$S\" and
		.argv == [\"sh\",\"-c\",\"echo out; echo err >&2; exit 3\"] and
		(.duration_ms | type) == \"number\""
'

t_case 'a signal passes back: 128+N and the exit record names it' '
	S=$(new_session) &&
	t_fails 137 cdt-session exec "$S" -- sh -c "kill -KILL \$\$" >r &&
	tail -n1 r | jq -e ".code == 137 and .signal == \"SIGKILL\""
'

t_case 'missing command 127, not executable 126, like env(1)' '
	S=$(new_session) &&
	t_fails 127 cdt-session exec "$S" -- no-such-command >r 2>err &&
	tail -n1 r | jq -e ".code == 127" &&
	ws=$(cdt-session get "$S" --jq .workspace) &&
	printf "#!/bin/sh\n" >"$ws/noexec" && chmod 644 "$ws/noexec" &&
	t_fails 126 cdt-session exec "$S" -- ./noexec >r 2>err
'

t_case 'the network is unreachable inside: a port listening on 127.0.0.1 is not' '
	S=$(new_session) &&
	{ python3 -c "
import socket, sys
s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(5)
print(s.getsockname()[1]); sys.stdout.flush()
import time; time.sleep(20)" >port & } && lp=$! &&
	wait_port && port=$(cat port) && [ -n "$port" ] &&
	python3 -c "import socket; socket.create_connection((\"127.0.0.1\", $port), 2)" &&
	t_fails 1 cdt-session exec "$S" -- python3 -c "
import socket
try:
    socket.create_connection((\"127.0.0.1\", $port), 2)
except OSError as e:
    print(\"refused\", e); raise SystemExit(1)
" >r; rc=$?; kill $lp; [ $rc = 0 ] && t_grep refused r &&
	cdt-session exec "$S" -- cat /proc/net/dev >r &&
	! jq -r "select(.type==\"exec\").data" r | grep -v "lo:" | grep -q ":"
'

t_case '--network host is recorded and reaches the host' '
	S=$(cdt-session create --owner-pid 0 --network host) &&
	echo "$S" | jq -e ".sandbox.network == \"host\"" &&
	id=$(echo "$S" | jq -r .id) &&
	{ python3 -c "
import socket, sys
s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(5)
print(s.getsockname()[1]); sys.stdout.flush()
import time; time.sleep(20)" >port & } && lp=$! &&
	wait_port && port=$(cat port) &&
	cdt-session exec "$id" -- python3 -c "import socket; socket.create_connection((\"127.0.0.1\", $port), 2)"; rc=$?
	kill $lp; [ $rc = 0 ]
'

t_case '--network none is the default and wins over config; the record names the namespace' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "sandbox:\n  network: true\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	cdt-session create --owner-pid 0 --jq .sandbox.network >c && echo host >want && t_cmp want c &&
	cdt-session create --owner-pid 0 --network none >s &&
	jq -e ".sandbox.network == \"none\" and .sandbox.enforced_by.network == \"net namespace\"" s &&
	cdt-session exec "$(jq -r .id s)" -- cat /proc/net/dev >r &&
	! jq -r "select(.type==\"exec\").data" r | grep -v "lo:" | grep -q ":"
'

t_case 'writes: /home/dev and /tmp yes; /usr, /etc, / no' '
	S=$(new_session) &&
	cdt-session exec "$S" -- sh -c "echo a >/home/dev/a && echo b >/tmp/b" &&
	ws=$(cdt-session get "$S" --jq .workspace) && [ "$(cat "$ws/a")" = a ] &&
	for p in /usr/x /etc/x /x /home/x /run/../x; do
		cdt-session exec "$S" -- sh -c "echo x >$p" >/dev/null 2>&1 &&
			{ echo "wrote $p" >&2; exit 1; }
	done; [ ! -e /x ] && [ ! -e /usr/x ]
'

t_case 'a private /tmp each run' '
	S=$(new_session) &&
	cdt-session exec "$S" -- sh -c "echo x >/tmp/mark" &&
	t_fails 1 cdt-session exec "$S" -- test -e /tmp/mark
'

t_case 'the host home and other workspaces are not visible' '
	echo secret >"$HOME/secret" &&
	A=$(cdt-session create --owner-pid 0 --project one) &&
	B=$(new_session --project two) &&
	wa=$(echo "$A" | jq -r .workspace) && echo mine >"$wa/f" &&
	t_fails 1 cdt-session exec "$B" -- test -e "$HOME/secret" &&
	t_fails 1 cdt-session exec "$B" -- test -e "$wa/f" &&
	t_fails 1 cdt-session exec "$B" -- test -e "$CDT_HOME" &&
	t_fails 1 cdt-session exec "$B" -- test -e /home/dev/f
'

t_case 'a clean environment: HOME PATH LANG TMPDIR and --env only' '
	S=$(new_session) &&
	printf "B=2\n# comment\n" >envf &&
	SECRET=x cdt-session exec "$S" --env A=1 --env-file envf -- env >r &&
	jq -j "select(.type == \"exec\") | .data" r | sort >got &&
	printf "%s\n" A=1 B=2 HOME=/home/dev LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin PWD=/home/dev TMPDIR=/tmp | sort >want &&
	t_cmp want got
'

t_case 'no capabilities, no new privileges, uid 1000' '
	S=$(new_session) &&
	cdt-session exec "$S" -- sh -c "id -u; grep -E \"^(CapEff|NoNewPrivs)\" /proc/self/status" >r &&
	jq -r "select(.type == \"exec\") | .data" r >got &&
	t_grep "^1000$" got && t_grep "CapEff:.*0000000000000000" got
'

t_case '--timeout kills the whole tree: 124, timed_out, nothing left' '
	S=$(new_session) &&
	t_fails 124 cdt-session exec "$S" --timeout 1s -- sh -c "sleep 300 & sleep 301" >r &&
	tail -n1 r | jq -e ".timed_out == true and .code == 124" &&
	sleep 0.3 && ! pgrep -f "sleep 30[01]"
'

t_case 'exec as a pipeline stage: records forwarded first, nothing sent to the command' '
	S=$(new_session) &&
	printf "{\"type\":\"zz\",\"n\":1}\n{\"type\":\"zz\",\"n\":2}\n" |
		cdt-session exec "$S" -- sh -c "cat; echo done" >r &&
	sed -n 1p r | jq -e ".type == \"zz\" and .n == 1" &&
	sed -n 2p r | jq -e ".type == \"zz\" and .n == 2" &&
	sed -n 3p r | jq -e ".type == \"exec\" and .data == \"done\n\""
'

t_case 'the session record on stdin picks the session' '
	cdt-session create --owner-pid 0 | cdt-session exec -- echo hi >r &&
	sed -n 1p r | jq -e ".type == \"session\"" &&
	jq -se "map(select(.type == \"exec\")) | .[0].data == \"hi\n\"" r
'

t_case 'raw stdin is streamed to the command, binary output as data_base64' '
	S=$(new_session) &&
	head -c 100000 /dev/urandom >blob &&
	cdt-session exec "$S" -- cat <blob >r &&
	jq -r "select(.type == \"exec\") | if .data_base64 then (.data_base64 | @base64d) else .data end" r >/dev/null &&
	jq -j "select(.type == \"exec\") | .data_base64 // empty" r | head -c 0 &&
	python3 -c "
import json, base64, sys
out = b\"\"
for l in open(\"r\"):
    r = json.loads(l)
    if r[\"type\"] == \"exec\":
        out += base64.b64decode(r[\"data_base64\"]) if \"data_base64\" in r else r[\"data\"].encode()
sys.exit(0 if out == open(\"blob\", \"rb\").read() else 1)"
'

t_case 'an upstream error record: forwarded, nothing run, its code' '
	S=$(new_session) &&
	ws=$(cdt-session get "$S" --jq .workspace) &&
	echo "{\"type\":\"error\",\"tool\":\"cdt-x\",\"code\":66,\"class\":\"x\",\"message\":\"m\"}" |
	t_fails 66 cdt-session exec "$S" -- touch ran >r 2>err &&
	[ ! -e "$ws/ran" ] && t_lines 1 r && jq -e ".tool == \"cdt-x\"" r
'

t_case 'never ran: 125, the cdt code in the error record' '
	t_fails 125 cdt-session exec 00000000-0000-4000-8000-000000000000 -- true >r 2>err &&
	jq -e ".type == \"error\" and .code == 66" r &&
	t_fails 125 cdt-session exec >r 2>err && t_grep "needs --" err
'

t_case 'bwrap missing: create 69 and exec 125, naming apt-get install bubblewrap' '
	S=$(new_session) &&
	CDT_TEST_BWRAP=/nonexistent/bwrap t_fails 125 cdt-session exec "$S" -- true >r 2>err &&
	t_grep "apt-get install bubblewrap" err &&
	jq -e ".type == \"error\" and .code == 69" r &&
	CDT_TEST_BWRAP=/nonexistent/bwrap t_fails 69 cdt-session create 2>err &&
	t_grep "apt-get install bubblewrap" err
'

t_case 'bwrap unable to start: 125, its words in the error record' '
	S=$(new_session) &&
	printf "#!/bin/sh\necho \"bwrap: No permissions to create new namespace\" >&2\nexit 1\n" >fake &&
	chmod +x fake &&
	CDT_TEST_BWRAP=$PWD/fake t_fails 125 cdt-session exec "$S" -- true >r 2>err &&
	jq -e ".type == \"error\" and .code == 69 and (.message | test(\"No permissions\"))" r &&
	t_lines 1 r
'

t_case '--sandbox none is recorded and runs in the workspace' '
	S=$(cdt-session create --owner-pid 0 --sandbox none) &&
	echo "$S" | jq -e ".sandbox.engine == \"none\"" &&
	id=$(echo "$S" | jq -r .id) && ws=$(echo "$S" | jq -r .workspace) &&
	cdt-session exec "$id" -- sh -c "pwd; echo \$HOME" >r &&
	jq -j "select(.type == \"exec\") | .data" r >got &&
	printf "%s\n%s\n" "$ws" "$ws" >want && t_cmp want got &&
	t_fails 127 cdt-session exec "$id" -- no-such-command >/dev/null 2>&1
'

t_case '.git/hooks and .git/config are read-only inside' '
	S=$(cdt-session create -C . --owner-pid 0 --jq .id) &&
	mkdir -p .git/hooks && echo "[core]" >.git/config &&
	t_fails 2 cdt-session exec "$S" -- sh -c "echo x >.git/hooks/pre-commit" >/dev/null 2>&1 &&
	t_fails 2 cdt-session exec "$S" -- sh -c "echo x >>.git/config" >/dev/null 2>&1 &&
	[ ! -e .git/hooks/pre-commit ] && [ "$(cat .git/config)" = "[core]" ] &&
	cdt-session exec "$S" -- sh -c "echo y >file" >/dev/null && [ -f file ]
'

t_done
