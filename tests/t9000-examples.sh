#!/bin/bash
# Every script in examples/ runs to its end against the test fixtures
# (the fake provider, s3rver, real bwrap and git) and does what it says:
# each case checks the script's output and what reached the fixtures.
# examples/ci-checkpoint.sh is run by t5090.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

EX=$SRC/examples
export EX

# Every example is covered here or in t5090: a new one needs a case.
t_case 'every example has a test' '
	for f in "$EX"/*.sh; do
		n=${f##*/}
		grep -q "examples/$n\|\$EX/$n" "$SRC/tests/t9000-examples.sh" \
			"$SRC/tests/t5090-checkpoint-example.sh" ||
			{ echo "no test runs examples/$n"; exit 1; }
	done
'

# The fake speaks for claude, the default first provider.
fp_env() {
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant
}
export -f fp_env

# script TEXT: the fake's next anthropic answer is TEXT.
script() {
	jq -cn --arg t "$1" "{family: \"anthropic\", text: \$t}" >>fp/script.jsonl
}
export -f script

t_case 'review.sh sends git diff with the review prompt, prints the review' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	git init -q -b main repo && printf "a\nb\n" >repo/f.txt &&
	git -C repo add f.txt &&
	git -C repo -c user.name=t -c user.email=t@t commit -q -m one &&
	printf "a\nB changed\n" >repo/f.txt &&
	script "LGTM, but B changed needs a test." &&
	sh "$EX/review.sh" repo >out 2>err &&
	printf "LGTM, but B changed needs a test.\n" >want && t_cmp want out &&
	jq -e ".system | tostring | contains(\"review this diff\")" fp/last-anthropic.json &&
	jq -r ".messages[-1].content | if type == \"array\" then .[0].text else . end" \
		fp/last-anthropic.json >sent &&
	t_grep "^+B changed$" sent && t_grep "^-b$" sent &&
	t_grep "^diff --git a/f.txt b/f.txt" sent
'

t_case 'review.sh with nothing to review: 66, no request' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	git init -q -b main repo && echo a >repo/f.txt && git -C repo add f.txt &&
	git -C repo -c user.name=t -c user.email=t@t commit -q -m one &&
	t_fails 66 sh "$EX/review.sh" repo >out 2>err &&
	t_grep "no changes to review" err && [ "$(fp_hits)" = 0 ]
'

t_case 'batch.sh: one conversation and one answer file per input' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir -p src/sub && echo "int one;" >src/a.c && echo "int two;" >src/b.c &&
	echo "int three;" >src/sub/c.c &&
	JOBS=3 sh "$EX/batch.sh" answers "find the bugs" src/a.c src/b.c \
		src/sub/c.c >out 2>err &&
	sort out >got &&
	printf "%s\n" "src/a.c -> answers/src_a.c.txt" \
		"src/b.c -> answers/src_b.c.txt" \
		"src/sub/c.c -> answers/src_sub_c.c.txt" >want && t_cmp want got &&
	t_grep "^echo: find the bugs" answers/src_a.c.txt &&
	t_grep "int one;" answers/src_a.c.txt &&
	t_grep "int two;" answers/src_b.c.txt &&
	t_grep "int three;" answers/src_sub_c.c.txt &&
	! grep -q "int two" answers/src_a.c.txt &&
	[ "$(fp_hits ".status == 200")" = 3 ] &&
	store-open "$CDT_HOME/cdt.db" "SELECT COUNT(DISTINCT conversation_id) AS n,
		COUNT(*) AS m FROM messages" "[]" >n &&
	jq -e ".n == 3 and .m == 6" n
'

t_case 'batch.sh: a file that fails is named, the others are answered' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "x" >one.txt && echo "y" >two.txt &&
	echo "{\"family\":\"anthropic\",\"status\":400}" >fp/script.jsonl &&
	t_fails 1 env JOBS=1 sh "$EX/batch.sh" answers "q" one.txt two.txt \
		>out 2>err &&
	t_grep "batch.sh: one.txt failed" err &&
	t_grep "some files failed" err &&
	[ ! -e answers/one.txt.txt ] && t_grep "^echo: q" answers/two.txt.txt &&
	t_fails 66 sh "$EX/batch.sh" answers "q" missing.txt 2>err &&
	t_grep "no such file: missing.txt" err
