#!/bin/bash
# cdt-chat -i: the REPL through a pseudo-terminal (python3's pty module):
# turns, multi-line input, slash commands, readline history, Ctrl-C at the
# prompt and mid-stream (the partial reply kept in the log), and records
# on stdin read first while the questions come from the terminal.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant
}
export -f fp_env

# ptydrive.py STEPS -- CMD...: run CMD on a new pty and follow STEPS, one per
# line: "expect REGEX", "send TEXT" (Python escapes: \r, \x03),
# "sleep SECONDS", "exit CODE" (the status CMD must end with).  Each
# expect waits up to 10 s.  The whole terminal output goes to pty.out.
PTY_PY=$T_TRASH/ptydrive.py
export PTY_PY
cat >"$PTY_PY" <<'PY'
import os, pty, re, select, sys, time
steps = open(sys.argv[1]).read().splitlines()
argv = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b""
log = open("pty.out", "wb")
def read_some(t):
    global out
    r, _, _ = select.select([fd], [], [], t)
    if not r:
        return False
    try:
        b = os.read(fd, 4096)
    except OSError:
        return None
    if not b:
        return None
    out += b
    log.write(b); log.flush()
    return True
pos = 0
for s in steps:
    if not s.strip():
        continue
    op, _, arg = s.partition(" ")
    if op == "expect":
        end = time.time() + 10
        rx = re.compile(arg.encode())
        while True:
            m = rx.search(out, pos)
            if m:
                pos = m.end()
                break
            if time.time() > end or read_some(end - time.time()) is None:
                sys.stderr.write("ptydrive.py: no %r in:\n%s\n" % (arg, out[pos:].decode(errors="replace")))
                sys.exit(2)
    elif op == "send":
        os.write(fd, arg.encode().decode("unicode_escape").encode())
    elif op == "sleep":
        time.sleep(float(arg))
    elif op == "exit":
        end = time.time() + 10
        while read_some(0.1) is not None and time.time() < end:
            pass
        _, st = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(st)
        if code != int(arg):
            sys.stderr.write("ptydrive.py: exit %d, want %s\n%s\n" % (code, arg, out.decode(errors="replace")))
            sys.exit(3)
        sys.exit(0)
sys.stderr.write("ptydrive.py: no exit step\n")
sys.exit(4)
PY

t_case 'a turn, then /quit; the line is in the readline history' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" "expect > " "send hello there\r" "expect echo: hello there" \
		"expect > " "send /quit\r" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- cdt-chat -i --provider claude 2>err &&
	cdt-chat log >log && t_lines 2 log &&
	sed -n 2p log | jq -e ".content == \"echo: hello there\"" &&
	t_grep "^hello there$" "$CDT_HOME/chat_history" &&
	test "$(stat -c %a "$CDT_HOME/chat_history")" = 600
'

t_case 'turns continue one conversation; Ctrl-D leaves' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" "expect > " "send one\r" "expect echo: one" "expect > " \
		"send two\r" "expect echo: two" "expect > " "send \x04" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- cdt-chat -i --provider claude 2>err &&
	jq -c "[.messages[] | .content]" fp/last-anthropic.json >got &&
	echo "[\"one\",\"echo: one\",\"two\"]" >want && t_cmp want got &&
	cdt-chat log >log && t_lines 4 log
'

t_case 'multi-line input: a trailing backslash, and a """ block' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" "expect > " "send first \\\\\r" "expect \\.\\.\\. " "send second\r" \
		"expect echo: " "expect > " "send \"\"\"\r" "expect \\.\\.\\. " \
		"send a\r" "expect \\.\\.\\. " "send   b\r" "expect \\.\\.\\. " \
		"send \"\"\"\r" "expect echo: " "expect > " "send /quit\r" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- cdt-chat -i --provider claude 2>err &&
	cdt-chat log | jq -r "select(.role == \"user\") | .content | @json" >got &&
	printf "%s\n" "\"first \nsecond\"" "\"a\n  b\"" >want && t_cmp want got
'

