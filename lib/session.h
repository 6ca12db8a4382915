/*
 * session.h - workspace sessions in the store, and the cdt-session
 * commands over them (cdt-session(1), issue 7).
 *
 * A session is a row of the sessions table: its tenant (org, team, owner
 * user, project) as the caller check resolved them at create, its status
 * (creating, running, paused, terminating, terminated, error), its
 * sandbox document (type, engine, network, limits, enforced_by, owner
 * pid and start time, idle timeout) and its workspace directory, by
 * default $CDT_HOME/storage/{org}/{team}/{user id}/projects/{project}
 * (storage.root replaces $CDT_HOME/storage), made 0700; the git
 * repository in it is cdt-checkpoint's business.  Every command
 * authorises against the row (caller.h): another org's session is 66,
 * as if missing.  Pausing a paused session or terminating a terminated
 * one is 0 and changes nothing.  exec runs in a fresh sandbox
 * (sandbox.h) and exits with the command's status, 125 when it never
 * ran.
 *
 * Each cdt_session_CMD is a cdt_cmd_fn for bin/cdt-session.c.
 */
#ifndef CDT_SESSION_H
#define CDT_SESSION_H

#include "compat.h"
#include "tool.h"

/*
 * Tell exec where "--" was: the first word after it in argv (NULL when
 * none), so `exec ID -- CMD` and `exec -- CMD` differ.  Call from main
 * before cdt_tool_main.
 */
void cdt_session_set_argv(int argc, char **argv);

int cdt_session_create(struct cdt_ctx *ctx);
int cdt_session_list(struct cdt_ctx *ctx);
int cdt_session_get(struct cdt_ctx *ctx);
int cdt_session_heartbeat(struct cdt_ctx *ctx);
int cdt_session_pause(struct cdt_ctx *ctx);
int cdt_session_resume(struct cdt_ctx *ctx);
int cdt_session_terminate(struct cdt_ctx *ctx);
int cdt_session_exec(struct cdt_ctx *ctx);
int cdt_session_gc(struct cdt_ctx *ctx);

#include "banned.h"
#endif
