#include "compat.h"
#include <dlfcn.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "log.h"
#include "store.h"
#include "store_backend.h"

/*
 * The PostgreSQL backend (postgres:// and postgresql:// URLs).
 *
 * libpq is loaded with dlopen on the first open, like libcurl (see
 * curldl.h): linking it would put libpq, GSSAPI, LDAP and TLS into the
 * start-up of every tool, most of which run on SQLite.
 *
 * Transactions keep SQLite's BEGIN IMMEDIATE discipline, so that every
 * read-modify-write in lib/ written for it stays correct across machines:
 * a write transaction takes one transaction-level advisory lock first
 * (pg_advisory_xact_lock on WRITE_LOCK), so writers run one at a time,
 * and waits for it at most the busy timeout (lock_timeout; then 75).
 * Readers never wait: a read transaction is REPEATABLE READ READ ONLY,
 * one snapshot as in SQLite.  A writing statement outside a transaction
 * runs in its own write transaction.  The org set with cdt_store_set_org
 * goes into every transaction with SET LOCAL (set_config(.., true)), for
 * the row level security policies the migration installs; a reading
 * statement outside a transaction is wrapped in a transaction for it.
 *
 * The SQL dialect: '?' placeholders become $1, $2 ... here, and the
 * migrations' few SQLite spellings are rewritten by dialect[] below.
 * Parameters go as text of unknown type, so that the server infers each
 * one's type from where it stands, as SQLite's loose typing would; true
 * and false go as '1' and '0', which read as integers and as booleans.
 * Results come back as the SQLite backend gives them: integer, float
 * and numeric columns as numbers, booleans as 1 and 0, the rest as
 * strings.
 */

#define WRITE_LOCK 0x63647473746f7265LL	/* "cdtstore" */

struct pq_fns {
	PGconn *(*connectdb_params)(const char *const *, const char *const *,
				    int);
	ConnStatusType (*status)(const PGconn *);
	char *(*error_message)(const PGconn *);
	void (*finish)(PGconn *);
	PGresult *(*exec)(PGconn *, const char *);
	PGresult *(*exec_params)(PGconn *, const char *, int, const Oid *,
				 const char *const *, const int *,
				 const int *, int);
	ExecStatusType (*result_status)(const PGresult *);
	char *(*result_error_field)(const PGresult *, int);
	void (*clear)(PGresult *);
	int (*ntuples)(const PGresult *);
	int (*nfields)(const PGresult *);
	char *(*fname)(const PGresult *, int);
	Oid (*ftype)(const PGresult *, int);
	char *(*getvalue)(const PGresult *, int, int);
	int (*getlength)(const PGresult *, int, int);
	int (*getisnull)(const PGresult *, int, int);
	char *(*cmd_tuples)(PGresult *);
	PGTransactionStatusType (*transaction_status)(const PGconn *);
	char *(*escape_literal)(PGconn *, const char *, size_t);
	char *(*escape_identifier)(PGconn *, const char *, size_t);
	void (*freemem)(void *);
	PQnoticeProcessor (*set_notice_processor)(PGconn *,
						  PQnoticeProcessor, void *);
	int (*server_version)(const PGconn *);
	char *(*user)(const PGconn *);
	char *(*db)(const PGconn *);
};

static struct pq_fns pq;

static const struct {
	const char *name;
	size_t off;
} syms[] = {
#define S(f, n) { n, offsetof(struct pq_fns, f) }
	S(connectdb_params, "PQconnectdbParams"),
	S(status, "PQstatus"),
	S(error_message, "PQerrorMessage"),
	S(finish, "PQfinish"),
	S(exec, "PQexec"),
	S(exec_params, "PQexecParams"),
	S(result_status, "PQresultStatus"),
	S(result_error_field, "PQresultErrorField"),
	S(clear, "PQclear"),
	S(ntuples, "PQntuples"),
	S(nfields, "PQnfields"),
	S(fname, "PQfname"),
	S(ftype, "PQftype"),
	S(getvalue, "PQgetvalue"),
	S(getlength, "PQgetlength"),
	S(getisnull, "PQgetisnull"),
	S(cmd_tuples, "PQcmdTuples"),
	S(transaction_status, "PQtransactionStatus"),
	S(escape_literal, "PQescapeLiteral"),
	S(escape_identifier, "PQescapeIdentifier"),
	S(freemem, "PQfreemem"),
	S(set_notice_processor, "PQsetNoticeProcessor"),
	S(server_version, "PQserverVersion"),
	S(user, "PQuser"),
	S(db, "PQdb"),
#undef S
};

