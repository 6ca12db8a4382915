#include "compat.h"
#include "buf.h"
#include "err.h"

char cdt_buf_empty[1];

void
cdt_buf_init(struct cdt_buf *b, size_t max)
{
	b->buf = cdt_buf_empty;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : CDT_BUF_MAX_DEFAULT;
}

void
cdt_buf_release(struct cdt_buf *b)
{
	if (b->cap)
		free(b->buf);
	cdt_buf_init(b, b->max);
}

void
cdt_buf_release_secret(struct cdt_buf *b)
{
	if (b->cap)
		explicit_bzero(b->buf, b->cap);
	cdt_buf_release(b);
}

void
cdt_buf_reset(struct cdt_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->buf[0] = '\0';
}

int
cdt_buf_grow(struct cdt_buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return EX_DATAERR;
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + n + 1)
		cap = cap < SIZE_MAX / 2 ? cap * 2 : b->len + n + 1;
	if (b->cap) {
		b->buf = cdt_xrealloc(b->buf, cap);
	} else {
		b->buf = cdt_xmalloc(cap);
		b->buf[0] = '\0';
	}
	b->cap = cap;
	return 0;
}

int
cdt_buf_add(struct cdt_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	int rc = cdt_buf_grow(b, len);
	if (rc)
		return rc;
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return 0;
}

int
cdt_buf_addstr(struct cdt_buf *b, const char *s)
{
	return cdt_buf_add(b, s, strlen(s));
}

int
cdt_buf_addch(struct cdt_buf *b, int c)
{
	char ch = (char)c;
	return cdt_buf_add(b, &ch, 1);
}

int
cdt_buf_vaddf(struct cdt_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return EX_SOFTWARE;
	int rc = cdt_buf_grow(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
cdt_buf_addf(struct cdt_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = cdt_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
cdt_buf_consume(struct cdt_buf *b, size_t n)
{
	if (n >= b->len) {
		cdt_buf_reset(b);
		return;
	}
	memmove(b->buf, b->buf + n, b->len - n);
	b->len -= n;
	b->buf[b->len] = '\0';
}

void
cdt_buf_setlen(struct cdt_buf *b, size_t len)
{
	if (!b->cap)
		return;
	b->len = len < b->cap ? len : b->cap - 1;
	b->buf[b->len] = '\0';
}

char *
cdt_buf_detach(struct cdt_buf *b, size_t *len)
{
	char *s = b->cap ? b->buf : cdt_xstrdup("");
	if (len)
		*len = b->len;
	cdt_buf_init(b, b->max);
	return s;
}
