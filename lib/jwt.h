/*
 * jwt.h - compact JWS tokens: cdt's access tokens (RFC 7515, 7519),
 * verified by the RFC 8725 checklist.
 *
 * A key carries its one algorithm (HS256 with a 32..64-byte secret, or
 * EdDSA with an Ed25519 seed); verification accepts exactly that "alg",
 * compared byte for byte, and refuses any other (none, NoNe, HS512,
 * RS256, ...) before any crypto, so the header never picks the key type.
 * Checks, in order: size cap (CDT_JWT_MAX), charset [A-Za-z0-9_-] with
 * exactly two dots, strict base64url (no padding, zero trailing bits),
 * the header as a JSON object with no duplicate member names, no "crit"
 * or "b64", "kid" equal to the key's (a fixed in-memory value: never a
 * file, SQL or URL); then the signature in constant time (CRYPTO_memcmp);
 * only then the claims: the payload a JSON object without duplicates,
 * exp/nbf/iat numbers, iss/sub/jti strings, aud a string or an array of
 * strings, "typ" of the header, required claims, the time window with the
 * policy's leeway, iss and aud.  A forged token therefore never learns
 * whether it would have been expired.  Strings holding \u0000 and lone
 * surrogates are malformed, so a C string compare cannot be cut short.
 *
 * Errors come back as a class (cdt_jwt_error_name: malformed, alg,
 * signature, expired, claim) and a static phrase for the message; nothing
 * is printed here.  Nothing here reads the clock: the caller passes now.
 */
#ifndef CDT_JWT_H
#define CDT_JWT_H

#include "compat.h"
#include <jv.h>
#include "buf.h"

#define CDT_JWT_MAX 8192		/* bytes of a compact token */
#define CDT_JWT_KID_MAX 32

enum cdt_jwt_alg {
	CDT_JWT_HS256 = 0,
	CDT_JWT_EDDSA,
};

struct evp_pkey_st;

struct cdt_jwt_key {
	enum cdt_jwt_alg alg;
	unsigned char secret[64];	/* HS256 */
	size_t secret_len;
	struct evp_pkey_st *pkey;	/* EdDSA; NULL otherwise */
	char kid[CDT_JWT_KID_MAX + 1];	/* "" for none */
};

enum cdt_jwt_error {
	CDT_JWT_OK = 0,
	CDT_JWT_E_MALFORMED,	/* not a well-formed compact JWS */
	CDT_JWT_E_ALG,		/* alg missing or not the key's */
	CDT_JWT_E_SIGNATURE,	/* bad signature or unknown kid */
	CDT_JWT_E_EXPIRED,	/* outside exp/nbf/iat (+ leeway, max age) */
	CDT_JWT_E_CLAIM,	/* typ, iss, aud or a required claim */
};

struct cdt_jwt_policy {
	const char *typ;	/* required "typ" (case-insensitive, an
				   "application/" prefix ignored); NULL:
				   not checked */
	const char *iss;	/* required issuer; NULL: not checked */
	const char *aud;	/* an audience that must be among "aud";
				   NULL: not checked */
	const char *const *required;	/* claims that must be present,
					   NULL-ended; NULL for none */
	int64_t leeway_s;	/* clock skew allowed on exp, nbf, iat */
	int64_t max_age_s;	/* now - iat at most this; 0: no limit */
};

/*
 * Set up a key (the secret or seed is copied; wipe yours).  kid may be
 * NULL or "".  0, or EX_SOFTWARE for a secret outside 32..64 bytes or a
 * seed OpenSSL refuses (nothing printed).
 */
int cdt_jwt_key_hs256(struct cdt_jwt_key *k, const void *secret, size_t len,
		      const char *kid);
int cdt_jwt_key_ed25519(struct cdt_jwt_key *k, const unsigned char seed[32],
			const char *kid);
/* Wipe and free; the key may be set up again.  Safe on a zeroed key. */
void cdt_jwt_key_release(struct cdt_jwt_key *k);
/* "HS256" or "EdDSA". */
const char *cdt_jwt_alg_name(enum cdt_jwt_alg alg);

/*
 * Sign claims (an object, consumed) with header {"alg","typ","kid"}
 * (typ NULL for none) and append the compact token to out.  0, or
 * EX_SOFTWARE when the crypto fails (nothing printed).
 */
int cdt_jwt_sign(const struct cdt_jwt_key *k, const char *typ, jv claims,
		 struct cdt_buf *out);
/*
 * Sign the exact header and payload bytes given (tests, vectors and
 * fuzzing need tokens no JSON serialiser would write).
 */
int cdt_jwt_sign_parts(const struct cdt_jwt_key *k, const char *header,
		       size_t hlen, const char *payload, size_t plen,
		       struct cdt_buf *out);

/*
 * Verify token (len bytes, not NUL-terminated necessarily) with key k
 * under pol at time now_s (seconds since the epoch).  On CDT_JWT_OK
 * *claims is the payload object (the caller frees it); otherwise
 * *claims is jv_invalid() and *why a static phrase ("signature does not
 * match").  claims and why may be NULL.
 */
enum cdt_jwt_error cdt_jwt_verify(const struct cdt_jwt_key *k,
				  const char *token, size_t len,
				  const struct cdt_jwt_policy *pol,
				  int64_t now_s, jv *claims,
				  const char **why);
/* "ok", "malformed", "alg", "signature", "expired", "claim". */
const char *cdt_jwt_error_name(enum cdt_jwt_error e);

/*
 * The strict JSON reader behind verify: s must be valid UTF-8 and valid
 * JSON, at most max_depth arrays/objects deep, with no duplicate member
 * name in any object (after unescaping), no \u0000 and no lone
 * surrogate.  0 with *out set, or EX_DATAERR with *why (static) and *out
 * jv_invalid().
 */
int cdt_jwt_json_parse(const char *s, size_t len, int max_depth, jv *out,
		       const char **why);

/*
 * HMAC-SHA256 (RFC 2104) and SHA-256 through OpenSSL's direct SHA-256
 * code rather than EVP: the first EVP fetch starts OpenSSL's providers,
 * about 1 ms of every process, which the caller check cannot afford.
 */
void cdt_jwt_hmac_sha256(const void *key, size_t klen, const void *data,
			 size_t len, unsigned char out[32]);
void cdt_jwt_sha256(const void *data, size_t len, unsigned char out[32]);

/* base64url without padding (RFC 7515 §2); encode appends to out. */
int cdt_jwt_b64url_encode(const void *data, size_t len, struct cdt_buf *out);
/*
 * Strict decode, appended to out: only [A-Za-z0-9_-], no padding, a
 * length that is not 1 mod 4 and zero trailing bits.  0 or EX_DATAERR.
 */
int cdt_jwt_b64url_decode(const char *s, size_t len, struct cdt_buf *out);

#include "banned.h"
#endif