static int
pq_load(struct cdt_store *st)
{
	static void *lib;

	if (lib)
		return 0;
	/* The soname of Debian 12's libpq5. */
	void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return cdt_store_fail(st, CDT_STORE_E_CONFIG, EX_UNAVAILABLE,
				      "cannot open store '%s': cannot load "
				      "libpq: %s (apt-get install libpq5)",
				      st->name, dlerror());
	for (size_t i = 0; i < CDT_ARRAY_SIZE(syms); i++) {
		void *p = dlsym(h, syms[i].name);
		if (!p) {
			dlclose(h);
			return cdt_store_fail(st, CDT_STORE_E_CONFIG,
					      EX_UNAVAILABLE, "cannot open "
					      "store '%s': libpq.so.5 lacks %s",
					      st->name, syms[i].name);
		}
		/* POSIX lets a data pointer hold a function's address. */
		memcpy((char *)&pq + syms[i].off, &p, sizeof(p));
	}
	lib = h;
	return 0;
}

struct pg {
	PGconn *conn;
	char *begin_write;	/* BEGIN ...; lock; SET LOCAL cdt.org */
	char *begin_read;
	char *org;
	char *password;		/* from store.password_file, wiped */
	bool wrapped;		/* the open transaction is exec's own */
};

static struct pg *
pg_of(struct cdt_store *st)
{
	return st->impl;
}

/* ---- the dialect: every difference from SQLite's SQL is here ---- */

/*
 * Rewrites of the migrations' SQL (lib/schema.c), applied in order to
 * each migration.  Only what SQLite spells its own way: the schema
 * otherwise is written in the common subset (BIGINT, DOUBLE PRECISION,
 * TEXT, ON CONFLICT, RETURNING).
 */
static const struct {
	const char *from, *to;
} dialect[] = {
	/* SQLite's rowid alias: an auto-assigned integer key. */
	{ "INTEGER PRIMARY KEY",
	  "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" },
	{ "INSERT OR IGNORE INTO", "INSERT INTO" },
	{ "BEGIN IMMEDIATE", "BEGIN" },
	{ "AUTOINCREMENT", "" },
};

char *
cdt_store_pg_dialect(const char *sql)
{
	struct cdt_buf b = CDT_BUF_INIT;
	const char *p = sql;

	while (*p) {
		size_t i;
		for (i = 0; i < CDT_ARRAY_SIZE(dialect); i++) {
			size_t n = strlen(dialect[i].from);
			if (!strncmp(p, dialect[i].from, n)) {
				cdt_buf_addstr(&b, dialect[i].to);
				p += n;
				break;
			}
		}
		if (i == CDT_ARRAY_SIZE(dialect))
			cdt_buf_addch(&b, *p++);
	}
	return cdt_buf_detach(&b, NULL);
}

/*
 * '?' placeholders to $1, $2 ... outside quoted strings, names and
 * comments; *n receives their count.
 */
static char *
placeholders(const char *sql, int *n)
{
	struct cdt_buf b = CDT_BUF_INIT;
	char quote = 0;

	*n = 0;
	for (const char *p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
			cdt_buf_addch(&b, *p);
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
			cdt_buf_addch(&b, *p);
		} else if (*p == '-' && p[1] == '-') {
			size_t l = strcspn(p, "\n");
			cdt_buf_add(&b, p, l);
			p += l - 1;
		} else if (*p == '?') {
			/*
			 * Alone before IS [NOT] NULL a parameter has no type
			 * to infer (42P18): any type's text is null alike.
			 */
			const char *q = p + 1 + strspn(p + 1, " \t\n");
			cdt_buf_addf(&b, "$%d%s", ++*n,
				     strncasecmp(q, "IS NULL", 7) &&
				     strncasecmp(q, "IS NOT NULL", 11) ? ""
								       : "::text");
		} else {
			cdt_buf_addch(&b, *p);
		}
	}
	return cdt_buf_detach(&b, NULL);
}

/* Does sql write?  Its first word, and for WITH any writing word. */
static bool
writes(const char *sql)
{
	static const char *const rd[] = { "SELECT", "VALUES", "SHOW",
					  "TABLE", "EXPLAIN", "WITH" };
	const char *p = sql + strspn(sql, " \t\r\n(");
	size_t n = strcspn(p, " \t\r\n(");

	for (size_t i = 0; i < CDT_ARRAY_SIZE(rd); i++) {
		if (n != strlen(rd[i]) || strncasecmp(p, rd[i], n))
			continue;
		if (i < CDT_ARRAY_SIZE(rd) - 1)
			return false;
		return strstr(p, "INSERT ") || strstr(p, "UPDATE ") ||
		       strstr(p, "DELETE ");
	}
	return true;
}

/* ---- errors ---- */

/* Blank out every copy of secret in msg (libpq may echo URL parts). */
static void
redact(char *msg, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	char *p;

	if (n < 1)
		return;
	while ((p = strstr(msg, secret)))
		memset(p, '*', n);
}

/* The password a URL carries (user:PASSWORD@ or ?password=), or NULL. */
static char *
url_password(const char *url)
{
	struct cdt_url_auth ua;
	if (!cdt_store_url_auth(url, &ua))
		return NULL;
	if (ua.plen > 0)
		return cdt_xstrndup(ua.pw, ua.plen);
	const char *q = strstr(url, "password=");
	if (q && (q[-1] == '?' || q[-1] == '&'))
		return cdt_xstrndup(q + 9, strcspn(q + 9, "&#"));
	return NULL;
}

