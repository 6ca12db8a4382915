# tests/lib.sh - the shell test harness (TAP).  Source it from tests/tNNNN-*.sh.
#
#   t_case 'title' 'body'	run body (an &&-chain) in its own temp dir
#   t_cmp expect actual		diff -u, printed on failure
#   t_jsoneq a b		compare two JSON streams (jq -S on both sides)
#   t_fails CODE cmd...		cmd must exit with exactly CODE (not a signal)
#   t_done			print the plan; exit 1 when a case failed
#   t_identity			the identity a first command makes on SQLite
#				(cdt-auth init on PostgreSQL, which makes none)
#
# Each case gets a fresh $CDT_HOME, $HOME and config directory, no CDT_*
# variables from the caller, and NO_PROXY for loopback.  Its output goes
# to a log that is shown, prefixed with '# ', only when the case fails.
set -u
SRC=${CDT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$SRC/bin:$SRC/tests/helpers:$PATH
# VALGRIND=1: every tool runs under memcheck, through shims on PATH.
if [ -n "${CDT_VALGRIND:-}" ]; then
	t_shims=$(mktemp -d "${TMPDIR:-/tmp}/cdt-vg.XXXXXX")
	for t in "$SRC"/bin/cdt "$SRC"/bin/cdt-*; do
		case $t in *.c|*.d|*.o) continue ;; esac
		printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$CDT_VALGRIND" "$t" \
			>"$t_shims/${t##*/}"
		chmod +x "$t_shims/${t##*/}"
	done
	PATH=$t_shims:$PATH
fi
export PATH SRC
for v in $(env | sed -n 's/^\(CDT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset ANTHROPIC_API_KEY OPENAI_API_KEY GEMINI_API_KEY GOOGLE_API_KEY \
	MOONSHOT_API_KEY OLLAMA_HOST XDG_CONFIG_HOME XDG_DATA_HOME
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export LC_ALL=C.UTF-8
T_N=0
T_FAILED=0
T_TRASH=$(mktemp -d "${TMPDIR:-/tmp}/cdt-test.XXXXXX")
trap 'rm -rf "$T_TRASH" ${t_shims:+"$t_shims"}' EXIT
# Debian's python3 and aws (make deps installs them), not a version
# manager's shims that may come first on PATH: a pyenv shim costs about a
# second per start on a loaded machine, and the fake providers start
# hundreds of times in a run.
mkdir "$T_TRASH/bin"
for t_p in python3 aws; do
	[ -x "/usr/bin/$t_p" ] && [ "$(command -v $t_p)" != "/usr/bin/$t_p" ] &&
		ln -s "/usr/bin/$t_p" "$T_TRASH/bin/$t_p"
done
PATH=$T_TRASH/bin:$PATH
# Sanitizer settings come from make (SAN_ENV); keep them when run alone.
: "${ASAN_OPTIONS:=fast_unwind_on_malloc=0:detect_leaks=1}"
: "${LSAN_OPTIONS:=suppressions=$SRC/tests/lsan.supp:print_suppressions=0}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
# The PostgreSQL pass (make test-pg): this file's own database, and an
# empty store for each case (tests/pg.sh).
if [ -n "${T_PG_SHARED:-}" ]; then
	. "$SRC/tests/pg.sh"
	t_pg_file || { echo "Bail out! no PostgreSQL database"; exit 1; }
fi

t_case() {
	T_N=$((T_N + 1))
	t_dir=$T_TRASH/$T_N
	mkdir -p "$t_dir/home" "$t_dir/config" "$t_dir/w"
	(
		cd "$t_dir/w" || exit 99
		export HOME=$t_dir CDT_HOME=$t_dir/home
		export XDG_CONFIG_HOME=$t_dir/config
		if [ -n "${T_PG_SHARED:-}" ]; then t_pg_case || exit 99; fi
		eval "$2"
	) >"$t_dir/log" 2>&1 </dev/null
	t_rc=$?
	if [ $t_rc -eq 0 ]; then
		echo "ok $T_N - $1"
	else
		echo "not ok $T_N - $1 (exit $t_rc)"
		# Under prove (HARNESS_ACTIVE) on stderr, which prove shows
		# without -v: a CI log then says why, not only which.
		if [ -n "${HARNESS_ACTIVE:-}" ]; then
			{ echo "# ${0##*/}: not ok $T_N - $1 (exit $t_rc)"
			  sed 's/^/# /' "$t_dir/log" | head -60; } >&2
		else
			sed 's/^/# /' "$t_dir/log" | head -60
		fi
		T_FAILED=$((T_FAILED + 1))
	fi
}

t_done() {
	echo "1..$T_N"
	[ $T_FAILED -eq 0 ]
}

# The local identity: SQLite makes it on the first command that needs
# one; a PostgreSQL store (make test-pg) makes none by design, so there
# the case makes it as its user would, with cdt-auth init.
t_identity() {
	[ -z "${CDT_STORE_URL:-}" ] || cdt-auth init >/dev/null 2>&1
}

t_cmp() {
	diff -u "$1" "$2"
}

t_jsoneq() {
	jq -S . "$1" >"$1.sorted" && jq -S . "$2" >"$2.sorted" &&
		diff -u "$1.sorted" "$2.sorted"
}

# t_fails CODE cmd...: exactly that exit code; a signal is a failure.
t_fails() {
	t_want=$1
	shift
	"$@"
	t_got=$?
	if [ "$t_got" -ne "$t_want" ]; then
		echo "t_fails: '$*' exited $t_got, want $t_want" >&2
		return 1
	fi
	return 0
}

# t_grep PATTERN FILE: like grep -q, but shows the file when it fails.
t_grep() {
	if ! grep -q -e "$1" "$2"; then
		echo "t_grep: no '$1' in $2:" >&2
		sed 's/^/  | /' "$2" >&2
		return 1
	fi
}

# t_lines N FILE: the file has exactly N lines.
t_lines() {
	t_n=$(wc -l <"$2")
	if [ "$t_n" -ne "$1" ]; then
		echo "t_lines: $2 has $t_n lines, want $1:" >&2
		sed 's/^/  | /' "$2" >&2
		return 1
	fi
}

# t_session: org acme, team web, admin@acme.test logged in, and a session
# of project demo (no sandbox, no owner): its record in s.json, its id in
# $S, its workspace in $W, its branch in $B.
t_session() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	cdt-session create --project demo --owner-pid 0 --sandbox none \
		>s.json &&
	S=$(jq -r .id s.json) && W=$(jq -r .workspace s.json) &&
	B=coditect/session-$S && test -d "$W"
}
