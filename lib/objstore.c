#include "compat.h"
#include <fcntl.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "cfg.h"
#include "codec.h"
#include "err.h"
#include "hash.h"
#include "log.h"
#include "objstore.h"
#include "path.h"

#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* A single PUT takes at most 5 GiB (S3's limit). */
#define S3_PUT_MAX ((uint64_t)5 << 30)
#define S3_RETRIES 3
#define S3_RETRY_MS 200
#define S3_CONNECT_MS 10000
#define S3_FIRST_BYTE_MS 60000
#define S3_IDLE_MS 60000

struct cdt_objstore {
	enum cdt_objstore_kind kind;
	char *name;
	/* local */
	int root;
	/* s3 */
	char *base_url;		/* up to and without the key */
	bool vhost;		/* the bucket is in the host name */
	char *prefix;		/* "" or "a/b" */
	char *bucket;
	char *sigv4;
	char *userpwd;		/* secret */
	char *token_hdr;	/* secret: "x-amz-security-token: ..." */
	char *date_hdr;
	int retries;
	long retry_ms;
	int stage_fd;		/* the staging file; -1 until needed */
	uint64_t stage_end;
	struct cdt_objput *writing;
	/* What cdt_objstore_stat's info points into. */
	char stat_target[4096];
	char stat_etag[80];
};

struct cdt_objput {
	struct cdt_objstore *os;
	char *rel;
	struct cdt_sha256 sha;
	char hex[CDT_SHA256_HEX_LEN + 1];	/* "" until final */
	EVP_MD_CTX *md5;	/* for an S3 ETag */
	char md5hex[33];
	uint64_t size;
	int rc;			/* the first failure */
	struct cdt_atomic a;	/* local */
	uint64_t off;		/* s3: where the bytes start in the stage */
};

/* ---- common ---------------------------------------------------------- */

static int
check_rel(const char *rel, bool root_ok)
{
	const char *why = NULL;
	if (root_ok && !*rel)
		return 0;
	int rc = cdt_path_check(rel, strlen(rel), &why);
	return rc ? cdt_err(rc, "refusing '%s': %s", rel, why) : 0;
}

enum cdt_objstore_kind
cdt_objstore_kind(const struct cdt_objstore *os)
{
	return os->kind;
}

const char *
cdt_objstore_name(const struct cdt_objstore *os)
{
	return os->name;
}

static struct cdt_objstore *
store_new(enum cdt_objstore_kind kind, const char *name)
{
	struct cdt_objstore *os = cdt_xcalloc(1, sizeof(*os));
	os->kind = kind;
	os->name = cdt_xstrdup(name);
	os->root = -1;
	os->stage_fd = -1;
	return os;
}

static void
free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
cdt_objstore_free(struct cdt_objstore *os)
{
	if (!os)
		return;
	if (os->root >= 0)
		close(os->root);
	if (os->stage_fd >= 0)
		close(os->stage_fd);
	free(os->name);
	free(os->base_url);
	free(os->prefix);
	free(os->bucket);
	free(os->sigv4);
	free_secret(os->userpwd);
	free_secret(os->token_hdr);
	free(os->date_hdr);
	free(os);
}

static const char *
base_of(const char *rel)
{
	const char *slash = strrchr(rel, '/');
	return slash ? slash + 1 : rel;
}

/* ---- local ----------------------------------------------------------- */

int
cdt_objstore_open_local(const char *dir, struct cdt_objstore **out)
{
	int root = -1;
	*out = NULL;
	int rc = cdt_path_root_open(dir, &root);
	if (rc)
		return rc;
	struct cdt_objstore *os = store_new(CDT_OBJSTORE_LOCAL, dir);
	os->root = root;
	*out = os;
	return 0;
}

/* The target of the symlink rel, into buf (n bytes); "" when unknown. */
static void
local_readlink(int root, const char *rel, char *buf, size_t n)
{
	const char *slash = strrchr(rel, '/');
	int dfd = -1;
	ssize_t len = -1;
	buf[0] = '\0';
	if (!slash) {
		len = readlinkat(root, rel, buf, n - 1);
	} else {
		char *parent = cdt_xstrndup(rel, (size_t)(slash - rel));
		cdt_err_quiet(true);
		if (cdt_path_open(root, parent, O_PATH | O_DIRECTORY, 0,
				  &dfd) == 0)
			len = readlinkat(dfd, slash + 1, buf, n - 1);
		cdt_err_quiet(false);
		free(parent);
		if (dfd >= 0)
			close(dfd);
	}
	buf[len > 0 ? len : 0] = '\0';
}

static void
local_info(const char *rel, const struct stat *st, struct cdt_objinfo *in)
{
	memset(in, 0, sizeof(*in));
	in->path = rel;
	in->node = S_ISREG(st->st_mode) ? CDT_NODE_FILE :
		   S_ISDIR(st->st_mode) ? CDT_NODE_DIR :
		   S_ISLNK(st->st_mode) ? CDT_NODE_SYMLINK : CDT_NODE_OTHER;
	in->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	in->mtime = st->st_mtim.tv_sec;
	in->nlink = (unsigned long)st->st_nlink;
}

/*
 * What reading or writing the existing node at rel would meet: 77 for a
 * symlink, a special file or a file with other links; 0 otherwise.
 */
static int
refuse_node(const char *rel, const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return cdt_err(EX_NOPERM, "refusing '%s': a symlink", rel);
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return cdt_err(EX_NOPERM, "refusing '%s': not a regular file",
			       rel);
	if (S_ISREG(st->st_mode) && st->st_nlink > 1)
		return cdt_err(EX_NOPERM, "refusing '%s': file has other hard "
			       "links", rel);
	return 0;
}

static int
local_stat(struct cdt_objstore *os, const char *rel, struct stat *st,
	   struct cdt_objinfo *in, char *target, size_t tlen)
{
	int rc = cdt_path_stat(os->root, rel, st);
	if (rc)
		return rc;
	local_info(rel, st, in);
	if (S_ISLNK(st->st_mode)) {
		local_readlink(os->root, rel, target, tlen);
		in->target = target;
	}
	return 0;
}

struct local_list {
	struct cdt_objstore *os;
	cdt_objstore_list_cb cb;
	void *ctx;
};

static int
local_list_cb(void *arg, const char *rel, const struct stat *st)
{
	struct local_list *l = arg;
	struct cdt_objinfo in;
	char target[4096];
	local_info(rel, st, &in);
	if (S_ISLNK(st->st_mode)) {
		local_readlink(l->os->root, rel, target, sizeof(target));
		in.target = target;
	}
	return l->cb(l->ctx, &in);
}

static int
local_get(struct cdt_objstore *os, const char *rel, cdt_objstore_sink sink,
	  void *ctx, struct cdt_objinfo *info)
{
	struct stat st;
	struct cdt_objinfo in;
	char target[4096];
	int fd = -1;
	int rc = local_stat(os, rel, &st, &in, target, sizeof(target));
	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode))
		return cdt_err(EX_DATAERR, "cannot read '%s': is a directory",
			       rel);
	if ((rc = refuse_node(rel, &st)))
		return rc;
	if ((rc = cdt_path_open(os->root, rel, O_RDONLY, 0, &fd)))
		return rc;
	/* Again on what was opened: it may have been swapped since. */
	if (fstat(fd, &st) < 0) {
		rc = cdt_err_errno(EX_IOERR, "cannot stat '%s'", rel);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = cdt_err(EX_DATAERR, "cannot read '%s': is a directory",
			     rel);
		goto out;
	}
	if ((rc = refuse_node(rel, &st)))
		goto out;
	if (info) {
		local_info(rel, &st, info);
		info->path = NULL;
	}
	char chunk[64 * 1024];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cdt_err_errno(EX_IOERR, "cannot read '%s'", rel);
			break;
		}
		if (n == 0 || (rc = sink(ctx, chunk, (size_t)n)))
			break;
	}
out:
	close(fd);
	return rc;
}

/* Stat rel quietly: 0, EX_NOINPUT when absent, or a reported status. */
static int
quiet_stat(int root, const char *rel, struct stat *st)
{
	struct cdt_err_last e;
	cdt_err_quiet(true);
	int rc = cdt_path_stat(root, rel, st);
	cdt_err_quiet(false);
	if (!rc)
		return 0;
	if (rc == EX_NOINPUT) {
		cdt_err_clear();
		return rc;
	}
	cdt_err_get(&e);
	return cdt_err_class(rc, e.cls, "%s", e.message);
}

static int
local_put_begin(struct cdt_objput *p)
{
	struct stat st;
	int rc = quiet_stat(p->os->root, p->rel, &st);
	if (rc && rc != EX_NOINPUT)
		return rc;
	if (!rc && S_ISDIR(st.st_mode))
		return cdt_err(EX_CANTCREAT, "cannot write '%s': is a "
			       "directory", p->rel);
	if (!rc && (rc = refuse_node(p->rel, &st)))
		return rc;
	return cdt_atomic_begin(&p->a, p->os->root, p->rel,
				0666 | CDT_PATH_MODE_KEEP);
}

