/*
 * t-store.c - the store: schema, exec, transactions, errors, concurrency.
 */
#include "compat.h"
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "schema.h"
#include "store.h"
#include "store_backend.h"
#include "tap.h"

static char root[256];

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty directory under root; the caller frees the name. */
static char *
new_dir(const char *name)
{
	struct cdt_buf b = CDT_BUF_INIT;

	cdt_buf_addf(&b, "%s/%s", root, name);
	if (mkdir(b.buf, 0700) < 0)
		diag("mkdir %s: %s", b.buf, strerror(errno));
	return cdt_buf_detach(&b, NULL);
}

static char *
join(const char *dir, const char *name)
{
	struct cdt_buf b = CDT_BUF_INIT;

	cdt_buf_addf(&b, "%s/%s", dir, name);
	return cdt_buf_detach(&b, NULL);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
mode_of(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return -1;
	return (int)(sb.st_mode & 07777);
}

/* Rows of a query, or jv_invalid() on failure. */
static jv
q(struct cdt_store *st, const char *sql, jv params)
{
	jv rows = jv_invalid();

	if (cdt_store_exec(st, sql, params, &rows))
		return jv_invalid();
	return rows;
}

/* The column "n" of the first row as a number, -1 when there is none. */
static double
qn(struct cdt_store *st, const char *sql, jv params)
{
	jv rows = q(st, sql, params);
	double n = -1;

	if (jv_get_kind(rows) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(rows)) > 0) {
		jv v = jv_object_get(jv_array_get(jv_copy(rows), 0),
				     jv_string("n"));
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			n = jv_number_value(v);
		jv_free(v);
	}
	jv_free(rows);
	return n;
}

/* The column "s" of the first row as a malloc'd string, or NULL. */
static char *
qs(struct cdt_store *st, const char *sql, jv params)
{
	jv rows = q(st, sql, params);
	char *s = NULL;

	if (jv_get_kind(rows) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(rows)) > 0) {
		jv v = jv_object_get(jv_array_get(jv_copy(rows), 0),
				     jv_string("s"));
		if (jv_get_kind(v) == JV_KIND_STRING)
			s = cdt_xstrdup(jv_string_value(v));
		jv_free(v);
	}
	jv_free(rows);
	return s;
}

static void
is_json(jv got, const char *want, const char *name)
{
	jv w = jv_parse(want);
	int same = jv_equal(jv_copy(got), jv_copy(w));

	if (!ok(same, "%s", name)) {
		jv g = jv_dump_string(jv_copy(got), 0);
		diag("got %s", jv_get_kind(g) == JV_KIND_STRING ?
		     jv_string_value(g) : "(invalid)");
		diag("want %s", want);
		jv_free(g);
	}
	jv_free(got);
	jv_free(w);
}

static jv
args2(jv a, jv b)
{
	return jv_array_append(jv_array_append(jv_array(), a), b);
}

static jv
args1(jv a)
{
	return jv_array_append(jv_array(), a);
}

static const char *
last_message(void)
{
	struct cdt_err_last e;

	cdt_err_get(&e);
	return e.message;
}

static const char *
last_class(void)
{
	struct cdt_err_last e;

	cdt_err_get(&e);
	return e.cls;
}

static const char *const tables[] = {
	"schema_migrations", "meta", "orgs", "teams", "users", "memberships",
	"api_keys", "refresh_tokens", "sessions", "conversations", "messages",
	"breakers", "usage", "audit",
};

