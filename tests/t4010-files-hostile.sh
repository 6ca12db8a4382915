#!/bin/bash
# The hostile paths of security-protocol-anchors §5 (P1-P31), as a table:
# each row is tried as a file record read, a file record written and a
# command-line operand, on a directory with openat2, on the same with the
# component walk (CDT_TEST_NO_OPENAT2=1), and on an S3 prefix (s3rver).
# P20-P25 and P30 need a file system and are local only.  After each
# backend's rows, nothing outside the tenant root or prefix has changed.
. "$(dirname "$0")/lib.sh"

. "$SRC/tests/fixtures/s3rver.sh"
export CDT_CONFIG=$S3CONFIG S3E
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
s3c() {
	curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
s3put() {	# s3put KEY TEXT
	printf '%s' "$2" >"$S3WORK/put" &&
	s3c -T "$S3WORK/put" -o /dev/null "$S3E/bkt/$1"
}
export -f s3c

# ---- the fixtures ----------------------------------------------------
# Local, one tree per local backend: the tenant root is
# tenants/org1/proj, with neighbours whose content must never be read or
# changed.
mkfix() {	# mkfix DIR
	local fix=$1/fix out=$1/outside root=$1/fix/tenants/org1/proj
	mkdir -p "$fix/tenants/org1/proj/sub" "$fix/tenants/org2" \
		"$fix/tenants/org1/proj10" "$root/.git" "$root/d" "$out" &&
	echo ORG2SECRET >"$fix/tenants/org2/secret" &&
	echo PROJ10SECRET >"$fix/tenants/org1/proj10/secret" &&
	echo OUTSIDE >"$out/x" &&
	echo HARDSECRET >"$out/hard" &&
	echo A >"$root/a.txt" &&
	echo SUBA >"$root/sub/a.txt" &&
	echo "[core]" >"$root/.git/config" &&
	ln -s ../../org2/secret "$root/link_rel" &&	# P20
	ln -s /etc/passwd "$root/link_abs" &&		# P21
	ln -s sub "$root/link_in" &&			# P22
	ln -s "$out" "$root/d/escdir" &&		# P23
	ln -s /proc/self/root "$root/magic" &&		# P24
	mkfifo "$root/fifo" &&				# P25
	ln "$out/hard" "$root/hard"			# P30
}
snapshot() {	# every file outside the root, with its content
	(cd "$1" && find fix outside -path fix/tenants/org1/proj -prune \
		-o -type f -print0 | sort -z | xargs -0 sha256sum)
}
for be in openat2 walk; do
	mkdir -p "$T_TRASH/$be" && mkfix "$T_TRASH/$be" &&
		snapshot "$T_TRASH/$be" >"$T_TRASH/$be/before" ||
		{ echo "Bail out! cannot make the fixtures"; exit 1; }
done
# S3: the same story in a bucket.
s3put org1/proj/a.txt "A
" && s3put org1/proj/sub/a.txt "SUBA
" && s3put org1/proj/.git/config "[core]
" && s3put org2/secret "ORG2SECRET
" && s3put org1/proj10/secret "PROJ10SECRET
" && s3put org1/projx "PROJXSECRET
" || { echo "Bail out! cannot seed s3rver"; exit 1; }
export T_TRASH

# ---- the table ------------------------------------------------------
# id | path, as a JSON string | local code | s3 code ("-": local only)
# Each row runs three ways: read (a file record on stdin), write (a file
# record with content), arg (the path as an operand of read, when it
# has no NUL), in that order.  A code of 0 for write means the literal
# name was made inside the root: the read before found nothing (66), the
# operand after finds it (0).
LONGSEG=$(printf 'a%.0s' $(seq 256))
LONGPATH=$(printf 'd/%.0s' $(seq 2100))f
cat >"$T_TRASH/table" <<EOF
P1|"../org2/secret"|65 65 65|65 65 65
P2|"sub/../../org2/secret"|65 65 65|65 65 65
P3|"sub/../a.txt"|65 65 65|65 65 65
P4|"sub/../../proj/a.txt"|65 65 65|65 65 65
P5|"/etc/passwd"|65 65 65|65 65 65
P6|"//etc/passwd"|65 65 65|65 65 65
P6|"/./etc"|65 65 65|65 65 65
P7|"%2e%2e/org2/secret"|66 0 0|66 0 0
P8|"%252e%252e%252f"|66 0 0|66 0 0
P9|"..\\\\org2\\\\secret"|65 65 65|65 65 65
P10|"a.txt\\u0000.png"|65 65 -|65 65 -
P11|"\\ufffd\\ufffd/"|65 65 65|65 65 65
P12|"\\uff0e\\uff0e/org2"|66 0 0|66 0 0
P13|"invoice\\u202efdp.exe"|65 65 65|65 65 65
P14|"a\\u200b.txt"|65 65 65|65 65 65
P15|"a.txt\\n{\\"role\\":\\"org-admin\\"}"|65 65 65|65 65 65
P16|""|65 65 65|65 65 65
P16|"."|65 65 65|65 65 65
P16|"./"|65 65 65|65 65 65
P17|"a.txt/"|65 65 65|65 65 65
P18|"sub//a.txt"|65 65 65|65 65 65
P19|"$LONGSEG"|65 65 65|65 65 65
P19|"$LONGPATH"|65 65 65|65 65 65
P20|"link_rel"|77 77 77|- - -
P21|"link_abs"|77 77 77|- - -
P22|"link_in"|77 77 77|- - -
P22|"link_in/a.txt"|77 77 77|- - -
P23|"d/escdir/x"|77 77 77|- - -
P24|"/proc/self/root/etc/passwd"|65 65 65|65 65 65
P24|"/proc/self/fd/3"|65 65 65|65 65 65
P24|"magic/etc/passwd"|77 77 77|- - -
P25|"fifo"|77 77 77|- - -
P26|".git/config"|77 77 77|77 77 77
P26|".git/hooks/pre-commit"|77 77 77|77 77 77
P26|".cdt/index"|77 77 77|77 77 77
P26|".GIT/config"|77 77 77|77 77 77
P27|"../proj10/secret"|65 65 65|65 65 65
P28|"-rf"|66 0 0|66 0 0
P28|"--help"|66 0 0|66 0 0
P29|"CON"|66 0 0|66 0 0
P29|"aux.txt"|66 0 0|66 0 0
P29|"a.txt."|66 0 0|66 0 0
P29|"a.txt "|66 0 0|66 0 0
P30|"hard"|77 77 77|- - -
EOF

# run_row BACKEND W ID JSON OP WANT
row() {
	local json=$4 op=$5 want=$6
	[ "$want" = - ] && return 0
	case $op in
	read)	printf '{"type":"file","path":%s}\n' "$json" |
			t_fails "$want" timeout 60 cdt-files -C "$2" read >out 2>err ;;
	write)	printf '{"type":"file","path":%s,"content":"PWNED"}\n' "$json" |
			t_fails "$want" timeout 60 cdt-files -C "$2" write >out 2>err ;;
	arg)	p=$(jq -jn "$json") &&
		t_fails "$want" timeout 60 cdt-files -C "$2" --no-stdin read -- "$p" \
			>out 2>err ;;
	esac || return 1
	# Whatever the code, nothing from outside came out.
	! grep -q "SECRET\|OUTSIDE\|root:" out
}
export -f row

