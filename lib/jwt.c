#include "compat.h"
/* The direct SHA-256 functions are deprecated in OpenSSL 3 in favour of
   EVP, whose start-up costs a millisecond a process (see jwt.h). */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <limits.h>
#include <math.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "codec.h"
#include "err.h"
#include "jwt.h"

/* A NumericDate past the year 9999 is not a date (and not +inf). */
#define DATE_MAX 253402300799.0
#define HEADER_DEPTH 4
#define PAYLOAD_DEPTH 16

/* ---- base64url ---------------------------------------------------- */

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
cdt_jwt_b64url_encode(const void *data, size_t len, struct cdt_buf *out)
{
	const unsigned char *p = data;
	size_t i = 0;
	int rc = cdt_buf_grow(out, (len + 2) / 3 * 4);
	if (rc)
		return rc;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			p[i + 2];
		char q[4] = { b64url[v >> 18], b64url[(v >> 12) & 63],
			      b64url[(v >> 6) & 63], b64url[v & 63] };
		cdt_buf_add(out, q, 4);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[2] = { b64url[v >> 18], b64url[(v >> 12) & 63] };
		cdt_buf_add(out, q, 2);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		char q[3] = { b64url[v >> 18], b64url[(v >> 12) & 63],
			      b64url[(v >> 6) & 63] };
		cdt_buf_add(out, q, 3);
	}
	return 0;
}

int
cdt_jwt_b64url_decode(const char *s, size_t len, struct cdt_buf *out)
{
	if (len % 4 == 1)
		return EX_DATAERR;
	for (size_t i = 0; i < len; i++)
		if (b64url_value((unsigned char)s[i]) < 0)
			return EX_DATAERR;
	/* The unused low bits of the last character must be zero. */
	if (len % 4 == 2 && (b64url_value((unsigned char)s[len - 1]) & 0x0f))
		return EX_DATAERR;
	if (len % 4 == 3 && (b64url_value((unsigned char)s[len - 1]) & 0x03))
		return EX_DATAERR;
	int rc = cdt_buf_grow(out, len / 4 * 3 + 2);
	if (rc)
		return rc;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 6) | (uint32_t)b64url_value((unsigned char)s[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			cdt_buf_addch(out, (int)((acc >> bits) & 0xff));
		}
	}
	return 0;
}

/* ---- the strict JSON reader ------------------------------------------ */

struct jp {
	const char *s;
	size_t n;
	size_t i;
	int depth;
	int max_depth;
	const char *why;
};

