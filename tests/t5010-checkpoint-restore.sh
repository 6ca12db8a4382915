#!/bin/bash
# cdt-checkpoint restore: never loses work, never restores through a
# symlink, never removes what is not tracked, can be run again to
# completion.  The work tree is compared with `git archive` of the commit.
. "$(dirname "$0")/lib.sh"

export GIT_AUTHOR_NAME='Cee Dee' GIT_AUTHOR_EMAIL=cd@example.com
export GIT_COMMITTER_NAME='Cee Dee' GIT_COMMITTER_EMAIL=cd@example.com

mkws() {
	mkdir -p ws/src ws/docs &&
	printf 'hello\n' >ws/a.txt &&
	printf 'one\ntwo\n' >ws/src/b.c &&
	printf '# docs\n' >ws/docs/readme.md &&
	printf '#!/bin/sh\n' >ws/run.sh && chmod 755 ws/run.sh &&
	ln -s a.txt ws/link &&
	printf '*.log\n' >ws/.gitignore
}

# same_as REF: the work tree (less .git, .cdt and ignored *.log files)
# is exactly the tree of REF.
same_as() {
	rm -rf want && mkdir want &&
	git -C ws archive "$1" | tar -x -C want &&
	diff -r --no-dereference -x .git -x .cdt -x "*.log" want ws
}

t_case 'restore over a dirty work tree keeps the dirty state first' '
	mkws && cdt-checkpoint -C ws create -m v1 >v1 &&
	echo v2 >>ws/a.txt && cdt-checkpoint -C ws create -m v2 >/dev/null &&
	echo dirty >>ws/a.txt && echo brand-new >ws/src/new.c &&
	rm ws/docs/readme.md &&
	cdt-checkpoint -C ws restore "$(jq -r .sha v1)" >out 2>err &&
	t_lines 2 out &&
	sed -n 1p out | jq -e ".message | startswith(\"before restoring\")" &&
	kept=$(sed -n 1p out | jq -r .sha) &&
	git -C ws show "$kept:a.txt" >k && printf "hello\nv2\ndirty\n" >w &&
	t_cmp w k &&
	[ "$(git -C ws show "$kept:src/new.c")" = brand-new ] &&
	! git -C ws cat-file -e "$kept:docs/readme.md" 2>/dev/null &&
	sed -n 2p out | jq -e ".message == \"v1\" and
		.restored.written >= 2 and .restored.removed == 1" &&
	same_as "$(jq -r .sha v1)" &&
	[ "$(git -C ws rev-parse HEAD)" = "$kept" ] &&
	git -C ws fsck --strict
'

t_case 'restore of a clean work tree makes no extra checkpoint' '
	mkws && cdt-checkpoint -C ws create -m v1 >/dev/null &&
	echo two >>ws/a.txt && cdt-checkpoint -C ws create -m v2 >/dev/null &&
	cdt-checkpoint -C ws restore HEAD~1 >out &&
	t_lines 1 out && jq -e ".message == \"v1\"" out &&
	same_as HEAD~1 && [ "$(git -C ws rev-list --count HEAD)" = 2 ]
'

t_case 'restore removes only tracked paths; ignored files stay' '
	mkws && cdt-checkpoint -C ws create -m v1 >/dev/null &&
	mkdir -p ws/extra/deep && echo t >ws/extra/deep/t.txt &&
	echo keep >ws/notes.log && echo keep >ws/extra/deep/x.log &&
	cdt-checkpoint -C ws create -m v2 >/dev/null &&
	cdt-checkpoint -C ws restore HEAD~1 >out &&
	[ ! -e ws/extra/deep/t.txt ] &&
	[ "$(cat ws/notes.log)" = keep ] &&
	[ "$(cat ws/extra/deep/x.log)" = keep ] &&
	rm -r ws/extra && same_as HEAD~1 &&
	mkdir -p ws/gone/a && echo g >ws/gone/a/g &&
	cdt-checkpoint -C ws create -m v3 >/dev/null &&
	cdt-checkpoint -C ws restore HEAD~1 >/dev/null &&
	[ ! -e ws/gone ] && same_as HEAD~1
