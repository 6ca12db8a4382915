#!/bin/bash
# examples/ci-checkpoint.sh runs, offline, and does what it says: the
# failing run keeps and pushes nothing, the passing one pushes
# ci/snapshots, and the branch the job built does not move.
. "$(dirname "$0")/lib.sh"

t_case 'examples/ci-checkpoint.sh runs to the end' '
	TMPDIR=$PWD sh "$SRC/examples/ci-checkpoint.sh" >out 2>err ||
		{ cat out err; exit 1; }
	t_grep "^\[exit 1\]$" out &&
	t_grep "refusing to checkpoint: the last command exited 1" out &&
	t_grep "(no ci/snapshots branch on the remote)" out &&
	t_grep "^checkpoint [0-9a-f]\{12\} on ci/snapshots: 1 file(s), pushed to origin refs/heads/ci/snapshots$" out &&
	t_grep "^main and the index did not move" out &&
	t_grep "^+echo \"hello, \$1!\"$" out &&
	! grep -q "?? .cdt" out &&
	[ -z "$(ls -A | grep cdt-ci)" ]
'

t_done
