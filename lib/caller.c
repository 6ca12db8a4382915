#include "compat.h"
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "caller.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "tool.h"

#define TOKEN_FILE_MAX (16 * 1024)

void
cdt_caller_init(struct cdt_caller *c)
{
	memset(c, 0, sizeof(*c));
	c->record = jv_invalid();
}

void
cdt_caller_release(struct cdt_caller *c)
{
	free(c->grants);
	if (c->refresh_token) {
		OPENSSL_cleanse(c->refresh_token, strlen(c->refresh_token));
		free(c->refresh_token);
	}
	jv_free(c->record);
	cdt_caller_init(c);
}

static void
cpy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

#define CPY(dst, src) cpy(dst, sizeof(dst), src)

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

static int
refused(const char *fmt, ...) CDT_PRINTF(1, 2);

static int
refused(const char *fmt, ...)
{
	char msg[CDT_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cdt_err_class(EX_NOPERM, "auth", "%s", msg);
}

/* ---- grants ---------------------------------------------------------- */

static void
add_grant(struct cdt_caller *c, const char *org, const char *team,
	  const char *project, enum cdt_role role)
{
	c->grants = cdt_xrealloc(c->grants, (c->ngrants + 1) *
				 sizeof(*c->grants));
	struct cdt_grant *g = &c->grants[c->ngrants++];
	CPY(g->org_id, org);
	CPY(g->team_id, team);
	CPY(g->project, project);
	g->role = role;
}

static int
load_grants(struct cdt_store *st, struct cdt_caller *c)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, "SELECT team_id, project, role FROM "
				"memberships WHERE user_id = ? AND org_id = ?",
				JV_ARRAY(jv_string(c->user_id),
					 jv_string(c->org_id)), &rows);
	if (rc)
		return rc;
	jv_array_foreach(rows, i, r) {
		enum cdt_role role = cdt_role_parse(str(r, "role"));
		if (role != CDT_ROLE_NONE)
			add_grant(c, c->org_id, str(r, "team_id"),
				  str(r, "project"), role);
		jv_free(r);
	}
	jv_free(rows);
	return 0;
}

/* The roles that apply to the caller's team, for the auth record. */
static jv
roles_here(const struct cdt_caller *c)
{
	bool seen[CDT_ROLE_ORG_ADMIN + 1] = { false };
	jv a = jv_array();
	for (size_t i = 0; i < c->ngrants; i++) {
		const struct cdt_grant *g = &c->grants[i];
		if (g->team_id[0] && strcmp(g->team_id, c->team_id))
			continue;
		if (g->role >= 0 && !seen[g->role]) {
			seen[g->role] = true;
			a = jv_array_append(a, jv_string(cdt_role_name(g->role)));
		}
	}
	return a;
}

static void
make_record(struct cdt_caller *c, const char *token)
{
	jv r = cdt_record_new("auth");
	if (token)
		r = jv_object_set(r, jv_string("token"), jv_string(token));
	if (c->expires_ms) {
		char t[32];
		cdt_auth_time_str(c->expires_ms, t);
		r = jv_object_set(r, jv_string("expires_at"), jv_string(t));
	} else {
		r = jv_object_set(r, jv_string("expires_at"), jv_null());
	}
	jv u = jv_object();
	u = jv_object_set(u, jv_string("id"), jv_string(c->user_id));
	u = jv_object_set(u, jv_string("email"), jv_string(c->email));
	r = jv_object_set(r, jv_string("user"), u);
	const char *project = getenv("CDT_PROJECT");
	jv t = jv_object();
	t = jv_object_set(t, jv_string("org"), jv_string(c->org));
	t = jv_object_set(t, jv_string("team"), jv_string(c->team));
	t = jv_object_set(t, jv_string("user"), jv_string(c->user_id));
	t = jv_object_set(t, jv_string("project"), project && *project ?
			  jv_string(project) : jv_null());
	t = jv_object_set(t, jv_string("org_id"), jv_string(c->org_id));
	t = jv_object_set(t, jv_string("team_id"), jv_string(c->team_id));
	r = jv_object_set(r, jv_string("tenant"), t);
	r = jv_object_set(r, jv_string("roles"), roles_here(c));
	if (c->kind == CDT_CALLER_KEY)
		r = jv_object_set(r, jv_string("key_id"),
				  jv_string(c->key_id));
	jv_free(c->record);
	c->record = r;
}

