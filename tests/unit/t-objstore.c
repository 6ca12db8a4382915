/*
 * Unit tests for lib/objstore: key encoding, the ListObjectsV2 and error
 * parsers, the SigV4 signature of lib's own libcurl path against AWS's
 * published examples (through a loopback capture proxy, the date
 * pinned), retries and the exit code of each S3 failure against a
 * scripted loopback server, keys outside the prefix dropped, and the
 * local backend's refusals (hard links, FIFOs, symlinks, targets).
 */
#include "compat.h"
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "objstore.h"
#include "tap.h"

static char dir[] = "/tmp/t-objstore.XXXXXX";

/* ---- encoding and parsing ----------------------------------------- */

static void
test_encode(void)
{
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_s3_encode(&b, "a b/é☃+%2e~x", strlen("a b/é☃+%2e~x"), true);
	is_str(b.buf, "a%20b/%C3%A9%E2%98%83%2B%252e~x",
	       "encode: RFC 3986 unreserved kept, '/' kept in keys");
	cdt_buf_reset(&b);
	cdt_s3_encode(&b, "a/b=c&d", 7, false);
	is_str(b.buf, "a%2Fb%3Dc%26d", "encode: '/' encoded in a query");
	cdt_buf_release(&b);
}

struct seen {
	struct cdt_buf log;
};

static int
seen_cb(void *arg, const char *key, size_t len, bool is_prefix,
	uint64_t size, int64_t mtime, const char *etag)
{
	struct seen *s = arg;
	cdt_buf_addf(&s->log, "%s:%.*s:%llu:%lld:%s\n", is_prefix ? "P" : "K",
		     (int)len, key, (unsigned long long)size,
		     (long long)mtime, etag);
	return 0;
}

static void
test_parse(void)
{
	const char *xml =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/"
		"2006-03-01/\"><Name>b</Name><Prefix>p/</Prefix>"
		"<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>tok+/=</NextContinuationToken>"
		"<Contents><Key>p/a&amp;b &lt;c&gt; &#x2603;&#65;</Key>"
		"<LastModified>2026-11-22T05:00:00.000Z</LastModified>"
		"<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag>"
		"<Size>12</Size><StorageClass>STANDARD</StorageClass>"
		"</Contents><!-- a comment <Key>no</Key> -->"
		"<CommonPrefixes><Prefix>p/dir/</Prefix></CommonPrefixes>"
		"</ListBucketResult>";
	struct seen s = { CDT_BUF_INIT };
	char *next = NULL;
	is_int(cdt_s3_parse_list(xml, strlen(xml), seen_cb, &s, &next), 0,
	       "parse: a page");
	is_str(s.log.buf, "K:p/a&b <c> \u2603A:12:1795323600:"
	       "d41d8cd98f00b204e9800998ecf8427e\nP:p/dir/:0:-1:\n",
	       "parse: keys decoded, size, time, etag, prefixes");
	is_str(next, "tok+/=", "parse: the continuation token");
	free(next);

	const char *url =
		"<ListBucketResult><Contents><Key>p/a%2Fb%20c%25</Key>"
		"<Size>1</Size></Contents><EncodingType>url</EncodingType>"
		"<IsTruncated>false</IsTruncated></ListBucketResult>";
	cdt_buf_reset(&s.log);
	is_int(cdt_s3_parse_list(url, strlen(url), seen_cb, &s, &next), 0,
	       "parse: url encoding");
	is_str(s.log.buf, "K:p/a/b c%:1:-1:\n",
	       "parse: EncodingType url decodes keys (after the entries)");
	ok(next == NULL, "parse: not truncated, no token");

	static const char *const bad[] = {
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult><Contents><Key>a&bogus;</Key></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#0;</Key></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#xD800;</Key>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>x</Key><Size>-1</Size>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>unclosed",
		"<ListBucketResult><IsTruncated>true</IsTruncated>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>a%zz</Key></Contents>"
		"<EncodingType>url</EncodingType></ListBucketResult>",
		"",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(bad); i++) {
		cdt_buf_reset(&s.log);
		is_int(cdt_s3_parse_list(bad[i], strlen(bad[i]), seen_cb, &s,
					 &next), EX_DATAERR,
		       "parse: malformed answer %zu is 65", i);
		ok(next == NULL, "parse: no token from malformed %zu", i);
	}
	cdt_buf_release(&s.log);

	char code[64], msg[128];
	const char *err = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey"
		"</Code><Message>The key &amp; all</Message></Error>";
	cdt_s3_parse_error(err, strlen(err), code, sizeof(code), msg,
			   sizeof(msg));
	is_str(code, "NoSuchKey", "error: code");
	is_str(msg, "The key & all", "error: message");
	cdt_s3_parse_error("junk", 4, code, sizeof(code), msg, sizeof(msg));
	is_str(code, "", "error: none in junk");
}