/*
 * Report a failed statement by its SQLSTATE.  The server's primary
 * message names tables, columns and constraints; a data exception's may
 * quote the value, so for those only the SQLSTATE is said.  DETAIL
 * (which quotes key values) is never used.
 */
static int
pg_fail_res(struct cdt_store *st, const PGresult *res, const char *what)
{
	struct pg *pg = pg_of(st);
	const char *state = res ? pq.result_error_field(res,
							PG_DIAG_SQLSTATE)
				: NULL;
	const char *msg = res ? pq.result_error_field(res,
						      PG_DIAG_MESSAGE_PRIMARY)
			      : NULL;
	char text[512];

	if (!state)
		state = "";
	if (!msg) {
		snprintf(text, sizeof(text), "%s", pq.error_message(pg->conn));
		text[strcspn(text, "\n")] = '\0';
	} else {
		snprintf(text, sizeof(text), "%s", msg);
	}
	if (!strncmp(state, "22", 2))
		snprintf(text, sizeof(text), "a value does not fit its column "
			 "(SQLSTATE %s)", state);
	if (!strcmp(state, "23505"))
		return cdt_store_fail(st, CDT_STORE_E_UNIQUE, EX_DATAERR,
				      "%s store '%s': %s", what, st->name,
				      text);
	if (!strcmp(state, "23503"))
		return cdt_store_fail(st, CDT_STORE_E_FOREIGN, EX_DATAERR,
				      "%s store '%s': %s", what, st->name,
				      text);
	if (!strncmp(state, "23", 2) || !strncmp(state, "22", 2))
		return cdt_store_fail(st, CDT_STORE_E_CONSTRAINT, EX_DATAERR,
				      "%s store '%s': %s", what, st->name,
				      text);
	if (!strcmp(state, "55P03") || !strcmp(state, "40001") ||
	    !strcmp(state, "40P01") || !strcmp(state, "57014"))
		return cdt_store_fail(st, CDT_STORE_E_BUSY, EX_TEMPFAIL,
				      "%s store '%s': it is busy (locked by "
				      "another process)", what, st->name);
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) ||
	    (!*state && pq.status(pg->conn) != CONNECTION_OK))
		return cdt_store_fail(st, CDT_STORE_E_IO, EX_UNAVAILABLE,
				      "%s store '%s': the server went away: "
				      "%s", what, st->name, text);
	if (!strcmp(state, "42501"))
		return cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_NOPERM,
				      "%s store '%s': %s", what, st->name,
				      text);
	if (!strcmp(state, "53100") || !strncmp(state, "58", 2))
		return cdt_store_fail(st, CDT_STORE_E_IO, EX_IOERR,
				      "%s store '%s': %s", what, st->name,
				      text);
	if (!strcmp(state, "XX001") || !strcmp(state, "XX002"))
		return cdt_store_fail(st, CDT_STORE_E_CORRUPT, EX_SOFTWARE,
				      "store '%s' is corrupt: %s", st->name,
				      text);
	return cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
			      "%s store '%s': %s%s%s%s", what, st->name, text,
			      *state ? " (SQLSTATE " : "", state,
			      *state ? ")" : "");
}

/* Undo what is open on the connection, whoever opened it. */
static void
pg_abort(struct cdt_store *st)
{
	struct pg *pg = pg_of(st);

	if (!pg || !pg->conn ||
	    pq.transaction_status(pg->conn) == PQTRANS_IDLE ||
	    pq.transaction_status(pg->conn) == PQTRANS_UNKNOWN)
		return;
	PGresult *r = pq.exec(pg->conn, "ROLLBACK");
	if (pq.result_status(r) != PGRES_COMMAND_OK)
		cdt_debug("store '%s': rollback failed", st->name);
	pq.clear(r);
}

/* Run parameterless SQL (several statements allowed), no rows kept. */
static int
run(struct cdt_store *st, const char *sql, const char *what)
{
	PGresult *r = pq.exec(pg_of(st)->conn, sql);
	ExecStatusType s = pq.result_status(r);
	int rc = 0;

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		rc = pg_fail_res(st, r, what);
	pq.clear(r);
	return rc;
}

/* ---- open, close ---- */

static void
notice(void *arg, const char *message)
{
	cdt_debug("store: %.*s", (int)strcspn(message, "\n"), message);
}

