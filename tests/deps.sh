#!/bin/sh
# make deps: install what the build, the tests and the demo need on Debian 12.
# As root it installs what is missing (apt-get update first); otherwise it
# prints the one command to run.  Then the npm packages of tests/ (npm ci).
set -eu
PKGS="gcc make pkg-config git jq perl python3 curl procps util-linux \
libjq-dev libonig-dev libcurl4-openssl-dev libgit2-dev libyaml-dev libssl-dev \
libreadline-dev libsqlite3-dev sqlite3 libargon2-dev libpq-dev postgresql-15 \
clang libclang-rt-14-dev mandoc bubblewrap bash-completion zsh fish \
ca-certificates awscli openssh-server openssh-client"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
		grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "deps: installing$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends $missing
	else
		echo "deps: missing$missing" >&2
		echo "deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
		exit 1
	fi
fi
dir=$(dirname "$0")
if [ -f "$dir/package.json" ]; then
	if ! command -v npm >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ]; then
			apt-get install -y -qq --no-install-recommends npm
		else
			echo "deps: run: sudo apt-get install -y npm" >&2
			exit 1
		fi
	fi
	# Install again whenever the lock file is not the one installed.
	want=$(sha256sum "$dir/package-lock.json" | cut -c1-64)
	have=$(cat "$dir/node_modules/.cdt-lock-sha256" 2>/dev/null || :)
	if [ "$want" != "$have" ]; then
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
		echo "$want" >"$dir/node_modules/.cdt-lock-sha256"
	fi
fi
exit 0