static void
test_create(void)
{
	char *dir = new_dir("create");
	char *home = join(dir, "a/b/home");
	char *db = join(home, "cdt.db");
	char *wal = join(home, "cdt.db-wal");
	char *shm = join(home, "cdt.db-shm");
	char *parent = join(dir, "a");
	struct cdt_store *st = NULL;

	/* With no umask the modes below are cdt's own doing. */
	mode_t old = umask(0);
	int rc = cdt_store_open_default(&st, home);
	umask(old);
	is_int(rc, 0, "open_default on a missing home");
	ok(st != NULL, "store handle");
	if (!st)
		goto out;
	is_int(mode_of(home), 0700, "home made 0700");
	is_int(mode_of(parent), 0700, "its missing parents made 0700");
	is_int(mode_of(db), 0600, "cdt.db made 0600");
	is_str(cdt_store_backend_name(st), "sqlite", "backend name");
	is_str(cdt_store_name(st), db, "store name is its path");
	is_int(cdt_store_version(st), cdt_store_schema_latest(),
	       "schema at the latest version");
	ok(cdt_store_schema_latest() >= 1, "at least one migration");

	char *mode = qs(st, "SELECT journal_mode AS s FROM "
			"pragma_journal_mode", jv_array());
	is_str(mode, "wal", "journal_mode is wal");
	free(mode);
	is_int(qn(st, "SELECT foreign_keys AS n FROM pragma_foreign_keys",
		  jv_array()), 1, "foreign_keys on");
	is_int(qn(st, "SELECT synchronous AS n FROM pragma_synchronous",
		  jv_array()), 1, "synchronous=NORMAL");
	is_int(qn(st, "SELECT timeout AS n FROM pragma_busy_timeout",
		  jv_array()), 10000, "busy timeout 10 s");
	is_int(qn(st, "SELECT user_version AS n FROM pragma_user_version",
		  jv_array()), cdt_store_schema_latest(),
	       "user_version = latest");
	is_int(qn(st, "SELECT count(*) AS n FROM schema_migrations",
		  jv_array()), cdt_store_schema_latest(),
	       "one schema_migrations row per migration");
	is_json(q(st, "SELECT version, name FROM schema_migrations "
		  "WHERE version = 1", jv_array()),
		"[{\"version\":1,\"name\":\"initial\"}]",
		"migration 1 logged by name");
	int missing = 0;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(tables); i++) {
		if (qn(st, "SELECT count(*) AS n FROM sqlite_master "
		       "WHERE type = 'table' AND name = ?",
		       args1(jv_string(tables[i]))) != 1) {
			diag("no table %s", tables[i]);
			missing++;
		}
	}
	is_int(missing, 0, "every v1 table exists");
	is_int(mode_of(wal), 0600, "-wal file 0600");
	is_int(mode_of(shm), 0600, "-shm file 0600");
	is_json(q(st, "PRAGMA integrity_check", jv_array()),
		"[{\"integrity_check\":\"ok\"}]", "integrity_check ok");
	cdt_store_close(st);
	st = NULL;

	/*
	 * Re-open while another handle holds the write lock: the fast
	 * path needs no lock, so it does not wait out the busy timeout.
	 */
	struct cdt_store *w = NULL;
	rc = cdt_store_open(&w, db, 0);
	is_int(rc, 0, "re-open");
	if (rc)
		goto out;
	is_int(cdt_store_begin(w, CDT_TXN_WRITE), 0, "writer holds the lock");
	is_int(cdt_store_exec(w, "INSERT INTO meta (key, value) VALUES "
			      "('k', 'v')", jv_array(), NULL), 0,
	       "writer writes, uncommitted");
	double t0 = now_ms();
	rc = cdt_store_open(&st, db, 0);
	double took = now_ms() - t0;
	is_int(rc, 0, "open with the write lock taken elsewhere");
	ok(took < 2000, "fast path took no lock (%.1f ms)", took);
	if (st) {
		is_int(cdt_store_version(st), cdt_store_schema_latest(),
		       "version unchanged");
		is_int(qn(st, "SELECT count(*) AS n FROM schema_migrations",
			  jv_array()), cdt_store_schema_latest(),
		       "no migration ran again");
		is_int(qn(st, "SELECT count(*) AS n FROM meta", jv_array()),
		       0, "reader does not see the uncommitted row");
	}
	cdt_store_rollback(w);
	cdt_store_close(w);
out:
	cdt_store_close(st);
	free(dir);
	free(home);
	free(db);
	free(wal);
	free(shm);
	free(parent);
}

/* in is bound as a parameter; want (NULL: the same) is what comes back. */
struct value_case {
	const char *name;
	const char *in;
	const char *want;
	const char *type;
};

