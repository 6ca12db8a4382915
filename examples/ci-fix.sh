#!/bin/sh
# A CI job that asks a model to fix failing tests: it runs the tests in a
# sandboxed session over the checkout, shows the model the failure and
# the code, writes its edits, runs the tests again, and only when they
# pass keeps the result as a checkpoint on the session's own branch
# (coditect/session-ID) and pushes it.  The branch the job checked out
# does not move.
#
#	examples/ci-fix.sh [TEST-COMMAND]	in the checkout
#
# TEST-COMMAND (default: make test) runs with sh -c in the sandbox, with
# no network.  The environment:
#
#	CDT_TOKEN	an API key: cdt-auth keys create --name ci --role developer
#			(kept as a CI secret; the job acts as that key's user)
#	ANTHROPIC_API_KEY (or another provider's key; see cdt-route(1))
#	CI_FIX_FILES	the files shown to the model, one a line (default:
#			the files git tracks, at most CI_FIX_MAX_FILES=50)
#	CI_FIX_REMOTE	where it is pushed (default origin; "" keeps it local)
#
# A shared store (CDT_STORE_URL) and its key files let the runner check a
# key made on another machine; see README.md, "From one machine to a
# team", and .github/workflows/cdt-ci-fix.yml.
#
# Exit: 0 when the tests passed already (nothing to do) or pass after the
# model's edits (checkpointed and pushed); 1 when they still fail (nothing
# is kept; the edits stay in the work tree for the job's log); otherwise
# the code of the step that failed.
set -eu
test_cmd=${1:-${CI_FIX_TEST:-make test}}
remote=${CI_FIX_REMOTE-origin}
[ -n "${CDT_TOKEN:-}" ] || {
	echo "ci-fix.sh: set CDT_TOKEN to an API key (cdt-auth keys create --name ci --role developer)" >&2
	exit 77
}
git rev-parse --git-dir >/dev/null 2>&1 ||
	{ echo "ci-fix.sh: run it in a git checkout" >&2; exit 66; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cdt-ci-fix.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
say() { printf '\n== %s\n' "$*"; }

# One session over the checkout for the whole job, alive as long as it.
CDT_SESSION=$(cdt-session create -C . --owner-pid $$ --no-stdin --jq .id)
export CDT_SESSION
say "session $CDT_SESSION over $(pwd)"

say "run the tests: $test_cmd"
cdt-session exec --no-stdin -- sh -c "$test_cmd" >"$tmp/run1.jsonl" || :
cdt render <"$tmp/run1.jsonl" || :
code=$(jq -r 'select(.type == "exit") | .code' "$tmp/run1.jsonl")
[ -n "$code" ] || { echo "ci-fix.sh: the tests did not run" >&2; exit 70; }
if [ "$code" = 0 ]; then
	echo "the tests pass: nothing to fix"
	exit 0
fi

# What the model sees: the command, its output (the last 200 lines), and
# the code.
jq -j 'select(.type == "exec") |
	if .data then .data else (.data_base64 | @base64d) end' \
	"$tmp/run1.jsonl" | tail -n 200 >"$tmp/log"
if [ -n "${CI_FIX_FILES:-}" ]; then
	printf '%s\n' "$CI_FIX_FILES" >"$tmp/files"
else
	git ls-files | head -n "${CI_FIX_MAX_FILES:-50}" >"$tmp/files"
fi
{
	printf 'The tests of this repository fail. The command `%s` exited %s with this output:\n\n```\n' \
		"$test_cmd" "$code"
	cat "$tmp/log"
	printf '```\n\nFix the code so that the tests pass. Do not change the tests.\n'
} >"$tmp/prompt"

say "ask the model for a fix, apply it, run the tests again, keep it only if they pass"
set +e
tr '\n' '\0' <"$tmp/files" | xargs -0 cdt-files read --no-stdin |
	cdt-chat --edit "$(cat "$tmp/prompt")" |
	cdt-files write |
	cdt-session exec -- sh -c "$test_cmd" |
	cdt-checkpoint create --require-success \
		-m "ci-fix: make '$test_cmd' pass" >"$tmp/run2.jsonl"
rc=$?
set -e
# The prompt and the code shown are long; the rest is the job's log.
jq -c 'select((.type == "message" and .role == "user") or
	(.type == "file" and .unchanged == true) | not)' "$tmp/run2.jsonl" |
	cdt render || :
[ "$rc" = 0 ] || { echo "ci-fix.sh: no fix kept (exit $rc)" >&2; exit "$rc"; }

if [ -n "$remote" ]; then
	say "push coditect/session-$CDT_SESSION to $remote"
	cdt-checkpoint push --remote "$remote" <"$tmp/run2.jsonl" >"$tmp/push.jsonl"
	jq -r 'select(.type == "checkpoint") |
		"checkpoint \(.sha[0:12]) on \(.branch), pushed to \(.pushed.remote) \(.pushed.ref)"' \
		"$tmp/push.jsonl"
else
	jq -r 'select(.type == "checkpoint") |
		"checkpoint \(.sha[0:12]) on \(.branch), not pushed"' "$tmp/run2.jsonl"
fi
