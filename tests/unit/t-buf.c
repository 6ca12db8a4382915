/*
 * Unit tests for lib/buf: the shared empty string, growth, the hard
 * limit (an append past it changes nothing and is 65), formatting,
 * consume, setlen and detach.
 */
#include "compat.h"
#include "buf.h"
#include "tap.h"

static void
test_init(void)
{
	struct cdt_buf b = CDT_BUF_INIT;

	ok(b.buf == cdt_buf_empty && b.len == 0 && b.cap == 0 &&
	   b.max == CDT_BUF_MAX_DEFAULT,
	   "CDT_BUF_INIT: the shared empty string, default 64 MiB limit");
	is_str(b.buf, "", "a fresh buffer reads as \"\"");
	cdt_buf_release(&b);
	ok(b.buf == cdt_buf_empty && b.cap == 0,
	   "release of a fresh buffer owns nothing and changes nothing");

	cdt_buf_init(&b, 10);
	ok(b.buf == cdt_buf_empty && b.max == 10, "cdt_buf_init sets max");
	cdt_buf_init(&b, 0);
	is_int(b.max, CDT_BUF_MAX_DEFAULT, "cdt_buf_init(0): default limit");

	cdt_buf_reset(&b);
	ok(b.len == 0 && cdt_buf_empty[0] == '\0',
	   "reset of a fresh buffer leaves the shared string alone");
	is_int(cdt_buf_add(&b, "x", 0), 0, "adding nothing is fine");
	ok(b.cap == 0, "and allocates nothing");
}

static void
test_add(void)
{
	struct cdt_buf b = CDT_BUF_INIT;

	is_int(cdt_buf_addstr(&b, "hello"), 0, "addstr");
	is_int(cdt_buf_addch(&b, ' '), 0, "addch");
	is_int(cdt_buf_add(&b, "world!!", 5), 0, "add with a length");
	is_str(b.buf, "hello world", "contents");
	is_int(b.len, 11, "len");
	ok(b.cap > b.len && b.buf[b.len] == '\0', "always NUL-terminated");
	ok(cdt_buf_empty[0] == '\0', "the shared empty string is untouched");

	/* Binary content with NULs keeps its length. */
	cdt_buf_reset(&b);
	is_int(b.len, 0, "reset empties");
	ok(b.cap > 0 && b.buf[0] == '\0', "reset keeps the memory");
	cdt_buf_add(&b, "a\0b", 3);
	ok(b.len == 3 && !memcmp(b.buf, "a\0b", 4), "NUL bytes are content");

	/* Growth over many appends keeps every byte. */
	cdt_buf_reset(&b);
	bool same = true;
	for (int i = 0; i < 100000; i++)
		cdt_buf_addch(&b, 'a' + i % 26);
	for (int i = 0; i < 100000; i++)
		same = same && b.buf[i] == 'a' + i % 26;
	ok(b.len == 100000 && same && b.buf[100000] == '\0',
	   "100000 single-byte appends");
	cdt_buf_release(&b);
	ok(b.buf == cdt_buf_empty && b.len == 0 && b.cap == 0,
	   "release returns to the fresh state");
	is_int(b.max, CDT_BUF_MAX_DEFAULT, "release keeps the limit");
}