static const struct value_case values[] = {
	{ "plain string", "\"plain\"", NULL, "text" },
	{ "UTF-8 string", "\"h\u00e9llo \u2713 \u65e5\u672c "
	  "\U0001F389 \\ud83c\\udf89\"", NULL, "text" },
	{ "quotes and backslashes", "\"it's \\\"quoted\\\" \\\\ '' ;--\"",
	  NULL, "text" },
	{ "empty string", "\"\"", NULL, "text" },
	{ "embedded NUL", "\"a\\u0000b\"", NULL, "text" },
	{ "integer", "42", NULL, "integer" },
	{ "-(2^53-1)", "-9007199254740991", NULL, "integer" },
	{ "2^53-1", "9007199254740991", NULL, "integer" },
	{ "epoch ms", "1735689600123", NULL, "integer" },
	{ "double", "3.25", NULL, "real" },
	{ "tiny double", "-1.5e-300", NULL, "real" },
	{ "null", "null", NULL, "null" },
	{ "true", "true", "1", "integer" },
	{ "false", "false", "0", "integer" },
	{ "object as JSON text", "{\"a\":[1,\"x\"],\"b\":null}",
	  "\"{\\\"a\\\":[1,\\\"x\\\"],\\\"b\\\":null}\"", "text" },
};

static void
test_exec(struct cdt_store *st)
{
	is_int(cdt_store_exec(st, "CREATE TABLE t (k TEXT PRIMARY KEY, v)",
			      jv_array(), NULL), 0, "create a table");
	for (size_t i = 0; i < CDT_ARRAY_SIZE(values); i++) {
		const struct value_case *c = &values[i];
		int rc = cdt_store_exec(st, "INSERT INTO t (k, v) "
					"VALUES (?, ?)",
					args2(jv_string(c->name),
					      jv_parse(c->in)),
					NULL);
		is_int(rc, 0, "insert %s", c->name);
		is_int(cdt_store_changes(st), 1, "one row changed (%s)",
		       c->name);
		jv rows = q(st, "SELECT v, typeof(v) AS type FROM t "
			    "WHERE k = ?", args1(jv_string(c->name)));
		jv row = jv_array_get(rows, 0);
		char want[256];
		snprintf(want, sizeof(want), "{\"v\":%s,\"type\":\"%s\"}",
			 c->want ? c->want : c->in, c->type);
		is_json(row, want, c->name);
	}
	is_int(qn(st, "SELECT length(v) AS n FROM t WHERE k = ?",
		  args1(jv_string("UTF-8 string"))), 14,
	       "UTF-8 stored as characters, not bytes");
	is_json(q(st, "SELECT 1 AS a, 'x' AS b, NULL AS c, 2.5 AS d",
		  jv_array()), "[{\"a\":1,\"b\":\"x\",\"c\":null,\"d\":2.5}]",
		"rows are objects keyed by column name");
	is_json(q(st, "SELECT k AS s FROM t WHERE k IN (?, ?) ORDER BY k",
		  args2(jv_string("integer"), jv_string("double"))),
		"[{\"s\":\"double\"},{\"s\":\"integer\"}]", "several rows");
	is_json(q(st, "SELECT k FROM t WHERE k = ?", args1(jv_string("nope"))),
		"[]", "no rows is an empty array");
	is_json(q(st, "SELECT typeof(?) AS a, typeof(?) AS b",
		  args2(jv_number(5), jv_number(5.5))),
		"[{\"a\":\"integer\",\"b\":\"real\"}]",
		"integral numbers bind as integers");
	is_int(qn(st, "SELECT 1234567890123456 AS n", jv_array()),
	       1234567890123456LL, "an int64 comes back as a number");
	ok(qn(st, "SELECT 9223372036854775807 AS n", jv_array()) ==
	   9223372036854775807.0, "INT64_MAX comes back (as a double)");
	is_int(cdt_store_exec(st, "SELECT * FROM t", jv_array(), NULL), 0,
	       "rows may be discarded");

	/* changes */
	is_int(cdt_store_exec(st, "UPDATE t SET v = 0 WHERE typeof(v) = "
			      "'integer'", jv_array(), NULL), 0, "update");
	is_int(cdt_store_changes(st), 6, "changes counts updated rows");
	cdt_store_exec(st, "SELECT * FROM t", jv_array(), NULL);
	is_int(cdt_store_changes(st), 0, "a query changes nothing");
	cdt_store_exec(st, "DELETE FROM t WHERE k = 'nope'", jv_array(),
		       NULL);
	is_int(cdt_store_changes(st), 0, "a delete of nothing changes 0");
	is_json(q(st, "INSERT INTO t (k, v) VALUES (?, ?) RETURNING k, v",
		  args2(jv_string("ret"), jv_number(7))),
		"[{\"k\":\"ret\",\"v\":7}]", "RETURNING gives rows");
	is_int(cdt_store_changes(st), 1, "and counts the insert");
}

