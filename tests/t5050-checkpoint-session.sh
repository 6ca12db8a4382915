#!/bin/bash
# cdt-checkpoint on a session's workspace: the branch
# coditect/session-ID, the authenticated user as author, a Cdt-Session
# trailer, HEAD and the index untouched; the caller check on the row.
. "$(dirname "$0")/lib.sh"

put() {
	jq -nc --arg p "$1" --arg c "$2" \
		'{type: "file", path: $p, content: $c}' |
		cdt-files --session "$S" write >/dev/null
}

t_case 'create commits to coditect/session-ID as the caller, with a trailer' '
	t_session && put hello.c "int main(void) { return 0; }" &&
	GIT_AUTHOR_NAME=ignored GIT_AUTHOR_EMAIL=ignored@x \
		cdt-checkpoint create -m "first" <s.json >out &&
	jq -r .type out >types && printf "session\ncheckpoint\n" >want &&
	t_cmp want types &&
	jq -c "select(.type == \"checkpoint\")" out >cp &&
	jq -e ".branch == \"$B\" and .session_id == \"$S\" and
		.files_changed == 1 and .unchanged == false" cp &&
	sha=$(jq -r .sha cp) &&
	[ "$(git -C "$W" rev-parse "$B")" = "$sha" ] &&
	git -C "$W" log -1 --format=%ae "$B" >ae &&
	echo admin@acme.test >want && t_cmp want ae &&
	git -C "$W" log -1 --format="%(trailers:key=Cdt-Session,valueonly)" \
		"$B" >tr && echo "$S" >want && t_cmp want <(sed "/^$/d" tr) &&
	git -C "$W" log -1 --format=%s "$B" >subj &&
	echo first >want && t_cmp want subj &&
	git -C "$W" fsck --strict 2>&1 | grep -v "^notice" >fsck;
	t_lines 0 fsck &&
	! git -C "$W" rev-parse -q --verify HEAD >/dev/null &&
	! test -e "$W/.git/index"
'

t_case 'list and show by --session, CDT_SESSION, or the record' '
	t_session && put a.txt one &&
	cdt-checkpoint create -m one <s.json >/dev/null &&
	put a.txt two && CDT_SESSION=$S cdt-checkpoint create -m two \
		</dev/null >/dev/null &&
	cdt-checkpoint --session "$S" list --json </dev/null >l &&
	t_lines 2 l &&
	jq -r ".message | split(\"\\n\")[0]" l >m &&
	printf "two\none\n" >want && t_cmp want m &&
	git -C "$W" rev-list --count "$B" >n && echo 2 >want && t_cmp want n &&
	cdt-checkpoint show "$B" --json <s.json >sh &&
	jq -e "select(.type == \"checkpoint\") | .session_id == \"$S\"" sh
'

t_case 'a pipeline: files, exec, then --require-success' '
	t_session &&
	printf "{\"type\":\"file\",\"path\":\"t.sh\",\"content\":\"exit 3\\\\n\"}\n" |
		cdt-files --session "$S" write >/dev/null &&
	cdt-session exec "$S" -- sh t.sh </dev/null >ex;
	[ $? = 3 ] &&
	{ cat s.json ex; } | t_fails 1 cdt-checkpoint create \
		--require-success >out 2>err &&
	t_grep "exited 3" err &&
	! git -C "$W" rev-parse -q --verify "$B" >/dev/null &&
	cat s.json | cdt-files read t.sh | cdt-session exec -- true |
		cdt-checkpoint create --require-success -m ok >out2 &&
	jq -e "select(.type == \"checkpoint\") | .branch == \"$B\"" out2 &&
	git -C "$W" show "$B:t.sh" >got && t_grep "exit 3" got
'

