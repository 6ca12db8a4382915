#include "compat.h"
#include <argon2.h>
#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "err.h"
#include "hash.h"
#include "passwd.h"

/* Bounds for a stored string, checked before anything is allocated. */
#define M_MAX (1024u * 1024u)	/* 1 GiB in KiB */
#define T_MAX 10u
#define P_MAX 16u
#define SALT_MIN 8
#define SALT_MAX 48
#define TAG_MIN 12
#define TAG_MAX 64

int
cdt_passwd_argon2id(const struct cdt_argon2 *a, const void *pw,
		    size_t pwlen, unsigned char *out, size_t outlen)
{
	argon2_context ctx;
	memset(&ctx, 0, sizeof(ctx));
	if (pwlen > UINT32_MAX || a->saltlen > UINT32_MAX ||
	    a->secretlen > UINT32_MAX || a->adlen > UINT32_MAX ||
	    outlen > UINT32_MAX)
		return EX_SOFTWARE;
	ctx.out = out;
	ctx.outlen = (uint32_t)outlen;
	/* libargon2 takes non-const pointers but only reads these. */
	ctx.pwd = (uint8_t *)(uintptr_t)pw;
	ctx.pwdlen = (uint32_t)pwlen;
	ctx.salt = (uint8_t *)(uintptr_t)a->salt;
	ctx.saltlen = (uint32_t)a->saltlen;
	ctx.secret = (uint8_t *)(uintptr_t)a->secret;
	ctx.secretlen = (uint32_t)a->secretlen;
	ctx.ad = (uint8_t *)(uintptr_t)a->ad;
	ctx.adlen = (uint32_t)a->adlen;
	ctx.t_cost = a->t;
	ctx.m_cost = a->m_kib;
	ctx.lanes = a->p;
	ctx.threads = a->p;
	ctx.version = ARGON2_VERSION_13;
	ctx.flags = ARGON2_DEFAULT_FLAGS;
	return argon2id_ctx(&ctx) == ARGON2_OK ? 0 : EX_SOFTWARE;
}

/* PHC "B64": the standard alphabet without padding. */
static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
b64_put(struct cdt_buf *b, const unsigned char *p, size_t len)
{
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = acc << 8 | p[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			cdt_buf_addch(b, b64[(acc >> bits) & 63]);
		}
	}
	if (bits)
		cdt_buf_addch(b, b64[(acc << (6 - bits)) & 63]);
}

/* Decode len chars of s into out (at most max bytes); -1 when bad. */
static int
b64_get(const char *s, size_t len, unsigned char *out, size_t max,
	size_t *n)
{
	uint32_t acc = 0;
	int bits = 0;
	*n = 0;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *c = s[i] ? strchr(b64, s[i]) : NULL;
		if (!c)
			return -1;
		acc = acc << 6 | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (*n >= max)
				return -1;
			out[(*n)++] = (unsigned char)(acc >> bits);
		}
	}
	/* Canonical: the spare bits are zero. */
	return (acc & ((1u << bits) - 1)) ? -1 : 0;
}

const char *
cdt_passwd_check(const char *pw, size_t len)
{
	if (len < CDT_PASSWD_MIN)
		return "shorter than 8 bytes";
	if (len > CDT_PASSWD_MAX)
		return "longer than 1024 bytes";
	if (memchr(pw, '\0', len) || memchr(pw, '\n', len))
		return "holds a NUL or a newline";
	return NULL;
}

int
cdt_passwd_hash_with(const char *pw, size_t len, uint32_t m_kib,
		     uint32_t t, uint32_t p, char out[CDT_PASSWD_PHC_MAX])
{
	unsigned char salt[CDT_PASSWD_SALT];
	unsigned char tag[CDT_PASSWD_TAG];
	struct cdt_buf b = CDT_BUF_INIT;
	int rc;

	out[0] = '\0';
	if (cdt_passwd_check(pw, len))
		return EX_DATAERR;
	rc = cdt_random_bytes(salt, sizeof(salt));
	if (rc)
		return rc;
	struct cdt_argon2 a = { m_kib, t, p, salt, sizeof(salt), NULL, 0,
				NULL, 0 };
	rc = cdt_passwd_argon2id(&a, pw, len, tag, sizeof(tag));
	if (rc) {
		rc = cdt_err(EX_SOFTWARE, "cannot hash the password: "
			     "Argon2id failed (out of memory?)");
		goto out;
	}
	cdt_buf_addf(&b, "$argon2id$v=19$m=%u,t=%u,p=%u$", (unsigned)m_kib,
		     (unsigned)t, (unsigned)p);
	b64_put(&b, salt, sizeof(salt));
	cdt_buf_addch(&b, '$');
	b64_put(&b, tag, sizeof(tag));
	if (b.len >= CDT_PASSWD_PHC_MAX) {
		rc = cdt_err(EX_SOFTWARE, "PHC string too long");
		goto out;
	}
	memcpy(out, b.buf, b.len + 1);
out:
	OPENSSL_cleanse(tag, sizeof(tag));
	cdt_buf_release(&b);
	return rc;
}

int
cdt_passwd_hash(const char *pw, size_t len, char out[CDT_PASSWD_PHC_MAX])
{
	return cdt_passwd_hash_with(pw, len, CDT_PASSWD_M_KIB, CDT_PASSWD_T,
				    CDT_PASSWD_P, out);
}

/* A decimal without sign or leading zeros, at most max; -1 when bad. */
static int
num(const char **sp, const char *key, uint32_t max, uint32_t *v)
{
	const char *s = *sp;
	size_t kl = strlen(key);
	uint64_t x = 0;
	if (strncmp(s, key, kl) || s[kl] != '=')
		return -1;
	s += kl + 1;
	if (*s < '0' || *s > '9' || (*s == '0' && s[1] >= '0' && s[1] <= '9'))
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > max)
			return -1;
	}
	*v = (uint32_t)x;
	*sp = s;
	return 0;
}