t_case 'slash commands: /system, /model, /edit, /save, /provider, unknown' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" "expect > " "send /system be terse\r" "expect system prompt: set" \
		"send /model claude:claude-test-model\r" "expect model: claude-test-model" \
		"send /edit\r" "expect edit blocks: on" \
		"send /bogus\r" "expect unknown command" \
		"send //slash first\r" "expect echo: /slash first" "expect > " \
		"send /save conv.jsonl\r" "expect saved 2 messages" \
		"send /provider codex\r" "expect providers: codex" \
		"send /quit\r" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- cdt-chat -i --provider claude 2>err &&
	jq -e ".model == \"claude-test-model\" and (.system | startswith(\"be terse\n\n\")) and
		(.system | contains(\"<<<<<<< SEARCH\")) and .messages[0].content == \"/slash first\"" \
		fp/last-anthropic.json &&
	t_lines 2 conv.jsonl && jq -e -s ".[0].role == \"user\" and .[1].role == \"assistant\"" conv.jsonl
'

t_case 'Ctrl-C at the prompt drops the line and keeps the REPL' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" "expect > " "send never sent" "sleep 0.2" "send \x03" "expect \\^C" \
		"expect > " "send kept\r" "expect echo: kept" "expect > " "send /quit\r" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- cdt-chat -i --provider claude 2>err &&
	test "$(fp_hits)" -eq 1 && jq -e ".messages[0].content == \"kept\"" fp/last-anthropic.json
'

t_case 'Ctrl-C mid-stream: the reply stops, the part is in the log, the REPL goes on' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"family\":\"anthropic\",\"text\":\"one two three four five six seven eight\",\"chunks\":8,\"delay_ms\":300}" >fp/script.jsonl &&
	printf "%s\n" "expect > " "send slow please\r" "expect one two" "send \x03" \
		"expect \\[interrupted\\]" "expect > " "send after\r" "expect echo: after" \
		"expect > " "send /quit\r" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- cdt-chat -i --provider claude 2>err &&
	cdt-chat log >log && t_lines 4 log &&
	sed -n 2p log | jq -e ".partial == true and (.content | startswith(\"one two\")) and
		.content != \"one two three four five six seven eight\"" &&
	sed -n 4p log | jq -e ".partial == false and .content == \"echo: after\"" &&
	jq -e ".messages[1].content | startswith(\"one two\")" fp/last-anthropic.json
'

t_case 'records on stdin are read first; the questions come from the terminal' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir ws && echo "int x;" >ws/a.c &&
	printf "%s\n" "expect > " "send what is in it\r" "expect echo: what is in it" \
		"expect > " "send and now\r" "expect echo: and now" "expect > " \
		"send /quit\r" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- sh -c "cdt-files -C ws read a.c | cdt-chat -i --provider claude 2>err" &&
	cdt-chat log | jq -r "select(.role == \"user\") | .content" >got &&
	printf "%s\n" "what is in it" "" "FILE: a.c" "\`\`\`c" "int x;" "\`\`\`" "and now" >want &&
	t_cmp want got
'

t_case 'records on stdout: the reply is echoed on the terminal too' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	printf "%s\n" "expect > " "send piped\r" "expect echo: piped" "expect > " \
		"send /quit\r" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- sh -c "cdt-chat -i --provider claude 2>err | cat >recs" &&
	jq -r "[.type, .role, .content] | join(\" \")" recs >got &&
	printf "message user piped\nmessage assistant echo: piped\n" >want && t_cmp want got
'

t_case 'a failed turn is reported and the REPL goes on' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir -p "$XDG_CONFIG_HOME/cdt" &&
	printf "routing:\n  max_retries: 0\n  max_wait: 0s\n" >"$XDG_CONFIG_HOME/cdt/config.yaml" &&
	echo "{\"family\":\"anthropic\",\"status\":400}" >fp/script.jsonl &&
	printf "%s\n" "expect > " "send bad\r" "expect rejected" "expect > " \
		"send good\r" "expect echo: good" "expect > " "send /quit\r" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- sh -c "cdt-chat -i --provider claude 2>&1" &&
	cdt-chat log >log && t_lines 2 log
'

t_case 'one turn on a terminal: the reply streams as text, no records' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"family\":\"anthropic\",\"text\":\"streamed to a person\",\"chunks\":3,\"delay_ms\":50}" >fp/script.jsonl &&
	printf "%s\n" "expect streamed to a person" "exit 0" >steps &&
	python3 "$PTY_PY" steps -- cdt-chat --provider claude "say it" &&
	! grep -q "\"type\"" pty.out && ! grep -q "say it" pty.out
'

t_case '-i with --no-input is a usage error' '
	t_fails 64 cdt-chat -i --no-input </dev/null >out 2>err
'

t_done