static int
local_symlink(struct cdt_objstore *os, const char *rel, const char *target)
{
	const char *slash = strrchr(rel, '/');
	const char *base = base_of(rel);
	int dfd = -1;
	int rc = 0;
	char tmp[32];
	unsigned char r[8];
	struct stat st;

	if (slash) {
		char *parent = cdt_xstrndup(rel, (size_t)(slash - rel));
		rc = cdt_path_mkdirs(os->root, parent, &dfd);
		free(parent);
		if (rc)
			return rc;
	} else {
		dfd = openat(os->root, ".", O_RDONLY | O_DIRECTORY |
			     O_CLOEXEC);
		if (dfd < 0)
			return cdt_err_errno(EX_IOERR, "cannot open the "
					     "workspace");
	}
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		rc = cdt_err(EX_CANTCREAT, "cannot make symlink '%s': is a "
			     "directory", rel);
		goto out;
	}
	if ((rc = cdt_random_bytes(r, sizeof(r))))
		goto out;
	snprintf(tmp, sizeof(tmp), ".cdt-ln-%02x%02x%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	/* A new link beside, renamed over: the old one or the new one. */
	if (symlinkat(target, dfd, tmp) < 0) {
		rc = cdt_err_errno(errno == EACCES || errno == EPERM ?
				   EX_NOPERM : EX_CANTCREAT,
				   "cannot make symlink '%s'", rel);
		goto out;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		rc = cdt_err_errno(EX_CANTCREAT, "cannot make symlink '%s'",
				   rel);
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	if (fsync(dfd) < 0)
		rc = cdt_err_errno(EX_IOERR, "cannot sync the directory of "
				   "'%s'", rel);
out:
	close(dfd);
	return rc;
}

/* ---- s3: encoding, requests, errors ----------------------------------- */

int
cdt_s3_encode(struct cdt_buf *out, const char *s, size_t len,
	      bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;
	for (size_t i = 0; i < len && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~' || (c == '/' && keep_slash)) {
			rc = cdt_buf_addch(out, c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc = cdt_buf_add(out, e, 3);
		}
	}
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "?a=1&b=2", names and values encoded, sorted as SigV4 wants. */
static int
add_query(struct cdt_buf *url, const char *const *q)
{
	size_t n = 0;
	while (q && q[2 * n])
		n++;
	if (!n)
		return 0;
	char **v = cdt_xcalloc(n, sizeof(*v));
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct cdt_buf b = CDT_BUF_INIT;
		const char *val = q[2 * i + 1] ? q[2 * i + 1] : "";
		cdt_s3_encode(&b, q[2 * i], strlen(q[2 * i]), false);
		/* '=' sorts below every encoded byte: names order first. */
		cdt_buf_addch(&b, '=');
		cdt_s3_encode(&b, val, strlen(val), false);
		v[i] = cdt_buf_detach(&b, NULL);
	}
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n && !rc; i++)
		rc = cdt_buf_addf(url, "%c%s", i ? '&' : '?', v[i]);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return rc;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct stream {
	cdt_http_body_cb cb;
	void *ctx;
	bool started;
};

static int
stream_cb(void *arg, const char *data, size_t len)
{
	struct stream *s = arg;
	s->started = true;
	return s->cb(s->ctx, data, len);
}

int
cdt_s3_request(struct cdt_objstore *os, const struct cdt_s3_req *r,
	       struct cdt_http_resp *resp)
{
	struct cdt_buf url = CDT_BUF_INIT;
	struct cdt_buf sha_hdr = CDT_BUF_INIT;
	const char *hdrs[24];
	size_t nh = 0;
	char hex[CDT_SHA256_HEX_LEN + 1];
	struct stream st = { r->body_cb, r->body_ctx, false };
	int rc;

	if (os->kind != CDT_OBJSTORE_S3) {
		cdt_http_resp_init(resp);
		return cdt_err(EX_SOFTWARE, "s3 request on a local store");
	}
	cdt_buf_addstr(&url, os->base_url);
	if (r->key && *r->key) {
		cdt_buf_addch(&url, '/');
		cdt_s3_encode(&url, r->key, strlen(r->key), true);
	} else if (os->vhost) {
		/* A virtual-host bucket is "/" itself. */
		cdt_buf_addch(&url, '/');
	}
	add_query(&url, r->query);

	const char *sha = r->payload_sha256;
	if (!sha && r->body && r->body_len) {
		cdt_sha256_hex(r->body, r->body_len, hex);
		sha = hex;
	}
	cdt_buf_addf(&sha_hdr, "x-amz-content-sha256: %s",
		     sha ? sha : EMPTY_SHA256);
	hdrs[nh++] = sha_hdr.buf;
	if (os->date_hdr)
		hdrs[nh++] = os->date_hdr;
	if (os->token_hdr)
		hdrs[nh++] = os->token_hdr;
	for (const char *const *h = r->headers; h && *h && nh < 22; h++)
		hdrs[nh++] = *h;
	hdrs[nh] = NULL;

	bool upload = r->body && r->body_len;
	struct cdt_http_req req = {
		.method = r->method,
		.url = url.buf,
		.headers = hdrs,
		.body = r->body,
		.body_len = r->body_len,
		.connect_ms = S3_CONNECT_MS,
		.first_byte_ms = upload ? 0 : S3_FIRST_BYTE_MS,
		.idle_ms = S3_IDLE_MS,
		.body_cb = r->body_cb ? stream_cb : NULL,
		.body_ctx = &st,
		.aws_sigv4 = os->sigv4,
		.userpwd = os->userpwd,
	};
	long wait = os->retry_ms;
	for (int attempt = 0;; attempt++) {
		cdt_err_quiet(true);
		rc = cdt_http_do(&req, resp);
		cdt_err_quiet(false);
		bool transient = !st.started &&
			(rc == EX_UNAVAILABLE || rc == EX_TEMPFAIL ||
			 (!rc && (resp->status >= 500 ||
				  resp->status == 429)));
		if (!transient || attempt >= os->retries)
			break;
		cdt_debug("s3: %s %s: %s, again in %ld ms", r->method,
			  r->key ? r->key : "", rc ? "no answer" : "busy",
			  wait);
		cdt_http_resp_release(resp);
		sleep_ms(wait);
		wait *= 2;
	}
	if (rc) {
		/*
		 * Reported once now that the retries are over (a sink's own
		 * report too, made while quiet).  No answer from storage is
		 * "try again" (75), not a provider's 69.
		 */
		struct cdt_err_last e;
		int code = rc == EX_UNAVAILABLE ? EX_TEMPFAIL : rc;
		cdt_err_get(&e);
		if (e.code == rc && e.message) {
			char msg[CDT_ERR_MSG_MAX];
			char cls[32];
			snprintf(msg, sizeof(msg), "%s", e.message);
			snprintf(cls, sizeof(cls), "%s", e.cls ? e.cls : "io");
			rc = cdt_err_class(code, cls, "%s", msg);
		} else {
			rc = code;
		}
	}
	cdt_buf_release(&url);
	cdt_buf_release(&sha_hdr);
	return rc;
}

/* ---- s3: XML ------------------------------------------------------- */

static void
put_utf8(struct cdt_buf *b, uint32_t c)
{
	char u[4];
	size_t n;
	if (c < 0x80) {
		u[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (c >> 18));
		u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	cdt_buf_add(b, u, n);
}

/* Text content with XML's entities decoded; false when malformed. */
static bool
xml_text(const char *s, size_t n, struct cdt_buf *out)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' },
		{ "quot;", '"' }, { "apos;", '\'' },
	};
	cdt_buf_reset(out);
	for (size_t i = 0; i < n;) {
		if (s[i] == '<')
			return false;
		if (s[i] != '&') {
			size_t j = i;
			while (j < n && s[j] != '&' && s[j] != '<')
				j++;
			if (cdt_buf_add(out, s + i, j - i))
				return false;
			i = j;
			continue;
		}
		i++;
		bool done = false;
		for (size_t k = 0; k < CDT_ARRAY_SIZE(ents) && !done; k++) {
			size_t l = strlen(ents[k].name);
			if (n - i >= l && !memcmp(s + i, ents[k].name, l)) {
				cdt_buf_addch(out, ents[k].c);
				i += l;
				done = true;
			}
		}
		if (done)
			continue;
		if (i >= n || s[i] != '#')
			return false;
		i++;
		bool hexa = i < n && s[i] == 'x';
		if (hexa)
			i++;
		uint32_t c = 0;
		size_t digits = 0;
		for (; i < n && s[i] != ';'; i++, digits++) {
			int d;
			char ch = s[i];
			if (ch >= '0' && ch <= '9')
				d = ch - '0';
			else if (hexa && ch >= 'a' && ch <= 'f')
				d = ch - 'a' + 10;
			else if (hexa && ch >= 'A' && ch <= 'F')
				d = ch - 'A' + 10;
			else
				return false;
			c = c * (hexa ? 16 : 10) + (uint32_t)d;
			if (c > 0x10ffff || digits > 8)
				return false;
		}
		if (i >= n || !digits || c == 0 ||
		    (c >= 0xd800 && c <= 0xdfff))
			return false;
		i++;
		put_utf8(out, c);
	}
	return true;
}

