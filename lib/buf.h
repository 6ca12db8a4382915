/*
 * buf.h - growable byte buffers with a hard limit.
 *
 * A struct cdt_buf holds len bytes at buf, always followed by a NUL, so
 * buf can be used as a C string when the content has no NUL.  A fresh
 * buffer (CDT_BUF_INIT or cdt_buf_init) points at a shared empty string
 * and owns nothing.  Every buffer has a limit (max, in bytes of content):
 * an append that would pass it changes nothing and returns EX_DATAERR,
 * so input from the network or stdin can never grow without bound.
 * Running out of memory exits 70 (cdt_xrealloc).
 */
#ifndef CDT_BUF_H
#define CDT_BUF_H

#include "compat.h"
#include <stdarg.h>

#define CDT_BUF_MAX_DEFAULT ((size_t)64 << 20)	/* 64 MiB, the record cap */

struct cdt_buf {
	char *buf;
	size_t len;
	size_t cap;		/* 0: buf is the shared empty string */
	size_t max;
};

extern char cdt_buf_empty[];
#define CDT_BUF_INIT { cdt_buf_empty, 0, 0, CDT_BUF_MAX_DEFAULT }

void cdt_buf_init(struct cdt_buf *b, size_t max);
void cdt_buf_release(struct cdt_buf *b);
/* Release, wiping the bytes first with OPENSSL_cleanse-grade zeroing. */
void cdt_buf_release_secret(struct cdt_buf *b);
void cdt_buf_reset(struct cdt_buf *b);
/* Make room for n more bytes; EX_DATAERR past the limit. */
int cdt_buf_grow(struct cdt_buf *b, size_t n);
int cdt_buf_add(struct cdt_buf *b, const void *data, size_t len);
int cdt_buf_addstr(struct cdt_buf *b, const char *s);
int cdt_buf_addch(struct cdt_buf *b, int c);
int cdt_buf_addf(struct cdt_buf *b, const char *fmt, ...) CDT_PRINTF(2, 3);
int cdt_buf_vaddf(struct cdt_buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes (n <= len). */
void cdt_buf_consume(struct cdt_buf *b, size_t n);
void cdt_buf_setlen(struct cdt_buf *b, size_t len);
/* Hand the malloc'd string to the caller (never NULL); b is reset. */
char *cdt_buf_detach(struct cdt_buf *b, size_t *len);

#include "banned.h"
#endif