'

t_case 'restore PATH...: only those paths change' '
	mkws && cdt-checkpoint -C ws create -m v1 >/dev/null &&
	echo 2 >>ws/a.txt && echo 2 >>ws/src/b.c && echo 2 >ws/src/c.c &&
	cdt-checkpoint -C ws create -m v2 >/dev/null &&
	cdt-checkpoint -C ws restore HEAD~1 src >out &&
	[ "$(cat ws/a.txt)" = "$(printf "hello\n2")" ] &&
	git -C ws show HEAD~1:src/b.c >b && t_cmp b ws/src/b.c &&
	[ ! -e ws/src/c.c ] &&
	cdt-checkpoint -C ws restore HEAD a.txt >/dev/null &&
	[ "$(cat ws/a.txt)" = "$(printf "hello\n2")" ] &&
	t_fails 66 cdt-checkpoint -C ws restore HEAD nothing/here 2>err &&
	t_grep "no .nothing/here." err &&
	t_fails 65 cdt-checkpoint -C ws restore HEAD ../x 2>err &&
	t_fails 77 cdt-checkpoint -C ws restore HEAD .git/config 2>err
'

t_case 'an untracked file in the way is 73 and nothing is restored' '
	mkws && echo data >ws/out.log && cdt-checkpoint -C ws create >/dev/null &&
	rm ws/out.log &&
	printf "*.log\n" >ws/.gitignore &&
	git -C ws rm -q --cached .gitignore && printf "" >ws/.gitignore &&
	echo tracked >ws/out.log && cdt-checkpoint -C ws create >/dev/null &&
	c2=$(git -C ws rev-parse HEAD) &&
	git -C ws show HEAD:out.log >/dev/null &&
	printf "*.log\n" >ws/.gitignore && git -C ws rm -q --cached out.log &&
	cdt-checkpoint -C ws create -m "drop out.log" >/dev/null &&
	echo precious >ws/out.log && echo x >>ws/a.txt &&
	t_fails 73 cdt-checkpoint -C ws restore "$c2" >out 2>err &&
	t_grep "out.log" err && t_grep "untracked" err &&
	[ "$(cat ws/out.log)" = precious ] &&
	[ "$(cat ws/a.txt)" = "$(printf "hello\nx")" ]
'

t_case 'never restores through a symlink' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	c1=$(git -C ws rev-parse HEAD) &&
	rm -r ws/docs && mkdir outside && ln -s ../outside ws/docs &&
	printf "docs\n" >>ws/.gitignore &&
	cdt-checkpoint -C ws create >/dev/null &&
	t_fails 73 cdt-checkpoint -C ws restore "$c1" >out 2>err &&
	t_grep "docs" err && [ -z "$(ls -A outside)" ] &&
	[ -L ws/docs ]
'

t_case 'a tracked symlink where a directory comes back is replaced' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	c1=$(git -C ws rev-parse HEAD) &&
	rm -r ws/docs && mkdir outside && ln -s ../outside ws/docs &&
	cdt-checkpoint -C ws create >/dev/null &&
	cdt-checkpoint -C ws restore "$c1" >/dev/null &&
	[ -d ws/docs ] && [ ! -L ws/docs ] && [ -z "$(ls -A outside)" ] &&
	same_as "$c1"
'

t_case 'modes and symlinks come back as they were' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	chmod 644 ws/run.sh && rm ws/link && echo file >ws/link &&
	cdt-checkpoint -C ws create >/dev/null &&
	cdt-checkpoint -C ws restore HEAD~1 >/dev/null &&
	[ -x ws/run.sh ] && [ -L ws/link ] &&
	[ "$(readlink ws/link)" = a.txt ] && same_as HEAD~1
'

