#!/bin/bash
# The store on PostgreSQL 15 (tests/pg.sh: a throwaway cluster, the tools
# as the application role cdtapp): migrate and status, two machines
# sharing one database and the key files, 64 processes from both at once,
# SQLite export into PostgreSQL with every row accounted for, backups, the
# password never shown, a key-file mismatch.  Fails if PostgreSQL cannot
# start.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/pg.sh"
t_pg_start || { echo "Bail out! cannot start PostgreSQL 15"; exit 1; }

# Each case: its own database, a copy of the migrated one.
pgcase() {
	t_pg_newdb "c$(date +%s%N | cut -c10-)$RANDOM" &&
		export CDT_STORE_URL=$T_PG_URL &&
		ADMIN="${T_PG_ADMIN_URL%/*}/$T_PG_DB"
}

acme() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1
}

t_case 'migrate and status: version, backend, a name without password' '
	pgcase &&
	cdt store status --json >st &&
	jq -e ".type == \"store\" and .backend == \"postgres\" and
		.version == .latest and .version >= 1 and .current == true and
		(.name | test(\"^postgres://cdtapp@127.0.0.1:[0-9]+/c\"))" st &&
	cdt store migrate --admin-url "${T_PG_ADMIN_URL%/*}/$T_PG_DB" \
		--json >m &&
	jq -e ".app_role == \"cdtapp\" and .version == .latest" m &&
	CDT_STORE_URL="postgres://cdtapp:$(cat $T_PG_PASSFILE)@127.0.0.1:$T_PG_PORT/$T_PG_DB" \
		cdt store status --json >st2 &&
	! grep -qF "$(cat $T_PG_PASSFILE)" st2 &&
	jq -e ".name == \"postgres://cdtapp@127.0.0.1:$T_PG_PORT/$T_PG_DB\"" st2 &&
	t_pg_sql "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE
		rolname = '\''cdtapp'\''" >r && echo "f|f" >want && t_cmp want r &&
	t_pg_sql "SELECT count(*) FROM pg_tables WHERE schemaname = '\''public'\''
		AND tableowner = '\''cdtapp'\''" >o && echo 0 >want && t_cmp want o
'

t_case 'migrate refuses a superuser as the application role (78)' '
	pgcase &&
	t_fails 78 cdt store migrate --admin-url "${T_PG_ADMIN_URL%/*}/$T_PG_DB" \
		--app-role postgres 2>err &&
	t_grep "superuser or has BYPASSRLS" err &&
	t_fails 64 cdt store migrate --admin-url \
		"postgres://postgres:hunter2@127.0.0.1:$T_PG_PORT/x" 2>err &&
	t_grep "must not carry a password" err && ! grep -q hunter2 err &&
	t_fails 64 cdt store migrate --admin-url \
		"postgres://postgres@127.0.0.1:$T_PG_PORT/x?password=hunter2" \
		2>err && t_grep "must not carry a password" err &&
	! grep -q hunter2 err
'

t_case 'the app role cannot change the schema; no store there is 66' '
	pgcase &&
	store-open "$CDT_STORE_URL" "CREATE TABLE x (a INTEGER)" 2>err;
	[ $? = 77 ] && t_grep "permission denied" err &&
	store-open "$CDT_STORE_URL" "DELETE FROM schema_migrations" 2>err;
	[ $? = 77 ] &&
	T_PG_DB=postgres t_pg_sql "CREATE DATABASE empty1 OWNER cdtapp" &&
	CDT_STORE_URL="postgres://cdtapp@127.0.0.1:$T_PG_PORT/empty1" \
		t_fails 66 cdt store status 2>err && t_grep "no schema yet" err &&
	CDT_STORE_URL="postgres://cdtapp@127.0.0.1:$T_PG_PORT/nosuchdb" \
		t_fails 66 cdt store status 2>err && t_grep "does not exist" err
'

t_case 'the password: store.password_file, never in messages; 0644 is 78' '
	pgcase && unset PGPASSFILE &&
	cat >"$XDG_CONFIG_HOME/cdt.yaml" <<EOC &&
store:
  backend: postgres
  url: $T_PG_URL
  password_file: $T_PG_PASSFILE
EOC
	mkdir -p "$XDG_CONFIG_HOME/cdt" && mv "$XDG_CONFIG_HOME/cdt.yaml" \
		"$XDG_CONFIG_HOME/cdt/config.yaml" && unset CDT_STORE_URL &&
	cdt store status --json >st && jq -e ".backend == \"postgres\"" st &&
	echo wrong-password-xyz >pw && chmod 600 pw &&
	sed -i "s|password_file: .*|password_file: $PWD/pw|" \
		"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	t_fails 77 cdt store status 2>err &&
	t_grep "password authentication failed" err &&
	! grep -q wrong-password-xyz err &&
	chmod 644 pw && t_fails 78 cdt store status 2>err &&
	t_grep "readable by others" err &&
	printf "store:\n  backend: postgres\n  path: /tmp/x.db\n" \
		>"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	t_fails 78 cdt store status 2>err && t_grep "store.url must be" err
'

t_case 'two machines, one database: an API key and a breaker are shared' '
	pgcase && mkdir A B &&
	CDT_HOME=$PWD/A acme &&
	CDT_HOME=$PWD/A cdt-auth keys create --name ci --role developer \
		--text >ci.key &&
	cp -r A/keys B/keys &&
	CDT_HOME=$PWD/B cdt-auth --token-file ci.key whoami --json >w &&
	jq -e ".user.email == \"admin@acme.test\" and .roles == [\"developer\"]" w &&
	store-open "$CDT_STORE_URL" "INSERT INTO breakers (provider, state,
		failures, opened_at, open_until, updated_at) VALUES (?, ?, ?,
		?, ?, ?)" "[\"claude\",\"open\",5,1,99999999999999,1]" &&
	CDT_HOME=$PWD/B ANTHROPIC_API_KEY=k cdt-route status --json >rs &&
	jq -r "select(.provider == \"claude\") | \"\(.state) \(.failures)\"" \
		rs >got && echo "open 5" >want && t_cmp want got &&
	cp A/auth.json B/auth.json && CDT_HOME=$PWD/B cdt-route reset claude &&
	CDT_HOME=$PWD/A ANTHROPIC_API_KEY=k cdt-route status --json >ra &&
	jq -r "select(.provider == \"claude\") | .state" ra >got &&
	echo closed >want && t_cmp want got &&
	CDT_HOME=$PWD/A cdt-auth keys revoke "$(cut -c1-19 ci.key)" &&
	CDT_HOME=$PWD/B t_fails 77 cdt-auth --token-file ci.key whoami 2>err &&
	t_grep "is revoked" err
'

t_case 'a machine with other key files is 78 (key mismatch), not 77' '
	pgcase && mkdir A C && CDT_HOME=$PWD/A acme &&
	CDT_HOME=$PWD/A cdt-auth keys create --name ci --role developer \
		--text >ci.key &&
	CDT_HOME=$PWD/C t_fails 78 cdt-auth --token-file ci.key whoami 2>err &&
	t_grep "does not match the store" err
'

# The swarm waits up to 2m for the write lock (store.busy_timeout) and
# for a connection (libpq's connect_timeout in the URL, cdt's default 10
# s): under ASan on a loaded machine 64 password handshakes at once
# took longer than 10 s.
t_case '64 processes from two machines at once, through a barrier: every row' '
	pgcase && mkdir A B && CDT_HOME=$PWD/A acme && cp -r A/keys B/keys &&
	cp A/auth.json B/auth.json &&
	printf "store:\n  busy_timeout: 2m\n" >slow.yaml &&
	export CDT_CONFIG=$PWD/slow.yaml &&
	export CDT_STORE_URL="$CDT_STORE_URL?connect_timeout=120" &&
	mkfifo gate && pids= &&
	for i in $(seq 1 64); do
		m=A; [ $((i % 2)) = 0 ] && m=B
		( read -r _ <gate; CDT_HOME=$PWD/$m cdt-auth keys create \
			--name "k$i" --role developer --json >"out.$i" 2>"err.$i";
			echo $? >"rc.$i" ) &
		pids="$pids $!"
	done &&
	sleep 0.5 && : >gate && wait $pids &&
	cat rc.* | sort | uniq -c | sed "s/^ *//" >rcs && echo "64 0" >want &&
	t_cmp want rcs &&
	cat out.* | jq -r .id | sort -u | wc -l >n && echo 64 >want &&
	t_cmp want n &&
	t_pg_sql "SELECT count(*), count(DISTINCT name) FROM api_keys" >rows &&
	echo "64|64" >want && t_cmp want rows &&
	t_pg_sql "SELECT count(*) FROM audit WHERE event = '\''key_created'\''" \
		>a && echo 64 >want && t_cmp want a
'

t_case 'export from SQLite, import into PostgreSQL: every row accounted for' '
	unset CDT_STORE_URL && acme &&
	cdt-auth keys create --name ci --role developer >/dev/null &&
	cdt-session create --json >/dev/null &&
	cdt store export >dump 2>/dev/null &&
	jq -r .table dump | sort | uniq -c | sed "s/^ *//" | sort -k2 >want &&
	grep -q "^{\"table\":\"orgs\"" dump &&
	pgcase && t_fails 64 cdt store import dump 2>err &&
	t_grep "reads every org: give --admin-url" err &&
	cdt store import --admin-url "$ADMIN" dump --json >imp &&
	jq -r ".imported | to_entries[] | \"\(.value) \(.key)\"" imp |
		sort -k2 >got && t_cmp want got &&
	jq -e ".rows == $(wc -l <dump)" imp &&
	cdt store export --admin-url "$ADMIN" >dump2 && grep -v "^{\"table\":\"schema_migrations\"" dump |
		sort >a && grep -v "^{\"table\":\"schema_migrations\"" dump2 |
		sort >b && t_cmp a b &&
	t_fails 65 cdt store import --admin-url "$ADMIN" dump 2>err &&
	t_grep "is not empty" err &&
	cdt-auth whoami --json >/dev/null &&
	cdt-auth keys create --name ci2 --role developer >/dev/null &&
	store-open "$CDT_STORE_URL" "SELECT count(*) AS n FROM audit" >n &&
	jq -e ".n == 0" n &&
	cdt store export --admin-url "$ADMIN" >dump3 &&
	[ "$(grep -c "^{\"table\":\"audit\"" dump3)" = \
		"$(( $(grep -c "^{\"table\":\"audit\"" dump) + 1 ))" ]
'

t_case 'a bad import changes nothing: one transaction' '
	pgcase &&
	printf "%s\n" "{\"table\":\"orgs\",\"row\":{\"id\":\"o1\",\"name\":\"a\",\"created_at\":1}}" \
		"{\"table\":\"orgs\",\"row\":{\"id\":\"o1\",\"name\":\"b\",\"created_at\":1}}" >d &&
	t_fails 65 cdt store import --admin-url "$ADMIN" d 2>err &&
	store-open "$CDT_STORE_URL" "SELECT count(*) AS n FROM orgs" >n &&
	jq -e ".n == 0" n &&
	printf "%s\n" "{\"table\":\"nosuch\",\"row\":{}}" >d2 &&
	t_fails 65 cdt store import --admin-url "$ADMIN" d2 2>err &&
	t_grep "no table" err &&
	printf "%s\n" "{\"table\":\"orgs\",\"row\":{\"id\\\" text); --\":1}}" >d3 &&
	t_fails 65 cdt store import --admin-url "$ADMIN" d3 2>err &&
	t_grep "no column" err
'

t_case 'backup: SQLite a database file, PostgreSQL a snapshot export' '
	unset CDT_STORE_URL && acme &&
	cdt store backup b.db --json >r && jq -e ".backup == \"b.db\"" r &&
	store-open b.db "SELECT count(*) AS n FROM orgs" >n && jq -e ".n == 1" n &&
	[ "$(stat -c %a b.db)" = 600 ] &&
	t_fails 73 cdt store backup b.db 2>err &&
	pgcase && export CDT_HOME=$PWD/pg && acme &&
	cdt store backup --admin-url "$ADMIN" b.jsonl &&
	[ "$(stat -c %a b.jsonl)" = 600 ] &&
	jq -r "select(.table == \"users\") | .row.email" b.jsonl >got &&
	echo admin@acme.test >want && t_cmp want got &&
	cdt store export --admin-url "$ADMIN" >e && t_cmp e b.jsonl
'

t_case 'sessions and the quota on PostgreSQL: exactly the limit, concurrently' '
	pgcase && acme &&
	cat >"$XDG_CONFIG_HOME/q.yaml" <<EOC &&
auth: {quotas: {max_sessions: 3}}
EOC
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	mv "$XDG_CONFIG_HOME/q.yaml" "$XDG_CONFIG_HOME/cdt/config.yaml" &&
	mkfifo gate && pids= &&
	for i in $(seq 1 8); do
		( read -r _ <gate; cdt-session create --json >"s.$i" 2>"e.$i";
			echo $? >"rc.$i" ) &
		pids="$pids $!"
	done &&
	sleep 0.3 && : >gate && wait $pids &&
	cat rc.* | sort | uniq -c | sed "s/^ *//" >rcs &&
	printf "3 0\n5 75\n" >want && t_cmp want rcs &&
	cdt-session list --json | jq -r .id | wc -l >n && echo 3 >want &&
	t_cmp want n
'

t_case 'row level security: no org, no rows; one org sees only its own' '
	pgcase && mkdir A B && CDT_HOME=$PWD/A acme &&
	cp -r A/keys B/keys &&
	CDT_HOME=$PWD/B cdt-auth init --org globex --team ops \
		--email boss@globex.test >/dev/null 2>&1 &&
	CDT_HOME=$PWD/A cdt-session create >/dev/null &&
	CDT_HOME=$PWD/B cdt-session create >/dev/null &&
	CDT_HOME=$PWD/A cdt-auth keys create --name k --role developer >/dev/null &&
	for t in orgs teams users memberships api_keys refresh_tokens sessions \
		session_events audit; do
		store-open "$CDT_STORE_URL" "SELECT count(*) AS n FROM $t" >n &&
		jq -e ".n == 0" n >/dev/null || { echo "$t: $(cat n)"; exit 1; }
		t_pg_sql "SELECT count(*) > 0 FROM $t" >all && echo t >want &&
		t_cmp want all || exit 1
	done &&
	t_pg_sql "SELECT string_agg(relname, '\'','\'' ORDER BY relname) FROM
		pg_class WHERE relnamespace = '\''public'\''::regnamespace AND
		relkind = '\''r'\'' AND NOT (relrowsecurity AND
		relforcerowsecurity)" >f &&
	echo breakers,meta,schema_migrations,usage >want && t_cmp want f &&
	org=$(t_pg_sql "SELECT id FROM orgs WHERE name = '\''acme'\''") &&
	psql -X -At -d "$CDT_STORE_URL" -c "BEGIN; SET LOCAL cdt.org =
		'\''$org'\''; SELECT string_agg(name, '\'','\'') FROM orgs;
		SELECT count(*) FROM sessions; SELECT string_agg(email, '\'','\'')
		FROM users; COMMIT" >rows &&
	printf "BEGIN\nSET\nacme\n1\nadmin@acme.test\nCOMMIT\n" >want &&
	t_cmp want rows &&
	psql -X -At -d "$CDT_STORE_URL" -c "ALTER TABLE orgs NO FORCE ROW
		LEVEL SECURITY" 2>err; [ $? != 0 ] && t_grep "must be owner" err &&
	CDT_HOME=$PWD/B cdt-session list --json >l && t_lines 1 l &&
	jq -e ".tenant.org == \"globex\"" l
'

# A row of org '' (and of no org where the column allows) in every table
# with row level security, as the owner: what a store kept from before
# the caller check may hold.  legacy_rows TABLE: how many rows the
# application role sees in TABLE as "$@" sets the org (psql -c ...).
legacy_rows() {
	t_pg_sql "INSERT INTO orgs VALUES ('', 'legacy', 0);
	  INSERT INTO teams VALUES ('', '', 'legacy', 0);
	  INSERT INTO users (id, email, created_at, updated_at)
	    VALUES ('', 'old@localhost', 0, 0);
	  INSERT INTO memberships (user_id, org_id, role, created_at)
	    VALUES ('', '', 'org-admin', 0);
	  INSERT INTO api_keys (id, name, role, hmac, user_id, org_id,
	    created_at) VALUES ('', 'k', 'developer', 'x', '', '', 0);
	  INSERT INTO refresh_tokens (token_sha256, family, user_id, org_id,
	    created_at, expires_at) VALUES ('', 'f', '', '', 0, 0);
	  INSERT INTO sessions (id, org_id, team_id, user_id, status,
	    workspace, created_at, updated_at, last_activity_at)
	    VALUES ('', '', '', '', 'running', '/nonexistent', 0, 0, 0);
	  INSERT INTO session_events (session_id, seq, ts, to_status)
	    VALUES ('', 1, 0, 'running');
	  INSERT INTO session_processes (session_id, pid, start_time, argv,
	    started_at) VALUES ('', 1, 1, '[]', 0);
	  INSERT INTO conversations (id, org_id, team_id, user_id,
	    created_at, updated_at) VALUES ('old', '', '', '', 0, 0);
	  INSERT INTO messages (id, conversation_id, seq, role, content,
	    created_at) VALUES ('m', 'old', 1, 'user', 'hi', 0);
	  INSERT INTO audit (ts, org_id, event) VALUES (0, '', 'x'),
	    (0, NULL, 'y')"
}

seen() {
	local t=$1
	shift
	psql -X -At -v ON_ERROR_STOP=1 -d "$CDT_STORE_URL" "$@" \
		-c "SELECT count(*) FROM $t" | tail -1
}

t_case 'no org setting, no rows: not even rows of org '"''"' or of none' '
	pgcase && legacy_rows &&
	t_pg_sql "SELECT string_agg(relname, '\'' '\'' ORDER BY relname) FROM
		pg_class WHERE relnamespace = '\''public'\''::regnamespace AND
		relkind = '\''r'\'' AND relrowsecurity" >tables &&
	echo api_keys audit conversations memberships messages orgs \
		refresh_tokens session_events session_processes sessions \
		teams users >want && t_cmp want tables &&
	for t in $(cat tables); do
		[ "$(t_pg_sql "SELECT count(*) FROM $t")" -gt 0 ] &&
		n1=$(seen $t) && n2=$(seen $t -c "SET cdt.org = '\'''\''") &&
		[ "$n1/$n2" = 0/0 ] || { echo "$t: $n1/$n2 rows" >&2; exit 1; }
	done &&
	store-open "$CDT_STORE_URL" "SELECT count(*) AS n FROM conversations" \
		>n && echo "{\"n\":0}" >want && t_cmp want n &&
	acme && cdt-auth token >a.tok &&
	t_fails 66 cdt-chat --token-file a.tok log --conversation old 2>err &&
	t_grep "no such conversation .old." err
'

t_case 'gc and terminate on a shared store: only the sessions this machine made' '
	pgcase && mkdir A B && CDT_HOME=$PWD/A acme && cp -r A/keys B/keys &&
	tok=$(CDT_HOME=$PWD/A cdt-auth token) &&
	pid=$(sh -c "sleep 300 >/dev/null 2>&1 & echo \$!") &&
	S=$(CDT_HOME=$PWD/A cdt-session create --owner-pid $pid --jq .id) &&
	kill $pid &&
	CDT_HOME=$PWD/A cdt-session get $S --jq .sandbox.machine >m &&
	echo "$(hostname):$PWD/A" >want && t_cmp want m &&
	CDT_HOME=$PWD/B CDT_TOKEN=$tok cdt-session gc >b.out &&
	t_lines 0 b.out &&
	CDT_HOME=$PWD/B CDT_TOKEN=$tok cdt-session get $S --jq .status >st &&
	echo running >want && t_cmp want st &&
	CDT_HOME=$PWD/B CDT_TOKEN=$tok t_fails 69 cdt-session terminate $S \
		>b.out 2>err && t_lines 1 err &&
	t_grep "runs on $(hostname):$PWD/A: terminate it there" err &&
	CDT_HOME=$PWD/B CDT_TOKEN=$tok cdt-session get $S --jq .status >st &&
	t_cmp want st &&
	CDT_HOME=$PWD/A cdt-session gc >a.out &&
	jq -e --arg s $S ".id == \$s and .status == \"terminated\" and
		.reason == \"owner process gone\"" a.out
'

t_done
