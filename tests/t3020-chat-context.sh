#!/bin/bash
# cdt-chat: records on stdin become the context of the user message (file,
# diff, exec and exit), message records become the history, -f attaches
# files; the request body the fake saved shows what the model saw.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant \
		OPENAI_BASE_URL=$FP_URL/v1 OPENAI_API_KEY=k-oai \
		GEMINI_BASE_URL=$FP_URL GEMINI_API_KEY=k-gem
}
export -f fp_env

# The last user message the fake received.
last_user() {
	jq -r ".messages[-1].content" fp/last-anthropic.json
}
export -f last_user

t_case 'file records: path and content in a fence, forwarded' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir ws && printf "int main(void) { return 0; }\n" >ws/hello.c &&
	cdt-files -C ws read hello.c >in &&
	cdt-chat --provider claude "what does it do" <in >out 2>err &&
	head -1 out >fwd && t_cmp in fwd &&
	last_user >got &&
	printf "%s\n" "what does it do" "" "FILE: hello.c" "\`\`\`c" \
		"int main(void) { return 0; }" "\`\`\`" >want &&
	t_cmp want got
'

t_case 'a file holding ``` lines gets a longer fence' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"type\":\"file\",\"path\":\"README.md\",\"content\":\"# x\n\`\`\`\nmake\n\`\`\`\n\"}" |
	cdt-chat --provider claude "fix the readme" >out 2>err &&
	last_user >got && t_grep "^\`\`\`\`md$" got &&
	test "$(grep -c "^\`\`\`\`$" got)" -eq 1
'

t_case 'diff, exec and exit records: attached in stream order' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" \
		"{\"type\":\"diff\",\"path\":\"a.c\",\"status\":\"modified\",\"patch\":\"--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-x\n+y\n\"}" \
		"{\"type\":\"exec\",\"argv\":[\"make\",\"test\"],\"stream\":\"stdout\",\"data\":\"cc a.c\n\"}" \
		"{\"type\":\"exec\",\"argv\":[\"make\",\"test\"],\"stream\":\"stderr\",\"data\":\"a.c:1: error\n\"}" \
		"{\"type\":\"exit\",\"argv\":[\"make\",\"test\"],\"code\":2}" >in &&
	cdt-chat --provider claude "why does it fail" <in >out 2>err &&
	head -4 out >fwd && t_cmp in fwd &&
	last_user >got &&
	printf "%s\n" "why does it fail" "" "DIFF: a.c (modified)" "\`\`\`diff" \
		"--- a/a.c" "+++ b/a.c" "@@ -1 +1 @@" "-x" "+y" "\`\`\`" "" \
		"COMMAND: make test" "\`\`\`" "cc a.c" "a.c:1: error" "\`\`\`" \
		"EXIT: 2" >want &&
	t_cmp want got
'

t_case 'an exit record alone, and a killed command' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" "{\"type\":\"exit\",\"argv\":[\"true\"],\"code\":0}" \
		"{\"type\":\"exit\",\"argv\":[\"sleep\",\"9\"],\"signal\":\"SIGKILL\"}" |
	cdt-chat --provider claude "status?" >out 2>err &&
	last_user >got &&
	t_grep "^COMMAND: true (no output)$" got && t_grep "^EXIT: 0$" got &&
	t_grep "^EXIT: killed by SIGKILL$" got
'

t_case 'binary file records are named, not shown' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"type\":\"file\",\"path\":\"logo.png\",\"content_base64\":\"iVBORw==\",\"size\":4}" |
	cdt-chat --provider claude "what is it" >out 2>err &&
	last_user | t_grep "^FILE: logo.png (binary, 4 bytes, not shown)$" /dev/stdin
'

t_case '-f attaches files, after the prompt' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "line one\n" >notes.txt && printf "x=1\n" >conf.ini &&
	cdt-chat --provider claude -f notes.txt -f conf.ini "read these" >out 2>err &&
	last_user >got &&
	printf "%s\n" "read these" "" "FILE: notes.txt" "\`\`\`txt" "line one" \
		"\`\`\`" "" "FILE: conf.ini" "\`\`\`ini" "x=1" "\`\`\`" >want &&
	t_cmp want got &&
	t_fails 66 cdt-chat --provider claude -f missing.txt hi >out 2>err &&
	t_grep "missing.txt" err
'

t_case 'context alone is something to send' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"type\":\"file\",\"path\":\"a.txt\",\"content\":\"hello\n\"}" |
	cdt-chat --provider claude >out 2>err && t_lines 3 out
'

t_case 'message records become the history and continue their conversation' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude "first question" >one 2>err &&
	conv=$(sed -n 1p one | jq -r .conversation_id) &&
	cdt-chat --provider claude "second question" <one >two 2>err &&
	jq -c "[.messages[] | [.role, .content]]" fp/last-anthropic.json >got &&
	echo "[[\"user\",\"first question\"],[\"assistant\",\"echo: first question\"],[\"user\",\"second question\"]]" >want &&
	t_cmp want got &&
	t_lines 4 two && head -2 two >fwd && t_cmp one fwd &&
	sed -n 3,4p two | jq -e --arg c "$conv" ".conversation_id == \$c" &&
	cdt-chat log --conversation "$conv" >log && t_lines 4 log
'

t_case 'message records replace the stored history' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude "stored question" >one 2>err &&
	conv=$(sed -n 1p one | jq -r .conversation_id) &&
	echo "{\"type\":\"message\",\"conversation_id\":\"$conv\",\"role\":\"user\",\"content\":\"edited question\"}" |
	cdt-chat --provider claude "next" >two 2>err &&
	jq -c "[.messages[] | .content]" fp/last-anthropic.json >got &&
	echo "[\"edited question\",\"next\"]" >want && t_cmp want got
'

t_case 'a system message record is the system prompt unless -s' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"type\":\"message\",\"role\":\"system\",\"content\":\"talk like a pirate\"}" >in &&
	cdt-chat --provider claude hi <in >out 2>err &&
	jq -e ".system == \"talk like a pirate\" and (.messages | length) == 1" fp/last-anthropic.json &&
	cdt-chat --provider claude -s "be plain" hi <in >out 2>err &&
	jq -e ".system == \"be plain\"" fp/last-anthropic.json
'

t_case 'session and auth records are forwarded; the session is the context' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-auth init --json 2>/dev/null >in &&
	cdt-session create --owner-pid 0 --jq .id >sid </dev/null &&
	cdt-session get "$(cat sid)" >>in </dev/null &&
	cdt-chat --provider claude hi <in >out 2>err &&
	head -2 out >fwd && t_cmp in fwd &&
	sed -n 4p out | jq -e --arg s "$(cat sid)" ".session_id == \$s" &&
	printf "%s\n" "{\"type\":\"session\",\"id\":\"s1\"}" "{\"type\":\"session\",\"id\":\"s2\"}" |
	t_fails 65 cdt-chat --provider claude hi >out 2>err &&
	t_grep "session" err
'

t_case 'the auth record on stdin is the caller; a forged one is refused' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-auth init --org acme --team web --email admin@acme.test --json \
		>acme 2>/dev/null &&
	cdt-auth init --org beta --team web --email boss@beta.test \
		>/dev/null 2>&1 &&
	cdt-chat --provider claude hi <acme >out 2>err &&
	c=$(sed -n 2p out | jq -r .conversation_id) &&
	store-open "$CDT_HOME/cdt.db" "SELECT o.name FROM conversations c
		JOIN orgs o ON o.id = c.org_id WHERE c.id = ?" "[\"$c\"]" >o &&
	echo "{\"name\":\"acme\"}" >w && t_cmp w o &&
	jq -c ".token = \"eyJhbGciOiJub25lIn0.e30.\"" acme >forged &&
	t_fails 77 cdt-chat --provider claude hi <forged >out 2>err &&
	t_grep "access token refused (alg)" err &&
	jq -e ".type == \"error\" and .code == 77" <(tail -1 out) &&
	test "$(fp_hits)" -eq 1
'

t_case 'history longer than the window: newest turns sent, a note on stderr' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "providers:\n  small:\n    type: anthropic\n    base_url: %s\n    api_key_env: ANTHROPIC_API_KEY\n    model: tiny\n    max_input_tokens: 300\n    max_tokens: 100\n" \
		"$FP_URL" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	long=$(printf "%0200d" 0) &&
	cdt-chat --provider small "one $long" >/dev/null 2>err &&
	cdt-chat --provider small -c "two $long" >/dev/null 2>err &&
	cdt-chat --provider small -c "three" >/dev/null 2>err &&
	t_grep "2 earlier messages left out" err &&
	jq -c "[.messages[] | .content[0:5]]" fp/last-anthropic.json >got &&
	echo "[\"two 0\",\"echo:\",\"three\"]" >want && t_cmp want got
'

t_done
