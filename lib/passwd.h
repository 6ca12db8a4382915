/*
 * passwd.h - passwords: Argon2id hashes in PHC strings, and reading a
 * password without echo.
 *
 * New hashes use the policy below (OWASP: m=19456 KiB, t=2, p=1, a
 * 16-byte salt from getrandom, a 32-byte tag), written as
 * "$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH" (PHC B64: standard alphabet,
 * no padding).  Verification parses the stored string defensively before
 * any allocation (argon2id and v=19 only; m <= 1 GiB, t <= 10, p <= 16,
 * salt 8..48 bytes, tag 12..64), recomputes the tag and compares it in
 * constant time, and says whether the stored parameters are weaker than
 * the policy (m or t lower, a shorter salt or tag) so login can rehash.
 * Password buffers are wiped by everything here; callers wipe theirs.
 * Passwords are bytes: CDT_PASSWD_MIN..CDT_PASSWD_MAX of them, no NUL,
 * no newline.
 */
#ifndef CDT_PASSWD_H
#define CDT_PASSWD_H

#include "compat.h"
#include "buf.h"

#define CDT_PASSWD_M_KIB 19456
#define CDT_PASSWD_T 2
#define CDT_PASSWD_P 1
#define CDT_PASSWD_SALT 16
#define CDT_PASSWD_TAG 32
#define CDT_PASSWD_PHC_MAX 192
#define CDT_PASSWD_MIN 8
#define CDT_PASSWD_MAX 1024

/* One Argon2id computation (RFC 9106), with the optional secret and AD. */
struct cdt_argon2 {
	uint32_t m_kib;
	uint32_t t;
	uint32_t p;
	const void *salt;
	size_t saltlen;
	const void *secret;	/* may be NULL */
	size_t secretlen;
	const void *ad;		/* may be NULL */
	size_t adlen;
};

/*
 * The raw tag of pw under a into out (outlen bytes).  0, or EX_SOFTWARE
 * for parameters libargon2 refuses or memory it cannot get; nothing
 * printed.
 */
int cdt_passwd_argon2id(const struct cdt_argon2 *a, const void *pw,
			size_t pwlen, unsigned char *out, size_t outlen);

/*
 * Hash pw with the policy (or with m_kib/t/p, for tests of rehashing)
 * into a PHC string.  0, EX_DATAERR when pw breaks the length rules
 * (nothing printed), EX_SOFTWARE (reported).
 */
int cdt_passwd_hash(const char *pw, size_t len,
		    char out[CDT_PASSWD_PHC_MAX]);
int cdt_passwd_hash_with(const char *pw, size_t len, uint32_t m_kib,
			 uint32_t t, uint32_t p,
			 char out[CDT_PASSWD_PHC_MAX]);

/*
 * 0 when pw matches phc, 1 when it does not, EX_DATAERR when phc is not
 * a PHC string we accept (nothing printed).  *rehash (may be NULL) is set
 * on a match whose parameters are weaker than the policy.
 */
int cdt_passwd_verify(const char *phc, const char *pw, size_t len,
		      bool *rehash);
/*
 * Spend what a verification spends, for a user that does not exist or
 * has no password, so timing does not tell them apart.
 */
void cdt_passwd_dummy(const char *pw, size_t len);

/* Does pw keep the length rules?  NULL, or why not ("shorter than 8"). */
const char *cdt_passwd_check(const char *pw, size_t len);

/*
 * Read one line (without its \n or \r\n) from fd into out, one byte at
 * a time so the next line stays unread.  0; EX_DATAERR for a line over
 * CDT_PASSWD_MAX or with a NUL, EX_NOINPUT at end of input before any
 * byte, EX_IOERR (reported).
 */
int cdt_passwd_read_line(int fd, struct cdt_buf *out);
/*
 * Prompt on /dev/tty and read a line with echo off (restored on return
 * and on SIGINT/SIGTERM/SIGHUP).  EX_NOINPUT (reported) when there is
 * no terminal.
 */
int cdt_passwd_read_tty(const char *prompt, struct cdt_buf *out);

#include "banned.h"
#endif
