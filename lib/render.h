/*
 * render.h - records as text for a person (text mode, `cdt render`).
 *
 * Message text as it is (streamed delta records print as they come and
 * the message they belong to is not printed again), files as path, size
 * and short sha256, exec output as it was (stdout data to f, stderr data
 * to stderr), checkpoints as one line each, route records as a table
 * row, error records on stderr.  Never prints a token or a key.  Unknown
 * records print as their type and compact JSON.
 */
#ifndef CDT_RENDER_H
#define CDT_RENDER_H

#include "compat.h"
#include <jv.h>

/* Render rec (not consumed) to f; -1 when writing failed (errno set). */
int cdt_render(FILE *f, jv rec);

struct cdt_ctx;
/*
 * `cdt render`: every record on stdin rendered to stdout; exits with the
 * code of an error record in the stream (the first one), 65 on a bad
 * record.
 */
int cdt_render_run(struct cdt_ctx *ctx);
/* The cdt front command: exec cdt-NAME beside this program or on PATH. */
int cdt_front_exec(const char *name, int argc, char **argv);

#include "banned.h"
#endif
