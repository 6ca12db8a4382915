#!/bin/bash
# cdt-chat --edit and extract: file and edit records from the reply, all
# or nothing; the instructions reach the system prompt; the pipeline
# cdt-files read | cdt-chat --edit | cdt-files write works.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant
}
export -f fp_env

# script TEXT [STOP]: the fake's next anthropic reply.
script() {
	jq -cn --arg t "$1" --arg s "${2:-end}" \
		'{family: "anthropic", text: $t, chunks: 3, stop: $s}' >>fp/script.jsonl
}
export -f script

GOOD='I added a Makefile.

FILE: Makefile
```make
hello: hello.c
	cc -o hello hello.c
```

EDIT: hello.c
```
<<<<<<< SEARCH
	return 0;
=======
	puts("hi");
	return 0;
>>>>>>> REPLACE
```
'
export GOOD

t_case '--edit: the instructions go into the system prompt' '
	fp_start fp && trap fp_stop EXIT && fp_env && script "ok" &&
	cdt-chat --provider claude -s "be brief" --edit hi >out 2>err &&
	jq -r .system fp/last-anthropic.json >sys &&
	head -1 sys | grep -qx "be brief" && t_grep "<<<<<<< SEARCH" sys
'

t_case '--edit: message, then one file and one edit record, with ids' '
	fp_start fp && trap fp_stop EXIT && fp_env && script "$GOOD" &&
	mkdir ws && printf "int main(void)\n{\n\treturn 0;\n}\n" >ws/hello.c &&
	cdt-files -C ws read hello.c >in &&
	sha=$(jq -r .sha256 in) &&
	cdt-chat --provider claude --edit "add a Makefile" <in >out 2>err &&
	jq -r .type out >types &&
	printf "file\nmessage\nmessage\nfile\nedit\n" >want && t_cmp want types &&
	id=$(sed -n 3p out | jq -r .id) &&
	sed -n 4p out | jq -e --arg id "$id" ".path == \"Makefile\" and
		.content == \"hello: hello.c\n\tcc -o hello hello.c\n\" and
		.message_id == \$id and (has(\"base_sha256\") | not)" &&
	sed -n 5p out | jq -e --arg id "$id" --arg sha "$sha" ".path == \"hello.c\" and
		.search == \"\treturn 0;\n\" and
		.replace == \"\tputs(\\\"hi\\\");\n\treturn 0;\n\" and
		.message_id == \$id and .base_sha256 == \$sha"
'

t_case '--edit into cdt-files write: the FILE block lands on disk' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	script "FILE: Makefile
\`\`\`
all:
	true
\`\`\`" &&
	mkdir ws && echo "int main(void) { return 0; }" >ws/hello.c &&
	cdt-files -C ws read hello.c | cdt-chat --provider claude --edit "add a Makefile" |
		cdt-files -C ws write >out 2>err &&
	printf "all:\n\ttrue\n" >want && t_cmp want ws/Makefile
'

t_case '--edit: a malformed block is 1, no file or edit record, named' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	script "FILE: ok.txt
\`\`\`
fine
\`\`\`
EDIT: Makefile
\`\`\`
<<<<<<< SEARCH
old
=======
new
\`\`\`" &&
	t_fails 1 cdt-chat --provider claude --edit hi >out 2>err &&
	jq -r .type out >types &&
	printf "message\nmessage\nerror\n" >want && t_cmp want types &&
	t_grep "Makefile" err && t_grep "REPLACE" err &&
	sed -n 3p out | jq -e ".code == 1" &&
	cdt-chat log >log && t_lines 2 log
'

t_case '--edit: a reply stopped at max_tokens is 1 and emits no blocks' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	script "FILE: a.txt
\`\`\`
whole
\`\`\`" max_tokens &&
	t_fails 1 cdt-chat --provider claude --edit hi >out 2>err &&
	t_grep "max_tokens" err &&
	! jq -e "select(.type == \"file\" or .type == \"edit\")" out >/dev/null &&
	sed -n 2p out | jq -e ".stop_reason == \"max_tokens\""
'

t_case '--edit: a failed write downstream writes nothing' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	script "FILE: a.txt
\`\`\`
x
\`\`\`
SEARCH without header:
\`\`\`
<<<<<<< SEARCH
a
=======
b
>>>>>>> REPLACE
\`\`\`" &&
	mkdir ws &&
	cdt-chat --provider claude --edit hi 2>err | cdt-files -C ws write >out 2>err2;
	[ ! -e ws/a.txt ] && t_grep "no EDIT: header" err
'

t_case 'extract: raw reply text to records' '
	printf "%s" "$GOOD" | cdt-chat extract >out 2>err &&
	jq -r "[.type, .path] | join(\" \")" out >got &&
	printf "file Makefile\nedit hello.c\n" >want && t_cmp want got
'

t_case 'extract: a malformed reply is 1 with an error record' '
	printf "EDIT: x\n\`\`\`\n<<<<<<< SEARCH\na\n\`\`\`\n" |
	t_fails 1 cdt-chat extract >out 2>err &&
	t_lines 1 out && jq -e ".type == \"error\" and .code == 1" out &&
	t_grep "divider" err
'

t_case 'extract: message records in, bases from file records, all forwarded' '
	printf "%s\n" "{\"type\":\"file\",\"path\":\"hello.c\",\"sha256\":\"abc\"}" >in &&
	jq -cn --arg t "$GOOD" "{type: \"message\", id: \"m1\", role: \"assistant\", content: \$t}" >>in &&
	cdt-chat extract <in >out 2>err &&
	head -2 out >fwd && t_cmp in fwd &&
	sed -n 4p out | jq -e ".type == \"edit\" and .base_sha256 == \"abc\" and .message_id == \"m1\""
'

t_case 'extract: nothing to extract is fine' '
	echo "no blocks here" | cdt-chat extract >out 2>err && t_lines 0 out
'

t_done
