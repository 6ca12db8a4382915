#include "compat.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "apikey.h"
#include "auth.h"
#include "authcmd.h"
#include "caller.h"
#include "cfg.h"
#include "err.h"
#include "hash.h"
#include "log.h"
#include "passwd.h"
#include "provider.h"
#include "store.h"

/* What every command holds; released in reverse by au_close. */
struct au {
	struct cdt_ctx *ctx;
	struct cdt_cfg cfg;
	struct cdt_store *st;
	struct cdt_auth a;
	struct cdt_caller who;
	int lock;
};

static void
au_init(struct au *u, struct cdt_ctx *ctx)
{
	memset(u, 0, sizeof(*u));
	u->ctx = ctx;
	u->lock = -1;
	cdt_cfg_init(&u->cfg);
	cdt_caller_init(&u->who);
	cdt_auth_init(&u->a, NULL, NULL);
}

static void
au_close(struct au *u)
{
	cdt_auth_unlock(&u->lock);
	cdt_caller_release(&u->who);
	cdt_auth_release(&u->a);
	cdt_store_close(u->st);
	u->st = NULL;
	cdt_cfg_release(&u->cfg);
}

/* The config, and the store it names (else $CDT_HOME/cdt.db). */
static int
au_open(struct au *u)
{
	int rc = cdt_cfg_load(&u->cfg);
	if (rc)
		return rc;
	rc = cdt_store_open_cfg(&u->st, &u->cfg, 0);
	if (!rc)
		cdt_auth_init(&u->a, u->st, &u->cfg);
	return rc;
}

/* Read and forward the record stream, unless stdin holds a secret. */
static int
au_stream(struct cdt_ctx *ctx, bool stdin_is_secret)
{
	const char *tf = cdt_opt(ctx, "token-file");
	if (stdin_is_secret || (tf && !strcmp(tf, "-")))
		return 0;
	int rc = cdt_stream_each(ctx, NULL, NULL);
	if (!rc)
		rc = cdt_stream_upstream(ctx, "acting");
	return rc;
}

/*
 * The reader of our output has gone: a command that only prints stops
 * here, quietly (DESIGN §2).
 */
static bool
au_gone(void)
{
	return cdt_out_broken();
}

static int
au_caller(struct au *u, bool create)
{
	struct cdt_caller_src src = {
		.token_file = cdt_opt(u->ctx, "token-file"),
		.auth = u->ctx->auth,
		.no_create = !create,
	};
	return cdt_caller_resolve(u->st, &u->cfg, &src, &u->who);
}

