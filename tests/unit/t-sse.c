/*
 * t-sse.c - the SSE / NDJSON parser.  Every stream is parsed whole, cut
 * at every byte offset, fed one byte at a time and in odd-sized chunks;
 * each way must give the same events, status and end state as the
 * expected transcript.
 */
#include "compat.h"
#include "tap.h"
#include "buf.h"
#include "err.h"
#include "sse.h"

struct rec {
	struct cdt_buf out;
	int stop_after;		/* return 42 from this event on; 0: never */
	int n;
};

static void
put_escaped(struct cdt_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			cdt_buf_addstr(b, "\\n");
		else if (c == '\r')
			cdt_buf_addstr(b, "\\r");
		else if (c == '\0')
			cdt_buf_addstr(b, "\\0");
		else if (c == '\\')
			cdt_buf_addstr(b, "\\\\");
		else
			cdt_buf_addch(b, c);
	}
}

static int
record(void *ctx, const struct cdt_sse_event *ev)
{
	struct rec *r = ctx;
	struct cdt_buf *b = &r->out;
	if (ev->data[ev->data_len] != '\0')
		cdt_buf_addstr(b, "(data not NUL-terminated)");
	cdt_buf_addch(b, '[');
	if (ev->event)
		put_escaped(b, ev->event, strlen(ev->event));
	else
		cdt_buf_addch(b, '-');
	cdt_buf_addstr(b, "][");
	if (ev->id)
		put_escaped(b, ev->id, strlen(ev->id));
	else
		cdt_buf_addch(b, '-');
	cdt_buf_addf(b, "][%ld]", ev->retry_ms);
	put_escaped(b, ev->data, ev->data_len);
	cdt_buf_addstr(b, ";");
	r->n++;
	if (r->stop_after && r->n >= r->stop_after)
		return 42;
	return 0;
}

/*
 * Feed in[0..first) as one chunk, then the rest in chunks of step bytes
 * (step 0: the rest in one), then finish; return the transcript.
 */
static char *
run(enum cdt_sse_mode mode, size_t max, int stop_after, const char *in,
    size_t len, size_t first, size_t step)
{
	struct cdt_sse p;
	struct rec r = { CDT_BUF_INIT, stop_after, 0 };
	int rc;
	cdt_sse_init(&p, mode, max);
	if (first > len)
		first = len;
	rc = cdt_sse_feed(&p, in, first, record, &r);
	for (size_t off = first; !rc && off < len;) {
		size_t n = step && step < len - off ? step : len - off;
		rc = cdt_sse_feed(&p, in + off, n, record, &r);
		off += n;
	}
	if (!rc)
		rc = cdt_sse_finish(&p, record, &r);
	cdt_buf_addf(&r.out, " rc=%d partial=%d comments=%zu retry=%ld", rc,
		     cdt_sse_partial(&p), cdt_sse_comments(&p),
		     cdt_sse_retry(&p));
	cdt_sse_release(&p);
	return cdt_buf_detach(&r.out, NULL);
}

/*
 * Parse in every way; one test that the whole parse gives want, one that
 * every other way gives the same.
 */
static void
check_full(const char *name, enum cdt_sse_mode mode, size_t max,
	   int stop_after, const char *in, size_t len, const char *want)
{
	cdt_err_quiet(true);
	char *whole = run(mode, max, stop_after, in, len, len, 0);
	is_str(whole, want, "%s: events", name);
	int bad = 0;
	size_t ways = 0;
	static const size_t steps[] = { 1, 2, 3, 7, 64 };
	for (size_t k = 0; k <= len; k++) {
		char *got = run(mode, max, stop_after, in, len, k, 0);
		ways++;
		if (strcmp(got, whole) && bad++ == 0)
			diag("split at %zu: %s", k, got);
		free(got);
	}
	for (size_t i = 0; i < CDT_ARRAY_SIZE(steps); i++) {
		char *got = run(mode, max, stop_after, in, len, 0,
				steps[i]);
		ways++;
		if (strcmp(got, whole) && bad++ == 0)
			diag("chunks of %zu: %s", steps[i], got);
		free(got);
	}
	ok(bad == 0, "%s: same at every split, byte by byte, chunks "
	   "(%zu ways)", name, ways);
	free(whole);
	cdt_err_quiet(false);
}

