/*
 * auth.h - identity in the store: key files, tokens, logins, users.
 *
 * The engine behind cdt-auth and the caller check (caller.h).  It owns:
 *
 *   - the key files: the token signing key and the API-key pepper, 32
 *     random bytes each as 64 hex digits, in $CDT_HOME/keys/ (0700) as
 *     signing.key and pepper.key (0600), or where auth.signing_key_file
 *     and auth.pepper_file say.  A file or default key directory that
 *     group or others can read is 78; so is a file owned by someone
 *     else.  Files are created by linking a finished temp file, so
 *     concurrent first runs agree on one key.  The store's meta table
 *     keeps each key's SHA-256 (auth.signing_key_sha256,
 *     auth.pepper_sha256) and the signing key's type (auth.key_type,
 *     hs256 or eddsa, from config when first made): a machine whose
 *     files differ gets 78 "signing key does not match the store".
 *   - credentials: an access token (JWT typ at+jwt, iss cdt-auth, aud
 *     cdt, sub, exp = iat + auth.access_ttl (15 min), nbf, iat, jti, org,
 *     team, roles, sid, fam) with an opaque refresh token (cdt_rt_ + 256
 *     random bits; the store keeps only its SHA-256), as one `auth`
 *     record (jv) that also carries "refresh_token"; cdt-auth strips it
 *     before printing unless asked.  Refresh rotates in one write
 *     transaction; presenting a used token revokes its whole family and
 *     writes the audit event refresh_token_reuse; unknown, expired or
 *     revoked tokens are refused without revoking anything.
 *   - logins: Argon2id (passwd.h); five failures lock the user for 15
 *     minutes; every failure says the same words and costs the same
 *     time, so the answer never tells whether the email exists.
 *   - the saved credentials $CDT_HOME/auth.json (0600, written by rename)
 *     and the lock $CDT_HOME/.auth.lock that serialises the local-first
 *     identity and refreshes of the saved credentials between processes.
 *   - the local-first identity: on a SQLite store with no user, org
 *     `local`, team `default` and the OS user as org-admin, created in one
 *     BEGIN IMMEDIATE transaction that re-checks, under the lock.
 *   - the audit table (events, never secrets).
 *
 * Every status is reported here and returned (DESIGN §6): 77 for a
 * failed credential, 66 for an unknown object, 78 for key files, 65 for
 * bad names.  No secret reaches a message, the audit table or a log.
 */
#ifndef CDT_AUTH_H
#define CDT_AUTH_H

#include "compat.h"
#include <jv.h>
#include "jwt.h"

struct cdt_store;
struct cdt_cfg;

#define CDT_AUTH_ISSUER "cdt-auth"
#define CDT_AUTH_AUDIENCE "cdt"
#define CDT_AUTH_LEEWAY_S 60
#define CDT_AUTH_ACCESS_TTL_MS (15 * 60 * 1000LL)
#define CDT_AUTH_REFRESH_TTL_MS (30 * 24 * 3600 * 1000LL)
#define CDT_AUTH_MAX_FAILURES 5
#define CDT_AUTH_LOCK_MS (15 * 60 * 1000LL)
#define CDT_AUTH_EMAIL_MAX 254
#define CDT_AUTH_NAME_MAX 63
#define CDT_AUTH_ID_MAX 64	/* a UUID, with room */

/* Roles, lowest first; analyst and billing-admin rank 0. */
enum cdt_role {
	CDT_ROLE_NONE = -1,
	CDT_ROLE_ANALYST = 0,
	CDT_ROLE_BILLING_ADMIN,
	CDT_ROLE_DEVELOPER,
	CDT_ROLE_PROJECT_LEAD,
	CDT_ROLE_TEAM_ADMIN,
	CDT_ROLE_ORG_ADMIN,
};

/* "developer" -> CDT_ROLE_DEVELOPER; CDT_ROLE_NONE when unknown. */
enum cdt_role cdt_role_parse(const char *name);
const char *cdt_role_name(enum cdt_role r);
/* org-admin 4 > team-admin 3 > project-lead 2 > developer 1; others 0. */
int cdt_role_rank(enum cdt_role r);

struct cdt_auth {
	struct cdt_store *st;		/* not owned */
	const struct cdt_cfg *cfg;	/* not owned; NULL: defaults */
	struct cdt_jwt_key key;
	unsigned char pepper[32];
	bool have_key;
	bool have_pepper;
	int64_t access_ttl_ms;
	int64_t refresh_ttl_ms;
};

/* Cannot fail.  st and cfg (may be NULL) must outlive a. */
void cdt_auth_init(struct cdt_auth *a, struct cdt_store *st,
		   const struct cdt_cfg *cfg);
/* Wipe the keys. */
void cdt_auth_release(struct cdt_auth *a);

enum cdt_auth_keys_flags {
	CDT_AUTH_SIGNING = 1 << 0,	/* the signing key */
	CDT_AUTH_PEPPER = 1 << 1,	/* the API-key pepper */
	CDT_AUTH_CREATE = 1 << 2,	/* make missing files, record their
					   fingerprints in the store */
};

