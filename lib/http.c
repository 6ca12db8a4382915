#include "compat.h"
#include <math.h>
#include <strings.h>
#include <time.h>
#include "curldl.h"
#include "err.h"
#include "log.h"
#include "http.h"

#ifndef CDT_VERSION
#define CDT_VERSION "0"
#endif

_Static_assert(CDT_HTTP_ERROR_MAX >= CURL_ERROR_SIZE,
	       "resp.error must hold CURL_ERROR_SIZE bytes");

#define POLL_MAX_MS 1000

/* The process's handles: the multi keeps the connection cache alive. */
static CURLM *multi;
static CURL *easy;
static bool curl_ready;
static bool busy;

static const char *const secret_headers[] = {
	"authorization", "proxy-authorization", "x-api-key",
	"x-goog-api-key", "api-key", "cookie", "set-cookie",
	"x-amz-security-token",
};

static const char *const secret_params[] = {
	"key", "api_key", "apikey", "api-key", "access_token", "token",
	"sig", "x-amz-signature", "x-amz-security-token",
};

static bool
in_list(const char *s, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(list[i]) == n && !strncasecmp(s, list[i], n))
			return true;
	return false;
}

/* Copy s[0..n), replacing the values of key-like query parameters. */
static void
redact_params(struct cdt_buf *out, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		char c = s[i];
		cdt_buf_addch(out, c);
		i++;
		if (c != '?' && c != '&' && c != ';')
			continue;
		size_t name = i;
		while (i < n && s[i] != '=' && s[i] != '&' && s[i] != ' ' &&
		       s[i] != '#' && s[i] != ';')
			i++;
		cdt_buf_add(out, s + name, i - name);
		if (i >= n || s[i] != '=' ||
		    !in_list(s + name, i - name, secret_params,
			     CDT_ARRAY_SIZE(secret_params)))
			continue;
		cdt_buf_addstr(out, "=[redacted]");
		i++;
		while (i < n && s[i] != '&' && s[i] != ' ' && s[i] != '#' &&
		       s[i] != ';' && s[i] != '"' && s[i] != '\'' &&
		       s[i] != '>')
			i++;
	}
}

void
cdt_http_redact(struct cdt_buf *out, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	const char *colon = memchr(line, ':', n);
	if (colon && colon > line) {
		size_t name = (size_t)(colon - line);
		if (in_list(line, name, secret_headers,
			    CDT_ARRAY_SIZE(secret_headers))) {
			cdt_buf_add(out, line, name);
			cdt_buf_addstr(out, ": [redacted]");
			return;
		}
	}
	redact_params(out, line, n);
}

void
cdt_http_redact_url(struct cdt_buf *out, const char *url)
{
	size_t n = strlen(url);
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	size_t auth = strcspn(host, "/?#");
	const char *at = NULL;
	for (const char *p = host; p < host + auth; p++)
		if (*p == '@')
			at = p;
	cdt_buf_add(out, url, (size_t)(host - url));
	if (at)
		host = at + 1;
	redact_params(out, host, n - (size_t)(host - url));
}

const char *
cdt_http_deadline_name(enum cdt_http_deadline d)
{
	switch (d) {
	case CDT_HTTP_CONNECT:		return "connect";
	case CDT_HTTP_FIRST_BYTE:	return "first_byte";
	case CDT_HTTP_IDLE:		return "idle";
	case CDT_HTTP_TOTAL:		return "total";
	default:			return "none";
	}
}

void
cdt_http_resp_init(struct cdt_http_resp *resp)
{
	resp->status = 0;
	resp->content_type = NULL;
	cdt_buf_init(&resp->body, CDT_HTTP_BODY_MAX_DEFAULT);
	resp->retry_after_s = -1;
	resp->timed_out = false;
	resp->deadline = CDT_HTTP_NONE;
	resp->ttfb_ms = -1;
	resp->total_ms = 0;
	resp->bytes = 0;
	resp->error[0] = '\0';
}