#define CHK(name, mode, max, stop, in, want) \
	check_full(name, mode, max, stop, in, sizeof(in) - 1, want)
#define SSE(name, in, want) \
	check_full(name, CDT_SSE_SSE, 0, 0, in, sizeof(in) - 1, want)
#define NDJ(name, in, want) \
	check_full(name, CDT_SSE_NDJSON, 0, 0, in, sizeof(in) - 1, want)

#define END0 " rc=0 partial=0 comments=0 retry=-1"

static void
test_sse_spec(void)
{
	SSE("one event", "data: hello\n\n", "[-][-][-1]hello;" END0);
	SSE("no space after colon", "data:hello\n\n",
	    "[-][-][-1]hello;" END0);
	SSE("only one space stripped", "data:  two\n\n",
	    "[-][-][-1] two;" END0);
	SSE("colon in value", "data: a:b: c\n\n", "[-][-][-1]a:b: c;" END0);
	SSE("multi-line data joined with LF",
	    "data: a\ndata: b\ndata:\ndata: c\n\n",
	    "[-][-][-1]a\\nb\\n\\nc;" END0);
	SSE("event type, reset after dispatch",
	    "event: foo\ndata: x\n\ndata: y\n\n",
	    "[foo][-][-1]x;[-][-][-1]y;" END0);
	SSE("empty event type is none", "event:\ndata: x\n\n",
	    "[-][-][-1]x;" END0);
	SSE("last event type wins", "event: a\nevent: b\ndata: x\n\n",
	    "[b][-][-1]x;" END0);
	SSE("id persists across events",
	    "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
	    "[-][7][-1]a;[-][7][-1]b;[-][-][-1]c;" END0);
	SSE("id set by an event without data", "id: 9\n\ndata: a\n\n",
	    "[-][9][-1]a;" END0);
	SSE("id with NUL ignored", "id: 1\ndata: a\n\nid: x\0y\ndata: b\n\n",
	    "[-][1][-1]a;[-][1][-1]b;" END0);
	SSE("retry digits", "retry: 3000\ndata: x\n\ndata: y\n\n",
	    "[-][-][3000]x;[-][-][-1]y; rc=0 partial=0 comments=0 "
	    "retry=3000");
	SSE("retry not digits ignored",
	    "retry: 30a\ndata: x\n\nretry:\ndata: y\n\nretry: -5\ndata: z\n\n"
	    "retry: 1 \ndata: w\n\n",
	    "[-][-][-1]x;[-][-][-1]y;[-][-][-1]z;[-][-][-1]w;" END0);
	SSE("retry overflow clamps",
	    "retry: 99999999999999999999999999\ndata: x\n\n",
	    "[-][-][9223372036854775807]x; rc=0 partial=0 comments=0 "
	    "retry=9223372036854775807");
	SSE("comments ignored and counted",
	    ": ping\n\n:\n: another\ndata: x\n:mid\n\n",
	    "[-][-][-1]x; rc=0 partial=0 comments=4 retry=-1");
	SSE("no data field, no event", "event: foo\n\nid: 3\n\n\n\n",
	    " rc=0 partial=0 comments=0 retry=-1");
	SSE("data field without colon", "data\n\n", "[-][-][-1];" END0);
	SSE("empty data dispatches", "data:\n\n", "[-][-][-1];" END0);
	SSE("two empty data lines", "data\ndata\n\n", "[-][-][-1]\\n;" END0);
	SSE("unknown fields ignored", "foo: bar\ndata: x\nDATA: y\n\n",
	    "[-][-][-1]x;" END0);
	SSE("space before colon is part of the name", "data : x\n\n",
	    " rc=0 partial=0 comments=0 retry=-1");
	SSE("NUL in data kept", "data: a\0b\n\n", "[-][-][-1]a\\0b;" END0);
	SSE("CRLF line ends", "event: e\r\ndata: a\r\ndata: b\r\n\r\n",
	    "[e][-][-1]a\\nb;" END0);
	SSE("lone CR line ends", "data: a\rdata: b\r\rdata: c\r\r",
	    "[-][-][-1]a\\nb;[-][-][-1]c;" END0);
	SSE("mixed line ends", "data: a\r\n\rdata: b\n\r\ndata: c\r\r\n\n",
	    "[-][-][-1]a;[-][-][-1]b;[-][-][-1]c;" END0);
	SSE("CR CR is two lines", "data: a\r\r", "[-][-][-1]a;" END0);
	SSE("leading BOM ignored", "\xEF\xBB\xBF" "data: x\n\n",
	    "[-][-][-1]x;" END0);
	SSE("only the first BOM",
	    "\xEF\xBB\xBF" "data: x\n\n\xEF\xBB\xBF" "data: y\n\n",
	    "[-][-][-1]x;" END0);
	SSE("BOM alone on the first line", "\xEF\xBB\xBF\ndata: x\n\n",
	    "[-][-][-1]x;" END0);
	SSE("UTF-8 multibyte in every field",
	    "event: \xC3\xA9t\xC3\xA9\nid: \xE2\x98\x83\n"
	    "data: h\xC3\xA9llo \xE2\x98\x83 \xF0\x9F\x98\x80\n\n",
	    "[\xC3\xA9t\xC3\xA9][\xE2\x98\x83][-1]"
	    "h\xC3\xA9llo \xE2\x98\x83 \xF0\x9F\x98\x80;" END0);
	SSE("cut mid-event is partial, not dispatched",
	    "data: x\n\ndata: y\n",
	    "[-][-][-1]x; rc=0 partial=1 comments=0 retry=-1");
	SSE("cut mid-line is partial", "data: x\n\ndata: y",
	    "[-][-][-1]x; rc=0 partial=1 comments=0 retry=-1");
	SSE("cut after a field without data is partial", "id: 1\n",
	    " rc=0 partial=1 comments=0 retry=-1");
	SSE("comment after the last event is not partial",
	    "data: x\n\n: ping\n",
	    "[-][-][-1]x; rc=0 partial=0 comments=1 retry=-1");
	SSE("ends in CR", "data: x\r\r", "[-][-][-1]x;" END0);
	SSE("empty stream", "", " rc=0 partial=0 comments=0 retry=-1");
}

