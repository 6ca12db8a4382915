#include "compat.h"
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "log.h"
#include "store.h"
#include "store_backend.h"

/*
 * The SQLite backend.  Statements are prepared once per handle and kept
 * in a small cache keyed by their text; each is reset as soon as its
 * exec is done, so no statement holds a read snapshot between calls.
 */

#define CACHE_SIZE 32

struct cached {
	char *sql;
	uint32_t hash;
	uint64_t used;
	sqlite3_stmt *stmt;
};

struct sq {
	sqlite3 *db;
	uint64_t tick;
	struct cached cache[CACHE_SIZE];
};

static struct sq *
sq_of(struct cdt_store *st)
{
	return st->impl;
}

/*
 * Report a failed SQLite call.  what says what failed ("cannot write");
 * SQLite's messages name tables, columns and constraints, never bound
 * values.
 */
static int
sq_fail(struct cdt_store *st, int rc, const char *what)
{
	sqlite3 *db = sq_of(st)->db;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	int sys = db ? sqlite3_system_errno(db) : 0;

	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		cdt_oom();
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return cdt_store_fail(st, CDT_STORE_E_BUSY, EX_TEMPFAIL,
				      "%s store '%s': it is busy (locked by "
				      "another process)", what, st->name);
	case SQLITE_INTERRUPT:
		return cdt_store_fail(st, CDT_STORE_E_BUSY, EX_TEMPFAIL,
				      "%s store '%s': interrupted", what,
				      st->name);
	case SQLITE_CONSTRAINT: {
		enum cdt_store_error kind = CDT_STORE_E_CONSTRAINT;
		if (rc == SQLITE_CONSTRAINT_UNIQUE ||
		    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			kind = CDT_STORE_E_UNIQUE;
		else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			kind = CDT_STORE_E_FOREIGN;
		return cdt_store_fail(st, kind, EX_DATAERR, "%s store '%s': %s",
				      what, st->name, msg);
	}
	case SQLITE_TOOBIG:
		return cdt_store_fail(st, CDT_STORE_E_CONSTRAINT, EX_DATAERR,
				      "%s store '%s': %s", what, st->name,
				      msg);
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_PROTOCOL:
		if (sys)
			return cdt_store_fail(st, CDT_STORE_E_IO, EX_IOERR,
					      "%s store '%s': %s: %s", what,
					      st->name, msg, strerror(sys));
		return cdt_store_fail(st, CDT_STORE_E_IO, EX_IOERR,
				      "%s store '%s': %s", what, st->name,
				      msg);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return cdt_store_fail(st, CDT_STORE_E_CORRUPT, EX_SOFTWARE,
				      "store '%s' is corrupt: %s", st->name,
				      msg);
	default:
		return cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				      "%s store '%s': %s", what, st->name,
				      msg);
	}
}