/* The begin statements, with the org and the busy timeout in them. */
static void
make_begins(struct cdt_store *st)
{
	struct pg *pg = pg_of(st);
	struct cdt_buf w = CDT_BUF_INIT, r = CDT_BUF_INIT, org = CDT_BUF_INIT;

	if (pg->org) {
		char *lit = pq.escape_literal(pg->conn, pg->org,
					      strlen(pg->org));
		if (!lit)
			cdt_oom();
		cdt_buf_addf(&org, "; SELECT set_config('cdt.org', %s, true)",
			     lit);
		pq.freemem(lit);
	}
	cdt_buf_addf(&w, "BEGIN; SET LOCAL lock_timeout = %d; "
		     "SELECT pg_advisory_xact_lock(%lld)%s",
		     st->busy_timeout_ms > 0 ? st->busy_timeout_ms : 1,
		     (long long)WRITE_LOCK, org.len ? org.buf : "");
	cdt_buf_addf(&r, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY%s",
		     org.len ? org.buf : "");
	free(pg->begin_write);
	free(pg->begin_read);
	pg->begin_write = cdt_buf_detach(&w, NULL);
	pg->begin_read = cdt_buf_detach(&r, NULL);
	cdt_buf_release(&org);
}

static char *password_file;

void
cdt_store_set_password_file(const char *path)
{
	free(password_file);
	password_file = path ? cdt_xstrdup(path) : NULL;
}

static int
read_password(struct cdt_store *st, struct pg *pg)
{
	if (!password_file)
		return 0;
	FILE *f = fopen(password_file, "re");
	if (!f)
		return cdt_store_fail(st, CDT_STORE_E_CONFIG, EX_CONFIG,
				      "cannot open store '%s': cannot read "
				      "store.password_file '%s': %s", st->name,
				      password_file, strerror(errno));
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077)) {
		fclose(f);
		return cdt_store_fail(st, CDT_STORE_E_CONFIG, EX_CONFIG,
				      "cannot open store '%s': store."
				      "password_file '%s' is readable by "
				      "others (chmod 600 it)", st->name,
				      password_file);
	}
	char line[1024];
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	pg->password = cdt_xstrdup(line);
	explicit_bzero(line, sizeof(line));
	return 0;
}

static int
pg_open(struct cdt_store *st, const char *url, enum cdt_store_flags flags)
{
	struct pg *pg = cdt_xcalloc(1, sizeof(*pg));
	int rc;

	st->impl = pg;
	rc = pq_load(st);
	if (!rc)
		rc = read_password(st, pg);
	if (rc)
		return rc;
	/*
	 * Later keywords override the URL's: the encoding and the password
	 * file's password; earlier ones are defaults it may override.
	 */
	const char *kw[] = { "connect_timeout", "application_name", "dbname",
			     "client_encoding", pg->password ? "password"
							     : NULL, NULL };
	const char *val[] = { "10", "cdt", url, "UTF8", pg->password, NULL };
	pg->conn = pq.connectdb_params(kw, val, 1);
	if (!pg->conn)
		cdt_oom();
	pq.set_notice_processor(pg->conn, notice, NULL);
	if (pq.status(pg->conn) != CONNECTION_OK) {
		char msg[512];
		char *pw = url_password(url);
		snprintf(msg, sizeof(msg), "%s", pq.error_message(pg->conn));
		msg[strcspn(msg, "\n")] = '\0';
		redact(msg, pw);
		redact(msg, pg->password);
		if (pw)
			explicit_bzero(pw, strlen(pw));
		free(pw);
		int code = EX_UNAVAILABLE;
		if (strstr(msg, "authentication failed") ||
		    strstr(msg, "no password supplied") ||
		    strstr(msg, "permission denied"))
			code = EX_NOPERM;
		else if (strstr(msg, "does not exist"))
			code = EX_NOINPUT;
		else if (strstr(msg, "invalid") || strstr(msg, "missing"))
			code = EX_CONFIG;
		return cdt_store_fail(st, code == EX_NOINPUT
					  ? CDT_STORE_E_MISSING
					  : CDT_STORE_E_CONFIG, code,
				      "cannot open store '%s': %s", st->name,
				      msg);
	}
	make_begins(st);
	if (flags & CDT_STORE_NOCREATE) {
		int v = 0;
		rc = st->ops->version_get(st, &v);
		if (!rc && v == 0)
			return cdt_store_fail(st, CDT_STORE_E_MISSING,
					      EX_NOINPUT, "cannot open store "
					      "'%s': it has no schema yet",
					      st->name);
	}
	return rc;
}

static void
pg_close(struct cdt_store *st)
{
	struct pg *pg = pg_of(st);

	if (!pg)
		return;
	if (pg->conn) {
		pg_abort(st);
		pq.finish(pg->conn);
	}
	if (pg->password) {
		explicit_bzero(pg->password, strlen(pg->password));
		free(pg->password);
	}
	free(pg->begin_write);
	free(pg->begin_read);
	free(pg->org);
	free(pg);
	st->impl = NULL;
}

static void
pg_set_busy_timeout(struct cdt_store *st, int ms)
{
	if (pg_of(st) && pg_of(st)->conn)
		make_begins(st);
}

