/*
 * apikey.h - API keys for CI and service accounts.
 *
 * A key reads cdt_sk_<id>_<secret><crc>: id is 12 base62 characters (the
 * public part, the row's primary key, safe to log as "cdt_sk_<id>..."),
 * secret 43 base62 characters (256 bits from getrandom), crc the CRC-32
 * of everything before it in 6 base62 digits, so scanners and
 * cdt_apikey_parse() drop a mistyped or made-up key before any lookup.
 * The store keeps only HMAC-SHA256(pepper, secret) in hex; the pepper is
 * a key file, never in the database.  cdt_apikey_mac_equal() compares in
 * constant time, and against a dummy MAC when the id is unknown, so the
 * time taken does not tell which ids exist.  Nothing here prints or
 * touches the store.
 */
#ifndef CDT_APIKEY_H
#define CDT_APIKEY_H

#include "compat.h"

#define CDT_APIKEY_PREFIX "cdt_sk_"
#define CDT_APIKEY_ID_LEN 12
#define CDT_APIKEY_SECRET_LEN 43
#define CDT_APIKEY_CRC_LEN 6
#define CDT_APIKEY_LEN (7 + CDT_APIKEY_ID_LEN + 1 + CDT_APIKEY_SECRET_LEN + \
			CDT_APIKEY_CRC_LEN)
#define CDT_APIKEY_MAC_HEX 64

struct cdt_apikey {
	char id[CDT_APIKEY_ID_LEN + 1];
	char secret[CDT_APIKEY_SECRET_LEN + 1];
};

/*
 * A fresh key: k filled and the whole key in out.  0, or EX_SOFTWARE
 * (reported) without randomness.  Wipe both after use.
 */
int cdt_apikey_new(struct cdt_apikey *k, char out[CDT_APIKEY_LEN + 1]);
/* Does s start like an API key (the prefix)?  Tells keys from JWTs. */
bool cdt_apikey_looks_like(const char *s, size_t len);
/*
 * Split a key into id and secret: checks prefix, length, charset and
 * checksum.  0, or EX_DATAERR with *why (static); nothing printed.
 */
int cdt_apikey_parse(const char *s, size_t len, struct cdt_apikey *k,
		     const char **why);
/* HMAC-SHA256(pepper, secret) as 64 lowercase hex digits. */
void cdt_apikey_mac(const void *pepper, size_t plen, const char *secret,
		    char hex[CDT_APIKEY_MAC_HEX + 1]);
/*
 * Does mac equal stored?  stored NULL (unknown id) or not 64 hex digits
 * compares against a dummy and answers false, in the same time.
 */
bool cdt_apikey_mac_equal(const char *stored, const char *mac);
/* CRC-32 (IEEE 802.3, as zlib's crc32). */
uint32_t cdt_apikey_crc32(const void *data, size_t len);
void cdt_apikey_wipe(struct cdt_apikey *k);

#include "banned.h"
#endif