void
cdt_http_resp_release(struct cdt_http_resp *resp)
{
	free(resp->content_type);
	cdt_buf_release(&resp->body);
	cdt_http_resp_init(resp);
}

void
cdt_http_cleanup(void)
{
	if (easy)
		curl_easy_cleanup(easy);
	if (multi)
		curl_multi_cleanup(multi);
	easy = NULL;
	multi = NULL;
	if (curl_ready)
		curl_global_cleanup();
	curl_ready = false;
}

/* Lazily: curl_global_init loads TLS and costs start-up time. */
static int
setup(void)
{
	if (!curl_ready) {
		int rc = cdt_curl_load();
		if (rc)
			return rc;
		if (curl_global_init(CURL_GLOBAL_DEFAULT))
			return cdt_err(EX_SOFTWARE,
				       "cannot initialise libcurl");
		curl_ready = true;
	}
	if (!multi && !(multi = curl_multi_init()))
		cdt_oom();
	if (!easy && !(easy = curl_easy_init()))
		cdt_oom();
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One transfer's state, shared with the libcurl callbacks. */
struct xfer {
	const struct cdt_http_req *req;
	struct cdt_http_resp *resp;
	int64_t start;
	int64_t first_rx;
	int64_t last_rx;
	bool connected;
	bool got_byte;
	bool checked;		/* status read for this response's body */
	bool stream;		/* this response's body goes to body_cb */
	bool cap_hit;
	bool have_ra;		/* a Retry-After header was seen */
	double ra_ms;		/* retry-after-ms, or -1 */
	int status;		/* from body_cb, or the cap */
};

static void
mark_rx(struct xfer *x)
{
	x->last_rx = now_ms();
	if (!x->got_byte) {
		x->got_byte = true;
		x->first_rx = x->last_rx;
	}
}

static bool
header_is(const char *h, size_t n, const char *name, const char **val,
	  size_t *vlen)
{
	size_t k = strlen(name);
	if (n <= k || h[k] != ':' || strncasecmp(h, name, k))
		return false;
	const char *v = h + k + 1;
	const char *end = h + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*val = v;
	*vlen = (size_t)(end - v);
	return true;
}

static double
parse_ms(const char *v, size_t n)
{
	char tmp[64];
	char *end = NULL;
	if (n == 0 || n >= sizeof(tmp) || v[0] < '0' || v[0] > '9')
		return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	errno = 0;
	double d = strtod(tmp, &end);
	if (errno || *end || !isfinite(d) || d < 0)
		return -1;
	return d;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	const char *v;
	size_t vlen;
	mark_rx(x);
	if (n >= 5 && !memcmp(data, "HTTP/", 5)) {
		/* A new response (after a 1xx or a redirect) starts over. */
		x->have_ra = false;
		x->ra_ms = -1;
		x->checked = false;
	} else if (header_is(data, n, "retry-after-ms", &v, &vlen)) {
		x->ra_ms = parse_ms(v, vlen);
	} else if (header_is(data, n, "retry-after", &v, &vlen)) {
		x->have_ra = true;
	}
	return n;
}

static void
read_status(struct xfer *x)
{
	long code = 0;
	char *ct = NULL;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct);
	x->resp->status = code;
	free(x->resp->content_type);
	x->resp->content_type = ct ? cdt_xstrdup(ct) : NULL;
	x->stream = x->req->body_cb && code >= 200 && code < 300;
	x->checked = true;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	mark_rx(x);
	if (!x->checked)
		read_status(x);
	x->resp->bytes += n;
	if (x->stream) {
		int rc = x->req->body_cb(x->req->body_ctx, data, n);
		if (rc) {
			x->status = rc;
			return 0;
		}
		/* Time spent in the callback (a blocked pipe downstream) is
		 * not the server's silence. */
		x->last_rx = now_ms();
		return n;
	}
	if (cdt_buf_add(&x->resp->body, data, n)) {
		x->cap_hit = true;
		x->status = EX_DATAERR;
		return 0;
	}
	return n;
}

static int
on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
	struct xfer *x = ud;
	x->connected = true;
	return CURL_PREREQFUNC_OK;
}

