#!/bin/sh
# make demo: what works end to end today, offline, in a throw-away
# directory.  The whole pipeline of the README (sessions, chat, checkpoints)
# joins this script as the later issues land.
set -eu
cd "$(dirname "$0")/.."
PATH=$PWD/bin:$PATH
export CDT_HOME="${TMPDIR:-/tmp}/cdt-demo-home.$$"
ws=$(mktemp -d "${TMPDIR:-/tmp}/cdt-demo.XXXXXX")
trap 'rm -rf "$ws" "$CDT_HOME"' EXIT
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
else
	say() { printf '\n$ %s\n' "$*"; }
fi

say "a model's answer as file records, written into a workspace"
cat >"$ws.in" <<'JSON'
{"type":"message","role":"assistant","id":"m1","content":"Here is hello.c and a Makefile."}
{"type":"file","path":"hello.c","content":"#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"}
{"type":"file","path":"Makefile","content":"hello: hello.c\n\tcc -o hello hello.c\n"}
JSON
cdt-files -C "$ws" write <"$ws.in" | cdt render
rm -f "$ws.in"

say "cdt-files -C WS ls -r --text"
cdt-files -C "$ws" ls -r --text

say "cdt-files -C WS read hello.c | jq .sha256"
cdt-files -C "$ws" read hello.c | jq -r .sha256

say "build it with the workspace's Makefile (the sandboxed exec comes with cdt-session)"
make -s -C "$ws" hello && "$ws/hello"

say "a hostile path is refused and nothing is written (exit 65)"
echo '{"type":"file","path":"../escape","content":"x"}' |
	cdt-files -C "$ws" write --json || echo "exit $?"

say "a failure upstream travels down the pipe: nothing is written, its code is kept"
printf '%s\n' '{"type":"file","path":"late.txt","content":"x"}' \
	'{"type":"error","tool":"cdt-chat","code":69,"class":"overloaded","message":"no provider could serve"}' |
	cdt-files -C "$ws" write | cdt render || echo "exit $?"
test ! -e "$ws/late.txt" && echo "late.txt was not written"
