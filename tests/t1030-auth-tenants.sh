#!/bin/bash
# Two orgs on one store: another org's objects answer exactly like
# missing ones (66), through the caller check (anchors A27) and through
# cdt-auth's own objects (keys, users, grants, teams, the audit log).
. "$(dirname "$0")/lib.sh"

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

t_done