static void
test_caps(void)
{
	/* "data: 0123456789" is 16 bytes: exactly the cap is fine. */
	CHK("line of exactly max_event", CDT_SSE_SSE, 16, 0,
	    "data: 0123456789\n\n", "[-][-][-1]0123456789;" END0);
	CHK("line over max_event is 65", CDT_SSE_SSE, 16, 0,
	    "data: a\n\ndata: 0123456789a\n\n",
	    "[-][-][-1]a; rc=65 partial=1 comments=0 retry=-1");
	CHK("unterminated line over max_event is 65", CDT_SSE_SSE, 16, 0,
	    "data: a\n\ndata: 0123456789a",
	    "[-][-][-1]a; rc=65 partial=1 comments=0 retry=-1");
	CHK("comment over max_event is 65", CDT_SSE_SSE, 16, 0,
	    ": 0123456789abcdef\n", " rc=65 partial=1 comments=0 retry=-1");
	CHK("data over max_event across lines is 65", CDT_SSE_SSE, 16, 0,
	    "data: 01234567\ndata: 01234567\n\n",
	    " rc=65 partial=1 comments=0 retry=-1");
	CHK("NDJSON line over max_event is 65", CDT_SSE_NDJSON, 8, 0,
	    "{\"a\":1}\n{\"bb\":22}\n",
	    "[-][-][-1]{\"a\":1}; rc=65 partial=1 comments=0 retry=-1");
	CHK("NDJSON CR counts until its LF", CDT_SSE_NDJSON, 7, 0,
	    "{\"a\":1}\r\n", " rc=65 partial=1 comments=0 retry=-1");

	/* A 17 MiB event against the default 16 MiB cap, fed in 64 KiB
	 * chunks: refused, and the carried line never outgrew the cap. */
	size_t chunk = 64 << 10;
	char *buf = cdt_xmalloc(chunk);
	memset(buf, 'x', chunk);
	memcpy(buf, "data: ", 6);
	struct cdt_sse p;
	struct rec r = { CDT_BUF_INIT, 0, 0 };
	cdt_sse_init(&p, CDT_SSE_SSE, 0);
	int rc = 0;
	size_t fed = 0;
	cdt_err_clear();
	cdt_err_quiet(true);
	while (!rc && fed < ((size_t)17 << 20)) {
		rc = cdt_sse_feed(&p, buf, chunk, record, &r);
		fed += chunk;
		memset(buf, 'x', 6);
	}
	cdt_err_quiet(false);
	is_int(rc, EX_DATAERR, "17 MiB event over the 16 MiB default: 65");
	ok(fed > CDT_SSE_MAX_DEFAULT && fed <= CDT_SSE_MAX_DEFAULT + chunk,
	   "refused as soon as it passed the cap (after %zu bytes)", fed);
	ok(p.line.cap <= 2 * (CDT_SSE_MAX_DEFAULT + 1),
	   "carried line stayed bounded (%zu bytes allocated)", p.line.cap);
	struct cdt_err_last e;
	cdt_err_get(&e);
	ok(e.code == EX_DATAERR && strstr(e.message, "larger than 16777216"),
	   "clear message: %s", e.message);
	is_int(cdt_sse_feed(&p, "\n\n", 2, record, &r), EX_DATAERR,
	       "the error is sticky");
	is_int(cdt_sse_finish(&p, record, &r), EX_DATAERR,
	       "finish returns it too");
	cdt_sse_reset(&p);
	is_int(cdt_sse_feed(&p, "data: ok\n\n", 10, record, &r), 0,
	       "reset gives a working parser");
	is_str(r.out.buf, "[-][-][-1]ok;", "and it parses");
	cdt_sse_release(&p);
	cdt_buf_release(&r.out);
	free(buf);
}