/* Log each line of a header block, redacted; bodies are never logged. */
static int
on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
	const char *pfx;
	switch (type) {
	case CURLINFO_TEXT:		pfx = "* "; break;
	case CURLINFO_HEADER_IN:	pfx = "< "; break;
	case CURLINFO_HEADER_OUT:	pfx = "> "; break;
	default:			return 0;
	}
	const char *s = data;
	const char *end = data + size;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		char *line = cdt_xstrndup(s, n);
		struct cdt_buf out = CDT_BUF_INIT;
		cdt_http_redact(&out, line);
		if (out.len)
			cdt_debug("%s%s", pfx, out.buf);
		explicit_bzero(line, strlen(line));
		free(line);
		cdt_buf_release(&out);
		s += n + 1;
	}
	return 0;
}

/*
 * The earliest armed deadline: returned when it has passed, else its
 * distance goes to *wait (capped, so the loop also wakes now and then).
 */
static enum cdt_http_deadline
check_deadlines(const struct xfer *x, int64_t now, int *wait)
{
	const struct cdt_http_req *r = x->req;
	enum cdt_http_deadline d = CDT_HTTP_NONE;
	int64_t at = INT64_MAX;
	struct {
		enum cdt_http_deadline d;
		bool armed;
		int64_t at;
	} all[] = {
		{ CDT_HTTP_CONNECT, r->connect_ms > 0 && !x->connected &&
		  !x->got_byte, x->start + r->connect_ms },
		{ CDT_HTTP_FIRST_BYTE, r->first_byte_ms > 0 && !x->got_byte,
		  x->start + r->first_byte_ms },
		{ CDT_HTTP_IDLE, r->idle_ms > 0 && x->got_byte,
		  x->last_rx + r->idle_ms },
		{ CDT_HTTP_TOTAL, r->total_ms > 0, x->start + r->total_ms },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(all); i++) {
		if (all[i].armed && all[i].at < at) {
			at = all[i].at;
			d = all[i].d;
		}
	}
	if (d != CDT_HTTP_NONE && at <= now)
		return d;
	int64_t left = d == CDT_HTTP_NONE ? POLL_MAX_MS : at - now;
	*wait = left > POLL_MAX_MS ? POLL_MAX_MS : (int)left;
	return CDT_HTTP_NONE;
}

static long
deadline_ms(const struct cdt_http_req *r, enum cdt_http_deadline d)
{
	switch (d) {
	case CDT_HTTP_CONNECT:		return r->connect_ms;
	case CDT_HTTP_FIRST_BYTE:	return r->first_byte_ms;
	case CDT_HTTP_IDLE:		return r->idle_ms;
	case CDT_HTTP_TOTAL:		return r->total_ms;
	default:			return 0;
	}
}

#define SET(opt, val) do { \
	if (sc == CURLE_OK) \
		sc = curl_easy_setopt(easy, opt, val); \
} while (0)

