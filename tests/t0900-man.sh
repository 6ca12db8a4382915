#!/bin/bash
# The man pages (STYLE.md, "Man pages and completions"): every page is
# clean under mandoc's lint; each tool's page names every option and
# command the tool lists (--list-options), has the sections STYLE.md asks
# for, and says which commands are not implemented yet, no more and no
# fewer; cdt(7) carries DESIGN's exit codes, record types, environment
# and files.
. "$(dirname "$0")/lib.sh"

TOOLS="cdt $(cd "$SRC/bin" && ls cdt-*.c | sed 's/\.c$//' | tr '\n' ' ')"
export TOOLS

# The section part of a page: the lines from ".Sh NAME" to the next .Sh.
section() {
	sed -n "/^\.Sh $1\$/,/^\.Sh /p" "$2" | sed '1d;$d'
}

# check_options TOOL PAGE: every option TOOL lists, at the top level and
# for each command, appears in PAGE as "Fl -name" or "Fl x".
check_options() {
	"$1" --list-options >top || return 1
	grep -q '^--help	flag$' top || {
		echo "$1 --list-options lists no --help" >&2
		return 1
	}
	miss=0
	for sub in "" $(sed -n 's/	command$//p' top); do
		"$1" --list-options $sub >opts || return 1
		for o in $(sed -n 's/^-\(-*[A-Za-z0-9][A-Za-z0-9-]*\)	.*/\1/p' \
			opts); do
			grep -Eq "(^\.|[[:space:]])Fl $o([[:space:]]|\$)" "$2" ||
				{
					echo "$2: no 'Fl $o' (-$o of $1 ${sub:-at the top level})" >&2
					miss=1
				}
		done
	done
	return $miss
}

# check_commands TOOL PAGE: every command TOOL lists is in PAGE as "Cm".
check_commands() {
	"$1" --list-options >top || return 1
	miss=0
	for sub in $(sed -n 's/	command$//p' top); do
		grep -Eq "(^\.|[[:space:]])Cm $sub([[:space:]]|\$)" "$2" || {
			echo "$2: no 'Cm $sub'" >&2
			miss=1
		}
	done
	return $miss
}

# unimplemented TOOL: the commands that answer "not implemented yet"
# ("-" for the default command), run in the case's empty directory with
# an empty $CDT_HOME, no stdin and no prompting.  The front command's
# names of tools are the tools' business, not cdt's.
unimplemented() {
	for sub in - $("$1" --list-options | sed -n 's/	command$//p'); do
		[ "$1" = cdt ] && command -v "cdt-$sub" >/dev/null && continue
		[ "$sub" = - ] && set -- "$1" || set -- "$1" "$sub"
		timeout 20 "$@" -C . --no-stdin --no-input </dev/null \
			>/dev/null 2>err
		rc=$?
		if [ $rc -eq 70 ] && grep -q "not implemented yet" err; then
			echo "${2:--}"
		fi
		set -- "$1"
	done
}

# check_honest TOOL PAGE: the page says which commands are not
# implemented yet: none when all are, the list of them when some are,
# and nothing of the kind when none are.
check_honest() {
	unimplemented "$1" >todo || return 1
	"$1" --list-options | sed -n 's/	command$//p' >cmds || return 1
	section DESCRIPTION "$2" >desc
	if [ ! -s todo ]; then
		! grep -n "implemented yet" "$2" >&2 || {
			echo "$2: says 'implemented yet', but $1 has it all" >&2
			return 1
		}
		return 0
	fi
	echo "$1: not implemented yet: $(tr '\n' ' ' <todo)"
	if grep -q "^None of its commands is implemented yet" desc; then
		for c in $(cat cmds); do
			grep -qx "$c" todo || {
				echo "$2: says none is implemented; '$c' is" >&2
				return 1
			}
		done
		return 0
	fi
	# The sentence that lists them: from "Not implemented yet" to the
	# first line ending with a full stop.
	sed -n '/^Not implemented yet/,/\.$/p' desc >sentence
	[ -s sentence ] || {
		echo "$2: DESCRIPTION does not say what is not implemented" >&2
		return 1
	}
	miss=0
	for c in $(grep -v '^-$' todo); do
		grep -Eq "^\.Cm $c( |\$)" sentence || {
			echo "$2: '$c' is not implemented, the page does not say" >&2
			miss=1
		}
	done
	for c in $(sed -n 's/^\.Cm \([a-z-]*\).*/\1/p' sentence); do
		grep -qx "$c" todo || {
			echo "$2: says '$c' is not implemented; it is" >&2
			miss=1
		}
	done
	return $miss
}

