#!/bin/bash
# cdt-chat through the caller check: new conversations carry the caller's
# org, team and user; a session's conversations follow the session
# (reading sessions.read, writing sessions.update); a conversation outside
# a session is its owner's; rows from before the check are adopted.
# The two-org cases (66 like a missing one) are t1030-auth-tenants.sh.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant
}
export -f fp_env

conv_of() {
	sed -n 1p "$1" | jq -r .conversation_id
}
export -f conv_of

# The stored tenant of conversation $1: org and team names, user email.
tenant_of() {
	store-open "$CDT_HOME/cdt.db" "SELECT o.name AS org, t.name AS team,
		u.email FROM conversations c JOIN orgs o ON o.id = c.org_id
		JOIN teams t ON t.id = c.team_id JOIN users u ON
		u.id = c.user_id WHERE c.id = ?" "[\"$1\"]"
}
export -f tenant_of

# acme with admin@acme.test (saved login) and dev@acme.test, a developer
# of team web (dev.tok); a second team "ops".
acme_dev() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	printf "pass-dev-1\n" | cdt-auth register --email dev@acme.test \
		--org acme --team web --role developer --password-stdin \
		>/dev/null &&
	printf "pass-dev-1\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --jq .token >dev.tok
}
export -f acme_dev

t_case 'a new conversation carries the caller: org, team, user' '
	fp_start fp && trap fp_stop EXIT && fp_env && acme_dev &&
	cdt-chat --provider claude hi >a 2>err &&
	tenant_of "$(conv_of a)" >got &&
	echo "{\"org\":\"acme\",\"team\":\"web\",\"email\":\"admin@acme.test\"}" \
		>want && t_cmp want got &&
	cdt-chat --token-file dev.tok --provider claude hi >b 2>err &&
	tenant_of "$(conv_of b)" >got &&
	echo "{\"org\":\"acme\",\"team\":\"web\",\"email\":\"dev@acme.test\"}" \
		>want && t_cmp want got
'

t_case 'a fresh install: cdt-chat "hi" makes the local identity and answers' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude hi >a 2>err &&
	t_lines 1 err && t_grep "created a local identity" err &&
	sed -n 2p a | jq -e ".content == \"echo: hi\"" &&
	tenant_of "$(conv_of a)" | jq -e ".org == \"local\" and
		.team == \"default\"" &&
	cdt-chat --provider claude -c again >b 2>err2 && t_lines 0 err2 &&
	[ "$(conv_of b)" = "$(conv_of a)" ]
'

t_case 'a session conversation: the session row decides (read, update)' '
	fp_start fp && trap fp_stop EXIT && fp_env && acme_dev &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-chat --provider claude --session $S one >a 2>err &&
	C=$(conv_of a) &&
	cdt-chat --token-file dev.tok log --session $S >l &&
	jq -r .content l >got && printf "one\necho: one\n" >want &&
	t_cmp want got &&
	cdt-chat --token-file dev.tok log --conversation $C >l2 &&
	t_lines 2 l2 &&
	t_fails 77 cdt-chat --token-file dev.tok --provider claude \
		--session $S two >out 2>err &&
	t_grep "not allowed: sessions.update on session" err &&
	t_fails 77 cdt-chat --token-file dev.tok --provider claude \
		--conversation $C two >out 2>err &&
	t_grep "not allowed: sessions.update on conversation .$C." err &&
	jq -e ".type == \"error\" and .class == \"forbidden\"" out &&
	test "$(fp_hits)" -eq 1
'

t_case 'a session of another team: reading needs a role in that team' '
	fp_start fp && trap fp_stop EXIT && fp_env && acme_dev &&
	printf "pass-ops-1\n" | cdt-auth register --email ops@acme.test \
		--org acme --team ops --role developer --password-stdin \
		>/dev/null &&
	printf "pass-ops-1\n" | cdt-auth login --email ops@acme.test \
		--password-stdin --no-save --jq .token >ops.tok &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-chat --provider claude --session $S one >a 2>err &&
	cdt-chat --token-file dev.tok log --session $S >l && t_lines 2 l &&
	t_fails 77 cdt-chat --token-file ops.tok log --session $S >out 2>err &&
	t_grep "not allowed: sessions.read on session .$S. (needs a role in its team" err &&
	t_fails 77 cdt-chat --token-file ops.tok log --conversation \
		"$(conv_of a)" >out 2>err &&
	t_grep "not allowed: sessions.read on conversation" err
