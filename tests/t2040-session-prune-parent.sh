#!/bin/bash
# cdt-session and the workspace's git repository (issue 7): create makes
# it; --parent starts from the parent's latest checkpoint; gc --prune
# removes the branches and workspaces of long-terminated sessions never
# checkpointed elsewhere, saying what goes first.  Checked with git.
. "$(dirname "$0")/lib.sh"

# checkpoint ID FILE: commit FILE to the session's branch with git.
checkpoint() {
	ws=$(cdt-session get "$1" --jq .workspace) &&
	git -C "$ws" -c user.name=t -c user.email=t@t.test checkout -q -B "coditect/session-$1" &&
	git -C "$ws" add "$2" &&
	git -C "$ws" -c user.name=t -c user.email=t@t.test commit -qm "$2" &&
	git -C "$ws" rev-parse HEAD
}
export -f checkpoint

# old: sessions terminated a second ago count as long terminated.
old() {
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "sandbox:\n  prune_after: 1s\n" >"$XDG_CONFIG_HOME/cdt/config.yaml"
}
export -f old

t_case 'create makes the git repository with .git/hooks, so the read-only binds apply' '
	cdt-session create --owner-pid 0 >s &&
	ws=$(jq -r .workspace s) && S=$(jq -r .id s) &&
	git -C "$ws" rev-parse --git-dir >d && [ "$(cat d)" = .git ] &&
	[ -d "$ws/.git/hooks" ] && [ -f "$ws/.git/config" ] &&
	t_fails 2 cdt-session exec "$S" -- sh -c "echo x >.git/hooks/pre-commit" >/dev/null 2>&1 &&
	[ ! -e "$ws/.git/hooks/pre-commit" ] &&
	jq -e ".sandbox.workspace_created == true" s &&
	cdt-session create --owner-pid 0 --jq .sandbox.workspace_created >c2 &&
	echo false >want && t_cmp want c2
'

t_case '--parent with no checkpoint: started, and the record says so' '
	P=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-session create --owner-pid 0 --parent "$P" >c &&
	jq -e ".status == \"running\" and .parent_id == \"$P\" and .parent_checkpoint == null" c &&
	C=$(jq -r .id c) &&
	cdt-session get --history "$C" --jq ".history[-1].reason" >why &&
	echo "started; the parent has no checkpoint" >want && t_cmp want why
'

t_case '--parent in the shared workspace: the child branch starts at the parent tip' '
	P=$(cdt-session create --owner-pid 0 --jq .id) &&
	ws=$(cdt-session get "$P" --jq .workspace) &&
	echo one >"$ws/a" && sha=$(checkpoint "$P" a) &&
	cdt-session create --owner-pid 0 --parent "$P" >c &&
	C=$(jq -r .id c) &&
	jq -e ".parent_checkpoint == {\"sha\": \"$sha\", \"branch\": \"coditect/session-$C\", \"from_branch\": \"coditect/session-$P\"}" c &&
	[ "$(git -C "$ws" rev-parse "refs/heads/coditect/session-$C")" = "$sha" ] &&
	cdt-session get --history "$C" --jq ".history[-1].reason" >why &&
	t_grep "started from the parent.s checkpoint ${sha:0:12}" why
'

t_case '--parent in another workspace: the checkpoint is fetched into the child repository' '
	P=$(cdt-session create --owner-pid 0 --project one --jq .id) &&
	pws=$(cdt-session get "$P" --jq .workspace) &&
	echo one >"$pws/a" && sha=$(checkpoint "$P" a) &&
	C=$(cdt-session create --owner-pid 0 --project two --parent "$P" --jq .id) &&
	cws=$(cdt-session get "$C" --jq .workspace) && [ "$cws" != "$pws" ] &&
	[ "$(git -C "$cws" rev-parse "refs/heads/coditect/session-$C")" = "$sha" ] &&
	git -C "$cws" show "$sha:a" >got && echo one >want && t_cmp want got
'

t_case '--parent: another org is 66, an unknown id 66; nothing created' '
	cdt-auth init --org acme --team web --email admin@acme.test >/dev/null 2>&1 &&
	P=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-auth init --org beta --team web --email boss@beta.test >/dev/null 2>&1 &&
	t_fails 66 cdt-session create --owner-pid 0 --parent "$P" 2>err &&
	t_grep "no such session" err &&
	t_fails 66 cdt-session create --owner-pid 0 --parent 00000000-0000-4000-8000-000000000000 2>err &&
	cdt-session list --all >l && t_lines 0 l
'

