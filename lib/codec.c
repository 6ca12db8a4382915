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

int
cdt_b64_decode(const char *s, size_t len, struct cdt_buf *out)
{
	if (len % 4)
		return EX_DATAERR;
	while (len > 0) {
		size_t n = len > 64 * 1024 ? 64 * 1024 : len;
		size_t pad = 0;
		if (n == len) {
			if (n >= 1 && s[n - 1] == '=')
				pad++;
			if (n >= 2 && s[n - 2] == '=')
				pad++;
		}
		for (size_t i = 0; i < n - pad; i++)
			if (s[i] == '=')
				return EX_DATAERR;
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
