/*
 * fuzz-jwt.c - lib/jwt and lib/apikey on arbitrary bytes.
 *
 * The input is verified as a compact token (every answer must be one of
 * the classes, with a reason, and claims only on success), parsed by the
 * strict JSON reader (what it accepts, libjq accepts too), round-tripped
 * through base64url, signed as a payload under a fixed key and verified
 * again (a token we signed never fails for its signature or alg), and
 * parsed as an API key (a key that parses is rebuilt exactly).
 */
#include "compat.h"
#include "apikey.h"
#include "buf.h"
#include "jwt.h"

static struct cdt_jwt_key key;

static void
verify(const char *tok, size_t len, bool signed_by_us)
{
	static const char *const req[] = { "sub", NULL };
	struct cdt_jwt_policy pol = { "at+jwt", "cdt-auth", "cdt", req, 60,
				      900 };
	jv c = jv_invalid();
	const char *why = NULL;
	enum cdt_jwt_error e = cdt_jwt_verify(&key, tok, len,
					      signed_by_us ? NULL : &pol,
					      1700000000, &c, &why);
	if (e > CDT_JWT_E_CLAIM)
		abort();
	if (e == CDT_JWT_OK && jv_get_kind(c) != JV_KIND_OBJECT)
		abort();
	if (e != CDT_JWT_OK && (jv_is_valid(c) || !why))
		abort();
	if (signed_by_us && (e == CDT_JWT_E_SIGNATURE || e == CDT_JWT_E_ALG))
		abort();
	jv_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	if (!key.secret_len)
		cdt_jwt_key_hs256(&key, "0123456789abcdef0123456789abcdef", 32,
				  "k1");
	if (size > 64 * 1024)
		return 0;
	verify(s, size, false);

	jv v = jv_invalid();
	const char *why = NULL;
	if (cdt_jwt_json_parse(s, size, 16, &v, &why) == 0) {
		jv w = jv_parse_sized(s, (int)size);
		if (!jv_is_valid(w))
			abort();
		jv_free(w);
	} else if (jv_is_valid(v) || !why) {
		abort();
	}
	jv_free(v);

	struct cdt_buf enc = CDT_BUF_INIT, dec = CDT_BUF_INIT;
	cdt_jwt_b64url_encode(data, size, &enc);
	if (cdt_jwt_b64url_decode(enc.buf, enc.len, &dec) || dec.len != size ||
	    (size && memcmp(dec.buf, data, size)))
		abort();
	cdt_buf_release(&enc);
	cdt_buf_release(&dec);

	struct cdt_buf tok = CDT_BUF_INIT;
	if (!cdt_jwt_sign_parts(&key, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", 26,
				s, size, &tok))
		verify(tok.buf, tok.len, true);
	cdt_buf_release(&tok);

	struct cdt_apikey k;
	if (cdt_apikey_parse(s, size, &k, &why) == 0) {
		if (size != CDT_APIKEY_LEN || memcmp(s + 7, k.id, 12) ||
		    memcmp(s + 20, k.secret, 43))
			abort();
	}
	return 0;
}
