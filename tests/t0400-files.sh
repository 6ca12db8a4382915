#!/bin/bash
# cdt-files on a plain directory (-C DIR): the foundation's slice.
. "$(dirname "$0")/lib.sh"

for mode in openat2 walk; do
if [ $mode = walk ]; then export CDT_TEST_NO_OPENAT2=1; fi

t_case "[$mode] write: records in, zz forwarded, file record out" '
	printf "{\"type\":\"zz\",\"n\":1}\n{\"type\":\"file\",\"path\":\"a/b.txt\",\"content\":\"hi\\\\n\"}\n" |
		cdt-files -C ws write --json >out 2>err ||
	{ mkdir ws && printf "{\"type\":\"zz\",\"n\":1}\n{\"type\":\"file\",\"path\":\"a/b.txt\",\"content\":\"hi\\\\n\"}\n" |
		cdt-files -C ws write --json >out; } &&
	printf "hi\n" >want && t_cmp want ws/a/b.txt &&
	sed -n 1p out >l1 && echo "{\"type\":\"zz\",\"n\":1}" >w1 && t_cmp w1 l1 &&
	sed -n 2p out | jq -e ".type == \"file\" and .path == \"a/b.txt\" and .size == 3 and
		.sha256 == \"98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4\"" &&
	t_lines 2 out
'

t_case "[$mode] write: a path escaping the root is 65, nothing written" '
	mkdir ws &&
	t_fails 65 cdt-files -C ws write <<<"{\"type\":\"file\",\"path\":\"../x\",\"content\":\"\"}" >out 2>err &&
	[ ! -e x ] && [ -z "$(ls -A ws)" ] && t_grep "bad path" err
'

t_case "[$mode] write: one bad record means nothing is written" '
	mkdir ws &&
	printf "%s\n" "{\"type\":\"file\",\"path\":\"ok.txt\",\"content\":\"a\"}" \
		"{\"type\":\"file\",\"path\":\"/etc/passwd\",\"content\":\"a\"}" |
	t_fails 65 cdt-files -C ws write >out 2>err &&
	[ ! -e ws/ok.txt ]
'

t_case "[$mode] write: reserved .git and .cdt are 77" '
	mkdir ws &&
	echo "{\"type\":\"file\",\"path\":\".git/hooks/pre-commit\",\"content\":\"x\"}" |
	t_fails 77 cdt-files -C ws write 2>err && t_grep "reserved" err &&
	echo "{\"type\":\"file\",\"path\":\".cdt/x\",\"content\":\"x\"}" |
	t_fails 77 cdt-files -C ws write 2>err
'

t_case "[$mode] write: through a symlink to outside is 77, outside untouched" '
	mkdir ws out && ln -s ../out ws/link &&
	echo "{\"type\":\"file\",\"path\":\"link/evil\",\"content\":\"x\"}" |
	t_fails 77 cdt-files -C ws write 2>err &&
	[ -z "$(ls -A out)" ] && t_grep "symlink" err
'

t_case "[$mode] write: binary content_base64 round-trips through read" '
	mkdir ws && head -c 3000 /dev/urandom >blob &&
	b=$(base64 -w0 blob) &&
	echo "{\"type\":\"file\",\"path\":\"bin/blob\",\"content_base64\":\"$b\"}" |
	cdt-files -C ws write >/dev/null && cmp blob ws/bin/blob &&
	cdt-files -C ws read bin/blob --json | jq -r .content_base64 | base64 -d >back &&
	cmp blob back
'

t_case "[$mode] write: unchanged content is reported, file not rewritten" '
	mkdir ws && echo hi >ws/a &&
	ino=$(stat -c %i ws/a) &&
	echo "{\"type\":\"file\",\"path\":\"a\",\"content\":\"hi\\n\"}" |
	cdt-files -C ws write --json | jq -e ".unchanged == true" &&
	[ "$(stat -c %i ws/a)" = "$ino" ]
'

