#!/bin/sh
# Let a model write files into a directory: the files already there go
# along as context, its answer's file and edit blocks become files.
#
#	examples/chat-to-files.sh DIR "PROMPT"
#
# e.g.	examples/chat-to-files.sh site "add a 404 page in the style of index.html"
#
# The pipeline:
#
#	cdt-files -C DIR ls -r --jq 'select(.node_type == "file")' |
#	  cdt-files -C DIR read | cdt-chat --edit "PROMPT" |
#	  cdt-files -C DIR write | cdt render
#
# cdt-files write checks every path (no .., no symlink leading out) and
# writes all the files or none; an edit whose base changed meanwhile is
# refused (75).  The provider is whichever cdt-route(1) picks: set
# ANTHROPIC_API_KEY or another provider's key.  A reply without any file
# block writes nothing and exits 1.
set -eu
[ $# -eq 2 ] || { echo "usage: chat-to-files.sh DIR PROMPT" >&2; exit 64; }
dir=$1 prompt=$2
mkdir -p "$dir"
out=$(mktemp "${TMPDIR:-/tmp}/cdt-chat-files.XXXXXX")
trap 'rm -f "$out"' EXIT
cdt-files -C "$dir" ls -r --no-input --jq 'select(.node_type == "file")' </dev/null |
	cdt-files -C "$dir" read |
	cdt-chat --edit "$prompt" |
	cdt-files -C "$dir" write >"$out"
cdt render <"$out"
# What the model wrote, as opposed to the context it was shown.
n=$(jq -r 'select(.type == "file" and .unchanged == false) | .path' "$out" |
	tee /dev/stderr | wc -l)
[ "$n" -gt 0 ] || { echo "chat-to-files.sh: the reply had no file blocks; nothing written" >&2; exit 1; }
echo "$n file(s) written in $dir"
