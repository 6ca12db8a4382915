/*
 * codec.h - base64 (RFC 4648, via OpenSSL) and UTF-8 checks.
 *
 * A file's content goes into a record as "content" when it is valid UTF-8
 * without NUL, else as "content_base64" (DESIGN §6).  Decoding refuses
 * anything but canonical padded base64 with EX_DATAERR.
 */
#ifndef CDT_CODEC_H
#define CDT_CODEC_H

#include "compat.h"
#include "buf.h"

/* Valid UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
bool cdt_utf8_valid(const char *s, size_t len);
/* Text in the DESIGN §6 sense: valid UTF-8 and no NUL. */
bool cdt_is_text(const char *s, size_t len);
/* The longest prefix of at most len bytes that ends on a whole char. */
size_t cdt_utf8_cut(const char *s, size_t len);

int cdt_b64_encode(const void *data, size_t len, struct cdt_buf *out);
int cdt_b64_decode(const char *s, size_t len, struct cdt_buf *out);

/* The content type of a path by its extension (DESIGN §6). */
const char *cdt_content_type(const char *path);

#include "banned.h"
#endif
