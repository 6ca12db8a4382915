/*
 * caller.h - the caller check: who is asking, and may they do this.
 *
 * Every tool that touches tenant data (sessions, conversations, files,
 * checkpoints, keys) calls it in two steps, outside any transaction of
 * its own:
 *
 * 1. Resolve the caller once per command, after reading the record
 *    stream (an `auth` record is one of the sources):
 *
 *	struct cdt_caller who;
 *	cdt_caller_init(&who);
 *	rc = cdt_caller_from_ctx(ctx, st, &cfg, &who);	// 77, 78, 75...
 *
 *    The credential is the first of: --token-file FILE|- ; an `auth`
 *    record on stdin (an expired one is skipped with a note, and the next
 *    source is used); CDT_TOKEN; $CDT_HOME/auth.json, whose expired
 *    access token is refreshed once, under a lock, and saved.  It is an
 *    access token (a JWT, verified as jwt.h says, with max age
 *    auth.access_ttl) or an API key (apikey.h).  The user must exist and
 *    be enabled, a token's login (fam) must not be revoked, a key must be
 *    unrevoked and unexpired with its owner still in its org.  The
 *    caller's grants (memberships; for a key, its one role and scope) are
 *    loaded then, so authorising costs no query.  With no credential at
 *    all, no CDT_TOKEN, and a SQLite store that has no user yet, the
 *    local identity is created (auth.h: cdt_auth_bootstrap) and said so
 *    once on stderr; otherwise 77 "not logged in", naming the store.
 *    Failures are one line on stderr with the reason's class in it:
 *    "access token refused (expired): ...".
 *
 * 2. Authorise each object against the store's row of it (its org, team,
 *    owner and project as stored, never as a record or path claims):
 *
 *	struct cdt_object o = { row_org, row_team, row_user, row_project };
 *	rc = cdt_caller_authorize(&who, "sessions.read", &o, "session", id);
 *
 *    0 allowed; 66 "no such session 'ID'" when the row belongs to
 *    another org (exactly what a missing row answers, so ids leak
 *    nothing); 77 "not allowed: ..." for no permission in your own org.
 *    cdt_caller_can() is the same predicate, silent, for filtering lists.
 *    A new object is authorised as cdt_caller_here() describes it.
 *
 * Permissions are RESOURCE.ACTION with RESOURCE sessions, projects, teams
 * or keys and ACTION create, read, update or delete.  A grant applies to
 * an object of its org when its team is NULL (the whole org) or the
 * object's team, and its project is NULL or the object's project.  Roles
 * rank org-admin 4 > team-admin 3 > project-lead 2 > developer 1, and
 * analyst and billing-admin 0; "admin" below means rank 3 or more:
 *
 *	sessions  create developer+   read any role   update owner  delete admin
 *	projects  create lead+        read any role   update lead+  delete admin
 *	teams     create org-admin    read any role in the org
 *	          update admin        delete admin
 *	keys      create admin        read owner      update owner  delete owner
 *
 * Files, checkpoints, conversations and exec follow their session's
 * read (reading) and update (writing, exec); route reset and probe need
 * teams.update.  "owner" is the row's user and must still hold a role
 * that applies to the object.
 */
#ifndef CDT_CALLER_H
#define CDT_CALLER_H

#include "compat.h"
#include <jv.h>
#include "apikey.h"
#include "auth.h"

struct cdt_store;
struct cdt_cfg;
struct cdt_ctx;

struct cdt_grant {
	char org_id[CDT_AUTH_ID_MAX + 1];
	char team_id[CDT_AUTH_ID_MAX + 1];	/* "": the whole org */
	char project[CDT_AUTH_NAME_MAX + 1];	/* "": every project */
	enum cdt_role role;
};

enum cdt_caller_kind {
	CDT_CALLER_NONE = 0,
	CDT_CALLER_TOKEN,	/* an access token */
	CDT_CALLER_KEY,		/* an API key */
};

struct cdt_caller {
	enum cdt_caller_kind kind;
	const char *source;	/* "--token-file", "auth record",
				   "CDT_TOKEN", "auth.json" */
	char user_id[CDT_AUTH_ID_MAX + 1];
	char email[CDT_AUTH_EMAIL_MAX + 1];
	char org_id[CDT_AUTH_ID_MAX + 1];
	char org[CDT_AUTH_NAME_MAX + 1];	/* the org's name */
	char team_id[CDT_AUTH_ID_MAX + 1];	/* the default team for new
						   objects */
	char team[CDT_AUTH_NAME_MAX + 1];
	char key_id[CDT_APIKEY_ID_LEN + 1];	/* CDT_CALLER_KEY */
	char family[CDT_AUTH_ID_MAX + 1];	/* CDT_CALLER_TOKEN: the login */
	int64_t expires_ms;	/* 0: does not expire */
	struct cdt_grant *grants;
	size_t ngrants;
	/*
	 * The caller as an `auth` record: token (access tokens only, never
	 * an API key), expires_at, user, tenant, roles; key_id for keys.
	 */
	jv record;
	char *refresh_token;	/* from auth.json, when that was the source;
				   wiped on release */
	bool created;		/* this call made the local identity */
};

struct cdt_caller_src {
	const char *token_file;	/* --token-file: a path, or "-" for stdin */
	jv auth;		/* an `auth` record (not consumed) or
				   jv_invalid() */
	bool no_create;		/* never make the local identity */
};

/* An object's row, as stored.  Strings are borrowed. */
struct cdt_object {
	const char *org_id;
	const char *team_id;	/* NULL: an org-level object */
	const char *owner_id;	/* the row's user; NULL when none */
	const char *project;	/* NULL when none */
};

void cdt_caller_init(struct cdt_caller *c);
/* Free and wipe; c may be resolved again after. */
void cdt_caller_release(struct cdt_caller *c);

/*
 * Resolve the caller against the store st (cfg may be NULL).  0, or 77
 * (unauthenticated), 78 (key files), 75/74/70 (store), reported.
 */
int cdt_caller_resolve(struct cdt_store *st, const struct cdt_cfg *cfg,
		       const struct cdt_caller_src *src,
		       struct cdt_caller *c);
/* The same with --token-file and the `auth` record of ctx. */
int cdt_caller_from_ctx(struct cdt_ctx *ctx, struct cdt_store *st,
			const struct cdt_cfg *cfg, struct cdt_caller *c);

/*
 * Is perm ("sessions.read") a permission?  0, or EX_USAGE (nothing
 * printed).
 */
int cdt_caller_perm_valid(const char *perm);
/* May c do perm to o?  An unknown perm is never allowed. */
bool cdt_caller_can(const struct cdt_caller *c, const char *perm,
		    const struct cdt_object *o);
/*
 * As cdt_caller_can, reported: 0, 66 "no such WHAT 'ID'" for another
 * org's object, 77 for no permission in the caller's own org, 70 for an
 * unknown perm.  what names the object ("session"), id its id (may be
 * NULL).
 */
int cdt_caller_authorize(const struct cdt_caller *c, const char *perm,
			 const struct cdt_object *o, const char *what,
			 const char *id);
/*
 * The object the caller would create now: the caller's org and team,
 * the caller as owner, and project (may be NULL).  Borrows from c.
 */
struct cdt_object cdt_caller_here(const struct cdt_caller *c,
				  const char *project);
/* The highest rank of the caller's grants that apply to o; -1: none. */
int cdt_caller_rank(const struct cdt_caller *c, const struct cdt_object *o);

#include "banned.h"
#endif
