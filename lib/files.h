/*
 * files.h - the cdt-files commands.
 *
 * Each works on one workspace root: a plain directory given with -C, or
 * (later issues) a session's workspace.  Every path goes through the
 * lexical validator and the confined open of path.h, and every write is
 * atomic.  A write that takes records reads the stream to its end and
 * checks every record before it writes anything, so one bad path means
 * nothing is written.
 */
#ifndef CDT_FILES_H
#define CDT_FILES_H

#include "tool.h"

int cdt_files_ls(struct cdt_ctx *ctx);
int cdt_files_read(struct cdt_ctx *ctx);
int cdt_files_write(struct cdt_ctx *ctx);
int cdt_files_stat(struct cdt_ctx *ctx);
int cdt_files_rm(struct cdt_ctx *ctx);
int cdt_files_mv(struct cdt_ctx *ctx);

#include "banned.h"
#endif