t_case "[$mode] write: base_sha256 mismatch is 75, nothing written" '
	mkdir ws && echo old >ws/a &&
	echo "{\"type\":\"file\",\"path\":\"a\",\"content\":\"new\",\"base_sha256\":\"0000\"}" |
	t_fails 75 cdt-files -C ws write 2>err && t_grep "changed since" err &&
	echo old >want && t_cmp want ws/a
'

t_case "[$mode] write PATH streams raw stdin atomically" '
	mkdir ws && seq 1 200000 >want &&
	cdt-files -C ws write big/n.txt <want >out &&
	cmp want ws/big/n.txt &&
	jq -e ".size == $(stat -c %s want)" out &&
	[ -z "$(ls -A ws/.cdt/tmp 2>/dev/null)" ]
'

t_case "[$mode] write PATH: JSON content is written as bytes, not records" '
	mkdir ws && printf "{\"type\":\"file\",\"path\":\"x\"}\n" >want &&
	cdt-files -C ws write data.jsonl <want >/dev/null && cmp want ws/data.jsonl
'

t_case "[$mode] read: content, sha256, size; text for a person with --text" '
	mkdir -p ws/src && printf "int x;\n" >ws/src/a.c &&
	cdt-files -C ws read src/a.c --json >out &&
	jq -e ".content == \"int x;\\n\" and .size == 7 and .truncated == false and
		.sha256 == \"$(sha256sum ws/src/a.c | cut -c1-64)\"" out &&
	cdt-files -C ws read src/a.c --text >txt && t_grep "src/a.c" txt
'

t_case "[$mode] read with no PATH replaces path-only file records, forwards others" '
	mkdir ws && echo one >ws/1 && echo two >ws/2 &&
	printf "%s\n" "{\"type\":\"zz\"}" "{\"type\":\"file\",\"path\":\"1\"}" \
		"{\"type\":\"file\",\"path\":\"2\"}" |
	cdt-files -C ws read >out &&
	jq -c "[.type, .path, .content]" out >got &&
	printf "%s\n" "[\"zz\",null,null]" "[\"file\",\"1\",\"one\\n\"]" \
		"[\"file\",\"2\",\"two\\n\"]" >want && t_cmp want got
'

t_case "[$mode] read --raw prints the bytes" '
	mkdir ws && printf "a\0b" >ws/z && cdt-files -C ws read --raw z >got &&
	cmp ws/z got
'

t_case "[$mode] read -r a directory; without -r it is 65" '
	mkdir -p ws/d/e && echo 1 >ws/d/x && echo 2 >ws/d/e/y &&
	cdt-files -C ws read -r d | jq -r .path >got &&
	printf "d/e/y\nd/x\n" >want && t_cmp want got &&
	t_fails 65 cdt-files -C ws read d 2>err && t_grep "directory" err
'

t_case "[$mode] read: a missing file is 66" '
	mkdir ws && t_fails 66 cdt-files -C ws read nope 2>err
'

t_case "[$mode] ls and ls -r: sorted, .git and .cdt hidden, symlinks shown" '
	mkdir -p ws/.git ws/.cdt ws/b ws/a && echo x >ws/a/f && echo y >ws/top &&
	ln -s top ws/lnk &&
	cdt-files -C ws ls | jq -r "[.path, .node_type] | @tsv" >got &&
	printf "a\tdirectory\nb\tdirectory\nlnk\tsymlink\ntop\tfile\n" >want &&
	t_cmp want got &&
	cdt-files -C ws ls -r | jq -r .path >got &&
	printf "a\na/f\nb\nlnk\ntop\n" >want && t_cmp want got &&
	cdt-files -C ws ls lnk | jq -e ".target == \"top\""
'

