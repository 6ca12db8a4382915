#!/bin/bash
# cdt-files write, apply and tree on every backend: a directory with
# openat2, the same with the component walk (CDT_TEST_NO_OPENAT2=1), and
# an S3 prefix on s3rver (a real S3-protocol server on 127.0.0.1).  Seeds
# go in and results come out through curl --aws-sigv4 on S3, an
# independent client, so cdt-files is never checked against itself.
. "$(dirname "$0")/lib.sh"

# ---- s3rver, started once for the whole file --------------------------
. "$SRC/tests/fixtures/s3rver.sh"
export CDT_CONFIG=$S3CONFIG S3E
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

# ---- one vocabulary for seeding and checking, per backend -------------
# ws_init: W is the workspace for -C (a directory, or s3://bkt/PREFIX).
ws_init() {
	if [ "$BE" = s3 ]; then
		PFX=c$T_N
		W=s3://bkt/$PFX
	else
		mkdir -p ws
		W=ws
	fi
}
s3url() {
	printf '%s/bkt/%s/%s' "$S3E" "$PFX" \
		"$(jq -rn --arg p "$1" '$p | split("/") | map(@uri) | join("/")')"
}
s3c() {
	curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
# put PATH <content: seed a file
put() {
	if [ "$BE" = s3 ]; then
		cat >.put.tmp && s3c -T .put.tmp -o /dev/null "$(s3url "$1")"
	else
		mkdir -p "ws/$(dirname "$1")" && cat >"ws/$1"
	fi
}
# get PATH: a file's bytes on stdout
get() {
	if [ "$BE" = s3 ]; then s3c "$(s3url "$1")"; else cat "ws/$1"; fi
}
# has PATH: does it exist
has() {
	if [ "$BE" = s3 ]; then s3c -I -o /dev/null "$(s3url "$1")" 2>/dev/null
	else [ -e "ws/$1" ] || [ -L "ws/$1" ]; fi
}
sha() { sha256sum | cut -c1-64; }

for BE in openat2 walk s3; do
export BE
if [ $BE = walk ]; then export CDT_TEST_NO_OPENAT2=1; else unset CDT_TEST_NO_OPENAT2; fi

t_case "[$BE] edit records apply in order, several pairs, one record out" '
	ws_init &&
	printf "int main(void)\n{\n\treturn 0;\n}\n" | put hello.c &&
	jq -cn "{type: \"edit\", path: \"hello.c\", search: \"\treturn 0;\n\",
		replace: \"\tputs(\\\"hi\\\");\n\treturn 0;\n\"},
		{type: \"edit\", path: \"hello.c\", edits: [
			{search: \"puts\", replace: \"printf\"},
			{search: \"(void)\", replace: \"()\"}]}" >in &&
	cdt-files -C $W write <in >out 2>err &&
	printf "int main()\n{\n\tprintf(\"hi\");\n\treturn 0;\n}\n" >want &&
	get hello.c >got && t_cmp want got &&
	t_lines 1 out &&
	jq -e --arg s "$(sha <want)" ".type == \"file\" and .path == \"hello.c\" and
		.sha256 == \$s and .size == $(wc -c <want) and .unchanged == false" out
'

t_case "[$BE] a missing SEARCH: 65 naming file and block, nothing written" '
	ws_init && echo one | put a.txt && echo two | put b.txt &&
	jq -cn "{type: \"file\", path: \"c.txt\", content: \"new\n\"},
		{type: \"edit\", path: \"a.txt\", search: \"one\", replace: \"ONE\"},
		{type: \"edit\", path: \"b.txt\", search: \"three\", replace: \"3\"}" >in &&
	t_fails 65 cdt-files -C $W write <in >out 2>err &&
	t_grep "edit 1 to .b.txt.: SEARCH text not found" err &&
	echo one >want && get a.txt >got && t_cmp want got &&
	echo two >want && get b.txt >got && t_cmp want got &&
	! has c.txt && jq -e "select(.type == \"error\") | .code == 65" out
'

t_case "[$BE] an ambiguous SEARCH: 65 naming the second block, nothing written" '
	ws_init && printf "x\ny\nx\n" | put b.txt && echo a | put a.txt &&
	jq -cn "{type: \"edit\", path: \"a.txt\", search: \"a\", replace: \"A\"},
		{type: \"edit\", path: \"b.txt\", search: \"y\", replace: \"Y\"},
		{type: \"edit\", path: \"b.txt\", search: \"x\", replace: \"X\"}" >in &&
	t_fails 65 cdt-files -C $W write <in >out 2>err &&
	t_grep "edit 2 to .b.txt.: SEARCH text matches more than once (again at line 3)" err &&
	printf "x\ny\nx\n" >want && get b.txt >got && t_cmp want got &&
	echo a >want && get a.txt >got && t_cmp want got
'

t_case "[$BE] a stream ending in an error record leaves every file untouched" '
	ws_init && echo keep | put k.txt &&
	jq -cn "{type: \"file\", path: \"n.txt\", content: \"x\"},
		{type: \"edit\", path: \"k.txt\", search: \"keep\", replace: \"gone\"},
		{type: \"error\", tool: \"cdt-chat\", code: 69, class: \"server\",
		 message: \"all providers down\"}" >in &&
	t_fails 69 cdt-files -C $W write <in >out 2>err &&
	echo keep >want && get k.txt >got && t_cmp want got && ! has n.txt &&
	t_lines 1 out && jq -e ".type == \"error\" and .code == 69" out
'

t_case "[$BE] a file then an edit of it fold into one record" '
	ws_init &&
	jq -cn "{type: \"file\", path: \"d/new.txt\", content: \"a\nb\n\"},
		{type: \"zz\", n: 1},
		{type: \"edit\", path: \"d/new.txt\", search: \"b\", replace: \"c\"}" >in &&
	cdt-files -C $W write <in >out 2>err &&
	printf "a\nc\n" >want && get d/new.txt >got && t_cmp want got &&
	jq -c "[.type, .path]" out >types &&
	printf "%s\n" "[\"zz\",null]" "[\"file\",\"d/new.txt\"]" >want && t_cmp want types
'

t_case "[$BE] base_sha256 of an edit: a mismatch is 75, a match applies" '
	ws_init && echo old | put f.txt &&
	s=$(echo old | sha) &&
	jq -cn "{type: \"edit\", path: \"f.txt\", search: \"old\", replace: \"new\",
		base_sha256: \"$(echo other | sha)\"}" >in &&
	t_fails 75 cdt-files -C $W write <in >out 2>err &&
	t_grep "changed since it was read" err &&
	echo old >want && get f.txt >got && t_cmp want got &&
	jq -cn "{type: \"edit\", path: \"f.txt\", search: \"old\", replace: \"new\",
		base_sha256: \"$s\"}" | cdt-files -C $W write >out 2>err &&
	echo new >want && get f.txt >got && t_cmp want got
'

t_case "[$BE] identical content is reported unchanged and not rewritten" '
	ws_init && echo same | put s.txt &&
	{ [ $BE = s3 ] || ino=$(stat -c %i ws/s.txt); } &&
	jq -cn "{type: \"file\", path: \"s.txt\", content: \"same\n\"}" |
		cdt-files -C $W write >out 2>err &&
	jq -e ".unchanged == true and .size == 5" out &&
	{ [ $BE = s3 ] || [ "$(stat -c %i ws/s.txt)" = "$ino" ]; } &&
	echo same | cdt-files -C $W write s.txt >out 2>err &&
	jq -e ".unchanged == true" out
'

t_case "[$BE] twelve files rewritten: the same ones unchanged, the others written" '
	ws_init && for i in $(seq 1 11); do echo "v$i" | put "d/f$i" || exit 1; done &&
	for i in $(seq 1 12); do
		if [ $i -le 6 ]; then c="v$i"; else c="new$i"; fi
		jq -cn --arg p "d/f$i" --arg c "$c
" "{type: \"file\", path: \$p, content: \$c}"
	done >in &&
	cdt-files -C $W write <in >out 2>err &&
	jq -r "[.path, .unchanged] | @tsv" out >got &&
	for i in $(seq 1 12); do
		printf "d/f%d\t%s\n" $i "$([ $i -le 6 ] && echo true || echo false)"
	done >want && t_cmp want got &&
	echo new9 >want && get d/f9 >got && t_cmp want got &&
	echo new12 >want && get d/f12 >got && t_cmp want got &&
	echo v3 >want && get d/f3 >got && t_cmp want got
'

t_case "[$BE] --dry-run: a diff git apply takes, nothing changed, nothing forwarded" '
	ws_init && mkdir src && printf "1\n2\n3\n" >src/n.txt &&
	put n.txt <src/n.txt &&
	jq -cn "{type: \"zz\"},
		{type: \"edit\", path: \"n.txt\", search: \"2\n\", replace: \"two\n\"},
		{type: \"file\", path: \"sub/new.txt\", content: \"fresh\n\"}" >in &&
	cdt-files -C $W write --dry-run <in >diff 2>err &&
	t_grep "^+two" diff && t_grep "^+++ b/sub/new.txt" diff &&
	! grep -q "\"type\"" diff &&
	printf "1\n2\n3\n" >want && get n.txt >got && t_cmp want got &&
	! has sub/new.txt &&
	(cd src && git apply ../diff) &&
	cdt-files -C $W write <in >out 2>err &&
	get n.txt >got && t_cmp src/n.txt got &&
	get sub/new.txt >got && t_cmp src/sub/new.txt got
'

t_case "[$BE] --partial: the good files land, the bad one is skipped, exit 65" '
	ws_init && echo a | put a.txt && echo b | put b.txt &&
	jq -cn "{type: \"edit\", path: \"a.txt\", search: \"a\", replace: \"A\"},
		{type: \"edit\", path: \"b.txt\", search: \"zz\", replace: \"B\"},
		{type: \"file\", path: \"../x\", content: \"evil\"},
		{type: \"file\", path: \"c.txt\", content: \"c\n\"}" >in &&
	t_fails 65 cdt-files -C $W write --partial <in >out 2>err &&
	echo A >want && get a.txt >got && t_cmp want got &&
	echo b >want && get b.txt >got && t_cmp want got &&
	echo c >want && get c.txt >got && t_cmp want got &&
	jq -r "select(.type == \"file\") | .path" out >paths &&
	printf "a.txt\nc.txt\n" >want && t_cmp want paths
'

t_case "[$BE] write PATH --if-match: mismatch or absent is 75, a match writes" '
	ws_init && echo v1 | put f.txt &&
	s1=$(echo v1 | sha) &&
	echo v2 | t_fails 75 cdt-files -C $W write --if-match "$(echo no | sha)" f.txt 2>err &&
	t_grep "does not match --if-match" err &&
	echo v1 >want && get f.txt >got && t_cmp want got &&
	echo v2 | cdt-files -C $W write --if-match "$s1" f.txt >out &&
	echo v2 >want && get f.txt >got && t_cmp want got &&
	echo v3 | t_fails 75 cdt-files -C $W write --if-match "$s1" nofile.txt 2>err &&
	! has nofile.txt &&
	echo x | t_fails 64 cdt-files -C $W write --if-match nothex f.txt 2>err
'

t_case "[$BE] symlink records: beneath the root made (local), escaping 77" '
	ws_init && echo t | put sub/t.txt &&
	for tg in ../../out /etc/passwd ../.git/config; do
		jq -cn --arg t "$tg" "{type: \"file\", path: \"sub/l\",
			node_type: \"symlink\", target: \$t}" |
		t_fails 77 cdt-files -C $W write 2>err || exit 1
	done &&
	! has sub/l &&
	jq -cn "{type: \"file\", path: \"sub/l\", node_type: \"symlink\",
		target: \"t.txt\"}" >in &&
	if [ $BE = s3 ]; then
		t_fails 73 cdt-files -C $W write <in 2>err && t_grep "no symlinks" err
	else
		cdt-files -C $W write <in >out &&
		[ "$(readlink ws/sub/l)" = t.txt ] &&
		jq -e ".node_type == \"symlink\" and .target == \"t.txt\"" out
	fi
'

t_case "[$BE] a directory record makes an empty directory" '
	ws_init &&
	jq -cn "{type: \"file\", path: \"e/mpty\", node_type: \"directory\"}" |
		cdt-files -C $W write >out 2>err &&
	jq -e ".node_type == \"directory\" and .path == \"e/mpty\"" out &&
	cdt-files -C $W ls -r | jq -r "[.path, .node_type] | @tsv" >got &&
	printf "e\tdirectory\ne/mpty\tdirectory\n" >want && t_cmp want got
'

t_case "[$BE] apply: edits applied, file records forwarded untouched" '
	ws_init && echo abc | put a.txt &&
	jq -cn "{type: \"file\", path: \"f.txt\", content: \"x\"},
		{type: \"edit\", path: \"a.txt\", search: \"b\", replace: \"B\"}" >in &&
	cdt-files -C $W apply <in >out 2>err &&
	echo aBc >want && get a.txt >got && t_cmp want got && ! has f.txt &&
	head -1 out >first && head -1 in >want && t_jsoneq want first &&
	t_lines 2 out
'

t_case "[$BE] tree: a drawing for a person, depth and children as records" '
	ws_init && echo 1 | put a/x.c && echo 2 | put a/b/y.c && echo 3 | put z.md &&
	cdt-files -C $W tree --text >txt 2>err &&
	printf "%s\n" "." "├── a/" "│   ├── b/" "│   │   └── y.c" "│   └── x.c" \
		"└── z.md" "" "2 directories, 3 files" >want && t_cmp want txt &&
	cdt-files -C $W tree a | jq -c "[.path, .depth, .children]" >got &&
	printf "%s\n" "[\"a/b\",1,1]" "[\"a/b/y.c\",2,null]" "[\"a/x.c\",1,null]" >want &&
	t_cmp want got &&
	t_fails 65 cdt-files -C $W tree z.md 2>err
'

t_case "[$BE] ls -r: the same order on every backend" '
	ws_init && for p in a.txt a/x b/c/d.txt a.b "sp ace/é.txt"; do
		echo "$p" | put "$p" || exit 1; done &&
	cdt-files -C $W ls -r | jq -r "[.path, .node_type, .size] | @tsv" >got &&
	printf "%s\n" "a	directory	" "a/x	file	4" "a.b	file	4" \
		"a.txt	file	6" "b	directory	" "b/c	directory	" \
		"b/c/d.txt	file	10" "sp ace	directory	" \
		"sp ace/é.txt	file	14" >want && t_cmp want got
'

t_case "[$BE] write PATH streams 20 MB raw and read --raw gives it back" '
	ws_init && head -c 20000000 /dev/urandom >big &&
	cdt-files -C $W write data/big.bin <big >out 2>err &&
	jq -e --arg s "$(sha <big)" ".sha256 == \$s and .size == 20000000" out &&
	get data/big.bin | cmp - big &&
	cdt-files -C $W read --raw data/big.bin | cmp - big &&
	cdt-files -C $W read data/big.bin | jq -r .content_base64 | base64 -d | cmp - big
'

t_case "[$BE] bad input: a malformed record is 65, an unknown one forwarded" '
	ws_init &&
	printf "{\"type\":\"file\",\"path\":\"a\",\"content\":1}\n" |
		t_fails 65 cdt-files -C $W write 2>err && t_grep "no content" err &&
	printf "{\"type\":\"edit\",\"path\":\"a\",\"search\":\"x\"}\n" |
		t_fails 65 cdt-files -C $W write 2>err && t_grep "replace" err &&
	printf "{\"type\":\"zz\"}\n{\"type\":\"file\",\"path\":\"a\"\n" |
		t_fails 65 cdt-files -C $W write 2>err && t_grep "line 2" err &&

	printf "{\"type\":\"file\",\"path\":\"n\",\"node_type\":\"fifo\",\"content\":\"\"}\n" |
		t_fails 65 cdt-files -C $W write 2>err &&
	printf "{\"type\":\"zz\",\"k\":[1,2]}\n" | cdt-files -C $W write >out &&
	printf "{\"type\":\"zz\",\"k\":[1,2]}\n" >want && t_cmp want out
'

t_case "[$BE] usage is 64; a full stdout is 74" '
	ws_init && echo x | put a.txt &&
	t_fails 64 cdt-files -C $W write a b </dev/null 2>err &&
	t_fails 64 cdt-files -C $W apply x </dev/null 2>err &&
	t_fails 64 cdt-files -C $W tree a b 2>err &&
	t_fails 64 cdt-files -C $W write --partial a.txt </dev/null 2>err &&
	t_fails 74 cdt-files -C $W ls >/dev/full 2>err
'

done
unset CDT_TEST_NO_OPENAT2

t_done