/* ---- access tokens ------------------------------------------------------ */

static const char *const required[] = {
	"sub", "exp", "iat", "jti", "org", "team", "fam", NULL,
};

/* 0 and c filled; 77 reported; CDT_EOF (quiet) for an expired token
   when *expired is asked for. */
static int
verify_jwt(struct cdt_auth *a, const char *tok, size_t len,
	   struct cdt_caller *c, bool *expired)
{
	struct cdt_jwt_policy pol = {
		.typ = "at+jwt", .iss = CDT_AUTH_ISSUER,
		.aud = CDT_AUTH_AUDIENCE, .required = required,
		.leeway_s = CDT_AUTH_LEEWAY_S,
		.max_age_s = a->access_ttl_ms / 1000,
	};
	jv claims = jv_invalid();
	jv row = jv_null();
	const char *why = NULL;
	int rc = cdt_auth_keys(a, CDT_AUTH_SIGNING);
	if (rc)
		return rc;
	if (!a->have_key)
		return refused("access token refused (signature): the store "
			       "'%s' has no signing key yet; log in with "
			       "'cdt-auth login'", cdt_store_name(a->st));
	enum cdt_jwt_error e = cdt_jwt_verify(&a->key, tok, len, &pol,
					      cdt_auth_now_ms() / 1000,
					      &claims, &why);
	if (e == CDT_JWT_E_EXPIRED && expired) {
		*expired = true;
		return CDT_EOF;
	}
	if (e)
		return refused("access token refused (%s): %s",
			       cdt_jwt_error_name(e), why);
	const char *sub = cdt_record_str(claims, "sub");
	const char *org = cdt_record_str(claims, "org");
	const char *team = cdt_record_str(claims, "team");
	const char *fam = cdt_record_str(claims, "fam");
	if (!sub || !org || !team || !fam) {
		rc = refused("access token refused (claim): sub, org, team "
			     "and fam must be strings");
		goto out;
	}
	cdt_store_set_org(a->st, org);	/* signed: the org of what follows */
	row = one(a->st, &rc, "SELECT u.email, u.disabled, o.name AS org, "
		  "t.name AS team, (SELECT count(*) FROM refresh_tokens r "
		  "WHERE r.family = ? AND r.user_id = u.id AND r.revoked_at "
		  "IS NULL) AS live FROM users u JOIN orgs o ON o.id = ? "
		  "LEFT JOIN teams t ON t.id = ? AND t.org_id = o.id WHERE "
		  "u.id = ?", JV_ARRAY(jv_string(fam), jv_string(org),
				       jv_string(team), jv_string(sub)));
	if (rc)
		goto out;
	if (jv_get_kind(row) != JV_KIND_OBJECT || !str(row, "team")) {
		rc = refused("access token refused (claim): no such user, "
			     "org or team in the store '%s'",
			     cdt_store_name(a->st));
		goto out;
	}
	if (num(row, "disabled", 0)) {
		rc = refused("access token refused (claim): the user is "
			     "disabled");
		goto out;
	}
	if (num(row, "live", 0) == 0) {
		rc = refused("access token refused (revoked): its login was "
			     "logged out or revoked; log in again");
		goto out;
	}
	c->kind = CDT_CALLER_TOKEN;
	CPY(c->user_id, sub);
	CPY(c->email, str(row, "email"));
	CPY(c->org_id, org);
	CPY(c->org, str(row, "org"));
	CPY(c->team_id, team);
	CPY(c->team, str(row, "team"));
	CPY(c->family, fam);
	jv x = jv_object_get(jv_copy(claims), jv_string("exp"));
	c->expires_ms = (int64_t)jv_number_value(x) * 1000;
	jv_free(x);
	rc = load_grants(a->st, c);
	if (!rc) {
		char *t = cdt_xstrndup(tok, len);
		make_record(c, t);
		OPENSSL_cleanse(t, len);
		free(t);
	}
out:
	jv_free(row);
	jv_free(claims);
	return rc;
}

/* ---- API keys ------------------------------------------------------------ */