static void
test_stop(void)
{
	check_full("callback stop is returned", CDT_SSE_SSE, 0, 2,
		   "data: a\n\ndata: b\n\ndata: c\n\n",
		   sizeof("data: a\n\ndata: b\n\ndata: c\n\n") - 1,
		   "[-][-][-1]a;[-][-][-1]b; rc=42 partial=0 comments=0 "
		   "retry=-1");
	CHK("NDJSON callback stop", CDT_SSE_NDJSON, 0, 1, "1\n2\n",
	    "[-][-][-1]1; rc=42 partial=0 comments=0 "
		   "retry=-1");

	struct cdt_sse p;
	struct rec r = { CDT_BUF_INIT, 1, 0 };
	cdt_sse_init(&p, CDT_SSE_SSE, 0);
	is_int(cdt_sse_feed(&p, "data: a\n\ndata: b\n\n", 18, record, &r),
	       42, "stop mid-chunk");
	is_int(cdt_sse_feed(&p, "data: c\n\n", 9, record, &r), 42,
	       "a stopped parser stays stopped");
	is_int(r.n, 1, "no event after the stop");
	ok(cdt_sse_partial(&p) == false, "nothing pending after stop");
	cdt_sse_release(&p);
	cdt_buf_release(&r.out);
}

static void
test_partial_midstream(void)
{
	struct cdt_sse p;
	struct rec r = { CDT_BUF_INIT, 0, 0 };
	cdt_sse_init(&p, CDT_SSE_SSE, 0);
	ok(!cdt_sse_partial(&p), "fresh parser is not partial");
	cdt_sse_feed(&p, "data: a", 7, record, &r);
	ok(cdt_sse_partial(&p), "partial inside a line");
	cdt_sse_feed(&p, "\n", 1, record, &r);
	ok(cdt_sse_partial(&p), "partial inside an event");
	cdt_sse_feed(&p, "\n", 1, record, &r);
	ok(!cdt_sse_partial(&p), "not partial after the blank line");
	cdt_sse_feed(&p, "id: 4\ndata: b\n", 14, record, &r);
	is_int(cdt_sse_finish(&p, record, &r), 0, "finish of a cut stream");
	ok(cdt_sse_partial(&p), "reports the cut");
	is_str(r.out.buf, "[-][-][-1]a;", "the cut event was discarded");
	/* After finish a new stream starts: the BOM rule applies again and
	 * the last event id carries over, as on a reconnection. */
	cdt_sse_feed(&p, "\xEF\xBB\xBF" "data: c\n\n", 12, record, &r);
	ok(!cdt_sse_partial(&p), "new stream clears the cut");
	is_str(r.out.buf, "[-][-][-1]a;[-][4][-1]c;",
	       "new stream: BOM stripped, last id kept");
	cdt_sse_release(&p);
	cdt_buf_release(&r.out);
}

