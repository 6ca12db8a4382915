#!/bin/sh
# Ask a model to review the uncommitted changes of a git work tree.
#
#	examples/review.sh [DIR]		(default: the current directory)
#
# It is one pipeline:
#
#	git diff | cdt-chat -s "review this diff" --text
#
# The provider is whichever cdt-route(1) picks: set ANTHROPIC_API_KEY (or
# OPENAI_API_KEY, GEMINI_API_KEY, MOONSHOT_API_KEY), or CDT_PROVIDER and
# CDT_CONFIG for providers of your own.  With nothing to review it says so
# and exits 66 (cdt's "no input"), without calling a provider.
set -eu
cd "${1:-.}"
git rev-parse --git-dir >/dev/null ||
	{ echo "review.sh: ${1:-.} is not a git work tree" >&2; exit 66; }
# Staged and unstaged changes alike: the diff against HEAD.
if git diff --quiet HEAD --; then
	echo "review.sh: no changes to review (git diff HEAD is empty)" >&2
	exit 66
fi
git diff HEAD | cdt-chat -s "review this diff" --text
