#!/bin/bash
# cdt-files on a session's workspace: --session, a session record, or
# CDT_SESSION; the root comes from the store's row after the caller check,
# never from a record; another org's session is 66, like a missing one;
# the same team without the permission is 77.
. "$(dirname "$0")/lib.sh"

file_rec() {
	jq -nc --arg p "$1" --arg c "$2" \
		'{type: "file", path: $p, content: $c}'
}

t_case 'write with --session lands in the row'\''s workspace' '
	t_session &&
	file_rec hello.c "int main(void) { return 0; }" |
		cdt-files --session "$S" write >out &&
	jq -e "select(.type == \"file\") | .path == \"hello.c\" and
		(.sha256 | length) == 64" out &&
	printf "int main(void) { return 0; }" >want &&
	t_cmp want "$W/hello.c"
'

t_case 'a session record on stdin picks it, and is forwarded first' '
	t_session &&
	file_rec a.txt "one" | cdt-files --session "$S" write >/dev/null &&
	cdt-files read a.txt <s.json >out &&
	jq -r .type out >types && printf "session\nfile\n" >want &&
	t_cmp want types &&
	jq -e "select(.type == \"file\") | .content == \"one\"" out &&
	jq -e -s ".[0].id == \"$S\"" out
'

t_case 'CDT_SESSION picks it; a flag wins over a record and the variable' '
	t_session &&
	file_rec a.txt "env" | CDT_SESSION=$S cdt-files write >/dev/null &&
	t_grep "^env$" "$W/a.txt" &&
	CDT_SESSION=nope cdt-files --session "$S" ls --json </dev/null >ls &&
	jq -e "select(.path == \"a.txt\")" ls &&
	CDT_SESSION=nope cdt-files ls --json <s.json >ls2 &&
	jq -e "select(.path == \"a.txt\")" ls2
'

t_case 'the workspace and tenant fields of a record choose nothing' '
	t_session && mkdir elsewhere &&
	jq -c --arg d "$PWD/elsewhere" ".workspace = \$d |
		.tenant.org_id = \"x\" | .tenant.user = \"y\"" s.json >forged &&
	{ cat forged; file_rec p.txt "mine"; } | cdt-files write >/dev/null &&
	test -f "$W/p.txt" && ! test -e elsewhere/p.txt &&
	t_lines 0 /dev/null && [ -z "$(ls elsewhere)" ]
'

t_case 'a session that does not exist is 66, naming it' '
	t_session &&
	t_fails 66 cdt-files --session no-such-id ls </dev/null >out 2>err &&
	t_grep "no such session .no-such-id." err &&
	jq -e ".type == \"error\" and .code == 66" out
'

t_case 'another org: 66, exactly as a missing session' '
	t_session &&
	cdt-auth token >a.tok &&
	cdt-auth init --org beta --team web --email boss@beta.test \
		>/dev/null 2>&1 && cdt-auth token >b.tok &&
	file_rec x "y" | t_fails 66 cdt-files --token-file b.tok \
		--session "$S" write >/dev/null 2>e1 &&
	t_fails 66 cdt-files --token-file b.tok --session 00000000-0000-4000-8000-000000000000 \
		ls </dev/null 2>e2 &&
	sed "s/$S/ID/" e1 >n1 &&
	sed "s/00000000-0000-4000-8000-000000000000/ID/" e2 >n2 &&
	t_cmp n1 n2 && ! test -e "$W/x" &&
	t_fails 66 cdt-files --token-file b.tok read hello.c <s.json \
		>/dev/null 2>&1 &&
	cdt-files --token-file a.tok --session "$S" ls </dev/null >/dev/null
'

t_case 'same team, not the owner: reading is allowed, writing is 77' '
	t_session &&
	file_rec a.txt "admin" | cdt-files --session "$S" write >/dev/null &&
	printf "pass-dev-1\n" | cdt-auth register --email dev@acme.test \
		--org acme --team web --role developer --password-stdin \
		>/dev/null &&
	printf "pass-dev-1\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --jq .token >dev.tok &&
	cdt-files --token-file dev.tok --session "$S" read a.txt \
		</dev/null >r &&
	jq -e ".content == \"admin\"" r &&
	file_rec a.txt "dev" | t_fails 77 cdt-files --token-file dev.tok \
		--session "$S" write >/dev/null 2>err &&
	t_grep "not allowed" err && t_grep "sessions.update" err &&
	t_fails 77 cdt-files --token-file dev.tok --session "$S" rm a.txt \
		</dev/null 2>err && t_grep "^admin$" "$W/a.txt"
'

t_case 'an upstream error stops rm before it removes anything' '
	t_session &&
	file_rec a.txt "keep" | cdt-files --session "$S" write >/dev/null &&
	{ cat s.json; echo "{\"type\":\"error\",\"tool\":\"x\",\"code\":69,\"class\":\"unavailable\",\"message\":\"m\"}"; } |
		t_fails 69 cdt-files rm a.txt >out 2>err &&
	t_grep "^keep$" "$W/a.txt" &&
	jq -r .type out >types && printf "session\nerror\n" >want &&
	t_cmp want types
'

t_case 'two session records that disagree: 65 unless --session picks' '
	t_session &&
	S2=$(cdt-session create --project other --owner-pid 0 \
		--sandbox none --jq .id) &&
	{ cat s.json; jq -c ".id = \"$S2\"" s.json; } >two &&
	t_fails 65 cdt-files ls <two >/dev/null 2>err &&
	t_grep "disagree" err &&
	cdt-files --session "$S" ls <two >/dev/null
'

t_case 'no workspace at all is 64 with the ways to name one' '
	t_fails 64 cdt-files ls </dev/null 2>err &&
	t_grep "give -C DIR or --session ID" err
'

t_case '-C and --session together are 64' '
	t_session &&
	t_fails 64 cdt-files -C . --session "$S" ls </dev/null 2>err &&
	t_grep "exclude each other" err
'

t_case 'hostile paths are refused the same way in a session' '
	t_session &&
	file_rec ../escape "x" | t_fails 65 cdt-files --session "$S" write \
		>/dev/null 2>err && t_grep "bad path" err &&
	ln -s /etc "$W/etc" &&
	t_fails 77 cdt-files --session "$S" read etc/passwd </dev/null \
		>/dev/null 2>&1 &&
	! test -e "$(dirname "$W")/escape"
'

t_done
