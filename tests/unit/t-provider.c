/*
 * t-provider.c - providers without a network: each wire's parser on
 * recorded streams (tests/fixtures/streams), whole, in chunks of every
 * size down to one byte, with CRLF and lone CR line ends; the
 * classification of every error the providers send; the request bodies
 * of each wire; where keys come from; config overrides; cassettes and
 * their keys; the models table.  A few attempts go to a one-shot server
 * forked on 127.0.0.1 to check headers, secrets in messages, Retry-After,
 * refused connections, deadlines and a reader that stops the stream.
 */
#include "compat.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "hash.h"
#include "http.h"
#include "provider.h"

static char tmpdir[] = "/tmp/t-provider-XXXXXX";

/* --- helpers -------------------------------------------------------- */

static int
slurp(const char *path, struct cdt_buf *b)
{
	char chunk[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	cdt_buf_reset(b);
	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		cdt_buf_add(b, chunk, (size_t)n);
	close(fd);
	return n < 0 ? -1 : 0;
}

static int
fixture(const char *name, struct cdt_buf *b)
{
	const char *src = getenv("CDT_SRC");
	struct cdt_buf path = CDT_BUF_INIT;
	cdt_buf_addf(&path, "%s/tests/fixtures/streams/%s", src ? src : ".",
		     name);
	int rc = slurp(path.buf, b);
	cdt_buf_release(&path);
	return rc;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		diag("cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	chmod(path, mode);
}

/* The value at a dotted path of keys and indexes ("a.0.b"), a copy. */
static jv
at(jv o, const char *dotted)
{
	jv path = jv_array();
	const char *p = dotted;
	while (*p) {
		const char *e = strchr(p, '.');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (*p >= '0' && *p <= '9')
			path = jv_array_append(path, jv_number(strtod(p,
								   NULL)));
		else
			path = jv_array_append(path, jv_string_sized(p,
							(int)n));
		p += n + (e ? 1 : 0);
	}
	return jv_getpath(jv_copy(o), path);
}

static bool
at_is_str(jv o, const char *dotted, const char *want)
{
	jv v = at(o, dotted);
	bool same = jv_get_kind(v) == JV_KIND_STRING &&
		    !strcmp(jv_string_value(v), want);
	if (!same) {
		jv s = jv_dump_string(jv_copy(v), 0);
		diag("%s is %s, want \"%s\"", dotted, jv_string_value(s),
		     want);
		jv_free(s);
	}
	jv_free(v);
	return same;
}

static double
at_num(jv o, const char *dotted)
{
	jv v = at(o, dotted);
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v)
						    : -12345;
	jv_free(v);
	return d;
}

static bool
at_absent(jv o, const char *dotted)
{
	jv v = at(o, dotted);
	bool absent = jv_get_kind(v) == JV_KIND_NULL;
	jv_free(v);
	return absent;
}

static jv
user_msgs(const char *text)
{
	jv m = jv_object();
	m = jv_object_set(m, jv_string("role"), jv_string("user"));
	m = jv_object_set(m, jv_string("content"), jv_string(text));
	return jv_array_append(jv_array(), m);
}

/* --- streams -------------------------------------------------------- */

struct stream_case {
	const char *file;
	enum cdt_wire wire;
	int status;
	const char *cls;	/* NULL: success */
	const char *text;
	const char *stop;
	long in;
	long out;
	const char *model;
};

static const struct stream_case streams[] = {
	{ "anthropic-happy.sse", CDT_WIRE_ANTHROPIC, 0, NULL, "Hi",
	  "end_turn", 12, 2, "claude-x" },
	{ "anthropic-thinking-utf8.sse", CDT_WIRE_ANTHROPIC, 0, NULL,
	  "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\nline",
	  "max_tokens", 815, 64, "claude-sonnet-4-5-20250929" },
	{ "anthropic-error.sse", CDT_WIRE_ANTHROPIC, 69, "overloaded", "",
	  "", 12, 1, "claude-x" },
	{ "anthropic-error-after-text.sse", CDT_WIRE_ANTHROPIC, 75,
	  "stream_broken", "Partial", "", 20, 1,
	  "claude-sonnet-4-5-20250929" },
	{ "anthropic-cut.sse", CDT_WIRE_ANTHROPIC, 75, "stream_broken", "Hi",
	  "end_turn", 12, 2, "claude-x" },
	{ "openai-happy.sse", CDT_WIRE_OPENAI, 0, NULL, "Hi", "end_turn", 9,
	  1, "gpt-4o-mini" },
	{ "kimi-happy.sse", CDT_WIRE_OPENAI, 0, NULL, "Hello from Kimi",
	  "end_turn", 39, 211, "kimi-k2-0905-preview" },
	{ "openai-length-utf8.sse", CDT_WIRE_OPENAI, 0, NULL,
	  "caf\xc3\xa9 \xe7\x95\x8c\xf0\x9f\x98\x80", "max_tokens", -1, -1,
	  "gpt-4o-2024-08-06" },
	{ "openai-error-after-text.sse", CDT_WIRE_OPENAI, 75, "stream_broken",
	  "Part", "", -1, -1, "gpt-4o-mini" },
	{ "openai-error-first.sse", CDT_WIRE_OPENAI, 69, "quota", "", "", -1,
	  -1, "" },
	{ "openai-no-done.sse", CDT_WIRE_OPENAI, 75, "stream_broken", "Hi",
	  "end_turn", -1, -1, "gpt-4o-mini" },
	{ "gemini-happy.sse", CDT_WIRE_GEMINI, 0, NULL, "Hi there",
	  "end_turn", 5, 3, "gemini-2.5-flash" },
	{ "gemini-thought-max.sse", CDT_WIRE_GEMINI, 0, NULL, "Answer: 42",
	  "max_tokens", 9, 25, "gemini-2.5-pro" },
	{ "gemini-blocked.sse", CDT_WIRE_GEMINI, 0, NULL, "",
	  "content_filter", 7, -1, "gemini-2.5-flash" },
	{ "gemini-no-finish.sse", CDT_WIRE_GEMINI, 75, "stream_broken", "Hi",
	  "", 5, 1, "gemini-2.5-flash" },
	{ "gemini-error.sse", CDT_WIRE_GEMINI, 69, "overloaded", "", "", -1,
	  -1, "" },
	{ "ollama-happy.ndjson", CDT_WIRE_OLLAMA, 0, NULL, "Hi", "end_turn",
	  12, 2, "llama3.2" },
	{ "ollama-length.ndjson", CDT_WIRE_OLLAMA, 0, NULL,
	  "d\xc3\xa9j\xc3\xa0 vu", "max_tokens", 30, 128,
	  "qwen2.5-coder:7b" },
	{ "ollama-error-after-text.ndjson", CDT_WIRE_OLLAMA, 75,
	  "stream_broken", "Par", "", -1, -1, "llama3.2" },
	{ "ollama-no-done.ndjson", CDT_WIRE_OLLAMA, 75, "stream_broken",
	  "Hi there", "", -1, -1, "llama3.2" },
	/* The fake provider's transcripts (tests/fixtures/transcripts). */
#define T "../transcripts/"
	{ T "anthropic-hello.sse", CDT_WIRE_ANTHROPIC, 0, NULL,
	  "Hello there!", "end_turn", 12, 4, "claude-sonnet-4-5" },
	{ T "anthropic-utf8.sse", CDT_WIRE_ANTHROPIC, 0, NULL,
	  "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\n",
	  "end_turn", 9, 7, "claude-sonnet-4-5" },
	{ T "anthropic-thinking.sse", CDT_WIRE_ANTHROPIC, 0, NULL, "Hi!",
	  "end_turn", 820, 15, "claude-sonnet-4-5" },
	{ T "anthropic-max-tokens.sse", CDT_WIRE_ANTHROPIC, 0, NULL,
	  "FILE: a.c\n```c\nint main(void)", "max_tokens", 12, 10,
	  "claude-sonnet-4-5" },
	{ T "anthropic-error-midstream.sse", CDT_WIRE_ANTHROPIC, 75,
	  "stream_broken", "Partial ans", "", 12, 1, "claude-sonnet-4-5" },
	{ T "openai-hello.sse", CDT_WIRE_OPENAI, 0, NULL, "Hello there!",
	  "end_turn", 9, 3, "gpt-4o-mini-2024-07-18" },
	{ T "openai-no-usage.sse", CDT_WIRE_OPENAI, 0, NULL,
	  "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80",
	  "end_turn", -1, -1, "gpt-4o-mini-2024-07-18" },
	{ T "openai-length.sse", CDT_WIRE_OPENAI, 0, NULL,
	  "FILE: a.c\n```c\nint", "max_tokens", 9, 5,
	  "gpt-4o-mini-2024-07-18" },
	{ T "openai-error-midstream.sse", CDT_WIRE_OPENAI, 75,
	  "stream_broken", "Partial ans", "", -1, -1,
	  "gpt-4o-mini-2024-07-18" },
	{ T "kimi-usage-in-choice.sse", CDT_WIRE_OPENAI, 0, NULL,
	  "Hello there!", "end_turn", 39, 211, "kimi-k2-0711-preview" },
	{ T "kimi-reasoning.sse", CDT_WIRE_OPENAI, 0, NULL, "Hi!",
	  "end_turn", 12, 9, "kimi-k2-0711-preview" },
	{ T "gemini-hello.sse", CDT_WIRE_GEMINI, 0, NULL, "Hello there!",
	  "end_turn", 5, 3, "gemini-2.5-flash" },
	{ T "gemini-crlf-utf8.sse", CDT_WIRE_GEMINI, 0, NULL,
	  "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80",
	  "end_turn", 5, 5, "gemini-2.5-flash" },
	{ T "gemini-max-tokens.sse", CDT_WIRE_GEMINI, 0, NULL,
	  "FILE: a.c\n```c\nint", "max_tokens", 5, 8, "gemini-2.5-flash" },
	{ T "gemini-thought-signature.sse", CDT_WIRE_GEMINI, 0, NULL, "Hi!",
	  "end_turn", 5, 22, "gemini-2.5-flash" },
	{ T "gemini-blocked.sse", CDT_WIRE_GEMINI, 0, NULL, "",
	  "content_filter", 8, -1, "gemini-2.5-flash" },
	{ T "ollama-hello.ndjson", CDT_WIRE_OLLAMA, 0, NULL, "Hello there!",
	  "end_turn", 12, 3, "llama3.2" },
	{ T "ollama-length.ndjson", CDT_WIRE_OLLAMA, 0, NULL,
	  "FILE: a.c\n```c\nint", "max_tokens", 12, 8, "llama3.2" },
	{ T "ollama-error-midstream.ndjson", CDT_WIRE_OLLAMA, 75,
	  "stream_broken", "Partial ans", "", -1, -1, "llama3.2" },
};

/* The fake's error bodies, as they come with their status. */
static const struct {
	const char *file;
	long status;
	const char *cls;
	double ra;
} error_bodies[] = {
	{ T "anthropic-429.json", 429, "rate_limited", -1 },
	{ T "anthropic-529.json", 529, "overloaded", -1 },
	{ T "anthropic-spend-limit.json", 429, "quota", -1 },
	{ T "anthropic-context-window.json", 400, "context_window", -1 },
	{ T "openai-429.json", 429, "rate_limited", -1 },
	{ T "openai-insufficient-quota.json", 429, "quota", -1 },
	{ T "openai-context-window.json", 400, "context_window", -1 },
	{ T "kimi-429.json", 429, "rate_limited", -1 },
	{ T "kimi-quota.json", 429, "quota", -1 },
	{ T "gemini-429-retryinfo.json", 429, "rate_limited", 37 },
	{ T "gemini-429-daily.json", 429, "quota", -1 },
	{ T "gemini-503.json", 503, "overloaded", -1 },
	{ T "gemini-400-key-invalid.json", 400, "auth", -1 },
	{ T "ollama-404.json", 404, "not_found", -1 },
#undef T
};

static bool
same_result(const struct stream_case *c, const struct cdt_chat_result *r,
	    const char *how)
{
	const char *why = NULL;
	if (r->status != c->status)
		why = "status";
	else if (!c->cls ? r->err_class != NULL
			 : !r->err_class || strcmp(r->err_class, c->cls))
		why = "class";
	else if (strcmp(r->text.buf, c->text))
		why = "text";
	else if (strcmp(r->stop_reason, c->stop))
		why = "stop_reason";
	else if (r->tokens_in != c->in || r->tokens_out != c->out)
		why = "tokens";
	else if (strcmp(r->model, c->model))
		why = "model";
	else if (r->partial != (c->status == 75))
		why = "partial";
	else if (r->output_began != (*c->text != '\0'))
		why = "output_began";
	if (why)
		diag("%s %s: %s differs: status %d class %s text '%s' stop "
		     "'%s' tokens %ld/%ld model '%s' msg '%s'", c->file, how,
		     why, r->status, r->err_class ? r->err_class : "-",
		     r->text.buf, r->stop_reason, r->tokens_in, r->tokens_out,
		     r->model, r->err_msg);
	return !why;
}

static bool
parse_as(const struct stream_case *c, const char *body, size_t len,
	 size_t split, const char *how)
{
	struct cdt_chat_result r;
	cdt_chat_result_init(&r);
	int rc = cdt_provider_parse_test(c->wire, NULL, body, len, split, &r);
	bool same = rc == r.status && same_result(c, &r, how);
	cdt_chat_result_release(&r);
	return same;
}

/* LF line ends replaced by eol. */
static void
reend(struct cdt_buf *out, const struct cdt_buf *in, const char *eol)
{
	cdt_buf_reset(out);
	for (size_t i = 0; i < in->len; i++) {
		if (in->buf[i] == '\n')
			cdt_buf_addstr(out, eol);
		else
			cdt_buf_addch(out, in->buf[i]);
	}
}

static void
test_streams(void)
{
	struct cdt_buf b = CDT_BUF_INIT;
	struct cdt_buf v = CDT_BUF_INIT;
	static const size_t sizes[] = { 1, 2, 3, 5, 7, 13, 64, 1000 };
	for (size_t i = 0; i < CDT_ARRAY_SIZE(streams); i++) {
		const struct stream_case *c = &streams[i];
		if (fixture(c->file, &b)) {
			ok(0, "%s: fixture readable", c->file);
			continue;
		}
		ok(parse_as(c, b.buf, b.len, 0, "whole"), "%s: whole",
		   c->file);
		bool all = true;
		for (size_t k = 0; k < CDT_ARRAY_SIZE(sizes) && all; k++) {
			char how[32];
			snprintf(how, sizeof(how), "in %zu-byte chunks",
				 sizes[k]);
			all = parse_as(c, b.buf, b.len, sizes[k], how);
		}
		ok(all, "%s: cut at every byte and in chunks of 2..1000",
		   c->file);
		reend(&v, &b, "\r\n");
		ok(parse_as(c, v.buf, v.len, 0, "CRLF") &&
		   parse_as(c, v.buf, v.len, 1, "CRLF bytewise"),
		   "%s: CRLF, whole and bytewise", c->file);
		if (c->wire != CDT_WIRE_OLLAMA) {
			reend(&v, &b, "\r");
			ok(parse_as(c, v.buf, v.len, 1, "CR bytewise"),
			   "%s: lone CR line ends", c->file);
		}
	}
	for (size_t i = 0; i < CDT_ARRAY_SIZE(error_bodies); i++) {
		struct cdt_chat_result r;
		cdt_chat_result_init(&r);
		if (fixture(error_bodies[i].file, &b)) {
			ok(0, "%s: fixture readable", error_bodies[i].file);
			continue;
		}
		cdt_provider_classify_test(CDT_WIRE_OPENAI,
					   error_bodies[i].status,
					   "application/json", b.buf, b.len,
					   -1, &r);
		ok(r.err_class && !strcmp(r.err_class, error_bodies[i].cls) &&
		   r.retry_after_s == error_bodies[i].ra && r.err_msg[0],
		   "%s with %ld: %s", error_bodies[i].file,
		   error_bodies[i].status, error_bodies[i].cls);
		cdt_chat_result_release(&r);
	}
	cdt_buf_release(&v);
	cdt_buf_release(&b);
}

/* Bodies that are no stream at all, under a 200. */
static void
test_not_streams(void)
{
	static const struct {
		enum cdt_wire wire;
		const char *ctype;
		const char *body;
		const char *cls;
		const char *msg;
	} cases[] = {
		{ CDT_WIRE_ANTHROPIC, "text/html",
		  "<html><head><title>502 Bad Gateway</title></head><body>"
		  "nginx</body></html>\n", "server", "HTML page: 502 Bad" },
		{ CDT_WIRE_OPENAI, "text/event-stream",
		  "\n<!DOCTYPE html><html><title>Just a moment...</title>",
		  "server", "Just a moment" },
		{ CDT_WIRE_OLLAMA, "text/html", "<html>oops</html>", "server",
		  "HTML page" },
		{ CDT_WIRE_GEMINI, "text/event-stream", "", "server",
		  "empty body" },
		{ CDT_WIRE_OLLAMA, "application/x-ndjson", "", "server",
		  "empty body" },
		{ CDT_WIRE_OPENAI, "text/event-stream", "\r\n\n", "server",
		  "empty body" },
		{ CDT_WIRE_ANTHROPIC, "application/json",
		  "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
		  "\"message\":\"Overloaded\"}}", "overloaded", "Overloaded" },
		{ CDT_WIRE_OPENAI, "application/json",
		  "{\"id\":\"x\",\"object\":\"chat.completion\"}", "server",
		  "without an event stream" },
		{ CDT_WIRE_OPENAI, "text/event-stream",
		  ": just a comment\n\n", "stream_broken", "[DONE]" },
		{ CDT_WIRE_OPENAI, "text/event-stream",
		  "data: not json\n\n", "server", "malformed" },
		{ CDT_WIRE_OLLAMA, "application/x-ndjson",
		  "{\"model\":\"x\",\"message\":{\"content\":\"a\"},"
		  "\"done\":false}\nnot json\n", "stream_broken", "malformed" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(cases); i++) {
		struct cdt_chat_result r;
		cdt_chat_result_init(&r);
		int rc = cdt_provider_parse_test(cases[i].wire, cases[i].ctype,
						 cases[i].body,
						 strlen(cases[i].body), 1,
						 &r);
		int want = !strcmp(cases[i].cls, "stream_broken") &&
			   r.output_began ? 75 : 69;
		bool good = rc == want && r.err_class &&
			    !strcmp(r.err_class, cases[i].cls) &&
			    strstr(r.err_msg, cases[i].msg);
		if (!good)
			diag("got %d %s '%s'", rc, r.err_class ? r.err_class
			     : "-", r.err_msg);
		ok(good, "200 body %zu (%s) is %s", i, cases[i].msg,
		   cases[i].cls);
		cdt_chat_result_release(&r);
	}
}

/* --- classification ------------------------------------------------- */

static void
test_classify(void)
{
	static const struct {
		const char *what;
		long status;
		const char *ctype;
		const char *body;
		double ra;
		const char *cls;
		int code;
		double want_ra;
		const char *msg;
	} cases[] = {
		{ "anthropic 400", 400, "application/json",
		  "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_"
		  "error\",\"message\":\"max_tokens: Field required\"},"
		  "\"request_id\":\"req_1\"}", -1, "bad_request", 65, -1,
		  "max_tokens: Field required" },
		{ "anthropic prompt is too long", 400, "application/json",
		  "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_"
		  "error\",\"message\":\"prompt is too long: 208310 tokens > "
		  "200000 maximum\"}}", -1, "context_window", 65, -1,
		  "prompt is too long" },
		{ "openai context_length_exceeded", 400, "application/json",
		  "{\"error\":{\"message\":\"This model's maximum context "
		  "length is 128000 tokens. However, your messages resulted "
		  "in 130211 tokens.\",\"type\":\"invalid_request_error\","
		  "\"param\":\"messages\",\"code\":\"context_length_exceeded"
		  "\"}}", -1, "context_window", 65, -1, "maximum context" },
		{ "code context_length_exceeded alone", 400, NULL,
		  "{\"error\":{\"message\":\"Too long\",\"type\":\"invalid_"
		  "request_error\",\"code\":\"context_length_exceeded\"}}",
		  -1, "context_window", 65, -1, "Too long" },
		{ "moonshot exceed context limit", 400, NULL,
		  "{\"error\":{\"message\":\"Invalid request: Your request "
		  "exceed context limit\",\"type\":\"invalid_request_error\"}}",
		  -1, "context_window", 65, -1, "exceed context limit" },
		{ "too many tokens", 400, NULL,
		  "{\"error\":{\"message\":\"too many tokens in the request\","
		  "\"type\":\"invalid_request_error\"}}", -1,
		  "context_window", 65, -1, "too many tokens" },
		{ "gemini exceeds the maximum number of tokens", 400, NULL,
		  "{\"error\":{\"code\":400,\"message\":\"The input token count"
		  " (1200000) exceeds the maximum number of tokens allowed "
		  "(1048576).\",\"status\":\"INVALID_ARGUMENT\"}}", -1,
		  "context_window", 65, -1, "exceeds the maximum" },
		{ "ollama prompt too long", 400, NULL,
		  "{\"error\":\"prompt too long; exceeded max context length "
		  "by 100 tokens\"}", -1, "context_window", 65, -1,
		  "prompt too long" },
		{ "413 request too large", 413, NULL,
		  "{\"type\":\"error\",\"error\":{\"type\":\"request_too_large"
		  "\",\"message\":\"Request exceeds the maximum allowed number"
		  " of bytes.\"}}", -1, "bad_request", 65, -1, "maximum" },
		{ "gemini 400 API_KEY_INVALID", 400, NULL,
		  "{\"error\":{\"code\":400,\"message\":\"API key not valid. "
		  "Please pass a valid API key.\",\"status\":\"INVALID_"
		  "ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/"
		  "google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\"}]}}",
		  -1, "auth", 77, -1, "API key not valid" },
		{ "401", 401, NULL,
		  "{\"type\":\"error\",\"error\":{\"type\":\"authentication_"
		  "error\",\"message\":\"invalid x-api-key\"}}", -1, "auth",
		  77, -1, "invalid x-api-key" },
		{ "403", 403, NULL,
		  "{\"error\":{\"code\":403,\"message\":\"Method doesn't allow "
		  "unregistered callers\",\"status\":\"PERMISSION_DENIED\"}}",
		  -1, "auth", 77, -1, "unregistered" },
		{ "404 ollama model", 404, NULL,
		  "{\"error\":\"model \\\"llama9\\\" not found, try pulling it "
		  "first\"}", -1, "not_found", 78, -1, "llama9" },
		{ "404 plain text", 404, "text/plain", "404 page not found",
		  -1, "not_found", 78, -1, "HTTP 404: 404 page not found" },
		{ "429 with Retry-After", 429, NULL,
		  "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
		  "\"message\":\"This request would exceed the rate limit\"}}",
		  7, "rate_limited", 69, 7, "rate limit" },
		{ "openai 429 rate_limit_exceeded", 429, NULL,
		  "{\"error\":{\"message\":\"Rate limit reached for gpt-4o-mini"
		  "\",\"type\":\"requests\",\"param\":null,\"code\":\"rate_"
		  "limit_exceeded\"}}", 0.5, "rate_limited", 69, 0.5,
		  "Rate limit reached" },
		{ "openai insufficient_quota", 429, NULL,
		  "{\"error\":{\"message\":\"You exceeded your current quota, "
		  "please check your plan and billing details.\",\"type\":"
		  "\"insufficient_quota\",\"param\":null,\"code\":\"insufficien"
		  "t_quota\"}}", -1, "quota", 69, -1, "current quota" },
		{ "moonshot exceeded_current_quota_error", 429, NULL,
		  "{\"error\":{\"message\":\"Your account org-abc is suspended"
		  "\",\"type\":\"exceeded_current_quota_error\"}}", -1,
		  "quota", 69, -1, "suspended" },
		{ "moonshot rate_limit_reached_error", 429, NULL,
		  "{\"error\":{\"message\":\"Your account org-abc request "
		  "reached max request: 3\",\"type\":\"rate_limit_reached_"
		  "error\"}}", -1, "rate_limited", 69, -1, "max request" },
		{ "anthropic enforced_spend_limit_reached", 429, NULL,
		  "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
		  "\"message\":\"You have reached your specified workspace API "
		  "usage limits.\",\"details\":{\"error_code\":\"enforced_spend"
		  "_limit_reached\"}}}", -1, "quota", 69, -1, "usage limits" },
		{ "gemini 429 per minute with RetryInfo", 429, NULL,
		  "{\"error\":{\"code\":429,\"message\":\"You exceeded your "
		  "current quota, please check your plan and billing details."
		  "\",\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type"
		  "\":\"type.googleapis.com/google.rpc.QuotaFailure\","
		  "\"violations\":[{\"quotaId\":\"GenerateRequestsPerMinutePer"
		  "ProjectPerModel-FreeTier\"}]},{\"@type\":\"type.googleapis."
		  "com/google.rpc.RetryInfo\",\"retryDelay\":\"37s\"}]}}", -1,
		  "rate_limited", 69, 37, "current quota" },
		{ "gemini 429 PerDay", 429, NULL,
		  "[{\"error\":{\"code\":429,\"message\":\"You exceeded your "
		  "current quota\",\"status\":\"RESOURCE_EXHAUSTED\","
		  "\"details\":[{\"@type\":\"type.googleapis.com/google.rpc."
		  "QuotaFailure\",\"violations\":[{\"quotaId\":\"GenerateReques"
		  "tsPerDayPerProjectPerModel-FreeTier\"}]}]}}]", -1, "quota",
		  69, -1, "current quota" },
		{ "gemini retryDelay with a fraction", 429, NULL,
		  "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\","
		  "\"message\":\"slow down\",\"details\":[{\"@type\":\"type."
		  "googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":"
		  "\"1.5s\"}]}}", -1, "rate_limited", 69, 1.5, "slow down" },
		{ "header beats retryDelay", 429, NULL,
		  "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\","
		  "\"message\":\"slow down\",\"details\":[{\"@type\":\"type."
		  "googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":"
		  "\"9s\"}]}}", 3, "rate_limited", 69, 3, "slow down" },
		{ "402", 402, NULL,
		  "{\"type\":\"error\",\"error\":{\"type\":\"billing_error\","
		  "\"message\":\"Payment required\"}}", -1, "quota", 69, -1,
		  "Payment required" },
		{ "credit balance too low", 400, NULL,
		  "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_"
		  "error\",\"message\":\"Your credit balance is too low to "
		  "access the Anthropic API.\"}}", -1, "quota", 69, -1,
		  "credit balance" },
		{ "529", 529, NULL,
		  "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
		  "\"message\":\"Overloaded\"}}", -1, "overloaded", 69, -1,
		  "Overloaded" },
		{ "503", 503, NULL,
		  "{\"error\":{\"code\":503,\"message\":\"The model is "
		  "overloaded. Please try again later.\",\"status\":"
		  "\"UNAVAILABLE\"}}", 2, "overloaded", 69, 2, "overloaded" },
		{ "500", 500, NULL,
		  "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
		  "\"message\":\"Internal server error\"}}", -1, "server", 69,
		  -1, "Internal server error" },
		{ "502 HTML page", 502, "text/html",
		  "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
		  "<body></body></html>", -1, "server", 69, -1,
		  "HTTP 502 with an HTML page: 502 Bad Gateway" },
		{ "504 empty", 504, NULL, "", -1, "server", 69, -1,
		  "HTTP 504 with an empty body" },
		{ "422", 422, NULL, "{\"detail\":\"Unprocessable\"}", -1,
		  "bad_request", 65, -1, "Unprocessable" },
		{ "418 other 4xx", 418, NULL, "{\"error\":\"teapot\"}", -1,
		  "bad_request", 65, -1, "teapot" },
		{ "408", 408, NULL, "", -1, "timeout", 69, -1, "HTTP 408" },
		{ "302 not followed", 302, "text/html", "", -1, "server", 69,
		  -1, "HTTP 302" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(cases); i++) {
		struct cdt_chat_result r;
		cdt_chat_result_init(&r);
		int rc = cdt_provider_classify_test(
			CDT_WIRE_OPENAI, cases[i].status, cases[i].ctype,
			cases[i].body, strlen(cases[i].body), cases[i].ra,
			&r);
		bool good = rc == cases[i].code && r.status == rc &&
			    r.err_class && !strcmp(r.err_class, cases[i].cls) &&
			    r.retry_after_s == cases[i].want_ra &&
			    strstr(r.err_msg, cases[i].msg) &&
			    r.http_status == cases[i].status && !r.partial;
		if (!good)
			diag("got %d %s ra %g '%s'", rc, r.err_class ?
			     r.err_class : "-", r.retry_after_s, r.err_msg);
		ok(good, "%s: %s %d", cases[i].what, cases[i].cls,
		   cases[i].code);
		cdt_chat_result_release(&r);
	}
	/* A long message is cut whole characters, within err_msg. */
	struct cdt_buf big = CDT_BUF_INIT;
	cdt_buf_addstr(&big, "{\"error\":{\"message\":\"");
	for (int i = 0; i < 200; i++)
		cdt_buf_addstr(&big, "\xc3\xa9");
	cdt_buf_addstr(&big, "\",\"type\":\"server_error\"}}");
	struct cdt_chat_result r;
	cdt_chat_result_init(&r);
	cdt_provider_classify_test(CDT_WIRE_OPENAI, 500, NULL, big.buf,
				   big.len, -1, &r);
	size_t n = strlen(r.err_msg);
	ok(n < sizeof(r.err_msg) && n % 2 == 0 &&
	   (unsigned char)r.err_msg[n - 1] == 0xa9,
	   "a long message is cut at a character boundary (%zu bytes)", n);
	cdt_chat_result_release(&r);
	cdt_buf_release(&big);
}

/* --- request bodies ------------------------------------------------- */

struct prov_fixture {
	char name[32];
	char base[128];
	char model[64];
	char key[64];
	struct cdt_provider p;
};

static void
mkprov(struct prov_fixture *f, const char *name, enum cdt_wire w,
       const char *base, const char *model, const char *key)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->base, sizeof(f->base), "%s", base);
	snprintf(f->model, sizeof(f->model), "%s", model ? model : "");
	snprintf(f->key, sizeof(f->key), "%s", key ? key : "");
	f->p.name = f->name;
	f->p.wire = w;
	f->p.base_url = f->base;
	f->p.model = model ? f->model : NULL;
	f->p.api_key = key ? f->key : NULL;
	f->p.needs_key = key != NULL;
	f->p.models = jv_invalid();
	f->p.price_in = f->p.price_out = -1;
}

static jv
two_turns(void)
{
	jv a = jv_array();
	const char *turns[][2] = {
		{ "user", "hello" }, { "assistant", "hi, what now?" },
		{ "user", "write x.c" },
	};
	for (size_t i = 0; i < 3; i++) {
		jv m = jv_object();
		m = jv_object_set(m, jv_string("role"),
				  jv_string(turns[i][0]));
		m = jv_object_set(m, jv_string("content"),
				  jv_string(turns[i][1]));
		a = jv_array_append(a, m);
	}
	return a;
}

static int
build(const struct cdt_provider *p, const struct cdt_chat_req *req,
      struct cdt_buf *url, jv *body, struct cdt_chat_result *r)
{
	cdt_buf_reset(url);
	cdt_chat_result_release(r);
	cdt_chat_result_init(r);
	jv_free(*body);
	*body = jv_invalid();
	return cdt_provider_wire_request(p, req, url, body, r);
}

static void
test_requests(void)
{
	struct prov_fixture f;
	struct cdt_buf url = CDT_BUF_INIT;
	struct cdt_chat_result r;
	jv body = jv_invalid();
	struct cdt_chat_req req = {
		.messages = two_turns(), .system = "be brief",
		.temperature = -1,
	};
	cdt_chat_result_init(&r);

	mkprov(&f, "claude", CDT_WIRE_ANTHROPIC, "https://api.anthropic.com",
	       "claude-sonnet-4-5", "sk-ant-xyz");
	is_int(build(&f.p, &req, &url, &body, &r), 0, "anthropic builds");
	is_str(url.buf, "https://api.anthropic.com/v1/messages",
	       "anthropic URL");
	ok(at_is_str(body, "model", "claude-sonnet-4-5") &&
	   at_is_str(body, "system", "be brief") &&
	   at_is_str(body, "messages.0.role", "user") &&
	   at_is_str(body, "messages.1.role", "assistant") &&
	   at_is_str(body, "messages.2.content", "write x.c"),
	   "anthropic: model, top-level system, the turns in order");
	ok(at_num(body, "max_tokens") > 0, "anthropic: max_tokens present "
	   "by default (%g)", at_num(body, "max_tokens"));
	ok(jv_get_kind(at(body, "stream")) == JV_KIND_TRUE &&
	   at_absent(body, "stream_options") && at_absent(body, "temperature"),
	   "anthropic: stream true, no stream_options, no temperature");
	req.max_tokens = 300;
	req.temperature = 0.5;
	build(&f.p, &req, &url, &body, &r);
	ok(at_num(body, "max_tokens") == 300 &&
	   at_num(body, "temperature") == 0.5,
	   "anthropic: the request's max_tokens and temperature");
	req.max_tokens = 0;
	req.temperature = -1;
	f.p.max_tokens = 1234;
	build(&f.p, &req, &url, &body, &r);
	ok(at_num(body, "max_tokens") == 1234,
	   "anthropic: the provider's max_tokens");
	f.p.max_tokens = 0;
	/* A system turn inside messages joins the system prompt. */
	jv m = jv_object_set(jv_object(), jv_string("role"),
			     jv_string("system"));
	m = jv_object_set(m, jv_string("content"), jv_string("use C11"));
	jv saved = req.messages;
	req.messages = jv_array_concat(jv_array_append(jv_array(), m),
				       jv_copy(saved));
	build(&f.p, &req, &url, &body, &r);
	ok(at_is_str(body, "system", "be brief\n\nuse C11") &&
	   at_is_str(body, "messages.0.role", "user"),
	   "anthropic: system turns go to system, not messages");
	jv_free(req.messages);
	req.messages = saved;

	mkprov(&f, "codex", CDT_WIRE_OPENAI, "https://api.openai.com/v1",
	       "gpt-4o-mini", "sk-xyz");
	build(&f.p, &req, &url, &body, &r);
	is_str(url.buf, "https://api.openai.com/v1/chat/completions",
	       "openai URL");
	ok(at_is_str(body, "messages.0.role", "system") &&
	   at_is_str(body, "messages.0.content", "be brief") &&
	   at_is_str(body, "messages.1.content", "hello") &&
	   at_is_str(body, "messages.3.content", "write x.c"),
	   "openai: system as the first message, then the turns");
	ok(jv_get_kind(at(body, "stream")) == JV_KIND_TRUE &&
	   jv_get_kind(at(body, "stream_options.include_usage")) ==
	   JV_KIND_TRUE, "openai: stream and stream_options.include_usage");
	ok(at_absent(body, "max_tokens") &&
	   at_absent(body, "max_completion_tokens"),
	   "openai: no max_tokens unless asked");
	req.max_tokens = 77;
	build(&f.p, &req, &url, &body, &r);
	ok(at_num(body, "max_completion_tokens") == 77 &&
	   at_absent(body, "max_tokens"),
	   "api.openai.com: max_completion_tokens");
	mkprov(&f, "kimi", CDT_WIRE_OPENAI, "https://api.moonshot.ai/v1",
	       "kimi-k2-0905-preview", "sk-k");
	build(&f.p, &req, &url, &body, &r);
	ok(at_num(body, "max_tokens") == 77 &&
	   at_absent(body, "max_completion_tokens"),
	   "other openai-wire servers: max_tokens");
	req.max_tokens = 0;

	mkprov(&f, "gemini", CDT_WIRE_GEMINI,
	       "https://generativelanguage.googleapis.com",
	       "gemini-2.5-flash", "g-key-secret");
	req.temperature = 0.25;
	build(&f.p, &req, &url, &body, &r);
	is_str(url.buf, "https://generativelanguage.googleapis.com/v1beta/"
	       "models/gemini-2.5-flash:streamGenerateContent?alt=sse",
	       "gemini URL: streamGenerateContent with alt=sse");
	ok(!strstr(url.buf, "g-key-secret") && !strstr(url.buf, "key="),
	   "gemini: the key is not in the URL");
	ok(at_is_str(body, "systemInstruction.parts.0.text", "be brief") &&
	   at_is_str(body, "contents.0.role", "user") &&
	   at_is_str(body, "contents.1.role", "model") &&
	   at_is_str(body, "contents.1.parts.0.text", "hi, what now?") &&
	   at_absent(body, "model") && at_absent(body, "stream"),
	   "gemini: systemInstruction, roles user/model, parts");
	ok(at_num(body, "generationConfig.temperature") == 0.25 &&
	   at_absent(body, "generationConfig.maxOutputTokens"),
	   "gemini: generationConfig holds what was set");
	req.temperature = -1;
	snprintf(f.base, sizeof(f.base), "http://127.0.0.1:9/v1beta");
	req.model = "models/gemini-2.5-pro";
	build(&f.p, &req, &url, &body, &r);
	is_str(url.buf, "http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:"
	       "streamGenerateContent?alt=sse",
	       "gemini: a versioned base URL, a models/ prefix");
	req.model = "../x?key=1";
	is_int(build(&f.p, &req, &url, &body, &r), 65,
	       "gemini: a model name that would change the URL is 65");
	req.model = NULL;

	mkprov(&f, "ollama", CDT_WIRE_OLLAMA, "http://127.0.0.1:11434",
	       "llama3.2", NULL);
	req.max_tokens = 64;
	build(&f.p, &req, &url, &body, &r);
	is_str(url.buf, "http://127.0.0.1:11434/api/chat", "ollama URL");
	ok(at_is_str(body, "messages.0.role", "system") &&
	   at_is_str(body, "model", "llama3.2") &&
	   jv_get_kind(at(body, "stream")) == JV_KIND_TRUE &&
	   at_num(body, "options.num_predict") == 64,
	   "ollama: system message, stream, options.num_predict");
	req.max_tokens = 0;

	/* Requests that cannot be sent. */
	mkprov(&f, "x", CDT_WIRE_OPENAI, "http://127.0.0.1:9", NULL, NULL);
	is_int(build(&f.p, &req, &url, &body, &r), 78,
	       "no model anywhere: 78");
	ok(r.err_class && !strcmp(r.err_class, "config"),
	   "... class config");
	mkprov(&f, "x", CDT_WIRE_OPENAI, "http://127.0.0.1:9", "m", NULL);
	jv bad = jv_array_append(jv_array(), jv_object_set(jv_object_set(
		jv_object(), jv_string("role"), jv_string("tool")),
		jv_string("content"), jv_string("x")));
	saved = req.messages;
	req.messages = bad;
	is_int(build(&f.p, &req, &url, &body, &r), 65, "role tool: 65");
	jv_free(bad);
	req.messages = jv_array_append(jv_array(), jv_object_set(
		jv_object(), jv_string("role"), jv_string("user")));
	is_int(build(&f.p, &req, &url, &body, &r), 65,
	       "a message without content: 65");
	jv_free(req.messages);
	req.messages = jv_array();
	is_int(build(&f.p, &req, &url, &body, &r), 65, "no messages: 65");
	ok(r.err_class && !strcmp(r.err_class, "bad_request"),
	   "... class bad_request");
	jv_free(req.messages);
	req.messages = saved;

	jv_free(req.messages);
	jv_free(body);
	cdt_chat_result_release(&r);
	cdt_buf_release(&url);
}

/* --- cassette keys and replay --------------------------------------- */

static int
count_delta(void *ctx, const char *text, size_t len)
{
	struct cdt_buf *b = ctx;
	(void)text;
	cdt_buf_addf(b, "%zu,", len);
	return 0;
}

static int
stop_delta(void *ctx, const char *text, size_t len)
{
	(void)ctx;
	(void)text;
	(void)len;
	return 42;
}

static void
test_keys_and_replay(void)
{
	char k1[65];
	char k2[65];
	char want[65];
	struct cdt_chat_req req = { .messages = user_msgs("hi"),
				    .temperature = -1 };
	const char *canon = "{\"messages\":[{\"content\":\"hi\",\"role\":"
			    "\"user\"}]}";
	cdt_sha256_hex(canon, strlen(canon), want);
	is_int(cdt_provider_request_key(NULL, &req, k1), 0, "key computed");
	is_str(k1, want, "key: SHA-256 of the sorted compact OpenAI body");
	/* The same request with its keys in another order. */
	jv m = jv_object_set(jv_object(), jv_string("content"),
			     jv_string("hi"));
	m = jv_object_set(m, jv_string("role"), jv_string("user"));
	jv other = jv_array_append(jv_array(), m);
	struct cdt_chat_req req2 = { .messages = other, .temperature = -1,
				     .stream = true };
	cdt_provider_request_key(NULL, &req2, k2);
	is_str(k2, k1, "key: stable under key order and the stream flag");
	struct prov_fixture f;
	mkprov(&f, "claude", CDT_WIRE_ANTHROPIC, "https://x", "c", "k");
	cdt_provider_request_key(&f.p, &req2, k2);
	is_str(k2, k1, "key: the same whichever provider would answer");
	req2.system = "sys";
	cdt_provider_request_key(NULL, &req2, k2);
	const char *canon2 = "{\"messages\":[{\"content\":\"sys\",\"role\":"
			     "\"system\"},{\"content\":\"hi\",\"role\":"
			     "\"user\"}]}";
	cdt_sha256_hex(canon2, strlen(canon2), want);
	is_str(k2, want, "key: the system prompt is the first message");
	req2.system = NULL;
	req2.model = "gpt-4o";
	req2.max_tokens = 10;
	req2.temperature = 0;
	cdt_provider_request_key(NULL, &req2, k2);
	const char *canon3 = "{\"max_tokens\":10,\"messages\":[{\"content\":"
			     "\"hi\",\"role\":\"user\"}],\"model\":\"gpt-4o\","
			     "\"temperature\":0}";
	cdt_sha256_hex(canon3, strlen(canon3), want);
	is_str(k2, want, "key: model, max_tokens and temperature when set");

	/* Record, then replay. */
	char cas[256];
	snprintf(cas, sizeof(cas), "%s/cassette.jsonl", tmpdir);
	struct cdt_chat_result rec;
	cdt_chat_result_init(&rec);
	snprintf(rec.model, sizeof(rec.model), "gpt-4o-mini");
	snprintf(rec.stop_reason, sizeof(rec.stop_reason), "end_turn");
	cdt_buf_addstr(&rec.text, "old reply");
	rec.tokens_in = 3;
	rec.tokens_out = 2;
	mode_t old = umask(022);
	is_int(cdt_cassette_append(cas, k1, "codex", &rec), 0,
	       "cassette: first line appended");
	cdt_buf_reset(&rec.text);
	cdt_buf_addstr(&rec.text, "Hello there, caf\xc3\xa9 \xf0\x9f\x98\x80"
		       " and a longer reply to split");
	is_int(cdt_cassette_append(cas, k1, "codex", &rec), 0,
	       "cassette: a second recording of the same key");
	umask(old);
	struct stat st;
	ok(!stat(cas, &st) && (st.st_mode & 0777) == 0644,
	   "cassette created 0644");
	struct cdt_buf text = CDT_BUF_INIT;
	slurp(cas, &text);
	size_t lines = 0;
	for (size_t i = 0; i < text.len; i++)
		lines += text.buf[i] == '\n';
	jv first = jv_parse_sized(text.buf, (int)(strchr(text.buf, '\n') -
						  text.buf));
	ok(lines == 2 && at_is_str(first, "key", k1) &&
	   at_is_str(first, "provider", "codex") &&
	   at_is_str(first, "text", "old reply") &&
	   at_num(first, "tokens_in") == 3 && at_num(first, "tokens_out") == 2,
	   "cassette: one JSON line per reply with its fields");
	jv_free(first);

	struct cdt_providers ps = { NULL, 0 };
	struct cdt_provider *rp = cdt_providers_add_replay(&ps, cas);
	ok(rp && cdt_provider_configured(rp) && rp->wire == CDT_WIRE_REPLAY,
	   "a replay provider for the cassette");
	struct cdt_chat_result r;
	struct cdt_buf deltas = CDT_BUF_INIT;
	cdt_chat_result_init(&r);
	int rc = cdt_provider_send(rp, &req, count_delta, &deltas, &r);
	ok(rc == 0 && r.replayed && !strcmp(r.text.buf, rec.text.buf) &&
	   !strcmp(r.model, "gpt-4o-mini") && r.tokens_in == 3 &&
	   !strcmp(r.stop_reason, "end_turn"),
	   "replay: the last recording for the key, replayed");
	int pieces = 0;
	for (size_t i = 0; i < deltas.len; i++)
		pieces += deltas.buf[i] == ',';
	ok(pieces > 1 && pieces <= 6, "replay: delivered in a few chunks "
	   "(%s)", deltas.buf);
	cdt_chat_result_release(&r);

	cdt_chat_result_init(&r);
	rc = cdt_provider_send(rp, &req, stop_delta, NULL, &r);
	ok(rc == 42 && r.partial && r.err_class &&
	   !strcmp(r.err_class, "cancelled"),
	   "replay: a reader's stop is kept, the reply partial");
	cdt_chat_result_release(&r);

	cdt_chat_result_init(&r);
	jv_free(req.messages);
	req.messages = user_msgs("never recorded");
	char miss[65];
	cdt_provider_request_key(NULL, &req, miss);
	rc = cdt_provider_send(rp, &req, NULL, NULL, &r);
	ok(rc == 78 && r.err_class && !strcmp(r.err_class, "config") &&
	   strstr(r.err_msg, miss) && !r.output_began,
	   "replay: a miss is 78 naming the key");
	cdt_chat_result_release(&r);

	rp = cdt_providers_add_replay(&ps, "/nonexistent/cassette");
	cdt_chat_result_init(&r);
	rc = cdt_provider_send(rp, &req, NULL, NULL, &r);
	ok(rc == 78 && strstr(r.err_msg, "cannot read cassette"),
	   "replay: a missing cassette is 78");
	cdt_chat_result_release(&r);
	is_int(ps.n, 1, "add_replay replaces the replay provider");
	cdt_providers_release(&ps);

	cdt_chat_result_release(&rec);
	cdt_buf_release(&deltas);
	cdt_buf_release(&text);
	jv_free(req.messages);
	jv_free(other);
}

/* --- loading, keys, config ------------------------------------------ */

static const char *const env_vars[] = {
	"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY",
	"GOOGLE_API_KEY", "MOONSHOT_API_KEY", "ANTHROPIC_BASE_URL",
	"OPENAI_BASE_URL", "GEMINI_BASE_URL", "MOONSHOT_BASE_URL",
	"OLLAMA_HOST", "LMSTUDIO_BASE_URL", "LOCAL_GPT_KEY",
};

static int
load_yaml(const char *yaml, struct cdt_providers *ps)
{
	struct cdt_cfg cfg;
	cdt_cfg_init(&cfg);
	int rc = yaml ? cdt_cfg_load_string(&cfg, "test.yaml", yaml,
					    strlen(yaml)) : 0;
	if (!rc)
		rc = cdt_providers_load(yaml ? &cfg : NULL, ps);
	cdt_cfg_release(&cfg);
	return rc;
}

static const char *
key_of(struct cdt_providers *ps, const char *name)
{
	struct cdt_provider *p = cdt_providers_find(ps, name);
	return p && p->api_key ? p->api_key : "(none)";
}

static const char *
source_of(struct cdt_providers *ps, const char *name)
{
	struct cdt_provider *p = cdt_providers_find(ps, name);
	return p && p->key_source ? p->key_source : "(none)";
}

static void
test_load(void)
{
	struct cdt_providers ps = { NULL, 0 };
	char creds[256];
	char marker[256];
	char yaml[1024];
	snprintf(creds, sizeof(creds), "%s/credentials.json", tmpdir);
	snprintf(marker, sizeof(marker), "%s/cmd-ran", tmpdir);

	is_int(load_yaml(NULL, &ps), 0, "built-ins load without config");
	static const char *const names[] = {
		"claude", "codex", "gemini", "kimi", "ollama", "lmstudio",
	};
	bool all = ps.n == 6;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(names) && all; i++)
		all = cdt_providers_find(&ps, names[i]) != NULL;
	ok(all, "the six built-in providers");
	struct cdt_provider *p = cdt_providers_find(&ps, "openai");
	ok(p && !strcmp(p->name, "codex"), "openai is an alias of codex");
	p = cdt_providers_find(&ps, "claude");
	ok(p && !cdt_provider_configured(p) && p->needs_key &&
	   !strcmp(p->key_vars, "ANTHROPIC_API_KEY") &&
	   !strcmp(p->base_url, "https://api.anthropic.com") &&
	   p->wire == CDT_WIRE_ANTHROPIC,
	   "claude without a key: unconfigured, names its variable");
	ok(p && p->model && !strcmp(p->model, "claude-sonnet-4-5") &&
	   p->price_in == 3 && p->price_out == 15 &&
	   p->max_input_tokens == 200000 &&
	   jv_array_length(jv_copy(p->models)) > 1,
	   "claude: default model, prices and window from the table");
	p = cdt_providers_find(&ps, "gemini");
	ok(p && !strcmp(p->key_vars, "GEMINI_API_KEY or GOOGLE_API_KEY") &&
	   !strcmp(p->base_url,
		   "https://generativelanguage.googleapis.com"),
	   "gemini: its two variables and base URL");
	p = cdt_providers_find(&ps, "kimi");
	ok(p && !strcmp(p->base_url, "https://api.moonshot.ai/v1") &&
	   p->wire == CDT_WIRE_OPENAI, "kimi: moonshot, openai wire");
	p = cdt_providers_find(&ps, "ollama");
	ok(p && cdt_provider_configured(p) && !p->needs_key &&
	   !strcmp(p->base_url, "http://127.0.0.1:11434") &&
	   p->price_in == 0, "ollama needs no key; local costs a known 0");
	p = cdt_providers_find(&ps, "lmstudio");
	ok(p && cdt_provider_configured(p) &&
	   !strcmp(p->base_url, "http://127.0.0.1:1234/v1"),
	   "lmstudio needs no key");
	cdt_providers_release(&ps);

	/* Base URLs from the environment. */
	setenv("OLLAMA_HOST", "example.org", 1);
	setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:8080/", 1);
	load_yaml("providers:\n  claude:\n    base_url: http://cfg:1\n",
		  &ps);
	is_str(cdt_providers_find(&ps, "ollama")->base_url,
	       "http://example.org:11434", "OLLAMA_HOST without a scheme "
	       "or port");
	is_str(cdt_providers_find(&ps, "claude")->base_url,
	       "http://127.0.0.1:8080", "ANTHROPIC_BASE_URL wins over the "
	       "config file, trailing slash dropped");
	cdt_providers_release(&ps);
	setenv("OLLAMA_HOST", "127.0.0.1:7777", 1);
	load_yaml(NULL, &ps);
	is_str(cdt_providers_find(&ps, "ollama")->base_url,
	       "http://127.0.0.1:7777", "OLLAMA_HOST host:port");
	cdt_providers_release(&ps);
	setenv("OLLAMA_HOST", "https://ollama.example:443", 1);
	load_yaml(NULL, &ps);
	is_str(cdt_providers_find(&ps, "ollama")->base_url,
	       "https://ollama.example:443", "OLLAMA_HOST with a scheme");
	cdt_providers_release(&ps);
	unsetenv("OLLAMA_HOST");
	unsetenv("ANTHROPIC_BASE_URL");

	/* credentials.json, then api_key_cmd, then the environment. */
	write_file(creds, "{\"providers\":{\"claude\":{\"api_key\":"
		   "\"sk-cred\"},\"openai\":{\"api_key\":\"sk-oa-cred\"},"
		   "\"ollama\":{\"api_key\":\"ol-cred\"}}}", 0600);
	is_int(load_yaml(NULL, &ps), 0, "credentials.json 0600 is read");
	is_str(key_of(&ps, "claude"), "sk-cred", "key from credentials.json");
	is_str(source_of(&ps, "claude"), "credentials.json",
	       "... key_source says so");
	is_str(key_of(&ps, "codex"), "sk-oa-cred",
	       "credentials.json entry under the alias openai");
	is_str(key_of(&ps, "ollama"), "(none)",
	       "a provider that needs no key does not look in the file");
	ok(!cdt_provider_configured(cdt_providers_find(&ps, "gemini")),
	   "gemini without a key anywhere: unconfigured");
	cdt_providers_release(&ps);

	snprintf(yaml, sizeof(yaml), "providers:\n  claude:\n    "
		 "api_key_cmd: \"touch %s; printf '  sk-cmd  \\\\nsecond\\\\n'"
		 "\"\n", marker);
	unlink(marker);
	is_int(load_yaml(yaml, &ps), 0, "api_key_cmd config loads");
	is_str(key_of(&ps, "claude"), "sk-cmd",
	       "api_key_cmd beats credentials.json: first line, trimmed");
	is_str(source_of(&ps, "claude"), "api_key_cmd", "... key_source");
	ok(access(marker, F_OK) == 0, "... the command ran");
	cdt_providers_release(&ps);

	setenv("ANTHROPIC_API_KEY", "sk-env", 1);
	unlink(marker);
	load_yaml(yaml, &ps);
	is_str(key_of(&ps, "claude"), "sk-env", "the environment wins");
	is_str(source_of(&ps, "claude"), "env:ANTHROPIC_API_KEY",
	       "... key_source names the variable");
	ok(access(marker, F_OK) != 0, "... and api_key_cmd never ran");
	cdt_providers_release(&ps);
	setenv("ANTHROPIC_API_KEY", "", 1);
	load_yaml(NULL, &ps);
	is_str(key_of(&ps, "claude"), "sk-cred",
	       "an empty variable is no key");
	cdt_providers_release(&ps);
	unsetenv("ANTHROPIC_API_KEY");

	cdt_err_quiet(true);
	load_yaml("providers:\n  claude:\n    api_key_cmd: \"echo sk-no; "
		  "exit 3\"\n", &ps);
	cdt_err_quiet(false);
	ok(!cdt_provider_configured(cdt_providers_find(&ps, "claude")),
	   "api_key_cmd failing: unconfigured, no fallback to the file");
	cdt_providers_release(&ps);
	is_int(load_yaml("providers:\n  claude:\n    api_key_cmd: "
			 "\"true\"\n", &ps), 0,
	       "api_key_cmd printing nothing: still loads");
	ok(!cdt_provider_configured(cdt_providers_find(&ps, "claude")),
	   "... and the provider is unconfigured");
	cdt_providers_release(&ps);
	time_t t0 = time(NULL);
	is_int(load_yaml("providers:\n  claude:\n    api_key_cmd: \"sleep 60"
			 " & sleep 60\"\n", &ps), 0,
	       "api_key_cmd that hangs: loads");
	time_t took = time(NULL) - t0;
	ok(!cdt_provider_configured(cdt_providers_find(&ps, "claude")) &&
	   took >= 9 && took <= 13,
	   "... unconfigured after the 10 s deadline (%lds), child killed",
	   (long)took);
	cdt_providers_release(&ps);

	setenv("GOOGLE_API_KEY", "g-google", 1);
	load_yaml(NULL, &ps);
	is_str(key_of(&ps, "gemini"), "g-google", "GOOGLE_API_KEY serves "
	       "gemini");
	cdt_providers_release(&ps);
	setenv("GEMINI_API_KEY", "g-gemini", 1);
	load_yaml(NULL, &ps);
	is_str(key_of(&ps, "gemini"), "g-gemini", "GEMINI_API_KEY first");
	cdt_providers_release(&ps);
	unsetenv("GEMINI_API_KEY");
	unsetenv("GOOGLE_API_KEY");

	/* Unsafe credentials. */
	chmod(creds, 0644);
	cdt_err_quiet(true);
	int rc = load_yaml(NULL, &ps);
	struct cdt_err_last last;
	cdt_err_get(&last);
	cdt_err_quiet(false);
	ok(rc == 78 && strstr(last.message, "unsafe permissions") &&
	   !strstr(last.message, "sk-cred"),
	   "credentials.json readable by others: 78 unsafe permissions");
	cdt_providers_release(&ps);
	chmod(creds, 0640);
	cdt_err_quiet(true);
	rc = load_yaml(NULL, &ps);
	cdt_err_quiet(false);
	is_int(rc, 78, "credentials.json readable by the group: 78");
	cdt_providers_release(&ps);
	setenv("ANTHROPIC_API_KEY", "a", 1);
	setenv("OPENAI_API_KEY", "b", 1);
	setenv("GEMINI_API_KEY", "c", 1);
	setenv("MOONSHOT_API_KEY", "d", 1);
	rc = load_yaml(NULL, &ps);
	cdt_providers_release(&ps);
	cdt_err_quiet(true);
	int rc2 = load_yaml("providers:\n  lmstudio:\n    api_key_env: X_"
			    "UNSET_VAR\n", &ps);
	cdt_err_quiet(false);
	cdt_providers_release(&ps);
	ok(rc == 0 && rc2 == 78, "the file is read only when a key is "
	   "still missing (%d, %d)", rc, rc2);
	for (size_t i = 0; i < 5; i++)
		unsetenv(env_vars[i]);
	write_file(creds, "{\"providers\":[1]}", 0600);
	cdt_err_quiet(true);
	is_int(load_yaml(NULL, &ps), 78, "malformed credentials.json: 78");
	cdt_err_quiet(false);
	cdt_providers_release(&ps);
	unlink(creds);

	/* Config overrides a built-in and adds providers. */
	const char *conf =
		"providers:\n"
		"  claude:\n"
		"    base_url: http://127.0.0.1:9/x/\n"
		"    model: claude-haiku-4-5\n"
		"    models: [claude-opus-4-1]\n"
		"    price: {input: 1.5, output: 2.5}\n"
		"    max_tokens: 100\n"
		"    timeout: 30s\n"
		"  local-gpt:\n"
		"    type: openai\n"
		"    base_url: http://127.0.0.1:8080/v1\n"
		"    api_key_env: LOCAL_GPT_KEY\n"
		"    model: gpt-4o-mini\n"
		"    max_input_tokens: 4096\n"
		"  tape:\n"
		"    type: replay\n"
		"    file: /tmp/x.jsonl\n"
		"  lan:\n"
		"    type: ollama\n"
		"    base_url: 10.0.0.5\n"
		"    model: llama3.1\n";
	is_int(load_yaml(conf, &ps), 0, "config with overrides loads");
	p = cdt_providers_find(&ps, "claude");
	ok(p && !strcmp(p->base_url, "http://127.0.0.1:9/x") &&
	   !strcmp(p->model, "claude-haiku-4-5") && p->price_in == 1.5 &&
	   p->price_out == 2.5 && p->max_tokens == 100 &&
	   p->timeout_ms == 30000 && p->wire == CDT_WIRE_ANTHROPIC &&
	   ps.n == 9, "claude's fields overridden, nothing else changed");
	ok(p && jv_array_length(jv_copy(p->models)) == 2,
	   "models: the default, then the listed ones");
	double in;
	double out;
	cdt_provider_price(p, "claude-opus-4-1", &in, &out);
	ok(in == 1.5 && out == 2.5, "config's price covers all its models");
	p = cdt_providers_find(&ps, "local-gpt");
	ok(p && p->wire == CDT_WIRE_OPENAI && p->needs_key &&
	   !cdt_provider_configured(p) && p->price_in < 0 &&
	   p->max_input_tokens == 4096 &&
	   !strcmp(p->key_vars, "LOCAL_GPT_KEY"),
	   "an added provider: its variable, unknown price (not gpt's)");
	p = cdt_providers_find(&ps, "tape");
	ok(p && p->wire == CDT_WIRE_REPLAY && cdt_provider_configured(p) &&
	   !strcmp(p->replay_file, "/tmp/x.jsonl"), "a replay provider");
	p = cdt_providers_find(&ps, "lan");
	ok(p && !strcmp(p->base_url, "http://10.0.0.5:11434") &&
	   !p->needs_key, "an added ollama on a bare host");
	cdt_providers_release(&ps);
	setenv("LOCAL_GPT_KEY", "sk-local", 1);
	load_yaml(conf, &ps);
	is_str(key_of(&ps, "local-gpt"), "sk-local",
	       "api_key_env names the variable");
	cdt_providers_release(&ps);
	unsetenv("LOCAL_GPT_KEY");

	static const char *const bad[] = {
		"providers:\n  mine:\n    base_url: http://x\n",
		"providers:\n  tape:\n    type: replay\n",
		"providers:\n  mine:\n    type: anthropic\n",
	};
	static const char *const why[] = {
		"needs a type", "needs a file", "needs a base_url",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(bad); i++) {
		cdt_err_quiet(true);
		rc = load_yaml(bad[i], &ps);
		cdt_err_get(&last);
		cdt_err_quiet(false);
		ok(rc == 78 && strstr(last.message, why[i]) && ps.n == 0,
		   "bad provider config: 78 %s", why[i]);
		cdt_providers_release(&ps);
	}
}

