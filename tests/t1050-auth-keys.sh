#!/bin/bash
# API keys: created (shown once), used in a pipeline in place of a
# token, listed without the secret, revoked, then refused; checksums,
# expiry, owners that leave; only an HMAC in the store.
. "$(dirname "$0")/lib.sh"

acme() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1
}

t_case 'a key created, used in a pipeline, revoked, then refused' '
	acme &&
	cdt-auth keys create --name ci --role developer --text >ci.key &&
	t_lines 1 ci.key && grep -Eqx "cdt_sk_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}" \
		ci.key &&
	printf "%s\n" "{\"type\":\"zz\",\"n\":1}" |
		cdt-auth --token-file ci.key whoami --json >out &&
	t_lines 2 out && sed -n 1p out | jq -e ".n == 1" &&
	sed -n 2p out | jq -e ".user.email == \"admin@acme.test\" and
		.roles == [\"developer\"] and (has(\"token\") | not) and
		(.key_id | length) == 12" &&
	CDT_TOKEN=$(cat ci.key) callercheck sessions.create acme web - - &&
	cdt-auth keys revoke "$(cut -c1-19 ci.key)" &&
	t_fails 77 cdt-auth --token-file ci.key whoami 2>err &&
	t_grep "is revoked" err &&
	CDT_TOKEN=$(cat ci.key) callercheck sessions.create acme web - - \
		2>/dev/null; [ $? = 77 ]
'

t_case 'create prints the key once: record on a pipe, never again' '
	acme &&
	cdt-auth keys create --name ci --role developer >rec &&
	jq -e ".type == \"api_key\" and .name == \"ci\" and .role ==
		\"developer\" and (.key | startswith(\"cdt_sk_\")) and
		.team == \"web\" and .expires_at == null" rec &&
	cdt-auth keys list --json >list &&
	jq -e "(has(\"key\") | not) and .id == \"$(jq -r .id rec)\"" list &&
	! grep -q "$(jq -r .key rec)" list &&
	store-open "$CDT_HOME/cdt.db" "SELECT * FROM api_keys" >rows &&
	! grep -q "$(jq -r .key rec | cut -c21-63)" rows "$CDT_HOME/cdt.db" &&
	jq -e ".hmac | test(\"^[0-9a-f]{64}$\")" rows
'

t_case 'a mistyped key fails its checksum' '
	acme &&
	cdt-auth keys create --name ci --role developer --text >k &&
	c=$(cut -c30 k) && { [ "$c" = a ] && n=b || n=a; } &&
	sed "s/^\(.\{29\}\)./\1$n/" k >bad &&
	! cmp -s k bad &&
	t_fails 77 cdt-auth --token-file bad whoami 2>err &&
	t_grep "checksum" err &&
	printf "cdt_sk_short\n" >bad2 &&
	t_fails 77 cdt-auth --token-file bad2 whoami 2>err &&
	t_grep "malformed API key" err
'

t_case 'a well-formed key nobody made is unknown, naming the store' '
	acme &&
	cdt-auth keys create --name ci --role developer --text >k &&
	cdt-auth keys create --name c2 --role developer --text >k2 &&
	id2=$(cut -c8-19 k2) &&
	store-open "$CDT_HOME/cdt.db" "UPDATE api_keys SET hmac = (SELECT hmac
		FROM api_keys WHERE id = ?) WHERE id <> ?" \
		"[\"$id2\",\"$id2\"]" >/dev/null &&
	t_fails 77 cdt-auth --token-file k whoami 2>err &&
	t_grep "unknown key cdt_sk_" err &&
	t_grep "${CDT_STORE_URL:-cdt.db}" err &&
	cdt-auth --token-file k2 whoami >/dev/null
'

t_case 'keys expire' '
	acme &&
	cdt-auth keys create --name short --role developer --expires 30d \
		--json >rec &&
	exp=$(date -d "$(jq -r .expires_at rec)" +%s) &&
	d=$(( (exp - $(date +%s)) / 3600 )) && [ $d -ge 719 ] && [ $d -le 720 ] &&
	jq -r .key rec >k &&
	cdt-auth --token-file k whoami >/dev/null &&
	store-open "$CDT_HOME/cdt.db" "UPDATE api_keys SET expires_at = ?" \
		"[$(( $(date +%s) - 1 ))000]" >/dev/null &&
	t_fails 77 cdt-auth --token-file k whoami 2>err &&
	t_grep "has expired" err
'

t_case 'a key dies with its owner: disabled or out of the org' '
	acme &&
	printf "pass-ta-01\n" | cdt-auth register --email ta@acme.test \
		--org acme --team web --role team-admin --password-stdin \
		>/dev/null &&
	printf "pass-ta-01\n" | cdt-auth login --email ta@acme.test \
		--password-stdin --no-save --jq .token >ta.tok &&
	cdt-auth --token-file ta.tok keys create --name k --role developer \
		--text >k &&
	cdt-auth --token-file k whoami >/dev/null &&
	cdt-auth revoke ta@acme.test team-admin &&
	t_fails 77 cdt-auth --token-file k whoami 2>err &&
	t_grep "no longer in the org" err &&
	t_fails 66 cdt-auth grant ta@acme.test team-admin 2>/dev/null &&
	cdt-auth register --email ta@acme.test --org acme --team web \
		--role team-admin --no-input >/dev/null &&
	cdt-auth --token-file k whoami >/dev/null &&
	cdt-auth users disable ta@acme.test &&
	t_fails 77 cdt-auth --token-file k whoami 2>/dev/null
'

t_case 'keys revoke: only the owner; twice is fine; bad ids are 66' '
	acme &&
	printf "pass-ta-01\n" | cdt-auth register --email ta@acme.test \
		--org acme --team web --role team-admin --password-stdin \
		>/dev/null &&
	printf "pass-ta-01\n" | cdt-auth login --email ta@acme.test \
		--password-stdin --no-save --jq .token >ta.tok &&
	cdt-auth keys create --name mine --role developer --json >rec &&
	id=$(jq -r .id rec) &&
	t_fails 77 cdt-auth --token-file ta.tok keys revoke $id 2>err &&
	t_grep "only its owner" err &&
	cdt-auth --token-file ta.tok keys list --json >l && t_lines 0 l &&
	cdt-auth keys revoke $id && cdt-auth keys revoke $(jq -r .key rec) &&
	t_fails 66 cdt-auth keys revoke nonsense 2>err &&
	cdt-auth keys list --json | jq -e ".revoked_at != null" &&
	cdt-auth audit --json | jq -s -e "map(.event) |
		index(\"key_created\") != null and index(\"key_revoked\") != null"
'

t_case 'whoami and token with a key: no key printed back' '
	acme &&
	cdt-auth keys create --name ci --role developer --text >k &&
	cdt-auth --token-file k whoami --json >w &&
	! grep -q "$(cut -c20- k)" w &&
	cdt-auth --token-file k whoami --text >t && t_grep "API key" t &&
	t_fails 64 cdt-auth --token-file k token 2>err &&
	t_fails 64 cdt-auth --token-file k logout 2>err &&
	t_grep "keys revoke" err
'

# A writer that holds the store's write lock (python3's sqlite3, BEGIN
# IMMEDIATE; on PostgreSQL psql in a transaction holding the writers'
# advisory lock, lib/store_pg.c) for 8 s or 2 s: store.busy_timeout
# decides whether a key creation gives up (75, "busy") or waits its
# turn.  Neither depends on
# the machine's speed: 300 ms against a lock held 8 s (under the default
# 10 s this would wait and succeed), 2m against one released after 2 s.
hold() {
	if [ -n "${CDT_STORE_URL:-}" ]; then
		psql -X -q -d "$T_PG_ADMIN_DB" -c "BEGIN" \
			-c "SELECT pg_advisory_xact_lock(7161977346649453157)" \
			-c "\\! touch held" -c "SELECT pg_sleep($1)" \
			-c "COMMIT" >/dev/null &
	else
	python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open("held", "w").close()
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")' "$CDT_HOME/cdt.db" "$1" &
	fi
	holder=$!
	while [ ! -e held ]; do
		kill -0 $holder 2>/dev/null || return 1
		sleep 0.05
	done
}

t_case 'store.busy_timeout: 300ms gives up with 75, 2m waits for the lock' '
	acme && printf "store:\n  busy_timeout: 300ms\n" >c.yaml &&
	hold 8 && CDT_CONFIG=$PWD/c.yaml t_fails 75 cdt-auth keys create \
		--name a --role developer 2>err &&
	kill $holder && t_grep "busy" err && t_lines 1 err &&
	rm held && printf "store:\n  busy_timeout: 2m\n" >c.yaml &&
	hold 2 && CDT_CONFIG=$PWD/c.yaml cdt-auth keys create --name b \
		--role developer >rec && wait $holder &&
	jq -e ".name == \"b\"" rec &&
	cdt-auth keys list --json | jq -s -e "map(.name) == [\"b\"]"
'

t_done
