#include "compat.h"
#include <openssl/evp.h>
#include "codec.h"
#include "err.h"

bool
cdt_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

bool
cdt_is_text(const char *s, size_t len)
{
	return !memchr(s, '\0', len) && cdt_utf8_valid(s, len);
}

size_t
cdt_utf8_cut(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = len;
	/* Step back over continuation bytes to a lead byte. */
	while (i > 0 && len - i < 4 && (s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return 0;
	unsigned c = s[i - 1];
	size_t need = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 :
		c >= 0xc0 ? 2 : 1;
	return len - (i - 1) >= need ? len : i - 1;
}

int
cdt_b64_encode(const void *data, size_t len, struct cdt_buf *out)
{
	const unsigned char *p = data;
	while (len > 0) {
		/* EVP_EncodeBlock takes an int: go in whole 3-byte groups. */
		size_t n = len > 48 * 1024 ? 48 * 1024 : len;
		int rc = cdt_buf_grow(out, (n + 2) / 3 * 4);
		if (rc)
			return rc;
		int w = EVP_EncodeBlock((unsigned char *)out->buf + out->len,
					p, (int)n);
		out->len += (size_t)w;
		out->buf[out->len] = '\0';
		p += n;
		len -= n;
	}
	return 0;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Canonical base64 only: the alphabet, '=' padding at the very end, and
 * zero bits where a padded last group has bits to spare.  OpenSSL's
 * decoder skips white space and tolerates more, so we check first.
 */
static bool
b64_canonical(const char *s, size_t len)
{
	if (len % 4)
		return false;
	size_t pad = 0;
	if (len >= 1 && s[len - 1] == '=')
		pad++;
	if (len >= 2 && s[len - 2] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (b64_value((unsigned char)s[i]) < 0)
			return false;
	if (pad == 1 && (b64_value((unsigned char)s[len - 2]) & 0x03))
		return false;
	if (pad == 2 && (b64_value((unsigned char)s[len - 3]) & 0x0f))
		return false;
	return true;
}

int
cdt_b64_decode(const char *s, size_t len, struct cdt_buf *out)
{
	if (!b64_canonical(s, len))
		return EX_DATAERR;
	while (len > 0) {
		/* Whole groups; the padding can only be in the last one. */
		size_t n = len > 64 * 1024 ? 64 * 1024 : len;
		size_t pad = 0;
		if (n == len)
			pad = (s[n - 1] == '=') + (s[n - 2] == '=');
		int rc = cdt_buf_grow(out, n / 4 * 3);
		if (rc)
			return rc;
		int w = EVP_DecodeBlock((unsigned char *)out->buf + out->len,
					(const unsigned char *)s, (int)n);
		if (w < 0)
			return EX_DATAERR;
		out->len += (size_t)w - pad;
		out->buf[out->len] = '\0';
		s += n;
		len -= n;
	}
	return 0;
}

const char *
cdt_content_type(const char *path)
{
	static const struct {
		const char *ext;
		const char *type;
	} map[] = {
		{ ".js", "application/javascript" },
		{ ".ts", "application/typescript" },
		{ ".json", "application/json" },
		{ ".html", "text/html" },
		{ ".css", "text/css" },
		{ ".md", "text/markdown" },
	};
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < CDT_ARRAY_SIZE(map); i++)
			if (!strcmp(dot, map[i].ext))
				return map[i].type;
	return "text/plain";
}
