#!/bin/bash
# cdt-route and the caller check: reset and probe change what everyone
# on the store is routed to, so they need teams.update on the caller's
# team (team-admin or org-admin); status, pick and send resolve no caller.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

rt_config() {
	cat >"$HOME/route.yaml" <<EOF
providers:
  a: {type: openai, base_url: '$FP_URL/a/v1', api_key_env: KEY_A,
      model: m-a}
routing:
  priority: [a]
  max_retries: 0
  timeout: 2s
  breaker: {threshold: 2, reset: 60s, max_reset: 8m}
EOF
	export CDT_CONFIG=$HOME/route.yaml KEY_A=ka
}
export -f rt_config

brk() {
	store-open "$CDT_HOME/cdt.db" "SELECT $1 AS v FROM breakers WHERE
	  provider = ?" "[\"a\"]" | jq -r ".v" | grep . || echo null
}
export -f brk

# acme: admin@acme.test (org-admin, saved), lead@acme.test (team-admin of
# web, lead.tok) and dev@acme.test (developer of web, dev.tok).
acme() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1 &&
	for u in lead:team-admin dev:developer; do
		printf "pass-%s-1\n" ${u%%:*} | cdt-auth register \
			--email ${u%%:*}@acme.test --org acme --team web \
			--role ${u#*:} --password-stdin >/dev/null &&
		printf "pass-%s-1\n" ${u%%:*} | cdt-auth login --email \
			${u%%:*}@acme.test --password-stdin --no-save \
			--jq .token >${u%%:*}.tok || return 1
	done
}
export -f acme

# Two failing sends open a's breaker.
open_a() {
	echo "{\"a\":{\"status\":500}}" >fp/default.json &&
	for i in 1 2; do
		cdt-route send hi >/dev/null 2>&1
	done;
	rm fp/default.json && [ "$(brk state)" = open ]
}
export -f open_a

t_case 'a developer is refused reset: 77 naming teams.update; nothing changes' '
	fp_start fp && trap fp_stop EXIT && rt_config && acme && open_a &&
	t_fails 77 cdt-route --token-file dev.tok reset >out 2>err &&
	t_lines 1 err &&
	t_grep "not allowed: teams.update on team .web. (needs team-admin or org-admin; you are dev@acme.test)" err &&
	jq -e ".type == \"error\" and .code == 77 and .class == \"forbidden\"" out &&
	[ "$(brk state)" = open ] &&
	t_fails 77 cdt-route --token-file dev.tok reset a >out 2>err &&
	t_grep "teams.update" err && [ "$(brk state)" = open ]
'

t_case 'a team-admin may reset; so may the org-admin' '
	fp_start fp && trap fp_stop EXIT && rt_config && acme && open_a &&
	cdt-route --token-file lead.tok reset a >out &&
	jq -e ".provider == \"a\" and .state == \"closed\"" out &&
	[ "$(brk state)" != open ] &&
	open_a && cdt-route reset >out && [ "$(brk state)" != open ] &&
	cdt-route status | jq -e ".state == \"closed\""
'

t_case 'probe: a developer 77 before any request; a team-admin probes' '
	fp_start fp && trap fp_stop EXIT && rt_config && acme &&
	t_fails 77 cdt-route --token-file dev.tok probe >out 2>err &&
	t_grep "not allowed: teams.update" err &&
	test "$(fp_hits)" -eq 0 &&
	cdt-route --token-file lead.tok probe >out &&
	jq -e ".provider == \"a\" and .probe.status == 200" out &&
	test "$(fp_hits)" -eq 1
'

t_case 'reset with a forged or missing credential is 77, with its class' '
	fp_start fp && trap fp_stop EXIT && rt_config && acme &&
	echo "eyJhbGciOiJub25lIn0.e30." >bad.tok &&
	t_fails 77 cdt-route --token-file bad.tok reset >out 2>err &&
	t_grep "access token refused (alg)" err &&
	cdt-auth logout &&
	t_fails 77 cdt-route reset >out 2>err && t_grep "not logged in" err
'

t_case 'status, pick and send resolve no caller' '
	fp_start fp && trap fp_stop EXIT && rt_config && acme &&
	cdt-auth logout &&
	cdt-route status >s && jq -e ".provider == \"a\"" s &&
	cdt-route pick >p && jq -e ".provider == \"a\"" p &&
	cdt-route send hi >r && jq -e ".role == \"assistant\"" r &&
	CDT_TOKEN=not-a-token cdt-route status >/dev/null
'

t_done