/*
 * The next tag at or after *p: its name (up to a blank, '/' or '>') and
 * whether it closes ("</x>") or is empty ("<x/>").  *p moves past it.
 * Comments, processing instructions and declarations are skipped.
 */
static bool
next_tag(const char **p, const char *end, const char **name, size_t *nlen,
	 bool *closing, bool *empty)
{
	for (;;) {
		const char *lt = memchr(*p, '<', (size_t)(end - *p));
		if (!lt)
			return false;
		const char *gt = memchr(lt, '>', (size_t)(end - lt));
		if (!gt)
			return false;
		if (lt + 1 < end && (lt[1] == '?' || lt[1] == '!')) {
			if (end - lt >= 4 && !memcmp(lt, "<!--", 4)) {
				const char *e = memmem(lt, (size_t)(end - lt),
						       "-->", 3);
				if (!e)
					return false;
				gt = e + 2;
			}
			*p = gt + 1;
			continue;
		}
		const char *s = lt + 1;
		*closing = s < gt && *s == '/';
		if (*closing)
			s++;
		const char *e = s;
		while (e < gt && *e != ' ' && *e != '\t' && *e != '\r' &&
		       *e != '\n' && *e != '/')
			e++;
		*name = s;
		*nlen = (size_t)(e - s);
		*empty = gt > lt && gt[-1] == '/';
		*p = gt + 1;
		return true;
	}
}

static bool
name_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && !memcmp(s, want, n);
}

/* The text of <name>...</name> starting at *p; *p moves past it. */
static bool
element_text(const char **p, const char *end, const char *name,
	     bool empty, const char **text, size_t *tlen)
{
	if (empty) {
		*text = *p;
		*tlen = 0;
		return true;
	}
	char close[64];
	int n = snprintf(close, sizeof(close), "</%s>", name);
	if (n < 0 || (size_t)n >= sizeof(close))
		return false;
	const char *e = memmem(*p, (size_t)(end - *p), close, (size_t)n);
	if (!e)
		return false;
	*text = *p;
	*tlen = (size_t)(e - *p);
	*p = e + n;
	return true;
}

static int64_t
parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int y, mo, d, h, mi, sec;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi,
		   &sec) != 6)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

static bool
pct_decode(struct cdt_buf *b)
{
	size_t o = 0;
	for (size_t i = 0; i < b->len; i++) {
		char c = b->buf[i];
		if (c == '%') {
			if (i + 2 >= b->len)
				return false;
			int v = 0;
			for (int k = 1; k <= 2; k++) {
				char h = b->buf[i + (size_t)k];
				v <<= 4;
				if (h >= '0' && h <= '9')
					v |= h - '0';
				else if (h >= 'a' && h <= 'f')
					v |= h - 'a' + 10;
				else if (h >= 'A' && h <= 'F')
					v |= h - 'A' + 10;
				else
					return false;
			}
			c = (char)v;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		b->buf[o++] = c;
	}
	cdt_buf_setlen(b, o);
	return true;
}

/* The parts of one <Contents> or <CommonPrefixes> element. */
struct item {
	struct cdt_buf key;
	struct cdt_buf tmp;
	uint64_t size;
	int64_t mtime;
	char etag[80];
	bool have_key;
};

static bool
parse_item(const char *s, const char *end, bool prefixes, struct item *it)
{
	const char *name, *text;
	size_t nlen, tlen;
	bool closing, empty;
	it->have_key = false;
	it->size = 0;
	it->mtime = -1;
	it->etag[0] = '\0';
	while (next_tag(&s, end, &name, &nlen, &closing, &empty)) {
		if (closing)
			continue;
		const char *want = prefixes ? "Prefix" : "Key";
		char nm[32];
		if (nlen >= sizeof(nm))
			continue;
		memcpy(nm, name, nlen);
		nm[nlen] = '\0';
		if (strcmp(nm, want) && strcmp(nm, "Size") &&
		    strcmp(nm, "LastModified") && strcmp(nm, "ETag"))
			continue;
		if (!element_text(&s, end, nm, empty, &text, &tlen))
			return false;
		if (!strcmp(nm, want)) {
			if (!xml_text(text, tlen, &it->key))
				return false;
			it->have_key = true;
			continue;
		}
		if (!xml_text(text, tlen, &it->tmp))
			return false;
		if (!strcmp(nm, "Size")) {
			char *e = NULL;
			if (!it->tmp.len || it->tmp.buf[0] < '0' ||
			    it->tmp.buf[0] > '9')
				return false;
			errno = 0;
			unsigned long long v = strtoull(it->tmp.buf, &e, 10);
			if (errno || *e)
				return false;
			it->size = v;
		} else if (!strcmp(nm, "LastModified")) {
			it->mtime = parse_time(it->tmp.buf);
		} else {
			const char *t = it->tmp.buf;
			size_t l = it->tmp.len;
			if (l >= 2 && t[0] == '"' && t[l - 1] == '"') {
				t++;
				l -= 2;
			}
			snprintf(it->etag, sizeof(it->etag), "%.*s", (int)l, t);
		}
	}
	return it->have_key;
}

int
cdt_s3_parse_list(const char *xml, size_t len, cdt_s3_list_entry entry,
		  void *ctx, char **next)
{
	const char *p = xml, *end = xml + len;
	const char *name, *text;
	size_t nlen, tlen;
	bool closing, empty;
	bool truncated = false, url_enc = false, root = false;
	struct cdt_buf token = CDT_BUF_INIT;
	struct item it = { CDT_BUF_INIT, CDT_BUF_INIT, 0, -1, "", false };
	int rc = 0;

	*next = NULL;
	/* Entries are reported after the whole page is read, since
	 * EncodingType may come last. */
	struct pend {
		char *key;
		size_t len;
		bool is_prefix;
		uint64_t size;
		int64_t mtime;
		char etag[80];
	} *v = NULL;
	size_t n = 0, cap = 0;

	while (!rc && next_tag(&p, end, &name, &nlen, &closing, &empty)) {
		if (closing)
			continue;
		if (!root) {
			if (!name_is(name, nlen, "ListBucketResult")) {
				rc = EX_DATAERR;
				break;
			}
			root = true;
			continue;
		}
		bool c = name_is(name, nlen, "Contents");
		bool cp = name_is(name, nlen, "CommonPrefixes");
		if (c || cp) {
			if (!element_text(&p, end, c ? "Contents" :
					  "CommonPrefixes", empty, &text,
					  &tlen) ||
			    !parse_item(text, text + tlen, cp, &it)) {
				rc = EX_DATAERR;
				break;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = cdt_xrealloc(v, cap * sizeof(*v));
			}
			/* The key may hold a NUL (the caller drops it): copy
			 * its bytes, not a C string. */
			v[n].key = cdt_xmalloc(it.key.len + 1);
			memcpy(v[n].key, it.key.buf, it.key.len);
			v[n].key[it.key.len] = '\0';
			v[n].len = it.key.len;
			v[n].is_prefix = cp;
			v[n].size = it.size;
			v[n].mtime = it.mtime;
			memcpy(v[n].etag, it.etag, sizeof(v[n].etag));
			n++;
			continue;
		}
		const char *which = name_is(name, nlen, "IsTruncated") ?
			"IsTruncated" :
			name_is(name, nlen, "NextContinuationToken") ?
			"NextContinuationToken" :
			name_is(name, nlen, "EncodingType") ? "EncodingType" :
			NULL;
		if (!which)
			continue;
		if (!element_text(&p, end, which, empty, &text, &tlen) ||
		    !xml_text(text, tlen, &it.tmp)) {
			rc = EX_DATAERR;
			break;
		}
		if (!strcmp(which, "IsTruncated"))
			truncated = !strcmp(it.tmp.buf, "true");
		else if (!strcmp(which, "EncodingType"))
			url_enc = !strcmp(it.tmp.buf, "url");
		else
			cdt_buf_add(&token, it.tmp.buf, it.tmp.len);
	}
	if (!rc && !root)
		rc = EX_DATAERR;
	for (size_t i = 0; !rc && i < n; i++) {
		struct cdt_buf k = CDT_BUF_INIT;
		cdt_buf_add(&k, v[i].key, v[i].len);
		if (url_enc && !pct_decode(&k)) {
			rc = EX_DATAERR;
		} else {
			rc = entry(ctx, k.buf, k.len, v[i].is_prefix,
				   v[i].size, v[i].mtime, v[i].etag);
		}
		cdt_buf_release(&k);
	}
	if (!rc && truncated) {
		if (!token.len)
			rc = EX_DATAERR;
		else
			*next = cdt_buf_detach(&token, NULL);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].key);
	free(v);
	cdt_buf_release(&token);
	cdt_buf_release(&it.key);
	cdt_buf_release(&it.tmp);
	return rc;
}