static void
test_ndjson(void)
{
	NDJ("two lines", "{\"a\":1}\n{\"b\":2}\n",
	    "[-][-][-1]{\"a\":1};[-][-][-1]{\"b\":2};" END0);
	NDJ("no trailing newline", "{\"a\":1}\n{\"b\":2}",
	    "[-][-][-1]{\"a\":1};[-][-][-1]{\"b\":2}; rc=0 partial=1 "
	    "comments=0 retry=-1");
	NDJ("CRLF and blank lines", "{\"a\":1}\r\n\r\n  \t\n{\"b\":2}\r\n",
	    "[-][-][-1]{\"a\":1};[-][-][-1]{\"b\":2};" END0);
	NDJ("CR only inside a line is kept", "a\rb\n",
	    "[-][-][-1]a\\rb;" END0);
	NDJ("SSE syntax is just data in NDJSON", "data: x\n: c\n\n",
	    "[-][-][-1]data: x;[-][-][-1]: c;" END0);
	NDJ("BOM stripped", "\xEF\xBB\xBF{}\n", "[-][-][-1]{};" END0);
	NDJ("UTF-8 line", "{\"t\":\"\xE2\x98\x83\xF0\x9F\x98\x80\"}\n",
	    "[-][-][-1]{\"t\":\"\xE2\x98\x83\xF0\x9F\x98\x80\"};" END0);
	NDJ("empty stream", "", " rc=0 partial=0 comments=0 retry=-1");
	NDJ("Ollama stream (reference 7.4)",
	    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\","
	    "\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
	    "\"done\":false}\n"
	    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:01Z\","
	    "\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
	    "\"done\":true,\"done_reason\":\"stop\"}\n",
	    "[-][-][-1]{\"model\":\"llama3.2\",\"created_at\":"
	    "\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\","
	    "\"content\":\"Hi\"},\"done\":false};"
	    "[-][-][-1]{\"model\":\"llama3.2\",\"created_at\":"
	    "\"2025-01-01T00:00:01Z\",\"message\":{\"role\":\"assistant\","
	    "\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"};"
	    END0);
}

/* The provider samples of security-protocol-anchors.md §7. */
static const char anthropic[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\","
	"\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
	"\"model\":\"claude-x\",\"stop_reason\":null,\"stop_sequence\":null,"
	"\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n"
	"\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":0,"
	"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
	"\n"
	"event: ping\n"
	"data: {\"type\":\"ping\"}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,"
	"\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":0}\n"
	"\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
	"\"end_turn\",\"stop_sequence\":null},"
	"\"usage\":{\"output_tokens\":2}}\n"
	"\n"
	"event: message_stop\n"
	"data: {\"type\":\"message_stop\"}\n"
	"\n";

static const char openai[] =
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
	"\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":"
	"[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	"\"finish_reason\":null}],\"usage\":null}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
	"\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":"
	"[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
	"\"finish_reason\":null}],\"usage\":null}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
	"\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":"
	"[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
	"\"usage\":null}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
	"\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[],"
	"\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,"
	"\"total_tokens\":10}}\n"
	"\n"
	"data: [DONE]\n"
	"\n";

struct seq {
	char types[512];
	char last[64];
	int n;
	bool saw_hi;
};

