/*
 * store.h - the store: users, keys, sessions, conversations, breakers.
 *
 * One small, backend-neutral interface over SQL.  The backend today is
 * SQLite (a file, $CDT_HOME/cdt.db by default); PostgreSQL slots in behind
 * the same calls later.  cdt_store_open() runs the schema migrations
 * (lib/schema.c) in one write transaction that re-checks the version
 * under the lock, so any number of processes may open an empty store at
 * once; when the schema is current, opening costs one read.
 *
 * SQLite: WAL mode, synchronous=NORMAL, foreign_keys on, 10 s busy
 * timeout, the file (and its -wal/-shm) created 0600.  The -wal and -shm
 * files stay beside the database between runs (it opens faster): copy a
 * store with the backup API, never with cp.  The schema version lives in
 * PRAGMA user_version; each migration also leaves a row in the
 * schema_migrations table (version, name, applied_at).
 *
 * Conventions of the schema:
 *   - every time is an INTEGER: milliseconds since the Unix epoch, UTC
 *     (columns *_at, *_until, ts); records carry RFC 3339, converted at
 *     the edge;
 *   - booleans are INTEGER 0 or 1; JSON documents are TEXT;
 *   - ids are TEXT (UUIDs, key ids), except audit.id, a growing integer.
 *
 * SQL uses '?' placeholders; params is a jv array (consumed) of strings,
 * numbers, null, true/false (bound as 1/0) and arrays/objects (bound as
 * their compact JSON text).  A number with an integral value in int64
 * range is bound as an integer.  Rows come back as an array of objects
 * keyed by column name (alias duplicate names): integers and reals as
 * numbers (libjq keeps doubles: integers beyond 2^53 lose precision),
 * NULL as null, text and blobs as strings.  Write portable SQL (what
 * SQLite and PostgreSQL both accept): ON CONFLICT ... DO NOTHING/UPDATE,
 * RETURNING, no INSERT OR REPLACE.
 *
 * Transactions: cdt_store_begin(st, CDT_TXN_WRITE) is BEGIN IMMEDIATE,
 * taking the write lock first, so a transaction never fails on a late
 * upgrade; CDT_TXN_READ is a deferred BEGIN and refuses writing
 * statements (70).  A writing statement run outside a transaction runs in
 * its own BEGIN IMMEDIATE transaction.  One transaction at a time per
 * handle; a handle belongs to one thread and does not survive fork().
 *
 * Errors are reported here (one line naming the store, never a parameter
 * value) and returned:
 *   75 still locked after the busy timeout ("... store 'P': it is
 *      busy (locked by another process)");
 *   65 a constraint violated, class "conflict"; cdt_store_last_error()
 *      tells UNIQUE from FOREIGN KEY from the rest.  To treat a duplicate
 *      as an answer rather than an error, use INSERT ... ON CONFLICT DO
 *      NOTHING and cdt_store_changes() == 0: nothing is printed, and on
 *      PostgreSQL the transaction stays usable;
 *   74 disk full, I/O error, read-only file;
 *   70 corrupt store or not a database, bad SQL, misuse;
 *   78 schema newer than this cdt, unknown backend;
 *   66 no store there (CDT_STORE_NOCREATE); 73 cannot create it.
 */
#ifndef CDT_STORE_H
#define CDT_STORE_H

#include "compat.h"
#include <jv.h>

struct cdt_store;

enum cdt_store_flags {
	/* The store must exist already: 66 when it does not. */
	CDT_STORE_NOCREATE = 1 << 0,
	/*
	 * Open at whatever schema version the store has, older or newer,
	 * and migrate nothing (for `cdt store status`).
	 */
	CDT_STORE_NOMIGRATE = 1 << 1,
};

enum cdt_store_txn {
	CDT_TXN_READ,		/* deferred BEGIN: reads only */
	CDT_TXN_WRITE,		/* BEGIN IMMEDIATE: the write lock first */
};

/* What the last failed call ran into (cdt_store_last_error). */
enum cdt_store_error {
	CDT_STORE_OK = 0,
	CDT_STORE_E_UNIQUE,	/* UNIQUE or PRIMARY KEY violated (65) */
	CDT_STORE_E_FOREIGN,	/* FOREIGN KEY violated (65) */
	CDT_STORE_E_CONSTRAINT,	/* NOT NULL, CHECK, other (65) */
	CDT_STORE_E_BUSY,	/* still locked after the timeout (75) */
	CDT_STORE_E_IO,		/* disk full, I/O, read-only (74) */
	CDT_STORE_E_CORRUPT,	/* corrupt, not a database (70) */
	CDT_STORE_E_CONFIG,	/* newer schema, unknown backend (78) */
	CDT_STORE_E_MISSING,	/* no store there (66), cannot create (73) */
	CDT_STORE_E_INTERNAL,	/* bad SQL, misuse (70) */
};

#define CDT_STORE_BUSY_TIMEOUT_MS 10000

/*
 * Open the store at path_or_url (a file path for SQLite; a URL with a
 * scheme names another backend) and bring its schema up to date.  On
 * failure *out is NULL.
 */