void
cdt_s3_parse_error(const char *xml, size_t len, char *code, size_t codelen,
		   char *msg, size_t msglen)
{
	const char *p = xml, *end = xml + len;
	const char *name, *text;
	size_t nlen, tlen;
	bool closing, empty;
	struct cdt_buf t = CDT_BUF_INIT;
	code[0] = '\0';
	msg[0] = '\0';
	while (next_tag(&p, end, &name, &nlen, &closing, &empty)) {
		bool c = name_is(name, nlen, "Code");
		bool m = name_is(name, nlen, "Message");
		if (closing || (!c && !m))
			continue;
		if (!element_text(&p, end, c ? "Code" : "Message", empty,
				  &text, &tlen) || !xml_text(text, tlen, &t))
			break;
		if (c)
			snprintf(code, codelen, "%s", t.buf);
		else
			snprintf(msg, msglen, "%s", t.buf);
	}
	cdt_buf_release(&t);
}

/* ---- s3: store ------------------------------------------------------- */

/* The whole key of a workspace path ("" = the prefix itself). */
static char *
s3_key(const struct cdt_objstore *os, const char *rel)
{
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addstr(&b, os->prefix);
	if (*os->prefix && *rel)
		cdt_buf_addch(&b, '/');
	cdt_buf_addstr(&b, rel);
	return cdt_buf_detach(&b, NULL);
}

/* The listing prefix of the directory rel: "PREFIX/rel/", maybe "". */
static char *
s3_dir_prefix(const struct cdt_objstore *os, const char *rel)
{
	struct cdt_buf b = CDT_BUF_INIT;
	char *k = s3_key(os, rel);
	cdt_buf_addstr(&b, k);
	if (*k)
		cdt_buf_addch(&b, '/');
	free(k);
	return cdt_buf_detach(&b, NULL);
}

/* Report a response that is not a success, by its status. */
static int
s3_fail(struct cdt_objstore *os, const struct cdt_http_resp *resp,
	const char *verb, const char *rel)
{
	char code[128], msg[512];
	int ex;
	const char *cls;
	long st = resp->status;
	cdt_s3_parse_error(resp->body.buf, resp->body.len, code, sizeof(code),
			   msg, sizeof(msg));
	if (st == 401) {
		ex = EX_NOPERM;
		cls = "auth";
	} else if (st == 403) {
		ex = EX_NOPERM;
		cls = "forbidden";
	} else if (st == 404) {
		ex = EX_NOINPUT;
		cls = "not_found";
	} else if (st == 400 || st == 411 || st == 413 || st == 414 ||
		   st == 416) {
		ex = EX_DATAERR;
		cls = "bad_request";
	} else if (st == 409 || st == 412) {
		ex = EX_TEMPFAIL;
		cls = "conflict";
	} else if (st == 429 || st >= 500) {
		ex = EX_TEMPFAIL;
		cls = "server";
	} else if (st >= 300 && st < 400) {
		ex = EX_CONFIG;
		cls = "config";
		if (!msg[0])
			snprintf(msg, sizeof(msg), "redirected: check "
				 "storage.s3.endpoint, region and "
				 "path_style");
	} else {
		ex = EX_IOERR;
		cls = "io";
	}
	if (st == 404 && !strcmp(code, "NoSuchBucket"))
		snprintf(msg, sizeof(msg), "no such bucket '%s'", os->bucket);
	return cdt_err_class(ex, cls, "cannot %s '%s' in %s: %ld%s%s%s%s",
			     verb, *rel ? rel : ".", os->name, st,
			     code[0] ? " " : "", code, msg[0] ? ": " : "",
			     msg);
}

static bool
ok_status(long st)
{
	return st >= 200 && st < 300;
}

/* One listing: every page of prefix (with delimiter "/" or none). */
struct s3_lister {
	struct cdt_objstore *os;
	const char *prefix;
	size_t plen;
	cdt_s3_list_entry cb;
	void *ctx;
	bool outside_warned;
};

static int
s3_page_entry(void *arg, const char *key, size_t len, bool is_prefix,
	      uint64_t size, int64_t mtime, const char *etag)
{
	struct s3_lister *l = arg;
	/* P27: only keys below the prefix, whatever the server sends. */
	if (len < l->plen || memcmp(key, l->prefix, l->plen) ||
	    memchr(key, '\0', len)) {
		if (!l->outside_warned)
			cdt_warn("%s: dropping key '%.*s': outside '%s'",
				 l->os->name, (int)(len > 200 ? 200 : len),
				 key, l->prefix);
		l->outside_warned = true;
		return 0;
	}
	return l->cb(l->ctx, key + l->plen, len - l->plen, is_prefix, size,
		     mtime, etag);
}

static int
s3_list_raw(struct cdt_objstore *os, const char *prefix, bool delim,
	    int max_keys, cdt_s3_list_entry cb, void *ctx, const char *rel)
{
	struct s3_lister l = { os, prefix, strlen(prefix), cb, ctx, false };
	char *token = NULL;
	char mk[24];
	int rc = 0;
	snprintf(mk, sizeof(mk), "%d", max_keys);
	do {
		const char *q[16];
		size_t n = 0;
		q[n++] = "list-type";
		q[n++] = "2";
		q[n++] = "prefix";
		q[n++] = prefix;
		q[n++] = "encoding-type";
		q[n++] = "url";
		if (delim) {
			q[n++] = "delimiter";
			q[n++] = "/";
		}
		if (max_keys > 0) {
			q[n++] = "max-keys";
			q[n++] = mk;
		}
		if (token) {
			q[n++] = "continuation-token";
			q[n++] = token;
		}
		q[n] = NULL;
		struct cdt_s3_req r = { .method = "GET", .query = q };
		struct cdt_http_resp resp;
		rc = cdt_s3_request(os, &r, &resp);
		free(token);
		token = NULL;
		if (!rc && !ok_status(resp.status))
			rc = s3_fail(os, &resp, "list", rel);
		if (!rc) {
			rc = cdt_s3_parse_list(resp.body.buf, resp.body.len,
					       s3_page_entry, &l, &token);
			if (rc == EX_DATAERR)
				rc = cdt_err(EX_IOERR, "cannot list '%s' in "
					     "%s: unreadable answer", *rel ?
					     rel : ".", os->name);
		}
		cdt_http_resp_release(&resp);
		/* One page is enough when the caller asked for a few. */
		if (max_keys > 0)
			break;
	} while (!rc && token);
	free(token);
	return rc;
}

/* stat: the first key of a one-key listing tells file or directory. */
struct probe {
	const char *want;	/* the exact remainder wanted: "" */
	bool found;
	uint64_t size;
	int64_t mtime;
	char etag[80];
};

static int
probe_cb(void *arg, const char *key, size_t len, bool is_prefix,
	 uint64_t size, int64_t mtime, const char *etag)
{
	struct probe *pr = arg;
	if (pr->want && (len || is_prefix))
		return 0;
	pr->found = true;
	pr->size = size;
	pr->mtime = mtime;
	snprintf(pr->etag, sizeof(pr->etag), "%s", etag);
	return 0;
}

struct s3_stat {
	enum cdt_node node;
	uint64_t size;
	int64_t mtime;
	char etag[80];
};

/* s3_stat_quiet's answer for "nothing there" (reported by no one). */
#define S3_ABSENT (-2)

/* 0 with *st, S3_ABSENT, or a reported status. */
static int
s3_stat_quiet(struct cdt_objstore *os, const char *rel, struct s3_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->mtime = -1;
	if (!*rel) {
		st->node = CDT_NODE_DIR;
		return 0;
	}
	char *key = s3_key(os, rel);
	struct probe pr = { "", false, 0, -1, "" };
	int rc = s3_list_raw(os, key, false, 1, probe_cb, &pr, rel);
	if (!rc && pr.found) {
		st->node = CDT_NODE_FILE;
		st->size = pr.size;
		st->mtime = pr.mtime;
		memcpy(st->etag, pr.etag, sizeof(st->etag));
	} else if (!rc) {
		char *dp = s3_dir_prefix(os, rel);
		struct probe any = { NULL, false, 0, -1, "" };
		rc = s3_list_raw(os, dp, false, 1, probe_cb, &any, rel);
		free(dp);
		if (!rc && any.found)
			st->node = CDT_NODE_DIR;
		else if (!rc)
			rc = S3_ABSENT;
	}
	free(key);
	return rc;
}