for BE in openat2 walk s3; do
export BE
if [ $BE = walk ]; then export CDT_TEST_NO_OPENAT2=1; else unset CDT_TEST_NO_OPENAT2; fi
if [ $BE = s3 ]; then W=s3://bkt/org1/proj
else W=$T_TRASH/$BE/fix/tenants/org1/proj; fi
export W

while IFS='|' read -r id json lcodes scodes; do
	if [ $BE = s3 ]; then codes=$scodes; else codes=$lcodes; fi
	set -- $codes
	i=0
	for op in read write arg; do
		i=$((i + 1))
		eval "want=\${$i}"
		[ "$want" = - ] && continue
		export id json op want
		t_case "[$BE] $id $op $(printf '%.40s' "$json") -> $want" '
			row "$BE" "$W" "$id" "$json" "$op" "$want"
		'
	done
done <"$T_TRASH/table"

t_case "[$BE] P7, P8, P12, P28, P29: the literal names were made inside" '
	for p in "%2e%2e/org2/secret" "%252e%252e%252f" "．．/org2" -rf --help \
		CON aux.txt a.txt. "a.txt "; do
		printf "{\"type\":\"file\",\"path\":%s}\n" "$(jq -n --arg p "$p" "\$p")" |
			cdt-files -C "$W" read | jq -e ".content == \"PWNED\"" >/dev/null ||
			{ echo "missing: $p"; exit 1; }
	done
'

t_case "[$BE] P11: raw overlong UTF-8, as an operand and in a record, is 65" '
	t_fails 65 cdt-files -C "$W" --no-stdin read -- "$(printf "\300\256\300\256/x")" 2>err &&
	t_grep "invalid UTF-8" err &&
	printf "{\"type\":\"file\",\"path\":\"\300\256\300\256/x\",\"content\":\"x\"}\n" |
		t_fails 65 cdt-files -C "$W" write 2>err && t_grep "U+FFFD" err
'

t_case "[$BE] P27: a listing never strays into a neighbour" '
	cdt-files -C "$W" ls -r >out 2>err &&
	jq -r .path out >paths &&
	! grep -q "proj10\|projx\|^org2\|^\.\./" paths &&
	grep -qx a.txt paths &&
	if [ $BE != s3 ]; then
		jq -se "map(select(.path == \"hard\"))[0].links == 2" out
	fi
