/*
 * store_backend.h - what a store backend implements (store.c and
 * store_*.c only; tools include store.h).
 *
 * store.c owns the handle, the transaction state, the error reporting
 * and the migration runner; a backend fills in struct cdt_store_ops.
 * Every operation reports its own failure through cdt_store_fail() (or
 * cdt_store_fail_rc) and returns the status.  A backend keeps st->txn
 * true to the database: when the database ends a transaction by itself
 * (SQLite rolls back on some errors), the backend sets CDT_STORE_TXN_NONE.
 */
#ifndef CDT_STORE_BACKEND_H
#define CDT_STORE_BACKEND_H

#include "compat.h"
#include "store.h"

enum cdt_store_txn_state {
	CDT_STORE_TXN_NONE,
	CDT_STORE_TXN_READ,
	CDT_STORE_TXN_WRITE,
};

struct cdt_store_ops {
	const char *name;
	/* target is the path or URL; st->name is already set. */
	int (*open)(struct cdt_store *st, const char *target,
		    enum cdt_store_flags flags);
	/*
	 * Free st->impl, which may be half set up after a failed open;
	 * roll back first if a transaction is open.
	 */
	void (*close)(struct cdt_store *st);
	int (*begin)(struct cdt_store *st, enum cdt_store_txn txn);
	int (*commit)(struct cdt_store *st);
	void (*rollback)(struct cdt_store *st);
	/* As cdt_store_exec; sets st->changes. */
	int (*exec)(struct cdt_store *st, const char *sql, jv params,
		    jv *rows);
	/* Schema version as the store records it (one read). */
	int (*version_get)(struct cdt_store *st, int *version);
	/* Inside the migration's write transaction. */
	int (*version_set)(struct cdt_store *st, int version);
	/* Outside any transaction, before migrating (SQLite: WAL). */
	int (*prepare_migration)(struct cdt_store *st);
	/* Several statements, no parameters, inside the transaction. */
	int (*migrate)(struct cdt_store *st, const char *sql);
	void (*set_busy_timeout)(struct cdt_store *st, int ms);
	/* The org for row level security; NULL when the backend has none. */
	void (*set_org)(struct cdt_store *st, const char *org);
	/* The tables ("name"), oldest first; a table's columns ("name"). */
	const char *tables_sql;
	const char *columns_sql;	/* one parameter: the table */
	const char *row_order;		/* ORDER BY of insertion order */
	/* Around an import's inserts, in its write transaction; may be NULL. */
	int (*import_begin)(struct cdt_store *st);
	int (*import_end)(struct cdt_store *st, jv tables);
	/* A consistent copy of the whole store in path (a new file). */
	int (*backup)(struct cdt_store *st, const char *path);
	/* Grants for the application role; NULL when there are none. */
	int (*grant)(struct cdt_store *st, const char *role);
	/* See cdt_store_login_org; NULL: no row level security. */
	int (*login_org)(struct cdt_store *st, const char *kind,
			 const char *value, const char *org_name, char *out,
			 size_t outlen);
};

struct cdt_store {
	const struct cdt_store_ops *ops;
	char *name;			/* for messages: no secrets */
	enum cdt_store_txn_state txn;
	enum cdt_store_error err;
	int changes;
	int version;
	int busy_timeout_ms;
	void *impl;			/* the backend's own state */
};

extern const struct cdt_store_ops cdt_store_sqlite_ops;
extern const struct cdt_store_ops cdt_store_pg_ops;

/* PostgreSQL: sql with the dialect's rewrites of SQLite spellings made. */
char *cdt_store_pg_dialect(const char *sql);

/*
 * Report an error about st (printed once, remembered as the last error)
 * and return code.  kind chooses the class of the error record:
 * "conflict" for the constraint kinds, the code's default otherwise.
 */
int cdt_store_fail(struct cdt_store *st, enum cdt_store_error kind,
		   int code, const char *fmt, ...) CDT_PRINTF(4, 5);

/* Milliseconds since the Unix epoch, UTC (the schema's time unit). */
int64_t cdt_store_now_ms(void);

#include "banned.h"
#endif
