#!/bin/bash
# cdt-auth login: lockout after five failures, one message for every
# failure, rehash of weaker stored hashes, the audit trail.
. "$(dirname "$0")/lib.sh"

acme() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	printf 'adminpass1\n' | cdt-auth passwd --password-stdin 2>/dev/null
}

# login EMAIL PASSWORD: exit status of a --no-save login, stderr in err.
login() {
	printf '%s\n' "$2" | cdt-auth login --email "$1" --password-stdin \
		--no-save >/dev/null 2>err
}

sql() {
	store-open "$CDT_HOME/cdt.db" "$@"
}

t_case 'every failure says the same words' '
	acme &&
	cdt-auth register --email nopw@acme.test --org acme --team web \
		--no-input >/dev/null 2>&1 &&
	login admin@acme.test wrong-pass-1; [ $? = 77 ] && mv err e1 &&
	login nobody@acme.test wrong-pass-1; [ $? = 77 ] && mv err e2 &&
	login nopw@acme.test wrong-pass-1; [ $? = 77 ] && mv err e3 &&
	login "not an email" wrong-pass-1; [ $? = 77 ] && mv err e4 &&
	t_cmp e1 e2 && t_cmp e1 e3 && t_cmp e1 e4 &&
	t_grep "login failed: wrong email or password" e1
'

t_case 'five failures lock the account for 15 minutes' '
	acme &&
	for i in 1 2 3 4; do
		login admin@acme.test wrong-pass-$i; [ $? = 77 ] || exit 1
	done &&
	sql "SELECT failed_logins, locked_until FROM users" >row &&
	t_grep "\"failed_logins\":4,\"locked_until\":null" row &&
	login admin@acme.test wrong-pass-5; [ $? = 77 ] && cp err e5 &&
	sql "SELECT (locked_until - ?) / 60000 AS min FROM users" \
		"[$(date +%s)000]" >lock &&
	{ t_grep "\"min\":1[45]" lock; } &&
	login admin@acme.test adminpass1; [ $? = 77 ] &&
	t_cmp e5 err &&
	sql "UPDATE users SET locked_until = 1" >/dev/null &&
	login admin@acme.test adminpass1 &&
	sql "SELECT failed_logins FROM users" >n && t_grep "\"failed_logins\":0" n
'

t_case 'a success resets the count' '
	acme &&
	for i in 1 2 3 4; do login admin@acme.test bad-pass-$i; done;
	login admin@acme.test adminpass1 &&
	for i in 1 2 3 4; do login admin@acme.test bad-pass-$i; done;
	login admin@acme.test adminpass1
'

t_case 'concurrent failures lock once, and count every try' '
	acme &&
	for i in $(seq 1 8); do
		(login admin@acme.test "wrong-pass-$i"; echo $? >rc.$i) &
	done; wait &&
	cat rc.* | sort -u >rcs && echo 77 >w && t_cmp w rcs &&
	sql "SELECT count(*) AS n FROM audit WHERE event = ?" \
		"[\"login_failed\"]" >f && t_grep "\"n\":8" f &&
	sql "SELECT count(*) AS n FROM audit WHERE event = ?" \
		"[\"account_locked\"]" >l && t_grep "\"n\":1" l &&
	login admin@acme.test adminpass1; [ $? = 77 ]
'

t_case 'the audit log records failures, locks and logins, never passwords' '
	acme &&
	for i in 1 2 3 4 5; do login admin@acme.test "bad-pass-$i"; done;
	login ghost@acme.test bad-pass-x;
	cdt-auth audit --json >a &&
	jq -s -e "map(.event) | index(\"account_locked\") != null and
		(map(select(. == \"login_failed\")) | length) == 5" a &&
	jq -s -e "map(select(.event == \"login_failed\"))[0].detail ==
		{\"email\":\"admin@acme.test\",\"reason\":\"wrong password\"}" a &&
	! grep -q "bad-pass" a "$CDT_HOME/cdt.db" &&
	cdt-auth audit --limit 2 --json >two && t_lines 2 two &&
	cdt-auth audit --text >t && t_grep "account_locked" t
'

t_case 'audit needs org-admin' '
	acme &&
	printf "devpass-11\n" | cdt-auth register --email dev@acme.test \
		--org acme --team web --password-stdin >/dev/null &&
	printf "devpass-11\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --jq .token >dev.tok &&
	t_fails 77 cdt-auth --token-file dev.tok audit 2>err &&
	t_grep "needs org-admin" err
'

t_case 'a weaker stored hash is rehashed on login' '
	acme &&
	sql "UPDATE users SET password_hash = ?" \
		"[\"\$argon2id\$v=19\$m=19456,t=2,p=1\$c29tZXNhbHQ\$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E\"]" \
		>/dev/null &&
	login admin@acme.test password &&
	sql "SELECT password_hash FROM users" >h &&
	t_grep "m=19456,t=2,p=1" h && ! grep -q c29tZXNhbHQ h &&
	login admin@acme.test password &&
	cdt-auth audit --json | jq -s -e "map(select(.event == \"login\")) |
		map(.detail.rehashed) == [true, false]"
'

t_case 'a corrupt stored hash fails like a wrong password' '
	acme &&
	sql "UPDATE users SET password_hash = ?" \
		"[\"\$argon2id\$v=19\$m=99999999,t=2,p=1\$AAAA\$AAAA\"]" \
		>/dev/null &&
	login admin@acme.test adminpass1; [ $? = 77 ] &&
	t_grep "login failed" err
'

t_case 'login --org picks among the orgs of a user' '
	acme &&
	cdt-auth init --org beta --team core --email admin@acme.test \
		>/dev/null 2>&1 &&
	printf "adminpass1\n" | cdt-auth login --email admin@acme.test \
		--org beta --password-stdin --jq .tenant.org >o &&
	echo beta >w && t_cmp w o &&
	printf "adminpass1\n" | cdt-auth login --email admin@acme.test \
		--org acme --password-stdin --jq .tenant.org >o &&
	echo acme >w && t_cmp w o &&
	printf "adminpass1\n" | t_fails 77 cdt-auth login \
		--email admin@acme.test --org gamma --password-stdin 2>err &&
	t_grep "login failed" err
'

t_done
