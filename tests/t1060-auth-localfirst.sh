#!/bin/bash
# Local-first: the first command on a store with no identity creates one
# (org local, team default, the OS user as org-admin), says so once, and
# goes on; 32 first commands at once create exactly one; with CDT_TOKEN
# nothing is created.
. "$(dirname "$0")/lib.sh"

count() {
	store-open "$CDT_HOME/cdt.db" "SELECT (SELECT count(*) FROM users) AS
		u, (SELECT count(*) FROM orgs) AS o, (SELECT count(*) FROM
		teams) AS t, (SELECT count(*) FROM memberships) AS m"
}

t_case 'the first command creates the local identity and goes on' '
	cdt-auth whoami --json >out 2>err &&
	jq -e ".tenant.org == \"local\" and .tenant.team == \"default\" and
		(.user.email | endswith(\"@localhost\")) and
		.roles == [\"org-admin\"]" out &&
	t_lines 1 err && t_grep "created a local identity" err &&
	cdt-auth whoami --json >out2 2>err2 && t_lines 0 err2 &&
	[ "$(jq -r .user.id out)" = "$(jq -r .user.id out2)" ] &&
	count >n && echo "{\"u\":1,\"o\":1,\"t\":1,\"m\":1}" >w && t_cmp w n
'

t_case '32 first commands at once create exactly one identity' '
	mkfifo go &&
	for i in $(seq 1 32); do
		if [ $((i % 2)) = 0 ]; then cmd="cdt-auth whoami --json";
		else cmd="callercheck whoami"; fi
		( : >ready.$i; read -r _ <go;
		  $cmd >out.$i 2>err.$i; echo $? >rc.$i ) &
	done &&
	while [ "$(ls ready.* | wc -l)" -lt 32 ]; do sleep 0.01; done &&
	{ exec 3>go; sleep 0.3; exec 3>&-; } && wait &&
	cat rc.* | sort -u >rcs && echo 0 >w && t_cmp w rcs &&
	count >n && echo "{\"u\":1,\"o\":1,\"t\":1,\"m\":1}" >w && t_cmp w n &&
	cat err.* | grep -c "created a local identity" >c &&
	echo 1 >one && t_cmp one c &&
	cat out.* | jq -r ".email // .user.email" | sort -u >emails &&
	t_lines 1 emails &&
	jq -s -e "map(select(.created)) | length <= 1" out.[13579] \
		out.[123][13579] &&
	store-open "$CDT_HOME/cdt.db" "SELECT count(*) AS n FROM audit WHERE
		event = ?" "[\"local_identity_created\"]" >a &&
	t_grep "\"n\":1" a
'

t_case 'with CDT_TOKEN set nothing is created: 77 naming the store' '
	CDT_TOKEN=eyJhbGciOiJIUzI1NiJ9.e30.AAAA \
		t_fails 77 cdt-auth whoami 2>err &&
	t_grep "cdt.db" err &&
	CDT_TOKEN=cdt_sk_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
		t_fails 77 cdt-auth whoami 2>err &&
	count >n && echo "{\"u\":0,\"o\":0,\"t\":0,\"m\":0}" >w && t_cmp w n &&
	[ ! -e "$CDT_HOME/auth.json" ]
'

t_case 'an identity that exists is not made again after logout' '
	cdt-auth whoami >/dev/null 2>&1 && cdt-auth logout &&
	t_fails 77 cdt-auth whoami 2>err && t_grep "not logged in" err &&
	count >n && echo "{\"u\":1,\"o\":1,\"t\":1,\"m\":1}" >w && t_cmp w n
'

t_case 'init on an empty store makes the local identity without a note' '
	cdt-auth init --json >out 2>err && t_lines 0 err &&
	jq -e ".tenant.org == \"local\"" out &&
	cdt-auth init --json >out2 && jq -e ".tenant.org == \"local\"" out2 &&
	count >n && echo "{\"u\":1,\"o\":1,\"t\":1,\"m\":1}" >w && t_cmp w n
'

t_case 'login and refresh never create an identity' '
	printf "whatever1\n" | t_fails 77 cdt-auth login --email a@b.test \
		--password-stdin 2>/dev/null &&
	t_fails 77 cdt-auth refresh 2>/dev/null &&
	callercheck -n whoami 2>err; [ $? = 77 ] &&
	count >n && echo "{\"u\":0,\"o\":0,\"t\":0,\"m\":0}" >w && t_cmp w n
'

t_done