/* ---- a scripted loopback server --------------------------------------- */

/*
 * Each connection gets the next scripted answer: a whole HTTP response,
 * or "DROP" (close without a word) or "HALF" (a head promising more
 * body than comes).  Every request (head and body) is appended to
 * DIR/requests.  The last answer repeats.
 */
static pid_t srv_pid;
static int srv_port;

static void
serve(int ls, const char *const *script, size_t n)
{
	size_t next = 0;
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			continue;
		char buf[1 << 16];
		size_t len = 0;
		ssize_t r;
		char *end = NULL;
		while (len < sizeof(buf) - 1 &&
		       (r = read(c, buf + len, sizeof(buf) - 1 - len)) > 0) {
			len += (size_t)r;
			buf[len] = '\0';
			if ((end = strstr(buf, "\r\n\r\n")))
				break;
		}
		size_t want = 0;
		char *cl = end ? strcasestr(buf, "\r\ncontent-length:") : NULL;
		if (cl && cl < end)
			want = (size_t)strtoul(cl + 17, NULL, 10);
		while (end && len < (size_t)(end + 4 - buf) + want &&
		       len < sizeof(buf) - 1 &&
		       (r = read(c, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)r;
		char path[4200];
		snprintf(path, sizeof(path), "%s/requests", dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			if (write(fd, buf, len) < 0 || write(fd, "\n@@\n", 4) < 0)
				_exit(3);
			close(fd);
		}
		const char *a = script[next < n ? next : n - 1];
		next++;
		if (!strcmp(a, "HALF")) {
			const char *h = "HTTP/1.1 200 OK\r\nContent-Length: "
				"100\r\nConnection: close\r\n\r\nabc";
			if (write(c, h, strlen(h)) < 0)
				_exit(3);
		} else if (strcmp(a, "DROP")) {
			if (write(c, a, strlen(a)) < 0)
				_exit(3);
		}
		close(c);
	}
}

static void
srv_start(const char *const *script, size_t n)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ls, 16) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
		perror("server");
		exit(1);
	}
	srv_port = ntohs(sa.sin_port);
	char path[4200];
	snprintf(path, sizeof(path), "%s/requests", dir);
	unlink(path);
	fflush(stdout);
	srv_pid = fork();
	if (srv_pid == 0) {
		serve(ls, script, n);
		_exit(0);
	}
	close(ls);
}

static void
srv_stop(void)
{
	if (srv_pid > 0) {
		kill(srv_pid, SIGKILL);
		waitpid(srv_pid, NULL, 0);
	}
	srv_pid = 0;
}

/* What the server saw, whole. */
static char *
requests(void)
{
	char path[4200];
	struct cdt_buf b = CDT_BUF_INIT;
	snprintf(path, sizeof(path), "%s/requests", dir);
	int fd = open(path, O_RDONLY);
	char chunk[4096];
	ssize_t n;
	while (fd >= 0 && (n = read(fd, chunk, sizeof(chunk))) > 0)
		cdt_buf_add(&b, chunk, (size_t)n);
	if (fd >= 0)
		close(fd);
	return cdt_buf_detach(&b, NULL);
}

static int
count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/* The value of the first header line "name: " in s, into out. */
static void
header(const char *s, const char *name, char *out, size_t n)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	const char *h = strcasestr(s, pat);
	out[0] = '\0';
	if (!h)
		return;
	h += strlen(pat);
	size_t l = strcspn(h, "\r\n");
	snprintf(out, n, "%.*s", (int)l, h);
}

