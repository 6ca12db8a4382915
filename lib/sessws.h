/*
 * sessws.h - a session's workspace, for the tools that work in one
 * (cdt-files, cdt-checkpoint).
 *
 * Which session: --session ID, else the `session` record on stdin, else
 * CDT_SESSION (DESIGN §2: a flag wins over a record, which wins over the
 * environment).  Two session records that disagree are 65 unless the
 * flag names one.  Only the id is taken from a record: the workspace,
 * the tenant and the project come from the store's row, after the caller
 * check (caller.h) allowed perm on it, so a record can never point a
 * tool at another directory or another tenant's files.  Another org's
 * session answers 66 "no such session", like a missing one.
 *
 * Read the record stream before opening: the `session` and `auth`
 * records on it are sources.
 */
#ifndef CDT_SESSWS_H
#define CDT_SESSWS_H

#include "compat.h"
#include <jv.h>
#include "caller.h"
#include "cfg.h"

struct cdt_ctx;
struct cdt_store;

struct cdt_sessws {
	struct cdt_cfg cfg;
	struct cdt_store *st;
	struct cdt_caller who;
	jv row;			/* the session's row */
	const char *id;		/* borrowed from row */
	const char *workspace;	/* the directory, from row */
	const char *project;	/* may be NULL */
	char *branch;		/* "coditect/session-ID" */
	char *author_name;	/* the caller, for commits */
	char *author_email;
};

/* The session the context names (flag, record, environment), or NULL. */
const char *cdt_sessws_id(struct cdt_ctx *ctx);

/*
 * Resolve the caller, load the session and authorise perm
 * ("sessions.read" to look, "sessions.update" to change).  0, or 64 (no
 * session named), 65 (records that disagree), 66, 77, 78, 75 (store),
 * reported.  Release w in any case.
 */
int cdt_sessws_open(struct cdt_ctx *ctx, const char *perm,
		    struct cdt_sessws *w);
void cdt_sessws_release(struct cdt_sessws *w);
/*
 * The row that sql (a SELECT of the sessions table with org_id,
 * team_id, user_id and project, whose one parameter is the id) finds,
 * into *row, once who may do perm to it: 0, 66 (none, or another org's),
 * 77, or the store's status.
 */
int cdt_sessws_load(struct cdt_store *st, const struct cdt_caller *who,
		    const char *sql, const char *id, const char *perm,
		    jv *row);

/*
 * Workspaces on S3 (storage.backend s3, or CDT_STORAGE=s3).  The
 * sandbox always runs on a local working copy; S3 keeps the project:
 *
 * The location of a project, or NULL on the local backend (the caller
 * frees it): s3://BUCKET/[PREFIX/]teams/TEAM/users/USER/projects/PROJECT
 * with BUCKET storage.s3.bucket, else coditect-ORG.  Names, not ids, for
 * the org and team; the user's id (emails make poor keys).
 */
char *cdt_sessws_location(const struct cdt_cfg *cfg, const char *org,
			  const char *team, const char *user_id,
			  const char *project);
/*
 * Pull location into the working copy dir when dir holds no files yet
 * (a project's sessions share it: a working copy already there is as new
 * as S3 or newer, and is never overwritten).  *pulled says if it did.
 */
int cdt_sessws_pull(const struct cdt_cfg *cfg, const char *location,
		    const char *dir, bool *pulled);
/*
 * Push a session's working copy back to its location (the sandbox
 * document's storage.location in row; nothing for a local session).
 * Files that differ are copied; nothing is deleted on S3.
 */
int cdt_sessws_push(const struct cdt_cfg *cfg, jv row);

#include "banned.h"
#endif