static uint32_t
hash_sql(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Only blanks and semicolons may follow the one statement. */
static bool
blank_tail(const char *p)
{
	for (; *p; p++)
		if (*p != ';' && *p != ' ' && *p != '\t' && *p != '\n' &&
		    *p != '\r')
			return false;
	return true;
}

/*
 * A prepared statement for sql, from the cache or made and cached.  The
 * statement an exec is running is the most recently used one, so the
 * BEGIN IMMEDIATE and COMMIT that wrap it can never evict it.
 */
static int
get_stmt(struct cdt_store *st, const char *sql, sqlite3_stmt **out)
{
	struct sq *sq = sq_of(st);
	uint32_t h = hash_sql(sql);
	struct cached *slot = NULL;
	sqlite3_stmt *stmt = NULL;
	const char *tail = NULL;

	*out = NULL;
	for (size_t i = 0; i < CACHE_SIZE; i++) {
		struct cached *c = &sq->cache[i];
		if (c->stmt && c->hash == h && !strcmp(c->sql, sql)) {
			c->used = ++sq->tick;
			*out = c->stmt;
			return 0;
		}
		/* An empty slot, else the least recently used one. */
		if (!slot || (slot->stmt && (!c->stmt || c->used < slot->used)))
			slot = c;
	}
	int rc = sqlite3_prepare_v3(sq->db, sql, -1,
				    SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
	if (rc != SQLITE_OK)
		return sq_fail(st, rc, "cannot prepare statement for");
	if (!stmt || (tail && !blank_tail(tail))) {
		sqlite3_finalize(stmt);
		return cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				      "cannot prepare statement for store "
				      "'%s': expected exactly one statement",
				      st->name);
	}
	if (slot->stmt) {
		sqlite3_finalize(slot->stmt);
		free(slot->sql);
	}
	slot->sql = cdt_xstrdup(sql);
	slot->hash = h;
	slot->used = ++sq->tick;
	slot->stmt = stmt;
	*out = stmt;
	return 0;
}

/* Run a statement without parameters, discarding any rows. */
static int
run(struct cdt_store *st, const char *sql, const char *what)
{
	sqlite3_stmt *stmt = NULL;
	int rc = get_stmt(st, sql, &stmt);

	if (rc)
		return rc;
	int s;
	while ((s = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	if (s != SQLITE_DONE)
		rc = sq_fail(st, s, what);
	sqlite3_reset(stmt);
	return rc;
}

/* Run a query without parameters whose first row's first column is int. */
static int
query_int(struct cdt_store *st, const char *sql, int *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = get_stmt(st, sql, &stmt);

	if (rc)
		return rc;
	int s = sqlite3_step(stmt);
	if (s == SQLITE_ROW)
		*out = sqlite3_column_int(stmt, 0);
	else
		rc = sq_fail(st, s, "cannot read");
	sqlite3_reset(stmt);
	return rc;
}

static void
sq_set_busy_timeout(struct cdt_store *st, int ms)
{
	struct sq *sq = sq_of(st);

	if (sq && sq->db)
		sqlite3_busy_timeout(sq->db, ms);
}

static int
sq_open(struct cdt_store *st, const char *path, enum cdt_store_flags flags)
{
	struct sq *sq = cdt_xcalloc(1, sizeof(*sq));
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		     SQLITE_OPEN_EXRESCODE;
	struct stat sb;
	int rc;

	st->impl = sq;
	if (flags & CDT_STORE_NOCREATE) {
		if (stat(path, &sb) < 0)
			return cdt_store_fail(st, CDT_STORE_E_MISSING,
					      errno == ENOENT ? EX_NOINPUT
							      : EX_IOERR,
					      "cannot open store '%s': %s",
					      st->name, strerror(errno));
	} else {
		/*
		 * Make the file ourselves so that it is 0600 whatever the
		 * umask; SQLite gives -wal and -shm the same mode.
		 */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY,
			      0600);
		if (fd >= 0) {
			close(fd);
		} else {
			int e = errno;
			/* Not ours to write: let SQLite say what it can do. */
			if (stat(path, &sb) < 0)
				return cdt_store_fail(st, CDT_STORE_E_MISSING,
						      EX_CANTCREAT,
						      "cannot create store "
						      "'%s': %s", st->name,
						      strerror(e));
		}
		oflags |= SQLITE_OPEN_CREATE;
	}
	rc = sqlite3_open_v2(path, &sq->db, oflags, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(st, rc, "cannot open");
	sqlite3_extended_result_codes(sq->db, 1);
	sqlite3_busy_timeout(sq->db, st->busy_timeout_ms);
	/*
	 * Each cdt process opens the store once and closes it.  Keeping the
	 * -wal file when the last connection closes (emptied to 0 bytes by
	 * journal_size_limit) saves unlinking and re-creating it and the
	 * -shm file every time: about half of SQLite's cost of an open.
	 */
	int persist = 1;
	sqlite3_file_control(sq->db, "main", SQLITE_FCNTL_PERSIST_WAL,
			     &persist);
	/*
	 * Nor checkpoint at every close: that cost each short-lived process
	 * two fdatasyncs and the next writer a WAL restart.  SQLite still
	 * checkpoints on commit once the WAL passes 1000 pages.
	 */
	sqlite3_db_config(sq->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	/* Connection settings: no write, and no lock but a schema read. */
	rc = run(st, "PRAGMA foreign_keys = ON", "cannot open");
	if (!rc)
		rc = run(st, "PRAGMA synchronous = NORMAL", "cannot open");
	if (!rc)
		rc = run(st, "PRAGMA journal_size_limit = 67108864",
			 "cannot open");
	return rc;
}

static void
sq_close(struct cdt_store *st)
{
	struct sq *sq = sq_of(st);

	if (!sq)
		return;
	for (size_t i = 0; i < CACHE_SIZE; i++) {
		sqlite3_finalize(sq->cache[i].stmt);
		free(sq->cache[i].sql);
	}
	if (sq->db) {
		if (!sqlite3_get_autocommit(sq->db))
			sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close_v2(sq->db);
	}
	free(sq);
	st->impl = NULL;
}

static int
sq_begin(struct cdt_store *st, enum cdt_store_txn txn)
{
	/*
	 * A write transaction takes the write lock in its first statement:
	 * a deferred one that read first and wrote later could fail at
	 * once with SQLITE_BUSY_SNAPSHOT, past any busy timeout.
	 */
	if (txn == CDT_TXN_WRITE)
		return run(st, "BEGIN IMMEDIATE",
			   "cannot begin a transaction on");
	return run(st, "BEGIN", "cannot begin a transaction on");
}

static int
sq_commit(struct cdt_store *st)
{
	return run(st, "COMMIT", "cannot commit to");
}

static void
sq_rollback(struct cdt_store *st)
{
	struct sq *sq = sq_of(st);

	/* SQLite may have rolled back already (after I/O errors). */
	if (sqlite3_get_autocommit(sq->db))
		return;
	int rc = sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		cdt_debug("store '%s': rollback: %s", st->name,
			  sqlite3_errmsg(sq->db));
}

static int
bind_one(struct cdt_store *st, sqlite3_stmt *stmt, int i, jv v)
{
	int rc = SQLITE_OK;

	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		rc = sqlite3_bind_null(stmt, i);
		break;
	case JV_KIND_TRUE:
		rc = sqlite3_bind_int64(stmt, i, 1);
		break;
	case JV_KIND_FALSE:
		rc = sqlite3_bind_int64(stmt, i, 0);
		break;
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);
		/* Integral values bind as integers: 3 is not 3.0 to SQL. */
		if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
		    d == (double)(int64_t)d)
			rc = sqlite3_bind_int64(stmt, i, (sqlite3_int64)d);
		else
			rc = sqlite3_bind_double(stmt, i, d);
		break;
	}
	case JV_KIND_STRING:
		/* The caller's params keep the bytes alive until reset. */
		rc = sqlite3_bind_text64(stmt, i, jv_string_value(v),
					 (sqlite3_uint64)jv_string_length_bytes(
						 jv_copy(v)),
					 SQLITE_STATIC, SQLITE_UTF8);
		break;
	case JV_KIND_ARRAY:
	case JV_KIND_OBJECT: {
		jv text = jv_dump_string(jv_copy(v), 0);
		rc = sqlite3_bind_text64(stmt, i, jv_string_value(text),
					 (sqlite3_uint64)jv_string_length_bytes(
						 jv_copy(text)),
					 SQLITE_TRANSIENT, SQLITE_UTF8);
		jv_free(text);
		break;
	}
	default:
		jv_free(v);
		return cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				      "cannot run statement on store '%s': "
				      "parameter %d is not a JSON value",
				      st->name, i);
	}
	jv_free(v);
	if (rc != SQLITE_OK)
		return sq_fail(st, rc, "cannot bind a parameter for");
	return 0;
}

