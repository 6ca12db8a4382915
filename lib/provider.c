/*
 * provider.c - the provider list, keys, one attempt at a provider, and
 * the classification of what went wrong.  The wire formats live in
 * prov_anthropic.c, prov_openai.c, prov_gemini.c, prov_ollama.c and
 * prov_replay.c; see prov.h for how they plug in.
 */
#include "compat.h"

#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cfg.h"
#include "err.h"
#include "hash.h"
#include "http.h"
#include "log.h"
#include "prov.h"
#include "provider.h"
#include "sse.h"

#ifndef CDT_VERSION
#define CDT_VERSION "0"
#endif

extern char **environ;

#define KEY_CMD_MS 10000		/* api_key_cmd deadline */
#define KEY_CMD_MAX 65536		/* bytes of its output kept */
#define CREDS_MAX ((size_t)1 << 20)
#define HEAD_MAX 65536			/* a non-stream 200 body kept */
#define ERR_BODY_MAX ((size_t)1 << 20)	/* an error body kept */

/* --- results -------------------------------------------------------- */

void
cdt_chat_result_init(struct cdt_chat_result *r)
{
	memset(r, 0, sizeof(*r));
	cdt_buf_init(&r->text, CDT_BUF_MAX_DEFAULT);
	r->tokens_in = -1;
	r->tokens_out = -1;
	r->ttfb_ms = -1;
	r->latency_ms = -1;
	r->retry_after_s = -1;
}

void
cdt_chat_result_release(struct cdt_chat_result *r)
{
	cdt_buf_release(&r->text);
}

int64_t
prov_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- jv helpers ----------------------------------------------------- */

jv
prov_get(jv o, const char *path)
{
	jv cur = jv_copy(o);
	const char *p = path;
	while (*p && jv_is_valid(cur)) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		jv_kind k = jv_get_kind(cur);
		if (k == JV_KIND_OBJECT) {
			jv key = jv_string_sized(p, (int)n);
			bool there = jv_object_has(jv_copy(cur),
						   jv_copy(key));
			if (there) {
				cur = jv_object_get(cur, key);
			} else {
				jv_free(key);
				jv_free(cur);
				cur = jv_invalid();
			}
		} else if (k == JV_KIND_ARRAY && n > 0 && n < 9 &&
			   isdigit((unsigned char)*p)) {
			int i = 0;
			for (size_t j = 0; j < n && isdigit((unsigned char)p[j]);
			     j++)
				i = i * 10 + (p[j] - '0');
			if (i < jv_array_length(jv_copy(cur)))
				cur = jv_array_get(cur, i);
			else {
				jv_free(cur);
				cur = jv_invalid();
			}
		} else {
			jv_free(cur);
			cur = jv_invalid();
		}
		p += n;
		if (*p == '.')
			p++;
	}
	return cur;
}

const char *
prov_str(jv o, const char *path)
{
	jv v = prov_get(o, path);
	const char *s = NULL;
	/* The string lives inside o, which holds a reference to it. */
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v);
	jv_free(v);
	return s;
}

long
prov_long(jv o, const char *path, long def)
{
	jv v = prov_get(o, path);
	long n = def;
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);
		if (d >= -1e15 && d <= 1e15)
			n = (long)d;
	}
	jv_free(v);
	return n;
}

void
prov_model(struct cdt_chat_result *res, jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(
	    jv_copy(v)) > 0)
		snprintf(res->model, sizeof(res->model), "%s",
			 jv_string_value(v));
	jv_free(v);
}

/* --- classification ------------------------------------------------- */

static bool
has_ci(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle);
}

static bool
has_any(const char *a, const char *b, const char *const *needles)
{
	for (size_t i = 0; needles[i]; i++)
		if (has_ci(a, needles[i]) || has_ci(b, needles[i]))
			return true;
	return false;
}

static const char *const quota_words[] = {
	"insufficient_quota", "exceeded_current_quota",
	"enforced_spend_limit_reached", "billing_error",
	"credit balance is too low", NULL,
};

/* Anthropic, OpenAI, Moonshot, Gemini and Ollama words for it. */
static const char *const context_words[] = {
	"prompt is too long", "prompt too long", "context length",
	"context_length_exceeded", "exceed context limit",
	"exceeds context limit", "too many tokens",
	"exceeds the maximum number of tokens", "context window",
	"input is too long", "model token limit", NULL,
};

const char *
prov_class_of(const char *type, const char *msg)
{
	static const struct {
		const char *word;
		const char *cls;
	} words[] = {
		{ "overloaded", "overloaded" },
		{ "unavailable", "overloaded" },
		{ "rate_limit", "rate_limited" },
		{ "rate limit", "rate_limited" },
		{ "resource_exhausted", "rate_limited" },
		{ "too many requests", "rate_limited" },
		{ "authentication", "auth" },
		{ "permission", "auth" },
		{ "invalid_api_key", "auth" },
		{ "api_key_invalid", "auth" },
		{ "api key not valid", "auth" },
		{ "unauthenticated", "auth" },
		{ "unauthorized", "auth" },
		{ "not_found", "not_found" },
		{ "not found", "not_found" },
		{ "invalid_request", "bad_request" },
		{ "invalid_argument", "bad_request" },
		{ "request_too_large", "bad_request" },
		{ "failed_precondition", "bad_request" },
		{ "timeout", "timeout" },
		{ "deadline_exceeded", "timeout" },
		{ "server_error", "server" },
		{ "api_error", "server" },
		{ "internal", "server" },
	};
	const char *by_type = NULL;
	if (has_any(type, msg, quota_words))
		return "quota";
	/* The API's own word first: a message may mention anything. */
	for (size_t i = 0; i < CDT_ARRAY_SIZE(words) && !by_type; i++)
		if (has_ci(type, words[i].word))
			by_type = words[i].cls;
	if (by_type && strcmp(by_type, "bad_request"))
		return by_type;
	if (has_any(type, msg, context_words))
		return "context_window";
	if (by_type)
		return by_type;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(words); i++)
		if (has_ci(msg, words[i].word))
			return words[i].cls;
	return "server";
}

int
prov_status_of(const char *cls, bool output_began)
{
	if (!cls)
		return 0;
	if (output_began && strcmp(cls, "cancelled"))
		return EX_TEMPFAIL;
	if (!strcmp(cls, "bad_request") || !strcmp(cls, "context_window"))
		return EX_DATAERR;
	if (!strcmp(cls, "auth"))
		return EX_NOPERM;
	if (!strcmp(cls, "not_found") || !strcmp(cls, "config"))
		return EX_CONFIG;
	if (!strcmp(cls, "internal"))
		return EX_SOFTWARE;
	return EX_UNAVAILABLE;
}