static int
verify_key(struct cdt_auth *a, const char *tok, size_t len,
	   struct cdt_caller *c)
{
	struct cdt_apikey k;
	char mac[CDT_APIKEY_MAC_HEX + 1];
	const char *why = NULL;
	jv row = jv_null();
	int rc;

	if (cdt_apikey_parse(tok, len, &k, &why))
		return refused("API key refused: %s", why);
	rc = cdt_auth_keys(a, CDT_AUTH_PEPPER);
	char org[64];
	if (!rc)
		rc = cdt_store_login_org(a->st, "key", k.id, NULL, org,
					 sizeof(org));
	if (rc)
		goto out;
	cdt_store_set_org(a->st, org);
	row = one(a->st, &rc, "SELECT k.hmac, k.role, k.user_id, k.org_id, "
		  "k.team_id, k.project, k.expires_at, k.revoked_at, "
		  "k.last_used_at, u.email, u.disabled, o.name AS org, "
		  "(SELECT count(*) FROM memberships m WHERE m.user_id = "
		  "k.user_id AND m.org_id = k.org_id) AS member FROM api_keys "
		  "k JOIN users u ON u.id = k.user_id JOIN orgs o ON o.id = "
		  "k.org_id WHERE k.id = ?", JV_ARRAY(jv_string(k.id)));
	if (rc)
		goto out;
	/* Always one MAC and one compare, known id or not. */
	cdt_apikey_mac(a->pepper, sizeof(a->pepper), k.secret, mac);
	bool match = cdt_apikey_mac_equal(a->have_pepper ? str(row, "hmac") :
					  NULL, mac);
	if (!match) {
		rc = refused("API key refused: unknown key cdt_sk_%s... in the "
			     "store '%s'", k.id, cdt_store_name(a->st));
		goto out;
	}
	int64_t now = cdt_auth_now_ms();
	int64_t exp = num(row, "expires_at", 0);
	if (num(row, "revoked_at", 0)) {
		rc = refused("API key refused: cdt_sk_%s... is revoked", k.id);
		goto out;
	}
	if (exp && exp <= now) {
		rc = refused("API key refused: cdt_sk_%s... has expired", k.id);
		goto out;
	}
	if (num(row, "disabled", 0) || !num(row, "member", 0)) {
		rc = refused("API key refused: its owner is disabled or no "
			     "longer in the org");
		goto out;
	}
	enum cdt_role role = cdt_role_parse(str(row, "role"));
	c->kind = CDT_CALLER_KEY;
	CPY(c->user_id, str(row, "user_id"));
	CPY(c->email, str(row, "email"));
	CPY(c->org_id, str(row, "org_id"));
	CPY(c->org, str(row, "org"));
	CPY(c->key_id, k.id);
	c->expires_ms = exp;
	add_grant(c, c->org_id, str(row, "team_id"), str(row, "project"),
		  role);
	/* The key's team, else the owner's first team in the org. */
	jv t = one(a->st, &rc, "SELECT t.id, t.name FROM teams t WHERE "
		   "t.org_id = ? ORDER BY CASE WHEN t.id = ? THEN 0 WHEN t.id "
		   "IN (SELECT team_id FROM memberships WHERE user_id = ? AND "
		   "org_id = ? AND team_id IS NOT NULL) THEN 1 ELSE 2 END, "
		   "t.created_at, t.name LIMIT 1",
		   JV_ARRAY(jv_string(c->org_id),
			    jv_string(str(row, "team_id") ?
				      str(row, "team_id") : ""),
			    jv_string(c->user_id), jv_string(c->org_id)));
	CPY(c->team_id, str(t, "id"));
	CPY(c->team, str(t, "name"));
	jv_free(t);
	if (rc)
		goto out;
	/* Recording use is best effort, at most once a minute per key. */
	if (now - num(row, "last_used_at", 0) > 60000) {
		cdt_err_quiet(true);
		cdt_store_exec(a->st, "UPDATE api_keys SET last_used_at = ? "
			       "WHERE id = ?",
			       JV_ARRAY(jv_number((double)now),
					jv_string(k.id)), NULL);
		cdt_err_quiet(false);
	}
	make_record(c, NULL);
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	cdt_apikey_wipe(&k);
	jv_free(row);
	return rc;
}

