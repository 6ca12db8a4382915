#!/bin/sh
# A CI job that keeps its work tree as a checkpoint only when the tests
# pass, on a snapshot branch beside the branch it built, and pushes it.
#
#	examples/ci-checkpoint.sh
#
# Offline: it makes a throw-away project with a bare repository as its
# remote, "checks it out" as a CI runner would, then runs the job twice:
# once with a failing test (nothing is committed or pushed; the job fails
# with the test's verdict) and once with the test fixed (the work tree is
# committed on ci/snapshots and pushed; the branch the job built does not
# move).  In a real job only the part marked "the job" is needed, run in
# the checkout with the runner's git identity and remote.
set -eu
cd "$(dirname "$0")/.."
PATH=$PWD/bin:$PATH
top=$(mktemp -d "${TMPDIR:-/tmp}/cdt-ci.XXXXXX")
trap 'rm -rf "$top"' EXIT
export GIT_AUTHOR_NAME="CI runner" GIT_AUTHOR_EMAIL=ci@example.com
export GIT_COMMITTER_NAME="CI runner" GIT_COMMITTER_EMAIL=ci@example.com
say() { printf '\n== %s\n' "$*"; }

# The project and its remote, as the runner finds them.
git init -q --bare -b main "$top/remote.git"
git init -q -b main "$top/src"
cat >"$top/src/greet.sh" <<'EOF'
#!/bin/sh
echo "hello, $1"
EOF
cat >"$top/src/test.sh" <<'EOF'
#!/bin/sh
# The project's test: greet.sh must greet by name.
[ "$(sh greet.sh world)" = "hello, world!" ] || {
	echo "FAIL: greet.sh says '$(sh greet.sh world)'" >&2
	exit 1
}
echo "ok"
EOF
printf 'build/\n' >"$top/src/.gitignore"
git -C "$top/src" add -A
git -C "$top/src" commit -q -m "greet, with a test"
git -C "$top/src" push -q "$top/remote.git" main
git clone -q "$top/remote.git" "$top/checkout"
cd "$top/checkout"
built=$(git rev-parse HEAD)

# The job: run the tests, hand their verdict on as an exit record (what
# `cdt-session exec` prints), and checkpoint and push only passing work.
job() {
	mkdir -p build
	set +e
	sh test.sh >build/test.log 2>&1
	rc=$?
	set -e
	printf '{"type":"exit","argv":["sh","test.sh"],"code":%d}\n' "$rc" |
		cdt-checkpoint -C . create --require-success \
			--branch ci/snapshots -m "ci: $1" |
		cdt-checkpoint -C . push --remote origin
}

say "a run whose test fails: nothing is kept, nothing is pushed"
if job "run 1" >"$top/run1" 2>"$top/err1"; then
	echo "the job passed with a failing test" >&2
	exit 1
fi
cdt render <"$top/run1" 2>&1 || true
git ls-remote --heads origin ci/snapshots | grep -q . &&
	{ echo "something was pushed" >&2; exit 1; }
echo "(no ci/snapshots branch on the remote)"

say "the fix, and a run that passes: kept on ci/snapshots and pushed"
sed -i 's/hello, \$1"/hello, $1!"/' greet.sh
job "run 2" >"$top/run2"
cdt render <"$top/run2"
jq -r 'select(.type == "checkpoint") |
	"checkpoint \(.sha[0:12]) on \(.branch): \(.files_changed) file(s), pushed to \(.pushed.remote) \(.pushed.ref)"' \
	"$top/run2"

say "what the remote has"
git --git-dir="$top/remote.git" log --oneline ci/snapshots
git --git-dir="$top/remote.git" show --stat --format='%s (%an)' \
	ci/snapshots | sed '/^$/d'
[ "$(git rev-parse HEAD)" = "$built" ] &&
	echo "main and the index did not move: $(git rev-parse --short HEAD)"
git status --short
cdt-checkpoint -C . diff ci/snapshots~1 ci/snapshots