/* Copy msg into res->err_msg: one line, trimmed, the key scrubbed. */
static void
set_msg(struct cdt_chat_result *res, const char *msg, size_t len,
	const char *secret)
{
	struct cdt_buf b = CDT_BUF_INIT;
	while (len && isspace((unsigned char)*msg)) {
		msg++;
		len--;
	}
	while (len && isspace((unsigned char)msg[len - 1]))
		len--;
	size_t klen = secret ? strlen(secret) : 0;
	for (size_t i = 0; i < len; i++) {
		if (klen >= 8 && len - i >= klen &&
		    !memcmp(msg + i, secret, klen)) {
			cdt_buf_addstr(&b, "[redacted]");
			i += klen - 1;
		} else if (msg[i] == '\n' || msg[i] == '\r' ||
			   msg[i] == '\t') {
			if (b.len && b.buf[b.len - 1] != ' ')
				cdt_buf_addch(&b, ' ');
		} else {
			cdt_buf_addch(&b, msg[i]);
		}
		if (b.len >= sizeof(res->err_msg))
			break;
	}
	size_t n = b.len < sizeof(res->err_msg) - 1 ? b.len
						    : sizeof(res->err_msg) - 1;
	/* Never end inside a UTF-8 sequence. */
	if (n < b.len)
		while (n > 0 && ((unsigned char)b.buf[n] & 0xC0) == 0x80)
			n--;
	memcpy(res->err_msg, b.buf, n);
	res->err_msg[n] = '\0';
	cdt_buf_release(&b);
}

static void
classify(struct cdt_chat_result *res, const char *cls, const char *msg,
	 const char *secret)
{
	bool mid = res->output_began && strcmp(cls, "cancelled");
	res->status = prov_status_of(cls, res->output_began);
	/* After output began nothing can be retried or spliced. */
	res->err_class = mid ? "stream_broken" : cls;
	res->partial = res->output_began;
	set_msg(res, msg ? msg : "", msg ? strlen(msg) : 0, secret);
}

int
prov_fail(struct prov_stream *s, const char *cls, const char *type,
	  const char *msg)
{
	if (s->failed)
		return PROV_STOP;
	if (!cls)
		cls = prov_class_of(type, msg);
	classify(s->res, cls, msg ? msg : type, s->secret);
	s->failed = true;
	return PROV_STOP;
}

int
prov_bad(struct cdt_chat_result *res, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	res->err_class = code == EX_CONFIG ? "config" : "bad_request";
	res->status = code;
	set_msg(res, msg, strlen(msg), NULL);
	return code;
}

void
prov_stop_reason(struct cdt_chat_result *res, const char *word)
{
	static const char *const map[][2] = {
		{ "stop", "end_turn" },
		{ "end_turn", "end_turn" },
		{ "length", "max_tokens" },
		{ "max_tokens", "max_tokens" },
		{ "stop_sequence", "stop_sequence" },
		{ "content_filter", "content_filter" },
		{ "refusal", "content_filter" },
		{ "safety", "content_filter" },
		{ "recitation", "content_filter" },
		{ "blocklist", "content_filter" },
		{ "prohibited_content", "content_filter" },
		{ "spii", "content_filter" },
		{ "image_safety", "content_filter" },
		{ "tool_calls", "tool_use" },
		{ "function_call", "tool_use" },
		{ "tool_use", "tool_use" },
	};
	if (!word || !*word)
		return;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(map); i++)
		if (!strcasecmp(word, map[i][0])) {
			snprintf(res->stop_reason, sizeof(res->stop_reason),
				 "%s", map[i][1]);
			return;
		}
	/* The provider's own word, lower case (Gemini shouts). */
	size_t i = 0;
	for (; word[i] && i < sizeof(res->stop_reason) - 1; i++)
		res->stop_reason[i] = (char)tolower((unsigned char)word[i]);
	res->stop_reason[i] = '\0';
}

/* "37s", "1.5s", "250ms" (google.protobuf.Duration in JSON); -1: none. */
static double
parse_delay(const char *s)
{
	if (!s)
		return -1;
	char *end = NULL;
	double d = strtod(s, &end);
	if (end == s || d < 0 || d > 1e9)
		return -1;
	if (!strcmp(end, "ms"))
		return d / 1000;
	if (!strcmp(end, "s") || !*end)
		return d;
	if (!strcmp(end, "m"))
		return d * 60;
	return -1;
}

/* Gemini: error.details[] holds google.rpc.RetryInfo {retryDelay}. */
static double
gemini_retry_delay(jv err)
{
	jv details = prov_get(err, "details");
	double ra = -1;
	if (jv_get_kind(details) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(details));
		for (int i = 0; i < n && ra < 0; i++) {
			jv d = jv_array_get(jv_copy(details), i);
			const char *t = prov_str(d, "@type");
			if (t && strstr(t, "RetryInfo"))
				ra = parse_delay(prov_str(d, "retryDelay"));
			jv_free(d);
		}
	}
	jv_free(details);
	return ra;
}

/* Gemini: a QuotaFailure whose quotaId names a daily cap. */
static bool
gemini_daily(jv err)
{
	jv details = prov_get(err, "details");
	bool daily = false;
	if (jv_get_kind(details) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(details));
		for (int i = 0; i < n && !daily; i++) {
			jv d = jv_array_get(jv_copy(details), i);
			const char *t = prov_str(d, "@type");
			jv v = prov_get(d, "violations");
			if (t && strstr(t, "QuotaFailure") &&
			    jv_get_kind(v) == JV_KIND_ARRAY) {
				int m = jv_array_length(jv_copy(v));
				for (int k = 0; k < m && !daily; k++) {
					jv x = jv_array_get(jv_copy(v), k);
					const char *q = prov_str(x, "quotaId");
					daily = q && strstr(q, "PerDay");
					jv_free(x);
				}
			}
			jv_free(v);
			jv_free(d);
		}
	}
	jv_free(details);
	return daily;
}

static bool
looks_html(const char *ctype, const char *body, size_t len)
{
	if (ctype && !strncasecmp(ctype, "text/html", 9))
		return true;
	while (len && isspace((unsigned char)*body)) {
		body++;
		len--;
	}
	return len && *body == '<';
}

/* The text of an HTML page's <title>, or NULL. */
static const char *
html_title(const char *body, size_t len, size_t *n)
{
	const char *t = memmem(body, len, "<title>", 7);
	if (!t)
		return NULL;
	t += 7;
	const char *e = memmem(t, len - (size_t)(t - body), "</title>", 8);
	if (!e)
		return NULL;
	*n = (size_t)(e - t);
	return t;
}

/*
 * An error body: JSON {"error":{...}} (OpenAI, Anthropic, Moonshot,
 * Gemini, also inside a one-element array), {"error":"..."} (Ollama),
 * or anything else (an HTML page from a proxy, plain text).  Sets
 * err_class, status, err_msg and retry_after_s.
 */