static void
test_conflicts(struct cdt_store *st)
{
	const char *ins = "INSERT INTO users (id, email, created_at, "
			  "updated_at) VALUES (?, ?, 0, 0)";
	const char *secret = "very-secret@example.com";

	cdt_err_quiet(true);
	is_int(cdt_store_exec(st, ins, args2(jv_string("u1"),
					     jv_string(secret)), NULL),
	       0, "insert a user");
	cdt_err_clear();
	jv rows = jv_null();
	int rc = cdt_store_exec(st, ins, args2(jv_string("u2"),
					       jv_string(secret)), &rows);
	is_int(rc, EX_DATAERR, "duplicate email: 65");
	is_int(cdt_store_last_error(st), CDT_STORE_E_UNIQUE,
	       "reported as a UNIQUE violation");
	ok(jv_get_kind(rows) == JV_KIND_INVALID, "rows invalid on failure");
	is_str(last_class(), "conflict", "error class conflict");
	ok(strstr(last_message(), cdt_store_name(st)) != NULL,
	   "message names the store: %s", last_message());
	ok(strstr(last_message(), "users.email") != NULL,
	   "message names the column");
	ok(strstr(last_message(), secret) == NULL,
	   "message never shows the value");

	rc = cdt_store_exec(st, ins, args2(jv_string("u1"),
					   jv_string("other@example.com")),
			    NULL);
	is_int(cdt_store_last_error(st), CDT_STORE_E_UNIQUE,
	       "duplicate primary key too (%d)", rc);
	rc = cdt_store_exec(st, "INSERT INTO memberships (user_id, org_id, "
			    "role, created_at) VALUES ('ghost', 'none', "
			    "'developer', 0)", jv_array(), NULL);
	is_int(rc, EX_DATAERR, "foreign key violation: 65");
	is_int(cdt_store_last_error(st), CDT_STORE_E_FOREIGN,
	       "reported as FOREIGN KEY");
	rc = cdt_store_exec(st, "UPDATE users SET disabled = 2", jv_array(),
			    NULL);
	is_int(cdt_store_last_error(st), CDT_STORE_E_CONSTRAINT,
	       "CHECK violation reported as a constraint (%d)", rc);
	rc = cdt_store_exec(st, "INSERT INTO orgs (id, name, created_at) "
			    "VALUES ('o', NULL, 0)", jv_array(), NULL);
	is_int(cdt_store_last_error(st), CDT_STORE_E_CONSTRAINT,
	       "NOT NULL violation reported as a constraint (%d)", rc);

	cdt_err_clear();
	rc = cdt_store_exec(st, "INSERT INTO users (id, email, created_at, "
			    "updated_at) VALUES (?, ?, 0, 0) "
			    "ON CONFLICT DO NOTHING",
			    args2(jv_string("u3"), jv_string(secret)), NULL);
	is_int(rc, 0, "ON CONFLICT DO NOTHING succeeds");
	is_int(cdt_store_changes(st), 0, "and changes nothing");
	is_int(cdt_store_last_error(st), CDT_STORE_OK, "no error kind");
	struct cdt_err_last e;
	cdt_err_get(&e);
	is_int(e.code, 0, "and nothing reported");

	/* A failed statement leaves the write transaction usable. */
	is_int(cdt_store_begin(st, CDT_TXN_WRITE), 0, "begin write");
	rc = cdt_store_exec(st, ins, args2(jv_string("u4"),
					   jv_string(secret)), NULL);
	is_int(rc, EX_DATAERR, "conflict inside a transaction");
	is_int(cdt_store_exec(st, ins, args2(jv_string("u4"),
					     jv_string("u4@example.com")),
			      NULL), 0, "next statement works");
	is_int(cdt_store_commit(st), 0, "commit");
	is_int(qn(st, "SELECT count(*) AS n FROM users", jv_array()), 2,
	       "two users");
	cdt_err_quiet(false);
}