static void
skip_ws(struct jp *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
			       p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int
fail(struct jp *p, const char *why)
{
	if (!p->why)
		p->why = why;
	return -1;
}

static int
hex4(struct jp *p, uint32_t *v)
{
	*v = 0;
	if (p->n - p->i < 4)
		return fail(p, "bad \\u escape");
	for (int k = 0; k < 4; k++) {
		char c = p->s[p->i++];
		int d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return fail(p, "bad \\u escape");
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

static void
put_utf8(struct cdt_buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	cdt_buf_add(b, u, n);
}

/* A string at p->i (the opening quote); its unescaped bytes into out. */
static int
parse_string(struct jp *p, struct cdt_buf *out)
{
	p->i++;
	while (p->i < p->n) {
		unsigned char c = (unsigned char)p->s[p->i];
		if (c == '"') {
			p->i++;
			return 0;
		}
		if (c < 0x20)
			return fail(p, "control character in a string");
		if (c != '\\') {
			if (out)
				cdt_buf_addch(out, c);
			p->i++;
			continue;
		}
		if (++p->i >= p->n)
			break;
		char e = p->s[p->i++];
		uint32_t cp;
		switch (e) {
		case '"': case '\\': case '/':
			cp = (unsigned char)e;
			break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (hex4(p, &cp))
				return -1;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(p, "lone surrogate in a string");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo;
				if (p->n - p->i < 2 || p->s[p->i] != '\\' ||
				    p->s[p->i + 1] != 'u')
					return fail(p, "lone surrogate in a "
						    "string");
				p->i += 2;
				if (hex4(p, &lo))
					return -1;
				if (lo < 0xdc00 || lo > 0xdfff)
					return fail(p, "lone surrogate in a "
						    "string");
				cp = 0x10000 + ((cp - 0xd800) << 10) +
					(lo - 0xdc00);
			}
			if (cp == 0)
				return fail(p, "\\u0000 in a string");
			break;
		default:
			return fail(p, "bad escape in a string");
		}
		if (out)
			put_utf8(out, cp);
	}
	return fail(p, "unterminated string");
}

static bool
digit(struct jp *p)
{
	return p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9';
}

static int
parse_number(struct jp *p)
{
	if (p->s[p->i] == '-')
		p->i++;
	if (!digit(p))
		return fail(p, "bad number");
	if (p->s[p->i] == '0')
		p->i++;
	else
		while (digit(p))
			p->i++;
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		if (!digit(p))
			return fail(p, "bad number");
		while (digit(p))
			p->i++;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (!digit(p))
			return fail(p, "bad number");
		while (digit(p))
			p->i++;
	}
	return 0;
}

static int parse_value(struct jp *p);

struct keys {
	struct cdt_buf *v;
	size_t n;
};

static void
keys_release(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		cdt_buf_release(&k->v[i]);
	free(k->v);
}

static int
parse_object(struct jp *p)
{
	struct keys k = { NULL, 0 };
	int rc = -1;
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == '}') {
		p->i++;
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (p->i >= p->n || p->s[p->i] != '"') {
			fail(p, "an object member needs a string name");
			goto out;
		}
		k.v = cdt_xrealloc(k.v, (k.n + 1) * sizeof(*k.v));
		cdt_buf_init(&k.v[k.n], CDT_BUF_MAX_DEFAULT);
		k.n++;
		struct cdt_buf *name = &k.v[k.n - 1];
		if (parse_string(p, name))
			goto out;
		for (size_t j = 0; j + 1 < k.n; j++) {
			if (k.v[j].len == name->len &&
			    !memcmp(k.v[j].buf, name->buf, name->len)) {
				fail(p, "duplicate member name");
				goto out;
			}
		}
		skip_ws(p);
		if (p->i >= p->n || p->s[p->i] != ':') {
			fail(p, "':' expected");
			goto out;
		}
		p->i++;
		if (parse_value(p))
			goto out;
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == '}') {
			p->i++;
			rc = 0;
			goto out;
		}
		fail(p, "',' or '}' expected");
		goto out;
	}
out:
	keys_release(&k);
	return rc;
}

static int
parse_array(struct jp *p)
{
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == ']') {
		p->i++;
		return 0;
	}
	for (;;) {
		if (parse_value(p))
			return -1;
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == ']') {
			p->i++;
			return 0;
		}
		return fail(p, "',' or ']' expected");
	}
}

static int
literal(struct jp *p, const char *word)
{
	size_t l = strlen(word);
	if (p->n - p->i < l || memcmp(p->s + p->i, word, l))
		return fail(p, "not JSON");
	p->i += l;
	return 0;
}

