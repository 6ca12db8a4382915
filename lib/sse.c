#include "compat.h"
#include <limits.h>
#include "err.h"
#include "sse.h"

static const char bom[3] = { '\xEF', '\xBB', '\xBF' };

void
cdt_sse_init(struct cdt_sse *p, enum cdt_sse_mode mode, size_t max_event)
{
	p->mode = mode;
	p->max = max_event ? max_event : CDT_SSE_MAX_DEFAULT;
	cdt_buf_init(&p->line, p->max);
	cdt_buf_init(&p->data, p->max);
	cdt_buf_init(&p->type, p->max);
	cdt_buf_init(&p->id, p->max);
	p->retry_ms = -1;
	p->reconnect_ms = -1;
	p->comments = 0;
	p->status = 0;
	p->has_data = false;
	p->in_event = false;
	p->cr_pending = false;
	p->first_line = true;
	p->cut = false;
}

void
cdt_sse_release(struct cdt_sse *p)
{
	cdt_buf_release(&p->line);
	cdt_buf_release(&p->data);
	cdt_buf_release(&p->type);
	cdt_buf_release(&p->id);
	cdt_sse_init(p, p->mode, p->max);
}

/* Drop what belongs to the current stream's unfinished line and event. */
static void
end_stream(struct cdt_sse *p)
{
	cdt_buf_reset(&p->line);
	cdt_buf_reset(&p->data);
	cdt_buf_reset(&p->type);
	p->retry_ms = -1;
	p->has_data = false;
	p->in_event = false;
	p->cr_pending = false;
	p->first_line = true;
}

void
cdt_sse_reset(struct cdt_sse *p)
{
	end_stream(p);
	cdt_buf_reset(&p->id);
	p->reconnect_ms = -1;
	p->comments = 0;
	p->status = 0;
	p->cut = false;
}

/* Refuse the stream; what was pending is dropped and it counts as cut. */
static int
too_big(struct cdt_sse *p)
{
	cdt_buf_reset(&p->line);
	p->in_event = false;
	p->cut = true;
	p->status = cdt_err(EX_DATAERR, "%s larger than %zu bytes",
			    p->mode == CDT_SSE_NDJSON ? "NDJSON line"
						      : "event-stream event",
			    p->max);
	return p->status;
}

static int
call(struct cdt_sse *p, cdt_sse_cb cb, void *ctx,
     const struct cdt_sse_event *ev)
{
	int rc = cb(ctx, ev);
	if (rc)
		p->status = rc;
	return rc;
}

static int
dispatch(struct cdt_sse *p, cdt_sse_cb cb, void *ctx)
{
	int rc = 0;
	if (p->has_data) {
		struct cdt_sse_event ev = {
			.event = p->type.len ? p->type.buf : NULL,
			.data = p->data.buf,
			.data_len = p->data.len,
			.id = p->id.len ? p->id.buf : NULL,
			.retry_ms = p->retry_ms,
		};
		rc = call(p, cb, ctx, &ev);
	}
	cdt_buf_reset(&p->data);
	cdt_buf_reset(&p->type);
	p->retry_ms = -1;
	p->has_data = false;
	p->in_event = false;
	return rc;
}

static bool
field_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && !memcmp(name, want, n);
}

static void
set_retry(struct cdt_sse *p, const char *v, size_t n)
{
	long ms = 0;
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return;
	for (size_t i = 0; i < n; i++) {
		int d = v[i] - '0';
		ms = ms > (LONG_MAX - d) / 10 ? LONG_MAX : ms * 10 + d;
	}
	p->retry_ms = ms;
	p->reconnect_ms = ms;
}

/* One complete SSE line, without its terminator. */
static int
sse_line(struct cdt_sse *p, const char *s, size_t n, cdt_sse_cb cb,
	 void *ctx)
{
	if (n == 0)
		return dispatch(p, cb, ctx);
	if (s[0] == ':') {
		p->comments++;
		return 0;
	}
	const char *colon = memchr(s, ':', n);
	size_t nlen = colon ? (size_t)(colon - s) : n;
	const char *v = colon ? colon + 1 : s + n;
	size_t vlen = (size_t)(s + n - v);
	if (vlen && *v == ' ') {
		v++;
		vlen--;
	}
	p->in_event = true;
	if (field_is(s, nlen, "data")) {
		/* Lines join with LF; no LF after the last one. */
		if (p->has_data && cdt_buf_addch(&p->data, '\n'))
			return too_big(p);
		if (cdt_buf_add(&p->data, v, vlen))
			return too_big(p);
		p->has_data = true;
	} else if (field_is(s, nlen, "event")) {
		cdt_buf_reset(&p->type);
		if (cdt_buf_add(&p->type, v, vlen))
			return too_big(p);
	} else if (field_is(s, nlen, "id")) {
		if (memchr(v, '\0', vlen))
			return 0;
		cdt_buf_reset(&p->id);
		if (cdt_buf_add(&p->id, v, vlen))
			return too_big(p);
	} else if (field_is(s, nlen, "retry")) {
		set_retry(p, v, vlen);
	}
	return 0;
}

