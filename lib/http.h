/*
 * http.h - HTTP requests over libcurl, with our own deadlines.
 *
 * cdt_http_do runs one request in a curl_multi_poll loop that enforces
 * four deadlines libcurl 7.88 lacks or merges: connect, first byte,
 * idle (silence between bytes once the response began) and total.  It
 * returns 0 when a response arrived, whatever its status (the caller
 * interprets it); EX_UNAVAILABLE (69) when none did (refused, DNS, TLS,
 * closed, or a deadline before the first byte); EX_TEMPFAIL (75) when
 * the response began and then timed out or broke; EX_DATAERR (65) when a
 * collected body passes its cap; EX_CONFIG (78) for a URL that is not a
 * valid http(s) URL; or a body callback's nonzero status.  Each failure
 * is reported once with cdt_err_class ("timeout", "connect",
 * "stream_broken", "config"); a callback's status is passed through
 * unreported.  Messages never carry secrets: URLs lose their userinfo
 * and key-like query values.
 *
 * One CURLM and one easy handle serve the whole process, so connections
 * are kept alive between requests; libcurl is initialised on first use.
 * Not thread-safe, and not re-entrant (a callback may not start another
 * request).  Proxies follow libcurl's environment variables; a custom CA
 * comes from CURL_CA_BUNDLE, SSL_CERT_FILE or SSL_CERT_DIR, as for the
 * curl tool.  Redirects are not followed unless asked.  Under
 * CDT_LOG=debug the request and response headers go to stderr with
 * credentials replaced by "[redacted]".
 */
#ifndef CDT_HTTP_H
#define CDT_HTTP_H

#include "compat.h"
#include "buf.h"

#define CDT_HTTP_BODY_MAX_DEFAULT ((size_t)64 << 20)
#define CDT_HTTP_ERROR_MAX 256	/* CURL_ERROR_SIZE */

/*
 * Streamed body: called with each piece of a 2xx response's body as it
 * arrives.  Return nonzero to abort the transfer: cdt_http_do returns
 * that status.
 */
typedef int (*cdt_http_body_cb)(void *ctx, const char *data, size_t len);

/*
 * A request.  Zero is the default for every field, so a designated
 * initializer is enough: { .url = u }.  Deadlines are in milliseconds
 * from the start of cdt_http_do (connect, first_byte, total) or from the
 * last byte received (idle, armed by the first response byte); 0 means
 * none (libcurl still gives up connecting after 300 s).
 */
struct cdt_http_req {
	const char *method;	/* NULL: POST when body is set, else GET */
	const char *url;
	/* "Name: value" lines, NULL-terminated, or NULL.  "Name:" removes
	 * a header libcurl would add.  Wiped from libcurl's copies after
	 * the request, since they may hold credentials. */
	const char *const *headers;
	const char *body;	/* not copied: must live until return */
	size_t body_len;
	long connect_ms;
	long first_byte_ms;
	long idle_ms;
	long total_ms;
	/* With body_cb, a 2xx body is streamed to it and not kept; the body
	 * of any other status is still collected into resp->body, so the
	 * caller can read the error.  resp->status and content_type are set
	 * before the first call. */
	cdt_http_body_cb body_cb;
	void *body_ctx;
	size_t max_body;	/* cap of a collected body; 0: 64 MiB */
	bool follow_redirects;	/* at most 5, and only to http(s) */
	/* AWS Signature Version 4 by libcurl (CURLOPT_AWS_SIGV4), e.g.
	 * "aws:amz:us-east-1:s3", with userpwd "KEY_ID:SECRET"; NULL: none.
	 * libcurl signs the URL's path and query exactly as given (encode
	 * and sort them first) and every header in headers, so with
	 * aws_sigv4 the path is sent as is (CURLOPT_PATH_AS_IS: "/../" is
	 * never collapsed) and no "Expect:" removal line is added (libcurl
	 * would sign it as an empty header it does not send). */
	const char *aws_sigv4;
	const char *userpwd;	/* a secret: libcurl copies it */
};

enum cdt_http_deadline {
	CDT_HTTP_NONE = 0,
	CDT_HTTP_CONNECT,
	CDT_HTTP_FIRST_BYTE,
	CDT_HTTP_IDLE,
	CDT_HTTP_TOTAL,
};

struct cdt_http_resp {
	long status;		/* 0 when no response arrived */
	char *content_type;	/* NULL when absent */
	struct cdt_buf body;	/* collected body (see body_cb) */
	/* From retry-after-ms, else Retry-After (seconds or HTTP-date,
	 * clamped at 0); -1 when the response had neither. */
	double retry_after_s;
	bool timed_out;
	enum cdt_http_deadline deadline;	/* which one, if timed_out */
	long ttfb_ms;		/* to the first response byte; -1: none */
	long total_ms;
	size_t bytes;		/* body bytes received */
	char error[CDT_HTTP_ERROR_MAX];	/* libcurl's error text, or "" */
};

/* The name of a deadline ("connect", "first_byte", "idle", "total"). */
const char *cdt_http_deadline_name(enum cdt_http_deadline d);

void cdt_http_resp_init(struct cdt_http_resp *resp);
void cdt_http_resp_release(struct cdt_http_resp *resp);

/*
 * Run the request.  *resp is initialised here: release it afterwards
 * whatever the status.
 */
int cdt_http_do(const struct cdt_http_req *req, struct cdt_http_resp *resp);

/*
 * Append one header or request line to out, without its line end, with
 * the values of credential headers (Authorization, Proxy-Authorization,
 * x-api-key, x-goog-api-key, Cookie, Set-Cookie, ...) and of key-like
 * query parameters (key=, api_key=, access_token=, ...) replaced by
 * "[redacted]".
 */
void cdt_http_redact(struct cdt_buf *out, const char *header_line);
/* Append url without userinfo and with key-like query values redacted. */
void cdt_http_redact_url(struct cdt_buf *out, const char *url);

/* Free the shared handles (at exit, for leak checkers); optional. */
void cdt_http_cleanup(void);

#include "banned.h"
#endif