static CURLcode
configure(const struct cdt_http_req *req, struct xfer *x,
	  struct curl_slist *hdrs)
{
	CURLcode sc = CURLE_OK;
	const char *m = req->method ? req->method
				    : req->body ? "POST" : "GET";
	bool get = !strcmp(m, "GET");
	bool head = !strcmp(m, "HEAD");
	bool post = !strcmp(m, "POST");

	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, "cdt/" CDT_VERSION);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
	SET(CURLOPT_MAXREDIRS, 5L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	/* Bigger reads for bulk throughput; a stream is still handed on
	 * as soon as any bytes arrive. */
	SET(CURLOPT_BUFFERSIZE, 256L << 10);
	/* A proxy's CONNECT reply is not the response. */
	SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	SET(CURLOPT_ERRORBUFFER, x->resp->error);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_PREREQFUNCTION, on_prereq);
	SET(CURLOPT_PREREQDATA, x);
	SET(CURLOPT_HTTPHEADER, hdrs);
	if (req->connect_ms > 0)
		SET(CURLOPT_CONNECTTIMEOUT_MS, req->connect_ms);
	if (req->aws_sigv4) {
		SET(CURLOPT_AWS_SIGV4, req->aws_sigv4);
		SET(CURLOPT_PATH_AS_IS, 1L);
	}
	if (req->userpwd)
		SET(CURLOPT_USERPWD, req->userpwd);
	if (head) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (get && !req->body) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		if (req->body || post) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)(req->body ? req->body_len : 0));
			SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		}
		if (!post)
			SET(CURLOPT_CUSTOMREQUEST, m);
	}

	/* libcurl reads no CA variables itself; the curl tool does. */
	const char *ca = getenv("CURL_CA_BUNDLE");
	if (!ca || !*ca)
		ca = getenv("SSL_CERT_FILE");
	if (ca && *ca)
		SET(CURLOPT_CAINFO, ca);
	const char *cadir = getenv("SSL_CERT_DIR");
	if (cadir && *cadir)
		SET(CURLOPT_CAPATH, cadir);

	if (cdt_log_enabled(CDT_LOG_DEBUG)) {
		SET(CURLOPT_DEBUGFUNCTION, on_debug);
		SET(CURLOPT_VERBOSE, 1L);
	}
	return sc;
}

#undef SET

static struct curl_slist *
build_headers(const struct cdt_http_req *req)
{
	struct curl_slist *list = NULL;
	bool expect = false;
	for (const char *const *h = req->headers; h && *h; h++) {
		struct curl_slist *l = curl_slist_append(list, *h);
		if (!l)
			cdt_oom();
		list = l;
		if (!strncasecmp(*h, "expect:", 7))
			expect = true;
	}
	/* No "Expect: 100-continue" wait before a large body; not under
	 * SigV4, where libcurl would sign the removal line. */
	if (!expect && !req->aws_sigv4) {
		struct curl_slist *l = curl_slist_append(list, "Expect:");
		if (!l)
			cdt_oom();
		list = l;
	}
	return list;
}

static void
free_headers(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

/* A transfer that ended with a libcurl error: report it by when. */
static int
failed(struct xfer *x, CURLcode res, const char *where)
{
	struct cdt_http_resp *resp = x->resp;
	const char *why = resp->error[0] ? resp->error
					 : curl_easy_strerror(res);
	if (res == CURLE_OPERATION_TIMEDOUT && !x->got_byte) {
		/* libcurl's own connect timeout, set from connect_ms. */
		resp->timed_out = true;
		resp->deadline = CDT_HTTP_CONNECT;
		return cdt_err_class(EX_UNAVAILABLE, "timeout",
				     "no response from '%s': connect deadline "
				     "of %ld ms passed", where,
				     x->req->connect_ms);
	}
	if (x->got_byte)
		return cdt_err_class(EX_TEMPFAIL, "stream_broken",
				     "response from '%s' broke off: %s",
				     where, why);
	return cdt_err_class(EX_UNAVAILABLE, "connect",
			     "cannot reach '%s': %s", where, why);
}

static void
finish_info(struct xfer *x, int64_t end)
{
	struct cdt_http_resp *resp = x->resp;
	if (!x->checked && x->got_byte)
		read_status(x);
	resp->total_ms = (long)(end - x->start);
	resp->ttfb_ms = x->got_byte ? (long)(x->first_rx - x->start) : -1;
	if (x->ra_ms >= 0) {
		resp->retry_after_s = x->ra_ms / 1000.0;
	} else if (x->have_ra) {
		/* libcurl parses both forms; its 0 also means "unparsable",
		 * which we can only read as "now". */
		curl_off_t ra = 0;
		curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra);
		resp->retry_after_s = ra > 0 ? (double)ra : 0;
	}
}

/* A URL libcurl cannot parse, or not http(s), is a configuration error. */
static int
check_url(const char *url, const char *where)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	int rc = 0;
	if (!u)
		cdt_oom();
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url ? url : "", 0);
	if (uc != CURLUE_OK)
		rc = cdt_err_class(EX_CONFIG, "config", "bad URL '%s': %s",
				   where, curl_url_strerror(uc));
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") && strcmp(scheme, "https")))
		rc = cdt_err_class(EX_CONFIG, "config", "bad URL '%s': only "
				   "http and https are supported", where);
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