static void
classify_body(struct cdt_chat_result *res, long status, const char *ctype,
	      const char *body, size_t len, double ra, const char *secret)
{
	jv j = jv_invalid();
	jv err = jv_invalid();
	const char *type = NULL;
	const char *msg = NULL;
	const char *cls;
	char fallback[96];
	struct cdt_buf text = CDT_BUF_INIT;

	if (len)
		j = jv_parse_sized(body, (int)(len > INT32_MAX ? INT32_MAX
							       : len));
	if (jv_get_kind(j) == JV_KIND_ARRAY)
		j = jv_array_get(j, 0);
	if (jv_get_kind(j) == JV_KIND_OBJECT) {
		err = prov_get(j, "error");
		if (jv_get_kind(err) == JV_KIND_OBJECT) {
			msg = prov_str(err, "message");
			type = prov_str(err, "type");
			if (!type)
				type = prov_str(err, "status");
			if (!type)
				type = prov_str(err, "code");
		} else if (jv_get_kind(err) == JV_KIND_STRING) {
			msg = jv_string_value(err);
		}
		if (!msg)
			msg = prov_str(j, "message");
		if (!msg)
			msg = prov_str(j, "detail");
	}
	if (!msg) {
		size_t n = 0;
		const char *t;
		if (looks_html(ctype, body, len)) {
			t = html_title(body, len, &n);
			cdt_buf_addf(&text, "HTTP %ld with an HTML page", status);
			if (t) {
				cdt_buf_addstr(&text, ": ");
				cdt_buf_add(&text, t, n < 120 ? n : 120);
			}
		} else if (len) {
			t = memchr(body, '\n', len);
			n = t ? (size_t)(t - body) : len;
			cdt_buf_addf(&text, "HTTP %ld: ", status);
			cdt_buf_add(&text, body, n < 200 ? n : 200);
		} else {
			cdt_buf_addf(&text, "HTTP %ld with an empty body",
				     status);
		}
		msg = text.buf;
	}

	/* Billing first: a 429 or 400 that no wait will cure. */
	char code[64] = "";
	const char *c = prov_str(err, "code");
	const char *ec = prov_str(err, "details.error_code");
	snprintf(code, sizeof(code), "%s %s", c ? c : "", ec ? ec : "");
	if (status >= 400 && status < 500 &&
	    (has_any(type, code, quota_words) || has_any(msg, NULL,
							  quota_words) ||
	     status == 402 || (status == 429 && gemini_daily(err))))
		cls = "quota";
	else if (status == 400 || status == 413 || status == 422) {
		if (has_any(msg, code, context_words))
			cls = "context_window";
		else if (len && memmem(body, len, "API_KEY_INVALID", 15))
			cls = "auth";	/* Gemini says 400 for a bad key */
		else
			cls = "bad_request";
	} else if (status == 401 || status == 403)
		cls = "auth";
	else if (status == 404)
		cls = "not_found";
	else if (status == 408)
		cls = "timeout";
	else if (status == 429)
		cls = "rate_limited";
	else if (status == 503 || status == 529)
		cls = "overloaded";
	else if (status >= 500)
		cls = "server";
	else if (status >= 400)
		cls = "bad_request";
	else if (status >= 200 && status < 300)
		cls = type ? prov_class_of(type, msg) : "server";
	else {
		snprintf(fallback, sizeof(fallback), status >= 300 &&
			 status < 400 ? "HTTP %ld: a redirect, not followed"
			 : "unexpected HTTP status %ld", status);
		if (!type && msg == text.buf)
			msg = fallback;
		cls = "server";
	}
	classify(res, cls, msg, secret);
	res->retry_after_s = ra >= 0 ? ra : gemini_retry_delay(err);
	cdt_buf_release(&text);
	jv_free(err);
	jv_free(j);
}

/* --- streams -------------------------------------------------------- */

int
prov_text(struct prov_stream *s, const char *text, size_t len)
{
	struct cdt_chat_result *res = s->res;
	if (!len)
		return 0;
	if (cdt_buf_add(&res->text, text, len))
		return prov_fail(s, "server", NULL, "the reply is larger than "
				 "the record cap");
	if (!res->output_began) {
		res->output_began = true;
		res->ttfb_ms = (long)(prov_now_ms() - s->start_ms);
	}
	if (s->cb) {
		int rc = s->cb(s->ctx, text, len);
		if (rc) {
			s->cb_status = rc;
			return rc;
		}
	}
	return 0;
}

static int
on_event(void *ctx, const struct cdt_sse_event *ev)
{
	struct prov_stream *s = ctx;
	jv data = jv_invalid();
	if (s->failed)
		return PROV_STOP;
	/* Only what may be JSON goes to the parser ("[DONE]" is not). */
	if (ev->data_len > 0 && ev->data_len < INT32_MAX &&
	    (*ev->data == '{' || *ev->data == '[') &&
	    strcmp(ev->data, "[DONE]"))
		data = jv_parse_sized(ev->data, (int)ev->data_len);
	if (!jv_is_valid(data)) {
		jv_free(data);
		data = jv_invalid();
	} else {
		s->any_event = true;
	}
	return s->w->event(s, ev->event, data, ev->data, ev->data_len);
}

static void
stream_init(struct prov_stream *s, const struct prov_wire *w,
	    struct cdt_chat_result *res, cdt_delta_cb cb, void *ctx,
	    const char *secret)
{
	memset(s, 0, sizeof(*s));
	s->w = w;
	s->res = res;
	s->cb = cb;
	s->ctx = ctx;
	s->secret = secret;
	cdt_sse_init(&s->sse, w->mode, 0);
	cdt_buf_init(&s->head, HEAD_MAX);
	s->start_ms = prov_now_ms();
}

static void
stream_release(struct prov_stream *s)
{
	cdt_sse_release(&s->sse);
	cdt_buf_release(&s->head);
}

/* The body of a 2xx reply, as it arrives. */
static int
stream_feed(struct prov_stream *s, const char *ctype, const char *data,
	    size_t len)
{
	s->bytes += len;
	if (s->failed)
		return PROV_STOP;
	if (!s->sniffed) {
		size_t i = 0;
		while (i < len && isspace((unsigned char)data[i]))
			i++;
		if (i == len)
			goto feed;
		s->sniffed = true;
		/* A proxy's HTML page, or a JSON error where a stream
		 * belongs: keep it for the message, parse nothing. */
		if (looks_html(ctype, data + i, len - i) ||
		    (s->w->mode == CDT_SSE_SSE &&
		     (data[i] == '{' || data[i] == '[' ||
		      (ctype && !strncasecmp(ctype, "application/json",
					     16)))))
			s->not_stream = true;
		data += i;
		len -= i;
	}
	if (s->not_stream) {
		size_t room = HEAD_MAX - s->head.len;
		cdt_buf_add(&s->head, data, len < room ? len : room);
		return 0;
	}
feed:;
	int rc = cdt_sse_feed(&s->sse, data, len, on_event, s);
	if (rc && rc != PROV_STOP && rc != s->cb_status)
		return prov_fail(s, "server", NULL, "an event of the stream "
				 "is larger than 16 MiB");
	return rc;
}