'

t_case 'outside a session a conversation is its owner'"'"'s' '
	fp_start fp && trap fp_stop EXIT && fp_env && acme_dev &&
	cdt-chat --provider claude mine >a 2>err && C=$(conv_of a) &&
	t_fails 77 cdt-chat --token-file dev.tok log --conversation $C \
		>out 2>err &&
	t_grep "not allowed: sessions.update on conversation .$C." err &&
	t_fails 66 cdt-chat --token-file dev.tok log --conversation \
		"${C:0:8}" >out 2>err &&
	t_grep "no such conversation .${C:0:8}." err &&
	t_fails 66 cdt-chat --token-file dev.tok log >out 2>err &&
	t_grep "no conversation yet" err &&
	t_fails 66 cdt-chat --token-file dev.tok --provider claude -c hi \
		>out 2>err &&
	jq -c "{type, role, content, conversation_id}" a | sed -n 1p >m &&
	t_fails 77 cdt-chat --token-file dev.tok --provider claude hi <m \
		>out 2>err &&
	test "$(fp_hits)" -eq 1 &&
	cdt-chat log --conversation $C >l && t_lines 2 l
'

# msg ID: a message record that continues conversation ID.
msg() {
	echo "{\"type\":\"message\",\"role\":\"user\",\"content\":\"x\",\"conversation_id\":\"$1\"}"
}
export -f msg

t_case 'a prefix only counts what the caller may see' '
	fp_start fp && trap fp_stop EXIT && fp_env && acme_dev &&
	msg pfx-a1 | cdt-chat --provider claude one >/dev/null 2>&1 &&
	msg pfx-a2 | cdt-chat --provider claude two >/dev/null 2>&1 &&
	msg pfx-d | cdt-chat --token-file dev.tok --provider claude devs \
		>/dev/null &&
	cdt-chat --token-file dev.tok log --conversation pfx >l &&
	jq -r .conversation_id l | sort -u >got && echo pfx-d >want &&
	t_cmp want got &&
	t_fails 64 cdt-chat log --conversation pfx >out 2>err &&
	t_grep "ambiguous: it starts pfx-a1, pfx-a2$" err
'

t_case 'rows from before the caller check: their session'"'"'s org, else the first org; once' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 && cdt-auth token >a.tok &&
	cdt-auth init --org beta --team web --email boss@beta.test \
		>/dev/null 2>&1 &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	store-open -w "$CDT_HOME/cdt.db" "INSERT INTO conversations (id,
		session_id, org_id, team_id, user_id, title, created_at,
		updated_at) VALUES (?, NULL, ?, ?, ?, ?, 1, 1), (?, ?, ?, ?, ?,
		?, 2, 2)" "[\"old-1\",\"\",\"\",\"\",\"t\",\"old-2\",\"$S\",\"\",
		\"\",\"\",\"t\"]" &&
	store-open -w "$CDT_HOME/cdt.db" "INSERT INTO messages (id,
		conversation_id, seq, role, content, created_at) VALUES
		(?, ?, 1, ?, ?, 1)" "[\"m1\",\"old-1\",\"user\",\"before\"]" &&
	t_fails 66 cdt-chat log --conversation old-1 >l 2>err &&
	t_lines 2 err && t_grep "2 conversations from before sign-in" err &&
	t_grep "no such conversation .old-1." err &&
	cdt-chat --token-file a.tok log --conversation old-1 >l 2>err &&
	t_lines 0 err && jq -e ".content == \"before\"" l &&
	tenant_of old-1 >got &&
	echo "{\"org\":\"acme\",\"team\":\"web\",\"email\":\"admin@acme.test\"}" \
		>want && t_cmp want got &&
	tenant_of old-2 >got &&
	echo "{\"org\":\"beta\",\"team\":\"web\",\"email\":\"boss@beta.test\"}" \
		>want && t_cmp want got &&
	store-open "$CDT_HOME/cdt.db" "SELECT count(*) AS n FROM
		conversations WHERE user_id = ?" "[\"\"]" >n &&
	echo "{\"n\":0}" >w && t_cmp w n
'

t_done