static void
pg_set_org(struct cdt_store *st, const char *org)
{
	struct pg *pg = pg_of(st);

	free(pg->org);
	pg->org = org && *org ? cdt_xstrdup(org) : NULL;
	make_begins(st);
	/* Inside a transaction: from its next statement on. */
	if (st->txn != CDT_STORE_TXN_NONE) {
		char *lit = pq.escape_literal(pg->conn, org ? org : "",
					      strlen(org ? org : ""));
		struct cdt_buf q = CDT_BUF_INIT;
		if (!lit)
			cdt_oom();
		cdt_buf_addf(&q, "SELECT set_config('cdt.org', %s, true)", lit);
		pq.freemem(lit);
		if (run(st, q.buf, "cannot set the org on"))
			cdt_debug("store '%s': cannot set the org", st->name);
		cdt_buf_release(&q);
	}
}

/* ---- transactions ---- */

static int
pg_begin(struct cdt_store *st, enum cdt_store_txn txn)
{
	struct pg *pg = pg_of(st);
	int rc = run(st, txn == CDT_TXN_WRITE ? pg->begin_write
					      : pg->begin_read,
		     "cannot begin a transaction on");

	if (rc)
		pg_abort(st);
	return rc;
}

static int
pg_commit(struct cdt_store *st)
{
	int rc = run(st, "COMMIT", "cannot commit to");

	if (rc)
		pg_abort(st);
	return rc;
}

static void
pg_rollback(struct cdt_store *st)
{
	pg_abort(st);
}

/* ---- statements ---- */

/* A parameter as text: NULL for null; *tmp owns what was made. */
static const char *
param_text(jv v, char **tmp)
{
	char num[40];

	*tmp = NULL;
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		return NULL;
	case JV_KIND_TRUE:
		return "1";
	case JV_KIND_FALSE:
		return "0";
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);
		if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
		    d == (double)(int64_t)d)
			snprintf(num, sizeof(num), "%" PRId64, (int64_t)d);
		else
			snprintf(num, sizeof(num), "%.17g", d);
		*tmp = cdt_xstrdup(num);
		return *tmp;
	}
	case JV_KIND_STRING:
		return jv_string_value(v);
	default: {
		jv text = jv_dump_string(jv_copy(v), 0);
		*tmp = cdt_xstrdup(jv_string_value(text));
		jv_free(text);
		return *tmp;
	}
	}
}

static jv
column_value(const PGresult *r, int row, int col)
{
	if (pq.getisnull(r, row, col))
		return jv_null();
	const char *s = pq.getvalue(r, row, col);
	switch (pq.ftype(r, col)) {
	case 20: case 21: case 23: case 26:	/* int8 int2 int4 oid */
	case 700: case 701: case 1700:		/* float4 float8 numeric */
		return jv_number(strtod(s, NULL));
	case 16:				/* bool */
		return jv_number(*s == 't' ? 1 : 0);
	default:
		return jv_string_sized(s, pq.getlength(r, row, col));
	}
}

static jv
result_rows(const PGresult *r)
{
	int nr = pq.ntuples(r), nf = pq.nfields(r);
	jv rows = jv_array();

	for (int i = 0; i < nr; i++) {
		jv row = jv_object();
		for (int j = 0; j < nf; j++)
			row = jv_object_set(row, jv_string(pq.fname(r, j)),
					    column_value(r, i, j));
		rows = jv_array_append(rows, row);
	}
	return rows;
}

static int
pg_exec(struct cdt_store *st, const char *sql, jv params, jv *rows)
{
	struct pg *pg = pg_of(st);
	char *text = NULL;
	const char **vals = NULL;
	char **tmps = NULL;
	PGresult *r = NULL;
	bool wrapped = false;
	int n = 0, np = 0, rc = 0;

	if (rows)
		*rows = jv_invalid();
	if (jv_get_kind(params) != JV_KIND_ARRAY) {
		rc = cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				    "cannot run statement on store '%s': "
				    "parameters are not an array", st->name);
		goto out;
	}
	text = placeholders(sql, &n);
	np = jv_array_length(jv_copy(params));
	if (n != np) {
		rc = cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				    "cannot run statement on store '%s': "
				    "it takes %d parameters, not %d",
				    st->name, n, np);
		goto out;
	}
	bool w = writes(sql);
	if (w && st->txn == CDT_STORE_TXN_READ) {
		rc = cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				    "cannot write store '%s' in a read "
				    "transaction", st->name);
		goto out;
	}
	vals = cdt_xcalloc((size_t)np + 1, sizeof(*vals));
	tmps = cdt_xcalloc((size_t)np + 1, sizeof(*tmps));
	for (int i = 0; i < np; i++) {
		jv v = jv_array_get(jv_copy(params), i);
		if (!jv_is_valid(v)) {
			jv_free(v);
			rc = cdt_store_fail(st, CDT_STORE_E_INTERNAL,
					    EX_SOFTWARE, "cannot run statement "
					    "on store '%s': parameter %d is "
					    "not a JSON value", st->name,
					    i + 1);
			goto out;
		}
		/* params holds v's bytes until the end. */
		vals[i] = param_text(v, &tmps[i]);
		jv_free(v);
	}
	if (st->txn == CDT_STORE_TXN_NONE && (w || pg->org)) {
		rc = pg_begin(st, w ? CDT_TXN_WRITE : CDT_TXN_READ);
		if (rc)
			goto out;
		wrapped = true;
	}
	r = pq.exec_params(pg->conn, text, np, NULL, vals, NULL, NULL, 0);
	ExecStatusType s = pq.result_status(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		rc = pg_fail_res(st, r, w ? "cannot write" : "cannot read");
		/*
		 * PostgreSQL refuses everything after an error until the
		 * rollback: end the transaction now, as SQLite does on
		 * some errors, and say so (store_backend.h).
		 */
		pg_abort(st);
		st->txn = CDT_STORE_TXN_NONE;
		wrapped = false;
		goto out;
	}
	if (w)
		st->changes = (int)strtol(pq.cmd_tuples(r), NULL, 10);
	if (rows)
		*rows = result_rows(r);
	if (wrapped) {
		wrapped = false;
		rc = pg_commit(st);
		if (rc && rows) {
			jv_free(*rows);
			*rows = jv_invalid();
		}
	}
