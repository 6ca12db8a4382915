#!/bin/bash
# The record stream rules (DESIGN §2) as the tools see them.
. "$(dirname "$0")/lib.sh"

t_case "pretty-printed and concatenated JSON are records too" '
	printf "{\n  \"type\": \"zz\",\n  \"a\": [1,\n 2]\n}{\"type\":\"yy\"}   {\"type\":\"xx\"}" |
	cdt-files -C . write --json >out 2>/dev/null &&
	printf "%s\n" "{\"type\":\"zz\",\"a\":[1,2]}" "{\"type\":\"yy\"}" "{\"type\":\"xx\"}" >want &&
	head -n 3 out >got && t_cmp want got
'

t_case "forwarding keeps the JSON value; numbers are doubles (libjq 1.6)" '
	echo "{\"type\":\"zz\",\"s\":\"\\u00e9\\ud83d\\ude00\",\"n\":1.50,\"big\":12345678901234567890}" |
	cdt-files -C . write --json 2>/dev/null | head -n 1 >got &&
	jq -e ".s == \"\\u00e9\\ud83d\\ude00\" and .n == 1.5" got
'

t_case "--input records on raw text is 65" '
	echo "hello" | t_fails 65 cdt-files -C . write --input records 2>err &&
	t_grep "bad record" err
'

t_case "raw text is not records: nothing forwarded" '
	echo "hello {\"type\":\"zz\"}" | cdt-files -C . write --json >out 2>/dev/null &&
	t_lines 0 out
'

t_case "--no-stdin does not read stdin" '
	echo "{\"type\":\"zz\"}" | cdt-files -C . write --no-stdin --json >out 2>/dev/null &&
	t_lines 0 out
'

t_case "a record over the 64 MiB cap is 65" '
	{ printf "{\"type\":\"zz\",\"s\":\""; head -c 68000000 /dev/zero | tr "\0" a; printf "\"}\n"; } |
	t_fails 65 cdt-files -C . write 2>err >/dev/null && t_grep "cap" err
'

t_case "text mode never shows forwarded records" '
	echo "{\"type\":\"zz\",\"secret\":1}" | cdt-files -C . write --text >out 2>err &&
	t_lines 0 out
'

t_case "CDT_LOG_FORMAT=json makes stderr an error record" '
	CDT_LOG_FORMAT=json t_fails 64 cdt-files --bogus 2>err >/dev/null &&
	head -n 1 err | jq -e ".type == \"error\" and .class == \"usage\" and .tool == \"cdt-files\""
'

t_case "-q silences warnings, CDT_LOG=debug allows more" '
	echo "{\"type\":\"error\",\"tool\":\"x\",\"code\":3}" >in &&
	CDT_LOG=info t_fails 3 cdt-files -C . write <in >/dev/null 2>err &&
	t_grep "not writing: x failed upstream" err &&
	CDT_LOG=info t_fails 3 cdt-files -C . -q write <in >/dev/null 2>err &&
	t_lines 0 err
'

t_case "--jq with a bad expression is 64" '
	t_fails 64 cdt-files -C . stat x --jq "..[" 2>err >/dev/null
'

t_case "--json, --text and --jq exclude each other" '
	t_fails 64 cdt-files -C . ls --json --text 2>err </dev/null &&
	t_grep "exclude" err
'

t_case "cdt render: text for a person, exits with the error record code" '
	printf "%s\n" "{\"type\":\"message\",\"role\":\"assistant\",\"id\":\"m\",\"content\":\"Hello\"}" \
		"{\"type\":\"file\",\"path\":\"a.c\",\"size\":12,\"sha256\":\"abcdef0123456789\"}" \
		"{\"type\":\"exec\",\"stream\":\"stdout\",\"data\":\"built\\n\"}" \
		"{\"type\":\"exit\",\"code\":0}" \
		"{\"type\":\"checkpoint\",\"sha\":\"0123456789abcdef\",\"branch\":\"coditect/session-1\",\"message\":\"model edit\\n\\nCdt-Session: 1\\n\"}" \
		"{\"type\":\"auth\",\"token\":\"SECRET\",\"user\":{\"email\":\"a@b\"}}" \
		"{\"type\":\"error\",\"tool\":\"cdt-session\",\"code\":75,\"message\":\"lock busy\"}" >in &&
	t_fails 75 cdt render <in >out 2>err &&
	t_grep "^Hello$" out && t_grep "^a.c  *12  abcdef012345" out &&
	t_grep "^built$" out && t_grep "^\[exit 0\]$" out &&
	t_grep "^0123456789ab coditect/session-1 model edit$" out &&
	! grep -q Cdt-Session out &&
	t_grep "a@b" out && ! grep -q SECRET out err &&
	t_grep "cdt-session: lock busy" err
'

t_case "cdt render: deltas stream, the message is not repeated" '
	printf "%s\n" "{\"type\":\"delta\",\"message_id\":\"m\",\"content\":\"Hel\"}" \
		"{\"type\":\"delta\",\"message_id\":\"m\",\"content\":\"lo\"}" \
		"{\"type\":\"message\",\"role\":\"assistant\",\"id\":\"m\",\"content\":\"Hello\"}" |
	cdt render >out && echo Hello >want && t_cmp want out
'

t_case "cdt render: a bad record is 65" '
	printf "{\"type\":\"zz\"}\n{oops}\n" | t_fails 65 cdt render >/dev/null 2>err &&
	t_grep "line 2" err
'

t_case "cdt NAME runs cdt-NAME; unknown names are 64" '
	cdt files --version >out && t_grep "^cdt-files " out &&
	t_fails 64 cdt nosuch 2>err && t_grep "unknown command" err
'

t_done
