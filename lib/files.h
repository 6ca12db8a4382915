/*
 * files.h - the cdt-files commands.
 *
 * Each works on one workspace: a plain directory given with -C, or for
 * now an S3 prefix given as -C s3://BUCKET/PREFIX (until sessions give
 * the tenant's prefix), through objstore.h.  Every path goes through
 * the lexical validator first and then the backend's confined access;
 * every file is written whole (atomic rename, or one PUT).
 *
 * write and apply read the stream to its end, then check and stage
 * every file and edit record before anything is put in place, so a bad
 * path, a SEARCH text that does not match exactly once, a changed
 * base_sha256 or an upstream error record leaves the workspace as it
 * was (--partial: per file instead).  Without -C the workspace is a
 * session's (sessws.h), after the caller check: sessions.read to look,
 * sessions.update to change.
 */
#ifndef CDT_FILES_H
#define CDT_FILES_H

#include "tool.h"

int cdt_files_ls(struct cdt_ctx *ctx);
int cdt_files_tree(struct cdt_ctx *ctx);
int cdt_files_read(struct cdt_ctx *ctx);
int cdt_files_write(struct cdt_ctx *ctx);
int cdt_files_apply(struct cdt_ctx *ctx);
int cdt_files_stat(struct cdt_ctx *ctx);
int cdt_files_rm(struct cdt_ctx *ctx);
int cdt_files_mv(struct cdt_ctx *ctx);
int cdt_files_sync(struct cdt_ctx *ctx);

/*
 * Copy the workspace at from onto to (each a directory or
 * s3://BUCKET/PREFIX, as -C takes them): files that differ, symlinks
 * (skipped with a warning on S3), empty directories; nothing removed, no
 * records.  A local to is made when missing.
 */
struct cdt_cfg;
int cdt_files_mirror(const char *from, const char *to,
		     const struct cdt_cfg *cfg);

#include "banned.h"
#endif
