/*
 * t-http.c - lib/http against a scripted HTTP server on 127.0.0.1.
 *
 * The server is forked from this test (port 0, chosen by the kernel) and
 * answers by path: plain bodies, an SSE stream that waits for the client
 * to acknowledge each event (so streaming is proved without timing),
 * 429s with each Retry-After form, and servers that stay silent, stall,
 * trickle, cut or close.  Deadline tests assert that the deadline fired
 * and which one, never how fast.
 */
#include "compat.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tap.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "http.h"
#include "sse.h"

#ifndef CDT_VERSION
#define CDT_VERSION "0"
#endif

static int port;
static pid_t server = -1;
static int ack[2] = { -1, -1 };	/* test -> SSE handler: "got event" */

/* ---- the server ------------------------------------------------------ */

static bool
wr(int c, const char *s, size_t n)
{
	while (n) {
		ssize_t k = write(c, s, n);
		if (k <= 0)
			return false;
		s += k;
		n -= (size_t)k;
	}
	return true;
}

static bool
wrs(int c, const char *s)
{
	return wr(c, s, strlen(s));
}

static bool head_only;	/* the request being answered is a HEAD */

static bool
respond(int c, const char *status, const char *extra, const char *body)
{
	char head[1024];
	snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n%sContent-Length: %zu"
		 "\r\n\r\n", status, extra, strlen(body));
	return wrs(c, head) && (head_only || wrs(c, body));
}

static bool
chunk(int c, const char *s)
{
	char n[32];
	snprintf(n, sizeof(n), "%zx\r\n", strlen(s));
	return wrs(c, n) && wrs(c, s) && wrs(c, "\r\n");
}

/* Wait for the client to hang up (or the alarm). */
static void
hold(int c)
{
	char b[4096];
	while (read(c, b, sizeof(b)) > 0)
		;
}

struct conn {
	int fd;
	char buf[65536];
	size_t len;
};

/* Read one request: its head into head (NUL-terminated) and its body
 * after it.  Returns the total length, 0 at EOF. */
static size_t
read_request(struct conn *cn, char *path, size_t pathsz)
{
	char *end;
	while (!(end = memmem(cn->buf, cn->len, "\r\n\r\n", 4))) {
		if (cn->len == sizeof(cn->buf) - 1)
			return 0;
		ssize_t k = read(cn->fd, cn->buf + cn->len,
				 sizeof(cn->buf) - 1 - cn->len);
		if (k <= 0)
			return 0;
		cn->len += (size_t)k;
	}
	size_t head = (size_t)(end - cn->buf) + 4;
	size_t body = 0;
	for (char *l = cn->buf; l < cn->buf + head;
	     l = strchr(l, '\n') + 1) {
		if (!strncasecmp(l, "content-length:", 15))
			body = strtoul(l + 15, NULL, 10);
		if (!strchr(l, '\n'))
			break;
	}
	while (cn->len < head + body && cn->len < sizeof(cn->buf) - 1) {
		ssize_t k = read(cn->fd, cn->buf + cn->len,
				 sizeof(cn->buf) - 1 - cn->len);
		if (k <= 0)
			return 0;
		cn->len += (size_t)k;
	}
	cn->buf[cn->len] = '\0';
	char *sp = strchr(cn->buf, ' ');
	size_t n = sp ? strcspn(sp + 1, " ") : 0;
	if (!sp || n >= pathsz)
		return 0;
	memcpy(path, sp + 1, n);
	path[n] = '\0';
	return head + body;
}

static bool
wait_ack(void)
{
	struct pollfd p = { ack[0], POLLIN, 0 };
	char b;
	return poll(&p, 1, 5000) == 1 && read(ack[0], &b, 1) == 1;
}

static const char *const sse_events[] = {
	"data: {\"n\":1}\n\n",
	": ping\n\nevent: delta\ndata: {\"n\":2}\n\n",
	"data: [DONE]\n\n",
};

