#!/bin/bash
# Refresh tokens: rotation on every use, reuse detection revoking the
# family, concurrent refreshes (exactly one wins), expired and unknown
# tokens refused without revoking anything, and the saved login renewed
# under a lock.
. "$(dirname "$0")/lib.sh"

acme() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	printf 'adminpass1\n' | cdt-auth passwd --password-stdin 2>/dev/null
}

# A fresh login of admin, not saved: its refresh token in file $1, its
# access token in $1.at.
rt_login() {
	printf 'adminpass1\n' | cdt-auth login --email admin@acme.test \
		--password-stdin --no-save --show-refresh-token >"$1.rec" &&
	jq -r .refresh_token "$1.rec" >"$1" && jq -r .token "$1.rec" >"$1.at"
}

# refresh FROM TO: rotate the refresh token in FROM, the new one in TO.
refresh() {
	cdt-auth refresh --token-file "$1" >"$2.rec" 2>err &&
	jq -r .refresh_token "$2.rec" >"$2" && jq -r .token "$2.rec" >"$2.at"
}

sql() {
	store-open "$CDT_HOME/cdt.db" "$@"
}

t_case 'rotation: R1 gives R2; the store keeps only SHA-256s' '
	acme && rt_login r1 && refresh r1 r2 &&
	! cmp -s r1 r2 && grep -Eqx "cdt_rt_[A-Za-z0-9_-]{43}" r2 &&
	cdt-auth whoami --token-file r2.at >/dev/null &&
	sql "SELECT token_sha256 FROM refresh_tokens" >rows &&
	! grep -qF "$(cat r1)" rows "$CDT_HOME/cdt.db" &&
	t_grep "$(printf %s "$(cat r2)" | sha256sum | cut -c1-64)" rows
'

t_case 'reuse of a used token revokes the whole family, with an audit event' '
	acme && rt_login r1 && refresh r1 r2 &&
	t_fails 77 cdt-auth refresh --token-file r1 2>err &&
	t_grep "used twice" err &&
	t_fails 77 cdt-auth refresh --token-file r2 2>err &&
	t_grep "unknown, expired or revoked" err &&
	t_fails 77 cdt-auth whoami --token-file r2.at 2>err &&
	t_grep "(revoked)" err &&
	cdt-auth audit --json | jq -s -e "map(select(.event ==
		\"refresh_token_reuse\")) | length == 1" &&
	cdt-auth whoami >/dev/null
'

t_case 'other logins of the user survive a reuse detection' '
	acme && rt_login a1 && rt_login b1 && refresh a1 a2 &&
	t_fails 77 cdt-auth refresh --token-file a1 2>/dev/null &&
	refresh b1 b2 && cdt-auth whoami --token-file b2.at >/dev/null
'

t_case 'expired and unknown tokens are refused without revoking anything' '
	acme && rt_login r1 && rt_login r2 &&
	h=$(printf %s "$(cat r1)" | sha256sum | cut -c1-64) &&
	sql "UPDATE refresh_tokens SET expires_at = 1 WHERE token_sha256 = ?" \
		"[\"$h\"]" >/dev/null &&
	sql "SELECT count(*) AS n FROM refresh_tokens WHERE revoked_at IS
		NOT NULL OR used_at IS NOT NULL" >n0 &&
	t_fails 77 cdt-auth refresh --token-file r1 2>err &&
	t_grep "unknown, expired or revoked" err &&
	printf "cdt_rt_%043d\n" 0 >bogus &&
	t_fails 77 cdt-auth refresh --token-file bogus 2>err &&
	sql "SELECT count(*) AS n FROM refresh_tokens WHERE revoked_at IS
		NOT NULL OR used_at IS NOT NULL" >n && t_cmp n0 n &&
	cdt-auth whoami --token-file r1.at >/dev/null &&
	refresh r2 r3 &&
	cdt-auth audit --json >a && ! grep -q refresh_token_reuse a
'