static void
test_txn(struct cdt_store *st, const char *path)
{
	struct cdt_store *other = NULL;
	const char *ins = "INSERT INTO meta (key, value) VALUES (?, 'x')";
	const char *count = "SELECT count(*) AS n FROM meta";

	cdt_err_quiet(true);
	double n0 = qn(st, count, jv_array());
	is_int(cdt_store_begin(st, CDT_TXN_WRITE), 0, "begin write");
	cdt_store_exec(st, ins, args1(jv_string("a")), NULL);
	cdt_store_exec(st, ins, args1(jv_string("b")), NULL);
	is_int(qn(st, count, jv_array()), n0 + 2, "rows visible inside");
	cdt_store_rollback(st);
	is_int(qn(st, count, jv_array()), n0, "rollback undoes them");
	cdt_store_rollback(st);
	ok(1, "rollback with no transaction is harmless");

	is_int(cdt_store_open(&other, path, 0), 0, "second handle");
	if (!other)
		return;
	is_int(cdt_store_begin(st, CDT_TXN_WRITE), 0, "begin write");
	cdt_store_exec(st, ins, args1(jv_string("c")), NULL);
	is_int(qn(other, count, jv_array()), n0, "uncommitted is invisible");
	is_int(cdt_store_commit(st), 0, "commit");
	is_int(qn(other, count, jv_array()), n0 + 1,
	       "committed is visible to another handle");

	/* A read transaction is a snapshot and refuses writes. */
	is_int(cdt_store_begin(other, CDT_TXN_READ), 0, "begin read");
	is_int(qn(other, count, jv_array()), n0 + 1, "read in snapshot");
	is_int(cdt_store_exec(st, ins, args1(jv_string("d")), NULL), 0,
	       "a write outside a transaction commits by itself");
	is_int(qn(other, count, jv_array()), n0 + 1,
	       "the snapshot does not move");
	int rc = cdt_store_exec(other, ins, args1(jv_string("e")), NULL);
	is_int(rc, EX_SOFTWARE, "a write in a read transaction: 70");
	ok(strstr(last_message(), "read transaction") != NULL,
	   "saying why: %s", last_message());
	is_int(cdt_store_begin(other, CDT_TXN_WRITE), EX_SOFTWARE,
	       "nested begin: 70");
	is_int(cdt_store_commit(other), 0, "commit the read transaction");
	is_int(qn(other, count, jv_array()), n0 + 2, "now it sees the write");
	is_int(cdt_store_commit(other), EX_SOFTWARE,
	       "commit with none open: 70");

	/* Busy: a short timeout, and the write lock taken elsewhere. */
	is_int(cdt_store_begin(st, CDT_TXN_WRITE), 0, "holder takes the lock");
	cdt_store_set_busy_timeout(other, 200);
	double t0 = now_ms();
	rc = cdt_store_begin(other, CDT_TXN_WRITE);
	double waited = now_ms() - t0;
	is_int(rc, EX_TEMPFAIL, "begin write while locked: 75");
	is_int(cdt_store_last_error(other), CDT_STORE_E_BUSY, "kind busy");
	ok(strstr(last_message(), "busy") &&
	   strstr(last_message(), path), "message: %s", last_message());
	ok(waited >= 150, "it waited for the timeout (%.0f ms)", waited);
	rc = cdt_store_exec(other, ins, args1(jv_string("f")), NULL);
	is_int(rc, EX_TEMPFAIL, "a lone write while locked: 75");
	is_int(qn(other, count, jv_array()), n0 + 2,
	       "reads go on while another writes");
	is_int(cdt_store_commit(st), 0, "holder commits");
	is_int(cdt_store_begin(other, CDT_TXN_WRITE), 0,
	       "then the lock is free");
	cdt_store_exec(other, ins, args1(jv_string("g")), NULL);
	/* Closing with a transaction open rolls it back. */
	cdt_store_close(other);
	is_int(qn(st, count, jv_array()), n0 + 2,
	       "close rolled back the open transaction");

	/* Misuse */
	rc = cdt_store_exec(st, "SELECT ?", jv_array(), NULL);
	is_int(rc, EX_SOFTWARE, "missing parameter: 70");
	rc = cdt_store_exec(st, "SELECT 1", args1(jv_number(1)), NULL);
	is_int(rc, EX_SOFTWARE, "extra parameter: 70");
	rc = cdt_store_exec(st, "SELECT 1; SELECT 2", jv_array(), NULL);
	is_int(rc, EX_SOFTWARE, "two statements: 70");
	rc = cdt_store_exec(st, "SELEKT 1", jv_array(), NULL);
	is_int(rc, EX_SOFTWARE, "syntax error: 70");
	is_int(cdt_store_last_error(st), CDT_STORE_E_INTERNAL, "kind internal");
	rc = cdt_store_exec(st, "SELECT ?", jv_object(), NULL);
	is_int(rc, EX_SOFTWARE, "params not an array: 70");
	rc = cdt_store_exec(st, "SELECT 1;  ", jv_array(), NULL);
	is_int(rc, 0, "a trailing semicolon is fine");
	cdt_err_quiet(false);
}