/* The 2xx body has ended (http status 0): complete, or why not. */
static void
stream_end(struct prov_stream *s, const char *ctype)
{
	struct cdt_chat_result *res = s->res;
	if (s->cb_status || s->failed)
		return;
	if (s->not_stream) {
		classify_body(res, 200, ctype, s->head.buf, s->head.len, -1,
			      s->secret);
		if (!strcmp(res->err_class, "server") &&
		    !looks_html(ctype, s->head.buf, s->head.len))
			set_msg(res, "HTTP 200 without an event stream", 32,
				NULL);
		return;
	}
	int rc = cdt_sse_finish(&s->sse, on_event, s);
	if (s->cb_status || s->failed)
		return;
	if (rc) {
		prov_fail(s, "server", NULL, "the stream's last event is "
			  "larger than 16 MiB");
		return;
	}
	if (!s->sniffed) {
		prov_fail(s, "server", NULL, "HTTP 200 with an empty body");
		return;
	}
	const char *lack = s->w->incomplete(s);
	if (lack) {
		char msg[160];
		snprintf(msg, sizeof(msg), "the %s stream ended before %s",
			 s->w->name, lack);
		prov_fail(s, "stream_broken", NULL, msg);
	}
}

static const struct prov_wire *
wire_of(enum cdt_wire w)
{
	switch (w) {
	case CDT_WIRE_ANTHROPIC:
		return &prov_anthropic;
	case CDT_WIRE_OPENAI:
		return &prov_openai;
	case CDT_WIRE_GEMINI:
		return &prov_gemini;
	case CDT_WIRE_OLLAMA:
		return &prov_ollama;
	case CDT_WIRE_REPLAY:
		break;
	}
	return NULL;
}

struct body_ctx {
	struct prov_stream *s;
	struct cdt_http_resp *resp;
};

static int
on_body(void *ctx, const char *data, size_t len)
{
	struct body_ctx *b = ctx;
	return stream_feed(b->s, b->resp->content_type, data, len);
}

/* --- requests ------------------------------------------------------- */

void
prov_header(struct cdt_buf *hdrs, const char *name, const char *value)
{
	cdt_buf_addf(hdrs, "%s: %s\n", name, value);
}

int
prov_messages(const struct cdt_chat_req *req, enum prov_sys how, jv *out,
	      struct cdt_buf *sys, struct cdt_chat_result *res)
{
	jv msgs = jv_array();
	struct cdt_buf sysb = CDT_BUF_INIT;
	int rc = 0;
	if (req->system && *req->system)
		cdt_buf_addstr(&sysb, req->system);
	if (jv_get_kind(req->messages) != JV_KIND_ARRAY) {
		rc = prov_bad(res, EX_DATAERR, "the request has no messages");
		goto out;
	}
	int n = jv_array_length(jv_copy(req->messages));
	for (int i = 0; i < n; i++) {
		jv m = jv_array_get(jv_copy(req->messages), i);
		const char *role = prov_str(m, "role");
		const char *content = prov_str(m, "content");
		if (!role || !content) {
			jv_free(m);
			rc = prov_bad(res, EX_DATAERR, "message %d of the "
				      "request lacks a role or text content",
				      i + 1);
			goto out;
		}
		if (!strcmp(role, "system")) {
			/* Kept in order only where the wire has the role. */
			if (how == PROV_SYS_APART) {
				if (sysb.len)
					cdt_buf_addstr(&sysb, "\n\n");
				cdt_buf_addstr(&sysb, content);
				jv_free(m);
				continue;
			}
		} else if (strcmp(role, "user") && strcmp(role, "assistant")) {
			rc = prov_bad(res, EX_DATAERR, "message %d of the "
				      "request has role '%.32s': only user, "
				      "assistant and system can be sent",
				      i + 1, role);
			jv_free(m);
			goto out;
		}
		jv o = jv_object();
		o = jv_object_set(o, jv_string("role"), jv_string(role));
		o = jv_object_set(o, jv_string("content"),
				  jv_string(content));
		msgs = jv_array_append(msgs, o);
		jv_free(m);
	}
	if (jv_array_length(jv_copy(msgs)) == 0) {
		rc = prov_bad(res, EX_DATAERR, "the request has no messages");
		goto out;
	}
	if (how == PROV_SYS_MESSAGE && req->system && *req->system) {
		jv o = jv_object();
		o = jv_object_set(o, jv_string("role"), jv_string("system"));
		o = jv_object_set(o, jv_string("content"),
				  jv_string(req->system));
		msgs = jv_array_concat(jv_array_append(jv_array(), o), msgs);
	}
	if (sys && how == PROV_SYS_APART)
		cdt_buf_add(sys, sysb.buf, sysb.len);
out:
	cdt_buf_release(&sysb);
	if (rc) {
		jv_free(msgs);
		msgs = jv_invalid();
	}
	*out = msgs;
	return rc;
}

static const char *
model_of(const struct cdt_provider *p, const struct cdt_chat_req *req)
{
	if (req->model && *req->model)
		return req->model;
	return p->model;
}

int
cdt_provider_wire_request(const struct cdt_provider *p,
			  const struct cdt_chat_req *req,
			  struct cdt_buf *url, jv *body,
			  struct cdt_chat_result *res)
{
	struct cdt_buf hdrs = CDT_BUF_INIT;
	const struct prov_wire *w = wire_of(p->wire);
	const char *model = model_of(p, req);
	int rc;
	*body = jv_invalid();
	if (!w)
		return prov_bad(res, EX_CONFIG, "provider '%s' has no wire "
				"request", p->name);
	if (!model)
		return prov_bad(res, EX_CONFIG, "provider '%s' has no model: "
				"set providers.%s.model or pass -m",
				p->name, p->name);
	rc = w->build(p, req, model, url, body, &hdrs, res);
	cdt_buf_release_secret(&hdrs);
	return rc;
}

/* The deadline of this attempt: the request's, else the provider's. */
static long
deadline(long req_ms, const struct cdt_provider *p)
{
	return req_ms > 0 ? req_ms : p->timeout_ms > 0 ? p->timeout_ms : 0;
}