static int
s3_stat(struct cdt_objstore *os, const char *rel, struct s3_stat *st)
{
	int rc = s3_stat_quiet(os, rel, st);
	if (rc == S3_ABSENT)
		return cdt_err(EX_NOINPUT, "cannot stat '%s': No such file or "
			       "directory", rel);
	return rc;
}

static void
s3_info(const char *rel, const struct s3_stat *st, struct cdt_objinfo *in)
{
	memset(in, 0, sizeof(*in));
	in->path = rel;
	in->node = st->node;
	in->size = st->size;
	in->mtime = st->mtime;
	in->nlink = 1;
	in->etag = st->etag[0] ? st->etag : NULL;
}

/* Entries of a listing, kept to be sorted in path.h's order. */
struct ent {
	char *path;
	enum cdt_node node;
	uint64_t size;
	int64_t mtime;
	char etag[80];
};

struct collect {
	struct cdt_objstore *os;
	const char *rel;	/* the directory listed */
	bool recursive;
	struct ent *v;
	size_t n, cap;
};

static void
add_ent(struct collect *c, const char *path, size_t len, enum cdt_node node,
	uint64_t size, int64_t mtime, const char *etag)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->v = cdt_xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	struct ent *e = &c->v[c->n++];
	e->path = cdt_xstrndup(path, len);
	e->node = node;
	e->size = size;
	e->mtime = mtime;
	snprintf(e->etag, sizeof(e->etag), "%s", etag ? etag : "");
}

static int
collect_cb(void *arg, const char *name, size_t len, bool is_prefix,
	   uint64_t size, int64_t mtime, const char *etag)
{
	struct collect *c = arg;
	bool dir = is_prefix;
	/* "x/" is a directory (a prefix, or a folder marker). */
	if (len && name[len - 1] == '/') {
		dir = true;
		len--;
	}
	if (!len)
		return 0;	/* the marker of the listed directory */
	struct cdt_buf path = CDT_BUF_INIT;
	path.max = CDT_PATH_MAX + 1;
	if (*c->rel) {
		cdt_buf_addstr(&path, c->rel);
		cdt_buf_addch(&path, '/');
	}
	const char *why = NULL;
	int rc = cdt_buf_add(&path, name, len);
	if (!rc)
		rc = cdt_path_check(path.buf, path.len, &why);
	if (rc == EX_NOPERM && !*c->rel) {
		/* .git and .cdt are left out, as in a local listing. */
	} else if (rc) {
		cdt_warn("%s: skipping key '%s%.*s': %s", c->os->name,
			 *c->rel ? c->rel : "", (int)(len > 200 ? 200 : len),
			 name, why ? why : "path too long");
	} else {
		add_ent(c, path.buf, path.len, dir ? CDT_NODE_DIR :
			CDT_NODE_FILE, size, mtime, etag);
	}
	cdt_buf_release(&path);
	return 0;
}

/* path.h's order: '/' below every other byte, so a/x comes before a.b. */
static int
tree_cmp(const void *pa, const void *pb)
{
	const struct ent *a = pa, *b = pb;
	const unsigned char *x = (const unsigned char *)a->path;
	const unsigned char *y = (const unsigned char *)b->path;
	while (*x && *x == *y) {
		x++;
		y++;
	}
	int cx = *x == '/' ? 1 : *x ? *x + 1 : 0;
	int cy = *y == '/' ? 1 : *y ? *y + 1 : 0;
	if (cx != cy)
		return cx - cy;
	/* The same path as a directory and a file: the directory first. */
	return (a->node != CDT_NODE_DIR) - (b->node != CDT_NODE_DIR);
}

static int
s3_list(struct cdt_objstore *os, const char *rel, bool recursive,
	cdt_objstore_list_cb cb, void *ctx)
{
	struct collect c = { os, rel, recursive, NULL, 0, 0 };
	struct s3_stat st;
	int rc = 0;
	if (*rel) {
		if ((rc = s3_stat(os, rel, &st)))
			return rc;
		if (st.node != CDT_NODE_DIR) {
			struct cdt_objinfo in;
			s3_info(rel, &st, &in);
			return cb(ctx, &in);
		}
	}
	char *dp = s3_dir_prefix(os, rel);
	rc = s3_list_raw(os, dp, !recursive, 0, collect_cb, &c, rel);
	free(dp);
	size_t n = c.n;
	if (!rc && recursive) {
		/* Every parent of a key is a directory, marker or not. */
		size_t base = *rel ? strlen(rel) + 1 : 0;
		for (size_t i = 0; i < n; i++) {
			const char *p = c.v[i].path;
			for (const char *s = strchr(p + base, '/'); s;
			     s = strchr(s + 1, '/'))
				add_ent(&c, p, (size_t)(s - p), CDT_NODE_DIR,
					0, -1, NULL);
		}
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), tree_cmp);
	for (size_t i = 0; !rc && i < c.n; i++) {
		/* One entry per directory, however many keys implied it. */
		if (i && c.v[i].node == CDT_NODE_DIR &&
		    c.v[i - 1].node == CDT_NODE_DIR &&
		    !strcmp(c.v[i].path, c.v[i - 1].path))
			continue;
		struct cdt_objinfo in;
		memset(&in, 0, sizeof(in));
		in.path = c.v[i].path;
		in.node = c.v[i].node;
		in.size = c.v[i].size;
		in.mtime = c.v[i].mtime;
		in.nlink = 1;
		in.etag = c.v[i].etag[0] ? c.v[i].etag : NULL;
		rc = cb(ctx, &in);
	}
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].path);
	free(c.v);
	return rc;
}

struct sink_adapter {
	cdt_objstore_sink sink;
	void *ctx;
};

static int
sink_cb(void *arg, const char *data, size_t len)
{
	struct sink_adapter *sa = arg;
	return sa->sink(sa->ctx, data, len);
}

static int
s3_get(struct cdt_objstore *os, const char *rel, cdt_objstore_sink sink,
       void *ctx, struct cdt_objinfo *info)
{
	struct s3_stat st;
	int rc;
	if (info) {
		if ((rc = s3_stat(os, rel, &st)))
			return rc;
		if (st.node == CDT_NODE_DIR)
			return cdt_err(EX_DATAERR, "cannot read '%s': is a "
				       "directory", rel);
		s3_info(NULL, &st, info);
	}
	char *key = s3_key(os, rel);
	struct sink_adapter sa = { sink, ctx };
	struct cdt_s3_req r = {
		.method = "GET", .key = key,
		.body_cb = sink_cb, .body_ctx = &sa,
	};
	struct cdt_http_resp resp;
	rc = cdt_s3_request(os, &r, &resp);
	if (!rc && resp.status == 404 && !info) {
		/* Say "is a directory" where that is why. */
		struct s3_stat st2;
		int src = s3_stat_quiet(os, rel, &st2);
		if (src == 0 && st2.node == CDT_NODE_DIR)
			rc = cdt_err(EX_DATAERR, "cannot read '%s': is a "
				     "directory", rel);
		else if (src == 0 || src == S3_ABSENT)
			rc = cdt_err_class(EX_NOINPUT, "not_found", "cannot "
					   "read '%s': No such file or "
					   "directory", rel);
		else
			rc = src;
	} else if (!rc && !ok_status(resp.status)) {
		rc = s3_fail(os, &resp, "read", rel);
	}
	cdt_http_resp_release(&resp);
	free(key);
	return rc;
}

/* The staging file: one unlinked temp file for the store's uploads. */
static int
stage_open(struct cdt_objstore *os)
{
	if (os->stage_fd >= 0)
		return 0;
	const char *dirs[3] = { NULL, getenv("TMPDIR"), "/tmp" };
	char home_tmp[4200];
	const char *home = cdt_cfg_home();
	if (home) {
		snprintf(home_tmp, sizeof(home_tmp), "%s/tmp", home);
		if (mkdir(home, 0700) < 0 && errno != EEXIST)
			home = NULL;
		else if (mkdir(home_tmp, 0700) < 0 && errno != EEXIST)
			home = NULL;
		if (home)
			dirs[0] = home_tmp;
	}
	int err = 0;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(dirs); i++) {
		if (!dirs[i] || !*dirs[i])
			continue;
		os->stage_fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC,
				    0600);
		if (os->stage_fd >= 0)
			return 0;
		err = errno;
	}
	return cdt_err(EX_CANTCREAT, "cannot stage uploads: cannot create a "
		       "temporary file: %s", strerror(err));
}

static int
s3_put_begin(struct cdt_objput *p)
{
	struct cdt_objstore *os = p->os;
	int rc = stage_open(os);
	if (rc)
		return rc;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t pg = page > 0 ? (uint64_t)page : 4096;
	/* Page-aligned, so commit can map just this file's bytes. */
	p->off = (os->stage_end + pg - 1) / pg * pg;
	os->stage_end = p->off;
	os->writing = p;
	return 0;
}