static int
bind_all(struct cdt_store *st, sqlite3_stmt *stmt, jv params)
{
	int n = jv_array_length(jv_copy(params));
	int want = sqlite3_bind_parameter_count(stmt);

	if (n != want)
		return cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				      "cannot run statement on store '%s': "
				      "it takes %d parameters, not %d",
				      st->name, want, n);
	for (int i = 0; i < n; i++) {
		int rc = bind_one(st, stmt, i + 1,
				  jv_array_get(jv_copy(params), i));
		if (rc)
			return rc;
	}
	return 0;
}

static jv
column_value(sqlite3_stmt *stmt, int i)
{
	const void *p;
	int len;

	switch (sqlite3_column_type(stmt, i)) {
	case SQLITE_INTEGER:
		return jv_number((double)sqlite3_column_int64(stmt, i));
	case SQLITE_FLOAT:
		return jv_number(sqlite3_column_double(stmt, i));
	case SQLITE_TEXT:
		p = sqlite3_column_text(stmt, i);
		len = sqlite3_column_bytes(stmt, i);
		return jv_string_sized(p ? p : "", len);
	case SQLITE_BLOB:
		p = sqlite3_column_blob(stmt, i);
		len = sqlite3_column_bytes(stmt, i);
		return jv_string_sized(p ? p : "", len);
	default:
		return jv_null();
	}
}

