#!/bin/sh
# make demo: the main job of cdt end to end, in a throw-away $CDT_HOME.
#
#	sh examples/demo.sh		offline: the model's answer is replayed
#	DEMO_LIVE=1 sh examples/demo.sh	a live provider of your configuration
#
# A session over a directory holding hello.c; the model is shown hello.c
# and asked for a Makefile; its answer is written into the workspace,
# built and run inside the session's sandbox (bubblewrap, no network), and
# the workspace is checkpointed into git only because that run passed.
#
# Offline, the answer comes from examples/cassettes/demo.jsonl, a cassette
# recorded from the fake provider (tests/t3050-chat-replay.sh re-records
# it and checks it is the same), through a provider of type replay; as
# root the whole demo runs in a new network namespace, so nothing can
# reach the network.  DEMO_LIVE=1 uses the providers of your configuration
# ($CDT_CONFIG, else ~/.config/cdt/config.yaml) with the keys from the
# environment (ANTHROPIC_API_KEY, ...) or your credentials.json.
set -eu
cd "$(dirname "$0")/.."
src=$PWD
PATH=$src/bin:$PATH
live=${DEMO_LIVE:-0}

# Offline and root: run again inside a network namespace of our own.
if [ "$live" != 1 ] && [ -z "${DEMO_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
	command -v unshare >/dev/null && unshare --net true 2>/dev/null; then
	DEMO_NETNS=1 exec unshare --net sh "$0" "$@"
fi

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
die() { echo "demo: $*" >&2; exit 1; }

top=$(mktemp -d "${TMPDIR:-/tmp}/cdt-demo.XXXXXX")
trap 'rm -rf "$top"' EXIT
# The user's configuration and keys, for a live run, before they go.
user_cfg=${CDT_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/cdt/config.yaml}
user_home=${CDT_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/cdt}
for v in $(env | sed -n 's/^\(CDT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export CDT_HOME=$top/home XDG_CONFIG_HOME=$top/config
mkdir -p "$CDT_HOME" "$XDG_CONFIG_HOME"

if [ "$live" = 1 ]; then
	if [ -f "$user_cfg" ]; then
		export CDT_CONFIG=$user_cfg
	fi
	if [ -f "$user_home/credentials.json" ]; then
		(umask 077 && cp "$user_home/credentials.json" "$CDT_HOME/")
	fi
	pick=$(cdt-route pick --no-stdin --jq '"\(.provider) (\(.model))"') ||
		die "DEMO_LIVE=1 needs a provider: set ANTHROPIC_API_KEY (or OPENAI_API_KEY, GEMINI_API_KEY, MOONSHOT_API_KEY), or configure one (cdt-route(1))"
	how="live, from $pick"
else
	export CDT_CONFIG=$top/config.yaml
	cat >"$CDT_CONFIG" <<EOF
providers:
  cassette: {type: replay, file: '$src/examples/cassettes/demo.jsonl'}
routing:
  priority: [cassette]
EOF
	how="replayed from examples/cassettes/demo.jsonl, offline"
	if [ -n "${DEMO_NETNS:-}" ]; then
		how="$how, in a network namespace of its own"
	fi
fi

# The project: a small C program, and no Makefile yet.
ws=$top/hello
mkdir -p "$ws"
cp "$src/examples/cassettes/hello.c" "$ws/"
printf 'hello\n' >"$ws/.gitignore"

echo "cdt demo: the model's answer is $how"
echo "workspace: $ws"
say "a session over the workspace; show the model hello.c; write its answer; build and run it in the sandbox; checkpoint it only if that worked"
cat <<'EOF'
cdt-session create -C WS | cdt-files read hello.c |
  cdt-chat --edit "add a Makefile for hello.c" | cdt-files write |
  cdt-session exec -- sh -c 'make && ./hello' |
  cdt-checkpoint create --require-success -m "demo: the model's Makefile"
EOF
echo
cdt-session create -C "$ws" |
	cdt-files read hello.c |
	cdt-chat --edit "add a Makefile for hello.c" |
	cdt-files write |
	cdt-session exec -- sh -c 'make && ./hello' |
	cdt-checkpoint create --require-success \
		-m "demo: the model's Makefile" >"$top/run.jsonl"
# Everything but the prompt (hello.c again) as a person reads it.
jq -c 'select(.type != "message" or .role != "user")' "$top/run.jsonl" |
	cdt render
CDT_SESSION=$(jq -r 'select(.type == "session") | .id' "$top/run.jsonl")
export CDT_SESSION

say "cdt-checkpoint list"
cdt-checkpoint list --no-stdin >"$top/list.jsonl"
cdt render <"$top/list.jsonl"

say "cdt-route status"
cdt-route status --no-stdin >"$top/route.jsonl"
cdt render <"$top/route.jsonl"

say "what happened"
jq -r -s --arg how "$how" '
	(map(select(.type == "message" and .role == "assistant")) | last) as $m |
	(map(select(.type == "file" and .unchanged == false)) | map(.path)) as $w |
	(map(select(.type == "exec" and .stream == "stdout")) | last) as $o |
	(map(select(.type == "exit")) | last) as $x |
	(map(select(.type == "checkpoint")) | last) as $c |
	"the answer (\($m.provider)/\($m.model), \($how)) wrote: \($w | join(", "))",
	"make && ./hello in the sandbox exited \($x.code) in \($x.duration_ms) ms, saying: \($o.data | rtrimstr("\n"))",
	"checkpoint \($c.sha[0:12]) on \($c.branch): \($c.files_changed) file(s), \"\($c.message | split("\n")[0])\""
	' "$top/run.jsonl"
git -C "$ws" log --stat --format='  %h %an: %s%n  %(trailers:only,unfold)' \
	"coditect/session-$CDT_SESSION" | sed '/^$/d; s/^ */  /'