/*
 * Load the key files asked for and check them against the store.  A
 * missing file is 78 when the store has a fingerprint for it; when it
 * has none (no identity was ever made with keys), 0 with have_key or
 * have_pepper left false.
 */
int cdt_auth_keys(struct cdt_auth *a, unsigned flags);

/* Now, in milliseconds since the epoch (the store's unit). */
int64_t cdt_auth_now_ms(void);
/* ms since the epoch as RFC 3339 UTC ("2026-11-22T05:00:00Z"). */
void cdt_auth_time_str(int64_t ms, char out[32]);

/*
 * Names.  Orgs, teams and projects: [a-z0-9][a-z0-9-]{0,62} (safe as a
 * path component).  Emails are lowercased into out: printable ASCII, one
 * '@' with something either side, at most 254 bytes.  0 or 65 (reported
 * naming what).
 */
int cdt_auth_check_name(const char *what, const char *name);
int cdt_auth_email(const char *in, char out[CDT_AUTH_EMAIL_MAX + 1]);

/*
 * New credentials for user in org (team NULL: the user's first team
 * there, else the org's oldest), continuing family (NULL: a new login).
 * Inside a write transaction: inserts the refresh token's row.  *cred is
 * the auth record with "refresh_token".
 */
int cdt_auth_issue(struct cdt_auth *a, const char *user_id,
		   const char *org_id, const char *team_id,
		   const char *family, jv *cred);

/*
 * Log in with a password (pw is not wiped here).  org NULL: the user's
 * first org.  77 with one message for every failure.
 */
int cdt_auth_login(struct cdt_auth *a, const char *email, const char *org,
		   const char *pw, size_t pwlen, jv *cred);
/* Rotate a refresh token (see above).  77 when refused. */
int cdt_auth_refresh(struct cdt_auth *a, const char *refresh_token,
		     jv *cred);
/*
 * Revoke a login: the family of refresh_token, else family.  Unknown is
 * fine (0): logging out twice is not an error.
 */
int cdt_auth_logout(struct cdt_auth *a, const char *refresh_token,
		    const char *family, const char *actor);
/* Revoke every refresh family of the user (inside or outside a txn). */
int cdt_auth_revoke_user(struct cdt_auth *a, const char *user_id);

/*
 * Create org (with team, and email as its org-admin: a new user, or the
 * existing one when exists_ok) and issue that user credentials; inside a
 * write transaction.  73 when the org exists; 77 when the user exists and
 * exists_ok is false.
 */
int cdt_auth_create_org(struct cdt_auth *a, const char *org,
			const char *team, const char *email,
			const char *name, bool exists_ok, jv *cred);
/*
 * The local-first identity: under the lock, on a SQLite store with no
 * user, create it (keys too), save its credentials in auth.json and say
 * so on stderr; *cred gets them and *created is true.  When the store
 * already has users, 0 with *cred the saved credentials (jv_null() when
 * there are none) and *created false.  Other backends: 0, jv_null().
 */
int cdt_auth_bootstrap(struct cdt_auth *a, jv *cred, bool *created);

/*
 * The local identity's user: "NAME@localhost" from the OS user name
 * (lowercase; other than [a-z0-9._-] as '-'), and the name as it is.
 */
void cdt_auth_local_user(char *email, size_t elen, char *name, size_t nlen);

/* Set a user's password (hashing it) and revoke their logins. */
int cdt_auth_set_password(struct cdt_auth *a, const char *user_id,
			  const char *pw, size_t len, const char *actor);
/*
 * Check a user's current password: 0 match, 77 (reported) otherwise,
 * counting toward the lockout as a failed login does.
 */
int cdt_auth_check_password(struct cdt_auth *a, const char *user_id,
			    const char *pw, size_t len);

/* Append an audit event (detail consumed: an object, never secrets). */
int cdt_auth_audit(struct cdt_auth *a, const char *actor,
		   const char *org_id, const char *event, jv detail);

/*
 * Saved credentials.  read: *cred the object in $CDT_HOME/auth.json, or
 * jv_null() when there is none; 78 when unsafe or not JSON.  write: cred
 * not consumed; atomic, 0600.  remove: 0 also when absent.
 */
int cdt_auth_saved_read(jv *cred);
int cdt_auth_saved_write(jv cred);
int cdt_auth_saved_remove(void);
/*
 * A private JSON file (auth.json, credentials.json).  read: *out the
 * object, or jv_null() when there is no file; 78 when it is not a
 * regular file, group- or world-accessible, not ours, or not a JSON
 * object.  write: obj not consumed; temp file, 0600, fsync, rename.
 */
int cdt_auth_secret_read(const char *path, jv *out);
int cdt_auth_secret_write(const char *path, jv obj);
/*
 * The lock on $CDT_HOME/.auth.lock: *fd >= 0 while held.  unlock is
 * fine on -1.
 */
int cdt_auth_lock(int *fd);
void cdt_auth_unlock(int *fd);

/* "cdt_sk_<id>..." style text for a refresh token: never the secret. */
bool cdt_auth_is_refresh_token(const char *s);

#include "banned.h"
#endif