static jv
row_object(sqlite3_stmt *stmt)
{
	int n = sqlite3_column_count(stmt);
	jv row = jv_object();

	for (int i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(stmt, i);
		if (!name)
			cdt_oom();
		row = jv_object_set(row, jv_string(name),
				    column_value(stmt, i));
	}
	return row;
}

static int
sq_exec(struct cdt_store *st, const char *sql, jv params, jv *rows)
{
	struct sq *sq = sq_of(st);
	sqlite3_stmt *stmt = NULL;
	jv out = jv_invalid();
	bool wrapped = false;
	int rc;

	if (rows)
		*rows = jv_invalid();
	if (jv_get_kind(params) != JV_KIND_ARRAY) {
		rc = cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				    "cannot run statement on store '%s': "
				    "parameters are not an array", st->name);
		goto out;
	}
	rc = get_stmt(st, sql, &stmt);
	if (rc)
		goto out;
	bool writes = !sqlite3_stmt_readonly(stmt);
	if (writes && st->txn == CDT_STORE_TXN_READ) {
		rc = cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				    "cannot write store '%s' in a read "
				    "transaction", st->name);
		goto out;
	}
	rc = bind_all(st, stmt, params);
	if (rc)
		goto out;
	if (writes && st->txn == CDT_STORE_TXN_NONE) {
		rc = run(st, "BEGIN IMMEDIATE",
			 "cannot begin a transaction on");
		if (rc)
			goto out;
		wrapped = true;
	}
	sqlite3_int64 before = sqlite3_total_changes64(sq->db);
	out = jv_array();
	for (;;) {
		int s = sqlite3_step(stmt);
		if (s == SQLITE_DONE)
			break;
		if (s != SQLITE_ROW) {
			rc = sq_fail(st, s, writes ? "cannot write"
						   : "cannot read");
			goto out;
		}
		if (rows)
			out = jv_array_append(out, row_object(stmt));
	}
	if (sqlite3_total_changes64(sq->db) != before)
		st->changes = sqlite3_changes(sq->db);
	/* A statement not reset would keep COMMIT from finishing. */
	sqlite3_reset(stmt);
	if (wrapped) {
		wrapped = false;
		rc = run(st, "COMMIT", "cannot commit to");
		if (rc) {
			sq_rollback(st);
			goto out;
		}
	}
	if (rows) {
		*rows = out;
		out = jv_invalid();
	}