out:
	if (wrapped)
		pg_abort(st);
	if (r)
		pq.clear(r);
	for (int i = 0; tmps && i < np; i++)
		free(tmps[i]);
	free(tmps);
	free(vals);
	free(text);
	jv_free(params);
	return rc;
}

static int
pg_login_org(struct cdt_store *st, const char *kind, const char *value,
	     const char *org_name, char *out, size_t outlen)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, "SELECT cdt_login_org(?, ?, ?) AS org",
				JV_ARRAY(jv_string(kind), jv_string(value),
					 org_name ? jv_string(org_name)
						  : jv_null()), &rows);

	*out = '\0';
	if (rc)
		return rc;
	jv org = jv_object_get(jv_array_get(rows, 0), jv_string("org"));
	if (jv_get_kind(org) == JV_KIND_STRING)
		snprintf(out, outlen, "%s", jv_string_value(org));
	jv_free(org);
	return 0;
}

/* ---- schema ---- */

static int
query_int(struct cdt_store *st, const char *sql, int *out)
{
	PGresult *r = pq.exec(pg_of(st)->conn, sql);
	int rc = 0;

	if (pq.result_status(r) != PGRES_TUPLES_OK)
		rc = pg_fail_res(st, r, "cannot read");
	else if (pq.ntuples(r) > 0 && !pq.getisnull(r, 0, 0))
		*out = (int)strtol(pq.getvalue(r, 0, 0), NULL, 10);
	else
		*out = 0;
	pq.clear(r);
	return rc;
}

static int
pg_version_get(struct cdt_store *st, int *version)
{
	int have = 0;
	int rc = query_int(st, "SELECT count(*) FROM pg_catalog.pg_class c "
			   "WHERE c.relname = 'schema_migrations' AND "
			   "c.relnamespace = current_schema()::regnamespace",
			   &have);

	*version = 0;
	if (rc || !have)
		return rc;
	return query_int(st, "SELECT max(version) FROM schema_migrations",
			 version);
}

static int
pg_version_set(struct cdt_store *st, int version)
{
	/* The rows of schema_migrations are the version. */
	return 0;
}

static int
pg_prepare_migration(struct cdt_store *st)
{
	return 0;
}

static int
pg_migrate(struct cdt_store *st, const char *sql)
{
	char *text = cdt_store_pg_dialect(sql);
	int rc = run(st, text, "cannot migrate");

	free(text);
	if (rc && cdt_store_last_error(st) == CDT_STORE_E_INTERNAL)
		cdt_err_class(EX_CONFIG, "config", "store '%s': create or "
			      "upgrade its schema with 'cdt store migrate "
			      "--admin-url URL'", st->name);
	return rc;
}

/* Identity columns go on after the largest imported value. */
static int
pg_import_end(struct cdt_store *st, jv tables)
{
	return run(st, "DO $$ DECLARE r record; BEGIN FOR r IN SELECT "
		   "c.relname, a.attname FROM pg_catalog.pg_attribute a JOIN "
		   "pg_catalog.pg_class c ON c.oid = a.attrelid WHERE "
		   "c.relnamespace = current_schema()::regnamespace AND "
		   "a.attidentity <> '' LOOP EXECUTE format('SELECT setval("
		   "pg_get_serial_sequence(%L, %L), coalesce(max(%I), 0) + 1, "
		   "false) FROM %I', quote_ident(r.relname), r.attname, "
		   "r.attname, r.relname); END LOOP; END $$",
		   "cannot import into");
}

/* One row's text from a parameterless query, or NULL (reported). */
static char *
query_text(struct cdt_store *st, const char *sql)
{
	PGresult *r = pq.exec(pg_of(st)->conn, sql);
	char *out = NULL;

	if (pq.result_status(r) != PGRES_TUPLES_OK)
		pg_fail_res(st, r, "cannot read");
	else if (pq.ntuples(r) > 0 && !pq.getisnull(r, 0, 0))
		out = cdt_xstrdup(pq.getvalue(r, 0, 0));
	else
		out = cdt_xstrdup("");
	pq.clear(r);
	return out;
}

