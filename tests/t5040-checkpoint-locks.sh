#!/bin/bash
# cdt-checkpoint under concurrency and crashes: creates released together
# by a FIFO barrier all land in order or fail cleanly with 75; a
# checkpoint killed with SIGKILL leaves a valid repository and the next
# one clears the dead process's locks and succeeds; a live holder's locks
# are never touched.
. "$(dirname "$0")/lib.sh"

export GIT_AUTHOR_NAME='Cee Dee' GIT_AUTHOR_EMAIL=cd@example.com
export GIT_COMMITTER_NAME='Cee Dee' GIT_COMMITTER_EMAIL=cd@example.com

# race N CMD...: N copies of CMD (each given its index as $RACE_I) held
# at a FIFO until all are ready, then released at once; exit codes in
# rc.1 ... rc.N.
race() {
	n=$1
	shift
	rm -f go ready.* rc.*
	mkfifo go
	for i in $(seq 1 "$n"); do
		(
			: >ready.$i
			read -r _ <go
			RACE_I=$i "$@" >out.$i 2>err.$i
			echo $? >rc.$i
		) &
	done
	for t in $(seq 1 400); do
		[ "$(ls ready.* 2>/dev/null | wc -l)" -eq "$n" ] && break
		sleep 0.01
	done
	# One writer opening the FIFO wakes every reader at once.
	for i in $(seq 1 "$n"); do echo; done >go
	wait
}

overlay_own_file() {
	echo "{\"type\":\"file\",\"path\":\"by/$RACE_I\",\"content\":\"$RACE_I\\n\"}" |
		cdt-checkpoint -C ws create --from-records -m "by $RACE_I"
}
export -f overlay_own_file

t_case 'two creates at once: both land in order, or one exits 75' '
	mkdir ws && echo base >ws/base && cdt-checkpoint -C ws create >/dev/null &&
	race 2 bash -c overlay_own_file &&
	ok=0 && for i in 1 2; do
		rc=$(cat rc.$i) &&
		case $rc in
		0) ok=$((ok + 1)) ;;
		75) t_grep "locked" err.$i || exit 1 ;;
		*) echo "create $i exited $rc" >&2; cat err.$i >&2; exit 1 ;;
		esac
	done &&
	[ $ok -ge 1 ] &&
	[ "$(git -C ws rev-list --count HEAD)" = $((ok + 1)) ] &&
	git -C ws ls-tree -r --name-only HEAD | grep -c "^by/" >n &&
	[ "$(cat n)" = $ok ] && git -C ws fsck --strict
'

t_case 'eight creates at once on one work tree: one tree, a valid repo' '
	mkdir ws && for i in $(seq 1 50); do echo $i >ws/f$i; done &&
	race 8 cdt-checkpoint -C ws create &&
	made=0 && for i in $(seq 1 8); do
		rc=$(cat rc.$i) &&
		case $rc in
		0) if jq -e ".unchanged == false" out.$i >/dev/null; then
			made=$((made + 1)); fi ;;
		75) ;;
		*) echo "create $i exited $rc" >&2; cat err.$i >&2; exit 1 ;;
		esac
	done &&
	[ $made = 1 ] && [ "$(git -C ws rev-list --count HEAD)" = 1 ] &&
	git -C ws fsck --strict && git -C ws status --porcelain >st &&
	t_lines 0 st
'

t_case 'a create killed with SIGKILL: valid repository, the next succeeds' '
	mkdir -p ws/d && for i in $(seq 1 4000); do echo "f $i" >ws/d/f$i; done &&
	for delay in 0.01 0.03 0.06 0.1 0.2 0.4; do
		for i in $(seq 1 4000); do echo "$delay" >>ws/d/f$i; done
		cdt-checkpoint -C ws create >/dev/null 2>&1 &
		pid=$! && sleep $delay && kill -9 $pid 2>/dev/null
		wait $pid 2>/dev/null
		if [ -e ws/.git/HEAD ] && git -C ws rev-parse -q --verify HEAD \
			>/dev/null; then
			git -C ws fsck --strict >fsck 2>&1 ||
				{ cat fsck; exit 1; }
		fi
		cdt-checkpoint -C ws create >out 2>err || { cat err; exit 1; }
		git -C ws fsck --strict >fsck 2>&1 || { cat fsck; exit 1; }
		git -C ws count-objects -v >co && t_grep "^garbage: 0" co ||
			exit 1
		git -C ws status --porcelain >st && t_lines 0 st || exit 1
		git -C ws ls-tree -r HEAD >lt && t_lines 4000 lt || exit 1
		git -C ws show HEAD:d/f9 | tail -n 1 >last &&
		echo $delay >w && t_cmp w last || exit 1
	done
'

