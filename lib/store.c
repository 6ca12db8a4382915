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

/*
 * The name used in messages.  A URL may carry a password (user:pw@host)
 * or one in its query (?password=): keep scheme, user, host and path.
 */
static char *
display_name(const char *target)
{
	size_t n = scheme_len(target);
	struct cdt_buf b = CDT_BUF_INIT;

	if (!n)
		return cdt_xstrdup(target);
	const char *auth = target + n + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i;
	cdt_buf_add(&b, target, (size_t)(auth - target));
	if (at) {
		size_t ulen = strcspn(auth, ":@");
		cdt_buf_add(&b, auth, ulen);
		cdt_buf_addch(&b, '@');
		cdt_buf_add(&b, at + 1, (size_t)(auth + alen - at - 1));
	} else {
		cdt_buf_add(&b, auth, alen);
	}
	const char *path = auth + alen;
	cdt_buf_add(&b, path, strcspn(path, "?#"));
	return cdt_buf_detach(&b, NULL);
}

static const struct cdt_store_ops *
backend_for(const char *target, struct cdt_store *st)
{
	size_t n = scheme_len(target);

	/*
	 * A string with a scheme names a backend; anything else is a file
	 * path for SQLite.  Only SQLite is built in so far.
	 */
	if (!n)
		return &cdt_store_sqlite_ops;
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

	*out = NULL;
	if (url || path)
		return cdt_store_open(out, url ? url : path, flags);
	if (!home)
		return cdt_err_class(EX_CONFIG, "config", "no home for the "
				     "store: set CDT_HOME or HOME");
	if (!(flags & CDT_STORE_NOCREATE))
		return cdt_store_open_default(out, home);
	struct cdt_buf p = CDT_BUF_INIT;
	cdt_buf_addf(&p, "%s/cdt.db", home);
	int rc = cdt_store_open(out, p.buf, flags);
	cdt_buf_release(&p);
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
cdt_store_set_busy_timeout(struct cdt_store *st, int ms)
{
	st->busy_timeout_ms = ms < 0 ? 0 : ms;
	st->ops->set_busy_timeout(st, st->busy_timeout_ms);
}
