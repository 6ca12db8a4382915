/*
 * out.h - the record writer: the only way lib/ writes to stdout.
 *
 * Modes: records (JSON Lines, compact, keys in insertion order), text (a
 * tool's own records rendered for a person by render.h; forwarded records
 * are not shown), and jq (a tool's own records through a jq program,
 * strings printed raw as `jq -r` does; forwarded records are not shown).
 * Each record is flushed at once unless stdout is a regular file, so
 * delta records stream.  No record over CDT_RECORD_MAX is written.  When
 * the reader goes away (EPIPE) writing stops silently; cdt_out_close()
 * then says so and the tool re-raises SIGPIPE after finishing its
 * durable work.  A write error (ENOSPC) is EX_IOERR, reported once.
 */
#ifndef CDT_OUT_H
#define CDT_OUT_H

#include "compat.h"
#include <jv.h>

enum cdt_out_mode {
	CDT_OUT_RECORDS = 0,
	CDT_OUT_TEXT,
	CDT_OUT_JQ,
};

/* Set up stdout; jq_expr is compiled only in jq mode (64 if invalid). */
int cdt_out_init(enum cdt_out_mode mode, const char *jq_expr);
enum cdt_out_mode cdt_out_mode(void);

/* A tool's own record (consumed). */
int cdt_emit(jv rec);
/* A record passed through from stdin (consumed). */
int cdt_forward(jv rec);
/* Bytes for commands whose payload is bytes (read --raw, token, diff). */
int cdt_out_bytes(const void *data, size_t len);
/* Text for a person (text mode only; other modes drop it). */
int cdt_out_text(const char *fmt, ...) CDT_PRINTF(1, 2);

/* Has an error record gone out (forwarded or emitted)? */
bool cdt_out_error_written(void);
/* Did the reader go away? */
bool cdt_out_broken(void);
/* Flush, check, close; EX_IOERR when output was lost. */
int cdt_out_close(void);

#include "banned.h"
#endif