int
cdt_provider_send(const struct cdt_provider *p,
		  const struct cdt_chat_req *req, cdt_delta_cb cb,
		  void *ctx, struct cdt_chat_result *res)
{
	struct cdt_buf url = CDT_BUF_INIT;
	struct cdt_buf hdrs = CDT_BUF_INIT;
	struct cdt_http_resp resp;
	struct prov_stream s;
	const char **lines = NULL;
	jv body = jv_invalid();
	jv body_text = jv_invalid();
	int64_t start = prov_now_ms();
	int rc;

	cdt_http_resp_init(&resp);
	stream_init(&s, &prov_openai, res, cb, ctx, p->api_key);
	if (p->wire == CDT_WIRE_REPLAY) {
		rc = prov_replay_send(p, req, cb, ctx, res);
		goto out;
	}
	if (p->needs_key && !p->api_key) {
		rc = prov_bad(res, EX_CONFIG, "provider '%s' has no API key: "
			      "set %s", p->name, p->key_vars ? p->key_vars
			      : "its api_key_env");
		goto out;
	}
	const struct prov_wire *w = wire_of(p->wire);
	const char *model = model_of(p, req);
	if (!model) {
		rc = prov_bad(res, EX_CONFIG, "provider '%s' has no model: "
			      "set providers.%s.model or pass -m", p->name,
			      p->name);
		goto out;
	}
	rc = w->build(p, req, model, &url, &body, &hdrs, res);
	if (rc)
		goto out;
	s.w = w;
	cdt_sse_release(&s.sse);
	cdt_sse_init(&s.sse, w->mode, 0);
	prov_header(&hdrs, "Content-Type", "application/json");
	prov_header(&hdrs, "Accept", w->accept);
	prov_header(&hdrs, "User-Agent", "cdt/" CDT_VERSION);
	snprintf(res->model, sizeof(res->model), "%s", model);

	/* The header block as the NULL-terminated list http.h takes. */
	size_t nl = 0;
	for (size_t i = 0; i < hdrs.len; i++)
		nl += hdrs.buf[i] == '\n';
	lines = cdt_xcalloc(nl + 1, sizeof(*lines));
	nl = 0;
	for (char *l = hdrs.buf; *l;) {
		char *e = strchr(l, '\n');
		*e = '\0';
		lines[nl++] = l;
		l = e + 1;
	}
	body_text = jv_dump_string(jv_copy(body), 0);
	struct body_ctx bc = { &s, &resp };
	long first = deadline(req->first_byte_ms, p);
	struct cdt_http_req hr = {
		.method = "POST",
		.url = url.buf,
		.headers = lines,
		.body = jv_string_value(body_text),
		.body_len = (size_t)jv_string_length_bytes(
			jv_copy(body_text)),
		.connect_ms = req->connect_ms > 0 ? req->connect_ms : first,
		.first_byte_ms = first,
		.idle_ms = deadline(req->idle_ms, p),
		.total_ms = deadline(req->total_ms, p),
		.body_cb = on_body,
		.body_ctx = &bc,
		.max_body = ERR_BODY_MAX,
	};
	struct cdt_err_last before;
	cdt_err_get(&before);
	bool had_error = before.code != 0;
	s.start_ms = prov_now_ms();
	cdt_err_quiet(true);
	int hrc = cdt_http_do(&hr, &resp);
	cdt_err_quiet(false);
	res->http_status = resp.status;
	if (resp.status && (resp.status < 200 || resp.status >= 300)) {
		classify_body(res, resp.status, resp.content_type,
			      resp.body.buf, resp.body.len,
			      resp.retry_after_s, p->api_key);
	} else if (hrc && hrc == s.cb_status) {
		classify(res, "cancelled", "stopped by the reader", NULL);
		res->status = s.cb_status;
	} else if (hrc == PROV_STOP) {
		/* s.failed: classified by the event. */
	} else if (hrc) {
		struct cdt_err_last last;
		cdt_err_get(&last);
		const char *cls = "internal";
		static const char *const known[] = {
			"timeout", "connect", "stream_broken", "config",
		};
		for (size_t i = 0; i < CDT_ARRAY_SIZE(known); i++)
			if (!strcmp(last.cls, known[i]))
				cls = known[i];
		classify(res, cls, last.message, p->api_key);
		if (!strcmp(cls, "internal"))
			res->status = hrc;
	} else {
		stream_end(&s, resp.content_type);
	}
	if (!had_error)
		cdt_err_clear();
	if (res->status == 0 && res->err_class == NULL && s.cb_status)
		res->status = s.cb_status;
	if (!res->output_began)
		res->ttfb_ms = resp.ttfb_ms;
	rc = res->status;
out:
	res->latency_ms = (long)(prov_now_ms() - start);
	if (res->status)
		res->partial = res->output_began;
	stream_release(&s);
	jv_free(body_text);
	free(lines);
	jv_free(body);
	cdt_http_resp_release(&resp);
	cdt_buf_release_secret(&hdrs);
	cdt_buf_release(&url);
	return rc;
}

/* --- test entry points ---------------------------------------------- */

static const char *
usual_ctype(enum cdt_wire w)
{
	return w == CDT_WIRE_OLLAMA ? "application/x-ndjson"
				    : "text/event-stream";
}

int
cdt_provider_parse_test(enum cdt_wire wire, const char *content_type,
			const char *body, size_t len, size_t split,
			struct cdt_chat_result *res)
{
	const struct prov_wire *w = wire_of(wire);
	struct prov_stream s;
	if (!w)
		return prov_bad(res, EX_CONFIG, "no parser for this wire");
	if (!content_type)
		content_type = usual_ctype(wire);
	stream_init(&s, w, res, NULL, NULL, NULL);
	res->http_status = 200;
	int rc = 0;
	for (size_t off = 0; off < len && !rc;) {
		size_t n = split && split < len - off ? split : len - off;
		rc = stream_feed(&s, content_type, body + off, n);
		off += n;
	}
	if (!rc)
		stream_end(&s, content_type);
	stream_release(&s);
	return res->status;
}

int
cdt_provider_classify_test(enum cdt_wire wire, long status,
			   const char *content_type, const char *body,
			   size_t len, double retry_after_s,
			   struct cdt_chat_result *res)
{
	(void)wire;
	res->http_status = status;
	classify_body(res, status, content_type, body, len, retry_after_s,
		      NULL);
	return res->status;
}

/* --- the cassette key ----------------------------------------------- */

int
cdt_provider_request_key(const struct cdt_provider *p,
			 const struct cdt_chat_req *req, char key[65])
{
	struct cdt_chat_result res;
	jv msgs = jv_invalid();
	(void)p;
	cdt_chat_result_init(&res);
	key[0] = '\0';
	int rc = prov_messages(req, PROV_SYS_MESSAGE, &msgs, NULL, &res);
	if (rc) {
		cdt_chat_result_release(&res);
		return rc;
	}
	jv o = jv_object();
	o = jv_object_set(o, jv_string("messages"), msgs);
	if (req->model && *req->model)
		o = jv_object_set(o, jv_string("model"),
				  jv_string(req->model));
	if (req->max_tokens > 0)
		o = jv_object_set(o, jv_string("max_tokens"),
				  jv_number((double)req->max_tokens));
	if (req->temperature >= 0)
		o = jv_object_set(o, jv_string("temperature"),
				  jv_number(req->temperature));
	jv s = jv_dump_string(o, JV_PRINT_SORTED);
	cdt_sha256_hex(jv_string_value(s),
		       (size_t)jv_string_length_bytes(jv_copy(s)), key);
	jv_free(s);
	cdt_chat_result_release(&res);
	return 0;
}

