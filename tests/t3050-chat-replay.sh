#!/bin/bash
# cdt-chat --record and --replay: cassettes keyed by the canonical
# request, offline replays marked replayed, a miss is 78 naming the key;
# and the shipped demo cassette is exactly what recording against the
# fake gives for the demo's request.
#
# The demo's request (examples/cassettes/demo.jsonl answers it):
#   cdt-files -C WS read hello.c |
#     cdt-chat --edit --replay examples/cassettes/demo.jsonl \
#       "add a Makefile for hello.c"
# with WS/hello.c a copy of examples/cassettes/hello.c, no -m, no -s.
# REGEN_CASSETTE=1 rewrites the shipped cassette instead of comparing.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant \
		OPENAI_BASE_URL=$FP_URL/v1 OPENAI_API_KEY=k-oai
}
export -f fp_env

DEMO_REPLY='I added a Makefile that builds hello from hello.c.

FILE: Makefile
```make
hello: hello.c
	$(CC) -Wall -o hello hello.c

clean:
	rm -f hello
```
'
export DEMO_REPLY REGEN_CASSETTE=${REGEN_CASSETTE:-}

t_case '--record appends the live reply; --replay serves it offline' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude --record cas.jsonl "what is 2+2" >live 2>err &&
	t_lines 1 cas.jsonl &&
	jq -e ".provider == \"claude\" and .text == \"echo: what is 2+2\" and
		(.key | test(\"^[0-9a-f]{64}$\"))" cas.jsonl &&
	fp_stop &&
	env -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL \
		cdt-chat --replay cas.jsonl "what is 2+2" >replayed 2>err &&
	sed -n 2p replayed | jq -e ".content == \"echo: what is 2+2\" and
		.replayed == true and .partial == false" &&
	sed -n 2p live | jq -e ".replayed == false"
'

t_case 'the key ignores the provider: recorded from codex, replayed' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider codex --record cas.jsonl -s sys "same question" >/dev/null 2>err &&
	cdt-chat --replay cas.jsonl -s sys "same question" >out 2>err &&
	sed -n 2p out | jq -e ".content == \"echo: same question\" and .replayed"
'

t_case 'a replay miss is 78 naming the key; nothing is stored' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude --record cas.jsonl "recorded" >/dev/null 2>err &&
	t_fails 78 cdt-chat --replay cas.jsonl "not recorded" >out 2>err &&
	grep -Eq "[0-9a-f]{64}" err &&
	sed -n \$p out | jq -e ".code == 78" &&
	cdt-chat log | jq -r .content >got && printf "recorded\necho: recorded\n" >want &&
	t_cmp want got
'

t_case '--record appends; a failed reply records nothing' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	cdt-chat --provider claude --record cas.jsonl one >/dev/null 2>err &&
	cdt-chat --provider claude --record cas.jsonl two >/dev/null 2>err &&
	t_lines 2 cas.jsonl &&
	echo "{\"family\":\"anthropic\",\"status\":400}" >fp/script.jsonl &&
	t_fails 65 cdt-chat --provider claude --record cas.jsonl three >/dev/null 2>err &&
	t_lines 2 cas.jsonl
'

t_case 'the shipped demo cassette is what recording against the fake gives' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	jq -cn --arg t "$DEMO_REPLY" "{family: \"anthropic\", text: \$t, chunks: 4}" >fp/script.jsonl &&
	mkdir ws && cp "$SRC/examples/cassettes/hello.c" ws/ &&
	cdt-files -C ws read hello.c |
		cdt-chat --provider claude --edit --record demo.jsonl \
			"add a Makefile for hello.c" >out 2>err &&
	t_lines 1 demo.jsonl &&
	if [ -n "$REGEN_CASSETTE" ]; then cp demo.jsonl "$SRC/examples/cassettes/demo.jsonl"; fi &&
	t_cmp "$SRC/examples/cassettes/demo.jsonl" demo.jsonl
'

t_case 'the demo replays offline: the Makefile is written and builds' '
	mkdir ws && cp "$SRC/examples/cassettes/hello.c" ws/ &&
	cdt-files -C ws read hello.c |
		cdt-chat --edit --replay "$SRC/examples/cassettes/demo.jsonl" \
			"add a Makefile for hello.c" | cdt-files -C ws write >out 2>err &&
	t_grep "^hello: hello.c" ws/Makefile &&
	make -s -C ws hello && ws/hello >said && printf "hello, world\n" >want &&
	t_cmp want said &&
	cdt-chat log | sed -n 2p | jq -e ".replayed == true and .provider == \"replay\""
'

t_done
