#!/bin/bash
# cdt-checkpoint in a pipeline: --require-success after failing and passing
# exit records, upstream error records, forwarding, and --from-records
# (the file records on stdin, over the last checkpoint or as the whole
# tree) giving the same tree as the directory checkpoint.
. "$(dirname "$0")/lib.sh"

export GIT_AUTHOR_NAME='Cee Dee' GIT_AUTHOR_EMAIL=cd@example.com
export GIT_COMMITTER_NAME='Cee Dee' GIT_COMMITTER_EMAIL=cd@example.com

mkws() {
	mkdir -p ws/src ws/docs &&
	printf 'hello\n' >ws/a.txt &&
	printf 'int main(void) { return 0; }\n' >ws/src/main.c &&
	printf '# title\n\nline\n' >ws/docs/readme.md &&
	head -c 4000 /dev/urandom >ws/src/data.bin &&
	printf 'caf\303\251\n' >ws/utf8.txt
}

exitrec() {	# exitrec CODE [more jq]
	echo "{\"type\":\"exec\",\"argv\":[\"make\"],\"stream\":\"stdout\",\"data\":\"ok\\n\"}"
	echo "{\"type\":\"exit\",\"argv\":[\"make\"],\"code\":$1${2:+,$2}}"
}

t_case '--require-success refuses after a failing exit record (1)' '
	mkws && exitrec 2 >in &&
	t_fails 1 cdt-checkpoint -C ws create --require-success <in >out 2>err &&
	t_grep "exited 2" err && t_lines 3 out &&
	head -n 2 out >fw && t_cmp in fw &&
	tail -n 1 out | jq -e ".type == \"error\" and .code == 1 and
		.tool == \"cdt-checkpoint\"" &&
	! git -C ws rev-parse -q --verify HEAD
'

t_case '--require-success commits after a passing one' '
	mkws && exitrec 0 >in &&
	cdt-checkpoint -C ws create --require-success -m ok <in >out &&
	t_lines 3 out && head -n 2 out >fw && t_cmp in fw &&
	tail -n 1 out | jq -e ".type == \"checkpoint\" and .message == \"ok\"" &&
	[ "$(git -C ws log --format=%s)" = ok ]
'

t_case '--require-success: the last exit record decides' '
	mkws && { exitrec 1; exitrec 0; } >in &&
	cdt-checkpoint -C ws create --require-success <in >out &&
	tail -n 1 out | jq -e ".type == \"checkpoint\"" &&
	echo more >>ws/a.txt && { exitrec 0; exitrec 3; } >in2 &&
	t_fails 1 cdt-checkpoint -C ws create --require-success <in2 >out2 \
		2>err && [ "$(git -C ws rev-list --count HEAD)" = 1 ]
'

t_case '--require-success: killed, timed out or no exit record refuses' '
	mkws &&
	exitrec null "\"signal\":\"SIGKILL\"" |
		t_fails 1 cdt-checkpoint -C ws create --require-success \
		>out 2>err && t_grep "killed by SIGKILL" err &&
	exitrec 0 "\"timed_out\":true" |
		t_fails 1 cdt-checkpoint -C ws create --require-success \
		>out 2>err && t_grep "timed out" err &&
	echo "{\"type\":\"zz\"}" |
		t_fails 1 cdt-checkpoint -C ws create --require-success \
		>out 2>err && t_grep "no exit record" err &&
	t_fails 1 cdt-checkpoint -C ws create --require-success --no-stdin \
		>out 2>err &&
	! git -C ws rev-parse -q --verify HEAD
'

t_case 'an upstream error record always refuses, its code kept; --force' '
	mkws &&
	printf "%s\n" "{\"type\":\"zz\"}" \
		"{\"type\":\"error\",\"tool\":\"cdt-session\",\"code\":75,\"class\":\"conflict\",\"message\":\"busy\"}" \
		>in &&
	t_fails 75 cdt-checkpoint -C ws create <in >out 2>err &&
	t_cmp in out && ! git -C ws rev-parse -q --verify HEAD &&
	cdt-checkpoint -C ws create --force <in >out2 2>err2 &&
	t_grep "force" err2 && tail -n 1 out2 | jq -e ".type == \"checkpoint\""
'

t_case 'records are forwarded in order; the checkpoint record comes last' '
	mkws &&
	printf "%s\n" "{\"type\":\"session\",\"id\":\"s1\"}" \
		"{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"x\"}" \
		"{\"type\":\"file\",\"path\":\"a.txt\",\"content\":\"hello\\n\"}" >in &&
	cdt-checkpoint -C ws create <in >out &&
	head -n 3 out >fw && t_cmp in fw && t_lines 4 out &&
	cdt-checkpoint -C ws create --jq .sha --no-stdin >sha &&
	[ "$(cat sha)" = "$(git -C ws rev-parse HEAD)" ] &&
	cdt-checkpoint -C ws create --text --no-stdin >txt &&
	t_grep "^$(git -C ws rev-parse --short=12 HEAD) master" txt
'