static int
verify_any(struct cdt_auth *a, const char *tok, size_t len,
	   struct cdt_caller *c, const char *source, bool *expired)
{
	c->source = source;
	if (!len)
		return refused("no credential in %s", source);
	if (cdt_apikey_looks_like(tok, len))
		return verify_key(a, tok, len, c);
	return verify_jwt(a, tok, len, c, expired);
}

/* ---- sources --------------------------------------------------------------- */

static int
read_token_file(const char *path, struct cdt_buf *out)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC |
					  O_NOCTTY) : 0;
	int rc = 0;
	if (fd < 0)
		return cdt_err_errno(EX_NOINPUT, "cannot read the token file "
				     "'%s'", path);
	cdt_buf_init(out, TOKEN_FILE_MAX);
	for (;;) {
		char chunk[1024];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		if (cdt_buf_add(out, chunk, (size_t)n)) {
			rc = cdt_err(EX_DATAERR, "'%s' is too large for a "
				     "token", path);
			break;
		}
		OPENSSL_cleanse(chunk, sizeof(chunk));
	}
	if (fd > 0)
		close(fd);
	/* One token: surrounding white space goes. */
	size_t s = 0;
	while (s < out->len && (out->buf[s] == ' ' || out->buf[s] == '\n' ||
				out->buf[s] == '\r' || out->buf[s] == '\t'))
		s++;
	cdt_buf_consume(out, s);
	while (out->len && (out->buf[out->len - 1] == ' ' ||
			    out->buf[out->len - 1] == '\n' ||
			    out->buf[out->len - 1] == '\r' ||
			    out->buf[out->len - 1] == '\t'))
		cdt_buf_setlen(out, out->len - 1);
	return rc;
}

/*
 * The saved login's access token expired: refresh it under the lock, so
 * that two processes never present the same refresh token (which would
 * look like theft and revoke the login).
 */
static int
refresh_saved(struct cdt_auth *a, jv *saved)
{
	int lock = -1;
	jv cur = jv_null();
	jv fresh = jv_invalid();
	int rc = cdt_auth_lock(&lock);
	if (rc)
		return rc;
	rc = cdt_auth_saved_read(&cur);
	if (rc)
		goto out;
	const char *old = cdt_record_str(*saved, "token");
	const char *now = cdt_record_str(cur, "token");
	if (old && now && strcmp(old, now)) {
		/* Another process refreshed it while we waited. */
		jv_free(*saved);
		*saved = cur;
		cur = jv_null();
		goto out;
	}
	const char *rt = cdt_record_str(cur, "refresh_token");
	if (!rt) {
		rc = refused("the saved login has expired: log in again with "
			     "'cdt-auth login'");
		goto out;
	}
	rc = cdt_auth_refresh(a, rt, &fresh);
	if (rc)
		goto out;
	rc = cdt_auth_saved_write(fresh);
	if (rc)
		goto out;
	cdt_info("refreshed the saved login");
	jv_free(*saved);
	*saved = fresh;
	fresh = jv_invalid();
out:
	jv_free(fresh);
	jv_free(cur);
	cdt_auth_unlock(&lock);
	return rc;
}

static int
from_saved(struct cdt_auth *a, const struct cdt_caller_src *src,
	   struct cdt_caller *c)
{
	jv saved = jv_null();
	int rc = cdt_auth_saved_read(&saved);
	if (rc)
		return rc;
	if (jv_get_kind(saved) == JV_KIND_NULL && !src->no_create &&
	    !getenv("CDT_TOKEN")) {
		bool created = false;
		rc = cdt_auth_bootstrap(a, &saved, &created);
		c->created = created;
		if (rc)
			goto out;
	}
	if (jv_get_kind(saved) != JV_KIND_OBJECT) {
		rc = refused("not logged in: run 'cdt-auth login' (store '%s')",
			     cdt_store_name(a->st));
		goto out;
	}
	for (int round = 0; round < 2; round++) {
		const char *tok = cdt_record_str(saved, "token");
		bool expired = false;
		if (!tok) {
			rc = refused("the saved login in auth.json has no "
				     "token: log in again");
			goto out;
		}
		rc = verify_any(a, tok, strlen(tok), c, "auth.json",
				round ? NULL : &expired);
		if (rc != CDT_EOF)
			break;
		rc = refresh_saved(a, &saved);
		if (rc)
			goto out;
	}
	if (!rc && cdt_record_str(saved, "refresh_token"))
		c->refresh_token =
			cdt_xstrdup(cdt_record_str(saved, "refresh_token"));
out:
	if (jv_get_kind(saved) == JV_KIND_OBJECT) {
		const char *rt = cdt_record_str(saved, "refresh_token");
		if (rt)
			OPENSSL_cleanse((void *)(uintptr_t)rt, strlen(rt));
	}
	jv_free(saved);
	return rc;
}