/*
 * Tenant isolation, set up by `cdt store migrate --admin-url` after every
 * migration (idempotent).  Every table with org data gets ENABLE and
 * FORCE ROW LEVEL SECURITY and one policy on cdt_org(), the org the store
 * sets with SET LOCAL in each transaction (NULL when unset or '': then no
 * row shows, not even one stored with org '', such as chat history kept
 * before the caller check):
 *   orgs			id = cdt_org()
 *   a table with org_id	org_id = cdt_org()
 *   users			a membership or an API key in cdt_org() (a
 *				key outlives its owner's leaving; any org
 *				to insert)
 *   a table with session_id	its session is visible
 *   a table with conversation_id	its conversation is visible
 * audit may also take rows of no org.  Global by nature, no policy:
 * schema_migrations, meta (key fingerprints), breakers and usage (one
 * set of provider figures for every org).  A new table that fits no rule
 * stops the migration.
 *
 * The lookups made before the org is known go through one SECURITY
 * DEFINER function, cdt_login_org(kind, value, org_name), owned by the
 * NOLOGIN role cdt_login (which alone may read every row, and only
 * SELECT): the org of an API key id ('key'), of a refresh token's hash
 * ('refresh'), of a user's first membership, or the one named, by email
 * ('email'), of an org name ('org'), a user's id by email ('user'), and
 * whether a conversation id is taken ('conversation': the id itself, so
 * that a message record naming another org's conversation answers 66 as
 * on SQLite, instead of a new conversation the policy then refuses).
 */
static const char rls_sql[] =
	"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
	"'cdt_login') THEN CREATE ROLE cdt_login NOLOGIN; END IF; END $$; "
	"CREATE OR REPLACE FUNCTION cdt_org() RETURNS text LANGUAGE sql "
	"STABLE AS $f$ SELECT nullif(current_setting('cdt.org', true), '') "
	"$f$; "
	"DO $$ DECLARE t record; c text; k text; BEGIN "
	"FOR t IN SELECT r.relname AS n, r.oid FROM pg_class r WHERE "
	"r.relkind = 'r' AND r.relnamespace = current_schema()::regnamespace "
	"AND r.relname NOT IN ('schema_migrations', 'meta', 'breakers', "
	"'usage') LOOP "
	"c := CASE WHEN t.n = 'orgs' THEN 'id = cdt_org()' "
	"WHEN t.n = 'users' THEN 'EXISTS (SELECT 1 FROM memberships m WHERE "
	"m.user_id = users.id) OR EXISTS (SELECT 1 FROM api_keys k WHERE "
	"k.user_id = users.id)' "
	"WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t.oid AND "
	"attname = 'org_id' AND NOT attisdropped) THEN 'org_id = cdt_org()' "
	"WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t.oid AND "
	"attname = 'session_id' AND NOT attisdropped) THEN 'EXISTS (SELECT 1 "
	"FROM sessions s WHERE s.id = session_id)' "
	"WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t.oid AND "
	"attname = 'conversation_id' AND NOT attisdropped) THEN 'EXISTS "
	"(SELECT 1 FROM conversations v WHERE v.id = conversation_id)' END; "
	"IF c IS NULL THEN RAISE EXCEPTION 'cdt: no row level security rule "
	"for table %', t.n; END IF; "
	"k := CASE t.n WHEN 'users' THEN 'cdt_org() IS NOT NULL' WHEN 'audit' "
	"THEN 'org_id IS NULL OR org_id = cdt_org()' ELSE c END; "
	"EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.n); "
	"EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t.n); "
	"EXECUTE format('DROP POLICY IF EXISTS cdt_org ON %I', t.n); "
	"EXECUTE format('CREATE POLICY cdt_org ON %I USING (%s) WITH CHECK "
	"(%s)', t.n, c, k); "
	"EXECUTE format('DROP POLICY IF EXISTS cdt_login ON %I', t.n); "
	"EXECUTE format('CREATE POLICY cdt_login ON %I FOR SELECT TO "
	"cdt_login USING (true)', t.n); "
	"EXECUTE format('GRANT SELECT ON %I TO cdt_login', t.n); "
	"END LOOP; END $$; "
	"CREATE OR REPLACE FUNCTION cdt_login_org(kind text, val text, "
	"org_name text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER "
	"AS $f$ SELECT CASE kind "
	"WHEN 'key' THEN (SELECT org_id FROM api_keys WHERE id = val) "
	"WHEN 'refresh' THEN (SELECT org_id FROM refresh_tokens WHERE "
	"token_sha256 = val) "
	"WHEN 'email' THEN (SELECT m.org_id FROM users u JOIN memberships m "
	"ON m.user_id = u.id JOIN orgs o ON o.id = m.org_id WHERE u.email = "
	"val AND (org_name IS NULL OR o.name = org_name) ORDER BY "
	"m.created_at, m.org_id LIMIT 1) "
	"WHEN 'org' THEN (SELECT id FROM orgs WHERE name = val) "
	"WHEN 'user' THEN (SELECT id FROM users WHERE email = val) "
	"WHEN 'conversation' THEN (SELECT id FROM conversations WHERE id = "
	"val) END $f$; "
	"REVOKE ALL ON FUNCTION cdt_login_org(text, text, text) FROM PUBLIC; "
	"ALTER FUNCTION cdt_login_org(text, text, text) OWNER TO cdt_login; ";