static void
test_limit(void)
{
	struct cdt_buf b;
	cdt_buf_init(&b, 8);

	is_int(cdt_buf_addstr(&b, "12345678"), 0, "exactly max bytes fit");
	is_int(cdt_buf_addch(&b, '9'), EX_DATAERR, "one past max: 65");
	is_str(b.buf, "12345678", "a refused append changes nothing");
	is_int(b.len, 8, "len unchanged");
	cdt_buf_release(&b);

	cdt_buf_init(&b, 8);
	cdt_buf_addstr(&b, "abc");
	is_int(cdt_buf_add(&b, "defghi", 6), EX_DATAERR,
	       "an append that would cross max: 65");
	is_str(b.buf, "abc", "nothing of it was added");
	is_int(cdt_buf_grow(&b, SIZE_MAX), EX_DATAERR,
	       "grow by SIZE_MAX: 65, no overflow");
	is_int(cdt_buf_grow(&b, SIZE_MAX - 1), EX_DATAERR,
	       "grow by SIZE_MAX - 1: 65");
	is_int(cdt_buf_grow(&b, 5), 0, "grow up to max is fine");
	ok(b.cap >= 9, "grow makes room for the content and the NUL");
	is_int(cdt_buf_addf(&b, "%s", "123456"), EX_DATAERR,
	       "addf past max: 65");
	is_str(b.buf, "abc", "addf refused changes nothing");
	cdt_buf_release(&b);

	/* The largest limit: growth must not overflow size_t. */
	cdt_buf_init(&b, SIZE_MAX);
	cdt_buf_addstr(&b, "x");
	is_int(cdt_buf_grow(&b, SIZE_MAX), EX_DATAERR,
	       "max SIZE_MAX: len + n past it is refused");
	cdt_buf_release(&b);
}

static void
test_format(void)
{
	struct cdt_buf b = CDT_BUF_INIT;

	is_int(cdt_buf_addf(&b, "%d-%s", 42, "x"), 0, "addf");
	cdt_buf_addf(&b, "/%05.1f", 3.14159);
	is_str(b.buf, "42-x/003.1", "addf appends formatted text");
	cdt_buf_addf(&b, "%s", "");
	is_int(b.len, 10, "an empty format adds nothing");

	char big[5000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cdt_buf_reset(&b);
	cdt_buf_addf(&b, "<%s>", big);
	ok(b.len == 5001 && b.buf[0] == '<' && b.buf[5000] == '>' &&
	   b.buf[5001] == '\0', "addf of 5001 bytes, NUL-terminated");
	cdt_buf_release(&b);
}

static void
test_consume_setlen_detach(void)
{
	struct cdt_buf b = CDT_BUF_INIT;

	cdt_buf_addstr(&b, "0123456789");
	cdt_buf_consume(&b, 3);
	is_str(b.buf, "3456789", "consume drops the first n bytes");
	is_int(b.len, 7, "and shortens len");
	cdt_buf_consume(&b, 0);
	is_str(b.buf, "3456789", "consume 0 changes nothing");
	cdt_buf_consume(&b, 7);
	ok(b.len == 0 && b.buf[0] == '\0', "consume all empties");

	cdt_buf_addstr(&b, "abcdef");
	cdt_buf_setlen(&b, 2);
	is_str(b.buf, "ab", "setlen shortens and terminates");
	cdt_buf_setlen(&b, b.cap + 100);
	ok(b.len == b.cap - 1 && b.buf[b.len] == '\0',
	   "setlen past the capacity stops at cap - 1");

	struct cdt_buf e = CDT_BUF_INIT;
	cdt_buf_setlen(&e, 5);
	ok(e.len == 0 && e.buf == cdt_buf_empty,
	   "setlen on a fresh buffer does nothing");

	cdt_buf_reset(&b);
	cdt_buf_addstr(&b, "keep me");
	size_t len = 0;
	char *s = cdt_buf_detach(&b, &len);
	ok(s && !strcmp(s, "keep me") && len == 7,
	   "detach hands over the string and its length");
	ok(b.buf == cdt_buf_empty && b.len == 0 && b.cap == 0,
	   "detach resets the buffer");
	free(s);

	s = cdt_buf_detach(&e, NULL);
	ok(s && s != cdt_buf_empty && s[0] == '\0',
	   "detach of a fresh buffer gives a malloc'd \"\"");
	free(s);

	struct cdt_buf sec = CDT_BUF_INIT;
	cdt_buf_addstr(&sec, "s3cret-token");
	cdt_buf_release_secret(&sec);
	ok(sec.buf == cdt_buf_empty && sec.len == 0 && sec.cap == 0,
	   "release_secret releases");
	cdt_buf_release_secret(&sec);
	ok(sec.buf == cdt_buf_empty, "release_secret of a fresh buffer");
}

int
main(void)
{
	test_init();
	test_add();
	test_limit();
	test_format();
	test_consume_setlen_detach();
	return done_testing();
}