t_case '--from-records equals the directory checkpoint of the same files' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	mkdir other &&
	cdt-files -C ws ls -r | cdt-files -C ws read >files &&
	[ "$(jq -s "map(select(.content or .content_base64)) | length" \
		files)" = 5 ] &&
	cdt-checkpoint -C other create --from-records --full-tree <files \
		>out &&
	head -n 7 out >fw && t_cmp files fw &&
	tail -n 1 out | jq -e ".type == \"checkpoint\" and
		.files_changed == 5" &&
	[ "$(git -C other rev-parse HEAD^{tree})" = \
		"$(git -C ws rev-parse HEAD^{tree})" ] &&
	[ -z "$(ls -A other | grep -v -e "^.git$" -e "^.cdt$")" ] &&
	git -C other fsck --strict &&
	mkdir third && cdt-checkpoint -C third create --from-records <files \
		>/dev/null &&
	[ "$(git -C third rev-parse HEAD^{tree})" = \
		"$(git -C ws rev-parse HEAD^{tree})" ]
'

t_case '--from-records overlays the last checkpoint; work tree, index kept' '
	mkws && chmod 755 ws/src/main.c && cdt-checkpoint -C ws create >/dev/null &&
	base=$(git -C ws rev-parse HEAD) && sum=$(sha256sum <ws/.git/index) &&
	printf "%s\n" \
		"{\"type\":\"file\",\"path\":\"src/new.c\",\"content\":\"new\\n\"}" \
		"{\"type\":\"file\",\"path\":\"src/main.c\",\"content\":\"changed\\n\"}" \
		"{\"type\":\"file\",\"path\":\"docs/readme.md\",\"deleted\":true}" \
		"{\"type\":\"file\",\"path\":\"lnk\",\"node_type\":\"symlink\",\"target\":\"a.txt\"}" \
		"{\"type\":\"file\",\"path\":\"docs\",\"node_type\":\"directory\"}" \
		"{\"type\":\"file\",\"path\":\"bin.dat\",\"content_base64\":\"AAEC\"}" |
		cdt-checkpoint -C ws create --from-records -m overlay >out &&
	tail -n 1 out | jq -e ".parent == \"$base\" and .files_changed == 5" &&
	git -C ws ls-tree -r HEAD >lt &&
	t_grep "^100755 blob [0-9a-f]*	src/main.c$" lt &&
	t_grep "^120000 blob [0-9a-f]*	lnk$" lt &&
	! grep -q "docs/readme.md" lt && t_grep "	a.txt$" lt &&
	[ "$(git -C ws show HEAD:src/main.c)" = changed ] &&
	[ "$(git -C ws show HEAD:bin.dat | od -An -tx1 | tr -d " ")" = 000102 ] &&
	[ "$(cat ws/src/main.c)" = "int main(void) { return 0; }" ] &&
	[ ! -e ws/src/new.c ] && [ "$(sha256sum <ws/.git/index)" = "$sum" ] &&
	echo "{\"type\":\"file\",\"path\":\"a.txt\",\"content\":\"hello\\n\"}" |
		cdt-checkpoint -C ws create --from-records --exit-code >same;
	[ $? = 1 ] && tail -n 1 same | jq -e .unchanged
'

t_case '--from-records: every record is checked before any is stored' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	head=$(git -C ws rev-parse HEAD) &&
	ok="{\"type\":\"file\",\"path\":\"ok.txt\",\"content\":\"x\"}" &&
	for bad in "{\"type\":\"file\",\"path\":\"nocontent.txt\"}" \
		"{\"type\":\"file\",\"path\":\"../up\",\"content\":\"x\"}" \
		"{\"type\":\"file\",\"path\":\"t\",\"content\":\"x\",\"truncated\":true}" \
		"{\"type\":\"file\",\"path\":\"t\",\"node_type\":\"fifo\",\"content\":\"\"}" \
		"{\"type\":\"file\",\"path\":\"l\",\"node_type\":\"symlink\"}" \
		"{\"type\":\"file\",\"content\":\"x\"}" \
		"{\"type\":\"file\",\"path\":\"b\",\"content_base64\":\"!!\"}"; do
		printf "%s\n%s\n" "$ok" "$bad" |
			t_fails 65 cdt-checkpoint -C ws create --from-records \
			>out 2>err || { echo "for $bad" >&2; exit 1; }
	done &&
	printf "%s\n%s\n" "$ok" \
		"{\"type\":\"file\",\"path\":\".git/hooks/x\",\"content\":\"x\"}" |
		t_fails 77 cdt-checkpoint -C ws create --from-records >out 2>err &&
	echo "{\"type\":\"file\",\"path\":\"gone\",\"deleted\":true}" |
		t_fails 66 cdt-checkpoint -C ws create --from-records >out 2>err &&
	[ "$(git -C ws rev-parse HEAD)" = "$head" ] &&
	t_grep "nothing\|not in the last" err
'

t_case '--from-records: the size cap holds; --full-tree replaces all' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	printf "checkpoint:\n  max_file_size: 10\n" >cfg.yaml &&
	echo "{\"type\":\"file\",\"path\":\"big\",\"content\":\"0123456789abc\"}" |
		CDT_CONFIG=$PWD/cfg.yaml t_fails 65 cdt-checkpoint -C ws create \
		--from-records >out 2>err && t_grep "big" err &&
	echo "{\"type\":\"file\",\"path\":\"only.txt\",\"content\":\"o\"}" |
		cdt-checkpoint -C ws create --from-records --full-tree >out &&
	git -C ws ls-tree -r --name-only HEAD >names &&
	echo only.txt >w && t_cmp w names &&
	tail -n 1 out | jq -e ".files_changed == 6 and .deletions >= 5"
'

t_done
