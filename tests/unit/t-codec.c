/*
 * Unit tests for lib/codec: UTF-8 validity (overlongs, surrogates, past
 * U+10FFFF, cut sequences), text vs binary, cutting on a whole char,
 * base64 against RFC 4648 vectors and OpenSSL-sized inputs, canonical
 * decoding only, and content types by extension.
 */
#include "compat.h"
#include "buf.h"
#include "codec.h"
#include "err.h"
#include "tap.h"

#define S(lit) lit, sizeof(lit) - 1

static void
test_utf8_valid(void)
{
	static const struct {
		const char *s;
		size_t len;
		bool valid;
		const char *what;
	} v[] = {
		{ S(""), true, "empty" },
		{ S("plain ASCII\n\t~"), true, "ASCII" },
		{ S("caf\xc3\xa9"), true, "2-byte char" },
		{ S("\xe2\x82\xac"), true, "3-byte char (euro)" },
		{ S("\xf0\x9f\x8e\x89"), true, "4-byte char (emoji)" },
		{ S("\xc2\x80"), true, "U+0080, the first 2-byte char" },
		{ S("\xdf\xbf"), true, "U+07FF" },
		{ S("\xe0\xa0\x80"), true, "U+0800, the first 3-byte char" },
		{ S("\xed\x9f\xbf"), true, "U+D7FF, just below surrogates" },
		{ S("\xee\x80\x80"), true, "U+E000, just above surrogates" },
		{ S("\xef\xbf\xbf"), true, "U+FFFF" },
		{ S("\xf0\x90\x80\x80"), true, "U+10000" },
		{ S("\xf4\x8f\xbf\xbf"), true, "U+10FFFF, the last" },
		{ S("\xef\xbb\xbf" "BOM"), true, "a BOM is a valid char" },
		{ S("a\0b"), true, "NUL is valid UTF-8" },
		{ S("\x80"), false, "a lone continuation byte" },
		{ S("\xbf"), false, "a lone 0xbf" },
		{ S("\xc3"), false, "a 2-byte lead at the end" },
		{ S("\xe2\x82"), false, "a 3-byte char cut short" },
		{ S("\xf0\x9f\x8e"), false, "a 4-byte char cut short" },
		{ S("\xc3" "a"), false, "a lead byte followed by ASCII" },
		{ S("\xc0\xaf"), false, "overlong '/' (C0 AF)" },
		{ S("\xc1\xbf"), false, "overlong C1 BF" },
		{ S("\xe0\x80\xaf"), false, "overlong 3-byte '/'" },
		{ S("\xe0\x9f\xbf"), false, "overlong 3-byte U+07FF" },
		{ S("\xf0\x80\x80\xaf"), false, "overlong 4-byte '/'" },
		{ S("\xf0\x8f\xbf\xbf"), false, "overlong 4-byte U+FFFF" },
		{ S("\xed\xa0\x80"), false, "surrogate U+D800" },
		{ S("\xed\xbf\xbf"), false, "surrogate U+DFFF" },
		{ S("\xf4\x90\x80\x80"), false, "U+110000, past the last" },
		{ S("\xf5\x80\x80\x80"), false, "lead byte F5" },
		{ S("\xff"), false, "byte FF" },
		{ S("\xfe"), false, "byte FE" },
		{ S("\xf8\x88\x80\x80\x80"), false, "a 5-byte form" },
		{ S("ok \xe2\x28\xa1"), false, "a bad continuation mid-char" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(v); i++)
		ok(cdt_utf8_valid(v[i].s, v[i].len) == v[i].valid,
		   "utf8_valid: %s is %s", v[i].what,
		   v[i].valid ? "valid" : "invalid");

	/* The length is honoured: a valid prefix of an invalid string. */
	ok(cdt_utf8_valid("ab\xff", 2), "utf8_valid reads only len bytes");
	ok(!cdt_utf8_valid("\xe2\x82\xac", 2),
	   "a char cut by len is invalid");
}

static void
test_is_text(void)
{
	ok(cdt_is_text(S("int main(void) { return 0; }\n")), "C is text");
	ok(cdt_is_text(S("")), "empty is text");
	ok(cdt_is_text(S("na\xc3\xafve")), "UTF-8 is text");
	ok(!cdt_is_text(S("a\0b")), "NUL makes it binary");
	ok(!cdt_is_text(S("\x89PNG\r\n\x1a\n")), "a PNG header is binary");
	ok(!cdt_is_text(S("latin1 caf\xe9")), "Latin-1 is binary");
}

static void
test_utf8_cut(void)
{
	static const struct {
		const char *s;
		size_t len;
		size_t want;
		const char *what;
	} v[] = {
		{ S(""), 0, "empty" },
		{ S("abc"), 3, "ASCII, whole" },
		{ S("\xc3"), 0, "a lone 2-byte lead" },
		{ S("\xc3\xa9"), 2, "one whole 2-byte char" },
		{ S("\xe2\x82"), 0, "a 3-byte char missing its last byte" },
		{ S("\xe2\x82\xac"), 3, "one whole 3-byte char" },
		{ S("a\xe2"), 1, "ASCII then a 3-byte lead" },
		{ S("a\xe2\x82"), 1, "ASCII then a 3-byte char cut short" },
		{ S("a\xe2\x82\xac"), 4, "ASCII then a whole 3-byte char" },
		{ S("ab\xe2\x82"), 2, "two ASCII then a cut 3-byte char" },
		{ S("\xf0\x9f\x8e"), 0, "a 4-byte char missing one byte" },
		{ S("\xf0\x9f\x8e\x89"), 4, "one whole 4-byte char" },
		{ S("x\xf0\x9f\x8e"), 1, "ASCII then a cut 4-byte char" },
		{ S("xy\xf0\x9f"), 2, "two ASCII then half a 4-byte char" },
		{ S("xyz\xf0"), 3, "three ASCII then a 4-byte lead" },
		{ S("hello \xf0\x9f\x8e\x89"), 10, "text then a whole emoji" },
		{ S("hello \xf0\x9f\x8e"), 6, "text then a cut emoji" },
		{ S("\xc3\xa9\xc3"), 2, "a whole char then a lone lead" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(v); i++) {
		size_t got = cdt_utf8_cut(v[i].s, v[i].len);
		if (!ok(got == v[i].want, "utf8_cut: %s (%zu bytes) -> %zu",
			v[i].what, v[i].len, v[i].want))
			diag("got %zu", got);
	}

	/* Every prefix of a mixed string cuts to valid UTF-8. */
	const char mixed[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\x89z";
	bool all = true;
	for (size_t n = 0; n <= sizeof(mixed) - 1; n++) {
		size_t c = cdt_utf8_cut(mixed, n);
		if (c > n || !cdt_utf8_valid(mixed, c) ||
		    (cdt_utf8_valid(mixed, n) && c != n)) {
			diag("prefix %zu cut to %zu", n, c);
			all = false;
		}
	}
	ok(all, "every prefix of a mixed string cuts to its longest valid "
	   "prefix");
}

static char *
b64(const void *data, size_t len)
{
	struct cdt_buf b = CDT_BUF_INIT;
	if (cdt_b64_encode(data, len, &b))
		return cdt_xstrdup("(error)");
	return cdt_buf_detach(&b, NULL);
}

static void
test_b64_vectors(void)
{
	/* RFC 4648 §10. */
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(vec); i++) {
		char *e = b64(vec[i][0], strlen(vec[i][0]));
		is_str(e, vec[i][1], "b64 encode '%s'", vec[i][0]);
		free(e);

		struct cdt_buf d = CDT_BUF_INIT;
		int rc = cdt_b64_decode(vec[i][1], strlen(vec[i][1]), &d);
		ok(rc == 0 && d.len == strlen(vec[i][0]) &&
		   !strcmp(d.buf, vec[i][0]), "b64 decode '%s'", vec[i][1]);
		cdt_buf_release(&d);
	}

	char *e = b64("\xff\xfe\x00\x01\xfb", 5);
	is_str(e, "//4AAfs=", "encode binary with NUL and the '/' digit");
	free(e);
	struct cdt_buf d = CDT_BUF_INIT;
	ok(cdt_b64_decode(S("+/+/"), &d) == 0 && d.len == 3 &&
	   !memcmp(d.buf, "\xfb\xff\xbf", 3), "decode '+' and '/'");
	cdt_buf_release(&d);

	/* Appends: both directions add to what the buffer holds. */
	struct cdt_buf a = CDT_BUF_INIT;
	cdt_buf_addstr(&a, "x:");
	cdt_b64_encode("foo", 3, &a);
	is_str(a.buf, "x:Zm9v", "encode appends");
	cdt_buf_reset(&a);
	cdt_buf_addstr(&a, "y:");
	cdt_b64_decode(S("Zm9vYg=="), &a);
	ok(a.len == 6 && !strcmp(a.buf, "y:foob"), "decode appends");
	cdt_buf_release(&a);
}

static void
test_b64_large(void)
{
	/* Past the 48 KiB encode and 64 KiB decode blocks of lib/codec.c. */
	static const size_t sizes[] = { 49151, 49152, 49153, 150001 };
	for (size_t k = 0; k < CDT_ARRAY_SIZE(sizes); k++) {
		size_t n = sizes[k];
		unsigned char *data = cdt_xmalloc(n);
		for (size_t i = 0; i < n; i++)
			data[i] = (unsigned char)(i * 7 + (i >> 9));
		struct cdt_buf e = CDT_BUF_INIT;
		struct cdt_buf d = CDT_BUF_INIT;
		int rc = cdt_b64_encode(data, n, &e);
		bool shape = e.len == (n + 2) / 3 * 4 &&
			strlen(e.buf) == e.len &&
			strspn(e.buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
			       "opqrstuvwxyz0123456789+/=") == e.len;
		ok(rc == 0 && shape,
		   "encode %zu bytes: one unbroken padded line", n);
		rc = cdt_b64_decode(e.buf, e.len, &d);
		ok(rc == 0 && d.len == n && !memcmp(d.buf, data, n),
		   "decode gives the %zu bytes back", n);
		cdt_buf_release(&e);
		cdt_buf_release(&d);
		free(data);
	}

	struct cdt_buf small;
	cdt_buf_init(&small, 7);
	is_int(cdt_b64_encode("foobar", 6, &small), EX_DATAERR,
	       "encode past the buffer's limit: 65");
	cdt_buf_release(&small);
	cdt_buf_init(&small, 5);
	is_int(cdt_b64_decode(S("Zm9vYmFy"), &small), EX_DATAERR,
	       "decode past the buffer's limit: 65");
	cdt_buf_release(&small);
}

static void
test_b64_refuse(void)
{
	static const struct {
		const char *s;
		size_t len;
		const char *what;
	} bad[] = {
		{ S("Zg"), "missing padding" },
		{ S("Zg="), "short padding" },
		{ S("Zm9"), "3 characters" },
		{ S("Zm9vY"), "5 characters" },
		{ S("Zm9v\n"), "a trailing newline" },
		{ S("Zm9vYg==\n"), "padded, then a newline" },
		{ S("Zm9v\nYmFy"), "a newline inside" },
		{ S("Zm9v YmF"), "a space inside" },
		{ S("Zm=v"), "'=' inside a group" },
		{ S("Zg==Zm9v"), "padding in the middle" },
		{ S("===="), "padding only" },
		{ S("Z==="), "three pads" },
		{ S("Zm9v*mFy"), "a character outside the alphabet" },
		{ S("Zm9v-_Fy"), "the URL-safe alphabet" },
		{ S("Zm\0v"), "a NUL" },
		{ S("    Zm9v"), "leading spaces (4 of them)" },
		{ S("Zm9v    "), "trailing spaces (4 of them)" },
		{ S("Zm9v\r\n\r\n"), "trailing CRLFs (4 bytes)" },
		{ S("Zm9v----"), "trailing '-' (4 of them)" },
		{ S("Zh=="), "non-zero bits in the last pad group (Zh==)" },
		{ S("Zm9="), "non-zero bits in the last pad group (Zm9=)" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(bad); i++) {
		struct cdt_buf d = CDT_BUF_INIT;
		cdt_buf_addstr(&d, "pre");
		int rc = cdt_b64_decode(bad[i].s, bad[i].len, &d);
		if (!ok(rc == EX_DATAERR, "decode refuses %s: 65", bad[i].what))
			diag("rc %d, decoded %zu bytes", rc, d.len - 3);
		cdt_buf_release(&d);
	}

	struct cdt_buf d = CDT_BUF_INIT;
	ok(cdt_b64_decode("", 0, &d) == 0 && d.len == 0,
	   "decode of nothing is nothing");
	cdt_buf_release(&d);
}

static void
test_content_type(void)
{
	static const char *const v[][2] = {
		{ "app.js", "application/javascript" },
		{ "src/app.ts", "application/typescript" },
		{ "package.json", "application/json" },
		{ "www/index.html", "text/html" },
		{ "style.css", "text/css" },
		{ "README.md", "text/markdown" },
		{ "hello.c", "text/plain" },
		{ "Makefile", "text/plain" },
		{ "archive.tar.gz", "text/plain" },
		{ "a.json.bak", "text/plain" },
		{ "lib.jsx", "text/plain" },
		{ "dir.js/file", "text/plain" },
		{ "dir.md/", "text/plain" },
		{ "x.", "text/plain" },
		{ "", "text/plain" },
		{ "deep/er/path/notes.md", "text/markdown" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(v); i++)
		is_str(cdt_content_type(v[i][0]), v[i][1],
		       "content type of '%s'", v[i][0]);
}

int
main(void)
{
	test_utf8_valid();
	test_is_text();
	test_utf8_cut();
	test_b64_vectors();
	test_b64_large();
	test_b64_refuse();
	test_content_type();
	return done_testing();
}