static int
s3_put_write(struct cdt_objput *p, const void *data, size_t len)
{
	struct cdt_objstore *os = p->os;
	const char *s = data;
	if (os->writing != p)
		return cdt_err(EX_SOFTWARE, "cannot write '%s': another upload "
			       "is being staged", p->rel);
	if (p->size + len > S3_PUT_MAX)
		return cdt_err(EX_CANTCREAT, "cannot write '%s': larger than "
			       "5 GiB (multipart uploads are not supported)",
			       p->rel);
	while (len) {
		ssize_t n = pwrite(os->stage_fd, s, len,
				   (off_t)(p->off + p->size));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cdt_err(EX_IOERR, "cannot stage '%s': %s", p->rel,
				       n < 0 ? strerror(errno) : "short write");
		s += n;
		len -= (size_t)n;
		p->size += (uint64_t)n;
		os->stage_end = p->off + p->size;
	}
	return 0;
}

static int
s3_put_commit(struct cdt_objput *p)
{
	struct cdt_objstore *os = p->os;
	void *map = NULL;
	size_t mlen = 0;
	int rc = 0;
	if (os->writing == p)
		os->writing = NULL;
	const char *body = "";
	if (p->size) {
		mlen = (size_t)p->size;
		map = mmap(NULL, mlen, PROT_READ, MAP_SHARED, os->stage_fd,
			   (off_t)p->off);
		if (map == MAP_FAILED) {
			map = NULL;
			return cdt_err_errno(EX_IOERR, "cannot map the staged "
					     "'%s'", p->rel);
		}
		body = map;
	}
	char ct[96];
	snprintf(ct, sizeof(ct), "Content-Type: %s",
		 cdt_is_text(body, mlen) ? cdt_content_type(p->rel) :
		 "application/octet-stream");
	const char *hdrs[] = { ct, NULL };
	char *key = s3_key(os, p->rel);
	struct cdt_s3_req r = {
		.method = "PUT", .key = key, .headers = hdrs,
		.body = body, .body_len = mlen, .payload_sha256 = p->hex,
	};
	struct cdt_http_resp resp;
	rc = cdt_s3_request(os, &r, &resp);
	if (!rc && !ok_status(resp.status))
		rc = s3_fail(os, &resp, "write", p->rel);
	cdt_http_resp_release(&resp);
	free(key);
	if (map) {
		munmap(map, mlen);
		/* Give the disk space back; the offsets stay. */
		fallocate(os->stage_fd, FALLOC_FL_PUNCH_HOLE |
			  FALLOC_FL_KEEP_SIZE, (off_t)p->off, (off_t)mlen);
	}
	return rc;
}

static int
s3_delete_key(struct cdt_objstore *os, const char *key, const char *rel)
{
	struct cdt_s3_req r = { .method = "DELETE", .key = key };
	struct cdt_http_resp resp;
	int rc = cdt_s3_request(os, &r, &resp);
	if (!rc && !ok_status(resp.status) && resp.status != 404)
		rc = s3_fail(os, &resp, "remove", rel);
	cdt_http_resp_release(&resp);
	return rc;
}

/* Every key below a prefix, raw (markers and odd names too). */
struct keys {
	char **v;
	size_t n, cap;
	const char *prefix;
};

static int
keys_cb(void *arg, const char *name, size_t len, bool is_prefix,
	uint64_t size, int64_t mtime, const char *etag)
{
	struct keys *k = arg;
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		k->v = cdt_xrealloc(k->v, k->cap * sizeof(*k->v));
	}
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addstr(&b, k->prefix);
	cdt_buf_add(&b, name, len);
	k->v[k->n++] = cdt_buf_detach(&b, NULL);
	return 0;
}

static void
keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
}

static int
s3_remove(struct cdt_objstore *os, const char *rel, bool recursive)
{
	struct s3_stat st;
	int rc = s3_stat(os, rel, &st);
	if (rc)
		return rc;
	if (st.node != CDT_NODE_DIR) {
		char *key = s3_key(os, rel);
		rc = s3_delete_key(os, key, rel);
		free(key);
		return rc;
	}
	char *dp = s3_dir_prefix(os, rel);
	struct keys k = { NULL, 0, 0, dp };
	rc = s3_list_raw(os, dp, false, 0, keys_cb, &k, rel);
	if (!rc && !recursive && (k.n > 1 ||
				  (k.n == 1 && strcmp(k.v[0], dp))))
		rc = cdt_err(EX_CANTCREAT, "cannot remove '%s': Directory not "
			     "empty", rel);
	for (size_t i = 0; !rc && i < k.n; i++)
		rc = s3_delete_key(os, k.v[i], rel);
	keys_free(&k);
	free(dp);
	return rc;
}

static int
s3_copy_key(struct cdt_objstore *os, const char *from, const char *to,
	    const char *rel)
{
	struct cdt_buf src = CDT_BUF_INIT;
	cdt_buf_addstr(&src, "x-amz-copy-source: /");
	cdt_s3_encode(&src, os->bucket, strlen(os->bucket), false);
	cdt_buf_addch(&src, '/');
	cdt_s3_encode(&src, from, strlen(from), true);
	const char *hdrs[] = { src.buf, NULL };
	struct cdt_s3_req r = {
		.method = "PUT", .key = to, .headers = hdrs, .body = "",
	};
	struct cdt_http_resp resp;
	int rc = cdt_s3_request(os, &r, &resp);
	/* A copy can fail after its 200 has gone out: the body says so. */
	if (!rc && (!ok_status(resp.status) ||
		    memmem(resp.body.buf, resp.body.len, "<Error>", 7)))
		rc = s3_fail(os, &resp, "move", rel);
	cdt_http_resp_release(&resp);
	cdt_buf_release(&src);
	return rc;
}

static int
s3_rename(struct cdt_objstore *os, const char *from, const char *to,
	  bool noreplace)
{
	struct s3_stat st, tst;
	size_t flen = strlen(from);
	int rc;
	if (!strncmp(to, from, flen) && to[flen] == '/')
		return cdt_err(EX_DATAERR, "cannot move '%s' into itself",
			       from);
	if ((rc = s3_stat(os, from, &st)))
		return rc;
	rc = s3_stat_quiet(os, to, &tst);
	if (rc && rc != S3_ABSENT)
		return rc;
	if (!rc && (noreplace || tst.node != st.node))
		return cdt_err(EX_CANTCREAT, "cannot rename '%s' to '%s': %s",
			       from, to, noreplace ? "File exists" :
			       tst.node == CDT_NODE_DIR ? "Is a directory" :
			       "Not a directory");
	if (st.node != CDT_NODE_DIR) {
		char *fk = s3_key(os, from), *tk = s3_key(os, to);
		rc = s3_copy_key(os, fk, tk, from);
		if (!rc)
			rc = s3_delete_key(os, fk, from);
		free(fk);
		free(tk);
		return rc;
	}
	char *fp = s3_dir_prefix(os, from), *tp = s3_dir_prefix(os, to);
	struct keys k = { NULL, 0, 0, fp };
	rc = s3_list_raw(os, fp, false, 0, keys_cb, &k, from);
	size_t fl = strlen(fp);
	for (size_t i = 0; !rc && i < k.n; i++) {
		struct cdt_buf nk = CDT_BUF_INIT;
		cdt_buf_addstr(&nk, tp);
		cdt_buf_addstr(&nk, k.v[i] + fl);
		rc = s3_copy_key(os, k.v[i], nk.buf, from);
		cdt_buf_release(&nk);
	}
	for (size_t i = 0; !rc && i < k.n; i++)
		rc = s3_delete_key(os, k.v[i], from);
	keys_free(&k);
	free(fp);
	free(tp);
	return rc;
}

static int
s3_mkdir(struct cdt_objstore *os, const char *rel)
{
	struct s3_stat st;
	int rc = s3_stat_quiet(os, rel, &st);
	if (!rc && st.node == CDT_NODE_DIR)
		return 0;
	if (!rc)
		return cdt_err(EX_CANTCREAT, "cannot create directory '%s': "
			       "File exists", rel);
	if (rc != S3_ABSENT)
		return rc;
	char *dp = s3_dir_prefix(os, rel);
	struct cdt_s3_req r = { .method = "PUT", .key = dp, .body = "" };
	struct cdt_http_resp resp;
	rc = cdt_s3_request(os, &r, &resp);
	if (!rc && !ok_status(resp.status))
		rc = s3_fail(os, &resp, "create directory", rel);
	cdt_http_resp_release(&resp);
	free(dp);
	return rc;
}

/* ---- s3: opening ------------------------------------------------------ */

static bool
bucket_ok(const char *b)
{
	size_t n = strlen(b);
	if (n < 1 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_'))
			return false;
	}
	return true;
}

