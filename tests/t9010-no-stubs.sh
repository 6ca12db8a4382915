#!/bin/bash
# Nothing in cdt is a stub: the words "not implemented" appear nowhere in
# the sources of bin/ and lib/ (C string literals split over lines are
# joined first, so "not " "implemented" counts), nor in the programs
# built from them.  Each offender is named with its file and line.
#
d=$(cd "$(dirname "$0")" && pwd)
[ -f "$d/lib.sh" ] || d=${d%/*}
CDT_SRC=${CDT_SRC:-${d%/tests}}
. "$d/lib.sh"

t_case 'no "not implemented" in the sources of bin/ and lib/' '
	git -C "$SRC" ls-files -- "bin/*.[ch]" "lib/*.[ch]" >files &&
	[ -s files ] &&
	while read -r f; do
		# Join "a" "b" across lines, keeping the first line number.
		perl -0777 -ne "
			my \$n = 1;
			for my \$l (split /\n/, \$_, -1) { \$line[\$n++] = \$l }
			s{\"[ \t]*\n[ \t]*\"}{ \$j++; \"\\x01\" }ge;
			my \$at = 1;
			for my \$l (split /\n/) {
				(my \$t = \$l) =~ s/\x01//g;
				print qq{$f:\$at: \$t\n} if \$t =~ /not\s+implemented/i;
				\$at += 1 + (() = \$l =~ /\x01/g);
			}" "$SRC/$f"
	done <files >offenders &&
	if [ -s offenders ]; then
		echo "$(wc -l <offenders) offender(s):" && cat offenders && exit 1
	fi
'

t_case 'no "not implemented" in the programs built from them' '
	for p in "$SRC"/bin/cdt "$SRC"/bin/cdt-*; do
		case $p in *.c|*.d|*.o) continue ;; esac
		[ -x "$p" ] || { echo "$p is not built (make)"; exit 1; }
		grep -aioE "[[:print:]]{0,40}not implemented[[:print:]]{0,30}" "$p" |
			sed "s|^|${p#"$SRC"/}: |"
	done >offenders &&
	[ -s offenders ] && { cat offenders; exit 1; }
	true
'

t_done