'

t_case 'fallback.sh: the first provider fails, its breaker opens, claude serves' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	echo "{\"/flaky/\":{\"status\":500}}" >fp/default.json &&
	FLAKY_URL=$FP_URL/flaky/v1 sh "$EX/fallback.sh" >out 2>err &&
	t_grep "^flaky -> claude$" out &&
	grep -c "^answered by claude; attempts: flaky=server, claude=ok$" out >n &&
	[ "$(cat n)" = 2 ] &&
	t_grep "^answered by claude; attempts: claude=ok$" out &&
	t_grep "^echo: Say hello in one short sentence (3)\.$" out &&
	sed -n "/^== before/,/^== request 1/p" out | grep "^flaky " >st &&
	t_grep "closed *healthy" st &&
	sed -n "/^== after/,\$p" out | grep "^flaky " >st &&
	t_grep "open *unhealthy *breaker open (server)" st &&
	t_grep "^flaky: breaker open after 2 failures, health unhealthy" out &&
	[ "$(fp_hits ".name == \"flaky\"")" = 2 ] &&
	[ "$(fp_hits ".family == \"anthropic\"")" = 3 ] &&
	[ ! -e "$CDT_HOME/cdt.db" ]
'

t_case 'fallback.sh: by default the first provider is refused a connection' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	python3 -c "
import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0))
print(s.getsockname()[1])" >port &&
	FLAKY_URL=http://127.0.0.1:$(cat port)/v1 sh "$EX/fallback.sh" >out 2>err &&
	t_grep "^answered by claude; attempts: flaky=connect, claude=ok$" out &&
	t_grep "open *unhealthy *breaker open (connect)" out
'

t_case 'chat-to-files.sh: the model sees the files, its blocks become files' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir site && echo "<h1>home</h1>" >site/index.html &&
	script "Here it is.