static jv
sv(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

static jv
one(struct cdt_store *st, int *rc, const char *sql, jv params)
{
	jv rows = jv_invalid();
	*rc = cdt_store_exec(st, sql, params, &rows);
	if (*rc)
		return jv_null();
	jv r = jv_array_length(jv_copy(rows)) > 0 ?
		jv_array_get(jv_copy(rows), 0) : jv_null();
	jv_free(rows);
	return r;
}

static const char *
str(jv row, const char *key)
{
	return jv_get_kind(row) == JV_KIND_OBJECT ?
		cdt_record_str(row, key) : NULL;
}

static int64_t
num(jv row, const char *key, int64_t def)
{
	if (jv_get_kind(row) != JV_KIND_OBJECT)
		return def;
	jv v = jv_object_get(jv_copy(row), jv_string(key));
	int64_t n = jv_get_kind(v) == JV_KIND_NUMBER ?
		(int64_t)jv_number_value(v) : def;
	jv_free(v);
	return n;
}

static jv
time_or_null(int64_t ms)
{
	char t[32];
	if (!ms)
		return jv_null();
	cdt_auth_time_str(ms, t);
	return jv_string(t);
}

/* An auth record out: the refresh token only when asked for. */
static int
emit_auth(jv cred, bool show_refresh)
{
	if (!show_refresh)
		cred = jv_object_delete(cred, jv_string("refresh_token"));
	return cdt_emit(cred);
}

/* ---- passwords --------------------------------------------------------- */

/*
 * One password: the next line of stdin with --password-stdin, else the
 * terminal without echo (twice when confirm).
 */
static int
read_password(struct cdt_ctx *ctx, const char *prompt, bool confirm,
	      struct cdt_buf *out)
{
	int rc;
	cdt_buf_init(out, CDT_PASSWD_MAX + 2);
	if (cdt_flag(ctx, "password-stdin")) {
		rc = cdt_passwd_read_line(0, out);
		if (rc == EX_NOINPUT)
			return cdt_err(EX_DATAERR, "no password on stdin");
		if (rc == EX_DATAERR)
			return cdt_err(EX_DATAERR, "the password on stdin is "
				       "longer than 1024 bytes or holds a NUL");
		return rc;
	}
	if (ctx->no_input)
		return cdt_usage(ctx, "a password is needed: give it on stdin "
				 "with --password-stdin (--no-input forbids "
				 "asking)");
	rc = cdt_passwd_read_tty(prompt, out);
	if (rc == EX_NOINPUT)
		return cdt_usage(ctx, "no terminal to ask for the password: "
				 "use --password-stdin");
	if (rc || !confirm)
		return rc;
	struct cdt_buf again = CDT_BUF_INIT;
	rc = cdt_passwd_read_tty("again: ", &again);
	if (!rc && (again.len != out->len ||
		    CRYPTO_memcmp(again.buf, out->buf, out->len)))
		rc = cdt_err(EX_DATAERR, "the passwords do not match");
	cdt_buf_release_secret(&again);
	return rc;
}

/* ---- init ---------------------------------------------------------------- */

int
cdt_authcmd_init(struct cdt_ctx *ctx)
{
	struct au u;
	char dflt[128], name[256];
	jv cred = jv_invalid();
	const char *org = cdt_opt(ctx, "org") ? cdt_opt(ctx, "org") : "local";
	const char *team = cdt_opt(ctx, "team") ? cdt_opt(ctx, "team") :
		"default";
	const char *email = cdt_opt(ctx, "email");
	int rc;

	if (ctx->argc)
		return cdt_usage(ctx, "init takes no operands");
	cdt_auth_local_user(dflt, sizeof(dflt), name, sizeof(name));
	if (!email)
		email = dflt;
	au_init(&u, ctx);
	rc = au_stream(ctx, false);
	if (!rc)
		rc = cdt_auth_check_name("org", org);
	if (!rc)
		rc = cdt_auth_check_name("team", team);
	if (!rc)
		rc = au_open(&u);
	if (rc)
		goto out;
	/* Whoever is logged in now, if anyone: it decides what init may do
	   to an org or a user that exists. */
	cdt_err_quiet(true);
	bool who = au_caller(&u, false) == 0;
	cdt_err_quiet(false);
	cdt_err_clear();
	rc = cdt_auth_lock(&u.lock);
	if (!rc)
		rc = cdt_store_begin(u.st, CDT_TXN_WRITE);
	if (rc)
		goto out;
	jv o = one(u.st, &rc, "SELECT id FROM orgs WHERE name = ?",
		   JV_ARRAY(jv_string(org)));
	char seen[64] = "";
	if (!rc && !str(o, "id"))	/* row level security hides others */
		rc = cdt_store_login_org(u.st, "org", org, NULL, seen,
					 sizeof(seen));
	bool exists = str(o, "id") != NULL || *seen;
	jv_free(o);
	if (!rc && exists) {
		cdt_store_rollback(u.st);
		if (who && !strcmp(u.who.org, org)) {
			cdt_info("org '%s' is set up already", org);
			rc = cdt_emit(jv_copy(u.who.record));
		} else {
			rc = cdt_err_class(EX_NOPERM, "auth", "org '%s' exists "
					   "already: log in with 'cdt-auth "
					   "login --org %s'", org, org);
		}
		goto out;
	}
	char em[CDT_AUTH_EMAIL_MAX + 1];
	if (!rc)
		rc = cdt_auth_email(email, em);
	if (!rc)
		rc = cdt_auth_keys(&u.a, CDT_AUTH_SIGNING | CDT_AUTH_PEPPER |
				   CDT_AUTH_CREATE);
	if (!rc)
		rc = cdt_auth_create_org(&u.a, org, team, em, name,
					 who && !strcmp(u.who.email, em),
					 &cred);
	if (!rc)
		rc = cdt_store_commit(u.st);
	else
		cdt_store_rollback(u.st);
	if (!rc)
		rc = cdt_auth_saved_write(cred);
	if (!rc) {
		cdt_info("created org '%s', team '%s', org-admin %s", org, team,
			 em);
		rc = emit_auth(cred, false);
		cred = jv_invalid();
	}
out:
	jv_free(cred);
	au_close(&u);
	return rc;
}

/* ---- register ------------------------------------------------------------- */

/* The team of the caller's org named name: *id, or 66 reported. */
static int
team_id(struct au *u, const char *name, char id[CDT_AUTH_ID_MAX + 1])
{
	int rc = cdt_auth_check_name("team", name);
	if (rc)
		return rc;
	jv t = one(u->st, &rc, "SELECT id FROM teams WHERE org_id = ? AND "
		   "name = ?", JV_ARRAY(jv_string(u->who.org_id),
					jv_string(name)));
	id[0] = '\0';
	if (!rc && str(t, "id"))
		snprintf(id, CDT_AUTH_ID_MAX + 1, "%s", str(t, "id"));
	else if (!rc)
		rc = cdt_err_class(EX_NOINPUT, "not_found", "no such team '%s'",
				   name);
	jv_free(t);
	return rc;
}

/* A user of the caller's org by email: the row, or 66 reported. */
static jv
org_user(struct au *u, int *rc, const char *email_in)
{
	char email[CDT_AUTH_EMAIL_MAX + 1];
	*rc = cdt_auth_email(email_in, email);
	if (*rc)
		return jv_null();
	jv r = one(u->st, rc, "SELECT u.id, u.email, u.disabled FROM users u "
		   "WHERE u.email = ? AND EXISTS (SELECT 1 FROM memberships m "
		   "WHERE m.user_id = u.id AND m.org_id = ?)",
		   JV_ARRAY(jv_string(email), jv_string(u->who.org_id)));
	if (!*rc && !str(r, "id"))
		*rc = cdt_err_class(EX_NOINPUT, "not_found", "no such user "
				    "'%s'", email);
	return r;
}

/*
 * Can the caller hand out role over o?  Admin there, and never above
 * their own rank.  0 or 77 reported.
 */
static int
may_grant(struct au *u, enum cdt_role role, const struct cdt_object *o,
	  const char *what, const char *id)
{
	int rc = cdt_caller_authorize(&u->who, "teams.update", o, what, id);
	if (rc)
		return rc;
	if (cdt_role_rank(role) > cdt_caller_rank(&u->who, o))
		return cdt_err_class(EX_NOPERM, "forbidden", "not allowed: "
				     "giving '%s' needs at least that role "
				     "yourself", cdt_role_name(role));
	return 0;
}

int
cdt_authcmd_register(struct cdt_ctx *ctx)
{
	struct au u;
	struct cdt_buf pw = CDT_BUF_INIT;
	char email[CDT_AUTH_EMAIL_MAX + 1], tid[CDT_AUTH_ID_MAX + 1] = "";
	char phc[CDT_PASSWD_PHC_MAX] = "";
	const char *org = cdt_opt(ctx, "org");
	const char *team = cdt_opt(ctx, "team");
	const char *rname = cdt_opt(ctx, "role") ? cdt_opt(ctx, "role") :
		"developer";
	enum cdt_role role = cdt_role_parse(rname);
	bool stdin_pw = cdt_flag(ctx, "password-stdin");
	int rc;

	if (!cdt_opt(ctx, "email") || !org || !team)
		return cdt_usage(ctx, "register needs --email, --org and "
				 "--team");
	if (ctx->argc)
		return cdt_usage(ctx, "register takes no operands");
	if (role == CDT_ROLE_NONE)
		return cdt_usage(ctx, "unknown role '%s'", rname);
	au_init(&u, ctx);
	rc = cdt_auth_email(cdt_opt(ctx, "email"), email);
	if (!rc)
		rc = au_stream(ctx, stdin_pw);
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (rc)
		goto out;
	if (strcmp(org, u.who.org)) {
		rc = cdt_err_class(EX_NOINPUT, "not_found", "no such org '%s'",
				   org);
		goto out;
	}
	rc = cdt_auth_check_name("team", team);
	if (rc)
		goto out;
	jv t = one(u.st, &rc, "SELECT id FROM teams WHERE org_id = ? AND "
		   "name = ?", JV_ARRAY(jv_string(u.who.org_id),
					jv_string(team)));
	if (str(t, "id"))
		snprintf(tid, sizeof(tid), "%s", str(t, "id"));
	jv_free(t);
	if (rc)
		goto out;
	struct cdt_object o = { u.who.org_id, tid[0] ? tid : NULL, NULL,
				NULL };
	if (!tid[0])
		rc = cdt_caller_authorize(&u.who, "teams.create", &o, "team",
					  team);
	else
		rc = may_grant(&u, role, &o, "team", team);
	if (rc)
		goto out;
	if (stdin_pw || (!ctx->no_input && isatty(0))) {
		char prompt[300];
		snprintf(prompt, sizeof(prompt), "password for %s: ", email);
		rc = read_password(ctx, prompt, true, &pw);
		const char *bad = rc ? NULL : cdt_passwd_check(pw.buf, pw.len);
		if (bad)
			rc = cdt_err(EX_DATAERR, "the password is %s", bad);
		if (!rc)
			rc = cdt_passwd_hash(pw.buf, pw.len, phc);
		if (rc)
			goto out;
	}
	rc = cdt_store_begin(u.st, CDT_TXN_WRITE);
	if (rc)
		goto out;
	double now = (double)cdt_auth_now_ms();
	char uid[CDT_UUID_LEN + 1] = "";
	bool created_team = false;
	if (!tid[0]) {
		rc = cdt_uuid4(tid);
		if (!rc)
			rc = cdt_store_exec(u.st, "INSERT INTO teams (id, "
					    "org_id, name, created_at) VALUES "
					    "(?, ?, ?, ?)",
					    JV_ARRAY(jv_string(tid),
						     jv_string(u.who.org_id),
						     jv_string(team),
						     jv_number(now)), NULL);
		created_team = true;
	}
	jv usr = rc ? jv_null() :
		one(u.st, &rc, "SELECT id, (SELECT count(*) FROM memberships m "
		    "WHERE m.user_id = users.id AND m.org_id = ?) AS member "
		    "FROM users WHERE email = ?",
		    JV_ARRAY(jv_string(u.who.org_id), jv_string(email)));
	if (!rc && num(usr, "member", 0))
		rc = cdt_err_class(EX_DATAERR, "conflict", "'%s' is in org '%s' "
				   "already: use 'cdt-auth grant'", email, org);
	char other[64] = "";	/* row level security hides other orgs' */
	if (!rc && !str(usr, "id"))
		rc = cdt_store_login_org(u.st, "user", email, NULL, other,
					 sizeof(other));
	if (!rc && (str(usr, "id") || *other)) {
		snprintf(uid, sizeof(uid), "%s",
			 str(usr, "id") ? str(usr, "id") : other);
		if (phc[0])
			cdt_warn("'%s' exists (in another org) and keeps its "
				 "password", email);
	} else if (!rc) {
		rc = cdt_uuid4(uid);
		if (!rc)
			rc = cdt_store_exec(u.st, "INSERT INTO users (id, email, "
					    "password_hash, created_at, "
					    "updated_at) VALUES (?, ?, ?, ?, ?)",
					    JV_ARRAY(jv_string(uid),
						     jv_string(email),
						     sv(phc[0] ? phc : NULL),
						     jv_number(now),
						     jv_number(now)), NULL);
	}
	jv_free(usr);
	bool orgwide = role == CDT_ROLE_ORG_ADMIN;
	if (!rc)
		rc = cdt_store_exec(u.st, "INSERT INTO memberships (user_id, "
				    "org_id, team_id, project, role, "
				    "created_at) VALUES (?, ?, ?, NULL, ?, ?)",
				    JV_ARRAY(jv_string(uid),
					     jv_string(u.who.org_id),
					     orgwide ? jv_null() :
					     jv_string(tid),
					     jv_string(cdt_role_name(role)),
					     jv_number(now)), NULL);
	if (!rc)
		rc = cdt_auth_audit(&u.a, u.who.user_id, u.who.org_id,
				    "user_registered",
				    JV_OBJECT(jv_string("email"),
					      jv_string(email),
					      jv_string("team"),
					      jv_string(team),
					      jv_string("role"),
					      jv_string(cdt_role_name(role)),
					      jv_string("team_created"),
					      jv_bool(created_team)));
	if (!rc)
		rc = cdt_store_commit(u.st);
	else
		cdt_store_rollback(u.st);
	if (rc)
		goto out;
	if (!phc[0])
		cdt_info("'%s' has no password yet: an org-admin sets one with "
			 "'cdt-auth passwd --email %s'", email, email);
	jv r = cdt_record_new("user");
	r = jv_object_set(r, jv_string("id"), jv_string(uid));
	r = jv_object_set(r, jv_string("email"), jv_string(email));
	r = jv_object_set(r, jv_string("org"), jv_string(org));
	r = jv_object_set(r, jv_string("team"), jv_string(team));
	r = jv_object_set(r, jv_string("role"),
			  jv_string(cdt_role_name(role)));
	r = jv_object_set(r, jv_string("has_password"), jv_bool(phc[0]));
	if (cdt_out_mode() == CDT_OUT_TEXT) {
		jv_free(r);
		rc = cdt_out_text("registered %s as %s in %s/%s\n", email,
				  cdt_role_name(role), org, team);
	} else {
		rc = cdt_emit(r);
	}
out:
	cdt_buf_release_secret(&pw);
	OPENSSL_cleanse(phc, sizeof(phc));
	au_close(&u);
	return rc;
}

/* ---- login, refresh, logout ------------------------------------------------ */

/* Rotate the saved login under the lock; *cred the new credentials. */
static int
refresh_saved(struct au *u, jv *cred)
{
	jv saved = jv_null();
	*cred = jv_invalid();
	int rc = cdt_auth_lock(&u->lock);
	if (!rc)
		rc = cdt_auth_saved_read(&saved);
	if (rc)
		goto out;
	const char *rt = cdt_record_str(saved, "refresh_token");
	if (jv_get_kind(saved) != JV_KIND_OBJECT || !rt) {
		rc = cdt_err_class(EX_NOPERM, "auth", "not logged in: run "
				   "'cdt-auth login --email EMAIL'");
		goto out;
	}
	rc = cdt_auth_refresh(&u->a, rt, cred);
	if (!rc)
		rc = cdt_auth_saved_write(*cred);
out:
	if (jv_get_kind(saved) == JV_KIND_OBJECT &&
	    cdt_record_str(saved, "refresh_token")) {
		const char *rt2 = cdt_record_str(saved, "refresh_token");
		OPENSSL_cleanse((void *)(uintptr_t)rt2, strlen(rt2));
	}
	jv_free(saved);
	cdt_auth_unlock(&u->lock);
	return rc;
}

int
cdt_authcmd_login(struct cdt_ctx *ctx)
{
	struct au u;
	struct cdt_buf pw = CDT_BUF_INIT;
	jv cred = jv_invalid();
	const char *email = cdt_opt(ctx, "email");
	bool stdin_pw = cdt_flag(ctx, "password-stdin");
	int rc;

	if (ctx->argc)
		return cdt_usage(ctx, "login takes no operands (the password "
				 "is asked for, or read with "
				 "--password-stdin)");
	if (!email && (cdt_opt(ctx, "org") || stdin_pw))
		return cdt_usage(ctx, "--org and --password-stdin need "
				 "--email");
	au_init(&u, ctx);
	rc = au_stream(ctx, stdin_pw);
	if (!rc)
		rc = au_open(&u);
	if (rc)
		goto out;
	if (email) {
		char prompt[300];
		snprintf(prompt, sizeof(prompt), "password for %s: ", email);
		rc = read_password(ctx, prompt, false, &pw);
		if (!rc)
			rc = cdt_auth_login(&u.a, email, cdt_opt(ctx, "org"),
					    pw.buf, pw.len, &cred);
		if (!rc && !cdt_flag(ctx, "no-save"))
			rc = cdt_auth_saved_write(cred);
	} else {
		if (cdt_flag(ctx, "no-save"))
			cdt_warn("--no-save without --email: the saved login "
				 "is rotated and saved again");
		rc = refresh_saved(&u, &cred);
	}
	if (!rc) {
		rc = emit_auth(cred, cdt_flag(ctx, "show-refresh-token"));
		cred = jv_invalid();
	}
out:
	jv_free(cred);
	cdt_buf_release_secret(&pw);
	au_close(&u);
	return rc;
}

/* The refresh token in --token-file, if that is what it holds. */
static int
token_file_refresh(struct cdt_ctx *ctx, char **rt)
{
	const char *tf = cdt_opt(ctx, "token-file");
	struct cdt_buf b = CDT_BUF_INIT;
	*rt = NULL;
	if (!tf)
		return 0;
	int fd = strcmp(tf, "-") ? open(tf, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		return cdt_err_errno(EX_NOINPUT, "cannot read the token file "
				     "'%s'", tf);
	b.max = 4096;
	char chunk[512];
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || cdt_buf_add(&b, chunk, (size_t)n))
			break;
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (fd > 0)
		close(fd);
	while (b.len && (b.buf[b.len - 1] == '\n' || b.buf[b.len - 1] == '\r' ||
			 b.buf[b.len - 1] == ' '))
		cdt_buf_setlen(&b, b.len - 1);
	if (cdt_auth_is_refresh_token(b.buf))
		*rt = cdt_xstrdup(b.buf);
	cdt_buf_release_secret(&b);
	return rc;
}

static void
free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

int
cdt_authcmd_refresh(struct cdt_ctx *ctx)
{
	struct au u;
	jv cred = jv_invalid();
	char *rt = NULL;
	int rc;

	if (ctx->argc)
		return cdt_usage(ctx, "refresh takes no operands");
	au_init(&u, ctx);
	rc = token_file_refresh(ctx, &rt);
	if (!rc && cdt_opt(ctx, "token-file") && !rt)
		rc = cdt_usage(ctx, "--token-file must hold a refresh token "
			       "(cdt_rt_...) for refresh");
	if (!rc)
		rc = au_stream(ctx, false);
	if (!rc)
		rc = au_open(&u);
	if (rc)
		goto out;
	if (rt) {
		/* The holder of a refresh token gets its successor. */
		rc = cdt_auth_refresh(&u.a, rt, &cred);
		if (!rc) {
			rc = emit_auth(cred, true);
			cred = jv_invalid();
		}
		goto out;
	}
	rc = refresh_saved(&u, &cred);
	if (!rc) {
		rc = emit_auth(cred, cdt_flag(ctx, "show-refresh-token"));
		cred = jv_invalid();
	}
out:
	free_secret(rt);
	jv_free(cred);
	au_close(&u);
	return rc;
}

int
cdt_authcmd_logout(struct cdt_ctx *ctx)
{
	struct au u;
	jv saved = jv_null();
	char *rt = NULL;
	int rc;

	if (ctx->argc)
		return cdt_usage(ctx, "logout takes no operands");
	au_init(&u, ctx);
	rc = token_file_refresh(ctx, &rt);
	if (!rc)
		rc = au_stream(ctx, false);
	if (!rc)
		rc = au_open(&u);
	if (rc)
		goto out;
	if (rt) {
		rc = cdt_auth_logout(&u.a, rt, NULL, NULL);
		goto out;
	}
	rc = cdt_auth_lock(&u.lock);
	if (!rc)
		rc = cdt_auth_saved_read(&saved);
	if (rc)
		goto out;
	if (jv_get_kind(saved) == JV_KIND_OBJECT && !cdt_opt(ctx, "token-file")
	    && !jv_is_valid(ctx->auth) && !getenv("CDT_TOKEN")) {
		const char *user = NULL;
		jv us = jv_object_get(jv_copy(saved), jv_string("user"));
		user = str(us, "id");
		rc = cdt_auth_logout(&u.a, cdt_record_str(saved,
							  "refresh_token"),
				     NULL, user);
		jv_free(us);
		if (!rc)
			rc = cdt_auth_saved_remove();
		if (!rc)
			cdt_info("logged out");
		goto out;
	}
	cdt_auth_unlock(&u.lock);
	if (!cdt_opt(ctx, "token-file") && !jv_is_valid(ctx->auth) &&
	    !getenv("CDT_TOKEN")) {
		cdt_info("not logged in");
		goto out;
	}
	rc = au_caller(&u, false);
	if (rc)
		goto out;
	if (u.who.kind != CDT_CALLER_TOKEN) {
		rc = cdt_usage(ctx, "an API key is not a login: revoke it with "
			       "'cdt-auth keys revoke'");
		goto out;
	}
	rc = cdt_auth_logout(&u.a, NULL, u.who.family, u.who.user_id);
	if (!rc && !strcmp(u.who.source, "auth.json"))
		rc = cdt_auth_saved_remove();
out:
	jv_free(saved);
	free_secret(rt);
	au_close(&u);
	return rc;
}

/* ---- whoami, token ------------------------------------------------------------ */

int
cdt_authcmd_whoami(struct cdt_ctx *ctx)
{
	struct au u;
	int rc;
	if (ctx->argc)
		return cdt_usage(ctx, "whoami takes no operands");
	au_init(&u, ctx);
	rc = au_stream(ctx, false);
	if (!rc && au_gone())
		goto out;
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (!rc && cdt_out_mode() == CDT_OUT_TEXT) {
		jv roles = jv_object_get(jv_copy(u.who.record),
					 jv_string("roles"));
		jv rs = jv_dump_string(roles, 0);
		rc = cdt_out_text("%s in %s/%s %s (%s%s%s)\n", u.who.email,
				  u.who.org, u.who.team, jv_string_value(rs),
				  u.who.kind == CDT_CALLER_KEY ? "API key "
				  "cdt_sk_" : "from ",
				  u.who.kind == CDT_CALLER_KEY ?
				  u.who.key_id : u.who.source,
				  u.who.kind == CDT_CALLER_KEY ? "..." : "");
		jv_free(rs);
	} else if (!rc) {
		rc = cdt_emit(jv_copy(u.who.record));
	}
out:
	au_close(&u);
	return rc;
}

int
cdt_authcmd_token(struct cdt_ctx *ctx)
{
	struct au u;
	int rc;
	if (ctx->argc)
		return cdt_usage(ctx, "token takes no operands");
	au_init(&u, ctx);
	rc = au_stream(ctx, false);
	if (!rc && au_gone())
		goto out;
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (!rc && u.who.kind != CDT_CALLER_TOKEN)
		rc = cdt_err_class(EX_USAGE, "usage", "the caller is an API "
				   "key: there is no access token to print");
	if (!rc) {
		const char *t = cdt_record_str(u.who.record, "token");
		rc = cdt_out_bytes(t, strlen(t));
		if (!rc)
			rc = cdt_out_bytes("\n", 1);
	}
out:
	au_close(&u);
	return rc;
}

/* ---- passwd ----------------------------------------------------------------- */

int
cdt_authcmd_passwd(struct cdt_ctx *ctx)
{
	struct au u;
	struct cdt_buf cur = CDT_BUF_INIT, pw = CDT_BUF_INIT;
	jv target = jv_null();
	jv cred = jv_invalid();
	const char *email = cdt_opt(ctx, "email");
	int rc;

	if (ctx->argc)
		return cdt_usage(ctx, "passwd takes no operands (passwords are "
				 "asked for, or read with --password-stdin)");
	au_init(&u, ctx);
	rc = au_stream(ctx, cdt_flag(ctx, "password-stdin"));
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (rc)
		goto out;
	bool self = true;
	char uid[CDT_AUTH_ID_MAX + 1];
	snprintf(uid, sizeof(uid), "%s", u.who.user_id);
	if (email) {
		target = org_user(&u, &rc, email);
		if (rc)
			goto out;
		self = !strcmp(str(target, "id"), u.who.user_id);
		snprintf(uid, sizeof(uid), "%s", str(target, "id"));
		struct cdt_object o = { u.who.org_id, NULL, NULL, NULL };
		if (!self && cdt_caller_rank(&u.who, &o) < 4) {
			rc = cdt_err_class(EX_NOPERM, "forbidden", "not "
					   "allowed: setting another user's "
					   "password needs org-admin");
			goto out;
		}
	}
	if (self && u.who.kind == CDT_CALLER_KEY) {
		rc = cdt_err_class(EX_NOPERM, "forbidden", "not allowed: an API "
				   "key cannot change its owner's password");
		goto out;
	}
	if (self) {
		jv h = one(u.st, &rc, "SELECT password_hash FROM users WHERE "
			   "id = ?", JV_ARRAY(jv_string(uid)));
		bool has = str(h, "password_hash") != NULL;
		jv_free(h);
		if (!rc && has) {
			rc = read_password(ctx, "current password: ", false,
					   &cur);
			if (!rc)
				rc = cdt_auth_check_password(&u.a, uid,
							     cur.buf, cur.len);
		}
		if (rc)
			goto out;
	}
	rc = read_password(ctx, "new password: ", true, &pw);
	if (!rc)
		rc = cdt_auth_set_password(&u.a, uid, pw.buf, pw.len,
					   u.who.user_id);
	if (rc)
		goto out;
	cdt_info("password changed%s", self ? "; your other logins are "
		 "revoked" : "");
	if (self && !strcmp(u.who.source, "auth.json")) {
		/* Every login of the user was revoked: stay logged in here. */
		rc = cdt_store_begin(u.st, CDT_TXN_WRITE);
		if (!rc)
			rc = cdt_auth_issue(&u.a, uid, u.who.org_id,
					    u.who.team_id, NULL, &cred);
		if (!rc)
			rc = cdt_store_commit(u.st);
		else
			cdt_store_rollback(u.st);
		if (!rc)
			rc = cdt_auth_saved_write(cred);
	} else if (self) {
		cdt_info("the token you used is revoked too: log in again");
	}
out:
	jv_free(cred);
	jv_free(target);
	cdt_buf_release_secret(&cur);
	cdt_buf_release_secret(&pw);
	au_close(&u);
	return rc;
}

/* ---- users -------------------------------------------------------------------- */

/* One user record per user, with every grant it holds in the org. */
static jv
user_records(jv rows)
{
	jv users = jv_array();
	jv cur = jv_null();
	int64_t now = cdt_auth_now_ms();
	jv_array_foreach(rows, i, r) {
		const char *id = str(r, "id");
		if (jv_get_kind(cur) != JV_KIND_OBJECT ||
		    strcmp(str(cur, "id"), id)) {
			if (jv_get_kind(cur) == JV_KIND_OBJECT)
				users = jv_array_append(users, cur);
			cur = cdt_record_new("user");
			cur = jv_object_set(cur, jv_string("id"),
					    jv_string(id));
			cur = jv_object_set(cur, jv_string("email"),
					    jv_string(str(r, "email")));
			cur = jv_object_set(cur, jv_string("name"),
					    sv(str(r, "name")));
			cur = jv_object_set(cur, jv_string("disabled"),
					    jv_bool(num(r, "disabled", 0)));
			cur = jv_object_set(cur, jv_string("locked"),
					    jv_bool(num(r, "locked_until", 0) >
						    now));
			cur = jv_object_set(cur, jv_string("has_password"),
					    jv_bool(num(r, "has_pw", 0)));
			cur = jv_object_set(cur, jv_string("created_at"),
					    time_or_null(num(r, "created_at",
							     0)));
			cur = jv_object_set(cur, jv_string("roles"),
					    jv_array());
		}
		jv g = jv_object();
		g = jv_object_set(g, jv_string("role"),
				  jv_string(str(r, "role")));
		g = jv_object_set(g, jv_string("team"), sv(str(r, "team")));
		g = jv_object_set(g, jv_string("project"),
				  sv(str(r, "project")));
		jv roles = jv_object_get(jv_copy(cur), jv_string("roles"));
		cur = jv_object_set(cur, jv_string("roles"),
				    jv_array_append(roles, g));
		jv_free(r);
	}
	if (jv_get_kind(cur) == JV_KIND_OBJECT)
		users = jv_array_append(users, cur);
	else
		jv_free(cur);
	return users;
}

static int
users_list(struct au *u)
{
	jv rows = jv_invalid();
	struct cdt_object o = { u->who.org_id, NULL, NULL, NULL };
	int rc = cdt_caller_authorize(&u->who, "teams.read", &o, "org",
				      u->who.org);
	if (!rc)
		rc = cdt_store_exec(u->st, "SELECT u.id, u.email, u.name, "
				    "u.disabled, u.locked_until, "
				    "u.password_hash IS NOT NULL AS has_pw, "
				    "u.created_at, m.role, t.name AS team, "
				    "m.project FROM users u JOIN memberships m "
				    "ON m.user_id = u.id LEFT JOIN teams t ON "
				    "t.id = m.team_id WHERE m.org_id = ? "
				    "ORDER BY u.email, m.created_at, m.role",
				    JV_ARRAY(jv_string(u->who.org_id)), &rows);
	if (rc)
		return rc;
	jv users = user_records(rows);
	jv_free(rows);
	jv_array_foreach(users, i, x) {
		if (rc) {
			jv_free(x);
		} else if (cdt_out_mode() == CDT_OUT_TEXT) {
			jv rs = jv_object_get(jv_copy(x), jv_string("roles"));
			jv d = jv_dump_string(rs, 0);
			jv dis = jv_object_get(jv_copy(x),
					       jv_string("disabled"));
			rc = cdt_out_text("%-32s %s%s\n", str(x, "email"),
					  jv_string_value(d),
					  jv_get_kind(dis) == JV_KIND_TRUE ?
					  " disabled" : "");
			jv_free(dis);
			jv_free(d);
			jv_free(x);
		} else {
			rc = cdt_emit(x);
		}
	}
	jv_free(users);
	return rc;
}

static int
users_disable(struct au *u, const char *email)
{
	struct cdt_object o = { u->who.org_id, NULL, NULL, NULL };
	int rc;
	jv t = org_user(u, &rc, email);
	if (rc)
		goto out;
	if (cdt_caller_rank(&u->who, &o) < 4) {
		rc = cdt_err_class(EX_NOPERM, "forbidden", "not allowed: "
				   "disabling a user needs org-admin");
		goto out;
	}
	if (!strcmp(str(t, "id"), u->who.user_id)) {
		rc = cdt_err(EX_DATAERR, "you cannot disable yourself");
		goto out;
	}
	rc = cdt_store_begin(u->st, CDT_TXN_WRITE);
	if (!rc)
		rc = cdt_store_exec(u->st, "UPDATE users SET disabled = 1, "
				    "updated_at = ? WHERE id = ?",
				    JV_ARRAY(jv_number((double)
						       cdt_auth_now_ms()),
					     jv_string(str(t, "id"))), NULL);
	if (!rc)
		rc = cdt_auth_revoke_user(&u->a, str(t, "id"));
	if (!rc)
		rc = cdt_auth_audit(&u->a, u->who.user_id, u->who.org_id,
				    "user_disabled",
				    JV_OBJECT(jv_string("email"),
					      jv_string(str(t, "email"))));
	if (!rc)
		rc = cdt_store_commit(u->st);
	else
		cdt_store_rollback(u->st);
out:
	jv_free(t);
	return rc;
}

int
cdt_authcmd_users(struct cdt_ctx *ctx)
{
	struct au u;
	const char *sub = ctx->argc ? ctx->argv[0] : NULL;
	int rc;
	if (!sub || (strcmp(sub, "list") && strcmp(sub, "disable")))
		return cdt_usage(ctx, "users needs 'list' or 'disable EMAIL'");
	if (!strcmp(sub, "list") ? ctx->argc != 1 : ctx->argc != 2)
		return cdt_usage(ctx, "users %s takes %s", sub,
				 !strcmp(sub, "list") ? "no operands" :
				 "one EMAIL");
	au_init(&u, ctx);
	rc = au_stream(ctx, false);
	if (!rc && au_gone() && !strcmp(sub, "list"))
		goto out;
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (!rc)
		rc = !strcmp(sub, "list") ? users_list(&u) :
			users_disable(&u, ctx->argv[1]);
out:
	au_close(&u);
	return rc;
}

/* ---- keys ----------------------------------------------------------------------- */

static bool
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static jv
key_record(jv r, const char *team)
{
	jv k = cdt_record_new("api_key");
	k = jv_object_set(k, jv_string("id"), jv_string(str(r, "id")));
	k = jv_object_set(k, jv_string("name"), jv_string(str(r, "name")));
	k = jv_object_set(k, jv_string("role"), jv_string(str(r, "role")));
	k = jv_object_set(k, jv_string("created_at"),
			  time_or_null(num(r, "created_at", 0)));
	k = jv_object_set(k, jv_string("expires_at"),
			  time_or_null(num(r, "expires_at", 0)));
	k = jv_object_set(k, jv_string("team"), sv(team));
	k = jv_object_set(k, jv_string("project"), sv(str(r, "project")));
	return k;
}

static int
keys_create(struct au *u)
{
	struct cdt_ctx *ctx = u->ctx;
	const char *name = cdt_opt(ctx, "name");
	const char *rname = cdt_opt(ctx, "role");
	const char *exp = cdt_opt(ctx, "expires");
	const char *team = cdt_opt(ctx, "team");
	const char *project = cdt_opt(ctx, "project");
	char tid[CDT_AUTH_ID_MAX + 1];
	char key[CDT_APIKEY_LEN + 1], mac[CDT_APIKEY_MAC_HEX + 1];
	struct cdt_apikey k;
	int64_t ttl = 0;
	int rc = 0;

	memset(&k, 0, sizeof(k));
	if (!name || !rname)
		return cdt_usage(ctx, "keys create needs --name and --role");
	enum cdt_role role = cdt_role_parse(rname);
	if (role == CDT_ROLE_NONE)
		return cdt_usage(ctx, "unknown role '%s'", rname);
	if (!*name || strlen(name) > 64 || !printable(name))
		return cdt_usage(ctx, "--name takes 1 to 64 printable "
				 "characters");
	if (exp && (cdt_parse_duration(exp, &ttl) || ttl <= 0))
		return cdt_usage(ctx, "--expires takes a duration such as 30d, "
				 "not '%s'", exp);
	if (project && (rc = cdt_auth_check_name("project", project)))
		return rc;
	if (role == CDT_ROLE_ORG_ADMIN && (team || project))
		return cdt_usage(ctx, "an org-admin key is org-wide: no --team "
				 "or --project");
	snprintf(tid, sizeof(tid), "%s", u->who.team_id);
	if (team && (rc = team_id(u, team, tid)))
		return rc;
	bool orgwide = role == CDT_ROLE_ORG_ADMIN;
	struct cdt_object o = { u->who.org_id, orgwide ? NULL : tid,
				u->who.user_id, project };
	rc = cdt_caller_authorize(&u->who, "keys.create", &o, "team",
				  orgwide ? u->who.org : team ? team :
				  u->who.team);
	if (!rc && cdt_role_rank(role) > cdt_caller_rank(&u->who, &o))
		rc = cdt_err_class(EX_NOPERM, "forbidden", "not allowed: a "
				   "'%s' key needs that role yourself",
				   cdt_role_name(role));
	if (!rc)
		rc = cdt_auth_keys(&u->a, CDT_AUTH_PEPPER | CDT_AUTH_CREATE);
	if (!rc)
		rc = cdt_apikey_new(&k, key);
	if (rc)
		goto out;
	cdt_apikey_mac(u->a.pepper, sizeof(u->a.pepper), k.secret, mac);
	int64_t now = cdt_auth_now_ms();
	rc = cdt_store_begin(u->st, CDT_TXN_WRITE);
	if (!rc)
		rc = cdt_store_exec(u->st, "INSERT INTO api_keys (id, name, "
				    "role, hmac, user_id, org_id, team_id, "
				    "project, created_at, expires_at) VALUES "
				    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				    jv_array_append(jv_array_append(
				    JV_ARRAY(jv_string(k.id), jv_string(name),
					     jv_string(cdt_role_name(role)),
					     jv_string(mac),
					     jv_string(u->who.user_id),
					     jv_string(u->who.org_id),
					     orgwide ? jv_null() :
					     jv_string(tid), sv(project)),
				    jv_number((double)now)),
				    ttl ? jv_number((double)(now + ttl)) :
				    jv_null()), NULL);
	if (!rc)
		rc = cdt_auth_audit(&u->a, u->who.user_id, u->who.org_id,
				    "key_created",
				    JV_OBJECT(jv_string("id"),
					      jv_string(k.id),
					      jv_string("name"),
					      jv_string(name),
					      jv_string("role"),
					      jv_string(cdt_role_name(role))));
	if (!rc)
		rc = cdt_store_commit(u->st);
	else
		cdt_store_rollback(u->st);
	if (rc)
		goto out;
	if (cdt_out_mode() == CDT_OUT_TEXT) {
		rc = cdt_out_text("%s\n", key);
	} else {
		jv r = JV_OBJECT(jv_string("id"), jv_string(k.id),
				 jv_string("name"), jv_string(name),
				 jv_string("role"),
				 jv_string(cdt_role_name(role)),
				 jv_string("project"), sv(project));
		r = jv_object_set(r, jv_string("created_at"),
				  jv_number((double)now));
		r = jv_object_set(r, jv_string("expires_at"),
				  ttl ? jv_number((double)(now + ttl)) :
				  jv_null());
		jv rec = key_record(r, orgwide ? NULL : team ? team :
				    u->who.team);
		jv_free(r);
		rec = jv_object_set(rec, jv_string("key"), jv_string(key));
		rc = cdt_emit(rec);
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	cdt_apikey_wipe(&k);
	return rc;
}

static int
keys_list(struct au *u)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(u->st, "SELECT k.id, k.name, k.role, "
				"k.user_id, k.org_id, k.team_id, k.project, "
				"k.created_at, k.expires_at, k.revoked_at, "
				"k.last_used_at, t.name AS team FROM api_keys "
				"k LEFT JOIN teams t ON t.id = k.team_id WHERE "
				"k.org_id = ? AND k.user_id = ? ORDER BY "
				"k.created_at, k.id",
				JV_ARRAY(jv_string(u->who.org_id),
					 jv_string(u->who.user_id)), &rows);
	if (rc)
		return rc;
	jv_array_foreach(rows, i, r) {
		struct cdt_object o = { str(r, "org_id"), str(r, "team_id"),
					str(r, "user_id"), str(r, "project") };
		if (!rc && cdt_caller_can(&u->who, "keys.read", &o)) {
			jv k = key_record(r, str(r, "team"));
			k = jv_object_set(k, jv_string("revoked_at"),
					  time_or_null(num(r, "revoked_at",
							   0)));
			k = jv_object_set(k, jv_string("last_used_at"),
					  time_or_null(num(r, "last_used_at",
							   0)));
			rc = cdt_emit(k);
		}
		jv_free(r);
	}
	jv_free(rows);
	return rc;
}

static int
keys_revoke(struct au *u, const char *arg)
{
	char id[CDT_APIKEY_ID_LEN + 1];
	/* A whole key, its "cdt_sk_ID..." form, or the bare id. */
	const char *p = !strncmp(arg, CDT_APIKEY_PREFIX, 7) ? arg + 7 : arg;
	size_t n = strcspn(p, "_.");
	if (n != CDT_APIKEY_ID_LEN)
		return cdt_err_class(EX_NOINPUT, "not_found", "no such key "
				     "'%.40s'", arg);
	memcpy(id, p, n);
	id[n] = '\0';
	int rc;
	jv r = one(u->st, &rc, "SELECT id, user_id, org_id, team_id, project, "
		   "revoked_at, name FROM api_keys WHERE id = ?",
		   JV_ARRAY(jv_string(id)));
	if (!rc && !str(r, "id"))
		rc = cdt_err_class(EX_NOINPUT, "not_found", "no such key '%s'",
				   id);
	struct cdt_object o = { str(r, "org_id"), str(r, "team_id"),
				str(r, "user_id"), str(r, "project") };
	if (!rc)
		rc = cdt_caller_authorize(&u->who, "keys.delete", &o, "key",
					  id);
	if (!rc && num(r, "revoked_at", 0)) {
		cdt_info("key %s was revoked already", id);
		goto out;
	}
	if (!rc)
		rc = cdt_store_begin(u->st, CDT_TXN_WRITE);
	if (!rc)
		rc = cdt_store_exec(u->st, "UPDATE api_keys SET revoked_at = ? "
				    "WHERE id = ? AND revoked_at IS NULL",
				    JV_ARRAY(jv_number((double)
						       cdt_auth_now_ms()),
					     jv_string(id)), NULL);
	if (!rc)
		rc = cdt_auth_audit(&u->a, u->who.user_id, u->who.org_id,
				    "key_revoked",
				    JV_OBJECT(jv_string("id"), jv_string(id),
					      jv_string("name"),
					      jv_string(str(r, "name"))));
	if (!rc)
		rc = cdt_store_commit(u->st);
	else
		cdt_store_rollback(u->st);
out:
	jv_free(r);
	return rc;
}

int
cdt_authcmd_keys(struct cdt_ctx *ctx)
{
	struct au u;
	const char *sub = ctx->argc ? ctx->argv[0] : NULL;
	int rc;
	if (!sub || (strcmp(sub, "create") && strcmp(sub, "list") &&
		     strcmp(sub, "revoke")))
		return cdt_usage(ctx, "keys needs 'create', 'list' or "
				 "'revoke ID'");
	if (!strcmp(sub, "revoke") ? ctx->argc != 2 : ctx->argc != 1)
		return cdt_usage(ctx, "keys %s takes %s", sub,
				 !strcmp(sub, "revoke") ? "one ID" :
				 "no operands");
	au_init(&u, ctx);
	rc = au_stream(ctx, false);
	if (!rc && au_gone() && !strcmp(sub, "list"))
		goto out;
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (!rc)
		rc = !strcmp(sub, "create") ? keys_create(&u) :
			!strcmp(sub, "list") ? keys_list(&u) :
			keys_revoke(&u, ctx->argv[1]);
out:
	au_close(&u);
	return rc;
}

/* ---- grant, revoke ------------------------------------------------------------ */

/* Operands and scope of grant/revoke; 0 or a reported status. */
static int
grant_scope(struct au *u, enum cdt_role *role, jv *user,
	    char tid[CDT_AUTH_ID_MAX + 1], const char **project)
{
	struct cdt_ctx *ctx = u->ctx;
	const char *team = cdt_opt(ctx, "team");
	int rc;
	*project = cdt_opt(ctx, "project");
	*user = jv_null();
	tid[0] = '\0';
	*role = cdt_role_parse(ctx->argv[1]);
	if (*role == CDT_ROLE_NONE)
		return cdt_usage(ctx, "unknown role '%s'", ctx->argv[1]);
	if (*role == CDT_ROLE_ORG_ADMIN && (team || *project))
		return cdt_usage(ctx, "org-admin is org-wide: no --team or "
				 "--project");
	if (*role == CDT_ROLE_TEAM_ADMIN && *project)
		return cdt_usage(ctx, "team-admin is for a team: no --project");
	if (*project && (rc = cdt_auth_check_name("project", *project)))
		return rc;
	if (team && (rc = team_id(u, team, tid)))
		return rc;
	if (!team && (*project || *role != CDT_ROLE_ORG_ADMIN))
		snprintf(tid, CDT_AUTH_ID_MAX + 1, "%s", u->who.team_id);
	*user = org_user(u, &rc, ctx->argv[0]);
	if (rc)
		return rc;
	struct cdt_object o = { u->who.org_id, tid[0] ? tid : NULL, NULL,
				*project };
	return may_grant(u, *role, &o, "team", team ? team : u->who.team);
}

static int
grant_or_revoke(struct cdt_ctx *ctx, bool grant)
{
	struct au u;
	jv user = jv_null();
	char tid[CDT_AUTH_ID_MAX + 1];
	const char *project = NULL;
	enum cdt_role role;
	int rc;

	if (ctx->argc != 2)
		return cdt_usage(ctx, "%s takes EMAIL ROLE", grant ? "grant" :
				 "revoke");
	au_init(&u, ctx);
	rc = au_stream(ctx, false);
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (!rc)
		rc = grant_scope(&u, &role, &user, tid, &project);
	if (rc)
		goto out;
	const char *uid = str(user, "id");
	rc = cdt_store_begin(u.st, CDT_TXN_WRITE);
	if (!rc && grant)
		rc = cdt_store_exec(u.st, "INSERT INTO memberships (user_id, "
				    "org_id, team_id, project, role, "
				    "created_at) VALUES (?, ?, ?, ?, ?, ?) ON "
				    "CONFLICT DO NOTHING",
				    JV_ARRAY(jv_string(uid),
					     jv_string(u.who.org_id),
					     sv(tid[0] ? tid : NULL),
					     sv(project),
					     jv_string(cdt_role_name(role)),
					     jv_number((double)
						       cdt_auth_now_ms())),
				    NULL);
	else if (!rc)
		rc = cdt_store_exec(u.st, "DELETE FROM memberships WHERE "
				    "user_id = ? AND org_id = ? AND "
				    "coalesce(team_id, '') = ? AND "
				    "coalesce(project, '') = ? AND role = ?",
				    JV_ARRAY(jv_string(uid),
					     jv_string(u.who.org_id),
					     jv_string(tid),
					     jv_string(project ? project : ""),
					     jv_string(cdt_role_name(role))),
				    NULL);
	int changed = rc ? 0 : cdt_store_changes(u.st);
	if (!rc && !grant && !changed)
		rc = cdt_err_class(EX_NOINPUT, "not_found", "no such grant: "
				   "%s is not %s there", str(user, "email"),
				   cdt_role_name(role));
	if (!rc && !grant && role == CDT_ROLE_ORG_ADMIN) {
		jv n = one(u.st, &rc, "SELECT count(*) AS n FROM memberships "
			   "WHERE org_id = ? AND role = 'org-admin'",
			   JV_ARRAY(jv_string(u.who.org_id)));
		if (!rc && num(n, "n", 0) == 0)
			rc = cdt_err_class(EX_DATAERR, "conflict", "cannot "
					   "remove the last org-admin of '%s'",
					   u.who.org);
		jv_free(n);
	}
	/* A role taken away ends every login that carried it. */
	if (!rc && !grant)
		rc = cdt_auth_revoke_user(&u.a, uid);
	if (!rc && changed)
		rc = cdt_auth_audit(&u.a, u.who.user_id, u.who.org_id,
				    grant ? "role_granted" : "role_revoked",
				    JV_OBJECT(jv_string("email"),
					      jv_string(str(user, "email")),
					      jv_string("role"),
					      jv_string(cdt_role_name(role)),
					      jv_string("team_id"),
					      sv(tid[0] ? tid : NULL),
					      jv_string("project"),
					      sv(project)));
	if (!rc)
		rc = cdt_store_commit(u.st);
	else
		cdt_store_rollback(u.st);
	if (!rc && grant && !changed)
		cdt_info("%s is %s there already", str(user, "email"),
			 cdt_role_name(role));
out:
	jv_free(user);
	au_close(&u);
	return rc;
}

int
cdt_authcmd_grant(struct cdt_ctx *ctx)
{
	return grant_or_revoke(ctx, true);
}

int
cdt_authcmd_revoke(struct cdt_ctx *ctx)
{
	return grant_or_revoke(ctx, false);
}

/* ---- check ----------------------------------------------------------------------- */

int
cdt_authcmd_check(struct cdt_ctx *ctx)
{
	struct au u;
	char tid[CDT_AUTH_ID_MAX + 1];
	const char *team = cdt_opt(ctx, "team");
	const char *project = cdt_opt(ctx, "project");
	int rc;

	if (ctx->argc != 1)
		return cdt_usage(ctx, "check takes one PERMISSION, such as "
				 "sessions.create");
	if (cdt_caller_perm_valid(ctx->argv[0]))
		return cdt_usage(ctx, "unknown permission '%s': RESOURCE.ACTION "
				 "with sessions, projects, teams or keys and "
				 "create, read, update or delete",
				 ctx->argv[0]);
	au_init(&u, ctx);
	rc = au_stream(ctx, false);
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (!rc && project)
		rc = cdt_auth_check_name("project", project);
	if (rc)
		goto out;
	snprintf(tid, sizeof(tid), "%s", u.who.team_id);
	if (team && (rc = team_id(&u, team, tid)))
		goto out;
	struct cdt_object o = { u.who.org_id, tid, u.who.user_id, project };
	bool yes = cdt_caller_can(&u.who, ctx->argv[0], &o);
	cdt_info("%s: %s", ctx->argv[0], yes ? "allowed" : "denied");
	rc = yes ? 0 : 1;
out:
	au_close(&u);
	return rc;
}

/* ---- audit ---------------------------------------------------------------------- */

int
cdt_authcmd_audit(struct cdt_ctx *ctx)
{
	struct au u;
	jv rows = jv_invalid();
	const char *lim = cdt_opt(ctx, "limit");
	long limit = 100;
	int rc;

	if (ctx->argc)
		return cdt_usage(ctx, "audit takes no operands");
	if (lim) {
		char *end = NULL;
		errno = 0;
		limit = strtol(lim, &end, 10);
		if (errno || !end || *end || limit < 1 || limit > 1000000)
			return cdt_usage(ctx, "--limit takes a count from 1, "
					 "not '%s'", lim);
	}
	au_init(&u, ctx);
	rc = au_stream(ctx, false);
	if (!rc && au_gone())
		goto out;
	if (!rc)
		rc = au_open(&u);
	if (!rc)
		rc = au_caller(&u, true);
	if (rc)
		goto out;
	struct cdt_object o = { u.who.org_id, NULL, NULL, NULL };
	if (cdt_caller_rank(&u.who, &o) < 4) {
		rc = cdt_err_class(EX_NOPERM, "forbidden", "not allowed: the "
				   "audit log needs org-admin");
		goto out;
	}
	rc = cdt_store_exec(u.st, "SELECT * FROM (SELECT a.id, a.ts, a.event, "
			    "a.detail, u.email AS actor FROM audit a LEFT "
			    "JOIN users u ON u.id = a.actor WHERE a.org_id = "
			    "? ORDER BY a.id DESC LIMIT ?) AS x ORDER BY id",
			    JV_ARRAY(jv_string(u.who.org_id),
				     jv_number((double)limit)), &rows);
	if (rc)
		goto out;
	jv_array_foreach(rows, i, r) {
		jv detail = str(r, "detail") ? jv_parse(str(r, "detail")) :
			jv_object();
		if (!jv_is_valid(detail)) {
			jv_free(detail);
			detail = jv_object();
		}
		if (!rc && cdt_out_mode() == CDT_OUT_TEXT) {
			char t[32];
			jv d = jv_dump_string(detail, 0);
			cdt_auth_time_str(num(r, "ts", 0), t);
			rc = cdt_out_text("%s  %-22s %-28s %s\n", t,
					  str(r, "event"),
					  str(r, "actor") ? str(r, "actor") :
					  "-", jv_string_value(d));
			jv_free(d);
		} else if (!rc) {
			jv e = cdt_record_new("audit");
			e = jv_object_set(e, jv_string("id"),
					  jv_number((double)num(r, "id", 0)));
			e = jv_object_set(e, jv_string("time"),
					  time_or_null(num(r, "ts", 0)));
			e = jv_object_set(e, jv_string("event"),
					  jv_string(str(r, "event")));
			e = jv_object_set(e, jv_string("actor"),
					  sv(str(r, "actor")));
			e = jv_object_set(e, jv_string("detail"), detail);
			rc = cdt_emit(e);
		} else {
			jv_free(detail);
		}
		jv_free(r);
	}
out:
	jv_free(rows);
	au_close(&u);
	return rc;
}

/* ---- provider --------------------------------------------------------------------- */

static bool
provider_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		     s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static char *
creds_path(void)
{
	const char *home = cdt_cfg_home();
	if (!home)
		return NULL;
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "%s/credentials.json", home);
	return cdt_buf_detach(&b, NULL);
}

