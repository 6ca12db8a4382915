/*
 * sse.h - incremental parser for Server-Sent Events and NDJSON streams.
 *
 * Pure: no I/O.  Feed the bytes of a response body as they arrive, in
 * chunks cut anywhere (inside a CRLF, a UTF-8 sequence, a field name);
 * the callback runs once per complete event, with the same events
 * whatever the cuts.  SSE follows the WHATWG rules (event, data, id and
 * retry fields; one space after the colon stripped; comment lines
 * counted and skipped; CRLF, LF or lone CR; data lines joined with LF;
 * a blank line dispatches; no data, no event; a leading BOM ignored).
 * NDJSON gives one event per non-blank line (LF or CRLF).
 *
 * Memory stays within a few times max_event whatever the stream's size:
 * a line, or an event's data, longer than max_event is EX_DATAERR
 * (reported).  A nonzero return from the callback stops the feed and is
 * returned; after that, or after an error, the parser returns the same
 * status until cdt_sse_reset.  At end of stream call cdt_sse_finish: it
 * dispatches NDJSON's last line when it has no newline, discards an
 * unterminated SSE event as the spec says, and cdt_sse_partial then
 * tells whether the stream was cut mid-event, so a caller can treat a
 * cut stream as an error rather than a silent success.
 */
#ifndef CDT_SSE_H
#define CDT_SSE_H

#include "compat.h"
#include "buf.h"

#define CDT_SSE_MAX_DEFAULT ((size_t)16 << 20)	/* 16 MiB per event */

enum cdt_sse_mode {
	CDT_SSE_SSE,
	CDT_SSE_NDJSON,
};

/*
 * One event, valid only during the callback.  data is NUL-terminated
 * (data[data_len] == '\0') but may itself hold NULs.  event is NULL when
 * the event had no (or an empty) type: a browser would say "message".
 * id is the last event id seen so far in the stream (it persists across
 * events, as the spec says), NULL while none or after an empty "id:".
 * retry_ms is the retry field of this event, -1 when it had none.
 * In NDJSON mode event and id are NULL and retry_ms is -1.
 */
struct cdt_sse_event {
	const char *event;
	const char *data;
	size_t data_len;
	const char *id;
	long retry_ms;
};

typedef int (*cdt_sse_cb)(void *ctx, const struct cdt_sse_event *ev);

/* The fields are private: use the functions below. */
struct cdt_sse {
	enum cdt_sse_mode mode;
	size_t max;
	struct cdt_buf line;	/* an unterminated line carried over */
	struct cdt_buf data;	/* this event's data */
	struct cdt_buf type;	/* this event's type */
	struct cdt_buf id;	/* last event id */
	long retry_ms;		/* retry field of this event, or -1 */
	long reconnect_ms;	/* last retry field seen, or -1 */
	size_t comments;	/* comment lines seen (keep-alive pings) */
	int status;		/* sticky: an error or a callback's stop */
	bool has_data;		/* a data field was seen in this event */
	bool in_event;		/* a field was seen since the last blank */
	bool cr_pending;	/* the last byte fed was a CR ending a line */
	bool first_line;	/* no line has ended yet: strip a BOM */
	bool cut;		/* the finished stream ended mid-event */
};

/* max_event 0 means CDT_SSE_MAX_DEFAULT.  Cannot fail. */
void cdt_sse_init(struct cdt_sse *p, enum cdt_sse_mode mode,
		  size_t max_event);
void cdt_sse_release(struct cdt_sse *p);
/* Forget the stream (and any sticky status): ready for a new one. */
void cdt_sse_reset(struct cdt_sse *p);

int cdt_sse_feed(struct cdt_sse *p, const char *data, size_t len,
		 cdt_sse_cb cb, void *ctx);
/*
 * End of stream.  Afterwards the parser is ready for a new stream (the
 * last event id and retry are kept, as for an SSE reconnection) and
 * cdt_sse_partial reports on the stream that ended.
 */
int cdt_sse_finish(struct cdt_sse *p, cdt_sse_cb cb, void *ctx);

/*
 * True when the stream ended (or, before cdt_sse_finish, would end)
 * mid-event: SSE with an unterminated line or with fields after the
 * last blank line; NDJSON with a last line lacking its newline (which
 * cdt_sse_finish still dispatches).
 */
bool cdt_sse_partial(const struct cdt_sse *p);
/* Comment lines seen in SSE mode (": ping" keep-alives). */
size_t cdt_sse_comments(const struct cdt_sse *p);
/* The reconnection time from the last valid retry field, or -1. */
long cdt_sse_retry(const struct cdt_sse *p);

#include "banned.h"
#endif