static int
collect(void *ctx, const struct cdt_sse_event *ev)
{
	struct seq *s = ctx;
	size_t used = strlen(s->types);
	snprintf(s->types + used, sizeof(s->types) - used, "%s%s",
		 s->n ? " " : "", ev->event ? ev->event : "-");
	snprintf(s->last, sizeof(s->last), "%s", ev->data);
	if (strstr(ev->data, "\"text\":\"Hi\"") ||
	    strstr(ev->data, "\"content\":\"Hi\""))
		s->saw_hi = true;
	s->n++;
	return 0;
}

static void
test_providers(void)
{
	struct seq s = { "", "", 0, false };
	struct cdt_sse p;

	cdt_sse_init(&p, CDT_SSE_SSE, 0);
	/* Cut into odd pieces, as a network would. */
	for (size_t off = 0; off < sizeof(anthropic) - 1; off += 37) {
		size_t n = sizeof(anthropic) - 1 - off;
		is_int(cdt_sse_feed(&p, anthropic + off, n < 37 ? n : 37,
				    collect, &s), 0, "anthropic chunk at %zu",
		       off);
	}
	is_int(cdt_sse_finish(&p, collect, &s), 0, "anthropic finish");
	ok(!cdt_sse_partial(&p), "anthropic stream complete");
	is_str(s.types, "message_start content_block_start ping "
	       "content_block_delta content_block_stop message_delta "
	       "message_stop", "anthropic event types in order");
	ok(s.saw_hi, "anthropic text delta seen");
	is_str(s.last, "{\"type\":\"message_stop\"}", "anthropic last data");
	cdt_sse_release(&p);

	memset(&s, 0, sizeof(s));
	cdt_sse_init(&p, CDT_SSE_SSE, 0);
	is_int(cdt_sse_feed(&p, openai, sizeof(openai) - 1, collect, &s), 0,
	       "openai feed");
	is_int(cdt_sse_finish(&p, collect, &s), 0, "openai finish");
	is_int(s.n, 5, "openai: 5 events");
	is_str(s.types, "- - - - -", "openai events have no type");
	ok(s.saw_hi, "openai content delta seen");
	is_str(s.last, "[DONE]", "openai ends with [DONE]");
	ok(!cdt_sse_partial(&p), "openai stream complete");
	cdt_sse_release(&p);

	/* The same streams, checked split at every byte. */
	char want[4096];
	char *whole = run(CDT_SSE_SSE, 0, 0, anthropic, sizeof(anthropic) - 1,
			  sizeof(anthropic), 0);
	snprintf(want, sizeof(want), "%s", whole);
	free(whole);
	check_full("anthropic stream", CDT_SSE_SSE, 0, 0, anthropic,
		   sizeof(anthropic) - 1, want);
	whole = run(CDT_SSE_SSE, 0, 0, openai, sizeof(openai) - 1,
		    sizeof(openai), 0);
	snprintf(want, sizeof(want), "%s", whole);
	free(whole);
	ok(strstr(want, "[-][-][-1][DONE]; rc=0 partial=0") != NULL,
	   "openai transcript ends with [DONE]");
	check_full("openai stream", CDT_SSE_SSE, 0, 0, openai,
		   sizeof(openai) - 1, want);

	/* Same stream with CRLF line ends: same events. */
	struct cdt_buf crlf = CDT_BUF_INIT;
	for (const char *c = anthropic; *c; c++)
		cdt_buf_addstr(&crlf, *c == '\n' ? "\r\n" : (char[2]){*c, 0});
	whole = run(CDT_SSE_SSE, 0, 0, anthropic, sizeof(anthropic) - 1,
		    sizeof(anthropic), 0);
	check_full("anthropic stream with CRLF", CDT_SSE_SSE, 0, 0, crlf.buf,
		   crlf.len, whole);
	free(whole);
	cdt_buf_release(&crlf);
}

int
main(void)
{
	cdt_err_setname("t-sse");
	test_sse_spec();
	test_caps();
	test_stop();
	test_partial_midstream();
	test_ndjson();
	test_providers();
	return done_testing();
}
