#!/bin/bash
# The role matrix of issue 5, every permission row against every role:
# through the caller check on another user's object (0 or 77) and through
# `cdt-auth check` on the caller's own object (0 or 1); team and project
# scopes; API keys carry their one role; grant and revoke.
. "$(dirname "$0")/lib.sh"

ROLES="org-admin team-admin project-lead developer analyst billing-admin"
# permission, roles allowed on someone else's object in their team,
# roles allowed on their own object ("all": every role, "-": none).
MATRIX="sessions.create org-admin,team-admin,project-lead,developer =
sessions.read all =
sessions.update - all
sessions.delete org-admin,team-admin =
projects.create org-admin,team-admin,project-lead =
projects.read all =
projects.update org-admin,team-admin,project-lead =
projects.delete org-admin,team-admin =
teams.create org-admin =
teams.read all =
teams.update org-admin,team-admin =
teams.delete org-admin,team-admin =
keys.create org-admin,team-admin =
keys.read - all
keys.update - all
keys.delete - all"
export ROLES MATRIX

# acme with teams web and ops; a user per role in web, named after the
# role (org-admin is the init admin); their tokens in ROLE.tok; a
# developer other@acme.test owns the "other" objects.
team() {
	cdt-auth init --org acme --team web --email org-admin@acme.test \
		>/dev/null 2>&1 && cdt-auth token >org-admin.tok &&
	cdt-auth register --email x@acme.test --org acme --team ops \
		--no-input >/dev/null 2>&1 &&
	for r in team-admin project-lead developer analyst billing-admin; do
		printf "pass-$r\n" | cdt-auth register --email $r@acme.test \
			--org acme --team web --role $r --password-stdin \
			>/dev/null &&
		printf "pass-$r\n" | cdt-auth login --email $r@acme.test \
			--password-stdin --no-save --jq .token >$r.tok || return 1
	done &&
	cdt-auth register --email other@acme.test --org acme --team web \
		--no-input >/dev/null 2>&1
}

# allowed LIST ROLE: is ROLE in the comma list (or "all")?
allowed() {
	[ "$1" = all ] && return 0
	case ",$1," in *",$2,"*) return 0 ;; esac
	return 1
}

t_case 'every permission row, every role, on another user object' '
	team &&
	echo "$MATRIX" | while read -r perm other own; do
		for r in $ROLES; do
			callercheck -t $r.tok $perm acme web other@acme.test - \
				2>err; got=$?
			if allowed "$other" $r; then want=0; else want=77; fi
			[ $got = $want ] || {
				echo "$perm as $r: got $got, want $want" >&2
				cat err >&2; exit 1; }
			[ $want = 0 ] || t_grep "not allowed: $perm" err || exit 1
		done
	done
'

t_case 'every permission row, every role, on their own object (check)' '
	team &&
	echo "$MATRIX" | while read -r perm other own; do
		[ "$own" = "=" ] && own=$other
		for r in $ROLES; do
			cdt-auth --token-file $r.tok check $perm 2>err; got=$?
			if allowed "$own" $r; then want=0; else want=1; fi
			[ $got = $want ] || {
				echo "check $perm as $r: got $got, want $want" >&2
				exit 1; }
		done
	done
'

t_case 'a team role does not reach another team; org-admin does' '
	team &&
	echo "$MATRIX" | while read -r perm other own; do
		for r in team-admin project-lead developer analyst \
			billing-admin; do
			callercheck -t $r.tok $perm acme ops x@acme.test - \
				2>/dev/null; got=$?
			if [ $perm = teams.read ]; then want=0; else want=77; fi
			[ $got = $want ] || {
				echo "$perm as $r in ops: got $got" >&2; exit 1; }
		done
		callercheck -t org-admin.tok $perm acme ops x@acme.test - ||
			[ "$other" = - ] || exit 1
	done
'

