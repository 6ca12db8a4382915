#!/bin/bash
# cdt-checkpoint create, list, show and diff on a plain directory (-C DIR),
# every result checked with the git command-line client.
. "$(dirname "$0")/lib.sh"

export GIT_AUTHOR_NAME='Cee Dee' GIT_AUTHOR_EMAIL=cd@example.com
export GIT_COMMITTER_NAME='Cee Dee' GIT_COMMITTER_EMAIL=cd@example.com

# A small workspace: text, a subdirectory, a binary file, an executable.
mkws() {
	mkdir -p ws/src &&
	printf 'hello\n' >ws/a.txt &&
	printf 'one\ntwo\nthree\n' >ws/src/b.c &&
	head -c 2000 /dev/urandom >ws/blob.bin &&
	printf '#!/bin/sh\necho hi\n' >ws/run.sh && chmod 755 ws/run.sh
}

t_case 'create: first checkpoint of a plain directory, as git sees it' '
	mkws &&
	cdt-checkpoint -C ws create -m "first one" >out 2>err &&
	t_lines 1 out &&
	jq -e ".type == \"checkpoint\" and .branch == \"master\" and
		.session_id == null and .message == \"first one\" and
		.unchanged == false and .files_changed == 4 and
		.insertions == 6 and .deletions == 0 and .parent == null and
		(.created_at | test(\"^[0-9-]{10}T[0-9:]{8}Z$\"))" out &&
	sha=$(jq -r .sha out) &&
	[ "$(git -C ws rev-parse HEAD)" = "$sha" ] &&
	git -C ws log -1 --format="%an <%ae>|%s" >got &&
	echo "Cee Dee <cd@example.com>|first one" >want && t_cmp want got &&
	git -C ws fsck --strict 2>&1 | tee fsck && ! grep -v "^Checking" fsck &&
	git -C ws status --porcelain >st && t_lines 0 st &&
	git -C ws show HEAD:src/b.c >b && t_cmp ws/src/b.c b &&
	git -C ws show HEAD:blob.bin >bl && cmp ws/blob.bin bl &&
	git -C ws ls-tree HEAD run.sh | grep -q "^100755 " &&
	git -C ws show --numstat --format= HEAD |
		awk "{ if (\$1 != \"-\") i += \$1 } END { print i }" >n &&
	[ "$(cat n)" = 6 ]
'

t_case 'create: unchanged makes no commit; --exit-code then exits 1' '
	mkws && cdt-checkpoint -C ws create -m one >first &&
	cdt-checkpoint -C ws create -m two >out &&
	jq -e ".unchanged == true and .files_changed == 0 and
		.message == \"one\"" out &&
	[ "$(jq -r .sha out)" = "$(jq -r .sha first)" ] &&
	[ "$(git -C ws rev-list --count HEAD)" = 1 ] &&
	t_fails 1 cdt-checkpoint -C ws create --exit-code >out2 2>err &&
	t_lines 1 out2 && t_lines 0 err && jq -e .unchanged out2 &&
	echo more >>ws/a.txt &&
	cdt-checkpoint -C ws create --exit-code >out3 &&
	jq -e ".unchanged == false and .files_changed == 1 and
		.insertions == 1 and .parent == \"$(jq -r .sha first)\"" out3
'

t_case 'create: an empty directory is unchanged, with no sha' '
	mkdir ws && cdt-checkpoint -C ws create >out &&
	jq -e ".unchanged == true and .sha == null" out &&
	t_fails 1 cdt-checkpoint -C ws create --exit-code >/dev/null
'

t_case 'create: .gitignore honoured, .cdt never committed' '
	mkws && printf "*.log\nbuild/\n" >ws/.gitignore &&
	echo noise >ws/x.log && mkdir ws/build && echo o >ws/build/o &&
	mkdir -p ws/.cdt && echo state >ws/.cdt/state &&
	cdt-checkpoint -C ws create >/dev/null &&
	git -C ws ls-tree -r --name-only HEAD >names &&
	! grep -e "x.log" -e "^build/" -e "^\.cdt" names &&
	t_grep "^.gitignore$" names &&
	git -C ws add -f .cdt/state &&
	echo change >>ws/a.txt &&
	cdt-checkpoint -C ws create >/dev/null &&
	git -C ws ls-tree -r --name-only HEAD >names2 &&
	! grep "^\.cdt" names2 &&
	git -C ws status --porcelain >st && t_lines 0 st
'

t_case 'create: symlinks stored as symlinks (120000), never followed' '
	mkws && mkdir out && echo secret >out/s &&
	ln -s a.txt ws/link && ln -s ../out ws/outside &&
	ln -s /nonexistent ws/dangling &&
	cdt-checkpoint -C ws create >/dev/null &&
	git -C ws ls-tree HEAD link outside dangling >lt &&
	[ "$(grep -c "^120000 blob" lt)" = 3 ] &&
	[ "$(git -C ws cat-file -p HEAD:outside)" = ../out ] &&
	! git -C ws ls-tree -r --name-only HEAD | grep -q "^outside/"
'

t_case 'create: a file over the size cap is refused, naming it (65)' '
	mkws && printf "checkpoint:\n  max_file_size: 2K\n" >cfg.yaml &&
	head -c 3000 /dev/zero >ws/big.dat &&
	CDT_CONFIG=$PWD/cfg.yaml t_fails 65 cdt-checkpoint -C ws create \
		>out 2>err &&
	t_grep "big.dat" err && t_grep "max_file_size" err &&
	jq -e "select(.type == \"error\") | .code == 65" out &&
	! git -C ws rev-parse -q --verify HEAD &&
	echo big.dat >ws/.gitignore &&
	CDT_CONFIG=$PWD/cfg.yaml cdt-checkpoint -C ws create >/dev/null &&
	! git -C ws ls-tree -r --name-only HEAD | grep -q big.dat
'

t_case 'create: the default cap is 50M' '
	mkws && truncate -s 51M ws/huge &&
	t_fails 65 cdt-checkpoint -C ws create >out 2>err &&
	t_grep "huge" err && t_grep "52428800" err &&
	truncate -s 50M ws/huge &&
	cdt-checkpoint -C ws create >/dev/null &&
	[ "$(git -C ws cat-file -s HEAD:huge)" = 52428800 ]
'

t_case 'create --branch: commits beside HEAD, index and HEAD untouched' '
	mkws && cdt-checkpoint -C ws create -m base >base &&
	head=$(git -C ws rev-parse HEAD) &&
	sum=$(sha256sum <ws/.git/index) &&
	echo dirty >>ws/a.txt && echo new >ws/new.txt &&
	cdt-checkpoint -C ws create --branch ci/snap -m snap >out &&
	jq -e ".branch == \"ci/snap\" and .parent == \"$head\" and
		.files_changed == 2" out &&
	[ "$(git -C ws rev-parse HEAD)" = "$head" ] &&
	[ "$(git -C ws symbolic-ref HEAD)" = refs/heads/master ] &&
	[ "$(sha256sum <ws/.git/index)" = "$sum" ] &&
	git -C ws show ci/snap:new.txt >n && echo new >w && t_cmp w n &&
	git -C ws status --porcelain >st && t_grep "^ M a.txt" st &&
	t_grep "^?? new.txt" st &&
	cdt-checkpoint -C ws create --branch ci/snap >again &&
	jq -e .unchanged again &&
	echo more >>ws/new.txt &&
	cdt-checkpoint -C ws create --branch ci/snap >third &&
	jq -e ".parent == \"$(jq -r .sha out)\" and .files_changed == 1" \
		third &&
	git -C ws fsck --strict
'

t_case 'create --branch with a bad name is 65' '
	mkws && t_fails 65 cdt-checkpoint -C ws create --branch "a..b" 2>err &&
	t_grep "bad branch name" err
'

t_case 'create: no author is 78 and says what to set; git config works' '
	mkws &&
	env -u GIT_AUTHOR_NAME -u GIT_AUTHOR_EMAIL -u EMAIL \
		cdt-checkpoint -C ws create >out 2>err; rc=$?;
	[ $rc = 78 ] && t_grep "GIT_AUTHOR_NAME" err &&
	t_grep "user.name" err &&
	git -C ws config user.name "Con Fig" &&
	git -C ws config user.email cf@example.com &&
	env -u GIT_AUTHOR_NAME -u GIT_AUTHOR_EMAIL -u GIT_COMMITTER_NAME \
		-u GIT_COMMITTER_EMAIL cdt-checkpoint -C ws create >/dev/null &&
	[ "$(git -C ws log -1 --format="%an %ae %cn")" = \
		"Con Fig cf@example.com Con Fig" ]
'

t_case 'create -F FILE; usage errors are 64' '
	mkws && printf "subject\n\nbody line\n" >msg &&
	cdt-checkpoint -C ws create -F msg >out &&
	jq -e ".message == \"subject\n\nbody line\"" out &&
	[ "$(git -C ws log -1 --format=%b)" = "body line" ] &&
	t_fails 64 cdt-checkpoint -C ws create -m a -F msg 2>err &&
	t_fails 64 cdt-checkpoint -C ws create -F - 2>err &&
	t_fails 64 cdt-checkpoint -C ws create --full-tree 2>err &&
	t_fails 64 cdt-checkpoint -C ws create extra 2>err &&
	t_fails 64 cdt-checkpoint create --no-stdin 2>err &&
	t_grep "give -C DIR" err
'

t_case 'a missing directory is 66; list of a directory with no repo is 66' '
	t_fails 66 cdt-checkpoint -C nope create 2>err &&
	mkdir ws && t_fails 66 cdt-checkpoint -C ws list 2>err &&
	t_grep "no git repository" err && [ ! -e ws/.git ]
'

t_case 'list: newest first, with counts; -n; --branch' '
	mkws &&
	for i in 1 2 3; do
		echo $i >>ws/a.txt &&
		cdt-checkpoint -C ws create -m "c$i" >/dev/null || exit 1
	done &&
	cdt-checkpoint -C ws list >out && t_lines 3 out &&
	jq -r .message out >m && printf "c3\nc2\nc1\n" >w && t_cmp w m &&
	git -C ws log --format=%H >gl && jq -r .sha out >cl && t_cmp gl cl &&
	jq -s -e ".[0].files_changed == 1 and .[0].insertions == 1 and
		.[2].files_changed == 4" out &&
	cdt-checkpoint -C ws list -n 1 >one && t_lines 1 one &&
	t_fails 64 cdt-checkpoint -C ws list -n x 2>err &&
	cdt-checkpoint -C ws list --branch nothing-yet >none && t_lines 0 none
'

t_case 'show REF: files and counts, as git show --numstat' '
	mkws && cdt-checkpoint -C ws create -m one >/dev/null &&
	printf "one\n2\nthree\nfour\n" >ws/src/b.c && rm ws/a.txt &&
	echo n >ws/n.txt &&
	cdt-checkpoint -C ws create -m two >/dev/null &&
	cdt-checkpoint -C ws show HEAD >out &&
	jq -e ".message == \"two\" and .files_changed == 3 and
		.insertions == 3 and .deletions == 2" out &&
	jq -r ".files[] | \"\(.insertions)\t\(.deletions)\t\(.path)\"" out \
		>mine &&
	git -C ws show --numstat --format= HEAD >theirs &&
	t_cmp theirs mine &&
	jq -r ".files[] | .status" out | tr "\n" " " >st &&
	[ "$(cat st)" = "deleted added modified " ] &&
	cdt-checkpoint -C ws show HEAD~1 | jq -e ".message == \"one\"" &&
	t_fails 66 cdt-checkpoint -C ws show nosuchref 2>err &&
	t_grep "no checkpoint" err &&
	t_fails 64 cdt-checkpoint -C ws show 2>err
'

t_case 'diff: git format on a pipe; | git apply rebuilds the work tree' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	echo more >>ws/a.txt && rm ws/src/b.c && echo new >ws/src/new.c &&
	head -c 3000 /dev/urandom >ws/blob.bin && ln -s a.txt ws/link &&
	chmod 644 ws/run.sh &&
	cdt-checkpoint -C ws diff >patch &&
	t_grep "^diff --git a/a.txt b/a.txt" patch &&
	t_grep "GIT binary patch" patch &&
	git clone -q ws copy && git -C copy apply --index "$PWD/patch" &&
	diff -r -x .git -x .cdt ws copy &&
	cdt-checkpoint -C ws diff --json >recs &&
	jq -r "\"\(.status) \(.path)\"" recs | sort >st &&
	printf "%s\n" "added link" "added src/new.c" "deleted src/b.c" \
		"modified a.txt" "modified blob.bin" "modified run.sh" >w &&
	t_cmp w st &&
	jq -s -e "map(select(.path == \"a.txt\"))[0].patch |
		test(\"\\\\+more\")" recs
'

t_case 'diff A B and --exit-code' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	echo more >>ws/a.txt && cdt-checkpoint -C ws create >/dev/null &&
	cdt-checkpoint -C ws diff HEAD~1 HEAD >mine &&
	git -C ws diff --binary HEAD~1 HEAD >theirs &&
	sed -n "/^@@/,\$p" mine >m && sed -n "/^@@/,\$p" theirs >t &&
	t_cmp t m &&
	cdt-checkpoint -C ws diff --exit-code >none && t_lines 0 none &&
	echo x >ws/x && t_fails 1 cdt-checkpoint -C ws diff --exit-code >d &&
	t_grep "b/x" d &&
	t_fails 66 cdt-checkpoint -C ws diff nosuch 2>err &&
	t_fails 64 cdt-checkpoint -C ws diff a b c 2>err
'

t_case 'create over a repository made with git: on top of HEAD' '
	mkdir ws && git -C ws init -q -b main && echo a >ws/a &&
	git -C ws add a && git -C ws commit -q -m "by git" &&
	echo b >ws/b &&
	cdt-checkpoint -C ws create -m "by cdt" >out &&
	jq -e ".branch == \"main\" and .files_changed == 1" out &&
	[ "$(git -C ws log --format=%s | tr "\n" ,)" = "by cdt,by git," ] &&
	git -C ws status --porcelain >st && t_lines 0 st &&
	grep -q "/.cdt/" ws/.git/info/exclude || true
'

t_case 'create: detached HEAD moves HEAD, branch null' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	git -C ws checkout -q --detach &&
	echo d >>ws/a.txt && cdt-checkpoint -C ws create >out &&
	jq -e ".branch == null" out &&
	[ "$(git -C ws rev-parse HEAD)" = "$(jq -r .sha out)" ] &&
	[ "$(git -C ws rev-parse master)" != "$(jq -r .sha out)" ]
'

t_case 'create: type changes, modes, a nested repository is left out' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	rm ws/a.txt && mkdir ws/a.txt && echo in >ws/a.txt/in &&
	rm ws/src/b.c && ln -s ../run.sh ws/src/b.c && chmod 644 ws/run.sh &&
	mkdir ws/sub && git -C ws/sub init -q && echo s >ws/sub/s &&
	cdt-checkpoint -C ws create >out 2>err &&
	git -C ws ls-tree -r HEAD >lt &&
	t_grep "^100644 blob [0-9a-f]*	a.txt/in$" lt &&
	t_grep "^120000 blob [0-9a-f]*	src/b.c$" lt &&
	t_grep "^100644 blob [0-9a-f]*	run.sh$" lt &&
	! grep -q "sub" lt && git -C ws fsck --strict
'

t_case 'create: many files go into one pack; git reads them all' '
	mkdir -p ws/d && for i in $(seq 1 400); do echo "file $i" >ws/d/f$i; done &&
	cdt-checkpoint -C ws create >out &&
	jq -e ".files_changed == 400 and .insertions == 400" out &&
	git -C ws count-objects -v >co && t_grep "^in-pack: 400" co &&
	git -C ws fsck --strict && git -C ws status --porcelain >st &&
	t_lines 0 st && [ "$(git -C ws show HEAD:d/f77)" = "file 77" ]
'

t_case 'the tool contract: bad record 65, unknown records forwarded' '
	mkws &&
	printf "{\"type\":\"zz\"}\n{nope\n" |
		t_fails 65 cdt-checkpoint -C ws create >out 2>err &&
	! git -C ws rev-parse -q --verify HEAD &&
	printf "%s\n" "{\"type\":\"zz\",\"n\":1}" "{\"type\":\"yy\"}" |
		cdt-checkpoint -C ws create >out &&
	sed -n 1p out | jq -e ".type == \"zz\" and .n == 1" &&
	sed -n 2p out | jq -e ".type == \"yy\"" &&
	sed -n 3p out | jq -e ".type == \"checkpoint\"" && t_lines 3 out &&
	cdt-checkpoint -C ws list --text >txt && t_grep "master" txt
'

t_done