t_case 'two sessions of a project share the workspace, each on its branch' '
	t_session && put a.txt base &&
	S2=$(cdt-session create --project demo --owner-pid 0 \
		--sandbox none --jq .id) &&
	W2=$(cdt-session get "$S2" --jq .workspace) && [ "$W" = "$W2" ] &&
	cdt-checkpoint --session "$S" create -m s1 </dev/null >/dev/null &&
	put a.txt more &&
	cdt-checkpoint --session "$S2" create -m s2 </dev/null >/dev/null &&
	git -C "$W" for-each-ref --format="%(refname:short)" refs/heads >refs &&
	printf "%s\n" "coditect/session-$S" "coditect/session-$S2" | sort >want &&
	sort refs >got && t_cmp want got &&
	git -C "$W" show "coditect/session-$S:a.txt" >a1 &&
	git -C "$W" show "coditect/session-$S2:a.txt" >a2 &&
	t_grep "^base$" a1 && t_grep "^more$" a2
'

t_case 'restore in a session checkpoints the dirty state first' '
	t_session && put a.txt v1 &&
	cdt-checkpoint --session "$S" create -m v1 </dev/null >c1 &&
	put a.txt v2 &&
	cdt-checkpoint --session "$S" restore "$(jq -r .sha c1)" \
		</dev/null >r &&
	t_grep "^v1$" "$W/a.txt" &&
	git -C "$W" show "$B:a.txt" >kept && t_grep "^v2$" kept
'

t_case 'another org: 66 like a missing session; nothing committed' '
	t_session && put a.txt x &&
	cdt-auth init --org beta --team web --email boss@beta.test \
		>/dev/null 2>&1 && cdt-auth token >b.tok &&
	t_fails 66 cdt-checkpoint --token-file b.tok create <s.json \
		>out 2>err && t_grep "no such session .$S." err &&
	t_fails 66 cdt-checkpoint --token-file b.tok list <s.json \
		>/dev/null 2>&1 &&
	! git -C "$W" rev-parse -q --verify "$B" >/dev/null
'

t_case 'same team, not the owner: list is allowed, create is 77' '
	t_session && put a.txt x &&
	cdt-checkpoint --session "$S" create </dev/null >/dev/null &&
	printf "pass-dev-1\n" | cdt-auth register --email dev@acme.test \
		--org acme --team web --role developer --password-stdin \
		>/dev/null &&
	printf "pass-dev-1\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --jq .token >dev.tok &&
	cdt-checkpoint --token-file dev.tok --session "$S" list </dev/null \
		>l && t_lines 1 l &&
	put a.txt changed &&
	t_fails 77 cdt-checkpoint --token-file dev.tok --session "$S" \
		create </dev/null 2>err && t_grep "sessions.update" err &&
	git -C "$W" rev-list --count "$B" >n && echo 1 >want && t_cmp want n
'

t_case '--branch does not go with a session; -C and --session exclude' '
	t_session &&
	t_fails 64 cdt-checkpoint --session "$S" create --branch x \
		</dev/null 2>err && t_grep "own branch" err &&
	t_fails 64 cdt-checkpoint -C . --session "$S" list </dev/null 2>err &&
	t_grep "exclude each other" err
'

t_case 'create makes the repository: .git/hooks and .git/config read-only inside' '
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	S=$(cdt-session create --project demo --owner-pid 0 --jq .id) &&
	W=$(cdt-session get "$S" --jq .workspace) &&
	git -C "$W" rev-parse --git-dir >gd && echo .git >want &&
	t_cmp want gd && test -d "$W/.git/hooks" &&
	cdt-session exec "$S" -- sh -c "echo x >.git/hooks/pre-commit" \
		</dev/null >out 2>&1; [ $? = 2 ] &&
	t_grep "Read-only file system" out &&
	cdt-session exec "$S" -- sh -c "echo x >>.git/config" \
		</dev/null >out 2>&1; [ $? = 2 ] &&
	t_grep "Read-only file system" out &&
	! test -e "$W/.git/hooks/pre-commit" &&
	cdt-session exec "$S" -- sh -c "echo ok >f" </dev/null >/dev/null &&
	t_grep "^ok$" "$W/f"
'

t_done
