/* cdt - the front command: `cdt chat ...` runs cdt-chat.  See cdt(1). */
#include "compat.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "out.h"
#include "record.h"
#include "render.h"
#include "store.h"
#include "tool.h"

/* ---- cdt store: the store's schema, status, export, import, backup ---- */

static bool
has_password(const char *url)
{
	struct cdt_url_auth ua;
	return cdt_store_url_auth(url, &ua) &&
	       (ua.pw || strstr(url, "password="));
}

static const char *admin_url;

/*
 * The store the config names (store.url, store.path, else the default),
 * or --admin-url's.
 */
static int
open_store(const struct cdt_cfg *cfg, enum cdt_store_flags flags,
	   struct cdt_store **st)
{
	const char *url = cdt_cfg_str(cfg, "store.url", NULL);
	const char *path = cdt_cfg_str(cfg, "store.path", NULL);
	const char *home = cdt_cfg_home();

	if (admin_url)
		return cdt_store_open(st, admin_url, flags);
	if (url || path)
		return cdt_store_open(st, url ? url : path, flags);
	if (!home)
		return cdt_err_class(EX_CONFIG, "config", "no home for the "
				     "store: set CDT_HOME or HOME");
	if (flags) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/cdt.db", home);
		return cdt_store_open(st, p, flags);
	}
	return cdt_store_open_default(st, home);
}

/* The user of a URL (scheme://USER[:pw]@host/...), or "" if none. */
static void
url_user(const char *url, char *out, size_t len)
{
	struct cdt_url_auth ua;

	*out = '\0';
	if (url && cdt_store_url_auth(url, &ua) && ua.at)
		snprintf(out, len, "%.*s", (int)ua.ulen, ua.user);
}

static jv
store_record(struct cdt_store *st)
{
	jv r = cdt_record_new("store");

	r = jv_object_set(r, jv_string("backend"),
			  jv_string(cdt_store_backend_name(st)));
	r = jv_object_set(r, jv_string("name"), jv_string(cdt_store_name(st)));
	r = jv_object_set(r, jv_string("version"),
			  jv_number(cdt_store_version(st)));
	r = jv_object_set(r, jv_string("latest"),
			  jv_number(cdt_store_schema_latest()));
	return r;
}

static int
store_migrate(struct cdt_ctx *ctx, const struct cdt_cfg *cfg)
{
	const char *admin = cdt_opt(ctx, "admin-url");
	const char *role = cdt_opt(ctx, "app-role");
	struct cdt_store *st = NULL;
	char user[256];
	int rc;

	rc = open_store(cfg, 0, &st);
	if (rc)
		return rc;
	if (!role && admin) {
		url_user(cdt_cfg_str(cfg, "store.url", NULL), user,
			 sizeof(user));
		if (*user)
			role = user;
	}
	if (admin && !strcmp(cdt_store_backend_name(st), "postgres")) {
		if (!role) {
			cdt_store_close(st);
			return cdt_usage(ctx, "which role do the tools connect "
					 "as?  give --app-role ROLE or a "
					 "store.url with a user");
		}
		rc = cdt_store_grant(st, role);
	}
	if (!rc) {
		jv r = store_record(st);
		if (role && admin)
			r = jv_object_set(r, jv_string("app_role"),
					  jv_string(role));
		rc = cdt_emit(r);
	}
	cdt_store_close(st);
	return rc;
}

static int
store_status(struct cdt_ctx *ctx, const struct cdt_cfg *cfg)
{
	struct cdt_store *st = NULL;
	int rc = open_store(cfg, CDT_STORE_NOCREATE | CDT_STORE_NOMIGRATE,
			    &st);

	if (rc)
		return rc;
	jv r = store_record(st);
	r = jv_object_set(r, jv_string("current"),
			  jv_bool(cdt_store_version(st) ==
				  cdt_store_schema_latest()));
	cdt_store_close(st);
	return cdt_emit(r);
}

static int
counts_record(const char *what, jv counts)
{
	jv r = cdt_record_new("store");
	double total = 0;

	jv_object_foreach(counts, k, v) {
		total += jv_number_value(v);
		jv_free(k);
		jv_free(v);
	}
	r = jv_object_set(r, jv_string(what), counts);
	r = jv_object_set(r, jv_string("rows"), jv_number(total));
	return cdt_emit(r);
}

/*
 * Row level security shows the application role one org at a time: on
 * PostgreSQL the whole-store verbs need the owner (--admin-url).
 */
static int
whole_store(struct cdt_ctx *ctx, struct cdt_store *st)
{
	if (admin_url || strcmp(cdt_store_backend_name(st), "postgres"))
		return 0;
	cdt_store_close(st);
	return cdt_usage(ctx, "on PostgreSQL, store %s reads every org: give "
			 "--admin-url (the schema's owner)", ctx->argv[0]);
}