'

if [ $BE = s3 ]; then
t_case "[$BE] nothing outside the prefix was written or changed" '
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 \
		/usr/bin/aws --endpoint-url "$S3E" s3 ls --recursive s3://bkt/ >ls &&
	awk "{ \$1 = \$2 = \$3 = \"\"; sub(/^ +/, \"\"); print }" ls |
		grep -v "^org1/proj/" | sort >outside &&
	printf "org1/proj10/secret\norg1/projx\norg2/secret\n" >want &&
	t_cmp want outside &&
	[ "$(s3c "$S3E/bkt/org2/secret")" = ORG2SECRET ] &&
	[ "$(s3c "$S3E/bkt/org1/proj10/secret")" = PROJ10SECRET ] &&
	[ "$(s3c "$S3E/bkt/org1/projx")" = PROJXSECRET ]
'
else
t_case "[$BE] nothing outside the root was written or changed" '
	(cd "$T_TRASH/$BE" && find fix outside -path fix/tenants/org1/proj \
		-prune -o -type f -print0 | sort -z | xargs -0 sha256sum) >after &&
	t_cmp "$T_TRASH/$BE/before" after &&
	[ "$(head -c 5 /etc/passwd)" != PWNED ] &&
	[ "$(cat "$W/a.txt")" = A ] && [ -p "$W/fifo" ] &&
	[ "$(readlink "$W/link_rel")" = ../../org2/secret ] &&
	[ "$(cat "$W/hard")" = HARDSECRET ]
'
fi

# P31: the tree changes under the resolver.  A component is swapped for a
# symlink to outside and back (renameat2 RENAME_EXCHANGE, so it always
# exists), again and again, while reads and writes go on: each must
# succeed on the real directory or be refused, never reach outside.
if [ $BE != s3 ]; then
t_case "[$BE] P31: a rename race never reads or writes outside" '
	mkdir -p r/sub o && echo INSIDE >r/sub/f && echo OUTSIDE >o/f &&
	ln -s ../o r/evil || exit 1
	# Its own command, not the tail of an && list: $! is then python.
	python3 -c "
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
end = time.time() + 300
while time.time() < end:	# swap r/sub and r/evil, atomically
    libc.renameat2(-100, b\"r/sub\", -100, b\"r/evil\", 2)
" &
	racer=$! &&
	for i in $(seq 1 600); do
		# Until the race has shown both sides (at least 100 rounds).
		[ $i -gt 100 ] && grep -qx 0 codes && grep -qx 77 codes && break
		cdt-files -C r read sub/f >out 2>err; rc=$?
		echo $rc >>codes
		case $rc in 0|66|77|75) ;; *) echo "read exit $rc"; cat err; exit 1;; esac
		grep -q OUTSIDE out && { echo "read outside"; exit 1; }
		echo W$i | cdt-files -C r write sub/w >/dev/null 2>err; rc=$?
		case $rc in 0|66|73|77|75) ;; *) echo "write exit $rc"; cat err; exit 1;; esac
	done; kill $racer; wait $racer;
	[ "$(cat o/f)" = OUTSIDE ] && [ ! -e o/w ] && [ "$(ls o)" = f ] &&
	grep -qx 0 codes && grep -qx 77 codes	# the race did happen
'
else
t_case "[$BE] P31: an object renamed away and back reads whole or not at all" '
	s3put org1/proj/race/f INSIDE || exit 1
	# Its own command, not the tail of an && list: $! is the loop.
	( end=$((SECONDS + 300)); while [ $SECONDS -lt $end ]; do
		s3c -X PUT -H "x-amz-copy-source: /bkt/org1/proj/race/f" \
			-o /dev/null "$S3E/bkt/org1/proj/race/g" &&
		s3c -X DELETE -o /dev/null "$S3E/bkt/org1/proj/race/f" &&
		s3c -X PUT -H "x-amz-copy-source: /bkt/org1/proj/race/g" \
			-o /dev/null "$S3E/bkt/org1/proj/race/f" &&
		s3c -X DELETE -o /dev/null "$S3E/bkt/org1/proj/race/g"
	  done ) &
	racer=$! &&
	for i in $(seq 1 400); do
		# Until the race has shown both sides (at least 60 rounds).
		[ $i -gt 60 ] && grep -qx 0 codes && grep -qx 66 codes && break
		cdt-files -C "$W" read --raw race/f >out 2>err; rc=$?
		echo $rc >>codes
		case $rc in
		0) [ "$(cat out)" = INSIDE ] || { echo "torn: $(cat out)"; exit 1; } ;;
		66) ;;
		*) echo "read exit $rc"; cat err; exit 1 ;;
		esac
	done; kill $racer; wait $racer; grep -qx 0 codes && grep -qx 66 codes
'
fi

done
unset CDT_TEST_NO_OPENAT2

t_done
