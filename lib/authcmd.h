/*
 * authcmd.h - the cdt-auth commands (cdt-auth(1)).
 *
 * Each opens the config and the store, forwards the records on stdin
 * (not when stdin carries a password, a provider key or the token of
 * --token-file -), resolves the caller where one is needed (caller.h,
 * which may create the local identity), authorises against the store's
 * rows, and prints records: `auth` (the refresh token only with
 * --show-refresh-token), `api_key` (the key once, at creation), and
 * `user`, `audit` and `provider` rows.  Secrets come from the terminal
 * without echo, from stdin, or from files; never from an option.
 */
#ifndef CDT_AUTHCMD_H
#define CDT_AUTHCMD_H

#include "tool.h"

int cdt_authcmd_init(struct cdt_ctx *ctx);
int cdt_authcmd_register(struct cdt_ctx *ctx);
int cdt_authcmd_login(struct cdt_ctx *ctx);
int cdt_authcmd_refresh(struct cdt_ctx *ctx);
int cdt_authcmd_logout(struct cdt_ctx *ctx);
int cdt_authcmd_whoami(struct cdt_ctx *ctx);
int cdt_authcmd_token(struct cdt_ctx *ctx);
int cdt_authcmd_passwd(struct cdt_ctx *ctx);
int cdt_authcmd_users(struct cdt_ctx *ctx);
int cdt_authcmd_keys(struct cdt_ctx *ctx);
int cdt_authcmd_grant(struct cdt_ctx *ctx);
int cdt_authcmd_revoke(struct cdt_ctx *ctx);
int cdt_authcmd_check(struct cdt_ctx *ctx);
int cdt_authcmd_audit(struct cdt_ctx *ctx);
int cdt_authcmd_provider(struct cdt_ctx *ctx);

#include "banned.h"
#endif
