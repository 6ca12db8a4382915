#!/bin/bash
# cdt-chat conversations: new by default, -c (most recently used, within
# a session), --conversation PREFIX, --session, and log.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant
}
export -f fp_env

conv_of() {
	sed -n 1p "$1" | jq -r .conversation_id
}
export -f conv_of

t_case 'each invocation starts a new conversation' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude one >a 2>err &&
	cdt-chat --provider claude two >b 2>err &&
	[ "$(conv_of a)" != "$(conv_of b)" ] &&
	jq -e "(.messages | length) == 1" fp/last-anthropic.json
'

t_case '-c continues the most recently used one, with its history' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude one >a 2>err &&
	cdt-chat --provider claude two >b 2>err &&
	cdt-chat --provider claude --conversation "$(conv_of a)" three >c 2>err &&
	cdt-chat --provider claude -c four >d 2>err &&
	[ "$(conv_of d)" = "$(conv_of a)" ] &&
	jq -c "[.messages[] | .content]" fp/last-anthropic.json >got &&
	echo "[\"one\",\"echo: one\",\"three\",\"echo: three\",\"four\"]" >want &&
	t_cmp want got
'

t_case '-c with no conversation yet is 66' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && fp_env &&
	t_fails 66 cdt-chat --provider claude -c hi >out 2>err &&
	test "$(fp_hits)" -eq 0
'

t_case '--conversation takes a unique prefix; unknown 66, ambiguous 64' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude one >a 2>err &&
	id=$(conv_of a) &&
	cdt-chat --provider claude --conversation "${id:0:6}" again >b 2>err &&
	[ "$(conv_of b)" = "$id" ] &&
	t_fails 66 cdt-chat --provider claude --conversation zzzz hi >out 2>err &&
	t_grep "no such conversation .zzzz." err &&
	: >ids &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
		cdt-chat --provider claude "n$i" >o 2>/dev/null &&
		conv_of o >>ids || exit 1
	done &&
	c=$(cut -c1 ids | sort | uniq -d | head -1) && [ -n "$c" ] &&
	t_fails 64 cdt-chat --provider claude --conversation "$c" hi >out 2>err &&
	t_grep "ambiguous" err
'

t_case '--session groups conversations; -c stays within the session' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && fp_env &&
	S1=$(cdt-session create --owner-pid 0 --jq .id 2>/dev/null) &&
	S2=$(cdt-session create --owner-pid 0 --jq .id) &&
	cdt-chat --provider claude --session $S1 one >a 2>err &&
	cdt-chat --provider claude --session $S2 two >b 2>err &&
	cdt-chat --provider claude --session $S1 -c three >c 2>err &&
	[ "$(conv_of c)" = "$(conv_of a)" ] &&
	sed -n 2p c | jq -e --arg s $S1 ".session_id == \$s" &&
	CDT_SESSION=$S2 cdt-chat --provider claude -c four >d 2>err &&
	[ "$(conv_of d)" = "$(conv_of b)" ]
'

t_case 'a session that is not in the store is 66, and nothing is sent' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && fp_env &&
	t_fails 66 cdt-chat --provider claude --session nope hi >out 2>err &&
	t_grep "no such session .nope." err &&
	CDT_SESSION=00000000-0000-4000-8000-000000000000 t_fails 66 \
		cdt-chat --provider claude hi >out 2>err &&
	test "$(fp_hits)" -eq 0
'

t_case 'log: the latest conversation; --conversation; --session' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && fp_env &&
	S=$(cdt-session create --owner-pid 0 --jq .id 2>/dev/null) &&
	cdt-chat --provider claude --session $S one >a 2>err &&
	cdt-chat --provider claude --session $S two >b 2>err &&
	cdt-chat --provider claude three >c 2>err &&
	cdt-chat log >log && t_lines 2 log &&
	sed -n 1p log | jq -e ".content == \"three\"" &&
	cdt-chat log --conversation "$(conv_of a)" | jq -r .content >got &&
	printf "one\necho: one\n" >want && t_cmp want got &&
	cdt-chat log --session $S | jq -r .content >got &&
	printf "one\necho: one\ntwo\necho: two\n" >want && t_cmp want got &&
	t_fails 66 cdt-chat log --session nope >out 2>err &&
	t_grep "no such session .nope." err
'

t_case 'log: the records are the ones sent, and text for a person' '
	t_identity &&
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude hello >sent 2>err &&
	cdt-chat log >log &&
	jq -S "del(.metadata)" sent >a && jq -S "del(.metadata)" log >b && t_cmp a b &&
	jq -S ".metadata" sent >a && jq -S ".metadata" log >b && t_cmp a b &&
	cdt-chat log --text >txt &&
	printf "user> hello\necho: hello\n" >want && t_cmp want txt
'

t_case 'log with no store is 66 and creates nothing' '
	t_identity &&
	t_fails 66 cdt-chat log >out 2>err && [ ! -e "$CDT_HOME/cdt.db" ]
'

t_done