int
cdt_caller_resolve(struct cdt_store *st, const struct cdt_cfg *cfg,
		   const struct cdt_caller_src *src, struct cdt_caller *c)
{
	struct cdt_auth a;
	struct cdt_buf b = CDT_BUF_INIT;
	int rc;

	cdt_caller_release(c);
	cdt_auth_init(&a, st, cfg);
	if (src->token_file) {
		rc = read_token_file(src->token_file, &b);
		if (!rc)
			rc = verify_any(&a, b.buf, b.len, c, "--token-file",
					NULL);
		goto out;
	}
	if (jv_get_kind(src->auth) == JV_KIND_OBJECT) {
		const char *tok = cdt_record_str(src->auth, "token");
		bool expired = false;
		if (tok) {
			rc = verify_any(&a, tok, strlen(tok), c, "auth record",
					&expired);
			if (rc != CDT_EOF)
				goto out;
		}
		cdt_log(CDT_LOG_WARN, "ignoring the auth record on stdin: %s",
			tok ? "its token has expired" : "it has no token");
	}
	const char *env = getenv("CDT_TOKEN");
	if (env && *env) {
		rc = verify_any(&a, env, strlen(env), c, "CDT_TOKEN", NULL);
		goto out;
	}
	rc = from_saved(&a, src, c);
out:
	if (rc) {
		bool created = c->created;
		cdt_caller_release(c);
		c->created = created;
	}
	cdt_buf_release_secret(&b);
	cdt_auth_release(&a);
	return rc;
}

int
cdt_caller_from_ctx(struct cdt_ctx *ctx, struct cdt_store *st,
		    const struct cdt_cfg *cfg, struct cdt_caller *c)
{
	struct cdt_caller_src src = {
		.token_file = cdt_opt(ctx, "token-file"),
		.auth = ctx->auth,
		.no_create = false,
	};
	return cdt_caller_resolve(st, cfg, &src, c);
}

/* ---- authorising ------------------------------------------------------------ */

enum res { R_SESSIONS, R_PROJECTS, R_TEAMS, R_KEYS };
enum act { A_CREATE, A_READ, A_UPDATE, A_DELETE };

static int
parse_perm(const char *perm, enum res *r, enum act *a)
{
	static const char *const rs[] = { "sessions", "projects", "teams",
					  "keys" };
	static const char *const as[] = { "create", "read", "update",
					  "delete" };
	const char *dot = perm ? strchr(perm, '.') : NULL;
	if (!dot)
		return -1;
	int ri = -1, ai = -1;
	for (int i = 0; i < 4; i++) {
		if (strlen(rs[i]) == (size_t)(dot - perm) &&
		    !strncmp(perm, rs[i], (size_t)(dot - perm)))
			ri = i;
		if (!strcmp(dot + 1, as[i]))
			ai = i;
	}
	if (ri < 0 || ai < 0)
		return -1;
	*r = (enum res)ri;
	*a = (enum act)ai;
	return 0;
}

int
cdt_caller_perm_valid(const char *perm)
{
	enum res r;
	enum act a;
	return parse_perm(perm, &r, &a) ? EX_USAGE : 0;
}

static bool
applies(const struct cdt_grant *g, const struct cdt_object *o)
{
	if (!o->org_id || strcmp(g->org_id, o->org_id))
		return false;
	if (g->team_id[0] && (!o->team_id || strcmp(g->team_id, o->team_id)))
		return false;
	if (g->project[0] && (!o->project || strcmp(g->project, o->project)))
		return false;
	return true;
}

