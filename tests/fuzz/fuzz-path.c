/*
 * fuzz-path: cdt_path_check on arbitrary bytes.  Besides not crashing,
 * whatever it accepts must hold up to an independent look: no "..", no
 * "//", no leading or trailing '/', no byte below 0x20 or 0x7f, no
 * backslash, not too long, valid UTF-8, no U+FFFD, not under .git or
 * .cdt; and every refusal must come with a reason.
 */
#include "compat.h"
#include "path.h"

/* A plain reading of RFC 3629, deliberately unlike lib/path.c's. */
static bool
valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			k = 1;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			k = 2;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			k = 3;
			cp = s[i] & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffd)
			return false;
		i += k + 1;
	}
	return true;
}

static bool
first_segment_is(const char *p, size_t n, const char *name)
{
	size_t len = strlen(name);

	if (n < len || (n > len && p[len] != '/'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan catches any read past it. */
	char *p = malloc(size ? size : 1);
	const char *why = "unset";
	int rc;

	if (!p)
		return 0;
	memcpy(p, data, size);
	rc = cdt_path_check(p, size, &why);
	if (rc != 0 && rc != EX_DATAERR && rc != EX_NOPERM)
		abort();
	if (rc && (!why || !*why))
		abort();
	if (rc == EX_NOPERM && strcmp(why, "reserved path"))
		abort();
	if (rc == 0) {
		if (why)
			abort();
		if (size == 0 || size > CDT_PATH_MAX)
			abort();
		if (p[0] == '/' || p[size - 1] == '/')
			abort();
		if (memmem(p, size, "//", 2))
			abort();
		for (size_t i = 0; i < size; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c < 0x20 || c == 0x7f || c == '\\')
				abort();
		}
		/* No "." or ".." segment, no segment over 255 bytes. */
		for (size_t s = 0, i = 0; i <= size; i++) {
			if (i < size && p[i] != '/')
				continue;
			size_t n = i - s;
			if (n == 0 || n > CDT_PATH_SEGMENT_MAX ||
			    (n == 1 && p[s] == '.') ||
			    (n == 2 && p[s] == '.' && p[s + 1] == '.'))
				abort();
			s = i + 1;
		}
		if (!valid_utf8((const unsigned char *)p, size))
			abort();
		if (first_segment_is(p, size, ".git") ||
		    first_segment_is(p, size, ".cdt"))
			abort();
	}
	free(p);
	return 0;
}