static void
handle(int fd)
{
	/* Each handler is its own process: one static buffer is enough. */
	static struct conn one;
	struct conn *cn = &one;
	char path[256];
	cn->fd = fd;
	alarm(10);	/* never outlive a failed test */
	for (int nreq = 1;; nreq++) {
		size_t used = read_request(cn, path, sizeof(path));
		if (!used)
			return;
		char *q = strchr(path, '?');
		if (q)
			*q = '\0';
		head_only = !strncmp(cn->buf, "HEAD ", 5);
		char body[256];
		if (!strcmp(path, "/ok")) {
			snprintf(body, sizeof(body), "hello %d", nreq);
			if (!respond(fd, "200 OK",
				     "Content-Type: text/plain\r\n", body))
				return;
		} else if (!strcmp(path, "/echo")) {
			char head[1024];
			snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
				 "Content-Length: %zu\r\n\r\n", used);
			if (!wrs(fd, head) || !wr(fd, cn->buf, used))
				return;
		} else if (!strcmp(path, "/sse") ||
			   !strcmp(path, "/sse-fast")) {
			bool acks = !strcmp(path, "/sse");
			wrs(fd, "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/event-stream\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n");
			for (size_t i = 0; i < CDT_ARRAY_SIZE(sse_events);
			     i++) {
				if (!chunk(fd, sse_events[i]))
					return;
				if (acks && i + 1 < CDT_ARRAY_SIZE(sse_events)
				    && !wait_ack())
					return;
			}
			if (!wrs(fd, "0\r\n\r\n"))
				return;
		} else if (!strcmp(path, "/429")) {
			respond(fd, "429 Too Many Requests",
				"Retry-After: 7\r\n"
				"Content-Type: application/json\r\n",
				"{\"error\":{\"type\":\"rate_limit_error\"}}");
		} else if (!strcmp(path, "/429ms")) {
			respond(fd, "429 Too Many Requests",
				"Retry-After: 2\r\nretry-after-ms: 1500\r\n",
				"{}");
		} else if (!strcmp(path, "/429date")) {
			char h[128];
			time_t t = time(NULL) + 3600;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(h, sizeof(h), "Retry-After: %a, %d %b %Y "
				 "%H:%M:%S GMT\r\n", &tm);
			respond(fd, "429 Too Many Requests", h, "{}");
		} else if (!strcmp(path, "/429past")) {
			respond(fd, "429 Too Many Requests", "Retry-After: "
				"Thu, 01 Jan 2015 00:00:00 GMT\r\n", "{}");
		} else if (!strcmp(path, "/ra0")) {
			respond(fd, "503 Service Unavailable",
				"Retry-After: 0\r\n", "{}");
		} else if (!strcmp(path, "/500")) {
			respond(fd, "500 Internal Server Error",
				"Content-Type: application/json\r\n",
				"{\"error\":\"boom\"}");
		} else if (!strcmp(path, "/redirect")) {
			respond(fd, "302 Found", "Location: /ok\r\n", "");
		} else if (!strcmp(path, "/silent")) {
			hold(fd);
			return;
		} else if (!strcmp(path, "/stall")) {
			/* One write, so the stall is surely after it. */
			wrs(fd, "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/event-stream\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n"
			    "b\r\ndata: one\n\n\r\n");
			hold(fd);
			return;
		} else if (!strcmp(path, "/trickle")) {
			wrs(fd, "HTTP/1.1 200 OK\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n");
			struct timespec ts = { 0, 50 * 1000000L };
			while (chunk(fd, ": tick\n"))
				nanosleep(&ts, NULL);
			return;
		} else if (!strcmp(path, "/big")) {
			char head[128];
			snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
				 "Content-Length: 100000\r\n\r\n");
			wrs(fd, head);
			memset(cn->buf, 'x', 100000 > sizeof(cn->buf) ?
			       sizeof(cn->buf) : 100000);
			for (size_t left = 100000; left;) {
				size_t n = left < 50000 ? left : 50000;
				if (!wr(fd, cn->buf, n))
					return;
				left -= n;
			}
			return;
		} else if (!strcmp(path, "/cut")) {
			wrs(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n"
			    "\r\n0123456789");
			return;
		} else if (!strcmp(path, "/close")) {
			return;
		} else {
			respond(fd, "404 Not Found", "", "no such path");
		}
		memmove(cn->buf, cn->buf + used, cn->len - used);
		cn->len -= used;
	}
}