int
cdt_http_do(const struct cdt_http_req *req, struct cdt_http_resp *resp)
{
	struct curl_slist *hdrs = NULL;
	struct cdt_buf where = CDT_BUF_INIT;
	struct xfer x = { .req = req, .resp = resp, .ra_ms = -1 };
	bool added = false;
	int rc;

	cdt_http_resp_init(resp);
	if (busy)
		return cdt_err(EX_SOFTWARE, "http request started inside "
			       "another");
	rc = setup();
	if (rc)
		return rc;
	busy = true;
	size_t max = req->max_body ? req->max_body
				   : CDT_HTTP_BODY_MAX_DEFAULT;
	cdt_buf_init(&resp->body, max);
	cdt_http_redact_url(&where, req->url ? req->url : "");
	rc = check_url(req->url, where.buf);
	if (rc)
		goto out;

	curl_easy_reset(easy);
	hdrs = build_headers(req);
	CURLcode sc = configure(req, &x, hdrs);
	if (sc != CURLE_OK) {
		rc = cdt_err(EX_SOFTWARE, "cannot set up request to '%s': %s",
			     where.buf, curl_easy_strerror(sc));
		goto out;
	}
	if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
		rc = cdt_err(EX_SOFTWARE, "cannot start request to '%s'",
			     where.buf);
		goto out;
	}
	added = true;

	x.start = now_ms();
	CURLcode res = CURLE_OK;
	for (;;) {
		int running = 0;
		int left = 0;
		int wait = POLL_MAX_MS;
		bool done = false;
		CURLMcode mc = curl_multi_perform(multi, &running);
		CURLMsg *msg;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg == CURLMSG_DONE &&
			    msg->easy_handle == easy) {
				res = msg->data.result;
				done = true;
			}
		}
		if (done)
			break;
		if (mc != CURLM_OK) {
			rc = cdt_err(EX_SOFTWARE, "request to '%s' failed: %s",
				     where.buf, curl_multi_strerror(mc));
			goto out;
		}
		enum cdt_http_deadline d = check_deadlines(&x, now_ms(),
							   &wait);
		if (d != CDT_HTTP_NONE) {
			resp->timed_out = true;
			resp->deadline = d;
			break;
		}
		mc = curl_multi_poll(multi, NULL, 0, wait, NULL);
		if (mc != CURLM_OK) {
			rc = cdt_err(EX_SOFTWARE, "request to '%s' failed: %s",
				     where.buf, curl_multi_strerror(mc));
			goto out;
		}
	}
	/* Removing an unfinished transfer closes its connection. */
	curl_multi_remove_handle(multi, easy);
	added = false;
	finish_info(&x, now_ms());

	if (resp->timed_out) {
		const char *name = cdt_http_deadline_name(resp->deadline);
		long ms = deadline_ms(req, resp->deadline);
		if (x.got_byte)
			rc = cdt_err_class(EX_TEMPFAIL, "timeout",
					   "response from '%s' stalled: %s "
					   "deadline of %ld ms passed",
					   where.buf, name, ms);
		else
			rc = cdt_err_class(EX_UNAVAILABLE, "timeout",
					   "no response from '%s': %s "
					   "deadline of %ld ms passed",
					   where.buf, name, ms);
	} else if (x.cap_hit) {
		rc = cdt_err(EX_DATAERR, "response body from '%s' larger "
			     "than %zu bytes", where.buf, max);
	} else if (x.status) {
		rc = x.status;
	} else if (res != CURLE_OK) {
		rc = failed(&x, res, where.buf);
	}
out:
	if (added)
		curl_multi_remove_handle(multi, easy);
	/* Drop libcurl's pointers into our memory and the caller's. */
	curl_easy_reset(easy);
	free_headers(hdrs);
	cdt_buf_release(&where);
	busy = false;
	return rc;
}
