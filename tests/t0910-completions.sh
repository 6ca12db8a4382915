#!/bin/bash
# The shell completions (STYLE.md, "Man pages and completions"), driven
# for real in bash (bash-completion), zsh (compinit, a key pressed in a
# pseudo-terminal) and fish (complete -C): commands for the first word,
# the options of the command after it, file names where an option takes
# a file, and `cdt NAME ...` completing as the tool.  Each shell must
# offer exactly the options the tool lists (the long ones after --, short
# and long after -), every command, and the scripts name none.
. "$(dirname "$0")/lib.sh"

TOOLS="cdt $(cd "$SRC/bin" && ls cdt-*.c | sed 's/\.c$//' | tr '\n' ' ')"
BASH_COMPLETION=${BASH_COMPLETION:-/usr/share/bash-completion/bash_completion}
export TOOLS BASH_COMPLETION

# bash_complete LINE...: "LINE<TAB>CANDIDATE" for what bash offers at the
# end of each LINE, through the function `complete -p` names for it.
bash_complete() {
	bash --norc --noprofile -c '
		. "$BASH_COMPLETION" || exit 2
		. "$SRC/completions/bash/cdt" || exit 2
		for COMP_LINE; do
			COMP_POINT=${#COMP_LINE}
			read -ra COMP_WORDS <<<"$COMP_LINE"
			[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
			COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
			spec=$(complete -p "${COMP_WORDS[0]}") || exit 3
			fn=${spec#*-F }
			fn=${fn%% *}
			COMPREPLY=()
			"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
				"${COMP_WORDS[COMP_CWORD - 1]}"
			for c in "${COMPREPLY[@]}"; do
				printf "%s\t%s\n" "$COMP_LINE" "$c"
			done
		done' bash "$@"
}

# zsh_complete LINE...: types each LINE into an interactive zsh -f in a
# pseudo-terminal and presses a key bound to a widget that runs the
# completion system's complete-word, waiting for each line to be done
# (zle may drop typeahead).  Writes "LINE<TAB>WORD" for each word
# our function passes to compadd, and "LINE<TAB>= BUFFER" for the command
# line after completing.
zsh_complete() {
	cat >zsetup <<-'EOF'
	PS1='%% '
	unsetopt beep auto_list list_ambiguous
	fpath=("$SRC/completions/zsh" $fpath)
	autoload -U compinit && compinit -u -D
	compadd() {
		local i=${argv[(i)--]} tab=$'\t'
		(( i < $# )) &&
			print -rl -- "${(@)argv[i+1,-1]/#/$_t_line$tab}" >>"$T_OUT"
		builtin compadd "$@"
	}
	_t_complete() {
		_t_line=$BUFFER
		zle complete-word
		print -r -- "$_t_line"$'\t'"= $BUFFER" >>"$T_OUT"
		BUFFER=
		zle -M "T_DONE_$(( ++_t_n ))."
	}
	zle -N _t_complete
	bindkey '^X^T' _t_complete
	print -r -- SET''UP
	EOF
	: >zout
	T_OUT=$PWD/zout timeout 120 zsh -f -c '
		zmodload zsh/zpty || exit 2
		zpty z zsh -f -i || exit 2
		zpty -w z "source ./zsetup"
		zpty -r -m z junk "*SETUP*" || exit 3
		n=0
		for line; do
			zpty -w -n z "$line"$'\''\C-x\C-t'\''
			zpty -r -m z junk "*T_DONE_$(( ++n )).*" || exit 3
		done
		zpty -w z "print -r -- DO''NE"
		zpty -r -m z junk "*DONE*" || exit 3
		zpty -d z' zsh "$@" && cat zout
}

# fish_complete LINE...: "LINE<TAB>CANDIDATE" from `complete -C`, with
# our directory first in fish_complete_path so that fish finds each
# script by command name, as it does when they are installed.
fish_complete() {
	fish --no-config -c '
		set -p fish_complete_path $SRC/completions/fish
		for l in $argv
			for c in (complete -C "$l")
				printf "%s\t%s\n" "$l" (string split -m1 \t -- $c)[1]
			end
		end' "$@"
}

# cands FILE LINE: the candidates FILE holds for LINE, sorted.
cands() {
	awk -F '\t' -v l="$2" '$1 == l { print $2 }' "$1" | sort
}

# has FILE LINE WORD...: each WORD is among the candidates for LINE.
has() {
	t_f=$1 t_l=$2
	shift 2
	cands "$t_f" "$t_l" >cands.out
	for w; do
		grep -qxF -- "$w" cands.out || {
			echo "'$t_l<TAB>' does not offer '$w'; it offers:" >&2
			sed 's/^/  | /' cands.out >&2
			return 1
		}
	done
}

# hasnt FILE LINE WORD...: no WORD is among the candidates for LINE.
hasnt() {
	t_f=$1 t_l=$2
	shift 2
	cands "$t_f" "$t_l" >cands.out
	for w; do
		! grep -qxF -- "$w" cands.out || {
			echo "'$t_l<TAB>' offers '$w'" >&2
			return 1
		}
	done
}

# The lines every shell is asked, after the files below exist.
ASK=(
	"cdt-files re" "cdt-files read --r" "cdt-files read --ra"
	"cdt-files -C sub read --r" "cdt ch" "cdt cha" "cdt chat --e"
	"cdt-chat hello --st" "cdt-files -C " "cdt-files -C su"
	"cdt-files --jq " "cdt-files read " "cdt-session exec -- su"
	"cdt render --j" "cdt-route st" "cdt-files -qC sub re"
	"cdt-files -Csub re" "cdt-files --directory=sub -v re"
)
# ... and for each tool and command, "TOOL [COMMAND] --".
tool_lines() {
	for t in $TOOLS; do
		echo "$t --"
		[ $t = cdt ] && echo "cdt render --" && continue
		for c in $($t --list-options | sed -n 's/	command$//p'); do
			echo "$t $c --"
		done
	done
}

# long_opts CMD...: the long options `CMD... --list-options` lists, sorted.
long_opts() {
	"$@" --list-options | sed -n 's/^\(--[^	]*\)	.*/\1/p' | sort
}

# check_all_options FILE: for every "TOOL [COMMAND] --" line, the shell
# offered exactly the long options the tool lists there.
check_all_options() {
	tool_lines >lines || return 1
	miss=0
	while read -r t c; do
		c=${c%--}
		# What the scripts ask: `cdt NAME --list-options` for cdt.
		if [ "$t" = cdt ] && [ -n "$c" ]; then
			long_opts cdt $c >want
		else
			"$t" --list-options $c |
				sed -n 's/^\(--[^	]*\)	.*/\1/p' | sort >want
		fi
		cands "$1" "$t $c--" | grep -- '^--' >got
		[ -s want ] && diff -u want got >&2 || {
			echo "'$t $c--<TAB>' offers other options than" \
				"'$t --list-options $c' lists" >&2
			miss=1
		}
	done <lines
	return $miss
}

# every_lines: for each tool and command, "TOOL [COMMAND] -" (every
# option, short and long, is a candidate) and, for each tool with
# commands, "TOOL " (every command is).
every_lines() {
	for t in $TOOLS; do
		echo "$t -"
		[ $t = cdt ] && echo "cdt render -" && continue
		for c in $($t --list-options | sed -n 's/	command$//p'); do
			echo "$t $c -"
		done
		$t --list-options | grep -q '	command$' && echo "$t "
	done
}

# check_every FILE: at "TOOL [COMMAND] -" the shell offered exactly the
# options, short and long, the tool lists there; at "TOOL " it offered
# every command the tool lists.
check_every() {
	every_lines >lines || return 1
	miss=0
	while IFS= read -r l; do
		set -- $l
		t=$1 c=
		[ $# -eq 3 ] && c=$2
		case $l in
		*-)	"$t" --list-options $c |
				sed -n 's/^\(-[^	]*\)	.*/\1/p' | sort >want
			cands "$F" "$l" | grep -- '^-' >got ;;
		*)	"$t" --list-options | sed -n 's/	command$//p' |
				sort >want
			cands "$F" "$l" | grep -xFf want >got ;;
		esac
		[ -s want ] && diff -u want got >&2 || {
			echo "'$l<TAB>' offers other options or commands than" \
				"'$t --list-options $c' lists" >&2
			miss=1
		}
	done <lines
	return $miss
}

setup_files() {
	mkdir sub subway && touch sub/a.c readme
}

t_case 'bash, bash-completion, zsh and fish are installed' '
	command -v bash && test -f "$BASH_COMPLETION" &&
	command -v zsh && command -v fish
'

t_case 'the scripts name no option of any tool' '
	for t in $TOOLS; do
		$t --list-options || exit 1
		for c in $($t --list-options | sed -n "s/	command\$//p"); do
			$t --list-options $c || exit 1
		done
	done | sed -n "s/^\(--[^	]*\)	.*/\1/p" | sort -u >opts &&
	[ -s opts ] &&
	! grep -rnwF -f opts "$SRC/completions"
'

# bash

t_case 'bash: every tool is registered with one function' '
	bash --norc --noprofile -c ". \"$BASH_COMPLETION\" &&
		. \"$SRC/completions/bash/cdt\" &&
		for t in $TOOLS; do complete -p \$t || exit 1; done" >specs &&
	t_lines $(echo $TOOLS | wc -w) specs &&
	t_lines 1 <(sed "s/ [^ ]*\$//" specs | sort -u)
'

t_case 'bash: commands, options, files and cdt NAME' '
	setup_files && bash_complete "${ASK[@]}" >out &&
	has out "cdt-files re" read && hasnt out "cdt-files re" ls &&
	has out "cdt-files read --r" --raw --recursive &&
	hasnt out "cdt-files read --r" --json &&
	has out "cdt-files read --ra" --raw &&
	has out "cdt-files -C sub read --r" --raw &&
	has out "cdt ch" chat checkpoint && hasnt out "cdt ch" auth &&
	has out "cdt chat --e" --edit &&
	has out "cdt-chat hello --st" --stream &&
	has out "cdt-files -C " sub subway readme &&
	has out "cdt-files -C su" sub subway && hasnt out "cdt-files -C su" readme &&
	t_lines 0 <(cands out "cdt-files --jq ") &&
	has out "cdt-files read " readme sub && hasnt out "cdt-files read " read &&
	has out "cdt-session exec -- su" sub subway &&
	has out "cdt render --j" --jq --json &&
	has out "cdt-route st" status &&
	has out "cdt-files -qC sub re" read &&
	has out "cdt-files -Csub re" read &&
	has out "cdt-files --directory=sub -v re" read
'

t_case 'bash: each command is offered exactly its options' '
	tool_lines >lines && mapfile -t l <lines &&
	bash_complete "${l[@]}" >out && check_all_options out
'

t_case 'bash: every option, short and long, and every command' '
	every_lines >lines && mapfile -t l <lines &&
	bash_complete "${l[@]}" >out && F=out check_every
'

# zsh

t_case 'zsh: #compdef names every tool' '
	head -1 "$SRC/completions/zsh/_cdt" >first &&
	for t in $TOOLS; do
		grep -Eq "^#compdef( [a-z-]+)* $t( |\$)" first || exit 1
	done
'

t_case 'zsh: commands, options, files and cdt NAME' '
	setup_files && zsh_complete "${ASK[@]}" >out &&
	has out "cdt-files re" read "= cdt-files read " &&
	has out "cdt-files read --r" --raw --recursive &&
	has out "cdt-files read --ra" "= cdt-files read --raw " &&
	has out "cdt-files -C sub read --r" --raw &&
	has out "cdt ch" chat checkpoint &&
	has out "cdt cha" "= cdt chat " &&
	has out "cdt chat --e" "= cdt chat --edit " &&
	has out "cdt-chat hello --st" "= cdt-chat hello --stream " &&
	has out "cdt-files -C su" "= cdt-files -C sub" &&
	hasnt out "cdt-files -C su" read "= cdt-files -C su" &&
	has out "cdt-files --jq " "= cdt-files --jq " &&
	hasnt out "cdt-files --jq " read --json &&
	has out "cdt-session exec -- su" "= cdt-session exec -- sub" &&
	has out "cdt render --j" --jq --json &&
	has out "cdt-route st" "= cdt-route status " &&
	has out "cdt-files -qC sub re" "= cdt-files -qC sub read " &&
	has out "cdt-files -Csub re" "= cdt-files -Csub read " &&
	has out "cdt-files --directory=sub -v re" \
		"= cdt-files --directory=sub -v read "
'

t_case 'zsh: each command is offered exactly its options' '
	tool_lines >lines && mapfile -t l <lines &&
	zsh_complete "${l[@]}" >out && check_all_options out
'

t_case 'zsh: every option, short and long, and every command' '
	every_lines >lines && mapfile -t l <lines &&
	zsh_complete "${l[@]}" >out && F=out check_every
'

# fish

t_case 'fish: a script for every tool, found by its name' '
	for t in $TOOLS; do
		test -f "$SRC/completions/fish/$t.fish" || exit 1
	done &&
	mapfile -t l < <(for t in $TOOLS; do echo "$t --h"; done) &&
	fish_complete "${l[@]}" >out &&
	for t in $TOOLS; do has out "$t --h" --help || exit 1; done
'

t_case 'fish: commands, options, files and cdt NAME' '
	setup_files && fish_complete "${ASK[@]}" >out &&
	has out "cdt-files re" read && hasnt out "cdt-files re" ls &&
	has out "cdt-files read --r" --raw --recursive &&
	hasnt out "cdt-files read --r" --json &&
	has out "cdt-files -C sub read --r" --raw &&
	has out "cdt ch" chat checkpoint && hasnt out "cdt ch" auth &&
	has out "cdt chat --e" --edit &&
	has out "cdt-chat hello --st" --stream &&
	has out "cdt-files -C " sub/ subway/ readme &&
	has out "cdt-files -C su" sub/ subway/ &&
	t_lines 0 <(cands out "cdt-files --jq ") &&
	has out "cdt-files read " readme sub/ && hasnt out "cdt-files read " read &&
	has out "cdt-session exec -- su" sub/ subway/ &&
	has out "cdt render --j" --jq --json &&
	has out "cdt-route st" status &&
	has out "cdt-files -qC sub re" read &&
	has out "cdt-files -Csub re" read &&
	has out "cdt-files --directory=sub -v re" read
'

t_case 'fish: each command is offered exactly its options' '
	tool_lines >lines && mapfile -t l <lines &&
	fish_complete "${l[@]}" >out && check_all_options out
'

t_case 'fish: every option, short and long, and every command' '
	every_lines >lines && mapfile -t l <lines &&
	fish_complete "${l[@]}" >out && F=out check_every
'

t_done