/* --- the provider list ---------------------------------------------- */

static const struct builtin {
	const char *name;
	const char *alias;
	enum cdt_wire wire;
	const char *key_vars;		/* " or " between names */
	const char *base_env;
	const char *base_default;
} builtins[] = {
	{ "claude", NULL, CDT_WIRE_ANTHROPIC, "ANTHROPIC_API_KEY",
	  "ANTHROPIC_BASE_URL", "https://api.anthropic.com" },
	{ "codex", "openai", CDT_WIRE_OPENAI, "OPENAI_API_KEY",
	  "OPENAI_BASE_URL", "https://api.openai.com/v1" },
	{ "gemini", NULL, CDT_WIRE_GEMINI, "GEMINI_API_KEY or GOOGLE_API_KEY",
	  "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com" },
	{ "kimi", NULL, CDT_WIRE_OPENAI, "MOONSHOT_API_KEY",
	  "MOONSHOT_BASE_URL", "https://api.moonshot.ai/v1" },
	{ "ollama", NULL, CDT_WIRE_OLLAMA, NULL, "OLLAMA_HOST",
	  "http://127.0.0.1:11434" },
	{ "lmstudio", NULL, CDT_WIRE_OPENAI, NULL, "LMSTUDIO_BASE_URL",
	  "http://127.0.0.1:1234/v1" },
};

static void
set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? cdt_xstrdup(src) : NULL;
}

/* A base URL without trailing slashes; a bare host gets http://. */
static void
set_base(struct cdt_provider *p, const char *url)
{
	struct cdt_buf b = CDT_BUF_INIT;
	if (!strstr(url, "://")) {
		/* OLLAMA_HOST=127.0.0.1 or :11434, as ollama takes it. */
		cdt_buf_addstr(&b, "http://");
		if (*url == ':')
			cdt_buf_addstr(&b, "127.0.0.1");
		cdt_buf_addstr(&b, url);
		const char *host = strrchr(b.buf, ']');
		host = host ? host : b.buf + 7;
		if (p->wire == CDT_WIRE_OLLAMA && !strchr(host, ':'))
			cdt_buf_addstr(&b, ":11434");
	} else {
		cdt_buf_addstr(&b, url);
	}
	while (b.len > 0 && b.buf[b.len - 1] == '/')
		cdt_buf_setlen(&b, b.len - 1);
	free(p->base_url);
	p->base_url = cdt_buf_detach(&b, NULL);
}

/* Model, models, prices and window from the table, as defaults. */
static void
table_defaults(struct cdt_provider *p)
{
	size_t n;
	const struct cdt_model_info *t = cdt_models_table(&n);
	jv_free(p->models);
	p->models = jv_array();
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].provider, p->name))
			continue;
		if (!p->model)
			p->model = cdt_xstrdup(t[i].name);
		p->models = jv_array_append(p->models,
					    jv_string(t[i].name));
	}
}

static struct cdt_provider *
add_provider(struct cdt_providers *ps, const char *name, enum cdt_wire w)
{
	ps->v = cdt_xrealloc(ps->v, (ps->n + 1) * sizeof(*ps->v));
	struct cdt_provider *p = &ps->v[ps->n++];
	memset(p, 0, sizeof(*p));
	p->name = cdt_xstrdup(name);
	p->wire = w;
	p->models = jv_array();
	p->price_in = -1;
	p->price_out = -1;
	return p;
}

static void
provider_release(struct cdt_provider *p)
{
	if (p->api_key) {
		OPENSSL_cleanse(p->api_key, strlen(p->api_key));
		free(p->api_key);
	}
	free(p->name);
	free(p->base_url);
	free(p->model);
	jv_free(p->models);
	free(p->key_vars);
	free(p->replay_file);
	free(p->api_key_cmd);
	free(p->key_source_buf);
	memset(p, 0, sizeof(*p));
}

void
cdt_providers_release(struct cdt_providers *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		provider_release(&ps->v[i]);
	free(ps->v);
	ps->v = NULL;
	ps->n = 0;
}

struct cdt_provider *
cdt_providers_find(struct cdt_providers *ps, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->v[i].name, name))
			return &ps->v[i];
	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i].alias && !strcmp(ps->v[i].alias, name))
			return &ps->v[i];
	return NULL;
}

bool
cdt_provider_configured(const struct cdt_provider *p)
{
	if (p->wire == CDT_WIRE_REPLAY)
		return p->replay_file != NULL;
	return !p->needs_key || p->api_key;
}

struct cdt_provider *
cdt_providers_add_replay(struct cdt_providers *ps, const char *file)
{
	struct cdt_provider *p = cdt_providers_find(ps, "replay");
	if (p)
		provider_release(p);
	else
		p = add_provider(ps, "replay", CDT_WIRE_REPLAY);
	if (!p->name) {
		p->name = cdt_xstrdup("replay");
		p->models = jv_array();
	}
	p->wire = CDT_WIRE_REPLAY;
	p->price_in = 0;
	p->price_out = 0;
	p->price_set = true;
	p->replay_file = cdt_xstrdup(file);
	return p;
}

void
cdt_provider_price(const struct cdt_provider *p, const char *model,
		   double *in, double *out)
{
	*in = -1;
	*out = -1;
	if (p->price_set) {
		*in = p->price_in;
		*out = p->price_out;
		return;
	}
	const struct cdt_model_info *m = cdt_model_lookup(p->name,
		model ? model : p->model);
	if (m) {
		*in = m->price_in;
		*out = m->price_out;
	}
}

long
cdt_provider_context(const struct cdt_provider *p, const char *model)
{
	if (!model || (p->model && !strcmp(model, p->model)))
		if (p->max_input_tokens > 0)
			return p->max_input_tokens;
	const struct cdt_model_info *m = cdt_model_lookup(p->name,
		model ? model : p->model);
	return m ? m->context_window : 0;
}

/* --- keys ----------------------------------------------------------- */

static void
set_key(struct cdt_provider *p, char *key, const char *source)
{
	p->api_key = key;
	free(p->key_source_buf);
	p->key_source_buf = cdt_xstrdup(source);
	p->key_source = p->key_source_buf;
}

