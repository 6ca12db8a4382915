#!/bin/bash
# Two orgs on one store: another org's objects answer exactly like
# missing ones (66), through the caller check (anchors A27) and through
# cdt-auth's own objects (keys, users, grants, teams, the audit log),
# cdt-session's sessions and cdt-chat's conversations.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

PERMS="sessions.create sessions.read sessions.update sessions.delete
projects.create projects.read projects.update projects.delete
teams.create teams.read teams.update teams.delete
keys.create keys.read keys.update keys.delete"
export PERMS

# acme (admin@acme.test) and beta (boss@beta.test), both with a team
# "web"; a.tok and b.tok are their tokens; beta's login is saved.
two_orgs() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 && cdt-auth token >a.tok &&
	cdt-auth init --org beta --team web --email boss@beta.test \
		>/dev/null 2>&1 && cdt-auth token >b.tok
}

t_case 'A27: a token of one org on every object of the other is 66' '
	two_orgs &&
	for p in $PERMS; do
		callercheck -t a.tok $p beta web boss@beta.test - 2>err
		[ $? = 66 ] || { echo "$p: not 66" >&2; exit 1; }
		t_grep "no such object" err || exit 1
		callercheck -t b.tok $p acme web admin@acme.test shop 2>err
		[ $? = 66 ] || { echo "$p (b): not 66" >&2; exit 1; }
	done
'

t_case 'the same permissions in its own org are allowed (org-admin, owner)' '
	two_orgs &&
	for p in $PERMS; do
		callercheck -t a.tok $p acme web admin@acme.test - ||
			{ echo "$p refused" >&2; exit 1; }
	done
'

t_case 'an org id that does not exist answers as another org does' '
	two_orgs &&
	callercheck -t a.tok sessions.read beta web - - 2>e1; r1=$?
	callercheck -t a.tok sessions.read nosuchorg web - - 2>e2; r2=$?
	[ $r1 = 66 ] && [ $r2 = 66 ] && t_cmp e1 e2
'

t_case 'an API key of one org sees nothing of the other' '
	two_orgs &&
	cdt-auth --token-file b.tok keys create --name ci --role team-admin \
		--text >b.key &&
	callercheck -t b.key sessions.delete beta web - - &&
	callercheck -t b.key sessions.read acme web - - 2>err; [ $? = 66 ]
'

t_case 'keys revoke: another org key is "no such key", like a missing one' '
	two_orgs &&
	cdt-auth --token-file b.tok keys create --name ci --role developer \
		--json >bk &&
	id=$(jq -r .id bk) &&
	t_fails 66 cdt-auth --token-file a.tok keys revoke "$id" 2>e1 &&
	t_fails 66 cdt-auth --token-file a.tok keys revoke AAAAAAAAAAAA 2>e2 &&
	sed "s/$id/ID/" e1 >n1 && sed "s/AAAAAAAAAAAA/ID/" e2 >n2 &&
	t_cmp n1 n2 &&
	cdt-auth --token-file b.tok whoami >/dev/null &&
	store-open "$CDT_HOME/cdt.db" "SELECT revoked_at FROM api_keys" >r &&
	t_grep "\"revoked_at\":null" r
'

