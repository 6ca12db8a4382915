/*
 * hash.h - SHA-256 digests in hex, random bytes, UUIDv4.
 *
 * SHA-256 goes through OpenSSL's EVP interface, one-shot or streaming
 * (init, any number of updates, final_hex).  EVP only fails for SHA-256
 * when it cannot allocate, so these calls return nothing and treat such
 * a failure as out of memory (exit 70, like cdt_xmalloc).  Digests are
 * 64 lowercase hex digits plus a NUL.
 *
 * Random bytes come from getrandom(2) (RAND_bytes when the kernel has
 * no getrandom); failure is reported and returned as EX_SOFTWARE (70).
 * cdt_uuid4 makes RFC 4122 version 4 ids, lowercase, 36 characters.
 */
#ifndef CDT_HASH_H
#define CDT_HASH_H

#include "compat.h"

#define CDT_SHA256_HEX_LEN 64
#define CDT_UUID_LEN 36

struct evp_md_ctx_st;

struct cdt_sha256 {
	struct evp_md_ctx_st *ctx;	/* NULL after final_hex or release */
};

void cdt_sha256_init(struct cdt_sha256 *s);
void cdt_sha256_update(struct cdt_sha256 *s, const void *data, size_t len);
/* Write the digest and release the context; init again to reuse s. */
void cdt_sha256_final_hex(struct cdt_sha256 *s,
			  char out[CDT_SHA256_HEX_LEN + 1]);
/* Abandon a digest in progress (safe after final_hex, or twice). */
void cdt_sha256_release(struct cdt_sha256 *s);

void cdt_sha256_hex(const void *data, size_t len,
		    char out[CDT_SHA256_HEX_LEN + 1]);

/* Fill buf with len cryptographically random bytes; 0 or EX_SOFTWARE. */
int cdt_random_bytes(void *buf, size_t len);

/*
 * A fresh random UUID, e.g. "0b9f5d2e-7c1a-4e3b-9f4d-2a6c8e1b3d5f".
 * Returns 0, or EX_SOFTWARE (reported) with out set to "" when no
 * randomness could be had; a guessable id is never produced.
 */
int cdt_uuid4(char out[CDT_UUID_LEN + 1]);

#include "banned.h"
#endif