t_case 'a project grant reaches that project only' '
	team &&
	cdt-auth grant developer@acme.test project-lead --project shop &&
	printf "pass-developer\n" | cdt-auth login --email developer@acme.test \
		--password-stdin --no-save --jq .token >dev.tok &&
	callercheck -t dev.tok projects.update acme web other@acme.test shop &&
	callercheck -t dev.tok projects.update acme web other@acme.test blog \
		2>/dev/null; [ $? = 77 ] &&
	callercheck -t dev.tok projects.update acme web other@acme.test - \
		2>/dev/null; [ $? = 77 ] &&
	cdt-auth --token-file dev.tok check projects.update --project shop &&
	t_fails 1 cdt-auth --token-file dev.tok check projects.update &&
	cdt-auth revoke developer@acme.test project-lead --project shop &&
	t_fails 77 cdt-auth whoami --token-file dev.tok 2>/dev/null
'

t_case 'API keys carry their one role and scope' '
	team &&
	cdt-auth --token-file team-admin.tok keys create --name k \
		--role developer --text >dev.key &&
	callercheck -t dev.key sessions.create acme web - - &&
	callercheck -t dev.key sessions.delete acme web - - 2>/dev/null;
	[ $? = 77 ] &&
	callercheck -t dev.key sessions.read acme ops - - 2>/dev/null;
	[ $? = 77 ] &&
	cdt-auth --token-file dev.key check sessions.create &&
	t_fails 1 cdt-auth --token-file dev.key check sessions.delete &&
	cdt-auth --token-file org-admin.tok keys create --name p \
		--role project-lead --project shop --text >shop.key &&
	callercheck -t shop.key projects.update acme web - shop &&
	callercheck -t shop.key projects.update acme web - blog 2>/dev/null;
	[ $? = 77 ]
'

t_case 'keys: admins create them, never above their role' '
	team &&
	t_fails 77 cdt-auth --token-file developer.tok keys create --name k \
		--role developer 2>err && t_grep "keys.create" err &&
	t_fails 77 cdt-auth --token-file team-admin.tok keys create --name k \
		--role org-admin 2>err &&
	t_fails 64 cdt-auth keys create --name k --role org-admin \
		--team web 2>err &&
	t_fails 64 cdt-auth keys create --name k --role nobody 2>err &&
	t_fails 64 cdt-auth keys create --role developer 2>err &&
	t_fails 64 cdt-auth keys create --name k --role developer \
		--expires soon 2>err
'

t_case 'grant and revoke: scope, rank, idempotence, the last org-admin' '
	team &&
	t_fails 77 cdt-auth --token-file developer.tok grant \
		analyst@acme.test developer 2>err &&
	t_fails 77 cdt-auth --token-file team-admin.tok grant \
		analyst@acme.test org-admin 2>err &&
	cdt-auth --token-file team-admin.tok grant analyst@acme.test \
		developer &&
	cdt-auth --token-file team-admin.tok grant analyst@acme.test \
		developer 2>err &&
	store-open "$CDT_HOME/cdt.db" "SELECT count(*) AS n FROM memberships m
		JOIN users u ON u.id = m.user_id WHERE u.email = ?" \
		"[\"analyst@acme.test\"]" >n && t_grep "\"n\":2" n &&
	t_fails 77 cdt-auth --token-file team-admin.tok grant x@acme.test \
		developer --team ops 2>err &&
	t_fails 64 cdt-auth grant x@acme.test org-admin --team ops 2>err &&
	t_fails 64 cdt-auth grant x@acme.test team-admin --project p 2>err &&
	t_fails 66 cdt-auth revoke x@acme.test analyst 2>err &&
	t_grep "no such grant" err &&
	t_fails 65 cdt-auth revoke org-admin@acme.test org-admin 2>err &&
	t_grep "last org-admin" err &&
	cdt-auth grant team-admin@acme.test org-admin &&
	cdt-auth revoke org-admin@acme.test org-admin &&
	t_fails 77 cdt-auth whoami 2>/dev/null
'

t_done