static void
serve(int lfd)
{
	/* Handlers are reaped by the kernel; all share our process group,
	 * which the test kills at the end. */
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			handle(c);
			close(c);
			_exit(0);
		}
		close(c);
	}
}

static int
loopback_socket(struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(*a);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) ||
	    getsockname(fd, (struct sockaddr *)a, &len)) {
		perror("t-http: loopback socket");
		exit(1);
	}
	return fd;
}

static void
start_server(void)
{
	struct sockaddr_in a;
	int lfd = loopback_socket(&a);
	if (listen(lfd, 64) || pipe(ack)) {
		perror("t-http: listen");
		exit(1);
	}
	port = ntohs(a.sin_port);
	fflush(stdout);
	pid_t parent = getpid();
	server = fork();
	if (server < 0) {
		perror("t-http: fork");
		exit(1);
	}
	if (server == 0) {
		/* Die with the test, even if it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		setpgid(0, 0);
		serve(lfd);
		_exit(0);
	}
	setpgid(server, server);
	close(lfd);
}

static void
stop_server(void)
{
	kill(-server, SIGTERM);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
}

/* ---- helpers --------------------------------------------------------- */

static const char *
url(const char *path)
{
	static char u[256];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", port, path);
	return u;
}

static struct cdt_err_last
last_err(void)
{
	struct cdt_err_last e;
	cdt_err_get(&e);
	return e;
}

/* ---- tests ----------------------------------------------------------- */

static void
test_plain(void)
{
	struct cdt_http_req rq = { .url = url("/ok"), .total_ms = 10000 };
	struct cdt_http_resp rs;
	is_int(cdt_http_do(&rq, &rs), 0, "GET /ok");
	is_int(rs.status, 200, "status 200");
	is_str(rs.body.buf, "hello 1", "body collected");
	is_int(rs.bytes, 7, "bytes counted");
	is_str(rs.content_type, "text/plain", "content type");
	ok(rs.retry_after_s == -1, "no Retry-After: -1");
	ok(!rs.timed_out && rs.deadline == CDT_HTTP_NONE, "not timed out");
	ok(rs.ttfb_ms >= 0 && rs.total_ms >= rs.ttfb_ms,
	   "ttfb %ld ms <= total %ld ms", rs.ttfb_ms, rs.total_ms);
	cdt_http_resp_release(&rs);

	is_int(cdt_http_do(&rq, &rs), 0, "GET /ok again");
	is_str(rs.body.buf, "hello 2",
	       "second request reused the connection (keep-alive)");
	cdt_http_resp_release(&rs);

	rq.url = url("/nowhere");
	is_int(cdt_http_do(&rq, &rs), 0, "a 404 is a response: 0");
	is_int(rs.status, 404, "status 404");
	cdt_http_resp_release(&rs);
}

static void
test_methods(void)
{
	static const char *const hdrs[] = {
		"Content-Type: application/json", "X-Test: yes", NULL,
	};
	struct cdt_http_req rq = {
		.url = url("/echo"), .headers = hdrs, .body = "{\"x\":1}",
		.body_len = 7, .total_ms = 10000,
	};
	struct cdt_http_resp rs;
	is_int(cdt_http_do(&rq, &rs), 0, "POST /echo");
	const char *b = rs.body.buf;
	ok(!strncmp(b, "POST /echo HTTP/1.1\r\n", 21), "POST by default "
	   "with a body");
	ok(strstr(b, "\r\nUser-Agent: cdt/" CDT_VERSION "\r\n") != NULL,
	   "User-Agent cdt/VERSION");
	ok(strstr(b, "\r\nX-Test: yes\r\n") != NULL, "custom header sent");
	ok(strstr(b, "\r\nContent-Type: application/json\r\n") != NULL,
	   "content type sent");
	ok(strcasestr(b, "\r\nExpect:") == NULL, "no Expect: 100-continue");
	ok(rs.body.len > 7 && !strcmp(b + rs.body.len - 7, "{\"x\":1}"),
	   "body sent");
	cdt_http_resp_release(&rs);

	rq.method = "PUT";
	is_int(cdt_http_do(&rq, &rs), 0, "PUT /echo");
	ok(!strncmp(rs.body.buf, "PUT /echo ", 10) &&
	   !strcmp(rs.body.buf + rs.body.len - 7, "{\"x\":1}"),
	   "PUT with its body");
	cdt_http_resp_release(&rs);

	struct cdt_http_req del = { .method = "DELETE", .url = url("/echo"),
				    .total_ms = 10000 };
	is_int(cdt_http_do(&del, &rs), 0, "DELETE /echo");
	ok(!strncmp(rs.body.buf, "DELETE /echo ", 13) &&
	   !strcasestr(rs.body.buf, "Content-Length"),
	   "DELETE without a body");
	cdt_http_resp_release(&rs);

	struct cdt_http_req head = { .method = "HEAD", .url = url("/ok"),
				     .total_ms = 10000 };
	is_int(cdt_http_do(&head, &rs), 0, "HEAD /ok");
	ok(rs.status == 200 && rs.body.len == 0, "HEAD: 200, no body");
	cdt_http_resp_release(&rs);

	struct cdt_http_req red = { .url = url("/redirect"),
				    .total_ms = 10000 };
	is_int(cdt_http_do(&red, &rs), 0, "GET /redirect");
	is_int(rs.status, 302, "redirects not followed by default");
	cdt_http_resp_release(&rs);
	red.follow_redirects = true;
	is_int(cdt_http_do(&red, &rs), 0, "GET /redirect, following");
	ok(rs.status == 200 && !strncmp(rs.body.buf, "hello", 5),
	   "followed to /ok");
	cdt_http_resp_release(&rs);
}

struct stream {
	struct cdt_sse sse;
	int calls;
	int events;
	char data[3][32];
	int stop_at;		/* return 42 at this call; 0: never */
	bool acks;
};

static int
on_event(void *ctx, const struct cdt_sse_event *ev)
{
	struct stream *s = ctx;
	if (s->events < 3)
		snprintf(s->data[s->events], sizeof(s->data[0]), "%s%s%s",
			 ev->event ? ev->event : "", ev->event ? "=" : "",
			 ev->data);
	s->events++;
	/* Tell the server this event arrived, so it sends the next. */
	if (s->acks && write(ack[1], "a", 1) != 1)
		return EX_IOERR;
	return 0;
}

static int
on_body(void *ctx, const char *data, size_t len)
{
	struct stream *s = ctx;
	s->calls++;
	if (s->stop_at && s->calls >= s->stop_at)
		return 42;
	return cdt_sse_feed(&s->sse, data, len, on_event, s);
}

static int
nested(void *ctx, const char *data, size_t len)
{
	struct stream *s = ctx;
	struct cdt_http_req rq = { .url = url("/ok") };
	struct cdt_http_resp rs;
	s->calls++;
	int rc = cdt_http_do(&rq, &rs);
	cdt_http_resp_release(&rs);
	return rc;
}

static void
test_stream(void)
{
	struct stream s = { .acks = true };
	cdt_sse_init(&s.sse, CDT_SSE_SSE, 0);
	struct cdt_http_req rq = {
		.url = url("/sse"), .body_cb = on_body, .body_ctx = &s,
		.first_byte_ms = 10000, .idle_ms = 10000, .total_ms = 20000,
	};
	struct cdt_http_resp rs;
	is_int(cdt_http_do(&rq, &rs), 0, "SSE stream in slow chunks");
	is_int(cdt_sse_finish(&s.sse, on_event, &s), 0, "stream finished");
	ok(!cdt_sse_partial(&s.sse), "not cut");
	is_int(s.events, 3, "3 events");
	is_str(s.data[0], "{\"n\":1}", "event 1");
	is_str(s.data[1], "delta={\"n\":2}", "event 2 with its type");
	is_str(s.data[2], "[DONE]", "event 3: [DONE]");
	ok(s.calls >= 3, "body arrived in pieces as sent (%d calls); the "
	   "server sent each only after the last was parsed", s.calls);
	is_int(rs.body.len, 0, "streamed body not collected");
	ok(rs.bytes > 40, "bytes counted (%zu)", rs.bytes);
	is_str(rs.content_type, "text/event-stream", "SSE content type");
	cdt_http_resp_release(&rs);
	cdt_sse_release(&s.sse);

	/* A callback's nonzero status aborts and comes back unreported. */
	struct stream stop = { .stop_at = 1 };
	cdt_sse_init(&stop.sse, CDT_SSE_SSE, 0);
	rq.url = url("/sse-fast");
	rq.body_ctx = &stop;
	cdt_err_clear();
	is_int(cdt_http_do(&rq, &rs), 42, "callback's 42 passed through");
	is_int(last_err().code, 0, "and not reported again");
	cdt_http_resp_release(&rs);
	cdt_sse_release(&stop.sse);

	/* A request from inside a callback is refused. */
	struct stream inner = { 0 };
	cdt_sse_init(&inner.sse, CDT_SSE_SSE, 0);
	rq.url = url("/sse-fast");
	rq.body_cb = nested;
	rq.body_ctx = &inner;
	cdt_err_quiet(true);
	is_int(cdt_http_do(&rq, &rs), EX_SOFTWARE,
	       "a request inside a callback: 70");
	cdt_err_quiet(false);
	is_int(inner.calls, 1, "refused at the first call");
	cdt_http_resp_release(&rs);
	cdt_sse_release(&inner.sse);
	rq.body_cb = on_body;

	/* An error status is collected, not streamed. */
	struct stream err = { 0 };
	cdt_sse_init(&err.sse, CDT_SSE_SSE, 0);
	rq.url = url("/500");
	rq.body_ctx = &err;
	is_int(cdt_http_do(&rq, &rs), 0, "500 with a body callback");
	is_int(rs.status, 500, "status 500");
	is_int(err.calls, 0, "error body not given to the callback");
	is_str(rs.body.buf, "{\"error\":\"boom\"}", "error body collected");
	cdt_http_resp_release(&rs);
	cdt_sse_release(&err.sse);
}

static void
retry_case(const char *path, double lo, double hi, const char *what)
{
	struct cdt_http_req rq = { .url = url(path), .total_ms = 10000 };
	struct cdt_http_resp rs;
	int rc = cdt_http_do(&rq, &rs);
	ok(rc == 0 && rs.retry_after_s >= lo && rs.retry_after_s <= hi,
	   "%s: retry_after_s %g", what, rs.retry_after_s);
	cdt_http_resp_release(&rs);
}

static void
test_retry_after(void)
{
	struct cdt_http_req rq = { .url = url("/429"), .total_ms = 10000 };
	struct cdt_http_resp rs;
	is_int(cdt_http_do(&rq, &rs), 0, "429 is a response");
	is_int(rs.status, 429, "status 429");
	ok(rs.retry_after_s == 7, "Retry-After: 7 -> 7 (got %g)",
	   rs.retry_after_s);
	ok(strstr(rs.body.buf, "rate_limit_error") != NULL,
	   "429 body collected");
	cdt_http_resp_release(&rs);
	retry_case("/429ms", 1.5, 1.5, "retry-after-ms: 1500 wins");
	retry_case("/429date", 3590, 3601, "Retry-After: HTTP-date in 1 h");
	retry_case("/429past", 0, 0, "Retry-After: past date -> 0");
	retry_case("/ra0", 0, 0, "Retry-After: 0 is present, 0");
	retry_case("/500", -1, -1, "no Retry-After -> -1");
}

static void
test_deadlines(void)
{
	struct cdt_http_resp rs;
	struct cdt_err_last e;
	cdt_err_quiet(true);

	struct cdt_http_req fb = { .url = url("/silent"),
				   .first_byte_ms = 300, .idle_ms = 100,
				   .total_ms = 10000 };
	is_int(cdt_http_do(&fb, &rs), EX_UNAVAILABLE,
	       "silent server: 69");
	ok(rs.timed_out && rs.deadline == CDT_HTTP_FIRST_BYTE,
	   "first_byte deadline fired (%s)",
	   cdt_http_deadline_name(rs.deadline));
	ok(rs.status == 0 && rs.ttfb_ms == -1, "no response, no ttfb");
	e = last_err();
	is_str(e.cls, "timeout", "class timeout");
	ok(strstr(e.message, "first_byte deadline of 300 ms"),
	   "message: %s", e.message);
	cdt_http_resp_release(&rs);

	struct stream s = { 0 };
	cdt_sse_init(&s.sse, CDT_SSE_SSE, 0);
	struct cdt_http_req idle = { .url = url("/stall"), .idle_ms = 300,
				     .first_byte_ms = 10000,
				     .total_ms = 10000, .body_cb = on_body,
				     .body_ctx = &s };
	is_int(cdt_http_do(&idle, &rs), EX_TEMPFAIL,
	       "stalled after one chunk: 75");
	ok(rs.timed_out && rs.deadline == CDT_HTTP_IDLE,
	   "idle deadline fired (%s)", cdt_http_deadline_name(rs.deadline));
	is_int(rs.status, 200, "status known");
	is_int(s.events, 1, "the chunk before the stall was streamed");
	is_str(last_err().cls, "timeout", "class timeout");
	cdt_http_resp_release(&rs);
	cdt_sse_release(&s.sse);

	struct cdt_http_req total = { .url = url("/trickle"),
				      .total_ms = 800 };
	is_int(cdt_http_do(&total, &rs), EX_TEMPFAIL,
	       "trickling server, total deadline: 75");
	ok(rs.timed_out && rs.deadline == CDT_HTTP_TOTAL,
	   "total deadline fired (%s)", cdt_http_deadline_name(rs.deadline));
	cdt_http_resp_release(&rs);

	struct cdt_http_req total0 = { .url = url("/silent"),
				       .total_ms = 300 };
	is_int(cdt_http_do(&total0, &rs), EX_UNAVAILABLE,
	       "total deadline before any byte: 69");
	ok(rs.timed_out && rs.deadline == CDT_HTTP_TOTAL, "total fired");
	cdt_http_resp_release(&rs);

	/* A listener with a full backlog that never accepts: the SYN goes
	 * unanswered, so connect hangs. */
	struct sockaddr_in a;
	int full = loopback_socket(&a);
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen(full, 0) ||
	    connect(filler, (struct sockaddr *)&a, sizeof(a)))
		perror("t-http: backlog");
	char u[64];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", ntohs(a.sin_port));
	struct cdt_http_req conn = { .url = u, .connect_ms = 300,
				     .first_byte_ms = 5000,
				     .total_ms = 10000 };
	is_int(cdt_http_do(&conn, &rs), EX_UNAVAILABLE,
	       "connect never completes: 69");
	ok(rs.timed_out && rs.deadline == CDT_HTTP_CONNECT,
	   "connect deadline fired (%s)",
	   cdt_http_deadline_name(rs.deadline));
	is_str(last_err().cls, "timeout", "class timeout");
	cdt_http_resp_release(&rs);
	close(filler);
	close(full);
	cdt_err_quiet(false);
}

static void
test_failures(void)
{
	struct cdt_http_resp rs;
	struct cdt_err_last e;
	cdt_err_quiet(true);

	/* Bound but not listening: the kernel refuses at once. */
	struct sockaddr_in a;
	int closed = loopback_socket(&a);
	char u[128];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/v1?key=SECRETK&alt=sse",
		 ntohs(a.sin_port));
	struct cdt_http_req rq = { .url = u, .total_ms = 10000 };
	is_int(cdt_http_do(&rq, &rs), EX_UNAVAILABLE, "refused: 69");
	ok(!rs.timed_out, "not a timeout");
	e = last_err();
	is_str(e.cls, "connect", "class connect");
	ok(strstr(e.message, "key=[redacted]&alt=sse") &&
	   !strstr(e.message, "SECRETK"), "no secret in: %s", e.message);
	ok(rs.error[0] != '\0', "curl error text kept: %s", rs.error);
	cdt_http_resp_release(&rs);
	close(closed);

	rq.url = url("/close");
	is_int(cdt_http_do(&rq, &rs), EX_UNAVAILABLE,
	       "closed without a response: 69");
	is_str(last_err().cls, "connect", "class connect");
	cdt_http_resp_release(&rs);

	rq.url = url("/cut");
	is_int(cdt_http_do(&rq, &rs), EX_TEMPFAIL, "body cut short: 75");
	is_str(last_err().cls, "stream_broken", "class stream_broken");
	is_int(rs.status, 200, "status known");
	cdt_http_resp_release(&rs);

	rq.url = url("/big");
	rq.max_body = 10000;
	is_int(cdt_http_do(&rq, &rs), EX_DATAERR, "body over max_body: 65");
	e = last_err();
	ok(strstr(e.message, "larger than 10000 bytes") != NULL,
	   "message: %s", e.message);
	ok(rs.body.len <= 10000, "collected no more than the cap");
	cdt_http_resp_release(&rs);
	rq.max_body = 0;
	is_int(cdt_http_do(&rq, &rs), 0, "same body under the default cap");
	is_int(rs.body.len, 100000, "all 100000 bytes");
	cdt_http_resp_release(&rs);

	rq.url = "ftp://127.0.0.1/";
	is_int(cdt_http_do(&rq, &rs), EX_CONFIG, "ftp:// refused: 78");
	rq.url = "http://[::1";
	is_int(cdt_http_do(&rq, &rs), EX_CONFIG, "malformed URL: 78");
	cdt_http_resp_release(&rs);
	cdt_err_quiet(false);
}