t_case 'gc --prune --dry-run says what would go and removes nothing; gc --prune removes it' '
	old &&
	S=$(cdt-session create --owner-pid 0 --type persistent --jq .id) &&
	ws=$(cdt-session get "$S" --jq .workspace) &&
	echo x >"$ws/f" && sha=$(checkpoint "$S" f) &&
	cdt-session exec "$S" --detach -- true >/dev/null &&
	cdt-session terminate "$S" >/dev/null && sleep 1.2 &&
	cdt-session gc --prune --dry-run >d &&
	t_lines 1 d &&
	jq -e ".id == \"$S\" and .dry_run == true and
		.pruned == {\"branch\": \"coditect/session-$S\", \"tip\": \"$sha\", \"workspace\": \"$ws\"}" d &&
	[ -d "$ws" ] && git -C "$ws" rev-parse "coditect/session-$S" >/dev/null &&
	[ -d "$CDT_HOME/sessions/$S" ] &&
	cdt-session gc --prune >p && t_lines 1 p &&
	jq -e ".id == \"$S\" and .dry_run == false and .pruned.workspace == \"$ws\"" p &&
	[ ! -e "$ws" ] && [ ! -e "$CDT_HOME/sessions/$S" ] &&
	cdt-session get --history "$S" >g &&
	jq -e "(.pruned_at | type) == \"string\" and .history[-1].reason == \"pruned\"" g &&
	cdt-session gc --prune >again && t_lines 0 again
'

t_case 'gc --prune keeps a session whose branch tip is on another ref (checkpointed elsewhere)' '
	old &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	ws=$(cdt-session get "$S" --jq .workspace) &&
	echo x >"$ws/f" && sha=$(checkpoint "$S" f) &&
	git -C "$ws" update-ref refs/remotes/origin/coditect/session-$S "$sha" &&
	cdt-session terminate "$S" >/dev/null && sleep 1.2 &&
	cdt-session gc --prune >p && t_lines 0 p &&
	[ -d "$ws" ] && [ "$(git -C "$ws" rev-parse "coditect/session-$S")" = "$sha" ] &&
	cdt-session get "$S" | jq -e "has(\"pruned_at\") | not"
'

t_case 'gc --prune: a shared workspace stays while another session uses it; only the branch goes' '
	old &&
	A=$(cdt-session create --owner-pid 0 --jq .id) &&
	ws=$(cdt-session get "$A" --jq .workspace) &&
	echo x >"$ws/f" && checkpoint "$A" f >/dev/null &&
	B=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-session terminate "$A" >/dev/null && sleep 1.2 &&
	cdt-session gc --prune >p && t_lines 1 p &&
	jq -e ".id == \"$A\" and .pruned.workspace == null and .pruned.branch == \"coditect/session-$A\"" p &&
	[ -f "$ws/f" ] && ! git -C "$ws" rev-parse -q --verify "refs/heads/coditect/session-$A" &&
	cdt-session terminate "$B" >/dev/null && sleep 1.2 &&
	cdt-session gc --prune >p2 && t_lines 1 p2 &&
	jq -e ".id == \"$B\" and .pruned.workspace == \"$ws\" and .pruned.branch == null" p2 &&
	[ ! -e "$ws" ]
'

t_case 'gc --prune never touches a -C DIR checkout, nor a young session' '
	old &&
	mkdir ci && git -C ci init -q && echo x >ci/f &&
	S=$(cdt-session create -C ci --owner-pid 0 --jq .id) &&
	git -C ci -c user.name=t -c user.email=t@t.test checkout -q -b "coditect/session-$S" &&
	git -C ci add f && git -C ci -c user.name=t -c user.email=t@t.test commit -qm f &&
	cdt-session terminate "$S" >/dev/null && sleep 1.2 &&
	printf "sandbox:\n  prune_after: 1h\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	cdt-session gc --prune >y && t_lines 0 y &&
	old && cdt-session gc --prune >p && t_lines 1 p &&
	jq -e ".pruned == {\"branch\": null, \"tip\": null, \"workspace\": null}" p &&
	[ -f ci/f ] && git -C ci rev-parse -q --verify "refs/heads/coditect/session-$S"
'

t_case 'gc: --dry-run alone is 64; --prune needs sessions.delete (a developer prunes nothing)' '
	t_fails 64 cdt-session gc --dry-run 2>err && t_grep "prune" err &&
	old &&
	cdt-auth init --org acme --team web --email admin@acme.test >/dev/null 2>&1 &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-session terminate "$S" >/dev/null && sleep 1.2 &&
	printf "pass-dev-1\n" | cdt-auth register --email dev@acme.test \
		--org acme --team web --role developer --password-stdin >/dev/null &&
	printf "pass-dev-1\n" | cdt-auth login --email dev@acme.test \
		--password-stdin --no-save --jq .token >dev.tok &&
	cdt-session --token-file dev.tok gc --prune >p && t_lines 0 p &&
	cdt-session gc --prune >p2 && t_lines 1 p2
'

t_done