static int
parse_value(struct jp *p)
{
	skip_ws(p);
	if (p->i >= p->n)
		return fail(p, "unexpected end of JSON");
	char c = p->s[p->i];
	int rc;
	switch (c) {
	case '{':
	case '[':
		if (++p->depth > p->max_depth)
			return fail(p, "JSON nested too deeply");
		rc = c == '{' ? parse_object(p) : parse_array(p);
		p->depth--;
		return rc;
	case '"':
		return parse_string(p, NULL);
	case 't':
		return literal(p, "true");
	case 'f':
		return literal(p, "false");
	case 'n':
		return literal(p, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return parse_number(p);
		return fail(p, "not JSON");
	}
}

int
cdt_jwt_json_parse(const char *s, size_t len, int max_depth, jv *out,
		   const char **why)
{
	struct jp p = { s, len, 0, 0, max_depth, NULL };
	*out = jv_invalid();
	if (len > INT_MAX || !cdt_utf8_valid(s, len)) {
		*why = "not valid UTF-8";
		return EX_DATAERR;
	}
	if (parse_value(&p) == 0) {
		skip_ws(&p);
		if (p.i != p.n)
			fail(&p, "trailing bytes after the JSON value");
	}
	if (p.why) {
		*why = p.why;
		return EX_DATAERR;
	}
	/* Well-formed by now, so libjq's parser has nothing to complain of. */
	jv v = jv_parse_sized(s, (int)len);
	if (!jv_is_valid(v)) {
		jv_free(v);
		*why = "not JSON";
		return EX_DATAERR;
	}
	*out = v;
	return 0;
}

/* ---- keys and signatures --------------------------------------------- */

const char *
cdt_jwt_alg_name(enum cdt_jwt_alg alg)
{
	return alg == CDT_JWT_EDDSA ? "EdDSA" : "HS256";
}

const char *
cdt_jwt_error_name(enum cdt_jwt_error e)
{
	static const char *const names[] = {
		"ok", "malformed", "alg", "signature", "expired", "claim",
	};
	return (unsigned)e < CDT_ARRAY_SIZE(names) ? names[e] : "unknown";
}

static void
set_kid(struct cdt_jwt_key *k, const char *kid)
{
	k->kid[0] = '\0';
	if (kid)
		snprintf(k->kid, sizeof(k->kid), "%s", kid);
}

int
cdt_jwt_key_hs256(struct cdt_jwt_key *k, const void *secret, size_t len,
		  const char *kid)
{
	cdt_jwt_key_release(k);
	/* RFC 7518 §3.2: at least the hash's size. */
	if (len < 32 || len > sizeof(k->secret))
		return EX_SOFTWARE;
	k->alg = CDT_JWT_HS256;
	memcpy(k->secret, secret, len);
	k->secret_len = len;
	set_kid(k, kid);
	return 0;
}

int
cdt_jwt_key_ed25519(struct cdt_jwt_key *k, const unsigned char seed[32],
		    const char *kid)
{
	cdt_jwt_key_release(k);
	k->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
					       32);
	if (!k->pkey)
		return EX_SOFTWARE;
	k->alg = CDT_JWT_EDDSA;
	set_kid(k, kid);
	return 0;
}

void
cdt_jwt_key_release(struct cdt_jwt_key *k)
{
	OPENSSL_cleanse(k->secret, sizeof(k->secret));
	k->secret_len = 0;
	if (k->pkey)
		EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
	k->kid[0] = '\0';
	k->alg = CDT_JWT_HS256;
}

void
cdt_jwt_sha256(const void *data, size_t len, unsigned char out[32])
{
	SHA256_CTX c;
	SHA256_Init(&c);
	SHA256_Update(&c, data, len);
	SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
}

