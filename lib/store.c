#include "compat.h"
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "schema.h"
#include "store.h"
#include "store_backend.h"

int
cdt_store_fail(struct cdt_store *st, enum cdt_store_error kind, int code,
	       const char *fmt, ...)
{
	char msg[CDT_ERR_MSG_MAX];
	va_list ap;
	const char *cls = NULL;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st)
		st->err = kind;
	switch (kind) {
	case CDT_STORE_E_UNIQUE:
	case CDT_STORE_E_FOREIGN:
	case CDT_STORE_E_CONSTRAINT:
		cls = "conflict";
		break;
	case CDT_STORE_E_BUSY:
		cls = "conflict";
		break;
	case CDT_STORE_E_IO:
		cls = "io";
		break;
	case CDT_STORE_E_CONFIG:
		cls = "config";
		break;
	default:
		break;
	}
	return cls ? cdt_err_class(code, cls, "%s", msg)
		   : cdt_err(code, "%s", msg);
}

int64_t
cdt_store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The length of target's URL scheme ("postgres" in postgres://...), or 0
 * when target is a path (which may contain "://" anywhere else).
 */
static size_t
scheme_len(const char *target)
{
	size_t n = strspn(target, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

	if (n == 0 || !strchr("abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ", target[0]) ||
	    strncmp(target + n, "://", 3))
		return 0;
	return n;
}

bool
cdt_store_url_auth(const char *url, struct cdt_url_auth *ua)
{
	size_t n = scheme_len(url);

	memset(ua, 0, sizeof(*ua));
	if (!n)
		return false;
	ua->auth = url + n + 3;
	ua->alen = strcspn(ua->auth, "/?#");
	for (size_t i = 0; i < ua->alen; i++)
		if (ua->auth[i] == '@')
			ua->at = ua->auth + i;
	if (ua->at) {
		ua->user = ua->auth;
		ua->ulen = strcspn(ua->auth, ":@");
		const char *colon = memchr(ua->auth, ':',
					   (size_t)(ua->at - ua->auth));
		if (colon) {
			ua->pw = colon + 1;
			ua->plen = (size_t)(ua->at - ua->pw);
		}
	}
	return true;
}

/*
 * The name used in messages.  A URL may carry a password (user:pw@host)
 * or one in its query (?password=): keep scheme, user, host and path.
 */
static char *
display_name(const char *target)
{
	struct cdt_url_auth ua;
	struct cdt_buf b = CDT_BUF_INIT;

	if (!cdt_store_url_auth(target, &ua))
		return cdt_xstrdup(target);
	cdt_buf_add(&b, target, (size_t)(ua.auth - target));
	if (ua.at) {
		cdt_buf_add(&b, ua.user, ua.ulen);
		cdt_buf_addch(&b, '@');
		cdt_buf_add(&b, ua.at + 1,
			    (size_t)(ua.auth + ua.alen - ua.at - 1));
	} else {
		cdt_buf_add(&b, ua.auth, ua.alen);
	}
	const char *path = ua.auth + ua.alen;
	cdt_buf_add(&b, path, strcspn(path, "?#"));
	return cdt_buf_detach(&b, NULL);
}

static const struct cdt_store_ops *
backend_for(const char *target, struct cdt_store *st)
{
	size_t n = scheme_len(target);

	/*
	 * A string with a scheme names a backend; anything else is a file
	 * path for SQLite.
	 */
	if (!n)
		return &cdt_store_sqlite_ops;
	if ((n == 8 && !strncmp(target, "postgres", n)) ||
	    (n == 10 && !strncmp(target, "postgresql", n)))
		return &cdt_store_pg_ops;
	cdt_store_fail(st, CDT_STORE_E_CONFIG, EX_CONFIG,
		       "cannot open store '%s': no '%.*s' backend in this cdt",
		       st->name, (int)n, target);
	return NULL;
}

static int
newer(struct cdt_store *st, int version)
{
	return cdt_store_fail(st, CDT_STORE_E_CONFIG, EX_CONFIG,
			      "store '%s' has schema version %d, newer than "
			      "this cdt (%d): upgrade cdt", st->name, version,
			      cdt_schema_count);
}

/*
 * Bring the schema up to date.  The version is read without a lock
 * first: when it is current (the usual case) that one read is all.
 * Otherwise take the write lock and read it again, because another
 * process may have migrated while we waited.
 */
static int
migrate(struct cdt_store *st, enum cdt_store_flags flags)
{
	int latest = cdt_schema_count;
	int v = 0;
	int rc = st->ops->version_get(st, &v);

	if (rc)
		return rc;
	st->version = v;
	if ((flags & CDT_STORE_NOMIGRATE) || v == latest)
		return 0;
	if (v > latest || v < 0)
		return newer(st, v);
	rc = st->ops->prepare_migration(st);
	if (rc)
		return rc;
	rc = cdt_store_begin(st, CDT_TXN_WRITE);
	if (rc)
		return rc;
	rc = st->ops->version_get(st, &v);
	if (rc)
		goto out;
	if (v > latest || v < 0) {
		rc = newer(st, v);
		goto out;
	}
	for (int i = v; i < latest; i++) {
		const struct cdt_schema_migration *m =
			&cdt_schema_migrations[i];
		cdt_debug("store '%s': migrating to version %d (%s)",
			  st->name, i + 1, m->name);
		rc = st->ops->migrate(st, m->sql);
		if (rc)
			goto out;
		jv params = jv_array();
		params = jv_array_append(params, jv_number(i + 1));
		params = jv_array_append(params, jv_string(m->name));
		params = jv_array_append(params,
					 jv_number((double)cdt_store_now_ms()));
		rc = cdt_store_exec(st, "INSERT INTO schema_migrations "
				    "(version, name, applied_at) "
				    "VALUES (?, ?, ?)", params, NULL);
		if (rc)
			goto out;
	}
	if (v < latest)
		rc = st->ops->version_set(st, latest);
	if (!rc)
		rc = cdt_store_commit(st);
	if (!rc)
		st->version = latest;
out:
	if (rc)
		cdt_store_rollback(st);
	return rc;
}

int
cdt_store_open(struct cdt_store **out, const char *path_or_url,
	       enum cdt_store_flags flags)
{
	struct cdt_store *st = NULL;
	int rc;

	*out = NULL;
	if (!path_or_url || !*path_or_url)
		return cdt_err_class(EX_CONFIG, "config",
				     "cannot open store: empty path");
	st = cdt_xcalloc(1, sizeof(*st));
	st->name = display_name(path_or_url);
	st->busy_timeout_ms = CDT_STORE_BUSY_TIMEOUT_MS;
	st->ops = backend_for(path_or_url, st);
	if (!st->ops) {
		rc = EX_CONFIG;
		goto fail;
	}
	rc = st->ops->open(st, path_or_url, flags);
	if (rc)
		goto fail;
	rc = migrate(st, flags);
	if (rc)
		goto fail;
	*out = st;
	return 0;
fail:
	cdt_store_close(st);
	return rc;
}

/* mkdir -p with 0700 for each directory made (XDG base directory rule). */
static int
make_home(const char *home)
{
	struct cdt_buf b = CDT_BUF_INIT;
	int rc = 0;

	cdt_buf_addstr(&b, home);
	for (size_t i = 1; i <= b.len; i++) {
		if (b.buf[i] != '/' && b.buf[i] != '\0')
			continue;
		char c = b.buf[i];
		b.buf[i] = '\0';
		if (mkdir(b.buf, 0700) < 0 && errno != EEXIST) {
			/* EROFS, EACCES: fine if it is there already. */
			int e = errno;
			struct stat sb;
			if (stat(b.buf, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
				errno = e;
				rc = cdt_err_errno(EX_CANTCREAT,
						   "cannot create directory "
						   "'%s'", b.buf);
				break;
			}
		}
		b.buf[i] = c;
	}
	cdt_buf_release(&b);
	return rc;
}

int
cdt_store_open_default(struct cdt_store **out, const char *home)
{
	struct cdt_buf path = CDT_BUF_INIT;
	int rc;

	*out = NULL;
	if (!home || !*home)
		return cdt_err_class(EX_CONFIG, "config",
				     "cannot open store: no home directory");
	rc = make_home(home);
	if (rc)
		return rc;
	cdt_buf_addstr(&path, home);
	if (path.buf[path.len - 1] != '/')
		cdt_buf_addch(&path, '/');
	cdt_buf_addstr(&path, "cdt.db");
	rc = cdt_store_open(out, path.buf, 0);
	cdt_buf_release(&path);
	return rc;
}

int
cdt_store_open_cfg(struct cdt_store **out, const struct cdt_cfg *cfg,
		   enum cdt_store_flags flags)
{
	const char *url = cfg ? cdt_cfg_str(cfg, "store.url", NULL) : NULL;
	const char *path = cfg ? cdt_cfg_str(cfg, "store.path", NULL) : NULL;
	const char *home = cdt_cfg_home();

	int rc;

	*out = NULL;
	if (url || path) {
		rc = cdt_store_open(out, url ? url : path, flags);
	} else if (!home) {
		return cdt_err_class(EX_CONFIG, "config", "no home for the "
				     "store: set CDT_HOME or HOME");
	} else if (!(flags & CDT_STORE_NOCREATE)) {
		rc = cdt_store_open_default(out, home);
	} else {
		struct cdt_buf p = CDT_BUF_INIT;
		cdt_buf_addf(&p, "%s/cdt.db", home);
		rc = cdt_store_open(out, p.buf, flags);
		cdt_buf_release(&p);
	}
	/* store.busy_timeout: how long a writer waits for another's lock. */
	if (!rc && cfg)
		cdt_store_set_busy_timeout(*out, (int)cdt_cfg_duration_ms(
			cfg, "store.busy_timeout", CDT_STORE_BUSY_TIMEOUT_MS));
	return rc;
}

void
cdt_store_close(struct cdt_store *st)
{
	if (!st)
		return;
	if (st->ops)
		st->ops->close(st);
	free(st->name);
	free(st);
}

int
cdt_store_begin(struct cdt_store *st, enum cdt_store_txn txn)
{
	st->err = CDT_STORE_OK;
	if (st->txn != CDT_STORE_TXN_NONE)
		return cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				      "cannot begin a transaction on store "
				      "'%s': one is open already", st->name);
	int rc = st->ops->begin(st, txn);
	if (!rc)
		st->txn = txn == CDT_TXN_WRITE ? CDT_STORE_TXN_WRITE
					       : CDT_STORE_TXN_READ;
	return rc;
}

int
cdt_store_commit(struct cdt_store *st)
{
	st->err = CDT_STORE_OK;
	if (st->txn == CDT_STORE_TXN_NONE)
		return cdt_store_fail(st, CDT_STORE_E_INTERNAL, EX_SOFTWARE,
				      "cannot commit to store '%s': no "
				      "transaction is open", st->name);
	int rc = st->ops->commit(st);
	if (rc)
		st->ops->rollback(st);
	st->txn = CDT_STORE_TXN_NONE;
	return rc;
}

void
cdt_store_rollback(struct cdt_store *st)
{
	if (!st || st->txn == CDT_STORE_TXN_NONE)
		return;
	st->ops->rollback(st);
	st->txn = CDT_STORE_TXN_NONE;
}

int
cdt_store_exec(struct cdt_store *st, const char *sql, jv params, jv *rows)
{
	st->err = CDT_STORE_OK;
	st->changes = 0;
	return st->ops->exec(st, sql, params, rows);
}

int
cdt_store_changes(const struct cdt_store *st)
{
	return st->changes;
}

enum cdt_store_error
cdt_store_last_error(const struct cdt_store *st)
{
	return st->err;
}

const char *
cdt_store_backend_name(const struct cdt_store *st)
{
	return st->ops->name;
}

const char *
cdt_store_name(const struct cdt_store *st)
{
	return st->name;
}

int
cdt_store_version(const struct cdt_store *st)
{
	return st->version;
}

int
cdt_store_schema_latest(void)
{
	return cdt_schema_count;
}

void
cdt_store_set_org(struct cdt_store *st, const char *org_id)
{
	if (st->ops->set_org)
		st->ops->set_org(st, org_id);
}

void
cdt_store_set_busy_timeout(struct cdt_store *st, int ms)
{
	st->busy_timeout_ms = ms < 0 ? 0 : ms;
	st->ops->set_busy_timeout(st, st->busy_timeout_ms);
}

/* ---- whole-store verbs: export, import, backup (cdt store) ---- */

/* "name" of each row of rows, as a NULL-ended array of strings. */
static int
names_of(struct cdt_store *st, const char *sql, jv params, jv *out)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, sql, params, &rows);

	*out = jv_array();
	if (rc)
		return rc;
	jv_array_foreach(rows, i, r) {
		*out = jv_array_append(*out, jv_object_get(r, jv_string("name")));
	}
	jv_free(rows);
	return 0;
}