t_case 'users, grants and passwords of another org are "no such user"' '
	two_orgs &&
	t_fails 66 cdt-auth --token-file a.tok users disable boss@beta.test \
		2>e1 && t_grep "no such user .boss@beta.test." e1 &&
	t_fails 66 cdt-auth --token-file a.tok grant boss@beta.test \
		developer 2>e2 && t_grep "no such user" e2 &&
	t_fails 66 cdt-auth --token-file a.tok revoke boss@beta.test \
		org-admin 2>e3 &&
	printf "x1234567\n" | t_fails 66 cdt-auth --token-file a.tok passwd \
		--email boss@beta.test --password-stdin 2>e4 &&
	t_fails 66 cdt-auth --token-file a.tok users disable ghost@beta.test \
		2>e5 && sed "s/ghost/boss/" e5 >e5b && t_cmp e1 e5b &&
	store-open "$CDT_HOME/cdt.db" "SELECT disabled FROM users WHERE email =
		?" "[\"boss@beta.test\"]" >d && t_grep "\"disabled\":0" d
'

t_case 'register into another org, or its team, is 66' '
	two_orgs &&
	t_fails 66 cdt-auth --token-file a.tok register --email x@x.test \
		--org beta --team web --no-input 2>err &&
	t_grep "no such org .beta." err &&
	t_fails 66 cdt-auth --token-file a.tok check sessions.read \
		--team nosuch 2>err && t_grep "no such team" err
'

t_case 'lists show one org only: users, keys, audit' '
	two_orgs &&
	cdt-auth --token-file b.tok keys create --name bk --role developer \
		--json >/dev/null &&
	cdt-auth --token-file a.tok keys create --name ak --role developer \
		--json >/dev/null &&
	cdt-auth --token-file a.tok users list --json >u &&
	jq -s -e "map(.email) == [\"admin@acme.test\"]" u &&
	cdt-auth --token-file a.tok keys list --json >k &&
	jq -s -e "map(.name) == [\"ak\"]" k &&
	cdt-auth --token-file a.tok audit --json >a &&
	! grep -q "beta" a && t_grep "org_created" a
'

t_case 'same user in two orgs: a token is for one org only' '
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	cdt-auth init --org beta --team web --email admin@acme.test \
		>/dev/null 2>&1 && cdt-auth token >beta.tok &&
	callercheck -t beta.tok sessions.read beta web - - &&
	callercheck -t beta.tok sessions.read acme web - - 2>err; [ $? = 66 ]
'

# as66 WANT CMD...: exit 66 and a stderr line with WANT (a pattern).
as66() {
	a_pat=$1
	shift
	t_fails 66 "$@" >o66 2>e66 && t_grep "$a_pat" e66 &&
	jq -e "select(.type == \"error\") | .code == 66 and
		.class == \"not_found\"" o66 >/dev/null
}
export -f as66

t_case 'cdt-session: each command on the other org'"'"'s session is 66' '
	two_orgs &&
	A=$(cdt-session --token-file a.tok create --owner-pid 0 --jq .id) &&
	B=$(cdt-session --token-file b.tok create --owner-pid 0 --jq .id) &&
	for c in get heartbeat pause resume terminate; do
		as66 "no such session .$A." cdt-session --token-file b.tok \
			$c $A || exit 1
		as66 "no such session .$B." cdt-session --token-file a.tok \
			$c $B || exit 1
	done &&
	t_fails 125 cdt-session --token-file b.tok exec $A -- true >o 2>e &&
	t_grep "no such session .$A." e &&
	jq -e ".code == 66 and .class == \"not_found\"" o &&
	as66 "no such session .$A." cdt-session --token-file b.tok create \
		--owner-pid 0 --parent $A &&
	cdt-session --token-file a.tok get $A >rec &&
	as66 "no such session .$A." cdt-session --token-file b.tok get <rec &&
	cdt-session --token-file b.tok list --all --jq .id >l &&
	echo $B >w && t_cmp w l &&
	cdt-session --token-file a.tok get $A --jq .status >st &&
	echo running >w && t_cmp w st &&
	cdt-session --token-file b.tok get $B --jq .status >st && t_cmp w st
'

t_case 'cdt-chat: each way to name the other org'"'"'s conversation is 66' '
	fp_start fp && trap fp_stop EXIT &&
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant &&
	two_orgs &&
	S=$(cdt-session --token-file a.tok create --owner-pid 0 --jq .id) &&
	echo "{\"type\":\"message\",\"role\":\"user\",\"content\":\"x\",\"conversation_id\":\"shared-a\"}" >ma &&
	cdt-chat --token-file a.tok --provider claude hi <ma >/dev/null &&
	cdt-chat --token-file a.tok --provider claude --session $S in-s \
		>d && D=$(sed -n 1p d | jq -r .conversation_id) &&
	C=shared-a && hits=$(fp_hits) &&
	as66 "no such conversation .$C." cdt-chat --token-file b.tok log \
		--conversation $C &&
	as66 "no such conversation .shared." cdt-chat --token-file b.tok \
		log --conversation shared &&
	as66 "no such conversation .$D." cdt-chat --token-file b.tok log \
		--conversation $D &&
	as66 "no such conversation .$C." cdt-chat --token-file b.tok \
		--provider claude --conversation $C hi &&
	as66 "no such conversation .$C." cdt-chat --token-file b.tok \
		--provider claude hi <ma &&
	as66 "no such session .$S." cdt-chat --token-file b.tok log \
		--session $S &&
	as66 "no such session .$S." cdt-chat --token-file b.tok \
		--provider claude --session $S hi &&
	CDT_SESSION=$S as66 "no such session .$S." cdt-chat \
		--token-file b.tok --provider claude hi &&
	cdt-session --token-file a.tok get $S >srec &&
	as66 "no such session .$S." cdt-chat --token-file b.tok \
		--provider claude hi <srec &&
	t_fails 66 cdt-chat --token-file b.tok --provider claude -c hi \
		>/dev/null 2>e && t_grep "no conversation yet" e &&
	t_fails 66 cdt-chat --token-file b.tok log >/dev/null 2>e &&
	t_grep "no conversation yet" e &&
	test "$(fp_hits)" = "$hits" &&
	echo "{\"type\":\"message\",\"role\":\"user\",\"content\":\"x\",\"conversation_id\":\"shared-b\"}" |
		cdt-chat --token-file b.tok --provider claude hi >/dev/null &&
	cdt-chat --token-file b.tok log --conversation shared \
		--jq .conversation_id | sort -u >got &&
	echo shared-b >w && t_cmp w got &&
	cdt-chat --token-file a.tok log --conversation shared \
		--jq .conversation_id | sort -u >got &&
	echo shared-a >w && t_cmp w got &&
	store-open "$CDT_HOME/cdt.db" "SELECT count(*) AS n FROM messages
		WHERE conversation_id IN (?, ?)" "[\"$C\", \"$D\"]" >n &&
	echo "{\"n\":5}" >w && t_cmp w n
'

t_done