/*
 * The application role gets rows, not tables: no DDL, no TRUNCATE, the
 * schema's migration rows read-only.  It must be another role than the
 * schema's owner, without SUPERUSER or BYPASSRLS, or row level security
 * would not hold for it.
 */
static int
pg_grant(struct cdt_store *st, const char *role)
{
	struct pg *pg = pg_of(st);
	char *lit = pq.escape_literal(pg->conn, role, strlen(role));
	char *id = pq.escape_identifier(pg->conn, role, strlen(role));
	struct cdt_buf q = CDT_BUF_INIT;
	char *bad = NULL, *schema = NULL;
	int rc = 0;

	if (!lit || !id)
		cdt_oom();
	cdt_buf_addf(&q, "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_roles "
		     "WHERE rolname = %s) THEN 'does not exist' WHEN (SELECT "
		     "rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = "
		     "%s) THEN 'is a superuser or has BYPASSRLS' WHEN %s = "
		     "current_user OR pg_has_role(%s, (SELECT relowner FROM "
		     "pg_class WHERE oid = to_regclass('schema_migrations')), "
		     "'USAGE') THEN 'owns the tables' ELSE '' END", lit, lit,
		     lit, lit);
	bad = query_text(st, q.buf);
	if (!bad)
		rc = EX_SOFTWARE;
	else if (*bad)
		rc = cdt_store_fail(st, CDT_STORE_E_CONFIG, EX_CONFIG,
				    "cannot grant store '%s' to role '%s': "
				    "it %s", st->name, role, bad);
	if (!rc)
		schema = query_text(st, "SELECT quote_ident(current_schema())");
	if (!rc && !schema)
		rc = EX_SOFTWARE;
	if (!rc) {
		cdt_buf_reset(&q);
		cdt_buf_addf(&q, "BEGIN; %s"
			     "ALTER FUNCTION cdt_login_org(text, text, text) "
			     "SET search_path = %s, pg_temp; "
			     "GRANT USAGE ON SCHEMA %s TO cdt_login; "
			     "GRANT EXECUTE ON FUNCTION cdt_login_org(text, "
			     "text, text) TO %s; "
			     "GRANT USAGE ON SCHEMA %s TO %s; "
			     "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL "
			     "TABLES IN SCHEMA %s TO %s; "
			     "REVOKE INSERT, UPDATE, DELETE ON "
			     "schema_migrations FROM %s; "
			     "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN "
			     "SCHEMA %s TO %s; "
			     "COMMIT", rls_sql, schema, schema, id, schema, id,
			     schema, id, id, schema, id);
		rc = run(st, q.buf, "cannot grant");
		if (rc)
			pg_abort(st);
	}
	cdt_buf_release(&q);
	free(bad);
	free(schema);
	pq.freemem(lit);
	pq.freemem(id);
	return rc;
}

static int
pg_backup(struct cdt_store *st, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	jv counts;

	if (fd < 0)
		return cdt_err_errno(EX_CANTCREAT, "cannot create '%s'", path);
	FILE *f = fdopen(fd, "w");
	if (!f)
		cdt_oom();
	/* cdt_store_export reads in one REPEATABLE READ transaction. */
	int rc = cdt_store_export(st, f, &counts);
	jv_free(counts);
	if (!rc && fsync(fd) < 0)
		rc = cdt_err_errno(EX_IOERR, "cannot write '%s'", path);
	if (fclose(f) != 0 && !rc)
		rc = cdt_err_errno(EX_IOERR, "cannot write '%s'", path);
	if (rc)
		unlink(path);
	return rc;
}

const struct cdt_store_ops cdt_store_pg_ops = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.exec = pg_exec,
	.version_get = pg_version_get,
	.version_set = pg_version_set,
	.prepare_migration = pg_prepare_migration,
	.migrate = pg_migrate,
	.set_busy_timeout = pg_set_busy_timeout,
	.set_org = pg_set_org,
	.tables_sql = "SELECT c.relname AS name FROM pg_catalog.pg_class c "
		      "WHERE c.relkind = 'r' AND c.relnamespace = "
		      "current_schema()::regnamespace ORDER BY c.oid",
	.columns_sql = "SELECT attname AS name FROM pg_catalog.pg_attribute "
		       "WHERE attrelid = to_regclass(quote_ident(?)) AND "
		       "attnum > 0 AND NOT attisdropped ORDER BY attnum",
	.row_order = "ctid",
	.import_end = pg_import_end,
	.backup = pg_backup,
	.grant = pg_grant,
	.login_org = pg_login_org,
};
