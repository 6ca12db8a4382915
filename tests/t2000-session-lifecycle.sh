#!/bin/bash
# cdt-session: sessions in the store, from create to terminate, gc,
# quotas and tenants (issue 7).
. "$(dirname "$0")/lib.sh"

t_case 'create on a fresh store: a running session record, workspace 0700' '
	cdt-session create --project demo --owner-pid 0 >s 2>err &&
	t_lines 1 s &&
	jq -e ".type == \"session\" and .status == \"running\" and
		.project == \"demo\" and .tenant.org == \"local\" and
		.sandbox.type == \"interactive\" and
		.sandbox.engine == \"bwrap\" and .sandbox.network == \"none\" and
		.sandbox.limits.pids == 512 and
		.sandbox.limits.memory_bytes == 4294967296 and
		(.sandbox.enforced_by.memory | type) == \"string\" and
		(.id | test(\"^[0-9a-f-]{36}$\"))" s &&
	ws=$(jq -r .workspace s) &&
	case $ws in "$CDT_HOME"/storage/local/default/*/projects/demo) ;;
		*) echo "workspace $ws"; exit 1 ;; esac &&
	[ -d "$ws" ] && [ "$(stat -c %a "$ws")" = 700 ]
'

t_case 'get, list, heartbeat, pause, resume, terminate; terminate twice is 0' '
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-session get "$S" | jq -e ".id == \"$S\" and .status == \"running\"" &&
	cdt-session list >l && t_lines 1 l &&
	cdt-session heartbeat "$S" | jq -e ".status == \"running\"" &&
	cdt-session pause "$S" | jq -e ".status == \"paused\"" &&
	cdt-session pause "$S" | jq -e ".status == \"paused\"" &&
	t_fails 125 cdt-session exec "$S" -- true 2>err && t_grep paused err &&
	cdt-session resume "$S" | jq -e ".status == \"running\"" &&
	cdt-session terminate "$S" | jq -e ".status == \"terminated\"" &&
	cdt-session terminate "$S" | jq -e ".status == \"terminated\"" &&
	cdt-session list --status running >l2 && t_lines 0 l2 &&
	t_fails 69 cdt-session heartbeat "$S" 2>err && t_grep terminated err &&
	t_fails 125 cdt-session exec "$S" -- true >out 2>err &&
	jq -e "select(.type == \"error\") | .code == 69" out
'

t_case 'every transition is stored with its time and reason: get --history' '
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-session pause "$S" >/dev/null && cdt-session pause "$S" >/dev/null &&
	cdt-session heartbeat "$S" 2>/dev/null >/dev/null;
	cdt-session resume "$S" >/dev/null &&
	cdt-session heartbeat "$S" >/dev/null &&
	cdt-session terminate "$S" >/dev/null &&
	cdt-session terminate "$S" >/dev/null &&
	cdt-session get --history "$S" >g &&
	jq -c "[.history[] | [.from, .to, .reason]]" g >got &&
	echo "[[null,\"creating\",\"create\"],[\"creating\",\"running\",\"started\"],[\"running\",\"paused\",\"pause\"],[\"paused\",\"running\",\"resume\"],[\"running\",\"terminated\",\"terminate\"]]" >want &&
	t_cmp want got &&
	jq -e "all(.history[]; .at | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$\")) and .processes == []" g &&
	sqlite3 "$CDT_HOME/cdt.db" "SELECT seq, ts FROM session_events WHERE session_id = '\''$S'\'' ORDER BY seq" >rows &&
	t_lines 5 rows && sort -t"|" -k2,2n -s rows | cmp - rows &&
	cdt-session get "$S" | jq -e "has(\"history\") | not"
'

t_case 'gc stores its reason in the history' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "sandbox:\n  idle_timeout: 1s\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	A=$(cdt-session create --owner-pid 0 --jq .id) && sleep 1.2 &&
	cdt-session gc >/dev/null &&
	cdt-session get --history "$A" --jq ".history[-1] | \"\(.from) \(.to) \(.reason)\"" >got &&
	echo "running terminated idle" >want && t_cmp want got
'

t_case 'the id from a session record on stdin and from CDT_SESSION' '
	cdt-session create --owner-pid 0 >s &&
	S=$(jq -r .id s) &&
	{ echo "{\"type\":\"zz\"}"; cat s; } | cdt-session get >out &&
	t_lines 3 out && sed -n 1p out | jq -e ".type == \"zz\"" &&
	sed -n 3p out | jq -e ".id == \"$S\"" &&
	CDT_SESSION=$S cdt-session get --jq .id >id && [ "$(cat id)" = "$S" ]
'

t_case 'no such session is 66; no id at all is 64' '
	t_fails 66 cdt-session get 00000000-0000-4000-8000-000000000000 2>err &&
	t_grep "no such session" err &&
	t_fails 64 cdt-session get --no-stdin 2>err
'

t_case '-C DIR: a session over an existing directory' '
	mkdir ci && echo x >ci/f &&
	cdt-session create -C ci --owner-pid 0 >s &&
	jq -e ".workspace == \"$PWD/ci\" and .project == null" s
'

t_case 'bad options are 64' '
	t_fails 64 cdt-session create --type nope 2>err &&
	t_fails 64 cdt-session create --sandbox nope 2>err &&
	t_fails 64 cdt-session create --network wifi 2>err &&
	t_fails 64 cdt-session create --memory lots 2>err &&
	t_fails 64 cdt-session create --owner-pid x 2>err
'

t_case 'quota: the sixth live session is 75 naming the limit' '
	for i in 1 2 3 4 5; do
		cdt-session create --owner-pid 0 >/dev/null || exit 1
	done &&
	t_fails 75 cdt-session create --owner-pid 0 >out 2>err &&
	t_grep "auth.quotas.max_sessions" err &&
	S=$(cdt-session list --jq .id | head -1) &&
	cdt-session terminate "$S" >/dev/null &&
	cdt-session create --owner-pid 0 >/dev/null
'

t_case 'quota from config' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "auth:\n  quotas:\n    max_sessions: 1\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	cdt-session create --owner-pid 0 >/dev/null &&
	t_fails 75 cdt-session create --owner-pid 0 2>err
'

t_case 'gc: idle expiry with a shortened timeout, and a dead owner' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "sandbox:\n  idle_timeout: 1s\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	A=$(cdt-session create --owner-pid 0 --jq .id) &&
	P=$(cdt-session create --type persistent --owner-pid 0 --jq .id) &&
	{ sleep 30 & } && owner=$! &&
	O=$(cdt-session create --type persistent --owner-pid $owner --jq .id) &&
	sleep 1.2 &&
	cdt-session gc >g && t_lines 1 g &&
	jq -e ".id == \"$A\" and .status == \"terminated\" and .reason == \"idle\"" g &&
	{ kill $owner; wait $owner; true; } &&
	cdt-session gc >g2 && t_lines 1 g2 &&
	jq -e ".id == \"$O\" and .reason == \"owner process gone\"" g2 &&
	cdt-session get "$P" | jq -e ".status == \"running\""
'

t_case 'the default owner is the parent of create: a crashed owner is cleaned up' '
	sh -c "cdt-session create --type persistent >s; true" &&
	jq -e ".sandbox.owner_pid > 0" s &&
	cdt-session gc >g && t_lines 1 g &&
	jq -e ".reason == \"owner process gone\"" g
'

t_case 'cross-tenant: another org sees 66, as if missing' '
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-auth init --org beta --team web --email boss@beta.test \
		>/dev/null 2>&1 &&
	t_fails 66 cdt-session get "$S" 2>err && t_grep "no such session" err &&
	t_fails 125 cdt-session exec "$S" -- true 2>err &&
	t_grep "no such session" err &&
	cdt-session list --all >l && t_lines 0 l
'

t_case 'same org, no permission: 77; reading is any role' '
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	printf "pass-dev-1\n" | cdt-auth register --email dev@acme.test \
		--org acme --team web --role developer --password-stdin \
		>/dev/null &&
	printf "pass-dev-1\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --jq .token >dev.tok &&
	cdt-session --token-file dev.tok get "$S" >/dev/null &&
	t_fails 77 cdt-session --token-file dev.tok terminate "$S" 2>err &&
	t_grep "not allowed" err &&
	t_fails 125 cdt-session --token-file dev.tok exec "$S" -- true >r 2>err &&
	jq -e ".type == \"error\" and .code == 77" r &&
	cdt-session get "$S" --jq .status >st && [ "$(cat st)" = running ]
'

t_done
