#include "compat.h"
#include <openssl/crypto.h>
#include "apikey.h"
#include "err.h"
#include "hash.h"
#include "jwt.h"

static const char b62[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

uint32_t
cdt_apikey_crc32(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return c ^ 0xffffffffu;
}

/* n base62 characters, each uniform (bytes >= 248 are redrawn). */
static int
random_b62(char *out, size_t n)
{
	unsigned char r[64];
	size_t have = 0, used = 0;
	for (size_t i = 0; i < n;) {
		if (used == have) {
			int rc = cdt_random_bytes(r, sizeof(r));
			if (rc)
				return rc;
			have = sizeof(r);
			used = 0;
		}
		unsigned char b = r[used++];
		if (b < 248)
			out[i++] = b62[b % 62];
	}
	OPENSSL_cleanse(r, sizeof(r));
	out[n] = '\0';
	return 0;
}

static void
crc_b62(uint32_t crc, char out[CDT_APIKEY_CRC_LEN + 1])
{
	for (int i = CDT_APIKEY_CRC_LEN - 1; i >= 0; i--) {
		out[i] = b62[crc % 62];
		crc /= 62;
	}
	out[CDT_APIKEY_CRC_LEN] = '\0';
}

int
cdt_apikey_new(struct cdt_apikey *k, char out[CDT_APIKEY_LEN + 1])
{
	char crc[CDT_APIKEY_CRC_LEN + 1];
	int rc = random_b62(k->id, CDT_APIKEY_ID_LEN);
	if (!rc)
		rc = random_b62(k->secret, CDT_APIKEY_SECRET_LEN);
	if (rc) {
		cdt_apikey_wipe(k);
		return rc;
	}
	snprintf(out, CDT_APIKEY_LEN + 1, CDT_APIKEY_PREFIX "%s_%s", k->id,
		 k->secret);
	crc_b62(cdt_apikey_crc32(out, CDT_APIKEY_LEN - CDT_APIKEY_CRC_LEN),
		crc);
	memcpy(out + CDT_APIKEY_LEN - CDT_APIKEY_CRC_LEN, crc,
	       CDT_APIKEY_CRC_LEN + 1);
	return 0;
}

bool
cdt_apikey_looks_like(const char *s, size_t len)
{
	return len >= 7 && !memcmp(s, CDT_APIKEY_PREFIX, 7);
}

static bool
all_b62(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr(b62, s[i]))
			return false;
	return true;
}

int
cdt_apikey_parse(const char *s, size_t len, struct cdt_apikey *k,
		 const char **why)
{
	char crc[CDT_APIKEY_CRC_LEN + 1];
	const char *id = s + 7;
	const char *sec = id + CDT_APIKEY_ID_LEN + 1;

	memset(k, 0, sizeof(*k));
	if (!cdt_apikey_looks_like(s, len)) {
		*why = "not an API key (no cdt_sk_ prefix)";
		return EX_DATAERR;
	}
	if (len != CDT_APIKEY_LEN || id[CDT_APIKEY_ID_LEN] != '_' ||
	    !all_b62(id, CDT_APIKEY_ID_LEN) ||
	    !all_b62(sec, CDT_APIKEY_SECRET_LEN + CDT_APIKEY_CRC_LEN)) {
		*why = "malformed API key";
		return EX_DATAERR;
	}
	crc_b62(cdt_apikey_crc32(s, CDT_APIKEY_LEN - CDT_APIKEY_CRC_LEN),
		crc);
	if (memcmp(crc, s + CDT_APIKEY_LEN - CDT_APIKEY_CRC_LEN,
		   CDT_APIKEY_CRC_LEN)) {
		*why = "API key checksum does not match (mistyped or cut?)";
		return EX_DATAERR;
	}
	memcpy(k->id, id, CDT_APIKEY_ID_LEN);
	memcpy(k->secret, sec, CDT_APIKEY_SECRET_LEN);
	return 0;
}

void
cdt_apikey_mac(const void *pepper, size_t plen, const char *secret,
	       char hex[CDT_APIKEY_MAC_HEX + 1])
{
	unsigned char mac[32];
	cdt_jwt_hmac_sha256(pepper, plen, secret, strlen(secret), mac);
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
}

/* 64 hex digits into 32 bytes; false when s is not exactly that. */
static bool
unhex32(const char *s, unsigned char out[32])
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 32; i++) {
		int v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[2 * i + (size_t)j];
			int d = c >= '0' && c <= '9' ? c - '0' :
				c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
			if (d < 0)
				return false;
			v = v << 4 | d;
		}
		out[i] = (unsigned char)v;
	}
	return true;
}

bool
cdt_apikey_mac_equal(const char *stored, const char *mac)
{
	static const unsigned char dummy[32] = { 0x5a };
	unsigned char a[32], b[32];
	bool real = unhex32(stored, a);
	if (!real)
		memcpy(a, dummy, sizeof(a));
	bool okb = unhex32(mac, b);
	bool same = CRYPTO_memcmp(a, b, sizeof(a)) == 0;
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return real && okb && same;
}

void
cdt_apikey_wipe(struct cdt_apikey *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}
