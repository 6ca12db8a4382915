#include "compat.h"
#include <limits.h>
#include <sys/random.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "hash.h"
#include "err.h"

static const char hexdigits[] = "0123456789abcdef";

static void
to_hex(const unsigned char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

void
cdt_sha256_init(struct cdt_sha256 *s)
{
	s->ctx = EVP_MD_CTX_new();
	/* For SHA-256 in the default provider, EVP fails only on ENOMEM. */
	if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1)
		cdt_oom();
}

void
cdt_sha256_update(struct cdt_sha256 *s, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(s->ctx, data, len) != 1)
		cdt_oom();
}

void
cdt_sha256_final_hex(struct cdt_sha256 *s, char out[CDT_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(s->ctx, md, &n) != 1 || n != 32)
		cdt_oom();
	to_hex(md, n, out);
	cdt_sha256_release(s);
}

void
cdt_sha256_release(struct cdt_sha256 *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void
cdt_sha256_hex(const void *data, size_t len, char out[CDT_SHA256_HEX_LEN + 1])
{
	struct cdt_sha256 s;

	cdt_sha256_init(&s);
	cdt_sha256_update(&s, data, len);
	cdt_sha256_final_hex(&s, out);
}

int
cdt_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(p + done, len - done, 0);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOSYS)
			break;
		return cdt_err_errno(EX_SOFTWARE, "cannot get random bytes");
	}
	if (done == len)
		return 0;
	/* Kernels before 3.17: OpenSSL seeds itself from /dev/urandom. */
	if (len - done > INT_MAX ||
	    RAND_bytes(p + done, (int)(len - done)) != 1)
		return cdt_err(EX_SOFTWARE, "cannot get random bytes: "
			       "no getrandom and RAND_bytes failed");
	return 0;
}

int
cdt_uuid4(char out[CDT_UUID_LEN + 1])
{
	unsigned char b[16];
	char hex[33];
	size_t o = 0;

	out[0] = '\0';
	if (cdt_random_bytes(b, sizeof(b)))
		return EX_SOFTWARE;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* variant 10xx */
	to_hex(b, sizeof(b), hex);
	for (size_t i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = hex[i];
	}
	out[o] = '\0';
	return 0;
}
