#!/bin/bash
# The contract every tool keeps (DESIGN §2, §6): help, version, usage
# errors, bad records, forwarding, upstream errors, a full disk.
. "$(dirname "$0")/lib.sh"

# tool, and a command that reads a record stream before acting
TOOLS="cdt-auth:whoami cdt-session:list cdt-chat:models cdt-files:write
cdt-checkpoint:create cdt-route:status"

for tc in $TOOLS; do
	tool=${tc%%:*} cmd=${tc#*:}
	export tool cmd
	t_case "$tool --version prints name and version" '
		$tool --version >out &&
		t_grep "^$tool [0-9][0-9.]*\$" out && t_lines 1 out
	'
	t_case "$tool --help goes to stdout, exits 0" '
		$tool --help >out 2>err &&
		t_grep "^usage: $tool" out && t_grep "$cmd" out &&
		t_grep "\-\-jq EXPR" out && t_lines 0 err
	'
	t_case "cdt ${tool#cdt-} --help runs $tool" '
		cdt ${tool#cdt-} --help >out && t_grep "^usage: $tool" out
	'
	t_case "$tool: unknown option is 64 with a hint" '
		t_fails 64 $tool --no-such-option >out 2>err &&
		t_grep "^$tool: unknown option .--no-such-option." err &&
		t_grep "try .$tool --help." err
	'
	[ $tool = cdt-chat ] ||	# its default command takes any word
	t_case "$tool: unknown command is 64" '
		t_fails 64 $tool no-such-cmd -C . 2>err </dev/null >out &&
		t_grep "unknown command .no-such-cmd." err &&
		t_grep "\"class\":\"usage\"" out
	'
	t_case "$tool: tool-wide options before and after the command" '
		printf "" | t_fails 64 $tool -q --json $cmd --input bogus 2>err &&
		t_grep "input takes" err &&
		printf "" | t_fails 64 $tool --input bogus -v $cmd 2>err &&
		t_grep "input takes" err
	'
	t_case "$tool $cmd: malformed record is 65 naming line and column" '
		printf "{\"type\":\"zz\"}\n{\"type\": nope}\n" >in &&
		t_fails 65 $tool -C . $cmd <in >out 2>err &&
		t_grep "^$tool: bad record at line 2, column" err &&
		t_grep "\"type\":\"error\"" out && t_grep "\"code\":65" out
	'
	t_case "$tool $cmd: a value that is not a record is 65" '
		printf "{\"type\":\"zz\"}\n[1,2]\n" >in &&
		t_fails 65 $tool -C . $cmd <in >out 2>err &&
		t_grep "not an object" err
	'
	t_case "$tool $cmd: unknown and context records forwarded in order" '
		printf "%s\n" "{\"type\":\"zz\",\"n\":1}" \
		  "{\"type\":\"auth\",\"token\":\"t\",\"user\":{\"id\":\"u\"}}" \
		  "{\"type\":\"session\",\"id\":\"s1\"}" \
		  "{\"type\":\"yy\",\"a\":[1,{\"b\":null}]}" >in &&
		$tool -C . $cmd --json <in >out 2>err; rc=$? &&
		head -n 4 out >got && t_cmp in got
	'
	t_case "$tool $cmd: an upstream error record is forwarded, its code kept" '
		printf "%s\n" "{\"type\":\"zz\"}" \
		  "{\"type\":\"error\",\"tool\":\"cdt-x\",\"code\":69,\"class\":\"overloaded\",\"message\":\"down\"}" >in &&
		t_fails 69 $tool -C . $cmd <in >out 2>err &&
		t_cmp in out
	'
	t_case "$tool: writing to a full disk is 74" '
		printf "{\"type\":\"zz\"}\n" >in &&
		t_fails 74 $tool -C . $cmd <in >/dev/full 2>err &&
		t_grep "No space left on device" err
	'
	t_case "$tool: a closed pipe downstream ends quietly" '
		for i in $(seq 1 30000); do echo "{\"type\":\"zz\",\"i\":$i}"; done >in &&
		{ $tool -C . $cmd <in 2>err; echo $? >rc; } | head -n 1 >out &&
		t_lines 1 out && t_lines 0 err &&
		{ [ "$(cat rc)" = 141 ] || [ "$(cat rc)" = 70 ] || [ "$(cat rc)" = 0 ]; }
	'
	t_case "$tool: a closed stdin reads as empty" '
		$tool -C . $cmd --json <&- >out 2>err; rc=$?;
		[ $rc -ne 65 ] && [ $rc -lt 128 ]
	'
done

t_done