static void
test_open_errors(void)
{
	char *dir = new_dir("errors");
	char *db = join(dir, "cdt.db");
	char *junk = join(dir, "junk.db");
	char *none = join(dir, "none.db");
	char *deep = join(dir, "no/such/dir/cdt.db");
	struct cdt_store *st = NULL;
	char want[512];
	int rc;

	cdt_err_quiet(true);
	/* newer schema */
	rc = cdt_store_open(&st, db, 0);
	is_int(rc, 0, "make a store");
	if (st) {
		is_int(cdt_store_exec(st, "PRAGMA user_version = 999",
				      jv_array(), NULL), 0,
		       "set its version to 999 by hand");
		cdt_store_close(st);
		st = NULL;
	}
	rc = cdt_store_open(&st, db, 0);
	is_int(rc, EX_CONFIG, "newer schema: 78");
	ok(st == NULL, "no handle");
	snprintf(want, sizeof(want), "store '%s' has schema version 999, "
		 "newer than this cdt (%d): upgrade cdt", db,
		 cdt_store_schema_latest());
	is_str(last_message(), want, "newer schema message");
	is_str(last_class(), "config", "class config");
	rc = cdt_store_open(&st, db, CDT_STORE_NOMIGRATE);
	is_int(rc, 0, "NOMIGRATE opens it anyway");
	if (st)
		is_int(cdt_store_version(st), 999, "and reports version 999");
	cdt_store_close(st);
	st = NULL;

	/* missing */
	rc = cdt_store_open(&st, none, CDT_STORE_NOCREATE);
	is_int(rc, EX_NOINPUT, "NOCREATE on a missing store: 66");
	is_int(mode_of(none), -1, "and nothing was created");
	rc = cdt_store_open(&st, deep, 0);
	is_int(rc, EX_CANTCREAT, "in a missing directory: 73");
	ok(strstr(last_message(), deep) != NULL, "naming it: %s",
	   last_message());

	/* not a database */
	int fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char garbage[4096];
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 7 + 3);
	ok(fd >= 0 && write(fd, garbage, sizeof(garbage)) ==
	   (ssize_t)sizeof(garbage), "write a junk file");
	if (fd >= 0)
		close(fd);
	rc = cdt_store_open(&st, junk, 0);
	is_int(rc, EX_SOFTWARE, "not a database: 70");
	ok(strstr(last_message(), "corrupt") &&
	   strstr(last_message(), junk), "message: %s", last_message());
	ok(st == NULL, "no handle");

	/* backends */
	rc = cdt_store_open(&st, "mysql://alice:s3cret@db.example:3306/"
			    "cdt?password=t0ps3cret", 0);
	is_int(rc, EX_CONFIG, "unknown backend: 78");
	ok(strstr(last_message(), "mysql://alice@db.example:3306/cdt") !=
	   NULL, "message names the URL: %s", last_message());
	ok(!strstr(last_message(), "s3cret"),
	   "but not the passwords");
	/* Nothing listens on port 1: PostgreSQL unreachable is 69. */
	rc = cdt_store_open(&st, "postgres://alice:s3cret@127.0.0.1:1/"
			    "cdt?sslmode=disable&password=t0ps3cret", 0);
	is_int(rc, EX_UNAVAILABLE, "postgres, no server: 69");
	ok(strstr(last_message(), "postgres://alice@127.0.0.1:1/cdt") !=
	   NULL, "message names the URL: %s", last_message());
	ok(!strstr(last_message(), "s3cret"),
	   "but not the passwords");
	rc = cdt_store_open(&st, "", 0);
	is_int(rc, EX_CONFIG, "empty path: 78");
	char *odd = new_dir("errors/x:");
	char *odd_db = join(odd, "/cdt.db");
	rc = cdt_store_open(&st, odd_db, 0);
	is_int(rc, 0, "a path with '://' in it is still a path");
	if (st)
		is_str(cdt_store_backend_name(st), "sqlite", "on SQLite");
	cdt_store_close(st);
	st = NULL;
	free(odd);
	free(odd_db);
	cdt_err_quiet(false);
	free(dir);
	free(db);
	free(junk);
	free(none);
	free(deep);
}