/* Quote an identifier (the names come from the store's own catalog). */
static void
add_ident(struct cdt_buf *b, const char *name)
{
	cdt_buf_addch(b, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			cdt_buf_addch(b, '"');
		cdt_buf_addch(b, *p);
	}
	cdt_buf_addch(b, '"');
}

static bool
has_name(jv names, const char *name)
{
	bool found = false;

	jv_array_foreach(names, i, n) {
		if (!strcmp(jv_string_value(n), name))
			found = true;
		jv_free(n);
	}
	return found;
}

int
cdt_store_tables(struct cdt_store *st, jv *names)
{
	return names_of(st, st->ops->tables_sql, jv_array(), names);
}

static int
export_table(struct cdt_store *st, const char *table, FILE *f, int *count)
{
	struct cdt_buf sql = CDT_BUF_INIT;
	jv cols, rows = jv_invalid();
	int rc = names_of(st, st->ops->columns_sql,
			  JV_ARRAY(jv_string(table)), &cols);

	*count = 0;
	if (rc) {
		jv_free(cols);
		return rc;
	}
	/* Parents before children (sessions.parent_id): oldest first. */
	cdt_buf_addstr(&sql, "SELECT * FROM ");
	add_ident(&sql, table);
	cdt_buf_addf(&sql, " ORDER BY %s%s",
		     has_name(cols, "created_at") ? "created_at, " : "",
		     st->ops->row_order);
	jv_free(cols);
	rc = cdt_store_exec(st, sql.buf, jv_array(), &rows);
	cdt_buf_release(&sql);
	if (rc)
		return rc;
	jv_array_foreach(rows, i, r) {
		jv line = jv_object();
		line = jv_object_set(line, jv_string("table"), jv_string(table));
		line = jv_object_set(line, jv_string("row"), r);
		jv s = jv_dump_string(line, 0);
		if (fprintf(f, "%s\n", jv_string_value(s)) < 0)
			rc = cdt_err_errno(EX_IOERR, "cannot write the export");
		jv_free(s);
		if (rc)
			break;
		++*count;
	}
	jv_free(rows);
	return rc;
}