int cdt_store_open(struct cdt_store **out, const char *path_or_url,
		   enum cdt_store_flags flags);
/* Make home (0700, parents too) if missing, then open home/cdt.db. */
int cdt_store_open_default(struct cdt_store **out, const char *home);
/*
 * The store the configuration names: store.url, else store.path, else
 * $CDT_HOME/cdt.db (made when missing unless flags has
 * CDT_STORE_NOCREATE).  cfg may be NULL (defaults only).
 */
struct cdt_cfg;
int cdt_store_open_cfg(struct cdt_store **out, const struct cdt_cfg *cfg,
		       enum cdt_store_flags flags);
/* Roll back an open transaction and free everything.  NULL is fine. */
void cdt_store_close(struct cdt_store *st);

int cdt_store_begin(struct cdt_store *st, enum cdt_store_txn txn);
/* On failure the transaction is rolled back. */
int cdt_store_commit(struct cdt_store *st);
/* Quietly undo the open transaction, if any. */
void cdt_store_rollback(struct cdt_store *st);

/*
 * Run one SQL statement.  params is an array (consumed; jv_array() for
 * none).  rows, unless NULL, receives the result rows on success and
 * jv_invalid() on failure.
 */
int cdt_store_exec(struct cdt_store *st, const char *sql, jv params,
		   jv *rows);
/* Rows inserted, updated or deleted by the last exec (0 for a query). */
int cdt_store_changes(const struct cdt_store *st);
enum cdt_store_error cdt_store_last_error(const struct cdt_store *st);

/* "sqlite" (later "postgres"). */
const char *cdt_store_backend_name(const struct cdt_store *st);
/* The store's name for messages: its path, or its URL without password. */
const char *cdt_store_name(const struct cdt_store *st);

/*
 * The parts of a store URL scheme://[USER[:PASSWORD]@]HOST/...: auth and
 * alen the authority (up to the path, query or fragment); when it has a
 * '@' (the last one counts) at points at it, user/ulen is what precedes
 * the first ':' or '@', and pw/plen the password (pw NULL without a ':').
 * Returns false, all NULL, when url has no scheme (a file path).
 */
struct cdt_url_auth {
	const char *auth, *at, *user, *pw;
	size_t alen, ulen, plen;
};
bool cdt_store_url_auth(const char *url, struct cdt_url_auth *ua);
/* Schema version of the open store, and the newest this cdt knows. */
int cdt_store_version(const struct cdt_store *st);
int cdt_store_schema_latest(void);
/* How long to wait for a lock before failing with 75 (default 10 s). */
void cdt_store_set_busy_timeout(struct cdt_store *st, int ms);
/*
 * The caller's org, once known: PostgreSQL sets it (SET LOCAL cdt.org)
 * in every later transaction, and its row level security shows only
 * that org's rows.  SQLite ignores it.  NULL or "" unsets it.
 */
void cdt_store_set_org(struct cdt_store *st, const char *org_id);
/*
 * Before the org is known (PostgreSQL's row level security shows no org's
 * rows yet): the org id that login needs, into out ("" when none): kind
 * "key" (value: an API key id), "refresh" (a refresh token's SHA-256
 * hex), "email" (a user's first org, or the one named org_name), "org"
 * (an org's name); "user" gives a user's id by email, "conversation" the
 * id itself when a conversation of any org has it.  Through the one
 * SECURITY DEFINER function cdt_login_org.  SQLite: always "" (no row
 * level security, no need).
 */
int cdt_store_login_org(struct cdt_store *st, const char *kind,
			const char *value, const char *org_name, char *out,
			size_t outlen);
/*
 * store.password_file: PostgreSQL reads the password from its first line
 * at each open (never from argv).  cdt_cfg_load sets it.
 */
void cdt_store_set_password_file(const char *path);

/*
 * Whole-store verbs (`cdt store`).  The export is JSON Lines, one
 * {"table": T, "row": {column: value}} per row, tables oldest first and
 * each table's rows oldest first, read in one read transaction (one
 * snapshot); *counts gets {table: rows}.  Import reads such lines into
 * an empty store of the same schema version in one write transaction:
 * every line is inserted or the import fails and nothing is; *counts
 * gets the lines read per table.  what names the input in messages.
 */
int cdt_store_tables(struct cdt_store *st, jv *names);
int cdt_store_export(struct cdt_store *st, FILE *f, jv *counts);
int cdt_store_import(struct cdt_store *st, FILE *f, const char *what,
		     jv *counts);
/*
 * A consistent copy of the store in path, which must not exist: SQLite
 * writes a database file (VACUUM INTO), PostgreSQL an export taken in
 * one REPEATABLE READ snapshot (cdt store import restores it).
 */
int cdt_store_backup(struct cdt_store *st, const char *path);
/*
 * PostgreSQL, as the schema's owner: grant role what the tools need
 * (rows, not tables) and set up row level security.  SQLite: nothing.
 */
int cdt_store_grant(struct cdt_store *st, const char *role);

#include "banned.h"
#endif
