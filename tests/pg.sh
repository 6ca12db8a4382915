# tests/pg.sh - a throwaway PostgreSQL 15 cluster for the tests (bash).
#
#   . tests/pg.sh; t_pg_start	initdb + pg_ctl as the user cdtpg (made if
#				missing: initdb refuses root) on 127.0.0.1
#				and a random free port, in a temp dir that
#				the EXIT trap stops and removes; then the
#				database cdt, the application role cdtapp
#				(LOGIN, SCRAM password in a 0600 file, no
#				superuser, no BYPASSRLS) and `cdt store
#				migrate` as the superuser.  Fails (1, a
#				message on stderr) when it cannot: a test
#				that needs PostgreSQL fails, never skips.
#   t_pg_sql SQL...		psql as the superuser into $T_PG_DB
#   t_pg_newdb NAME		a fresh database from the migrated template
#
# Exports T_PG_ADMIN_URL (superuser, unix socket, no password), T_PG_URL
# (the application role over TCP), T_PG_PASSFILE (its password, alone on
# the line, for store.password_file) and PGPASSFILE (the same in libpq's
# format).  The tools get the store through CDT_STORE_URL=$T_PG_URL.
#
# T_PG_AUTH=trust: no password over TCP (the pass: a SCRAM login costs
# each tool process some milliseconds; t7000 checks passwords).
#
# The PostgreSQL pass (make test-pg) starts one cluster for the whole run
# (T_PG_SHARED=1 and these variables in the environment): tests/lib.sh
# then gives each test file its own database (t_pg_file) and each case an
# empty store (t_pg_case, TRUNCATE).

T_PG_BIN=${T_PG_BIN:-/usr/lib/postgresql/15/bin}
T_PG_USER=cdtpg

t_pg_freeport() {
	python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

t_pg_sql() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "${T_PG_ADMIN_URL%/*}/${T_PG_DB:-cdt}" -c "$*"
}

t_pg_stop() {
	[ -n "${T_PG_DIR:-}" ] || return 0
	if [ -f "$T_PG_DIR/data/postmaster.pid" ]; then
		runuser -u "$T_PG_USER" -- "$T_PG_BIN/pg_ctl" -D "$T_PG_DIR/data" \
			-m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$T_PG_DIR"
	T_PG_DIR=
}

t_pg_start() {
	if [ ! -x "$T_PG_BIN/initdb" ]; then
		echo "pg.sh: no $T_PG_BIN/initdb (apt-get install postgresql-15)" >&2
		return 1
	fi
	if ! id "$T_PG_USER" >/dev/null 2>&1; then
		useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$T_PG_USER" ||
			{ echo "pg.sh: cannot add user $T_PG_USER" >&2; return 1; }
	fi
	T_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cdt-pg.XXXXXX") || return 1
	# Compose with the EXIT trap already set (tests/lib.sh's).
	t_pg_oldtrap=$(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT\$/\1/")
	trap "t_pg_stop; $t_pg_oldtrap" EXIT
	mkdir -p "$T_PG_DIR/data" "$T_PG_DIR/sock"
	chmod 755 "$T_PG_DIR"
	chown -R "$T_PG_USER" "$T_PG_DIR/data" "$T_PG_DIR/sock"
	touch "$T_PG_DIR/server.log"
	chown "$T_PG_USER" "$T_PG_DIR/server.log"
	T_PG_PORT=$(t_pg_freeport) || return 1
	if ! runuser -u "$T_PG_USER" -- "$T_PG_BIN/initdb" -D "$T_PG_DIR/data" \
		-U postgres --auth-local=trust --auth-host="${T_PG_AUTH:-scram-sha-256}" \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$T_PG_DIR/initdb.log" 2>&1
	then
		cat "$T_PG_DIR/initdb.log" >&2
		return 1
	fi
	if ! runuser -u "$T_PG_USER" -- "$T_PG_BIN/pg_ctl" -D "$T_PG_DIR/data" \
		-l "$T_PG_DIR/server.log" -w -t 30 -o "-c listen_addresses=127.0.0.1 \
		-p $T_PG_PORT -k $T_PG_DIR/sock -c fsync=off \
		-c synchronous_commit=off -c full_page_writes=off \
		-c max_connections=300" start >/dev/null 2>&1
	then
		cat "$T_PG_DIR/server.log" >&2
		return 1
	fi
	export T_PG_ADMIN_URL="postgresql://postgres@${T_PG_DIR//\//%2F}%2Fsock:$T_PG_PORT/cdt"
	local pw
	pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
	printf '%s\n' "$pw" >"$T_PG_DIR/app.pw"
	printf '127.0.0.1:%s:*:cdtapp:%s\n' "$T_PG_PORT" "$pw" >"$T_PG_DIR/pgpass"
	chmod 600 "$T_PG_DIR/app.pw" "$T_PG_DIR/pgpass"
	export T_PG_PASSFILE=$T_PG_DIR/app.pw PGPASSFILE=$T_PG_DIR/pgpass
	export T_PG_URL="postgres://cdtapp@127.0.0.1:$T_PG_PORT/cdt"
	export T_PG_DIR T_PG_PORT
	T_PG_DB=postgres t_pg_sql "CREATE DATABASE cdt" &&
	T_PG_DB=postgres t_pg_sql "CREATE ROLE cdtapp LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '$pw'" &&
	CDT_STORE_URL=$T_PG_URL cdt store migrate --admin-url "$T_PG_ADMIN_URL" \
		>"$T_PG_DIR/migrate.log" 2>&1 ||
		{ cat "$T_PG_DIR/migrate.log" >&2; return 1; }
}

# A fresh migrated database NAME (a copy of cdt); T_PG_URL points at it.
t_pg_newdb() {
	T_PG_DB=postgres t_pg_sql "CREATE DATABASE $1 TEMPLATE cdt" || return 1
	T_PG_URL="postgres://cdtapp@127.0.0.1:$T_PG_PORT/$1"
	T_PG_DB=$1
	export T_PG_URL T_PG_DB
}

# The PostgreSQL pass: this test file's own database, dropped at exit.
t_pg_file() {
	local db="t_$$_${RANDOM}"
	t_pg_newdb "$db" || return 1
	t_pg_tables=$(t_pg_sql "SELECT string_agg(quote_ident(relname), ', ')
		FROM pg_class WHERE relkind = 'r' AND relnamespace =
		'public'::regnamespace AND relname <> 'schema_migrations'")
	# The tests' own look into the store (store-open "$CDT_HOME/cdt.db"
	# SQL, callercheck minting tokens) goes around row level security,
	# as the owner: the tools under test stay the application role.
	T_PG_ADMIN_DB="${T_PG_ADMIN_URL%/*}/$db"
	store-open() {
		local p=$1
		shift
		case $p in
		*/cdt.db) command store-open "$T_PG_ADMIN_DB" "$@" ;;
		*) command store-open "$p" "$@" ;;
		esac
	}
	callercheck() {
		CDT_STORE_URL=$T_PG_ADMIN_DB command callercheck "$@"
	}
	t_pg_oldtrap=$(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT\$/\1/")
	trap "T_PG_DB=postgres t_pg_sql 'DROP DATABASE $db WITH (FORCE)' >/dev/null 2>&1; $t_pg_oldtrap" EXIT
}

# The PostgreSQL pass: an empty store for this case.
t_pg_case() {
	t_pg_sql "TRUNCATE $t_pg_tables RESTART IDENTITY CASCADE" &&
		export CDT_STORE_URL=$T_PG_URL
}