/* Children wait on the pipe until the parent closes its end. */
static int
fork_children(int n, int (*body)(const char *, int), const char *path,
	      pid_t *pids)
{
	int p[2];

	if (pipe(p) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			char c;
			close(p[1]);
			while (read(p[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(body(path, i));
		}
		if (pids[i] < 0)
			diag("fork: %s", strerror(errno));
	}
	close(p[0]);
	/* Let them all reach the barrier before releasing them. */
	usleep(200 * 1000);
	close(p[1]);
	return 0;
}

/* How many exited 0; the others' codes are shown, busy ones counted. */
static int
reap(int n, pid_t *pids, int *busy)
{
	int good = 0;

	*busy = 0;
	for (int i = 0; i < n; i++) {
		int status = 0;
		if (pids[i] <= 0 || waitpid(pids[i], &status, 0) < 0)
			continue;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			good++;
			continue;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
			(*busy)++;
		diag("child %d: %s %d", i,
		     WIFEXITED(status) ? "exit" : "signal",
		     WIFEXITED(status) ? WEXITSTATUS(status)
				       : WTERMSIG(status));
	}
	return good;
}

static int
child_insert(const char *path, int i)
{
	struct cdt_store *st = NULL;
	int rc = cdt_store_open(&st, path, 0);

	if (!rc)
		rc = cdt_store_begin(st, CDT_TXN_WRITE);
	if (!rc) {
		jv p = args2(jv_number(i), jv_string("race"));
		rc = cdt_store_exec(st, "INSERT INTO audit (ts, event) "
				    "VALUES (?, ?)", p, NULL);
	}
	if (!rc)
		rc = cdt_store_commit(st);
	cdt_store_close(st);
	return rc;
}

static int
child_increment(const char *path, int i)
{
	struct cdt_store *st = NULL;
	int rc = cdt_store_open(&st, path, 0);

	for (int k = 0; !rc && k < 20; k++) {
		jv rows = jv_invalid();
		rc = cdt_store_begin(st, CDT_TXN_WRITE);
		if (!rc)
			rc = cdt_store_exec(st, "SELECT n FROM counter "
					    "WHERE id = 1", jv_array(), &rows);
		if (!rc) {
			jv n = jv_object_get(jv_array_get(rows, 0),
					     jv_string("n"));
			double v = jv_number_value(n);
			jv_free(n);
			rc = cdt_store_exec(st, "UPDATE counter SET n = ? "
					    "WHERE id = 1",
					    args1(jv_number(v + 1)), NULL);
		} else {
			jv_free(rows);
		}
		if (!rc)
			rc = cdt_store_commit(st);
		else
			cdt_store_rollback(st);
	}
	cdt_store_close(st);
	return rc;
}

static void
test_concurrency(void)
{
	char *dir = new_dir("race");
	char *db = join(dir, "cdt.db");
	pid_t pids[64];
	struct cdt_store *st = NULL;
	int busy = 0;

	/* 32 processes open the same empty store at once. */
	double t0 = now_ms();
	fork_children(32, child_insert, db, pids);
	int good = reap(32, pids, &busy);
	is_int(good, 32, "32 racing first opens all succeed (%.0f ms)",
	       now_ms() - t0);
	is_int(busy, 0, "none was busy");
	if (cdt_store_open(&st, db, 0) == 0) {
		is_int(qn(st, "SELECT count(*) AS n FROM audit WHERE "
			  "event = 'race'", jv_array()), 32,
		       "32 rows inserted");
		is_int(qn(st, "SELECT count(DISTINCT ts) AS n FROM audit",
			  jv_array()), 32, "one from each child");
		is_int(qn(st, "SELECT count(*) AS n FROM schema_migrations",
			  jv_array()), cdt_store_schema_latest(),
		       "migrations ran exactly once");
		is_json(q(st, "PRAGMA integrity_check", jv_array()),
			"[{\"integrity_check\":\"ok\"}]",
			"integrity_check ok after the race");
		is_int(cdt_store_exec(st, "CREATE TABLE counter (id INTEGER "
				      "PRIMARY KEY, n INTEGER NOT NULL)",
				      jv_array(), NULL), 0, "counter table");
		is_int(cdt_store_exec(st, "INSERT INTO counter VALUES (1, 0)",
				      jv_array(), NULL), 0, "counter row");
		cdt_store_close(st);
		st = NULL;
	}

	/* 64 processes, 20 read-modify-write increments each. */
	t0 = now_ms();
	fork_children(64, child_increment, db, pids);
	good = reap(64, pids, &busy);
	is_int(good, 64, "64 incrementing writers all succeed (%.0f ms)",
	       now_ms() - t0);
	is_int(busy, 0, "zero busy errors");
	if (cdt_store_open(&st, db, 0) == 0) {
		is_int(qn(st, "SELECT n FROM counter WHERE id = 1",
			  jv_array()), 1280, "counter is exactly 64 * 20");
		is_json(q(st, "PRAGMA integrity_check", jv_array()),
			"[{\"integrity_check\":\"ok\"}]",
			"integrity_check ok after the writers");
		cdt_store_close(st);
	}
	free(dir);
	free(db);
}

/* The PostgreSQL dialect: only SQLite's own spellings change. */
static void
test_dialect(void)
{
	char *s = cdt_store_pg_dialect("CREATE TABLE audit (\n"
				       "  id INTEGER PRIMARY KEY,\n"
				       "  ts BIGINT NOT NULL\n);");
	is_str(s, "CREATE TABLE audit (\n  id BIGINT GENERATED BY DEFAULT "
	       "AS IDENTITY PRIMARY KEY,\n  ts BIGINT NOT NULL\n);",
	       "INTEGER PRIMARY KEY becomes an identity column");
	free(s);
	s = cdt_store_pg_dialect("INSERT OR IGNORE INTO t VALUES (1)");
	is_str(s, "INSERT INTO t VALUES (1)", "INSERT OR IGNORE");
	free(s);
	/* Every shipped migration: nothing SQLite-only left. */
	for (int i = 0; i < cdt_schema_count; i++) {
		s = cdt_store_pg_dialect(cdt_schema_migrations[i].sql);
		ok(!strstr(s, "INTEGER PRIMARY KEY") &&
		   !strstr(s, "INSERT OR") && !strstr(s, "AUTOINCREMENT") &&
		   !strstr(s, "PRAGMA") && !strstr(s, "strftime") &&
		   !strstr(s, "WITHOUT ROWID"),
		   "migration %d (%s): portable after the dialect", i + 1,
		   cdt_schema_migrations[i].name);
		free(s);
	}
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct cdt_store *st = NULL;

	cdt_err_setname("t-store");
	snprintf(root, sizeof(root), "%s/t-store-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_create();
	char *dir = new_dir("main");
	char *db = join(dir, "cdt.db");
	if (cdt_store_open(&st, db, 0) == 0) {
		test_exec(st);
		test_conflicts(st);
		test_txn(st, db);
		cdt_store_close(st);
	} else {
		ok(0, "open %s", db);
	}
	test_open_errors();
	test_dialect();
	test_concurrency();
	free(dir);
	free(db);
	rm_rf(root);
	return done_testing();
}