/* --- live attempts against a one-shot server on 127.0.0.1 ----------- */

struct server {
	pid_t pid;
	int port;
	char capture[256];
};

/* Accept one connection, save the request, send response, exit. */
static int
serve_once(struct server *s, const char *response, bool answer)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, 4) || getsockname(fd, (struct sockaddr *)&a, &al))
		return -1;
	s->port = ntohs(a.sin_port);
	snprintf(s->capture, sizeof(s->capture), "%s/request-%d", tmpdir,
		 s->port);
	fflush(stdout);
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid > 0) {
		close(fd);
		return 0;
	}
	alarm(10);
	int c = accept(fd, NULL, NULL);
	if (!answer) {
		pause();
		_exit(0);
	}
	struct cdt_buf req = CDT_BUF_INIT;
	char buf[4096];
	ssize_t n;
	size_t need = 0;
	while ((n = read(c, buf, sizeof(buf))) > 0) {
		cdt_buf_add(&req, buf, (size_t)n);
		char *end = strstr(req.buf, "\r\n\r\n");
		if (end && !need) {
			const char *cl = strcasestr(req.buf,
						    "Content-Length:");
			need = (size_t)(end + 4 - req.buf) +
			       (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (need && req.len >= need)
			break;
	}
	write_file(s->capture, req.buf, 0600);
	if (write(c, response, strlen(response)) < 0)
		_exit(1);
	shutdown(c, SHUT_WR);
	while (read(c, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

static void
server_wait(struct server *s)
{
	int st;
	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
}

static const char anthropic_ok[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	"Connection: close\r\n\r\n"
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
	"{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":4,"
	"\"output_tokens\":1}}}\n\n"
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	"\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	"\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n"
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
	"{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n"
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static int
collect(void *ctx, const char *text, size_t len)
{
	return cdt_buf_add(ctx, text, len);
}

static int
stop_after_first(void *ctx, const char *text, size_t len)
{
	(void)text;
	(void)len;
	int *n = ctx;
	return ++*n >= 1 ? 99 : 0;
}

static void
test_live(void)
{
	struct server s;
	struct prov_fixture f;
	struct cdt_chat_result r;
	struct cdt_buf got = CDT_BUF_INIT;
	struct cdt_buf req_text = CDT_BUF_INIT;
	struct cdt_chat_req req = { .messages = user_msgs("say hello"),
				    .temperature = -1,
				    .first_byte_ms = 3000,
				    .total_ms = 5000 };
	char base[64];

	if (serve_once(&s, anthropic_ok, true)) {
		ok(0, "one-shot server");
		return;
	}
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
	mkprov(&f, "claude", CDT_WIRE_ANTHROPIC, base, "claude-sonnet-4-5",
	       "sk-ant-secret-123456");
	cdt_chat_result_init(&r);
	int rc = cdt_provider_send(&f.p, &req, collect, &got, &r);
	server_wait(&s);
	ok(rc == 0 && !strcmp(got.buf, "Hello") &&
	   !strcmp(r.text.buf, "Hello") && r.tokens_in == 4 &&
	   r.tokens_out == 2 && r.http_status == 200 && r.ttfb_ms >= 0 &&
	   r.latency_ms >= r.ttfb_ms && !r.partial,
	   "anthropic over HTTP: the reply streamed to the callback");
	slurp(s.capture, &req_text);
	ok(strstr(req_text.buf, "POST /v1/messages HTTP/1.1") &&
	   strcasestr(req_text.buf, "x-api-key: sk-ant-secret-123456\r\n") &&
	   strcasestr(req_text.buf, "anthropic-version: 2023-06-01\r\n") &&
	   strcasestr(req_text.buf, "Content-Type: application/json\r\n") &&
	   strstr(req_text.buf, "\"max_tokens\":"),
	   "anthropic request: path, x-api-key, anthropic-version, JSON");
	cdt_chat_result_release(&r);

	/* A 401 whose message quotes the key. */
	const char *r401 =
		"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json"
		"\r\nConnection: close\r\nContent-Length: 132\r\n\r\n"
		"{\"error\":{\"message\":\"Incorrect API key provided: "
		"sk-secret-abcdef123. You can find your key at https://x.\","
		"\"type\":\"invalid_request_error\",\"code\":\"invalid\"}}   ";
	serve_once(&s, r401, true);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/v1", s.port);
	mkprov(&f, "codex", CDT_WIRE_OPENAI, base, "gpt-4o-mini",
	       "sk-secret-abcdef123");
	cdt_chat_result_init(&r);
	rc = cdt_provider_send(&f.p, &req, NULL, NULL, &r);
	server_wait(&s);
	ok(rc == 77 && !strcmp(r.err_class, "auth") &&
	   !strstr(r.err_msg, "sk-secret-abcdef123") &&
	   strstr(r.err_msg, "[redacted]") && r.http_status == 401,
	   "401 quoting the key: 77 auth, the key scrubbed (%s)", r.err_msg);
	slurp(s.capture, &req_text);
	ok(strstr(req_text.buf, "POST /v1/chat/completions ") &&
	   strcasestr(req_text.buf,
		      "Authorization: Bearer sk-secret-abcdef123\r\n") &&
	   strstr(req_text.buf, "\"include_usage\":true"),
	   "openai request: path, Bearer key, include_usage");
	cdt_chat_result_release(&r);

	/* Retry-After and retry-after-ms headers. */
	const char *r429 =
		"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 12\r\n"
		"Content-Type: application/json\r\nConnection: close\r\n"
		"Content-Length: 2\r\n\r\n{}";
	serve_once(&s, r429, true);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
	mkprov(&f, "gemini", CDT_WIRE_GEMINI, base, "gemini-2.5-flash",
	       "g-secret-key-1");
	cdt_chat_result_init(&r);
	rc = cdt_provider_send(&f.p, &req, NULL, NULL, &r);
	server_wait(&s);
	ok(rc == 69 && !strcmp(r.err_class, "rate_limited") &&
	   r.retry_after_s == 12, "429 Retry-After: 12 -> rate_limited, 12 s");
	slurp(s.capture, &req_text);
	ok(strstr(req_text.buf, "POST /v1beta/models/gemini-2.5-flash:"
		  "streamGenerateContent?alt=sse HTTP/1.1") &&
	   strcasestr(req_text.buf, "x-goog-api-key: g-secret-key-1\r\n") &&
	   !strstr(req_text.buf, "key=g-secret"),
	   "gemini request: alt=sse, key in x-goog-api-key only");
	cdt_chat_result_release(&r);
	const char *r503 =
		"HTTP/1.1 503 Service Unavailable\r\nretry-after-ms: 1500\r\n"
		"Connection: close\r\nContent-Length: 0\r\n\r\n";
	serve_once(&s, r503, true);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
	mkprov(&f, "ollama", CDT_WIRE_OLLAMA, base, "llama3.2", NULL);
	cdt_chat_result_init(&r);
	rc = cdt_provider_send(&f.p, &req, NULL, NULL, &r);
	server_wait(&s);
	ok(rc == 69 && !strcmp(r.err_class, "overloaded") &&
	   r.retry_after_s == 1.5, "503 retry-after-ms: 1500 -> 1.5 s");
	cdt_chat_result_release(&r);

	/* The reader stops the stream. */
	serve_once(&s, anthropic_ok, true);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
	mkprov(&f, "claude", CDT_WIRE_ANTHROPIC, base, "claude-sonnet-4-5",
	       "sk-ant-secret-123456");
	cdt_chat_result_init(&r);
	int calls = 0;
	rc = cdt_provider_send(&f.p, &req, stop_after_first, &calls, &r);
	server_wait(&s);
	ok(rc == 99 && calls == 1 && r.partial && r.output_began &&
	   !strcmp(r.err_class, "cancelled") && !strcmp(r.text.buf, "Hel"),
	   "a callback's nonzero return stops the attempt with its status");
	cdt_chat_result_release(&r);

	/* A server that accepts and never answers: first-byte deadline. */
	serve_once(&s, "", false);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
	mkprov(&f, "claude", CDT_WIRE_ANTHROPIC, base, "claude-sonnet-4-5",
	       "sk-ant-secret-123456");
	f.p.timeout_ms = 300;
	struct cdt_chat_req quick = { .messages = req.messages,
				      .temperature = -1 };
	cdt_chat_result_init(&r);
	rc = cdt_provider_send(&f.p, &quick, NULL, NULL, &r);
	server_wait(&s);
	ok(rc == 69 && !strcmp(r.err_class, "timeout") &&
	   strstr(r.err_msg, "first_byte") && r.latency_ms < 3000,
	   "silence: timeout 69 after the provider's timeout (%s)",
	   r.err_msg);
	cdt_chat_result_release(&r);

	/* Nobody listening. */
	serve_once(&s, "", false);
	server_wait(&s);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
	mkprov(&f, "codex", CDT_WIRE_OPENAI, base, "gpt-4o-mini", "sk-x");
	cdt_chat_result_init(&r);
	rc = cdt_provider_send(&f.p, &req, NULL, NULL, &r);
	ok(rc == 69 && !strcmp(r.err_class, "connect") && !r.http_status,
	   "connection refused: connect 69");
	cdt_chat_result_release(&r);

	/* No key for a provider that needs one: no request at all. */
	mkprov(&f, "claude", CDT_WIRE_ANTHROPIC, base, "c", NULL);
	f.p.needs_key = true;
	f.p.key_vars = (char *)"ANTHROPIC_API_KEY";
	cdt_chat_result_init(&r);
	rc = cdt_provider_send(&f.p, &req, NULL, NULL, &r);
	ok(rc == 78 && !strcmp(r.err_class, "config") &&
	   strstr(r.err_msg, "ANTHROPIC_API_KEY"),
	   "a missing key: 78 naming the variable");
	cdt_chat_result_release(&r);

	jv_free(req.messages);
	cdt_buf_release(&got);
	cdt_buf_release(&req_text);
}

/* --- the models table ----------------------------------------------- */

static void
test_models(void)
{
	size_t n;
	const struct cdt_model_info *t = cdt_models_table(&n);
	ok(n >= 12 && strlen(cdt_models_date) == 10 &&
	   cdt_models_date[4] == '-', "a dated table (%s, %zu models)",
	   cdt_models_date, n);
	bool sane = true;
	for (size_t i = 0; i < n; i++)
		if ((t[i].price_in < 0 && t[i].price_in != -1) ||
		    (t[i].price_out < 0 && t[i].price_out != -1) ||
		    t[i].context_window <= 0 ||
		    ((t[i].price_in == 0 || t[i].price_out == 0) &&
		     strcmp(t[i].provider, "ollama") &&
		     strcmp(t[i].provider, "lmstudio")))
			sane = false;
	ok(sane, "prices are known or -1; 0 only for local servers");
	const struct cdt_model_info *m = cdt_model_lookup("claude",
		"claude-sonnet-4-5-20250929");
	ok(m && !strcmp(m->name, "claude-sonnet-4-5"),
	   "a dated snapshot finds its model");
	m = cdt_model_lookup("codex", "gpt-4o-2024-08-06");
	ok(m && !strcmp(m->name, "gpt-4o"), "gpt-4o-2024-08-06 is gpt-4o");
	m = cdt_model_lookup("codex", "gpt-4o-mini");
	ok(m && m->price_in == 0.15 && m->price_out == 0.6,
	   "exact names win over prefixes");
	ok(!cdt_model_lookup("codex", "claude-sonnet-4-5") &&
	   !cdt_model_lookup("claude", "claude-sonnet-4-5-extra") &&
	   !cdt_model_lookup("claude", NULL), "no match across providers "
	   "or on other suffixes");
	m = cdt_model_lookup("ollama", "llama3.2:latest");
	ok(m && !strcmp(m->name, "llama3.2"), "ollama's :latest tag");
	m = cdt_model_lookup(NULL, "gemini-2.5-pro");
	ok(m && !strcmp(m->provider, "gemini"), "any provider with NULL");

	struct prov_fixture f;
	mkprov(&f, "codex", CDT_WIRE_OPENAI, "https://x", "gpt-4o", "k");
	double in;
	double out;
	cdt_provider_price(&f.p, NULL, &in, &out);
	ok(in == 2.5 && out == 10, "price of the default model");
	cdt_provider_price(&f.p, "gpt-unknown", &in, &out);
	ok(in == -1 && out == -1, "an unknown model's price is -1");
	is_int(cdt_provider_context(&f.p, "gpt-4.1"), 1047576,
	       "context of another model");
	f.p.max_input_tokens = 5000;
	is_int(cdt_provider_context(&f.p, NULL), 5000,
	       "config's max_input_tokens for the default model");
}

int
main(void)
{
	cdt_err_setname("t-provider");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	/* Before anything asks for it: cdt_cfg_home() is computed once. */
	setenv("CDT_HOME", tmpdir, 1);
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	for (size_t i = 0; i < CDT_ARRAY_SIZE(env_vars); i++)
		unsetenv(env_vars[i]);
	signal(SIGPIPE, SIG_IGN);

	test_streams();
	test_not_streams();
	test_classify();
	test_requests();
	test_keys_and_replay();
	test_load();
	test_live();
	test_models();

	cdt_http_cleanup();
	/* Remove what the tests wrote. */
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[512];
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", tmpdir,
				 e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(tmpdir);
	return done_testing();
}