int
cdt_objstore_open_s3(const struct cdt_s3_conf *c, struct cdt_objstore **out)
{
	*out = NULL;
	const char *region = c->region && *c->region ? c->region :
			     "us-east-1";
	const char *prefix = c->prefix ? c->prefix : "";
	if (!c->bucket || !bucket_ok(c->bucket))
		return cdt_err(EX_CONFIG, "bad S3 bucket name '%s'",
			       c->bucket ? c->bucket : "");
	if (*prefix) {
		const char *why = NULL;
		if (cdt_path_check(prefix, strlen(prefix), &why))
			return cdt_err(EX_CONFIG, "bad S3 prefix '%s': %s",
				       prefix, why);
	}
	if (!c->access_key || !*c->access_key || !c->secret_key ||
	    !*c->secret_key)
		return cdt_err(EX_CONFIG, "no S3 credentials");
	if (strchr(c->access_key, ':') || strchr(c->access_key, '\n') ||
	    strchr(c->secret_key, '\n') ||
	    (c->session_token && strpbrk(c->session_token, "\r\n")))
		return cdt_err(EX_CONFIG, "malformed S3 credentials");
	for (const char *s = region; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return cdt_err(EX_CONFIG, "bad S3 region '%s'",
				       region);

	struct cdt_buf url = CDT_BUF_INIT;
	struct cdt_buf name = CDT_BUF_INIT;
	const char *ep = c->endpoint && *c->endpoint ? c->endpoint : NULL;
	char defep[128];
	if (!ep) {
		snprintf(defep, sizeof(defep), "https://s3.%s.amazonaws.com",
			 region);
		ep = defep;
	}
	const char *sep = strstr(ep, "://");
	if (!sep || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)))
		return cdt_err(EX_CONFIG, "bad S3 endpoint '%s': not an "
			       "http(s) URL", ep);
	size_t elen = strlen(ep);
	while (elen && ep[elen - 1] == '/')
		elen--;
	bool vhost = !c->path_style;
	if (!vhost) {
		cdt_buf_add(&url, ep, elen);
		cdt_buf_addch(&url, '/');
		cdt_s3_encode(&url, c->bucket, strlen(c->bucket), false);
	} else {
		cdt_buf_add(&url, ep, (size_t)(sep + 3 - ep));
		cdt_buf_addstr(&url, c->bucket);
		cdt_buf_addch(&url, '.');
		cdt_buf_add(&url, sep + 3, elen - (size_t)(sep + 3 - ep));
	}
	cdt_buf_addf(&name, "s3://%s%s%s", c->bucket, *prefix ? "/" : "",
		     prefix);

	struct cdt_objstore *os = store_new(CDT_OBJSTORE_S3, name.buf);
	cdt_buf_release(&name);
	os->base_url = cdt_buf_detach(&url, NULL);
	os->vhost = vhost;
	os->prefix = cdt_xstrdup(prefix);
	os->bucket = cdt_xstrdup(c->bucket);
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "aws:amz:%s:s3", region);
	os->sigv4 = cdt_buf_detach(&b, NULL);
	cdt_buf_addf(&b, "%s:%s", c->access_key, c->secret_key);
	os->userpwd = cdt_buf_detach(&b, NULL);
	if (c->session_token && *c->session_token) {
		cdt_buf_addf(&b, "x-amz-security-token: %s",
			     c->session_token);
		os->token_hdr = cdt_buf_detach(&b, NULL);
	}
	if (c->date) {
		cdt_buf_addf(&b, "x-amz-date: %s", c->date);
		os->date_hdr = cdt_buf_detach(&b, NULL);
	}
	os->retries = c->retries >= 0 ? c->retries : S3_RETRIES;
	os->retry_ms = c->retry_ms > 0 ? c->retry_ms : S3_RETRY_MS;
	*out = os;
	return 0;
}

int
cdt_objstore_open_where(const char *where, const struct cdt_cfg *cfg,
			struct cdt_objstore **out)
{
	*out = NULL;
	if (strncmp(where, "s3://", 5))
		return cdt_objstore_open_local(where, out);
	const char *b = where + 5;
	const char *slash = strchr(b, '/');
	char *bucket = slash ? cdt_xstrndup(b, (size_t)(slash - b)) :
			       cdt_xstrdup(b);
	char *prefix = cdt_xstrdup(slash ? slash + 1 : "");
	size_t pl = strlen(prefix);
	while (pl && prefix[pl - 1] == '/')
		prefix[--pl] = '\0';
	int rc = 0;
	const char *why = NULL;
	if (!bucket_ok(bucket))
		rc = cdt_err(EX_USAGE, "bad S3 location '%s': no bucket name",
			     where);
	else if (*prefix && cdt_path_check(prefix, pl, &why))
		rc = cdt_err(EX_USAGE, "bad S3 location '%s': prefix: %s",
			     where, why);
	if (rc)
		goto out;
	const char *ak_env = cdt_cfg_str(cfg, "storage.s3.access_key_env",
					 "AWS_ACCESS_KEY_ID");
	const char *sk_env = cdt_cfg_str(cfg, "storage.s3.secret_key_env",
					 "AWS_SECRET_ACCESS_KEY");
	const char *ak = getenv(ak_env), *sk = getenv(sk_env);
	if (!ak || !*ak || !sk || !*sk) {
		rc = cdt_err(EX_CONFIG, "no S3 credentials for '%s': set %s "
			     "and %s (storage.s3.access_key_env and "
			     "secret_key_env name them)", where, ak_env,
			     sk_env);
		goto out;
	}
	const char *ep = cdt_cfg_str(cfg, "storage.s3.endpoint", NULL);
	struct cdt_s3_conf c = {
		.endpoint = ep,
		.bucket = bucket,
		.region = cdt_cfg_str(cfg, "storage.s3.region", NULL),
		.prefix = prefix,
		.access_key = ak,
		.secret_key = sk,
		.session_token = getenv("AWS_SESSION_TOKEN"),
		/* A custom endpoint (MinIO, R2, a test server) usually
		 * wants path-style URLs; AWS itself virtual hosts. */
		.path_style = cdt_cfg_bool(cfg, "storage.s3.path_style",
					   ep != NULL),
		.retries = -1,
	};
	rc = cdt_objstore_open_s3(&c, out);
out:
	free(bucket);
	free(prefix);
	return rc;
}

/* ---- the interface ----------------------------------------------------- */

int
cdt_objstore_stat(struct cdt_objstore *os, const char *rel,
		  struct cdt_objinfo *info)
{
	int rc = check_rel(rel, true);
	if (rc)
		return rc;
	if (os->kind == CDT_OBJSTORE_LOCAL) {
		struct stat st;
		return local_stat(os, rel, &st, info, os->stat_target,
				  sizeof(os->stat_target));
	}
	struct s3_stat st;
	if ((rc = s3_stat(os, rel, &st)))
		return rc;
	memcpy(os->stat_etag, st.etag, sizeof(os->stat_etag));
	s3_info(rel, &st, info);
	info->etag = os->stat_etag[0] ? os->stat_etag : NULL;
	return 0;
}

int
cdt_objstore_list(struct cdt_objstore *os, const char *rel, bool recursive,
		  cdt_objstore_list_cb cb, void *ctx)
{
	int rc = check_rel(rel, true);
	if (rc)
		return rc;
	if (os->kind == CDT_OBJSTORE_LOCAL) {
		struct local_list l = { os, cb, ctx };
		return cdt_path_list(os->root, rel, recursive, local_list_cb,
				     &l);
	}
	return s3_list(os, rel, recursive, cb, ctx);
}

int
cdt_objstore_get(struct cdt_objstore *os, const char *rel,
		 cdt_objstore_sink sink, void *ctx, struct cdt_objinfo *info)
{
	int rc = check_rel(rel, false);
	if (rc)
		return rc;
	if (os->kind == CDT_OBJSTORE_LOCAL)
		return local_get(os, rel, sink, ctx, info);
	return s3_get(os, rel, sink, ctx, info);
}

int
cdt_objstore_put_begin(struct cdt_objstore *os, const char *rel,
		       struct cdt_objput **out)
{
	*out = NULL;
	int rc = check_rel(rel, false);
	if (rc)
		return rc;
	struct cdt_objput *p = cdt_xcalloc(1, sizeof(*p));
	p->os = os;
	p->rel = cdt_xstrdup(rel);
	p->a = (struct cdt_atomic)CDT_ATOMIC_INIT;
	cdt_sha256_init(&p->sha);
	p->md5 = EVP_MD_CTX_new();
	if (!p->md5 || !EVP_DigestInit_ex(p->md5, EVP_md5(), NULL)) {
		/* No MD5 (a FIPS build): unchanged is then found by reading
		 * back. */
		EVP_MD_CTX_free(p->md5);
		p->md5 = NULL;
	}
	rc = os->kind == CDT_OBJSTORE_LOCAL ? local_put_begin(p) :
	     s3_put_begin(p);
	if (rc) {
		cdt_objstore_put_abort(p);
		return rc;
	}
	*out = p;
	return 0;
}

