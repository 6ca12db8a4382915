#!/bin/sh
# Ask the same question about several files at once, each file in its own
# conversation, JOBS at a time (default 4), one answer file per input
# (its path with / as _, plus .txt).
#
#	examples/batch.sh OUTDIR "PROMPT" FILE...
#
# e.g.	examples/batch.sh reviews "find the bugs in this file" src/*.c
#
# Each file goes through its own pipeline, run by xargs -P:
#
#	cdt-files -C DIR read NAME | cdt-chat "PROMPT" --text >OUTDIR/DIR_NAME.txt
#
# so it is sent with its path and sha256, and each answer starts its own
# conversation (cdt-chat log --conversation ID shows one).  The provider is
# whichever cdt-route(1) picks (set ANTHROPIC_API_KEY or another key); the
# router's breakers are shared through the store, so a provider failing for
# one file is skipped by the others.  Exits non-zero when any file failed,
# naming it.
set -eu
[ $# -ge 3 ] || { echo "usage: batch.sh OUTDIR PROMPT FILE..." >&2; exit 64; }
out=$1 prompt=$2
shift 2
mkdir -p "$out"
export BATCH_OUT=$out BATCH_PROMPT=$prompt
for f in "$@"; do
	[ -f "$f" ] || { echo "batch.sh: no such file: $f" >&2; exit 66; }
done
printf '%s\0' "$@" | xargs -0 -n 1 -P "${JOBS:-4}" sh -c '
	f=$1 dir=$(dirname "$1") name=$(basename "$1")
	o=$BATCH_OUT/$(printf %s "$f" | tr / _).txt
	if cdt-files -C "$dir" read "$name" |
		cdt-chat "$BATCH_PROMPT" --text >"$o.tmp"
	then
		mv "$o.tmp" "$o"
		echo "$f -> $o"
	else
		rm -f "$o.tmp"
		echo "batch.sh: $f failed" >&2
		exit 1
	fi' sh || { echo "batch.sh: some files failed (above)" >&2; exit 1; }