int
cdt_caller_rank(const struct cdt_caller *c, const struct cdt_object *o)
{
	int best = -1;
	for (size_t i = 0; i < c->ngrants; i++) {
		if (!applies(&c->grants[i], o))
			continue;
		int r = cdt_role_rank(c->grants[i].role);
		if (r > best)
			best = r;
	}
	return best;
}

static bool
owner(const struct cdt_caller *c, const struct cdt_object *o)
{
	return o->owner_id && c->user_id[0] && !strcmp(o->owner_id, c->user_id);
}

/* The rule for perm, and the words that explain a refusal. */
static bool
allowed(const struct cdt_caller *c, enum res r, enum act a,
	const struct cdt_object *o, const char **need)
{
	int rank = cdt_caller_rank(c, o);
	switch (r) {
	case R_SESSIONS:
	case R_PROJECTS:
		if (a == A_READ) {
			*need = "needs a role in its team";
			return rank >= 0;
		}
		if (a == A_DELETE) {
			*need = "needs team-admin or org-admin";
			return rank >= 3;
		}
		if (r == R_SESSIONS && a == A_CREATE) {
			*need = "needs developer or above";
			return rank >= 1;
		}
		if (r == R_SESSIONS) {
			*need = "only its owner may";
			return owner(c, o) && rank >= 0;
		}
		*need = "needs project-lead or above";
		return rank >= 2;
	case R_TEAMS:
		if (a == A_CREATE) {
			*need = "needs org-admin";
			for (size_t i = 0; i < c->ngrants; i++)
				if (o->org_id && !c->grants[i].team_id[0] &&
				    !c->grants[i].project[0] &&
				    c->grants[i].role == CDT_ROLE_ORG_ADMIN &&
				    !strcmp(c->grants[i].org_id, o->org_id))
					return true;
			return false;
		}
		if (a == A_READ) {
			*need = "needs a role in the org";
			for (size_t i = 0; i < c->ngrants; i++)
				if (o->org_id &&
				    !strcmp(c->grants[i].org_id, o->org_id))
					return true;
			return false;
		}
		*need = "needs team-admin or org-admin";
		return rank >= 3;
	case R_KEYS:
		if (a == A_CREATE) {
			*need = "needs team-admin or org-admin";
			return rank >= 3;
		}
		*need = "only its owner may";
		return owner(c, o) && rank >= 0;
	}
	return false;
}

bool
cdt_caller_can(const struct cdt_caller *c, const char *perm,
	       const struct cdt_object *o)
{
	enum res r;
	enum act a;
	const char *need;
	if (parse_perm(perm, &r, &a) || !o->org_id || !c->org_id[0] ||
	    strcmp(o->org_id, c->org_id))
		return false;
	return allowed(c, r, a, o, &need);
}

int
cdt_caller_authorize(const struct cdt_caller *c, const char *perm,
		     const struct cdt_object *o, const char *what,
		     const char *id)
{
	enum res r;
	enum act a;
	const char *need = "";
	if (parse_perm(perm, &r, &a))
		return cdt_err(EX_SOFTWARE, "unknown permission '%s'",
			       perm ? perm : "");
	/* Another tenant's object looks exactly like a missing one. */
	if (!o->org_id || !c->org_id[0] || strcmp(o->org_id, c->org_id)) {
		if (id)
			return cdt_err_class(EX_NOINPUT, "not_found",
					     "no such %s '%s'", what, id);
		return cdt_err_class(EX_NOINPUT, "not_found", "no such %s",
				     what);
	}
	if (allowed(c, r, a, o, &need))
		return 0;
	if (id)
		return cdt_err_class(EX_NOPERM, "forbidden", "not allowed: %s "
				     "on %s '%s' (%s; you are %s)", perm, what,
				     id, need, c->email);
	return cdt_err_class(EX_NOPERM, "forbidden", "not allowed: %s (%s; "
			     "you are %s)", perm, need, c->email);
}

struct cdt_object
cdt_caller_here(const struct cdt_caller *c, const char *project)
{
	struct cdt_object o = {
		c->org_id, c->team_id, c->user_id,
		project && *project ? project : NULL,
	};
	return o;
}
