/*
 * Unit tests for lib/passwd: the RFC 9106 §5.3 Argon2id vector, the local
 * PHC regression vector, hashing with the policy, rehash on weaker
 * parameters, defensive PHC parsing, and reading lines.
 */
#include "compat.h"
#include <unistd.h>
#include "passwd.h"
#include "tap.h"

static void
hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void
test_rfc9106(void)
{
	unsigned char pw[32], salt[16], secret[8], ad[12], tag[32];
	char h[65];
	memset(pw, 1, sizeof(pw));
	memset(salt, 2, sizeof(salt));
	memset(secret, 3, sizeof(secret));
	memset(ad, 4, sizeof(ad));
	struct cdt_argon2 a = { 32, 3, 4, salt, sizeof(salt), secret,
				sizeof(secret), ad, sizeof(ad) };
	is_int(cdt_passwd_argon2id(&a, pw, sizeof(pw), tag, sizeof(tag)), 0,
	       "RFC 9106 §5.3 inputs are accepted");
	hex(tag, sizeof(tag), h);
	is_str(h, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
	       "RFC 9106 §5.3 Argon2id tag");
	struct cdt_argon2 bad = a;
	bad.m_kib = 1;
	is_int(cdt_passwd_argon2id(&bad, pw, sizeof(pw), tag, sizeof(tag)),
	       EX_SOFTWARE, "memory below 8p KiB is refused");
}

static void
test_regression(void)
{
	static const char phc[] = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ"
		"$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E";
	bool rehash = false;
	is_int(cdt_passwd_verify(phc, "password", 8, &rehash), 0,
	       "the anchors' OWASP-parameter vector verifies");
	ok(rehash, "its 8-byte salt is weaker than policy: rehash");
	is_int(cdt_passwd_verify(phc, "passwore", 8, &rehash), 1,
	       "a wrong password does not");
	is_int(cdt_passwd_verify(phc, "password!", 9, NULL), 1,
	       "a longer one does not");
}

static void
test_hash(void)
{
	char phc[CDT_PASSWD_PHC_MAX], phc2[CDT_PASSWD_PHC_MAX];
	bool rehash = true;
	is_int(cdt_passwd_hash("correct horse", 13, phc), 0, "hash");
	ok(!strncmp(phc, "$argon2id$v=19$m=19456,t=2,p=1$", 31) &&
	   strlen(phc) == 31 + 22 + 1 + 43, "policy parameters, 16-byte salt "
	   "and 32-byte tag in the PHC string (%s)", phc);
	is_int(cdt_passwd_verify(phc, "correct horse", 13, &rehash), 0,
	       "verify the right password");
	ok(!rehash, "policy hash: no rehash");
	is_int(cdt_passwd_verify(phc, "correct horsf", 13, &rehash), 1,
	       "refuse a wrong one");
	is_int(cdt_passwd_hash("correct horse", 13, phc2), 0, "hash again");
	ok(strcmp(phc, phc2) != 0, "a fresh salt each time");
	is_int(cdt_passwd_hash_with("correct horse", 13, 8192, 1, 1, phc), 0,
	       "hash with weaker parameters");
	is_int(cdt_passwd_verify(phc, "correct horse", 13, &rehash), 0,
	       "weaker hash verifies");
	ok(rehash, "m=8192,t=1: rehash");
	is_int(cdt_passwd_hash_with("correct horse", 13, 19456, 1, 1, phc), 0,
	       "t=1");
	cdt_passwd_verify(phc, "correct horse", 13, &rehash);
	ok(rehash, "m=19456,t=1: rehash");
	is_int(cdt_passwd_hash("short", 5, phc), EX_DATAERR,
	       "under 8 bytes is refused");
	is_int(cdt_passwd_hash("new\nline1", 9, phc), EX_DATAERR,
	       "a newline is refused");
	ok(cdt_passwd_check("12345678", 8) == NULL, "8 bytes will do");
	char big[CDT_PASSWD_MAX + 1];
	memset(big, 'x', sizeof(big));
	ok(cdt_passwd_check(big, sizeof(big)) != NULL, "1025 bytes will not");
}

static void
test_bad_phc(void)
{
	static const char *const bad[] = {
		"",
		"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2d$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=19456,t=11,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=19456,t=2,p=17$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=019456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$t=2,m=19456,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ=$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=19456,t=2,p=1$c29t$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUux",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X-qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2F",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(bad); i++)
		is_int(cdt_passwd_verify(bad[i], "password", 8, NULL),
		       EX_DATAERR, "refused without hashing: '%.60s'", bad[i]);
	is_int(cdt_passwd_verify(NULL, "password", 8, NULL), EX_DATAERR,
	       "no hash at all (a user without a password)");
}

static void
test_read_line(void)
{
	int p[2];
	struct cdt_buf b = CDT_BUF_INIT;
	if (pipe(p)) {
		ok(0, "pipe");
		return;
	}
	static const char in[] = "first pw\nsecond\r\nlast";
	if (write(p[1], in, sizeof(in) - 1) < 0)
		diag("write failed");
	close(p[1]);
	ok(cdt_passwd_read_line(p[0], &b) == 0 && !strcmp(b.buf, "first pw"),
	   "first line");
	cdt_buf_reset(&b);
	ok(cdt_passwd_read_line(p[0], &b) == 0 && !strcmp(b.buf, "second"),
	   "second line, \\r\\n stripped");
	cdt_buf_reset(&b);
	ok(cdt_passwd_read_line(p[0], &b) == 0 && !strcmp(b.buf, "last"),
	   "a last line without newline");
	cdt_buf_reset(&b);
	is_int(cdt_passwd_read_line(p[0], &b), EX_NOINPUT, "then the end");
	close(p[0]);
	if (pipe(p))
		return;
	if (write(p[1], "a\0b\n", 4) < 0)
		diag("write failed");
	close(p[1]);
	cdt_buf_reset(&b);
	is_int(cdt_passwd_read_line(p[0], &b), EX_DATAERR, "a NUL is refused");
	close(p[0]);
	cdt_buf_release_secret(&b);
}

int
main(void)
{
	test_rfc9106();
	test_regression();
	test_hash();
	test_bad_phc();
	test_read_line();
	return done_testing();
}