t_case 'a dead holder: its lock line and libgit2 locks are cleared' '
	mkdir ws && echo a >ws/a && cdt-checkpoint -C ws create >/dev/null &&
	{ sleep 0.01 & dead=$!; } && wait $dead &&
	printf "%s 12345 %s cdt-checkpoint\n" $dead \
		"$(date +%s%N)" >ws/.cdt/checkpoint.lock &&
	: >ws/.git/index.lock && : >ws/.git/refs/heads/master.lock &&
	: >ws/.git/objects/tmp_object_git2_AbCdEf &&
	mkdir -p ws/.git/objects/pack ws/.git/objects/ab &&
	: >ws/.git/objects/ab/tmp_object_git2_XyZ &&
	p=ws/.git/objects/pack/pack-0123456789abcdef0123456789abcdef01234567 &&
	: >$p.pack && : >ws/.git/objects/pack/pack_git2_0123 &&
	echo b >ws/b &&
	cdt-checkpoint -C ws create >out 2>err &&
	t_grep "pid $dead" err && t_grep "died holding the lock" err &&
	[ ! -e ws/.git/index.lock ] && [ ! -e ws/.git/refs/heads/master.lock ] &&
	[ ! -e ws/.git/objects/tmp_object_git2_AbCdEf ] &&
	[ ! -e ws/.git/objects/ab/tmp_object_git2_XyZ ] && [ ! -e $p.pack ] &&
	[ ! -e ws/.git/objects/pack/pack_git2_0123 ] &&
	git -C ws count-objects -v >co && t_grep "^garbage: 0" co &&
	jq -e ".files_changed == 1" out &&
	[ ! -s ws/.cdt/checkpoint.lock ] && git -C ws fsck --strict
'

t_case 'a dead holder does not answer for older lock files' '
	mkdir ws && echo a >ws/a && cdt-checkpoint -C ws create >/dev/null &&
	{ sleep 0.01 & dead=$!; } && wait $dead &&
	: >ws/.git/index.lock && touch -d "-1 hour" ws/.git/index.lock &&
	printf "%s 0 %s cdt-checkpoint\n" $dead \
		"$(date +%s%N)" >ws/.cdt/checkpoint.lock &&
	echo b >ws/b &&
	t_fails 75 cdt-checkpoint -C ws create >out 2>err &&
	t_grep "index is locked" err && [ -e ws/.git/index.lock ]
'

t_case 'a live holder is never cleared: busy, its locks kept (75)' '
	mkdir ws && echo a >ws/a && cdt-checkpoint -C ws create >/dev/null &&
	{ sleep 30 & live=$!; } &&
	start=$(cut -d")" -f2- /proc/$live/stat | cut -d" " -f21) &&
	t0=$(date +%s%N) &&
	printf "%s %s %s cdt-checkpoint\n" $live $start $t0 \
		>ws/.cdt/checkpoint.lock &&
	: >ws/.git/index.lock &&
	echo b >ws/b &&
	t_fails 75 cdt-checkpoint -C ws create >out 2>err; rc=$?;
	kill $live; wait $live 2>/dev/null;
	[ $rc = 0 ] && t_grep "pid $live" err && [ -e ws/.git/index.lock ] &&
	tail -n 1 out | jq -e ".code == 75 and .class == \"conflict\"" &&
	printf "%s 1 %s cdt-checkpoint\n" $$ "$t0" >ws/.cdt/checkpoint.lock &&
	cdt-checkpoint -C ws create >out 2>err &&
	t_grep "died holding" err && [ ! -e ws/.git/index.lock ]
'

t_case 'a lock held with flock(1) is 75 after the wait' '
	mkdir ws && echo a >ws/a && mkdir ws/.cdt &&
	{ flock -o ws/.cdt/checkpoint.lock sleep 8 & holder=$!; } &&
	sleep 0.3 &&
	s=$(date +%s%N) &&
	t_fails 75 cdt-checkpoint -C ws create >out 2>err; rc=$?;
	e=$(date +%s%N); kill $(pgrep -P $holder) $holder;
	wait $holder 2>/dev/null;
	[ $rc = 0 ] && t_grep "locked" err &&
	[ $(( (e - s) / 1000000 )) -ge 2500 ] &&
	cdt-checkpoint -C ws create >/dev/null
'

t_case 'git holding index.lock (no cdt holder) is 75, not cleared' '
	mkdir ws && echo a >ws/a && cdt-checkpoint -C ws create >/dev/null &&
	: >ws/.git/index.lock && echo b >ws/b &&
	t_fails 75 cdt-checkpoint -C ws create >out 2>err &&
	t_grep "index is locked" err && [ -e ws/.git/index.lock ] &&
	rm ws/.git/index.lock && cdt-checkpoint -C ws create >/dev/null
'

t_done