int
cdt_store_export(struct cdt_store *st, FILE *f, jv *counts)
{
	jv tables;
	int rc = cdt_store_begin(st, CDT_TXN_READ);

	*counts = jv_object();
	if (rc)
		return rc;
	rc = cdt_store_tables(st, &tables);
	jv_array_foreach(tables, i, t) {
		int n = 0;
		if (!rc)
			rc = export_table(st, jv_string_value(t), f, &n);
		if (!rc)
			*counts = jv_object_set(*counts, jv_copy(t),
						jv_number(n));
		jv_free(t);
	}
	jv_free(tables);
	if (!rc && fflush(f) != 0)
		rc = cdt_err_errno(EX_IOERR, "cannot write the export");
	cdt_store_rollback(st);
	return rc;
}

/* Every table but schema_migrations must be empty. */
static int
import_check_empty(struct cdt_store *st, jv tables)
{
	int rc = 0;

	jv_array_foreach(tables, i, t) {
		const char *name = jv_string_value(t);
		struct cdt_buf sql = CDT_BUF_INIT;
		jv rows = jv_invalid();
		if (!rc && strcmp(name, "schema_migrations")) {
			cdt_buf_addstr(&sql, "SELECT count(*) AS n FROM ");
			add_ident(&sql, name);
			rc = cdt_store_exec(st, sql.buf, jv_array(), &rows);
			if (!rc && jv_number_value(jv_object_get(
				    jv_array_get(jv_copy(rows), 0),
				    jv_string("n"))) > 0)
				rc = cdt_err_class(EX_DATAERR, "conflict",
						   "cannot import into store "
						   "'%s': table %s is not "
						   "empty", st->name, name);
			jv_free(rows);
		}
		cdt_buf_release(&sql);
		jv_free(t);
	}
	return rc;
}