static bool
blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* One NDJSON line, without its LF. */
static int
nd_line(struct cdt_sse *p, const char *s, size_t n, cdt_sse_cb cb,
	void *ctx)
{
	if (n && s[n - 1] == '\r')
		n--;
	if (blank(s, n))
		return 0;
	/* Copied so the callback gets a NUL-terminated string. */
	cdt_buf_reset(&p->data);
	if (cdt_buf_add(&p->data, s, n))
		return too_big(p);
	struct cdt_sse_event ev = {
		.event = NULL,
		.data = p->data.buf,
		.data_len = p->data.len,
		.id = NULL,
		.retry_ms = -1,
	};
	return call(p, cb, ctx, &ev);
}

static int
line_done(struct cdt_sse *p, const char *s, size_t n, cdt_sse_cb cb,
	  void *ctx)
{
	if (p->first_line) {
		p->first_line = false;
		if (n >= sizeof(bom) && !memcmp(s, bom, sizeof(bom))) {
			s += sizeof(bom);
			n -= sizeof(bom);
		}
	}
	int rc = p->mode == CDT_SSE_NDJSON ? nd_line(p, s, n, cb, ctx)
					   : sse_line(p, s, n, cb, ctx);
	cdt_buf_reset(&p->line);
	return rc;
}

/*
 * Complete a line that ends at eol: straight from the input when nothing
 * was carried over (no copy), else appended to the carried part.  Either
 * way a line longer than max is refused at the same length.
 */
static int
complete(struct cdt_sse *p, const char *s, const char *eol, cdt_sse_cb cb,
	 void *ctx)
{
	size_t n = (size_t)(eol - s);
	if (p->line.len) {
		if (cdt_buf_add(&p->line, s, n))
			return too_big(p);
		return line_done(p, p->line.buf, p->line.len, cb, ctx);
	}
	if (n > p->max)
		return too_big(p);
	return line_done(p, s, n, cb, ctx);
}

static int
carry(struct cdt_sse *p, const char *s, size_t n)
{
	if (cdt_buf_add(&p->line, s, n))
		return too_big(p);
	return 0;
}

static int
feed_ndjson(struct cdt_sse *p, const char *s, const char *end,
	    cdt_sse_cb cb, void *ctx)
{
	while (s < end) {
		const char *lf = memchr(s, '\n', (size_t)(end - s));
		if (!lf)
			return carry(p, s, (size_t)(end - s));
		int rc = complete(p, s, lf, cb, ctx);
		if (rc)
			return rc;
		s = lf + 1;
	}
	return 0;
}

/*
 * A line ends at CR, LF or CRLF.  The next CR and the next LF are each
 * searched for once and remembered until passed, so a stream of LF lines
 * without any CR costs one memchr per line plus one for the whole chunk.
 */
static int
feed_sse(struct cdt_sse *p, const char *s, const char *end, cdt_sse_cb cb,
	 void *ctx)
{
	const char *cr = NULL;
	const char *lf = NULL;
	if (p->cr_pending) {
		p->cr_pending = false;
		if (*s == '\n')
			s++;
	}
	while (s < end) {
		if (!cr || (cr < s && cr != end)) {
			cr = memchr(s, '\r', (size_t)(end - s));
			if (!cr)
				cr = end;
		}
		if (!lf || (lf < s && lf != end)) {
			lf = memchr(s, '\n', (size_t)(end - s));
			if (!lf)
				lf = end;
		}
		const char *eol = cr < lf ? cr : lf;
		if (eol == end)
			return carry(p, s, (size_t)(end - s));
		const char *next = eol + 1;
		if (*eol == '\r') {
			if (next == end)
				p->cr_pending = true;
			else if (*next == '\n')
				next++;
		}
		int rc = complete(p, s, eol, cb, ctx);
		if (rc)
			return rc;
		s = next;
	}
	return 0;
}

int
cdt_sse_feed(struct cdt_sse *p, const char *data, size_t len, cdt_sse_cb cb,
	     void *ctx)
{
	if (p->status)
		return p->status;
	if (len == 0)
		return 0;
	p->cut = false;
	if (p->mode == CDT_SSE_NDJSON)
		return feed_ndjson(p, data, data + len, cb, ctx);
	return feed_sse(p, data, data + len, cb, ctx);
}

int
cdt_sse_finish(struct cdt_sse *p, cdt_sse_cb cb, void *ctx)
{
	int rc = 0;
	if (p->status)
		return p->status;
	if (p->mode == CDT_SSE_NDJSON) {
		p->cut = p->line.len > 0;
		if (p->line.len)
			rc = line_done(p, p->line.buf, p->line.len, cb, ctx);
	} else {
		/* The spec discards an unfinished event at EOF. */
		p->cut = p->line.len > 0 || p->in_event;
	}
	end_stream(p);
	return rc;
}

bool
cdt_sse_partial(const struct cdt_sse *p)
{
	return p->cut || p->line.len > 0 ||
	       (p->mode == CDT_SSE_SSE && p->in_event);
}

size_t
cdt_sse_comments(const struct cdt_sse *p)
{
	return p->comments;
}

long
cdt_sse_retry(const struct cdt_sse *p)
{
	return p->reconnect_ms;
}