static void
redact_is(const char *in, const char *want)
{
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_http_redact(&b, in);
	is_str(b.buf, want, "redact '%s'", want);
	cdt_buf_release(&b);
}

static void
test_redact(void)
{
	redact_is("Authorization: Bearer sk-123\r\n",
		  "Authorization: [redacted]");
	redact_is("x-api-key: sk-ant-xyz", "x-api-key: [redacted]");
	redact_is("X-Goog-Api-Key: AIzaXYZ", "X-Goog-Api-Key: [redacted]");
	redact_is("Proxy-Authorization: Basic dXNlcjpwdw==",
		  "Proxy-Authorization: [redacted]");
	redact_is("Cookie: session=abc", "Cookie: [redacted]");
	redact_is("set-cookie: s=1; HttpOnly", "set-cookie: [redacted]");
	redact_is("authorization:Bearer x", "authorization: [redacted]");
	redact_is("Content-Type: application/json",
		  "Content-Type: application/json");
	redact_is("X-Api-Key-Id: 12", "X-Api-Key-Id: 12");
	redact_is("POST /v1beta/models/g:streamGenerateContent?alt=sse&"
		  "key=AIzaSECRET HTTP/1.1",
		  "POST /v1beta/models/g:streamGenerateContent?alt=sse&"
		  "key=[redacted] HTTP/1.1");
	redact_is("GET /x?key=abc&monkey=1&KEY=z&keys=k HTTP/1.1",
		  "GET /x?key=[redacted]&monkey=1&KEY=[redacted]&keys=k "
		  "HTTP/1.1");
	redact_is("GET /x?api_key=a&access_token=b&key= HTTP/1.1",
		  "GET /x?api_key=[redacted]&access_token=[redacted]&"
		  "key=[redacted] HTTP/1.1");
	redact_is("Location: https://h/p?key=s#frag",
		  "Location: https://h/p?key=[redacted]#frag");
	redact_is("", "");

	struct cdt_buf b = CDT_BUF_INIT;
	cdt_http_redact_url(&b, "https://user:pw@example.com:8443/p?key=s&x=1");
	is_str(b.buf, "https://example.com:8443/p?key=[redacted]&x=1",
	       "URL: userinfo dropped, key redacted");
	cdt_buf_reset(&b);
	cdt_http_redact_url(&b, "http://127.0.0.1:8/a@b?x=1");
	is_str(b.buf, "http://127.0.0.1:8/a@b?x=1", "URL: @ in path kept");
	cdt_buf_release(&b);
}