FILE: 404.html
\`\`\`html
<h1>not found</h1>
\`\`\`

FILE: css/site.css
\`\`\`css
h1 { color: red }
\`\`\`
" &&
	sh "$EX/chat-to-files.sh" site "add a 404 page" >out 2>err &&
	printf "<h1>not found</h1>\n" >want && t_cmp want site/404.html &&
	printf "h1 { color: red }\n" >want && t_cmp want site/css/site.css &&
	printf "<h1>home</h1>\n" >want && t_cmp want site/index.html &&
	t_grep "^2 file(s) written in site$" out &&
	printf "404.html\ncss/site.css\n" >want && t_cmp want err &&
	jq -r ".messages[-1].content | if type == \"array\" then .[0].text else . end" \
		fp/last-anthropic.json >sent &&
	t_grep "^add a 404 page" sent && t_grep "<h1>home</h1>" sent
'

t_case 'chat-to-files.sh: a reply without file blocks writes nothing, exit 1' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir site && echo "<h1>home</h1>" >site/index.html &&
	script "I would rather not." &&
	t_fails 1 sh "$EX/chat-to-files.sh" site "add a 404 page" >out 2>err &&
	t_grep "the reply had no file blocks; nothing written" err &&
	[ "$(ls site)" = index.html ]
'

t_case 'quickstart.sh: status, a question, the main job with a checkpoint' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	script "A Makefile tells make how to build a program." &&
	script "$(jq -r .text "$EX/cassettes/demo.jsonl")" &&
	TMPDIR=$PWD sh "$EX/quickstart.sh" >out 2>err &&
	t_grep "^claude  *closed  *healthy" out &&
	t_grep "^requests go to claude (claude-sonnet-4-5) first$" out &&
	t_grep "^A Makefile tells make how to build a program\.$" out &&
	t_grep "^hello, world$" out && t_grep "^\[exit 0\]$" out &&
	grep "quickstart: add a Makefile for hello.c" out >cps &&
	t_lines 2 cps &&
	ws=$(sed -n "s/^the workspace: //p" out) &&
	git -C "$ws" log --all --format=%s >log &&
	printf "quickstart: add a Makefile for hello.c\n" >want && t_cmp want log &&
	git -C "$ws" ls-tree -r --name-only \
		"$(git -C "$ws" for-each-ref --format="%(refname)" refs/heads/coditect)" \
		>files &&
	printf ".gitignore\nMakefile\nhello.c\n" >want && t_cmp want files &&
	[ "$(fp_hits ".family == \"anthropic\"")" = 2 ]
'

t_case 'quickstart.sh: a failing build is not checkpointed' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	mkdir ws && cp "$EX/cassettes/hello.c" ws/ &&
	script "ok" && script "FILE: Makefile
\`\`\`make
hello: hello.c
	false
\`\`\`" &&
	t_fails 1 sh "$EX/quickstart.sh" ws >out 2>err &&
	t_grep "^\[exit 2\]$" out &&
	t_grep "refusing to checkpoint" out &&
	[ ! -e ws/.git ] || [ -z "$(git -C ws log --all --oneline 2>/dev/null)" ]
'

t_case 'quickstart.sh with no provider says what to set' '
	t_fails 78 sh "$EX/quickstart.sh" >out 2>err &&
	t_grep "set a provider.s key, e.g. ANTHROPIC_API_KEY" err
'

t_case 'demo.sh (make demo): offline, the whole job, exit 0' '
	TMPDIR=$PWD sh "$EX/demo.sh" >out 2>err ||
		{ cat out err; exit 1; }
	ls -A >left && printf "err\nleft\nout\n" >want && t_cmp want left &&
	t_grep "^cdt demo: the model.s answer is replayed from examples/cassettes/demo.jsonl, offline" out &&
	t_grep "^Makefile  *66  be90fe66344b$" out &&
	t_grep "^hello, world$" out && t_grep "^\[exit 0\]$" out &&
	t_grep "^cassette  *closed  *healthy  *ok$" out &&
	t_grep "^the answer (cassette/claude-sonnet-4-5, replayed" out &&
	t_grep "^make && ./hello in the sandbox exited 0 in [0-9]* ms, saying: hello, world$" out &&
	t_grep "^checkpoint [0-9a-f]\{12\} on coditect/session-[0-9a-f-]*: 3 file(s), \"demo: the model.s Makefile\"$" out &&
	sed -n "/^== cdt-checkpoint list/,/^== cdt-route/p" out |
		grep -c "demo: the model.s Makefile" >n && [ "$(cat n)" = 1 ]
'

t_case 'demo.sh with DEMO_LIVE=1 and no provider: one line saying what to set' '
	DEMO_LIVE=1 TMPDIR=$PWD t_fails 1 sh "$EX/demo.sh" >out 2>err &&
	t_grep "^demo: DEMO_LIVE=1 needs a provider: set ANTHROPIC_API_KEY" err
'

t_case 'demo.sh with DEMO_LIVE=1 uses the configured provider' '
	fp_start fp && trap fp_stop EXIT && fp_env &&
	script "$(jq -r .text "$EX/cassettes/demo.jsonl")" &&
	DEMO_LIVE=1 TMPDIR=$PWD sh "$EX/demo.sh" >out 2>err ||
		{ cat out err; exit 1; }
	t_grep "^cdt demo: the model.s answer is live, from claude (claude-sonnet-4-5)$" out &&
	t_grep "^hello, world$" out &&
	t_grep "^claude  *closed  *healthy" out &&
	[ "$(fp_hits ".family == \"anthropic\"")" = 1 ]
'

# A project whose test fails, its remote, and a CI checkout of it.  The
# team's store and key files are in team/, where an API key of a
# developer is made; the runner ($CDT_HOME) has no login, only the store
# (store.path, as a shared store.url would be) and the pepper file, as
# .github/workflows/cdt-ci-fix.yml sets it up: CDT_TOKEN is who it is.
ci_project() {
	git init -q --bare -b main remote.git &&
	git init -q -b main src &&
	printf "#!/bin/sh\necho \"hello, \$1\"\n" >src/greet.sh &&
	printf "%s\n" "test: ; [ \"\$\$(sh greet.sh world)\" = \"hello, world!\" ] || { echo \"FAIL: greet.sh says \$\$(sh greet.sh world)\"; exit 1; }" >src/Makefile &&
	git -C src add -A &&
	git -C src -c user.name=dev -c user.email=dev@example.com commit -q -m "greet, with a test" &&
	git -C src push -q ../remote.git main &&
	git clone -q remote.git checkout &&
	CDT_HOME=$PWD/team cdt-auth init --no-stdin >/dev/null 2>&1 &&
	CDT_HOME=$PWD/team cdt-auth keys create --name ci --role developer \
		--no-stdin --jq .key >key &&
	grep -q "^cdt_sk_" key &&
	(umask 077 && mkdir -p "$CDT_HOME/keys" &&
		cp team/keys/pepper.key "$CDT_HOME/keys/") &&
	printf "store:\n  path: %s\n" "$PWD/team/cdt.db" >runner.yaml &&
	export CDT_CONFIG=$PWD/runner.yaml
}
export -f ci_project

t_case 'ci-fix.sh: the model fixes the failing test; checkpointed and pushed' '
	fp_start fp && trap fp_stop EXIT && fp_env && ci_project &&
	script "The greeting lacks the exclamation mark.

FILE: greet.sh
\`\`\`sh
#!/bin/sh
echo \"hello, \$1!\"
\`\`\`" &&
	built=$(git -C checkout rev-parse HEAD) &&
	(cd checkout && CDT_TOKEN=$(cat ../key) TMPDIR=$PWD/.. \
		sh "$EX/ci-fix.sh" "make test") >out 2>err ||
		{ cat out err; exit 1; }
	t_grep "^FAIL: greet.sh says hello, world$" out &&
	t_grep "^\[exit 2\]$" out && t_grep "^\[exit 0\]$" out &&
	b=coditect/session-$(sed -n "s/^== session \([0-9a-f-]*\) over .*/\1/p" out) &&
	t_grep "^checkpoint [0-9a-f]\{12\} on $b, pushed to origin refs/heads/$b$" out &&
	git --git-dir=remote.git show "$b:greet.sh" >got &&
	printf "#!/bin/sh\necho \"hello, \$1!\"\n" >want && t_cmp want got &&
	[ "$(git --git-dir=remote.git rev-parse main)" = "$built" ] &&
	[ "$(git -C checkout rev-parse HEAD)" = "$built" ] &&
	git --git-dir=remote.git log -1 --format=%s "$b" >subj &&
	printf "ci-fix: make '"'"'make test'"'"' pass\n" >want && t_cmp want subj &&
	jq -r ".messages[-1].content | if type == \"array\" then .[0].text else . end" \
		fp/last-anthropic.json >sent &&
	t_grep "FAIL: greet.sh says hello, world" sent &&
	t_grep "^FILE: greet.sh" sent && t_grep "Do not change the tests" sent
'

t_case 'ci-fix.sh: a fix that does not pass is neither kept nor pushed' '
	fp_start fp && trap fp_stop EXIT && fp_env && ci_project &&
	script "FILE: greet.sh
\`\`\`sh
#!/bin/sh
echo \"hi, \$1\"
\`\`\`" &&
	(cd checkout && CDT_TOKEN=$(cat ../key) TMPDIR=$PWD/.. \
		t_fails 1 sh "$EX/ci-fix.sh" "make test") >out 2>err &&
	t_grep "refusing to checkpoint: the last command exited 2" err &&
	t_grep "no fix kept (exit" err &&
	git --git-dir=remote.git for-each-ref --format="%(refname)" >refs &&
	printf "refs/heads/main\n" >want && t_cmp want refs &&
	[ -z "$(git -C checkout for-each-ref refs/heads/coditect)" ]
'

t_case 'ci-fix.sh: tests that pass already: nothing to do; no key: one line' '
	fp_start fp && trap fp_stop EXIT && fp_env && ci_project &&
	(cd checkout && CDT_TOKEN=$(cat ../key) sh "$EX/ci-fix.sh" true) >out 2>err &&
	t_grep "^the tests pass: nothing to fix$" out && [ "$(fp_hits)" = 0 ] &&
	(cd checkout && t_fails 77 sh "$EX/ci-fix.sh") >out 2>err &&
	t_grep "^ci-fix.sh: set CDT_TOKEN to an API key (cdt-auth keys create" err
'

t_case 'the GitHub workflow runs examples/ci-fix.sh, secrets only in env' '
	wf=$SRC/.github/workflows/cdt-ci-fix.yml &&
	t_grep "^        run: |$" "$wf" &&
	t_grep "^          sh ../cdt/examples/ci-fix.sh$" "$wf" &&
	t_grep "^          CDT_TOKEN: \${{ secrets.CDT_API_KEY }}$" "$wf" &&
	t_grep "^          CDT_STORE_URL: \${{ secrets.CDT_STORE_URL }}$" "$wf" &&
	t_grep "^      image: debian:12$" "$wf" &&
	grep -n "secrets\." "$wf" | grep -v "^[0-9]*:#" >uses &&
	! grep -v "^[0-9]*:          [A-Z_]*: \${{ secrets\.[A-Z_]* }}$" uses &&
	! grep -n "	" "$wf"
'

# The errors a new user meets on the way through the README, each one
# line on stderr saying what to do, with its documented code.
t_case 'new-user errors: no key, no session, bad config, no bwrap, newer store' '
	t_fails 78 cdt-chat --no-stdin hi >out 2>err &&
	grep -v "created a local identity" err >err1 && t_lines 1 err1 &&
	t_grep "^cdt-chat: no provider is configured: set ANTHROPIC_API_KEY (claude)" err1 &&
	t_fails 125 cdt-session exec --no-stdin -- true >out 2>err &&
	grep -v "created a local identity" err >err1 && t_lines 1 err1 &&
	t_grep "^cdt-session: which session? give its id, a session record on stdin, or CDT_SESSION$" err1 &&
	t_fails 64 cdt-files --no-stdin read hello.c >out 2>err &&
	t_grep "^cdt-files: no workspace: give -C DIR or --session ID (or pipe a session record, or set CDT_SESSION)$" err &&
	printf "routing:\n  max_retries: lots\n" >bad.yaml &&
	CDT_CONFIG=$PWD/bad.yaml t_fails 78 cdt-route status --no-stdin >out 2>err &&
	t_lines 1 err &&
	t_grep "^cdt-route: $PWD/bad.yaml:2:16: .routing.max_retries. must be a whole number$" err &&
	CDT_CONFIG=$PWD/none.yaml t_fails 78 cdt-route status --no-stdin \
		>out 2>err && t_lines 1 err &&
	t_grep "^cdt-route: config .$PWD/none.yaml. (CDT_CONFIG) does not exist: create it, or unset CDT_CONFIG$" err &&
	id=$(cdt-session create --project p --no-stdin --jq .id 2>/dev/null) &&
	CDT_TEST_BWRAP=/nonexistent/bwrap t_fails 125 cdt-session exec "$id" \
		--no-stdin -- true >out 2>err && t_lines 1 err &&
	t_grep "^cdt-session: bubblewrap (bwrap) is not installed: apt-get install bubblewrap" err &&
	store-open "$CDT_HOME/cdt.db" "PRAGMA user_version = 99" "[]" &&
	t_fails 78 cdt-session list --no-stdin >out 2>err && t_lines 1 err &&
	t_grep "has schema version 99, newer than this cdt ([0-9]*): upgrade cdt$" err
'

# s3rver for s3-workspace.sh.
. "$SRC/tests/fixtures/s3rver.sh"

t_case 's3-workspace.sh: a project in a bucket, built locally, an edit back' '
	CDT_CONFIG=$S3CONFIG AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
		TMPDIR=$PWD sh "$EX/s3-workspace.sh" s3://bkt/ex >out 2>err ||
		{ cat out err; exit 1; }
	t_grep "^hello from S3$" out &&
	sed -n "/^== edit it locally/,/^== read/p" out >back &&
	t_grep "^Makefile .* unchanged$" back && t_grep "^docs/README .* unchanged$" back &&
	grep "^hello.c " back | grep -vq unchanged &&
	sed -n "/^== read it back/,\$p" out | sed 1d | tr " " "\n" | grep -x "[0-9a-f]\{64\}" |
		sort -u >sums && t_lines 1 sums &&
	grep -q "hello again from S3" "$S3WORK/data/bkt/ex/hello.c._S3rver_object" &&
	t_fails 64 sh "$EX/s3-workspace.sh" /not/s3 2>err &&
	t_grep "want s3://BUCKET/PREFIX" err
'

t_done