/* The first line of buf, trimmed, as a new string; NULL when empty. */
static char *
first_line(const char *buf, size_t len)
{
	const char *e = memchr(buf, '\n', len);
	size_t n = e ? (size_t)(e - buf) : len;
	while (n && isspace((unsigned char)*buf)) {
		buf++;
		n--;
	}
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	if (!n || memchr(buf, '\0', n))
		return NULL;
	return cdt_xstrndup(buf, n);
}

/*
 * Run api_key_cmd with /bin/sh -c: stdin /dev/null, stdout captured,
 * stderr the user's, in its own process group so the deadline can kill
 * all of it.  The key is the first line.  0, or why not in why.
 */
static int
run_key_cmd(const char *cmd, char **key, char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	struct cdt_buf out = CDT_BUF_INIT;
	int pfd[2] = { -1, -1 };
	pid_t pid = -1;
	bool timed_out = false;
	int rc = 1;
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };

	*key = NULL;
	cdt_buf_init(&out, KEY_CMD_MAX);
	if (pipe2(pfd, O_CLOEXEC)) {
		snprintf(why, whylen, "cannot make a pipe: %s",
			 strerror(errno));
		return 1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawnattr_init(&at);
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGQUIT);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETPGROUP);
	int err = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	pfd[1] = -1;
	if (err) {
		pid = -1;
		snprintf(why, whylen, "cannot run /bin/sh: %s",
			 strerror(err));
		goto out;
	}
	int64_t end = prov_now_ms() + KEY_CMD_MS;
	for (;;) {
		int64_t left = end - prov_now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		int n = poll(&pf, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			timed_out = n == 0;
			break;
		}
		char chunk[4096];
		ssize_t r = read(pfd[0], chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		size_t room = KEY_CMD_MAX - out.len;
		cdt_buf_add(&out, chunk, (size_t)r < room ? (size_t)r : room);
		OPENSSL_cleanse(chunk, sizeof(chunk));
	}
	if (timed_out)
		kill(-pid, SIGKILL);
	close(pfd[0]);
	pfd[0] = -1;
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		snprintf(why, whylen, "no answer within %d s",
			 KEY_CMD_MS / 1000);
	else if (WIFSIGNALED(st))
		snprintf(why, whylen, "killed by signal %d", WTERMSIG(st));
	else if (WEXITSTATUS(st))
		snprintf(why, whylen, "exit status %d", WEXITSTATUS(st));
	else if (!(*key = first_line(out.buf, out.len)))
		snprintf(why, whylen, "it printed no key");
	else
		rc = 0;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	cdt_buf_release_secret(&out);
	return rc;
}

/* Wipe every string of a parsed secrets file before freeing it. */
static void
wipe_jv(jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		OPENSSL_cleanse((char *)jv_string_value(v),
				(size_t)jv_string_length_bytes(jv_copy(v)));
		break;
	case JV_KIND_OBJECT:
		jv_object_foreach(v, k, x) {
			wipe_jv(x);
			jv_free(x);
			jv_free(k);
		}
		break;
	case JV_KIND_ARRAY:
		jv_array_foreach(v, i, x) {
			wipe_jv(x);
			jv_free(x);
		}
		break;
	default:
		break;
	}
}

/*
 * $CDT_HOME/credentials.json, once: *creds is its "providers" object,
 * or null when there is no file.  78 reported when it is unsafe or bad.
 */
static int
load_creds(jv *creds)
{
	struct cdt_buf path = CDT_BUF_INIT;
	struct cdt_buf text = CDT_BUF_INIT;
	jv j = jv_invalid();
	int fd = -1;
	int rc = 0;
	const char *home = cdt_cfg_home();

	*creds = jv_null();
	if (!home)
		return 0;
	cdt_buf_init(&text, CREDS_MAX);
	cdt_buf_addf(&path, "%s/credentials.json", home);
	fd = open(path.buf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)
			rc = cdt_err_errno(EX_CONFIG, "cannot read '%s'",
					   path.buf);
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = cdt_err_class(EX_CONFIG, "config", "'%s' is not a "
				   "regular file", path.buf);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = cdt_err_class(EX_CONFIG, "config", "'%s' has unsafe "
				   "permissions %04o: it holds keys, so "
				   "chmod 600 it", path.buf,
				   (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_uid != geteuid()) {
		rc = cdt_err_class(EX_CONFIG, "config", "'%s' has unsafe "
				   "permissions: owned by uid %u, not you",
				   path.buf, (unsigned)st.st_uid);
		goto out;
	}
	for (;;) {
		if (cdt_buf_grow(&text, 4096)) {
			rc = cdt_err_class(EX_CONFIG, "config", "'%s' is "
					   "larger than 1 MiB", path.buf);
			goto out;
		}
		ssize_t r = read(fd, text.buf + text.len, 4096);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = cdt_err_errno(EX_CONFIG, "cannot read '%s'",
					   path.buf);
			goto out;
		}
		if (r == 0)
			break;
		cdt_buf_setlen(&text, text.len + (size_t)r);
	}
	j = jv_parse_sized(text.buf, (int)text.len);
	jv prov = prov_get(j, "providers");
	if (jv_get_kind(j) != JV_KIND_OBJECT ||
	    (jv_is_valid(prov) && jv_get_kind(prov) != JV_KIND_OBJECT)) {
		jv_free(prov);
		rc = cdt_err_class(EX_CONFIG, "config", "'%s' is not a JSON "
				   "object {\"providers\":{...}}", path.buf);
		goto out;
	}
	*creds = jv_is_valid(prov) ? prov : jv_null();
out:
	/* On success the keys live on in *creds, wiped by the caller. */
	if (rc || jv_get_kind(*creds) == JV_KIND_NULL)
		wipe_jv(j);
	jv_free(j);
	if (fd >= 0)
		close(fd);
	cdt_buf_release_secret(&text);
	cdt_buf_release(&path);
	return rc;
}

static int
resolve_key(struct cdt_provider *p, jv *creds, bool *creds_loaded)
{
	if (p->wire == CDT_WIRE_REPLAY)
		return 0;
	/* The environment wins. */
	if (p->key_vars) {
		const char *v = p->key_vars;
		while (*v) {
			const char *e = strstr(v, " or ");
			size_t n = e ? (size_t)(e - v) : strlen(v);
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)n, v);
			const char *val = getenv(name);
			if (val && *val) {
				char src[160];
				snprintf(src, sizeof(src), "env:%s", name);
				set_key(p, cdt_xstrdup(val), src);
				return 0;
			}
			v += n;
			if (e)
				v += 4;
		}
	}
	if (p->api_key_cmd) {
		char why[128];
		char *key = NULL;
		if (run_key_cmd(p->api_key_cmd, &key, why, sizeof(why))) {
			cdt_warn("provider '%s' is unconfigured: its "
				 "api_key_cmd failed: %s", p->name, why);
			return 0;
		}
		set_key(p, key, "api_key_cmd");
		return 0;
	}
	/* Only a provider that needs a key looks in the file, so an
	 * unsafe file troubles no one who keeps keys elsewhere. */
	if (!p->needs_key)
		return 0;
	if (!*creds_loaded) {
		int rc = load_creds(creds);
		if (rc)
			return rc;
		*creds_loaded = true;
	}
	const char *names[] = { p->name, p->alias };
	for (size_t i = 0; i < CDT_ARRAY_SIZE(names); i++) {
		if (!names[i] || jv_get_kind(*creds) != JV_KIND_OBJECT)
			continue;
		jv e = jv_object_get(jv_copy(*creds), jv_string(names[i]));
		const char *k = prov_str(e, "api_key");
		if (k && *k) {
			set_key(p, cdt_xstrdup(k), "credentials.json");
			jv_free(e);
			return 0;
		}
		jv_free(e);
	}
	return 0;
}