t_case 'mandoc is installed' 'command -v mandoc'

t_case 'the tools are built' '
	for t in $TOOLS; do command -v $t || exit 1; done
'

for page in "$SRC"/man/*.[1-9]; do
	export page
	t_case "mandoc -Tlint -W warning ${page#"$SRC"/}" '
		command -v mandoc >/dev/null &&
		{ mandoc -Tlint -W warning "$page" >out 2>&1; t_rc=$?; } &&
		cat out && t_lines 0 out && [ $t_rc -eq 0 ]
	'
done

for tool in $TOOLS; do
	export tool page=$SRC/man/$tool.1
	t_case "$tool has a page, and cdt(7) names it" '
		test -f "$page" &&
		grep -Eq "^\.Xr $tool 1( |\$)" "$SRC/man/cdt.7"
	'
	t_case "$tool(1) names every option $tool lists" '
		check_options $tool "$page"
	'
	t_case "$tool(1) names every command $tool lists" '
		check_commands $tool "$page"
	'
	t_case "$tool(1) has the sections of STYLE.md, in order" '
		printf "%s\n" NAME SYNOPSIS DESCRIPTION OPTIONS INPUT OUTPUT \
			ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO" \
			>want &&
		sed -n "s/^\.Sh //p" "$page" >got && t_cmp want got &&
		grep -q "^\.Nm $tool\$" "$page" &&
		grep -q "^\.Dt $(echo $tool | tr a-z A-Z) 1\$" "$page"
	'
	t_case "$tool(1) says which commands are not implemented yet" '
		check_honest $tool "$page"
	'
done

t_case 'cdt(7) says "not implemented yet" only while something is not' '
	for t in $TOOLS; do unimplemented $t; done >todo &&
	if [ -s todo ]; then
		t_grep "implemented yet" "$SRC/man/cdt.7"
	else
		! grep -n "implemented yet" "$SRC/man/cdt.7"
	fi
'

t_case 'cdt(7) lists every exit code of DESIGN §6' '
	section "EXIT STATUS" "$SRC/man/cdt.7" >codes &&
	for c in 0 1 64 65 66 69 70 73 74 75 77 78; do
		t_grep "^\.It $c\$" codes || exit 1
	done &&
	for c in 124 125 126 127; do t_grep "$c" codes || exit 1; done
'

t_case 'cdt(7) lists every record type of DESIGN §2' '
	section "RECORD TYPES" "$SRC/man/cdt.7" >types &&
	for t in auth api_key session request message delta file edit exec \
		exit checkpoint diff route error; do
		t_grep "^\.It Li $t\$" types || exit 1
	done
'

t_case 'cdt(7) lists the environment variables' '
	section ENVIRONMENT "$SRC/man/cdt.7" >env &&
	for v in CDT_HOME CDT_CONFIG CDT_LOG CDT_LOG_FORMAT CDT_TOKEN \
		CDT_SESSION CDT_PROJECT CDT_PROVIDER CDT_MODEL CDT_STORE_URL \
		CDT_STORAGE CDT_SANDBOX_ENGINE CDT_TEST_NO_OPENAT2 \
		XDG_DATA_HOME XDG_CONFIG_HOME NO_COLOR ANTHROPIC_API_KEY \
		OPENAI_API_KEY GEMINI_API_KEY GOOGLE_API_KEY MOONSHOT_API_KEY \
		OLLAMA_HOST; do
		grep -Eq "(^\.|[[:space:]])Ev $v([[:space:]]|\$)" env || {
			echo "no Ev $v" >&2
			exit 1
		}
	done
'

t_case 'cdt(7) lists the files under $CDT_HOME' '
	section FILES "$SRC/man/cdt.7" >files &&
	for f in cdt.db keys/ auth.json credentials.json tmp/ storage/; do
		t_grep "^\.It Pa \$CDT_HOME/$f" files || exit 1
	done
'

t_case 'cdt(7) documents the libjq number and UTF-8 limits' '
	t_grep "2^53" "$SRC/man/cdt.7" &&
	t_grep "re-serialised" "$SRC/man/cdt.7" &&
	t_grep "U+FFFD" "$SRC/man/cdt.7"
'

t_done