static int
store_export(struct cdt_ctx *ctx, const struct cdt_cfg *cfg)
{
	struct cdt_store *st = NULL;
	jv counts = jv_invalid();
	int rc = open_store(cfg, CDT_STORE_NOCREATE, &st);

	if (!rc)
		rc = whole_store(ctx, st);
	if (rc)
		return rc;
	/* The payload is bytes: JSON Lines on stdout, whatever stdout is. */
	rc = cdt_store_export(st, stdout, &counts);
	if (!rc)
		jv_object_foreach(counts, k, v) {
			cdt_info("exported %.0f rows of %s",
				 jv_number_value(v), jv_string_value(k));
			jv_free(k);
			jv_free(v);
		}
	jv_free(counts);
	cdt_store_close(st);
	return rc;
}

static int
store_import(struct cdt_ctx *ctx, const struct cdt_cfg *cfg)
{
	const char *file = ctx->argc > 1 ? ctx->argv[1] : NULL;
	struct cdt_store *st = NULL;
	jv counts = jv_invalid();
	FILE *f = stdin;
	int rc;

	if (file && strcmp(file, "-")) {
		f = fopen(file, "re");
		if (!f)
			return cdt_err_errno(errno == ENOENT ? EX_NOINPUT
							     : EX_IOERR,
					     "cannot open '%s'", file);
	}
	rc = open_store(cfg, 0, &st);
	if (!rc && (rc = whole_store(ctx, st)))
		st = NULL;	/* closed */
	if (!rc)
		rc = cdt_store_import(st, f, f == stdin ? "stdin" : file,
				      &counts);
	if (f != stdin)
		fclose(f);
	cdt_store_close(st);
	if (rc) {
		jv_free(counts);
		return rc;
	}
	return counts_record("imported", counts);
}

static int
store_backup(struct cdt_ctx *ctx, const struct cdt_cfg *cfg)
{
	struct cdt_store *st = NULL;
	int rc;

	if (ctx->argc != 2)
		return cdt_usage(ctx, "backup needs a FILE");
	rc = open_store(cfg, CDT_STORE_NOCREATE, &st);
	if (!rc && (rc = whole_store(ctx, st)))
		return rc;
	if (!rc)
		rc = cdt_store_backup(st, ctx->argv[1]);
	if (!rc) {
		jv r = store_record(st);
		r = jv_object_set(r, jv_string("backup"),
				  jv_string(ctx->argv[1]));
		rc = cdt_emit(r);
	}
	cdt_store_close(st);
	return rc;
}

static int
store_run(struct cdt_ctx *ctx)
{
	static const struct {
		const char *name;
		int (*fn)(struct cdt_ctx *, const struct cdt_cfg *);
		int maxargs;
	} verbs[] = {
		{ "migrate", store_migrate, 1 },
		{ "status", store_status, 1 },
		{ "export", store_export, 1 },
		{ "import", store_import, 2 },
		{ "backup", store_backup, 2 },
	};
	struct cdt_cfg cfg;
	int rc;

	if (ctx->argc < 1)
		return cdt_usage(ctx, "store needs a verb: migrate, status, "
				 "export, import or backup");
	for (size_t i = 0; i < CDT_ARRAY_SIZE(verbs); i++) {
		if (strcmp(ctx->argv[0], verbs[i].name))
			continue;
		if (ctx->argc > verbs[i].maxargs)
			return cdt_usage(ctx, "too many operands for store %s",
					 verbs[i].name);
		admin_url = cdt_opt(ctx, "admin-url");
		if (admin_url && has_password(admin_url))
			return cdt_usage(ctx, "--admin-url must not carry a "
					 "password (it would be in argv): use "
					 "PGPASSFILE");
		if (cdt_opt(ctx, "app-role") && i != 0)
			return cdt_usage(ctx, "--app-role is for store "
					 "migrate");
		cdt_cfg_init(&cfg);
		rc = cdt_cfg_load(&cfg);
		if (!rc)
			rc = verbs[i].fn(ctx, &cfg);
		cdt_cfg_release(&cfg);
		return rc;
	}
	return cdt_usage(ctx, "unknown store verb '%.40s'", ctx->argv[0]);
}

static const struct cdt_opt store_opts[] = {
	{ "admin-url", 0, CDT_OPT_ARG, "URL",
	  "connect as this owner of the schema (no password in it)" },
	{ "app-role", 0, CDT_OPT_ARG, "ROLE",
	  "migrate: the role the tools connect as (default: store.url's)" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "auth", "...", "run cdt-auth", NULL, NULL },
	{ "session", "...", "run cdt-session", NULL, NULL },
	{ "chat", "...", "run cdt-chat", NULL, NULL },
	{ "files", "...", "run cdt-files", NULL, NULL },
	{ "checkpoint", "...", "run cdt-checkpoint", NULL, NULL },
	{ "route", "...", "run cdt-route", NULL, NULL },
	{ "render", "", "print any record stream for a person", NULL,
	  cdt_render_run },
	{ "store", "migrate|status|export|import [FILE]|backup FILE",
	  "the store: schema, status, export, import, backup", store_opts,
	  store_run },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt", "The CODITECT Development Toolkit.", cmds, NULL,
};

int
main(int argc, char **argv)
{
	if (argc > 1) {
		const struct cdt_cmd *c = cdt_opt_find_cmd(&tool, argv[1]);
		if (c && !c->run)
			return cdt_front_exec(argv[1], argc - 1, argv + 1);
	}
	return cdt_tool_main(&tool, argc, argv);
}