/* --- config --------------------------------------------------------- */

static int
wire_named(const char *s, enum cdt_wire *w)
{
	static const char *const names[] = {
		"anthropic", "openai", "gemini", "ollama", "replay",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*w = (enum cdt_wire)i;
			return 0;
		}
	return -1;
}

static int
apply_config(const struct cdt_cfg *cfg, struct cdt_providers *ps,
	     const char *name, jv e)
{
	char key[256];
	struct cdt_provider *p = cdt_providers_find(ps, name);
	const char *type = prov_str(e, "type");
	enum cdt_wire w = CDT_WIRE_OPENAI;

	snprintf(key, sizeof(key), "providers.%s", name);
	if (type && wire_named(type, &w))
		return cdt_cfg_err(cfg, EX_CONFIG, key, "provider '%s' has "
				   "an unknown type '%s'", name, type);
	if (!p) {
		if (!type)
			return cdt_cfg_err(cfg, EX_CONFIG, key, "provider '%s' "
					   "needs a type (anthropic, openai, "
					   "gemini, ollama or replay)", name);
		p = add_provider(ps, name, w);
		/* Remote APIs want a key; a local server may not. */
		p->needs_key = w == CDT_WIRE_ANTHROPIC ||
			       w == CDT_WIRE_GEMINI;
		table_defaults(p);
	} else if (type) {
		p->wire = w;
	}
	const char *s;
	if ((s = prov_str(e, "base_url")))
		set_base(p, s);
	if ((s = prov_str(e, "api_key_env"))) {
		set_str(&p->key_vars, *s ? s : NULL);
		p->needs_key = *s != '\0';
	}
	if ((s = prov_str(e, "api_key_cmd"))) {
		set_str(&p->api_key_cmd, *s ? s : NULL);
		if (*s)
			p->needs_key = true;
	}
	if ((s = prov_str(e, "model")))
		set_str(&p->model, s);
	jv list = prov_get(e, "models");
	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_free(p->models);
		p->models = jv_array();
		if (p->model)
			p->models = jv_array_append(p->models,
						    jv_string(p->model));
		jv_array_foreach(list, i, x) {
			if (jv_get_kind(x) == JV_KIND_STRING &&
			    (!p->model || strcmp(jv_string_value(x),
						 p->model)))
				p->models = jv_array_append(p->models,
							    jv_copy(x));
			else if (!p->model && jv_get_kind(x) ==
				 JV_KIND_STRING)
				p->model = cdt_xstrdup(jv_string_value(x));
			jv_free(x);
		}
	}
	jv_free(list);
	jv pr = prov_get(e, "price");
	if (jv_get_kind(pr) == JV_KIND_OBJECT) {
		jv in = prov_get(pr, "input");
		jv out = prov_get(pr, "output");
		p->price_set = true;
		p->price_in = jv_get_kind(in) == JV_KIND_NUMBER
			      ? jv_number_value(in) : -1;
		p->price_out = jv_get_kind(out) == JV_KIND_NUMBER
			       ? jv_number_value(out) : -1;
		jv_free(in);
		jv_free(out);
	}
	jv_free(pr);
	p->max_input_tokens = prov_long(e, "max_input_tokens",
					p->max_input_tokens);
	p->max_tokens = prov_long(e, "max_tokens", p->max_tokens);
	p->timeout_ms = prov_long(e, "timeout", p->timeout_ms);
	if ((s = prov_str(e, "file")))
		set_str(&p->replay_file, s);
	if (p->wire == CDT_WIRE_REPLAY) {
		if (!p->replay_file)
			return cdt_cfg_err(cfg, EX_CONFIG, key, "provider "
					   "'%s' of type replay needs a file",
					   name);
		p->needs_key = false;
	} else if (!p->base_url) {
		return cdt_cfg_err(cfg, EX_CONFIG, key, "provider '%s' needs "
				   "a base_url", name);
	}
	return 0;
}

int
cdt_providers_load(const struct cdt_cfg *cfg, struct cdt_providers *out)
{
	struct cdt_providers ps = { NULL, 0 };
	jv conf = jv_invalid();
	jv creds = jv_null();
	bool creds_loaded = false;
	int rc = 0;

	for (size_t i = 0; i < CDT_ARRAY_SIZE(builtins); i++) {
		const struct builtin *b = &builtins[i];
		struct cdt_provider *p = add_provider(&ps, b->name, b->wire);
		p->alias = b->alias;
		p->builtin = true;
		p->needs_key = b->key_vars != NULL;
		if (b->key_vars)
			p->key_vars = cdt_xstrdup(b->key_vars);
		set_base(p, b->base_default);
		table_defaults(p);
	}
	if (cfg) {
		conf = cdt_cfg_get(cfg, "providers");
		if (jv_get_kind(conf) == JV_KIND_OBJECT) {
			jv_object_foreach(conf, k, e) {
				if (!rc)
					rc = apply_config(cfg, &ps,
							  jv_string_value(k),
							  e);
				jv_free(k);
				jv_free(e);
			}
		}
		if (rc)
			goto out;
	}
	/* The environment's base URLs win over the config file's. */
	for (size_t i = 0; i < CDT_ARRAY_SIZE(builtins); i++) {
		const char *v = getenv(builtins[i].base_env);
		if (v && *v)
			set_base(cdt_providers_find(&ps, builtins[i].name), v);
	}
	for (size_t i = 0; i < ps.n && !rc; i++) {
		struct cdt_provider *p = &ps.v[i];
		const struct cdt_model_info *m = cdt_model_lookup(p->name,
								  p->model);
		if (m && !p->price_set) {
			p->price_in = m->price_in;
			p->price_out = m->price_out;
		}
		if (m && p->max_input_tokens <= 0)
			p->max_input_tokens = m->context_window;
		rc = resolve_key(p, &creds, &creds_loaded);
	}
out:
	wipe_jv(creds);
	jv_free(creds);
	jv_free(conf);
	if (rc)
		cdt_providers_release(&ps);
	*out = ps;
	return rc;
}
