#!/bin/sh
# The first five minutes with cdt, on a live provider: which providers are
# usable, one question, then the main job on a directory: the model edits
# the code, the result runs in a sandboxed session, and the directory is
# checkpointed into git only when that run passed.
#
#	examples/quickstart.sh [DIR [PROMPT [COMMAND]]]
#
# DIR defaults to a new directory holding examples/cassettes/hello.c,
# PROMPT to "add a Makefile for hello.c", COMMAND (run with sh -c in the
# sandbox) to "make && ./hello".  Set a provider's key first, e.g.
# ANTHROPIC_API_KEY; cdt-route(1) says how to configure others.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ge 1 ]; then
	dir=$(cd "$1" && pwd)
else
	dir=$(mktemp -d "${TMPDIR:-/tmp}/cdt-quickstart.XXXXXX")
	cp "$here/cassettes/hello.c" "$dir/"
	printf 'hello\n' >"$dir/.gitignore"
fi
prompt=${2:-add a Makefile for hello.c}
cmd=${3:-make && ./hello}
say() { printf '\n== %s\n' "$*"; }
out=$(mktemp "${TMPDIR:-/tmp}/cdt-quickstart.XXXXXX")
trap 'rm -f "$out"' EXIT
rc=0

say "cdt-route status: the providers and whether they can serve"
cdt-route status --no-stdin --text
cdt-route pick --no-stdin --jq '"requests go to \(.provider) (\(.model)) first"' ||
	{ echo "quickstart.sh: set a provider's key, e.g. ANTHROPIC_API_KEY" >&2; exit 78; }

say "cdt-chat: one question"
cdt-chat --no-stdin --text "In one sentence: what is a Makefile for?"

say "the main job on $dir"
files=$(cd "$dir" && find . -maxdepth 1 -type f -name '*.[ch]' | sed 's|^\./||')
[ -n "$files" ] || { echo "quickstart.sh: no .c or .h file in $dir to show the model" >&2; exit 66; }
# The session record goes down the pipe: every tool after create works in
# its workspace.  The session lives as long as this script does.
# shellcheck disable=SC2086
cdt-session create -C "$dir" |
	cdt-files read $files |
	cdt-chat --edit "$prompt" |
	cdt-files write |
	cdt-session exec -- sh -c "$cmd" |
	cdt-checkpoint create --require-success -m "quickstart: $prompt" \
	>"$out" || rc=$?
cdt render <"$out" || true
[ "$rc" = 0 ] || exit "$rc"

say "cdt-checkpoint list"
cdt-checkpoint list --session "$(jq -r 'select(.type == "session") | .id' "$out")" \
	--no-stdin --text
echo "the workspace: $dir"