out:
	if (stmt) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	}
	if (wrapped)
		sq_rollback(st);
	if (st->txn != CDT_STORE_TXN_NONE && sqlite3_get_autocommit(sq->db))
		st->txn = CDT_STORE_TXN_NONE;
	jv_free(out);
	jv_free(params);
	return rc;
}

static int
sq_version_get(struct cdt_store *st, int *version)
{
	return query_int(st, "PRAGMA user_version", version);
}

static int
sq_version_set(struct cdt_store *st, int version)
{
	char sql[64];

	/* PRAGMA takes no parameters; version is our own integer. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	return run(st, sql, "cannot migrate");
}

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
sq_prepare_migration(struct cdt_store *st)
{
	sqlite3_stmt *stmt = NULL;
	int rc = get_stmt(st, "PRAGMA journal_mode = WAL", &stmt);

	if (rc)
		return rc;
	/*
	 * Switching to WAL upgrades the pragma's own read lock to a write
	 * lock, and SQLite never calls the busy handler for an upgrade (it
	 * could deadlock), so processes opening a new store together get
	 * SQLITE_BUSY at once.  Wait for them here, as the handler would.
	 */
	double deadline = mono_ms() + st->busy_timeout_ms;
	int s;
	for (int n = 1; ; n++) {
		s = sqlite3_step(stmt);
		if ((s & 0xff) != SQLITE_BUSY || mono_ms() >= deadline)
			break;
		sqlite3_reset(stmt);
		sqlite3_sleep(n < 10 ? n : 10);
	}
	if (s == SQLITE_ROW) {
		const unsigned char *mode = sqlite3_column_text(stmt, 0);
		if (!mode || strcmp((const char *)mode, "wal"))
			cdt_warn("store '%s': cannot use WAL mode (journal "
				 "mode is '%s'): readers will wait for "
				 "writers", st->name,
				 mode ? (const char *)mode : "?");
	} else {
		rc = sq_fail(st, s, "cannot set the journal mode of");
	}
	sqlite3_reset(stmt);
	return rc;
}

static int
sq_migrate(struct cdt_store *st, const char *sql)
{
	int rc = sqlite3_exec(sq_of(st)->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sq_fail(st, rc, "cannot migrate");
	return 0;
}

/* Foreign keys are checked at commit: an import's order is free. */
static int
sq_import_begin(struct cdt_store *st)
{
	return run(st, "PRAGMA defer_foreign_keys = ON", "cannot import into");
}

static int
sq_backup(struct cdt_store *st, const char *path)
{
	/* Made here, 0600 and new; VACUUM INTO fills an empty file. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return cdt_err_errno(EX_CANTCREAT, "cannot create '%s'", path);
	close(fd);
	/* Not through sq_exec: VACUUM cannot run in a transaction. */
	sqlite3_stmt *stmt = NULL;
	int rc = get_stmt(st, "VACUUM INTO ?", &stmt);
	if (!rc) {
		int s = sqlite3_bind_text(stmt, 1, path, -1, SQLITE_STATIC);
		if (s == SQLITE_OK)
			s = sqlite3_step(stmt);
		if (s != SQLITE_DONE)
			rc = sq_fail(st, s, "cannot back up");
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	}
	if (rc)
		unlink(path);
	return rc;
}

const struct cdt_store_ops cdt_store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.exec = sq_exec,
	.version_get = sq_version_get,
	.version_set = sq_version_set,
	.prepare_migration = sq_prepare_migration,
	.migrate = sq_migrate,
	.set_busy_timeout = sq_set_busy_timeout,
	.tables_sql = "SELECT name FROM sqlite_schema WHERE type = 'table' "
		      "AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
	.columns_sql = "SELECT name FROM pragma_table_info(?) ORDER BY cid",
	.row_order = "rowid",
	.import_begin = sq_import_begin,
	.backup = sq_backup,
};