/* Wipe every string in v (consumed): credentials on their way out. */
static void
wipe_strings(jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING) {
		OPENSSL_cleanse((void *)(uintptr_t)jv_string_value(v),
				(size_t)jv_string_length_bytes(jv_copy(v)));
	} else if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv_object_foreach(v, k, x) {
			wipe_strings(x);
			jv_free(k);
		}
	}
	jv_free(v);
}

static int
provider_set(struct cdt_ctx *ctx, const char *name)
{
	struct cdt_buf key = CDT_BUF_INIT;
	jv doc = jv_null();
	char *path = creds_path();
	int rc = 0;
	if (!path)
		return cdt_err(EX_CONFIG, "no home: set CDT_HOME or HOME");
	cdt_buf_init(&key, 64 * 1024);
	if (isatty(0)) {
		if (ctx->no_input) {
			rc = cdt_usage(ctx, "provider set reads the key on "
				       "stdin");
			goto out;
		}
		rc = cdt_passwd_read_tty("API key: ", &key);
	} else {
		for (;;) {
			char chunk[4096];
			ssize_t n = read(0, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = cdt_err_errno(EX_IOERR, "cannot read "
						   "stdin");
				break;
			}
			if (n == 0)
				break;
			rc = cdt_buf_add(&key, chunk, (size_t)n);
			OPENSSL_cleanse(chunk, sizeof(chunk));
			if (rc) {
				rc = cdt_err(EX_DATAERR, "the key on stdin is "
					     "over 64 KiB");
				break;
			}
		}
	}
	if (rc)
		goto out;
	while (key.len && (key.buf[key.len - 1] == '\n' ||
			   key.buf[key.len - 1] == '\r' ||
			   key.buf[key.len - 1] == ' ' ||
			   key.buf[key.len - 1] == '\t'))
		cdt_buf_setlen(&key, key.len - 1);
	bool ok = key.len > 0;
	for (size_t i = 0; ok && i < key.len; i++)
		ok = key.buf[i] > 0x20 && key.buf[i] < 0x7f;
	if (!ok) {
		rc = cdt_err(EX_DATAERR, "no key on stdin (one line of "
			     "printable characters, no spaces)");
		goto out;
	}
	const char *home = cdt_cfg_home();
	if (mkdir(home, 0700) < 0 && errno != EEXIST) {
		rc = cdt_err_errno(EX_CANTCREAT, "cannot create '%s'", home);
		goto out;
	}
	rc = cdt_auth_secret_read(path, &doc);
	if (rc)
		goto out;
	if (jv_get_kind(doc) != JV_KIND_OBJECT)
		doc = jv_object();
	jv ps = jv_object_get(jv_copy(doc), jv_string("providers"));
	if (jv_get_kind(ps) != JV_KIND_OBJECT) {
		jv_free(ps);
		ps = jv_object();
	}
	jv p = jv_object_get(jv_copy(ps), jv_string(name));
	if (jv_get_kind(p) != JV_KIND_OBJECT) {
		jv_free(p);
		p = jv_object();
	}
	p = jv_object_set(p, jv_string("api_key"), jv_string(key.buf));
	ps = jv_object_set(ps, jv_string(name), p);
	doc = jv_object_set(doc, jv_string("providers"), ps);
	rc = cdt_auth_secret_write(path, doc);
	if (!rc)
		cdt_info("saved the key of '%s' in '%s'", name, path);
out:
	wipe_strings(jv_copy(doc));
	jv_free(doc);
	cdt_buf_release_secret(&key);
	free(path);
	return rc;
}

