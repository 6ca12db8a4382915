/*
 * checkpoint.h - the cdt-checkpoint commands (git.h does the git).
 *
 * Each works on the repository of one workspace: a plain directory given
 * with -C, or a session's (sessws.h: the row's directory, on the branch
 * coditect/session-ID, the caller as author, a Cdt-Session trailer).
 * Commands that act on the record stream (create,
 * restore, push) read it to the end first, forwarding every record in
 * order, and do nothing when an error record came in (unless --force).
 * create and restore never lose work: restore checkpoints a work tree
 * that differs from its last checkpoint before it changes anything.
 * Output: checkpoint records (diff records with `diff --json`); `diff`
 * otherwise writes git's patch format as bytes, on a pipe too.
 */
#ifndef CDT_CHECKPOINT_H
#define CDT_CHECKPOINT_H

#include "tool.h"

int cdt_checkpoint_create(struct cdt_ctx *ctx);
int cdt_checkpoint_list(struct cdt_ctx *ctx);
int cdt_checkpoint_show(struct cdt_ctx *ctx);
int cdt_checkpoint_diff(struct cdt_ctx *ctx);
int cdt_checkpoint_restore(struct cdt_ctx *ctx);
int cdt_checkpoint_push(struct cdt_ctx *ctx);

#include "banned.h"
#endif