static int
import_row(struct cdt_store *st, const char *table, jv cols, jv row)
{
	struct cdt_buf sql = CDT_BUF_INIT;
	jv params = jv_array();
	int n = 0, rc = 0;

	cdt_buf_addstr(&sql, "INSERT INTO ");
	add_ident(&sql, table);
	cdt_buf_addstr(&sql, " (");
	jv_object_foreach(row, k, v) {
		if (!rc && !has_name(cols, jv_string_value(k)))
			rc = cdt_err(EX_DATAERR, "cannot import: table %s has "
				     "no column '%.64s'", table,
				     jv_string_value(k));
		if (n++)
			cdt_buf_addstr(&sql, ", ");
		add_ident(&sql, jv_string_value(k));
		params = jv_array_append(params, v);
		jv_free(k);
	}
	cdt_buf_addstr(&sql, ") VALUES (");
	for (int i = 0; i < n; i++)
		cdt_buf_addstr(&sql, i ? ", ?" : "?");
	cdt_buf_addch(&sql, ')');
	if (!rc && n)
		rc = cdt_store_exec(st, sql.buf, params, NULL);
	else
		jv_free(params);
	cdt_buf_release(&sql);
	jv_free(row);
	return rc;
}

int
cdt_store_import(struct cdt_store *st, FILE *f, const char *what,
		 jv *counts)
{
	jv tables = jv_invalid(), colmap = jv_object();
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int rc = cdt_store_begin(st, CDT_TXN_WRITE);

	*counts = jv_object();
	if (rc)
		return rc;
	if (st->ops->import_begin)
		rc = st->ops->import_begin(st);
	if (!rc)
		rc = cdt_store_tables(st, &tables);
	if (!rc)
		rc = import_check_empty(st, tables);
	while (!rc && (len = getline(&line, &cap, f)) > 0) {
		lineno++;
		jv rec = jv_parse_sized(line, (int)len);
		jv t = jv_invalid(), row = jv_invalid();
		if (jv_get_kind(rec) == JV_KIND_OBJECT) {
			t = jv_object_get(jv_copy(rec), jv_string("table"));
			row = jv_object_get(jv_copy(rec), jv_string("row"));
		}
		if (jv_get_kind(t) != JV_KIND_STRING ||
		    jv_get_kind(row) != JV_KIND_OBJECT) {
			rc = cdt_err(EX_DATAERR, "cannot import %s: line %ld "
				     "is not {\"table\": ..., \"row\": {...}}",
				     what, lineno);
		} else if (!has_name(tables, jv_string_value(t))) {
			rc = cdt_err(EX_DATAERR, "cannot import %s: line %ld: "
				     "no table '%.64s' in store '%s'", what,
				     lineno, jv_string_value(t), st->name);
		} else if (!strcmp(jv_string_value(t), "schema_migrations")) {
			/* The target's own migrations: the same ones. */
			jv v = jv_object_get(jv_copy(row),
					     jv_string("version"));
			if (jv_get_kind(v) != JV_KIND_NUMBER ||
			    jv_number_value(v) > st->version)
				rc = cdt_err_class(EX_CONFIG, "config",
						   "cannot import %s: it has "
						   "schema version %.0f, store "
						   "'%s' has %d", what,
						   jv_get_kind(v) ==
						   JV_KIND_NUMBER ?
						   jv_number_value(v) : -1.0,
						   st->name, st->version);
			jv_free(v);
		} else {
			jv cols = jv_object_get(jv_copy(colmap), jv_copy(t));
			if (!jv_is_valid(cols)) {
				jv_free(cols);
				rc = names_of(st, st->ops->columns_sql,
					      JV_ARRAY(jv_copy(t)), &cols);
				colmap = jv_object_set(colmap, jv_copy(t),
						       jv_copy(cols));
			}
			if (!rc)
				rc = import_row(st, jv_string_value(t), cols,
						jv_copy(row));
			jv_free(cols);
		}
		if (!rc) {
			jv n = jv_object_get(jv_copy(*counts), jv_copy(t));
			double c = jv_is_valid(n) ? jv_number_value(n) : 0;
			jv_free(n);
			*counts = jv_object_set(*counts, jv_copy(t),
						jv_number(c + 1));
		}
		jv_free(t);
		jv_free(row);
		jv_free(rec);
	}
	if (!rc && ferror(f))
		rc = cdt_err_errno(EX_IOERR, "cannot read %s", what);
	if (!rc && st->ops->import_end)
		rc = st->ops->import_end(st, tables);
	if (!rc)
		rc = cdt_store_commit(st);
	cdt_store_rollback(st);
	free(line);
	jv_free(tables);
	jv_free(colmap);
	return rc;
}

int
cdt_store_backup(struct cdt_store *st, const char *path)
{
	return st->ops->backup(st, path);
}

int
cdt_store_grant(struct cdt_store *st, const char *role)
{
	if (!st->ops->grant)
		return 0;
	return st->ops->grant(st, role);
}

int
cdt_store_login_org(struct cdt_store *st, const char *kind,
		    const char *value, const char *org_name, char *out,
		    size_t outlen)
{
	*out = '\0';
	if (!st->ops->login_org)
		return 0;
	return st->ops->login_org(st, kind, value, org_name, out, outlen);
}