static int
provider_rm(const char *name)
{
	jv doc = jv_null();
	char *path = creds_path();
	int rc = path ? cdt_auth_secret_read(path, &doc) :
		cdt_err(EX_CONFIG, "no home: set CDT_HOME or HOME");
	if (rc)
		goto out;
	jv ps = jv_get_kind(doc) == JV_KIND_OBJECT ?
		jv_object_get(jv_copy(doc), jv_string("providers")) :
		jv_invalid();
	if (jv_get_kind(ps) != JV_KIND_OBJECT ||
	    !jv_object_has(jv_copy(ps), jv_string(name))) {
		jv_free(ps);
		rc = cdt_err_class(EX_NOINPUT, "not_found", "no key for '%s' "
				   "in credentials.json", name);
		goto out;
	}
	ps = jv_object_delete(ps, jv_string(name));
	doc = jv_object_set(doc, jv_string("providers"), ps);
	rc = cdt_auth_secret_write(path, doc);
out:
	wipe_strings(jv_copy(doc));
	jv_free(doc);
	free(path);
	return rc;
}

static int
provider_list(void)
{
	struct cdt_cfg cfg;
	struct cdt_providers ps = { NULL, 0 };
	cdt_cfg_init(&cfg);
	int rc = cdt_cfg_load(&cfg);
	if (!rc)
		rc = cdt_providers_load(&cfg, &ps);
	for (size_t i = 0; !rc && i < ps.n; i++) {
		const struct cdt_provider *p = &ps.v[i];
		if (cdt_out_mode() == CDT_OUT_TEXT) {
			rc = cdt_out_text("%-12s %s\n", p->name,
					  !p->needs_key ? "no key needed" :
					  p->key_source ? p->key_source :
					  "no key");
			continue;
		}
		jv r = cdt_record_new("provider");
		r = jv_object_set(r, jv_string("name"), jv_string(p->name));
		r = jv_object_set(r, jv_string("needs_key"),
				  jv_bool(p->needs_key));
		r = jv_object_set(r, jv_string("key_source"),
				  sv(p->key_source));
		r = jv_object_set(r, jv_string("configured"),
				  jv_bool(cdt_provider_configured(p)));
		rc = cdt_emit(r);
	}
	cdt_providers_release(&ps);
	cdt_cfg_release(&cfg);
	return rc;
}

int
cdt_authcmd_provider(struct cdt_ctx *ctx)
{
	const char *sub = ctx->argc ? ctx->argv[0] : NULL;
	if (!sub || (strcmp(sub, "set") && strcmp(sub, "list") &&
		     strcmp(sub, "rm")))
		return cdt_usage(ctx, "provider needs 'set NAME', 'list' or "
				 "'rm NAME'");
	if (!strcmp(sub, "list") ? ctx->argc != 1 : ctx->argc != 2)
		return cdt_usage(ctx, "provider %s takes %s", sub,
				 !strcmp(sub, "list") ? "no operands" :
				 "one NAME");
	if (ctx->argc == 2 && !provider_name_ok(ctx->argv[1]))
		return cdt_usage(ctx, "bad provider name '%s'", ctx->argv[1]);
	if (!strcmp(sub, "set"))
		return provider_set(ctx, ctx->argv[1]);
	int rc = au_stream(ctx, false);
	if (rc)
		return rc;
	return !strcmp(sub, "list") ? provider_list() :
		provider_rm(ctx->argv[1]);
}
