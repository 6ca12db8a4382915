#!/bin/sh
# Two providers, the first one failing: each request falls back to the
# second, and after two failures the first one's circuit breaker opens, so
# the third request does not even try it.  cdt-route status shows it.
#
#	examples/fallback.sh
#
# The failing provider is an OpenAI-compatible endpoint where nothing
# listens (FLAKY_URL, default http://127.0.0.1:9/v1: connection refused);
# the backup is a real one, BACKUP (default claude: set ANTHROPIC_API_KEY;
# or codex with OPENAI_API_KEY, gemini with GEMINI_API_KEY, kimi with
# MOONSHOT_API_KEY).  It runs in a throw-away CDT_HOME and configuration,
# so your own breakers and history are left alone.
set -eu
top=$(mktemp -d "${TMPDIR:-/tmp}/cdt-fallback.XXXXXX")
trap 'rm -rf "$top"' EXIT
export CDT_HOME=$top/home CDT_CONFIG=$top/config.yaml
export FLAKY_API_KEY=not-a-real-key
unset CDT_PROVIDER
backup=${BACKUP:-claude}
cat >"$CDT_CONFIG" <<YAML
providers:
  flaky:
    type: openai
    base_url: '${FLAKY_URL:-http://127.0.0.1:9/v1}'
    api_key_env: FLAKY_API_KEY
    model: flaky-1
routing:
  priority: [flaky, $backup]
  max_retries: 0
  timeout: 20s
  breaker: {threshold: 2, reset: 5m}
YAML
say() { printf '\n== %s\n' "$*"; }

say "the routing configuration: flaky first, then $backup"
cdt-route config --no-stdin --jq '.priority | join(" -> ")'
say "before: both breakers closed"
cdt-route status --no-stdin --text

for i in 1 2 3; do
	say "request $i"
	cdt-chat --no-stdin "Say hello in one short sentence ($i)." \
		--jq 'select(.role == "assistant") |
		  "answered by \(.provider);" +
		  " attempts: " + ([.metadata.attempts[] |
		    "\(.provider)=\(.class // "ok")"] | join(", ")) +
		  "\n" + .content'
done

say "after: flaky's breaker is open; $backup served every request"
cdt-route status --no-stdin --text
cdt-route status --no-stdin --provider flaky --jq \
	'"flaky: breaker \(.state) after \(.failures) failures, " +
	 "health \(.health), no connection until \(.open_until)"'
