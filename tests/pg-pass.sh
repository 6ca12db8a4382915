#!/bin/bash
# make test-pg: the store-touching tests again, on PostgreSQL 15 as the
# application role (tests/pg.sh): one throwaway cluster for the run, one
# database per test file, an empty store per case.  Prints prove's
# summary; fails when PostgreSQL cannot start or a case fails that is not
# in the list below.
#
# Not run here:
#   t1060-auth-localfirst.sh  looks at the file $CDT_HOME/cdt.db itself
#   t2000, t2010, t2020       need the local-first identity, which is
#                             SQLite-only by design (cdt_auth_bootstrap:
#                             a shared store gets `cdt-auth init`)
# Cases allowed to fail here, one line each ("file: case numbers"), with
# why in a comment: none now.  Keep the list: a gap between the backends
# found later goes here, visibly, until it is fixed.
known='
'
# A case that needs something of one backend says so itself: the local
# identity (t_identity in tests/lib.sh), the store's name in messages
# (${CDT_STORE_URL:-cdt.db}), the store's own check (t6030 store_intact),
# another store (t1070 other).
set -u
cd "$(dirname "$0")/.."
export CDT_SRC=$PWD PATH=$PWD/bin:$PATH
. tests/pg.sh
out=$(mktemp -d "${TMPDIR:-/tmp}/cdt-pgpass.XXXXXX")
trap 't_pg_stop; rm -rf "$out"' EXIT
export T_PG_AUTH=trust
t_pg_start || { echo "test-pg: cannot start PostgreSQL" >&2; exit 1; }
export T_PG_SHARED=1
files=()
[ $# -gt 0 ] || set -- tests/t1*.sh tests/t3040-*.sh tests/t6*.sh
for f in "$@"; do
	case ${f##*/} in t1060-*|t2*) continue ;; esac
	files+=("$f")
done
printf '%s\n' "${files[@]}" |
	xargs -P "${PG_JOBS:-2}" -I{} sh -c 'bash {} >"$0/$(basename {}).tap" 2>&1' "$out"
(cd "$out" && prove --exec cat *.tap) | sed -n '/^Test Summary/,$p;/^All tests/p;/^Files=/p;/^Result/p' | awk '!seen[$0]++'
bad=0
for f in "${files[@]}"; do
	n=${f##*/}
	want=$(printf '%s\n' "$known" | sed -n "s/^$n: //p")
	got=$(sed -n 's/^not ok \([0-9]*\) .*/\1/p' "$out/$n.tap" | tr '\n' ' ')
	grep -q '^1\.\.' "$out/$n.tap" || got="$got(no plan)"
	extra=
	for c in $got; do
		case " $(echo $want) " in *" $c "*) ;; *) extra="$extra $c" ;; esac
	done
	if [ -n "$extra" ]; then
		echo "test-pg: $n: unexpected failures:$extra" >&2
		grep -A20 '^not ok' "$out/$n.tap" | head -60 >&2
		bad=1
	fi
done
k=$(echo $known)
[ $bad = 0 ] && echo "test-pg: PostgreSQL pass OK; allowed to fail: ${k:-none}"
exit $bad
