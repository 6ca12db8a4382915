/*
 * store-open - open a store through libcdt and optionally run one SQL
 * statement, for shell tests (fresh stores, races, inspecting rows,
 * forcing a schema version) without the sqlite3 CLI.
 *
 *	store-open [-n] [-w] [-t MS] PATH [SQL [PARAMS]]
 *
 * Without SQL it prints {"backend":..,"version":..,"latest":..}.  With
 * SQL it prints each result row as one JSON line.  PARAMS is a JSON
 * array for the '?' placeholders.  -n opens without migrating
 * (CDT_STORE_NOMIGRATE), -w runs the statement in an explicit write
 * transaction, -t sets the busy timeout in ms.  The exit status is the
 * store's (0, 65, 70, 74, 75, 78, ...), or 64 for a usage error.
 */
#include "compat.h"
#include <unistd.h>
#include "err.h"
#include "store.h"

static int
usage(void)
{
	fputs("usage: store-open [-n] [-w] [-t MS] PATH [SQL [PARAMS]]\n",
	      stderr);
	return EX_USAGE;
}

static int
print(jv v)
{
	jv s = jv_dump_string(v, 0);

	fputs(jv_string_value(s), stdout);
	putchar('\n');
	jv_free(s);
	return 0;
}

int
main(int argc, char **argv)
{
	enum cdt_store_flags flags = 0;
	struct cdt_store *st = NULL;
	jv params = jv_invalid();
	jv rows = jv_invalid();
	bool txn = false;
	long timeout = -1;
	int rc, c;

	cdt_err_setname("store-open");
	while ((c = getopt(argc, argv, "nwt:")) != -1) {
		switch (c) {
		case 'n':
			flags |= CDT_STORE_NOMIGRATE;
			break;
		case 'w':
			txn = true;
			break;
		case 't':
			timeout = strtol(optarg, NULL, 10);
			break;
		default:
			return usage();
		}
	}
	if (optind >= argc || argc - optind > 3)
		return usage();
	const char *path = argv[optind];
	const char *sql = optind + 1 < argc ? argv[optind + 1] : NULL;
	params = optind + 2 < argc ? jv_parse(argv[optind + 2]) : jv_array();
	if (jv_get_kind(params) != JV_KIND_ARRAY) {
		rc = cdt_err(EX_USAGE, "PARAMS must be a JSON array");
		goto out;
	}
	rc = cdt_store_open(&st, path, flags);
	if (rc)
		goto out;
	if (timeout >= 0)
		cdt_store_set_busy_timeout(st, (int)timeout);
	if (!sql) {
		jv o = jv_object();
		o = jv_object_set(o, jv_string("backend"),
				  jv_string(cdt_store_backend_name(st)));
		o = jv_object_set(o, jv_string("version"),
				  jv_number(cdt_store_version(st)));
		o = jv_object_set(o, jv_string("latest"),
				  jv_number(cdt_store_schema_latest()));
		print(o);
		goto out;
	}
	if (txn && (rc = cdt_store_begin(st, CDT_TXN_WRITE)))
		goto out;
	rc = cdt_store_exec(st, sql, params, &rows);
	params = jv_invalid();
	if (!rc && txn)
		rc = cdt_store_commit(st);
	if (rc)
		goto out;
	jv_array_foreach(rows, i, row)
		print(row);
out:
	cdt_store_rollback(st);
	cdt_store_close(st);
	jv_free(rows);
	jv_free(params);
	if (fflush(stdout) || ferror(stdout))
		rc = rc ? rc : cdt_err_errno(EX_IOERR, "cannot write output");
	return rc;
}