t_case 'refresh --token-file wants a refresh token' '
	acme && rt_login r1 &&
	t_fails 64 cdt-auth refresh --token-file r1.at 2>err &&
	t_grep "refresh token" err
'

t_case 'concurrent refreshes of one token: exactly one wins' '
	acme && rt_login r1 && refresh r1 r2 && mkfifo go &&
	for i in $(seq 1 12); do
		( : >ready.$i; read -r _ <go;
		  cdt-auth refresh --token-file r2 >out.$i 2>err.$i;
		  echo $? >rc.$i ) &
	done &&
	while [ "$(ls ready.* | wc -l)" -lt 12 ]; do sleep 0.01; done &&
	{ exec 3>go; sleep 0.3; exec 3>&-; } && wait &&
	cat rc.* | sort | uniq -c | sed "s/^ *//" >counts &&
	printf "1 0\n11 77\n" >want && t_cmp want counts &&
	sql "SELECT count(*) AS n FROM refresh_tokens WHERE used_at IS NOT
		NULL" >n && t_grep "\"n\":2" n
'

t_case 'logout revokes the family of a refresh token' '
	acme && rt_login r1 &&
	cdt-auth logout --token-file r1 &&
	t_fails 77 cdt-auth refresh --token-file r1 2>/dev/null &&
	t_fails 77 cdt-auth whoami --token-file r1.at 2>/dev/null
'

t_case 'taking a role away revokes the user families' '
	acme &&
	printf "devpass-11\n" | cdt-auth register --email dev@acme.test \
		--org acme --team web --password-stdin >/dev/null &&
	cdt-auth grant dev@acme.test project-lead &&
	printf "devpass-11\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --show-refresh-token >dev.rec &&
	jq -r .refresh_token dev.rec >dev.rt &&
	cdt-auth revoke dev@acme.test project-lead &&
	t_fails 77 cdt-auth refresh --token-file dev.rt 2>/dev/null
'

# Put an expired access token of the saved login into auth.json.
expire_saved() {
	callercheck mint admin@acme.test acme \
		"{\"exp\":\"-200\",\"iat\":\"-1200\",\"nbf\":\"-1200\"}" >old &&
	jq --arg t "$(cat old)" ".token = \$t" "$CDT_HOME/auth.json" >j &&
	cat j >"$CDT_HOME/auth.json"
}

t_case 'an expired saved access token is renewed once and saved' '
	acme && expire_saved &&
	callercheck -t old whoami 2>err; [ $? = 77 ] &&
	t_grep "(expired)" err &&
	rt=$(jq -r .refresh_token "$CDT_HOME/auth.json") &&
	cdt-auth whoami --jq .user.email >e &&
	echo admin@acme.test >w && t_cmp w e &&
	[ "$(jq -r .refresh_token "$CDT_HOME/auth.json")" != "$rt" ] &&
	[ "$(jq -r .token "$CDT_HOME/auth.json")" != "$(cat old)" ] &&
	[ "$(stat -c %a "$CDT_HOME/auth.json")" = 600 ]
'

t_case '16 tools at once with an expired saved login: one refresh, no reuse' '
	acme && expire_saved &&
	for i in $(seq 1 16); do
		( callercheck whoami >out.$i 2>err.$i; echo $? >rc.$i ) &
	done; wait &&
	cat rc.* | sort -u >rcs && echo 0 >w && t_cmp w rcs &&
	sql "SELECT count(*) AS n FROM refresh_tokens WHERE used_at IS NOT
		NULL" >n && t_grep "\"n\":1" n &&
	! cdt-auth audit --json | grep -q refresh_token_reuse
'

t_case 'an expired auth record is skipped with a note' '
	acme && expire_saved &&
	jq -n --arg t "$(cat old)" "{type:\"auth\",token:\$t}" >rec &&
	cdt-auth init --org beta --email boss@beta.test >/dev/null 2>&1 &&
	callercheck -r rec whoami >who 2>err &&
	t_grep "ignoring the auth record" err &&
	jq -e ".email == \"boss@beta.test\"" who
'

t_done