int
cdt_objstore_put_write(struct cdt_objput *p, const void *data, size_t len)
{
	if (p->rc)
		return p->rc;
	if (p->hex[0])
		return p->rc = cdt_err(EX_SOFTWARE, "cannot write '%s': "
				       "already finished", p->rel);
	if (!len)
		return 0;
	cdt_sha256_update(&p->sha, data, len);
	if (p->md5 && !EVP_DigestUpdate(p->md5, data, len)) {
		EVP_MD_CTX_free(p->md5);
		p->md5 = NULL;
	}
	if (p->os->kind == CDT_OBJSTORE_LOCAL) {
		p->rc = cdt_atomic_write(&p->a, data, len);
		if (!p->rc)
			p->size += len;
	} else {
		p->rc = s3_put_write(p, data, len);
	}
	return p->rc;
}

void
cdt_objstore_put_digest(struct cdt_objput *p, char hex[65], uint64_t *size)
{
	if (!p->hex[0]) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		cdt_sha256_final_hex(&p->sha, p->hex);
		if (p->md5 && EVP_DigestFinal_ex(p->md5, md, &mdlen) &&
		    mdlen == 16) {
			for (unsigned i = 0; i < 16; i++)
				snprintf(p->md5hex + 2 * i, 3, "%02x", md[i]);
		}
		EVP_MD_CTX_free(p->md5);
		p->md5 = NULL;
	}
	memcpy(hex, p->hex, CDT_SHA256_HEX_LEN + 1);
	if (size)
		*size = p->size;
}

static int
hash_sink(void *arg, const void *data, size_t len)
{
	cdt_sha256_update(arg, data, len);
	return 0;
}

int
cdt_objstore_put_same(struct cdt_objput *p, bool *same)
{
	struct cdt_objstore *os = p->os;
	char hex[CDT_SHA256_HEX_LEN + 1];
	uint64_t size;
	struct cdt_objinfo in;
	int rc;

	*same = false;
	if (p->rc)
		return p->rc;
	cdt_objstore_put_digest(p, hex, &size);
	cdt_err_quiet(true);
	rc = cdt_objstore_stat(os, p->rel, &in);
	cdt_err_quiet(false);
	if (rc == EX_NOINPUT) {
		cdt_err_clear();
		return 0;
	}
	if (rc) {
		struct cdt_err_last e;
		cdt_err_get(&e);
		return cdt_err_class(rc, e.cls, "%s", e.message);
	}
	if (in.node != CDT_NODE_FILE || in.size != size)
		return 0;
	if (os->kind == CDT_OBJSTORE_S3 && in.etag && p->md5hex[0] &&
	    strlen(in.etag) == 32 && !strchr(in.etag, '-')) {
		*same = !strcasecmp(in.etag, p->md5hex);
		return 0;
	}
	struct cdt_sha256 sha;
	char old[CDT_SHA256_HEX_LEN + 1];
	cdt_sha256_init(&sha);
	rc = cdt_objstore_get(os, p->rel, hash_sink, &sha, NULL);
	cdt_sha256_final_hex(&sha, old);
	cdt_sha256_release(&sha);
	if (!rc)
		*same = !strcmp(old, hex);
	return rc;
}

bool
cdt_objstore_put_md5(struct cdt_objput *p, char md5[33])
{
	char hex[CDT_SHA256_HEX_LEN + 1];
	cdt_objstore_put_digest(p, hex, NULL);
	memcpy(md5, p->md5hex, sizeof(p->md5hex));
	return md5[0] != '\0';
}

int
cdt_objstore_put_commit(struct cdt_objput *p)
{
	int rc = p->rc;
	if (!rc) {
		char hex[CDT_SHA256_HEX_LEN + 1];
		cdt_objstore_put_digest(p, hex, NULL);
		rc = p->os->kind == CDT_OBJSTORE_LOCAL ?
		     cdt_atomic_commit(&p->a) : s3_put_commit(p);
	}
	cdt_objstore_put_abort(p);
	return rc;
}

void
cdt_objstore_put_abort(struct cdt_objput *p)
{
	if (!p)
		return;
	if (p->os->writing == p)
		p->os->writing = NULL;
	cdt_atomic_abort(&p->a);
	cdt_sha256_release(&p->sha);
	EVP_MD_CTX_free(p->md5);
	free(p->rel);
	free(p);
}

int
cdt_objstore_flush(struct cdt_objstore *os)
{
	if (os->kind != CDT_OBJSTORE_LOCAL)
		return 0;
	/* syncfs wants a real descriptor; the root's is O_PATH. */
	int fd = openat(os->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0 || syncfs(fd) < 0)
		rc = cdt_err_errno(EX_IOERR, "cannot sync '%s'", os->name);
	if (fd >= 0)
		close(fd);
	return rc;
}

int
cdt_objstore_put(struct cdt_objstore *os, const char *rel, const void *data,
		 size_t len)
{
	struct cdt_objput *p = NULL;
	int rc = cdt_objstore_put_begin(os, rel, &p);
	if (!rc)
		rc = cdt_objstore_put_write(p, data, len);
	if (!rc)
		return cdt_objstore_put_commit(p);
	cdt_objstore_put_abort(p);
	return rc;
}

int
cdt_objstore_mkdir(struct cdt_objstore *os, const char *rel)
{
	int rc = check_rel(rel, false);
	if (rc)
		return rc;
	if (os->kind == CDT_OBJSTORE_S3)
		return s3_mkdir(os, rel);
	int dfd = -1;
	rc = cdt_path_mkdirs(os->root, rel, &dfd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

int
cdt_objstore_check_target(const char *rel, const char *target)
{
	size_t tlen = strlen(target);
	if (!tlen)
		return cdt_err(EX_DATAERR, "refusing symlink '%s': empty "
			       "target", rel);
	if (target[0] == '/')
		return cdt_err(EX_NOPERM, "refusing symlink '%s': absolute "
			       "target '%s'", rel, target);
	if (tlen > CDT_PATH_MAX)
		return cdt_err(EX_DATAERR, "refusing symlink '%s': target too "
			       "long", rel);
	/* Resolve lexically from the link's directory. */
	struct cdt_buf res = CDT_BUF_INIT;
	const char *slash = strrchr(rel, '/');
	if (slash)
		cdt_buf_add(&res, rel, (size_t)(slash - rel));
	int rc = 0;
	const char *s = target;
	while (*s && !rc) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		const char *why = NULL;
		if (n == 0 && e) {
			rc = cdt_err(EX_DATAERR, "refusing symlink '%s': empty "
				     "segment in target '%s'", rel, target);
		} else if (n == 1 && s[0] == '.') {
			/* itself */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (!res.len) {
				rc = cdt_err(EX_NOPERM, "refusing symlink "
					     "'%s': target '%s' leaves the "
					     "workspace", rel, target);
			} else {
				char *ls = memrchr(res.buf, '/', res.len);
				cdt_buf_setlen(&res, ls ? (size_t)(ls -
								   res.buf) :
					       0);
			}
		} else if (cdt_path_check(s, n, &why) == EX_DATAERR) {
			rc = cdt_err(EX_DATAERR, "refusing symlink '%s': "
				     "target '%s': %s", rel, target, why);
		} else {
			if (res.len)
				cdt_buf_addch(&res, '/');
			cdt_buf_add(&res, s, n);
		}
		s = e ? e + 1 : s + n;
	}
	const char *why = NULL;
	if (!rc && res.len &&
	    cdt_path_check(res.buf, res.len, &why) == EX_NOPERM)
		rc = cdt_err(EX_NOPERM, "refusing symlink '%s': target '%s' "
			     "is reserved", rel, target);
	cdt_buf_release(&res);
	return rc;
}

int
cdt_objstore_symlink(struct cdt_objstore *os, const char *rel,
		     const char *target)
{
	int rc = check_rel(rel, false);
	if (rc || (rc = cdt_objstore_check_target(rel, target)))
		return rc;
	if (os->kind == CDT_OBJSTORE_S3)
		return cdt_err(EX_CANTCREAT, "cannot make symlink '%s': %s "
			       "has no symlinks", rel, os->name);
	return local_symlink(os, rel, target);
}

int
cdt_objstore_remove(struct cdt_objstore *os, const char *rel,
		    bool recursive)
{
	int rc = check_rel(rel, false);
	if (rc)
		return rc;
	if (os->kind == CDT_OBJSTORE_S3)
		return s3_remove(os, rel, recursive);
	return cdt_path_remove(os->root, rel, recursive);
}

int
cdt_objstore_rename(struct cdt_objstore *os, const char *from,
		    const char *to, bool noreplace)
{
	int rc = check_rel(from, false);
	if (rc || (rc = check_rel(to, false)))
		return rc;
	if (os->kind == CDT_OBJSTORE_S3)
		return s3_rename(os, from, to, noreplace);
	return cdt_path_rename(os->root, from, to, noreplace);
}
