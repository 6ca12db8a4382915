#include "compat.h"
#include "buf.h"
#include <dirent.h>
#include "err.h"
#include "files.h"
#include "record.h"
#include "sessws.h"
#include "store.h"
#include "tool.h"

const char *
cdt_sessws_id(struct cdt_ctx *ctx)
{
	const char *id = cdt_opt(ctx, "session");
	if (id)
		return id;
	if (jv_is_valid(ctx->session) &&
	    (id = cdt_record_str(ctx->session, "id")))
		return id;
	id = getenv("CDT_SESSION");
	return id && *id ? id : NULL;
}

static char *
row_dup(jv row, const char *key)
{
	const char *s = cdt_record_str(row, key);
	return s ? cdt_xstrdup(s) : NULL;
}

/* The caller's name and email for commits: the users row, as stored. */
static int
author(struct cdt_sessws *w)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(w->st, "SELECT name, email FROM users "
				"WHERE id = ?",
				JV_ARRAY(jv_string(w->who.user_id)), &rows);
	if (rc)
		return rc;
	if (jv_array_length(jv_copy(rows)) > 0) {
		jv u = jv_array_get(jv_copy(rows), 0);
		w->author_name = row_dup(u, "name");
		w->author_email = row_dup(u, "email");
		jv_free(u);
	}
	jv_free(rows);
	if (!w->author_email)
		w->author_email = cdt_xstrdup(w->who.email);
	if (!w->author_name || !*w->author_name) {
		/* The local part of the email, as git would show it. */
		free(w->author_name);
		size_t n = strcspn(w->author_email, "@");
		struct cdt_buf b = CDT_BUF_INIT;
		cdt_buf_add(&b, w->author_email, n ? n : 1);
		w->author_name = cdt_buf_detach(&b, NULL);
	}
	return 0;
}

int
cdt_sessws_load(struct cdt_store *st, const struct cdt_caller *who,
		const char *sql, const char *id, const char *perm, jv *row)
{
	jv rows = jv_invalid();
	*row = jv_invalid();
	int rc = cdt_store_exec(st, sql, JV_ARRAY(jv_string(id)), &rows);
	if (rc)
		return rc;
	if (jv_array_length(jv_copy(rows)) < 1) {
		jv_free(rows);
		return cdt_err(EX_NOINPUT, "no such session '%s'", id);
	}
	*row = jv_array_get(rows, 0);
	struct cdt_object o = {
		cdt_record_str(*row, "org_id"),
		cdt_record_str(*row, "team_id"),
		cdt_record_str(*row, "user_id"),
		cdt_record_str(*row, "project"),
	};
	return cdt_caller_authorize(who, perm, &o, "session", id);
}

int
cdt_sessws_open(struct cdt_ctx *ctx, const char *perm, struct cdt_sessws *w)
{
	memset(w, 0, sizeof(*w));
	cdt_cfg_init(&w->cfg);
	cdt_caller_init(&w->who);
	w->row = jv_invalid();

	const char *id = cdt_sessws_id(ctx);
	if (!id)
		return cdt_usage(ctx, "no workspace: give -C DIR or --session "
				 "ID (or pipe a session record, or set "
				 "CDT_SESSION)");
	if (!cdt_opt(ctx, "session") && ctx->session_conflict)
		return cdt_err(EX_DATAERR, "two session records that disagree "
			       "on stdin: name one with --session");
	int rc = cdt_cfg_load(&w->cfg);
	if (!rc)
		rc = cdt_store_open_cfg(&w->st, &w->cfg, 0);
	if (!rc)
		rc = cdt_caller_from_ctx(ctx, w->st, &w->cfg, &w->who);
	if (!rc)
		rc = cdt_sessws_load(w->st, &w->who, "SELECT id, org_id, "
				     "team_id, user_id, project, status, "
				     "workspace, sandbox FROM sessions WHERE "
				     "id = ?", id, perm, &w->row);
	if (rc)
		return rc;
	w->id = cdt_record_str(w->row, "id");
	w->workspace = cdt_record_str(w->row, "workspace");
	w->project = cdt_record_str(w->row, "project");
	if (!w->workspace || !*w->workspace)
		return cdt_err(EX_SOFTWARE, "session '%s' has no workspace",
			       id);
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "coditect/session-%s", w->id);
	w->branch = cdt_buf_detach(&b, NULL);
	return author(w);
}

void
cdt_sessws_release(struct cdt_sessws *w)
{
	free(w->branch);
	free(w->author_name);
	free(w->author_email);
	w->branch = w->author_name = w->author_email = NULL;
	jv_free(w->row);
	w->row = jv_invalid();
	w->id = w->workspace = w->project = NULL;
	cdt_caller_release(&w->who);
	cdt_store_close(w->st);
	w->st = NULL;
	cdt_cfg_release(&w->cfg);
}

char *
cdt_sessws_location(const struct cdt_cfg *cfg, const char *org,
		    const char *team, const char *user_id,
		    const char *project)
{
	const char *be = cdt_cfg_str(cfg, "storage.backend", "local");
	if (strcmp(be, "s3"))
		return NULL;
	const char *bucket = cdt_cfg_str(cfg, "storage.s3.bucket", NULL);
	const char *prefix = cdt_cfg_str(cfg, "storage.s3.prefix", NULL);
	struct cdt_buf b = CDT_BUF_INIT;
	if (bucket)
		cdt_buf_addf(&b, "s3://%s/", bucket);
	else
		cdt_buf_addf(&b, "s3://coditect-%s/", org);
	if (prefix && *prefix)
		cdt_buf_addf(&b, "%s/", prefix);
	cdt_buf_addf(&b, "teams/%s/users/%s/projects/%s", team, user_id,
		     project ? project : "default");
	return cdt_buf_detach(&b, NULL);
}

/* Does dir hold anything but .git and .cdt? */
static bool
has_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool any = false;
	if (!d)
		return false;
	while (!any && (e = readdir(d))) {
		const char *n = e->d_name;
		any = strcmp(n, ".") && strcmp(n, "..") && strcmp(n, ".git") &&
		      strcmp(n, ".cdt");
	}
	closedir(d);
	return any;
}

int
cdt_sessws_pull(const struct cdt_cfg *cfg, const char *location,
		const char *dir, bool *pulled)
{
	*pulled = false;
	if (has_files(dir))
		return 0;
	int rc = cdt_files_mirror(location, dir, cfg);
	*pulled = rc == 0;
	return rc;
}

int
cdt_sessws_push(const struct cdt_cfg *cfg, jv row)
{
	const char *txt = cdt_record_str(row, "sandbox");
	const char *ws = cdt_record_str(row, "workspace");
	jv sb = txt ? jv_parse(txt) : jv_invalid();
	jv loc = jv_get_kind(sb) == JV_KIND_OBJECT ?
		jv_getpath(sb, JV_ARRAY(jv_string("storage"),
					jv_string("location"))) :
		(jv_free(sb), jv_invalid());
	int rc = 0;
	if (jv_get_kind(loc) == JV_KIND_STRING && ws)
		rc = cdt_files_mirror(ws, jv_string_value(loc), cfg);
	jv_free(loc);
	return rc;
}