t_case "[$mode] stat, mv, rm" '
	mkdir ws && echo hi >ws/a &&
	cdt-files -C ws stat a | jq -e ".size == 3 and (.content == null)" &&
	cdt-files -C ws mv a b | jq -e ".path == \"b\" and .moved_from == \"a\"" &&
	[ -e ws/b ] && [ ! -e ws/a ] &&
	echo x >ws/c && t_fails 73 cdt-files -C ws mv b c 2>err &&
	cdt-files -C ws mv --overwrite b c >/dev/null && [ "$(cat ws/c)" = hi ] &&
	cdt-files -C ws rm c | jq -e ".deleted == true" && [ ! -e ws/c ] &&
	mkdir ws/d && t_fails 65 cdt-files -C ws rm d 2>err &&
	cdt-files -C ws rm -r d >/dev/null && [ ! -e ws/d ]
'

t_case "[$mode] rm ../ is 65 and removes nothing" '
	mkdir ws && echo keep >keep && t_fails 65 cdt-files -C ws rm ../keep 2>err &&
	[ -e keep ]
'

done
unset CDT_TEST_NO_OPENAT2

t_case "no workspace: 64, never the current directory" '
	t_fails 64 cdt-files ls >out 2>err && t_grep "no workspace" err
'

t_case "a missing -C directory is 66" '
	t_fails 66 cdt-files -C nope ls 2>err
'

t_case "an upstream error: nothing written, error forwarded, its code" '
	mkdir ws &&
	printf "%s\n" "{\"type\":\"file\",\"path\":\"a\",\"content\":\"x\"}" \
		"{\"type\":\"error\",\"tool\":\"cdt-chat\",\"code\":75,\"class\":\"stream_broken\",\"message\":\"cut\"}" >in &&
	t_fails 75 cdt-files -C ws write <in >out 2>err && [ ! -e ws/a ] &&
	t_grep "\"code\":75" out && t_lines 1 out
'

t_case "--force writes despite an upstream error" '
	mkdir ws &&
	printf "%s\n" "{\"type\":\"file\",\"path\":\"a\",\"content\":\"x\"}" \
		"{\"type\":\"error\",\"tool\":\"cdt-chat\",\"code\":75,\"class\":\"stream_broken\",\"message\":\"cut\"}" |
	cdt-files -C ws write --force >out 2>err && [ -e ws/a ]
'

t_case "32 writers released together: the file is always one whole version" '
	mkdir ws && mkfifo go &&
	for i in $(seq 1 32); do
		yes "version $i" | head -c 200000 >v$i
		( read -r _ <go; cdt-files -C ws write shared.txt <v$i >out$i 2>err$i; echo $? >rc$i ) &
	done &&
	sleep 0.2 &&
	for i in $(seq 1 32); do echo x; done >go; wait &&
	cat rc* | sort | uniq -c >codes && t_grep "32 0" codes &&
	for i in $(seq 1 32); do if cmp -s ws/shared.txt v$i; then echo same; fi; done >hits &&
	t_lines 1 hits &&
	[ -z "$(ls -A ws/.cdt/tmp)" ]
'

t_case "a stream over the in-memory spool limit is written whole" '
	mkdir ws && chunk=$(head -c 600000 /dev/zero | tr "\0" q) &&
	for i in $(seq 1 40); do printf "{\"type\":\"file\",\"path\":\"f/%02d\",\"content\":\"%s\"}\n" $i "$chunk"; done >in &&
	cdt-files -C ws write <in >out && t_lines 40 out &&
	[ $(ls ws/f | wc -l) = 40 ] && [ $(stat -c %s ws/f/40) = 600000 ]
'

t_case "--jq runs on the tool's own records, strings raw" '
	mkdir ws && echo hi >ws/a &&
	echo "{\"type\":\"zz\"}" | cdt-files -C ws stat a --jq .path >got &&
	echo a >want && t_cmp want got
'

t_case "a record over the cap on output is never written: file truncated" '
	mkdir ws && head -c 70000000 /dev/zero | tr "\0" "a" >ws/big &&
	cdt-files -C ws read big >out &&
	jq -e ".truncated == true and .size == 70000000" out >/dev/null &&
	[ $(stat -c %s out) -lt 67108864 ]
'

t_done
