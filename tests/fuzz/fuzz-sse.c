/*
 * fuzz-sse.c - the SSE / NDJSON parser must give the same events, status
 * and end state however its input is cut.  The input is parsed whole,
 * then cut at two offsets derived from the data, then (when short) one
 * byte at a time, in both modes and with a small event cap so the
 * over-cap path is reached too; any difference aborts.
 */
#include "compat.h"
#include "buf.h"
#include "err.h"
#include "sse.h"

struct rec {
	struct cdt_buf out;
	size_t stop_after;	/* 0: never stop */
	size_t n;
};

static void
put(struct cdt_buf *b, const char *s, size_t n)
{
	char len[32];
	snprintf(len, sizeof(len), "%zu:", n);
	cdt_buf_addstr(b, len);
	cdt_buf_add(b, s, n);
}

static int
record(void *ctx, const struct cdt_sse_event *ev)
{
	struct rec *r = ctx;
	if (ev->data[ev->data_len] != '\0')
		abort();
	/* Length-prefixed, so different events never print the same.  The
	 * transcript's own cap is far above what a fuzz input can reach. */
	put(&r->out, ev->event ? ev->event : "", ev->event ?
	    strlen(ev->event) : 0);
	put(&r->out, ev->id ? ev->id : "", ev->id ? strlen(ev->id) : 0);
	cdt_buf_addf(&r->out, "%ld", ev->retry_ms);
	put(&r->out, ev->data, ev->data_len);
	r->n++;
	if (r->stop_after && r->n >= r->stop_after)
		return 42;
	return 0;
}

/* Feed the cuts in order; cuts[] are increasing offsets ending at len. */
static char *
run(enum cdt_sse_mode mode, size_t max, size_t stop_after,
    const char *in, const size_t *cuts, size_t ncuts, size_t *out_len)
{
	struct cdt_sse p;
	struct rec r = { CDT_BUF_INIT, stop_after, 0 };
	size_t off = 0;
	int rc = 0;
	cdt_buf_init(&r.out, SIZE_MAX / 2);
	cdt_sse_init(&p, mode, max);
	for (size_t i = 0; !rc && i < ncuts; i++) {
		rc = cdt_sse_feed(&p, in + off, cuts[i] - off, record, &r);
		off = cuts[i];
	}
	if (!rc)
		rc = cdt_sse_finish(&p, record, &r);
	cdt_buf_addf(&r.out, "|rc=%d partial=%d comments=%zu retry=%ld", rc,
		     cdt_sse_partial(&p), cdt_sse_comments(&p),
		     cdt_sse_retry(&p));
	cdt_sse_release(&p);
	return cdt_buf_detach(&r.out, out_len);
}

static void
same(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen || memcmp(a, b, alen))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		cdt_err_quiet(true);
		quiet = true;
	}
	if (size < 2)
		return 0;
	/* The first two bytes pick the cap and the stop; the rest is the
	 * stream. */
	size_t max = data[0] & 1 ? 1 + data[0] / 2 : 0;
	size_t stop_after = data[1] & 7;
	const char *in = (const char *)data + 2;
	size_t len = size - 2;

	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)in[i]) * 16777619u;
	size_t a = len ? h % (len + 1) : 0;
	size_t b = len ? (h >> 16) % (len + 1) : 0;
	if (a > b) {
		size_t t = a;
		a = b;
		b = t;
	}
	size_t whole[] = { len };
	size_t two[] = { a, b, len };

	for (int m = 0; m < 2; m++) {
		enum cdt_sse_mode mode = m ? CDT_SSE_NDJSON : CDT_SSE_SSE;
		size_t wl = 0, sl = 0;
		char *w = run(mode, max, stop_after, in, whole, 1, &wl);
		char *s = run(mode, max, stop_after, in, two, 3, &sl);
		same(w, wl, s, sl);
		free(s);
		if (len <= 4096) {
			size_t *bytes = cdt_xmalloc((len + 1) *
						    sizeof(*bytes));
			for (size_t i = 0; i < len; i++)
				bytes[i] = i + 1;
			s = run(mode, max, stop_after, in, bytes, len, &sl);
			same(w, wl, s, sl);
			free(s);
			free(bytes);
		}
		free(w);
	}
	return 0;
}
