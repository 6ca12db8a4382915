/*
 * fuzz-objstore.c - what an S3 server says, on arbitrary bytes: the
 * ListObjectsV2 and error parsers, and the symlink target check.  Parsing
 * must never crash, must give the same answer twice, must hand out keys
 * of the length it says and a token only with a success; the target
 * check answers only 0, 65 or 77, and 0 only for a relative target whose
 * lexical resolution stays beneath the root.  Any difference aborts.
 */
#include "compat.h"
#include "buf.h"
#include "err.h"
#include "objstore.h"
#include "path.h"

static int
entry(void *arg, const char *key, size_t len, bool is_prefix,
      uint64_t size, int64_t mtime, const char *etag)
{
	struct cdt_buf *b = arg;
	if (strlen(key) > len || !etag)
		abort();
	cdt_buf_addf(b, "%d %zu %llu %lld %s|", is_prefix, len,
		     (unsigned long long)size, (long long)mtime, etag);
	cdt_buf_add(b, key, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *x = (const char *)data;
	struct cdt_buf one = CDT_BUF_INIT, two = CDT_BUF_INIT;
	char *t1 = NULL, *t2 = NULL;
	int r1 = cdt_s3_parse_list(x, size, entry, &one, &t1);
	int r2 = cdt_s3_parse_list(x, size, entry, &two, &t2);
	if (r1 != r2 || (r1 && r1 != EX_DATAERR) || (r1 && (t1 || t2)))
		abort();
	if (!r1 && (one.len != two.len || memcmp(one.buf, two.buf, one.len) ||
		    !t1 != !t2 || (t1 && strcmp(t1, t2))))
		abort();
	free(t1);
	free(t2);
	cdt_buf_release(&one);
	cdt_buf_release(&two);

	char code[32], msg[64];
	cdt_s3_parse_error(x, size, code, sizeof(code), msg, sizeof(msg));
	if (strlen(code) >= sizeof(code) || strlen(msg) >= sizeof(msg))
		abort();

	/* REL \n TARGET, both C strings. */
	const char *nl = memchr(x, '\n', size);
	if (nl && !memchr(x, '\0', size)) {
		char *rel = cdt_xstrndup(x, (size_t)(nl - x));
		char *target = cdt_xstrndup(nl + 1, size - (size_t)(nl - x) - 1);
		if (!cdt_path_check(rel, strlen(rel), NULL)) {
			cdt_err_quiet(true);
			int rc = cdt_objstore_check_target(rel, target);
			cdt_err_quiet(false);
			if (rc && rc != EX_DATAERR && rc != EX_NOPERM)
				abort();
			/* Accepted: relative, and never above the root. */
			if (!rc) {
				int depth = 0;
				for (const char *s = rel; *s; s++)
					depth += *s == '/';
				if (target[0] == '/')
					abort();
				for (const char *s = target; *s;) {
					const char *e = strchr(s, '/');
					size_t n = e ? (size_t)(e - s) :
						strlen(s);
					if (n == 2 && !memcmp(s, "..", 2))
						depth--;
					else if (n && !(n == 1 && *s == '.'))
						depth++;
					if (depth < 0)
						abort();
					s = e ? e + 1 : s + n;
				}
			}
		}
		free(rel);
		free(target);
	}
	return 0;
}