static bool
starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

#define OK200 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: " \
	"close\r\n\r\n"

/* ---- SigV4: AWS's published examples --------------------------------- */

static const char *const sig_script[] = { OK200 };

static void
test_sigv4(void)
{
	struct cdt_objstore *os = NULL;
	char proxy[64];
	srv_start(sig_script, 1);
	/* The capture server poses as an HTTP proxy, so the request goes
	 * out for examplebucket.s3.amazonaws.com as in AWS's examples. */
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", srv_port);
	setenv("http_proxy", proxy, 1);
	struct cdt_s3_conf c = {
		.endpoint = "http://s3.amazonaws.com",
		.bucket = "examplebucket",
		.region = "us-east-1",
		.prefix = "",
		.access_key = "AKIAIOSFODNN7EXAMPLE",
		.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		.path_style = false,
		.date = "20130524T000000Z",
		.retries = 0,
	};
	is_int(cdt_objstore_open_s3(&c, &os), 0, "sigv4: open");

	struct cdt_http_resp resp;
	const char *range[] = { "Range: bytes=0-9", NULL };
	struct cdt_s3_req get = { .method = "GET", .key = "test.txt",
				  .headers = range };
	is_int(cdt_s3_request(os, &get, &resp), 0, "sigv4: GET Object");
	cdt_http_resp_release(&resp);

	const char *put_h[] = { "Date: Fri, 24 May 2013 00:00:00 GMT",
				"x-amz-storage-class: REDUCED_REDUNDANCY",
				NULL };
	const char *body = "Welcome to Amazon S3.";
	struct cdt_s3_req put = { .method = "PUT", .key = "test$file.text",
				  .headers = put_h, .body = body,
				  .body_len = strlen(body) };
	is_int(cdt_s3_request(os, &put, &resp), 0, "sigv4: PUT Object");
	cdt_http_resp_release(&resp);

	/* Given unsorted: the signer needs them sorted. */
	const char *q[] = { "prefix", "J", "max-keys", "2", NULL };
	struct cdt_s3_req list = { .method = "GET", .query = q };
	is_int(cdt_s3_request(os, &list, &resp), 0, "sigv4: GET Bucket");
	cdt_http_resp_release(&resp);
	unsetenv("http_proxy");
	srv_stop();

	char *all = requests();
	char *r1 = all, *r2 = strstr(r1 + 1, "\n@@\n");
	char *r3 = r2 ? strstr(r2 + 1, "\n@@\n") : NULL;
	char auth[512];
	ok(r2 && r3, "sigv4: three requests captured");
	if (!r2 || !r3) {
		free(all);
		cdt_objstore_free(os);
		return;
	}
	*r2 = '\0';
	r2 += 4;
	*r3 = '\0';
	r3 += 4;
	ok(starts(r1, "GET http://examplebucket.s3.amazonaws.com/test.txt "
		  "HTTP/1.1\r\n"), "sigv4: GET's request line");
	header(r1, "Authorization", auth, sizeof(auth));
	is_str(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
	       "20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;"
	       "x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e8"
	       "57bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	       "sigv4: GET Object's signature is AWS's");
	ok(starts(r2, "PUT http://examplebucket.s3.amazonaws.com/"
		  "test%24file.text HTTP/1.1\r\n"),
	   "sigv4: PUT's key is percent-encoded by us");
	header(r2, "Authorization", auth, sizeof(auth));
	is_str(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
	       "20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;"
	       "x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature"
	       "=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece10"
	       "8bd", "sigv4: PUT Object's signature is AWS's");
	char sha[128];
	header(r2, "x-amz-content-sha256", sha, sizeof(sha));
	is_str(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b8"
	       "03f8b072", "sigv4: the payload's sha256 is sent and signed");
	ok(strstr(r2, "\r\n\r\nWelcome to Amazon S3."), "sigv4: the body");
	ok(starts(r3, "GET http://examplebucket.s3.amazonaws.com/"
		  "?max-keys=2&prefix=J HTTP/1.1\r\n"),
	   "sigv4: the query string sorted");
	header(r3, "Authorization", auth, sizeof(auth));
	is_str(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
	       "20130524/us-east-1/s3/aws4_request, SignedHeaders=host;"
	       "x-amz-content-sha256;x-amz-date, Signature=34b48302e7b5fa45bd"
	       "e8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
	       "sigv4: GET Bucket's signature is AWS's");
	ok(!strstr(all, "WJalr") && !strstr(all, "EXAMPLEKEY"),
	   "sigv4: the secret never goes out");
	free(all);
	cdt_objstore_free(os);
}

/* ---- retries and failures against the scripted server ------------ */

static struct cdt_objstore *
s3_local(const char *prefix, int retries)
{
	char ep[64];
	struct cdt_objstore *os = NULL;
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", srv_port);
	struct cdt_s3_conf c = {
		.endpoint = ep, .bucket = "bkt", .prefix = prefix,
		.access_key = "AK", .secret_key = "SK", .path_style = true,
		.retries = retries, .retry_ms = 10,
	};
	if (cdt_objstore_open_s3(&c, &os))
		return NULL;
	return os;
}

static int
nop_sink(void *arg, const void *data, size_t len)
{
	cdt_buf_add(arg, data, len);
	return 0;
}

#define E503 "HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\n" \
	"Connection: close\r\n\r\n"
#define BODY_HI "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: " \
	"close\r\n\r\nhi"

static void
test_failures(void)
{
	struct cdt_buf got = CDT_BUF_INIT;
	struct cdt_objstore *os;

	static const char *const s1[] = { E503, "DROP", BODY_HI };
	srv_start(s1, 3);
	os = s3_local("t", 3);
	is_int(cdt_objstore_get(os, "a.txt", nop_sink, &got, NULL), 0,
	       "retry: 503 and a dropped connection, then 200");
	is_str(got.buf, "hi", "retry: the body of the third answer");
	char *all = requests();
	is_int(count(all, "\n@@\n"), 3, "retry: three requests");
	ok(strstr(all, "GET /bkt/t/a.txt HTTP/1.1"), "retry: the path");
	free(all);
	cdt_objstore_free(os);
	srv_stop();

	static const char *const s2[] = { E503 };
	srv_start(s2, 1);
	os = s3_local("t", 2);
	cdt_buf_reset(&got);
	cdt_err_quiet(true);
	is_int(cdt_objstore_get(os, "a.txt", nop_sink, &got, NULL),
	       EX_TEMPFAIL, "retry: 503 every time is 75");
	cdt_err_quiet(false);
	all = requests();
	is_int(count(all, "\n@@\n"), 3, "retry: 1 + 2 retries");
	free(all);
	cdt_objstore_free(os);
	srv_stop();

	static const struct {
		const char *answer;
		int code;
		const char *what;
	} cases[] = {
		{ "HTTP/1.1 403 Forbidden\r\nContent-Length: 95\r\n"
		  "Connection: close\r\n\r\n<Error><Code>AccessDenied</Code>"
		  "<Message>Access Denied</Message></Error>                  "
		  "            ", EX_NOPERM, "403 is 77" },
		{ "HTTP/1.1 404 Not Found\r\nContent-Length: 36\r\n"
		  "Connection: close\r\n\r\n<Error><Code>NoSuchKey</Code>"
		  "</Error>", EX_NOINPUT, "404 is 66" },
		{ "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
		  "Connection: close\r\n\r\n", EX_DATAERR, "400 is 65" },
		{ "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n"
		  "Connection: close\r\n\r\n", EX_TEMPFAIL, "500 is 75" },
		{ "HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n"
		  "Connection: close\r\n\r\n", EX_CONFIG, "301 is 78" },
		{ "DROP", EX_TEMPFAIL, "a dropped connection is 75" },
		{ "HALF", EX_TEMPFAIL, "a body cut short is 75" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(cases); i++) {
		const char *sc[] = { cases[i].answer };
		srv_start(sc, 1);
		os = s3_local("t", 1);
		cdt_buf_reset(&got);
		cdt_err_quiet(true);
		int rc = cdt_objstore_get(os, "a.txt", nop_sink, &got, NULL);
		struct cdt_err_last e;
		cdt_err_get(&e);
		cdt_err_quiet(false);
		is_int(rc, cases[i].code, "failure: %s", cases[i].what);
		ok(e.code == rc && e.message && !strchr(e.message, '\n'),
		   "failure: %s, one line: %s", cases[i].what,
		   e.message ? e.message : "(none)");
		cdt_objstore_free(os);
		srv_stop();
	}
	/* Nobody listening at all. */
	srv_start(s2, 1);
	srv_stop();
	os = s3_local("t", 1);
	cdt_err_quiet(true);
	is_int(cdt_objstore_get(os, "a.txt", nop_sink, &got, NULL),
	       EX_TEMPFAIL, "failure: connection refused is 75");
	cdt_err_quiet(false);
	cdt_objstore_free(os);
	cdt_buf_release(&got);
}

/* ---- the prefix holds, whatever the server lists ------------------- */

static int
list_cb(void *arg, const struct cdt_objinfo *in)
{
	cdt_buf_addf(arg, "%s%s\n", in->path,
		     in->node == CDT_NODE_DIR ? "/" : "");
	return 0;
}

static void
test_prefix(void)
{
	static char page[2048];
	const char *keys[] = {
		"org1/proj/a.txt", "org1/proj10/secret", "org1/projx",
		"org2/secret", "org1/proj/../../org2/secret",
		"org1/proj/.git/config", "org1/proj/d/e/f.txt",
		"org1/proj/d//x", "org1/proj/empty/", "org1/proj/a.b",
	};
	struct cdt_buf xml = CDT_BUF_INIT;
	cdt_buf_addstr(&xml, "<ListBucketResult>");
	for (size_t i = 0; i < CDT_ARRAY_SIZE(keys); i++)
		cdt_buf_addf(&xml, "<Contents><Key>%s</Key><Size>1</Size>"
			     "</Contents>", keys[i]);
	cdt_buf_addstr(&xml, "<IsTruncated>false</IsTruncated>"
		       "</ListBucketResult>");
	snprintf(page, sizeof(page), "HTTP/1.1 200 OK\r\nContent-Length: "
		 "%zu\r\nConnection: close\r\n\r\n%s", xml.len, xml.buf);
	cdt_buf_release(&xml);
	const char *sc[] = { page };
	srv_start(sc, 1);
	struct cdt_objstore *os = s3_local("org1/proj", 0);
	struct cdt_buf got = CDT_BUF_INIT;
	cdt_log_init(-1);	/* the warnings are expected */
	is_int(cdt_objstore_list(os, "", true, list_cb, &got), 0,
	       "prefix: list");
	cdt_log_init(0);
	is_str(got.buf, "a.b\na.txt\nd/\nd/e/\nd/e/f.txt\nempty/\n",
	       "prefix: keys outside it, '..', '//' and .git are dropped; "
	       "directories implied; path.h's order");
	char *all = requests();
	ok(strstr(all, "GET /bkt?encoding-type=url&list-type=2&prefix="
		  "org1%2Fproj%2F HTTP/1.1"),
	   "prefix: listed with the trailing slash, query sorted");
	free(all);
	cdt_buf_release(&got);
	cdt_objstore_free(os);
	srv_stop();

	/* Hostile names go out literal, encoded, never collapsed. */
	const char *ok200[] = { OK200 };
	srv_start(ok200, 1);
	os = s3_local("org1/proj", 0);
	is_int(cdt_objstore_put(os, "%2e%2e/x", "1", 1), 0,
	       "encode: a literal %%2e%%2e key");
	cdt_err_quiet(true);
	is_int(cdt_objstore_put(os, "../x", "1", 1), EX_DATAERR,
	       "encode: '..' never reaches the wire");
	cdt_err_quiet(false);
	all = requests();
	ok(strstr(all, "PUT /bkt/org1/proj/%252e%252e/x HTTP/1.1"),
	   "encode: sent as %%252e%%252e");
	is_int(count(all, "PUT "), 1, "encode: one PUT only");
	ok(strstr(all, "\r\nContent-Type: text/plain\r\n"),
	   "encode: Content-Type by DESIGN 6");
	free(all);
	cdt_objstore_free(os);
	srv_stop();
}

/* ---- the local backend's refusals ------------------------------------- */

static int
run_quiet_get(struct cdt_objstore *os, const char *rel)
{
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_err_quiet(true);
	int rc = cdt_objstore_get(os, rel, nop_sink, &b, NULL);
	cdt_err_quiet(false);
	cdt_buf_release(&b);
	return rc;
}

static void
test_local(void)
{
	char ws[4200], out[4200], p[4300];
	struct cdt_objstore *os = NULL;
	snprintf(ws, sizeof(ws), "%s/ws", dir);
	snprintf(out, sizeof(out), "%s/outside", dir);
	mkdir(ws, 0700);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "secret", 6) != 6)
		exit(1);
	close(fd);
	snprintf(p, sizeof(p), "%s/hard", ws);
	if (link(out, p) < 0)
		exit(1);
	snprintf(p, sizeof(p), "%s/fifo", ws);
	mkfifo(p, 0600);
	snprintf(p, sizeof(p), "%s/lnk", ws);
	if (symlink("../outside", p) < 0)
		exit(1);
	is_int(cdt_objstore_open_local(ws, &os), 0, "local: open");
	is_int(run_quiet_get(os, "hard"), EX_NOPERM,
	       "local: reading a file with two links is 77");
	cdt_err_quiet(true);
	is_int(cdt_objstore_put(os, "hard", "x", 1), EX_NOPERM,
	       "local: writing it is 77");
	cdt_err_quiet(false);
	is_int(run_quiet_get(os, "fifo"), EX_NOPERM,
	       "local: a FIFO is 77, without blocking");
	is_int(run_quiet_get(os, "lnk"), EX_NOPERM, "local: a symlink is 77");
	cdt_err_quiet(true);
	is_int(cdt_objstore_put(os, "lnk", "x", 1), EX_NOPERM,
	       "local: writing through a symlink is 77");
	is_int(cdt_objstore_put(os, "fifo", "x", 1), EX_NOPERM,
	       "local: writing a FIFO is 77");
	cdt_err_quiet(false);
	char back[16] = "";
	fd = open(out, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, back, sizeof(back) - 1) : -1;
	if (fd >= 0)
		close(fd);
	is_str(n == 6 ? back : "", "secret", "local: outside untouched");

	struct {
		const char *rel, *target;
		int code;
	} t[] = {
		{ "l", "a.txt", 0 }, { "d/l", "../a.txt", 0 },
		{ "d/e/l", "../../x/./y", 0 }, { "d/l", "..", 0 },
		{ "l", "../x", EX_NOPERM }, { "d/l", "../../x", EX_NOPERM },
		{ "l", "/etc/passwd", EX_NOPERM },
		{ "l", ".git/config", EX_NOPERM },
		{ "d/l", "../.cdt/tmp", EX_NOPERM },
		{ "d/l", ".git/x", 0 },
		{ "l", "", EX_DATAERR }, { "l", "a//b", EX_DATAERR },
		{ "l", "a\\b", EX_DATAERR }, { "l", "a\nb", EX_DATAERR },
	};
	cdt_err_quiet(true);
	for (size_t i = 0; i < CDT_ARRAY_SIZE(t); i++)
		is_int(cdt_objstore_check_target(t[i].rel, t[i].target),
		       t[i].code, "target %zu: '%s' -> '%s'", i, t[i].rel,
		       strchr(t[i].target, '\n') ? "(a newline)" :
		       t[i].target);
	cdt_err_quiet(false);
	is_int(cdt_objstore_symlink(os, "sub/l", "../hard"), 0,
	       "local: a symlink record beneath the root is made");
	snprintf(p, sizeof(p), "%s/sub/l", ws);
	char tg[64] = "";
	n = readlink(p, tg, sizeof(tg) - 1);
	is_str(n > 0 ? tg : "", "../hard", "local: with its target");
	cdt_objstore_free(os);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path) < 0 ? 0 : 0;
}

int
main(void)
{
	cdt_err_setname("t-objstore");
	if (!mkdtemp(dir))
		return 1;
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	setenv("CDT_HOME", dir, 1);
	test_encode();
	test_parse();
	test_sigv4();
	test_failures();
	test_prefix();
	test_local();
	cdt_http_cleanup();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