t_case 'a half-done restore can be run again to completion' '
	mkws && mkdir ws/many &&
	for i in $(seq 1 60); do echo "v1 $i" >ws/many/f$i; done &&
	cdt-checkpoint -C ws create -m v1 >/dev/null &&
	c1=$(git -C ws rev-parse HEAD) &&
	for i in $(seq 1 60); do echo "v2 $i" >ws/many/f$i; done &&
	for i in $(seq 61 80); do echo "v2 $i" >ws/many/f$i; done &&
	cdt-checkpoint -C ws create -m v2 >/dev/null &&
	for i in $(seq 1 30); do echo "v1 $i" >ws/many/f$i; done &&
	rm ws/many/f7[0-9] &&
	cdt-checkpoint -C ws restore "$c1" >out &&
	t_lines 2 out && same_as "$c1" &&
	kept=$(sed -n 1p out | jq -r .sha) &&
	[ "$(git -C ws show "$kept:many/f40")" = "v2 40" ] &&
	[ "$(git -C ws show "$kept:many/f5")" = "v1 5" ]
'

t_case 'a restore killed with SIGKILL, run again, completes' '
	mkdir -p ws/d && for i in $(seq 1 3000); do echo "one $i" >ws/d/f$i; done &&
	cdt-checkpoint -C ws create -m one >/dev/null &&
	c1=$(git -C ws rev-parse HEAD) &&
	for i in $(seq 1 3000); do echo "two $i" >ws/d/f$i; done &&
	cdt-checkpoint -C ws create -m two >/dev/null &&
	for delay in 0.02 0.08 0.2; do
		cdt-checkpoint -C ws restore "$c1" >/dev/null 2>&1 &
		pid=$! && sleep $delay && kill -9 $pid 2>/dev/null;
		wait $pid 2>/dev/null;
		git -C ws fsck --strict >fsck 2>&1 || { cat fsck; exit 1; }
		cdt-checkpoint -C ws restore "$c1" >out 2>err ||
			{ cat err; exit 1; }
		same_as "$c1" || exit 1
		cdt-checkpoint -C ws restore HEAD~0 >/dev/null 2>&1 || exit 1
		git -C ws checkout -q -f master -- . 2>/dev/null
		cdt-checkpoint -C ws create >/dev/null || exit 1
	done &&
	[ -z "$(ls -A ws/.cdt/tmp)" ] || [ "$(ls ws/.cdt/tmp | wc -l)" -le 3 ]
'

t_case 'diff | git apply undoes what restore did' '
	mkws && cdt-checkpoint -C ws create -m v1 >/dev/null &&
	echo 2 >>ws/a.txt && rm ws/src/b.c &&
	cdt-checkpoint -C ws create -m v2 >/dev/null &&
	cdt-checkpoint -C ws restore HEAD~1 >/dev/null &&
	cdt-checkpoint -C ws diff HEAD~1 HEAD >p &&
	(cd ws && git apply "$OLDPWD/p") && same_as HEAD
'

t_case 'restore: unknown REF 66, no repository 66, upstream error stops it' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	t_fails 66 cdt-checkpoint -C ws restore nosuch 2>err &&
	t_fails 64 cdt-checkpoint -C ws restore 2>err &&
	mkdir empty && t_fails 66 cdt-checkpoint -C empty restore HEAD 2>err &&
	echo changed >ws/a.txt &&
	echo "{\"type\":\"error\",\"tool\":\"cdt-x\",\"code\":69,\"class\":\"overloaded\",\"message\":\"down\"}" |
		t_fails 69 cdt-checkpoint -C ws restore HEAD >out 2>err &&
	[ "$(cat ws/a.txt)" = changed ] &&
	[ "$(git -C ws rev-list --count HEAD)" = 1 ]
'

t_case 'restore --branch keeps the state on that branch, HEAD stays' '
	mkws && cdt-checkpoint -C ws create -m base >/dev/null &&
	head=$(git -C ws rev-parse HEAD) &&
	echo snap >>ws/a.txt &&
	cdt-checkpoint -C ws create --branch snaps -m s1 >/dev/null &&
	echo dirty >>ws/a.txt &&
	cdt-checkpoint -C ws restore --branch snaps "$head" >out &&
	t_lines 2 out && sed -n 1p out | jq -e ".branch == \"snaps\"" &&
	[ "$(git -C ws rev-parse HEAD)" = "$head" ] &&
	[ "$(git -C ws rev-list --count snaps)" = 3 ] && same_as "$head"
'

t_done