struct phc {
	uint32_t m, t, p;
	unsigned char salt[SALT_MAX];
	size_t saltlen;
	unsigned char tag[TAG_MAX];
	size_t taglen;
};

static int
phc_parse(const char *s, struct phc *h)
{
	static const char head[] = "$argon2id$v=19$";
	if (strncmp(s, head, sizeof(head) - 1))
		return -1;
	s += sizeof(head) - 1;
	if (num(&s, "m", M_MAX, &h->m) || *s++ != ',' ||
	    num(&s, "t", T_MAX, &h->t) || *s++ != ',' ||
	    num(&s, "p", P_MAX, &h->p) || *s++ != '$')
		return -1;
	if (h->t < 1 || h->p < 1 || h->m < 8 * h->p)
		return -1;
	const char *d = strchr(s, '$');
	if (!d || b64_get(s, (size_t)(d - s), h->salt, sizeof(h->salt),
			  &h->saltlen))
		return -1;
	if (b64_get(d + 1, strlen(d + 1), h->tag, sizeof(h->tag),
		    &h->taglen))
		return -1;
	if (h->saltlen < SALT_MIN || h->taglen < TAG_MIN)
		return -1;
	return 0;
}

int
cdt_passwd_verify(const char *phc, const char *pw, size_t len, bool *rehash)
{
	struct phc h;
	unsigned char tag[TAG_MAX];
	int rc;

	if (rehash)
		*rehash = false;
	if (!phc || strlen(phc) >= CDT_PASSWD_PHC_MAX || phc_parse(phc, &h))
		return EX_DATAERR;
	if (len > CDT_PASSWD_MAX) {
		cdt_passwd_dummy(pw, 0);
		return 1;
	}
	struct cdt_argon2 a = { h.m, h.t, h.p, h.salt, h.saltlen, NULL, 0,
				NULL, 0 };
	if (cdt_passwd_argon2id(&a, pw, len, tag, h.taglen)) {
		rc = 1;
		goto out;
	}
	rc = CRYPTO_memcmp(tag, h.tag, h.taglen) == 0 ? 0 : 1;
	if (rc == 0 && rehash)
		*rehash = h.m < CDT_PASSWD_M_KIB || h.t < CDT_PASSWD_T ||
			h.saltlen < CDT_PASSWD_SALT ||
			h.taglen < CDT_PASSWD_TAG;
out:
	OPENSSL_cleanse(tag, sizeof(tag));
	OPENSSL_cleanse(&h, sizeof(h));
	return rc;
}

void
cdt_passwd_dummy(const char *pw, size_t len)
{
	static const unsigned char salt[CDT_PASSWD_SALT] = "cdt-dummy-salt!";
	unsigned char tag[CDT_PASSWD_TAG];
	struct cdt_argon2 a = { CDT_PASSWD_M_KIB, CDT_PASSWD_T, CDT_PASSWD_P,
				salt, sizeof(salt), NULL, 0, NULL, 0 };
	if (len > CDT_PASSWD_MAX)
		len = CDT_PASSWD_MAX;
	cdt_passwd_argon2id(&a, pw, len, tag, sizeof(tag));
	OPENSSL_cleanse(tag, sizeof(tag));
}

int
cdt_passwd_read_line(int fd, struct cdt_buf *out)
{
	bool any = false;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cdt_err_errno(EX_IOERR, "cannot read the "
					     "password");
		if (n == 0)
			break;
		any = true;
		if (c == '\n')
			break;
		if (c == '\0' || out->len >= CDT_PASSWD_MAX + 1)
			return EX_DATAERR;
		cdt_buf_addch(out, c);
	}
	if (!any)
		return EX_NOINPUT;
	if (out->len && out->buf[out->len - 1] == '\r')
		cdt_buf_setlen(out, out->len - 1);
	return out->len > CDT_PASSWD_MAX ? EX_DATAERR : 0;
}

/* The terminal's settings while echo is off, for the signal handler. */
static volatile sig_atomic_t tty_fd = -1;
static struct termios tty_saved;

static void
tty_restore(int sig)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

int
cdt_passwd_read_tty(const char *prompt, struct cdt_buf *out)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
				    SIGTSTP };
	struct sigaction old[CDT_ARRAY_SIZE(sigs)];
	struct sigaction sa;
	struct termios t;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return cdt_err(EX_NOINPUT, "no terminal to read the password "
			       "from: use --password-stdin");
	if (tcgetattr(fd, &tty_saved) < 0) {
		close(fd);
		return cdt_err(EX_NOINPUT, "no terminal to read the password "
			       "from: use --password-stdin");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_restore;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < CDT_ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, &old[i]);
	tty_fd = fd;
	t = tty_saved;
	t.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	tcsetattr(fd, TCSAFLUSH, &t);
	if (write(fd, prompt, strlen(prompt)) < 0)
		(void)0;
	rc = cdt_passwd_read_line(fd, out);
	if (write(fd, "\n", 1) < 0)
		(void)0;
	tcsetattr(fd, TCSAFLUSH, &tty_saved);
	tty_fd = -1;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &old[i], NULL);
	close(fd);
	if (rc == EX_NOINPUT)
		rc = cdt_err(EX_NOINPUT, "no password given");
	else if (rc == EX_DATAERR)
		rc = cdt_err(EX_DATAERR, "the password is longer than 1024 "
			     "bytes or holds a NUL");
	return rc;
}