static void
test_debug_log(void)
{
	char tmpl[] = "/tmp/t-http-log.XXXXXX";
	int fd = mkstemp(tmpl);
	int saved = dup(2);
	unlink(tmpl);
	fflush(stderr);
	dup2(fd, 2);
	cdt_log_set_level(CDT_LOG_DEBUG);

	static const char *const hdrs[] = {
		"x-api-key: SECRETH", "Authorization: Bearer SECRETA",
		"Content-Type: application/json", NULL,
	};
	struct cdt_http_req rq = {
		.url = url("/echo?alt=sse&key=SECRETQ"), .headers = hdrs,
		.body = "{\"q\":\"hi\"}", .body_len = 10, .total_ms = 10000,
	};
	struct cdt_http_resp rs;
	int rc = cdt_http_do(&rq, &rs);

	cdt_log_set_level(CDT_LOG_WARN);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	is_int(rc, 0, "request with debug logging");
	ok(strstr(rs.body.buf, "SECRETH") != NULL,
	   "the server did get the real key");
	cdt_http_resp_release(&rs);

	char log[65536];
	ssize_t n = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	log[n > 0 ? n : 0] = '\0';
	ok(strstr(log, "> POST /echo?alt=sse&key=[redacted] HTTP/1.1"),
	   "request line logged, key redacted");
	ok(strstr(log, "> x-api-key: [redacted]"), "x-api-key redacted");
	ok(strstr(log, "> Authorization: [redacted]"),
	   "Authorization redacted");
	ok(strstr(log, "> Content-Type: application/json"),
	   "other headers logged");
	ok(strstr(log, "< HTTP/1.1 200 OK"), "response headers logged");
	ok(!strstr(log, "SECRET"), "no secret anywhere in the debug log");
	if (strstr(log, "SECRET") || !strstr(log, "[redacted]"))
		diag("log:\n%s", log);
}

int
main(void)
{
	cdt_err_setname("t-http");
	signal(SIGPIPE, SIG_IGN);
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	setenv("no_proxy", "127.0.0.1,localhost", 1);
	start_server();
	test_redact();
	test_plain();
	test_methods();
	test_stream();
	test_retry_after();
	test_deadlines();
	test_failures();
	test_debug_log();
	stop_server();
	cdt_http_cleanup();
	return done_testing();
}