void
cdt_jwt_hmac_sha256(const void *key, size_t klen, const void *data,
		    size_t len, unsigned char out[32])
{
	unsigned char k[64], pad[64], inner[32];
	SHA256_CTX c;

	memset(k, 0, sizeof(k));
	if (klen > sizeof(k))
		cdt_jwt_sha256(key, klen, k);
	else if (klen)
		memcpy(k, key, klen);
	for (size_t i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	SHA256_Init(&c);
	SHA256_Update(&c, pad, sizeof(pad));
	SHA256_Update(&c, data, len);
	SHA256_Final(inner, &c);
	for (size_t i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	SHA256_Init(&c);
	SHA256_Update(&c, pad, sizeof(pad));
	SHA256_Update(&c, inner, sizeof(inner));
	SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
}

/* The signature of input under k: 32 bytes (HS256) or 64 (EdDSA). */
static int
sign_bytes(const struct cdt_jwt_key *k, const char *in, size_t len,
	   unsigned char sig[64], size_t *siglen)
{
	if (k->alg == CDT_JWT_HS256) {
		if (!k->secret_len)
			return EX_SOFTWARE;
		cdt_jwt_hmac_sha256(k->secret, k->secret_len, in, len, sig);
		*siglen = 32;
		return 0;
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = 64;
	int ok = md && k->pkey &&
		EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
		EVP_DigestSign(md, sig, &n, (const unsigned char *)in,
			       len) == 1;
	EVP_MD_CTX_free(md);
	*siglen = n;
	return ok ? 0 : EX_SOFTWARE;
}

static bool
sig_matches(const struct cdt_jwt_key *k, const char *in, size_t len,
	    const unsigned char *sig, size_t siglen)
{
	if (k->alg == CDT_JWT_HS256) {
		unsigned char mac[64];
		size_t n = 0;
		bool ok = sign_bytes(k, in, len, mac, &n) == 0 && n == 32 &&
			siglen == 32 && CRYPTO_memcmp(mac, sig, 32) == 0;
		OPENSSL_cleanse(mac, sizeof(mac));
		return ok;
	}
	if (siglen != 64 || !k->pkey)
		return false;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md &&
		EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
		EVP_DigestVerify(md, sig, siglen, (const unsigned char *)in,
				 len) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

int
cdt_jwt_sign_parts(const struct cdt_jwt_key *k, const char *header,
		   size_t hlen, const char *payload, size_t plen,
		   struct cdt_buf *out)
{
	struct cdt_buf in = CDT_BUF_INIT;
	unsigned char sig[64];
	size_t siglen = 0;
	int rc = cdt_jwt_b64url_encode(header, hlen, &in);
	if (!rc)
		rc = cdt_buf_addch(&in, '.');
	if (!rc)
		rc = cdt_jwt_b64url_encode(payload, plen, &in);
	if (!rc)
		rc = sign_bytes(k, in.buf, in.len, sig, &siglen);
	if (!rc)
		rc = cdt_buf_add(out, in.buf, in.len);
	if (!rc)
		rc = cdt_buf_addch(out, '.');
	if (!rc)
		rc = cdt_jwt_b64url_encode(sig, siglen, out);
	cdt_buf_release(&in);
	return rc;
}

int
cdt_jwt_sign(const struct cdt_jwt_key *k, const char *typ, jv claims,
	     struct cdt_buf *out)
{
	jv h = jv_object();
	h = jv_object_set(h, jv_string("alg"),
			  jv_string(cdt_jwt_alg_name(k->alg)));
	if (typ)
		h = jv_object_set(h, jv_string("typ"), jv_string(typ));
	if (k->kid[0])
		h = jv_object_set(h, jv_string("kid"), jv_string(k->kid));
	jv hs = jv_dump_string(h, 0);
	jv ps = jv_dump_string(claims, 0);
	int rc = cdt_jwt_sign_parts(k, jv_string_value(hs),
				    (size_t)jv_string_length_bytes(jv_copy(hs)),
				    jv_string_value(ps),
				    (size_t)jv_string_length_bytes(jv_copy(ps)),
				    out);
	jv_free(hs);
	jv_free(ps);
	return rc;
}

/* ---- verification ------------------------------------------------------ */

/* obj[key] (obj not consumed); jv_invalid() when absent. */
static jv
member(jv obj, const char *key)
{
	return jv_object_get(jv_copy(obj), jv_string(key));
}

static bool
has(jv obj, const char *key)
{
	return jv_object_has(jv_copy(obj), jv_string(key));
}

/* A NumericDate: a finite number in range. */
static bool
date_ok(jv v)
{
	if (jv_get_kind(v) != JV_KIND_NUMBER)
		return false;
	double d = jv_number_value(v);
	return isfinite(d) && d >= 0 && d <= DATE_MAX;
}

/* The claim types of RFC 7519 §4.1; NULL when all are right. */
static const char *
claim_types(jv c)
{
	static const char *const dates[] = { "exp", "nbf", "iat" };
	static const char *const strs[] = { "iss", "sub", "jti" };
	for (size_t i = 0; i < CDT_ARRAY_SIZE(dates); i++) {
		if (!has(c, dates[i]))
			continue;
		jv v = member(c, dates[i]);
		bool ok = date_ok(v);
		jv_free(v);
		if (!ok)
			return i == 0 ? "'exp' is not a NumericDate" :
				i == 1 ? "'nbf' is not a NumericDate" :
				"'iat' is not a NumericDate";
	}
	for (size_t i = 0; i < CDT_ARRAY_SIZE(strs); i++) {
		if (!has(c, strs[i]))
			continue;
		jv v = member(c, strs[i]);
		bool ok = jv_get_kind(v) == JV_KIND_STRING;
		jv_free(v);
		if (!ok)
			return i == 0 ? "'iss' is not a string" :
				i == 1 ? "'sub' is not a string" :
				"'jti' is not a string";
	}
	if (has(c, "aud")) {
		jv a = member(c, "aud");
		bool ok = jv_get_kind(a) == JV_KIND_STRING;
		if (jv_get_kind(a) == JV_KIND_ARRAY &&
		    jv_array_length(jv_copy(a)) > 0) {
			ok = true;
			jv_array_foreach(a, i, x) {
				if (jv_get_kind(x) != JV_KIND_STRING)
					ok = false;
				jv_free(x);
			}
		}
		jv_free(a);
		if (!ok)
			return "'aud' is not a string or an array of strings";
	}
	return NULL;
}

/* "at+jwt" equals "AT+JWT" and "application/at+jwt" (RFC 7515 §4.1.9). */
static bool
typ_matches(const char *got, const char *want)
{
	if (!strncasecmp(got, "application/", 12))
		got += 12;
	return !strcasecmp(got, want);
}

static bool
aud_matches(jv c, const char *want)
{
	jv a = member(c, "aud");
	bool ok = false;
	if (jv_get_kind(a) == JV_KIND_STRING) {
		ok = !strcmp(jv_string_value(a), want);
	} else if (jv_get_kind(a) == JV_KIND_ARRAY) {
		jv_array_foreach(a, i, x) {
			if (!strcmp(jv_string_value(x), want))
				ok = true;
			jv_free(x);
		}
	}
	jv_free(a);
	return ok;
}

static enum cdt_jwt_error
check_claims(jv hdr, jv c, const struct cdt_jwt_policy *pol, int64_t now,
	     const char **why)
{
	*why = claim_types(c);
	if (*why)
		return CDT_JWT_E_MALFORMED;
	if (pol->typ) {
		jv t = member(hdr, "typ");
		bool ok = jv_get_kind(t) == JV_KIND_STRING &&
			typ_matches(jv_string_value(t), pol->typ);
		jv_free(t);
		if (!ok) {
			*why = "wrong or missing 'typ'";
			return CDT_JWT_E_CLAIM;
		}
	}
	for (const char *const *r = pol->required; r && *r; r++) {
		if (!has(c, *r)) {
			*why = "a required claim is missing";
			return CDT_JWT_E_CLAIM;
		}
	}
	double lee = (double)pol->leeway_s;
	double t = (double)now;
	if (has(c, "nbf")) {
		jv v = member(c, "nbf");
		bool early = t + lee < jv_number_value(v);
		jv_free(v);
		if (early) {
			*why = "not valid yet";
			return CDT_JWT_E_EXPIRED;
		}
	}
	if (has(c, "exp")) {
		jv v = member(c, "exp");
		bool late = t >= jv_number_value(v) + lee;
		jv_free(v);
		if (late) {
			*why = "expired";
			return CDT_JWT_E_EXPIRED;
		}
	}
	if (has(c, "iat")) {
		jv v = member(c, "iat");
		double iat = jv_number_value(v);
		jv_free(v);
		if (iat > t + lee) {
			*why = "issued in the future";
			return CDT_JWT_E_EXPIRED;
		}
		if (pol->max_age_s > 0 &&
		    t - iat > (double)pol->max_age_s + lee) {
			*why = "older than the maximum age";
			return CDT_JWT_E_EXPIRED;
		}
	}
	if (pol->iss) {
		jv v = member(c, "iss");
		bool ok = jv_get_kind(v) == JV_KIND_STRING &&
			!strcmp(jv_string_value(v), pol->iss);
		jv_free(v);
		if (!ok) {
			*why = "wrong or missing issuer";
			return CDT_JWT_E_CLAIM;
		}
	}
	if (pol->aud && !aud_matches(c, pol->aud)) {
		*why = "wrong or missing audience";
		return CDT_JWT_E_CLAIM;
	}
	return CDT_JWT_OK;
}

/* Header checks that come before any crypto. */
static enum cdt_jwt_error
check_header(const struct cdt_jwt_key *k, jv h, const char **why)
{
	jv alg = member(h, "alg");
	bool ok = jv_get_kind(alg) == JV_KIND_STRING &&
		!strcmp(jv_string_value(alg), cdt_jwt_alg_name(k->alg));
	bool present = jv_is_valid(alg);
	jv_free(alg);
	if (!ok) {
		*why = present ? "algorithm not allowed" : "no 'alg'";
		return CDT_JWT_E_ALG;
	}
	if (has(h, "crit")) {
		*why = "unsupported critical header ('crit')";
		return CDT_JWT_E_MALFORMED;
	}
	if (has(h, "b64")) {
		*why = "unencoded payload ('b64') in a JWT";
		return CDT_JWT_E_MALFORMED;
	}
	if (has(h, "kid")) {
		jv kid = member(h, "kid");
		bool same = jv_get_kind(kid) == JV_KIND_STRING && k->kid[0] &&
			!strcmp(jv_string_value(kid), k->kid);
		jv_free(kid);
		if (!same) {
			*why = "unknown key id ('kid')";
			return CDT_JWT_E_SIGNATURE;
		}
	}
	return CDT_JWT_OK;
}

static const struct cdt_jwt_policy no_policy;

enum cdt_jwt_error
cdt_jwt_verify(const struct cdt_jwt_key *k, const char *tok, size_t len,
	       const struct cdt_jwt_policy *pol, int64_t now_s, jv *claims,
	       const char **whyp)
{
	struct cdt_buf hb = CDT_BUF_INIT;
	struct cdt_buf pb = CDT_BUF_INIT;
	struct cdt_buf sb = CDT_BUF_INIT;
	jv hdr = jv_invalid();
	jv c = jv_invalid();
	const char *why = NULL;
	const char *dot[2] = { NULL, NULL };
	int ndots = 0;
	enum cdt_jwt_error e = CDT_JWT_E_MALFORMED;

	if (!pol)
		pol = &no_policy;
	if (claims)
		*claims = jv_invalid();
	if (len > CDT_JWT_MAX) {
		why = "token too large";
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		if (tok[i] == '.') {
			if (ndots < 2)
				dot[ndots] = tok + i;
			ndots++;
		} else if (b64url_value((unsigned char)tok[i]) < 0) {
			why = "not a compact JWS (a character outside "
				"base64url)";
			goto out;
		}
	}
	if (ndots != 2) {
		why = ndots == 4 ? "an encrypted JWT (JWE) is not supported" :
			"not three dot-separated parts";
		goto out;
	}
	const char *hs = tok, *ps = dot[0] + 1, *ss = dot[1] + 1;
	size_t hl = (size_t)(dot[0] - tok), pl = (size_t)(dot[1] - ps);
	size_t sl = (size_t)(tok + len - ss);
	if (!hl || !pl) {
		why = "an empty header or payload";
		goto out;
	}
	if (cdt_jwt_b64url_decode(hs, hl, &hb)) {
		why = "the header is not strict base64url";
		goto out;
	}
	if (cdt_jwt_json_parse(hb.buf, hb.len, HEADER_DEPTH, &hdr, &why))
		goto out;
	if (jv_get_kind(hdr) != JV_KIND_OBJECT) {
		why = "the header is not a JSON object";
		goto out;
	}
	e = check_header(k, hdr, &why);
	if (e)
		goto out;
	e = CDT_JWT_E_SIGNATURE;
	if (cdt_jwt_b64url_decode(ss, sl, &sb) ||
	    !sig_matches(k, tok, (size_t)(dot[1] - tok),
			 (const unsigned char *)sb.buf, sb.len)) {
		why = "signature does not match";
		goto out;
	}
	e = CDT_JWT_E_MALFORMED;
	if (cdt_jwt_b64url_decode(ps, pl, &pb)) {
		why = "the payload is not strict base64url";
		goto out;
	}
	if (cdt_jwt_json_parse(pb.buf, pb.len, PAYLOAD_DEPTH, &c, &why))
		goto out;
	if (jv_get_kind(c) != JV_KIND_OBJECT) {
		why = "the claims are not a JSON object";
		goto out;
	}
	e = check_claims(hdr, c, pol, now_s, &why);
out:
	if (e == CDT_JWT_OK && claims) {
		*claims = c;
		c = jv_invalid();
	}
	if (whyp)
		*whyp = e ? why : NULL;
	jv_free(c);
	jv_free(hdr);
	cdt_buf_release(&hb);
	cdt_buf_release_secret(&pb);
	cdt_buf_release(&sb);
	return e;
}
