#!/bin/bash
# cdt-auth: init, login, whoami, token, passwd, logout, users, provider
# credentials, secret files and key files, and the tool contract.
. "$(dirname "$0")/lib.sh"

# init an org "acme" with admin@acme.test, password adminpass1.
acme() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	printf 'adminpass1\n' | cdt-auth passwd --password-stdin 2>/dev/null
}

t_case 'init: org, team, org-admin, key files, saved login' '
	cdt-auth init --org acme --team web --email Admin@Acme.test --json \
		>out 2>err &&
	jq -e ".type == \"auth\" and .user.email == \"admin@acme.test\" and
		.tenant.org == \"acme\" and .tenant.team == \"web\" and
		.roles == [\"org-admin\"] and (.token | length) > 100 and
		(has(\"refresh_token\") | not) and (.expires_at | test(\"Z$\"))" \
		out &&
	[ "$(stat -c %a "$CDT_HOME/keys")" = 700 ] &&
	[ "$(stat -c %a "$CDT_HOME/keys/signing.key")" = 600 ] &&
	[ "$(stat -c %a "$CDT_HOME/keys/pepper.key")" = 600 ] &&
	[ "$(stat -c %a "$CDT_HOME/auth.json")" = 600 ] &&
	grep -Eqx "[0-9a-f]{64}" "$CDT_HOME/keys/signing.key" &&
	jq -e ".refresh_token | startswith(\"cdt_rt_\")" "$CDT_HOME/auth.json" &&
	store-open "$CDT_HOME/cdt.db" "SELECT key FROM meta WHERE key LIKE ?
		ORDER BY key" "[\"auth.%\"]" >meta &&
	printf "%s\n" "{\"key\":\"auth.key_type\"}" \
		"{\"key\":\"auth.pepper_sha256\"}" \
		"{\"key\":\"auth.signing_key_sha256\"}" >want &&
	t_cmp want meta
'

t_case 'init again: idempotent; another org signs up beside it' '
	acme &&
	cdt-auth init --org acme --team web --email admin@acme.test --json \
		>out 2>err &&
	jq -e ".tenant.org == \"acme\"" out &&
	store-open "$CDT_HOME/cdt.db" "SELECT count(*) AS n FROM orgs" >n &&
	t_grep "\"n\":1" n &&
	cdt-auth init --org beta --team core --email boss@beta.test --json \
		>out2 &&
	jq -e ".tenant.org == \"beta\" and .user.email == \"boss@beta.test\"" \
		out2 &&
	store-open "$CDT_HOME/cdt.db" "SELECT o.name, count(m.user_id) AS n
		FROM orgs o JOIN memberships m ON m.org_id = o.id GROUP BY
		o.name ORDER BY o.name" >rows &&
	printf "%s\n" "{\"name\":\"acme\",\"n\":1}" \
		"{\"name\":\"beta\",\"n\":1}" >want && t_cmp want rows &&
	cdt-auth whoami --jq .tenant.org >who && echo beta >w && t_cmp w who
'

t_case 'init: an existing org is not handed to someone else' '
	acme && cdt-auth logout &&
	t_fails 77 cdt-auth init --org acme --email eve@evil.test 2>err &&
	t_grep "exists already" err &&
	t_fails 77 cdt-auth init --org evil --email admin@acme.test 2>err &&
	t_grep "exists already: log in as that user" err
'

t_case 'init: a bad org name is 65, a stray operand 64' '
	t_fails 65 cdt-auth init --org "Acme Inc" 2>err &&
	t_grep "bad org name" err &&
	t_fails 64 cdt-auth init now 2>err
'

t_case 'whoami: records, text without the token, 77 when logged out' '
	acme &&
	cdt-auth whoami --json >rec &&
	jq -e ".user.email == \"admin@acme.test\" and (.token | length) > 0" \
		rec &&
	cdt-auth whoami --text >txt &&
	t_grep "^admin@acme.test in acme/web" txt &&
	! grep -q "$(jq -r .token rec)" txt &&
	cdt-auth logout && [ ! -e "$CDT_HOME/auth.json" ] &&
	t_fails 77 cdt-auth whoami 2>err && t_grep "not logged in" err &&
	t_grep "${CDT_STORE_URL:-cdt.db}" err
'

t_case 'token: raw on a pipe; CDT_TOKEN and --token-file accept it' '
	acme &&
	cdt-auth token >tok && t_lines 1 tok &&
	CDT_TOKEN=$(cat tok) cdt-auth whoami --jq .user.email >e1 &&
	cdt-auth whoami --token-file tok --jq .user.email >e2 &&
	cdt-auth whoami --token-file - --jq .user.email <tok >e3 &&
	echo admin@acme.test >w && t_cmp w e1 && t_cmp w e2 && t_cmp w e3
'

t_case 'an auth record on stdin is the caller, and is forwarded' '
	acme &&
	cdt-auth init --org beta --email boss@beta.test >beta.rec &&
	printf "adminpass1\n" | cdt-auth login --email admin@acme.test \
		--password-stdin >/dev/null &&
	{ echo "{\"type\":\"zz\"}"; cat beta.rec; } |
		cdt-auth whoami --json >out &&
	t_lines 3 out && sed -n 1p out | jq -e ".type == \"zz\"" &&
	sed -n 3p out | jq -e ".user.email == \"boss@beta.test\""
'

t_case 'login: password on stdin, saved, no refresh token unless asked' '
	acme && cdt-auth logout &&
	printf "adminpass1\n" | cdt-auth login --email admin@acme.test \
		--password-stdin --json >out &&
	jq -e "(has(\"refresh_token\") | not) and .user.email ==
		\"admin@acme.test\"" out &&
	[ -s "$CDT_HOME/auth.json" ] && cp "$CDT_HOME/auth.json" saved &&
	printf "adminpass1\n" | cdt-auth login --email admin@acme.test \
		--password-stdin --no-save --show-refresh-token --json >out2 &&
	jq -e ".refresh_token | test(\"^cdt_rt_[A-Za-z0-9_-]{43}$\")" out2 &&
	cmp saved "$CDT_HOME/auth.json"
'

t_case 'login: no option takes a password; no terminal is 64' '
	acme &&
	t_fails 64 cdt-auth login --email admin@acme.test --password x \
		2>err && t_grep "unknown option" err &&
	t_fails 64 cdt-auth login --email admin@acme.test --no-input 2>err &&
	t_grep "password-stdin" err &&
	t_fails 64 cdt-auth login --password-stdin 2>err
'

t_case 'login without --email renews the saved login' '
	acme &&
	old=$(jq -r .refresh_token "$CDT_HOME/auth.json") &&
	cdt-auth login --json >out &&
	new=$(jq -r .refresh_token "$CDT_HOME/auth.json") &&
	[ "$old" != "$new" ] && jq -e ".type == \"auth\"" out
'

t_case 'passwd: current password first; too short is 65; wrong is 77' '
	acme &&
	printf "nope-nope\nnewpass-22\n" |
		t_fails 77 cdt-auth passwd --password-stdin 2>err &&
	t_grep "wrong password" err &&
	printf "adminpass1\nshort\n" |
		t_fails 65 cdt-auth passwd --password-stdin 2>err &&
	t_grep "shorter than 8" err &&
	printf "adminpass1\nnewpass-22\n" | cdt-auth passwd --password-stdin &&
	printf "newpass-22\n" | cdt-auth login --email admin@acme.test \
		--password-stdin --no-save >/dev/null &&
	printf "adminpass1\n" | t_fails 77 cdt-auth login \
		--email admin@acme.test --password-stdin --no-save 2>/dev/null
'

t_case 'passwd revokes the other logins, keeps the saved one working' '
	acme &&
	printf "adminpass1\n" | cdt-auth login --email admin@acme.test \
		--password-stdin --no-save --jq .token >other &&
	cdt-auth whoami --token-file other >/dev/null &&
	printf "adminpass1\nnewpass-22\n" | cdt-auth passwd --password-stdin &&
	t_fails 77 cdt-auth whoami --token-file other 2>err &&
	t_grep "(revoked)" err &&
	cdt-auth whoami >/dev/null
'

t_case 'passwd --email: org-admin sets a user password; others may not' '
	acme &&
	cdt-auth register --email dev@acme.test --org acme --team web \
		--no-input >/dev/null &&
	printf "devpass-11\n" | cdt-auth passwd --email dev@acme.test \
		--password-stdin &&
	printf "devpass-11\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --jq .token >dev.tok &&
	printf "x1234567\n" | t_fails 77 cdt-auth --token-file dev.tok \
		passwd --email admin@acme.test --password-stdin 2>err &&
	t_grep "needs org-admin" err
'

t_case 'users list and disable' '
	acme &&
	printf "devpass-11\ndevpass-11\n" | cdt-auth register \
		--email dev@acme.test --org acme --team web --password-stdin \
		--json >reg &&
	jq -e ".type == \"user\" and .role == \"developer\" and
		.has_password == true" reg &&
	cdt-auth users list --json >users &&
	jq -s -e "map(.email) == [\"admin@acme.test\", \"dev@acme.test\"]" \
		users &&
	printf "devpass-11\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --jq .token >dev.tok &&
	cdt-auth users disable dev@acme.test &&
	t_fails 77 cdt-auth whoami --token-file dev.tok 2>err &&
	cdt-auth users list --json | jq -s -e ".[1].disabled == true" &&
	printf "devpass-11\n" | t_fails 77 cdt-auth login \
		--email dev@acme.test --password-stdin --no-save 2>/dev/null &&
	t_fails 66 cdt-auth users disable nobody@acme.test 2>err &&
	t_fails 65 cdt-auth users disable admin@acme.test 2>err
'

t_case 'register: admins only, never above their own role' '
	acme &&
	printf "leadpass-1\n" | cdt-auth register --email lead@acme.test \
		--org acme --team web --role team-admin --password-stdin \
		>/dev/null &&
	printf "leadpass-1\n" | cdt-auth login --email lead@acme.test \
		--password-stdin --no-save --jq .token >lead.tok &&
	t_fails 77 cdt-auth --token-file lead.tok register \
		--email x@acme.test --org acme --team web --role org-admin \
		--no-input 2>err && t_grep "needs at least that role" err &&
	t_fails 77 cdt-auth --token-file lead.tok register \
		--email x@acme.test --org acme --team ops --no-input 2>err &&
	t_grep "teams.create" err &&
	cdt-auth --token-file lead.tok register --email x@acme.test \
		--org acme --team web --no-input >/dev/null &&
	t_fails 65 cdt-auth register --email x@acme.test --org acme \
		--team web --no-input 2>err && t_grep "already" err &&
	t_fails 64 cdt-auth register --email y@acme.test --org acme \
		--team web --role wizard 2>err &&
	t_fails 64 cdt-auth register --email y@acme.test 2>err
'

t_case 'register: an org-admin creates a new team' '
	acme &&
	cdt-auth register --email ops@acme.test --org acme --team ops \
		--no-input --json >out &&
	jq -e ".team == \"ops\"" out &&
	store-open "$CDT_HOME/cdt.db" "SELECT name FROM teams ORDER BY name" \
		>teams && printf "%s\n" "{\"name\":\"ops\"}" \
		"{\"name\":\"web\"}" >want && t_cmp want teams
'

t_case 'provider set, list, rm: the key never printed' '
	printf "sk-test-123456\n" | cdt-auth provider set claude &&
	[ "$(stat -c %a "$CDT_HOME/credentials.json")" = 600 ] &&
	jq -e ".providers.claude.api_key == \"sk-test-123456\"" \
		"$CDT_HOME/credentials.json" &&
	printf "gm-key-9\n" | cdt-auth provider set gemini &&
	cdt-auth provider list --json >list 2>err &&
	! grep -q "sk-test" list err &&
	jq -s -e "map(select(.name == \"claude\"))[0].key_source ==
		\"credentials.json\"" list &&
	cdt-auth provider rm claude &&
	jq -e "(.providers | has(\"claude\") | not) and
		.providers.gemini.api_key == \"gm-key-9\"" \
		"$CDT_HOME/credentials.json" &&
	t_fails 66 cdt-auth provider rm claude 2>err &&
	printf "" | t_fails 65 cdt-auth provider set claude 2>err &&
	printf "x\n" | t_fails 64 cdt-auth provider set "bad name" 2>err
'

t_case 'unsafe secret files are 78' '
	acme &&
	chmod 644 "$CDT_HOME/auth.json" &&
	t_fails 78 cdt-auth whoami 2>err && t_grep "unsafe permissions" err &&
	chmod 600 "$CDT_HOME/auth.json" &&
	chmod 640 "$CDT_HOME/keys/signing.key" &&
	t_fails 78 cdt-auth whoami 2>err && t_grep "signing.key" err &&
	chmod 600 "$CDT_HOME/keys/signing.key" &&
	chmod 755 "$CDT_HOME/keys" &&
	t_fails 78 cdt-auth whoami 2>err && t_grep "chmod 700" err &&
	chmod 700 "$CDT_HOME/keys" && cdt-auth whoami >/dev/null &&
	printf "k\n" | cdt-auth provider set claude &&
	chmod 604 "$CDT_HOME/credentials.json" &&
	printf "k\n" | t_fails 78 cdt-auth provider set claude 2>err
'

t_case 'key files that do not match the store are 78, not 77' '
	acme &&
	cp "$CDT_HOME/keys/signing.key" keep &&
	head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n" \
		>"$CDT_HOME/keys/signing.key" &&
	t_fails 78 cdt-auth whoami 2>err &&
	t_grep "signing key does not match the store" err &&
	rm "$CDT_HOME/keys/signing.key" &&
	t_fails 78 cdt-auth whoami 2>err && t_grep "is missing" err &&
	cp keep "$CDT_HOME/keys/signing.key" &&
	chmod 600 "$CDT_HOME/keys/signing.key" &&
	cdt-auth whoami >/dev/null &&
	printf "%064d\n" 0 >"$CDT_HOME/keys/pepper.key" &&
	t_fails 78 cdt-auth keys create --name ci --role developer 2>err &&
	t_grep "pepper does not match the store" err
'

t_case 'key files elsewhere: auth.signing_key_file, auth.pepper_file' '
	mkdir -m 700 sec && mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "auth:\n  signing_key_file: %s/sec/s.key\n  pepper_file: %s/sec/p.key\n" \
		"$PWD" "$PWD" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	cdt-auth init >/dev/null 2>&1 &&
	[ -s sec/s.key ] && [ -s sec/p.key ] && [ ! -e "$CDT_HOME/keys" ] &&
	cdt-auth keys create --name ci --role developer --json >/dev/null &&
	cdt-auth whoami >/dev/null
'

t_case 'auth.key_type eddsa: Ed25519 access tokens' '
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "auth:\n  key_type: eddsa\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	cdt-auth init >/dev/null 2>&1 && cdt-auth token >tok &&
	cut -d. -f1 tok | tr "_-" "/+" | sed "s/\$/==/" | base64 -d 2>/dev/null |
		grep -q "\"alg\":\"EdDSA\"" &&
	[ "$(cut -d. -f3 tok | wc -c)" = 87 ] &&
	cdt-auth whoami --token-file tok >/dev/null &&
	rm "$XDG_CONFIG_HOME/cdt/config.yaml" &&
	cdt-auth whoami --token-file tok >/dev/null &&
	store-open "$CDT_HOME/cdt.db" "SELECT value FROM meta WHERE key = ?" \
		"[\"auth.key_type\"]" >kt && t_grep eddsa kt
'

t_case 'logout revokes the saved login for every holder' '
	acme &&
	cdt-auth token >tok &&
	cdt-auth whoami --token-file tok >/dev/null &&
	cdt-auth logout && cdt-auth logout &&
	t_fails 77 cdt-auth whoami --token-file tok 2>err &&
	t_grep "(revoked)" err
'

t_case 'logout of a token from CDT_TOKEN' '
	acme &&
	printf "adminpass1\n" | cdt-auth login --email admin@acme.test \
		--password-stdin --no-save --jq .token >tok &&
	CDT_TOKEN=$(cat tok) cdt-auth logout &&
	t_fails 77 cdt-auth whoami --token-file tok 2>/dev/null &&
	cdt-auth whoami >/dev/null
'

t_case 'usage errors are 64' '
	t_fails 64 cdt-auth users 2>err &&
	t_fails 64 cdt-auth users frob 2>err &&
	t_fails 64 cdt-auth keys 2>err &&
	t_fails 64 cdt-auth keys revoke 2>err &&
	t_fails 64 cdt-auth grant a@b.c 2>err &&
	t_fails 64 cdt-auth check 2>err &&
	t_fails 64 cdt-auth check sessions.frob 2>err &&
	t_grep "unknown permission" err &&
	t_fails 64 cdt-auth audit --limit 0 2>err &&
	t_fails 64 cdt-auth provider 2>err &&
	t_fails 64 cdt-auth whoami extra 2>err
'

t_case 'whoami to a full disk is 74; records forwarded; error kept' '
	acme &&
	t_fails 74 cdt-auth whoami --json >/dev/full 2>err &&
	printf "%s\n" "{\"type\":\"zz\"}" \
		"{\"type\":\"error\",\"tool\":\"cdt-x\",\"code\":69,\"class\":\"overloaded\",\"message\":\"down\"}" >in &&
	t_fails 69 cdt-auth keys create --name ci --role developer <in >out &&
	t_cmp in out &&
	store-open "$CDT_HOME/cdt.db" "SELECT count(*) AS n FROM api_keys" >n &&
	t_grep "\"n\":0" n
'

t_case 'no secret in the store, the audit log or stderr' '
	acme 2>err0 &&
	printf "adminpass1\n" | cdt-auth login --email admin@acme.test \
		--password-stdin --show-refresh-token --no-save >rec 2>err1 &&
	cdt-auth keys create --name ci --role developer --json >key 2>err2 &&
	rt=$(jq -r .refresh_token rec) && k=$(jq -r .key key) &&
	secret=${k#cdt_sk_*_} &&
	cdt-auth audit --json >audit &&
	for s in adminpass1 "$rt" "$secret" "${secret%??????}"; do
		! grep -qF "$s" "$CDT_HOME/cdt.db" "$CDT_HOME/cdt.db-wal" \
			audit err0 err1 err2 || exit 1
	done
'

t_done
