/*
 * Unit tests for lib/jwt: base64url, the strict JSON reader, the RFC 7515
 * A.1 vector, and the attack cases A1-A26 of the security anchors (§1.3),
 * each asserting the error class, not only that verification failed.
 * A27 (a valid token on another org's object) is an authorisation case,
 * not a token error: tests/t1070-auth-attacks.sh (66 of class not_found,
 * as for a missing object, through cdt-session and cdt-chat) and
 * tests/t1030-auth-tenants.sh (every permission, every tool).
 */
#include "compat.h"
#include <openssl/hmac.h>
#include "buf.h"
#include "err.h"
#include "jwt.h"
#include "tap.h"

#define NOW 1700000000

/* RFC 7515 A.1's key, hex. */
static const char rfc_key_hex[] =
	"0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebf"
	"d3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d080a3";
static const char rfc_jws[] =
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
	"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc_none[] =
	"eyJhbGciOiJub25lIn0."
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.";
/* The anchors' extra fixtures, made with the RFC key. */
static const char fix_valid[] =
	"eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9."
	"eyJpc3MiOiJjZHQtYXV0aCIsInN1YiI6InUxIiwiYXVkIjoiY2R0IiwiZXhwIjoy"
	"MDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9."
	"CIN2ABlDLZzhsTxKtutG_xZIPQpxGbfn4lf8Sg3CH94";
static const char fix_none[] =
	"eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0."
	"eyJpc3MiOiJjZHQtYXV0aCIsInN1YiI6InUxIiwiYXVkIjoiY2R0IiwiZXhwIjoy"
	"MDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9.";
static const char fix_hs256_lower[] =
	"eyJhbGciOiJoczI1NiIsInR5cCI6ImF0K2p3dCJ9."
	"eyJpc3MiOiJjZHQtYXV0aCIsInN1YiI6InUxIiwiYXVkIjoiY2R0IiwiZXhwIjoy"
	"MDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9."
	"rpYbq0C0xOsk7z_E5KV4fypaPJTIodE3BcvA4BmkTmk";

static const char *const req[] = { "sub", "exp", "iat", NULL };
static const struct cdt_jwt_policy pol = {
	.typ = "at+jwt", .iss = "cdt-auth", .aud = "cdt", .required = req,
	.leeway_s = 60, .max_age_s = 0,
};

static struct cdt_jwt_key key;		/* the RFC key, no kid */
static struct cdt_jwt_key kkey;		/* the RFC key, kid "k1" */

static void
unhex(const char *h, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
}

/* A token over exact header and payload text, signed with k. */
static char *
mk(const struct cdt_jwt_key *k, const char *h, const char *p)
{
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_jwt_sign_parts(k, h, strlen(h), p, strlen(p), &b);
	return cdt_buf_detach(&b, NULL);
}

/* header.payload. with no signature (an unsecured JWT). */
static char *
mk_unsigned(const char *h, const char *p, const char *sig)
{
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_jwt_b64url_encode(h, strlen(h), &b);
	cdt_buf_addch(&b, '.');
	cdt_jwt_b64url_encode(p, strlen(p), &b);
	cdt_buf_addch(&b, '.');
	cdt_buf_addstr(&b, sig);
	return cdt_buf_detach(&b, NULL);
}

static enum cdt_jwt_error
verify_at(const struct cdt_jwt_key *k, const char *tok,
	  const struct cdt_jwt_policy *p, int64_t now)
{
	jv c = jv_invalid();
	const char *why = NULL;
	enum cdt_jwt_error e = cdt_jwt_verify(k, tok, strlen(tok), p, now,
					      &c, &why);
	if (e && !why)
		diag("no reason given for %s", cdt_jwt_error_name(e));
	jv_free(c);
	return e;
}

#define CLASS(tok, k, p, now, want, ...) do { \
	enum cdt_jwt_error got_ = verify_at(k, tok, p, now); \
	is_str(cdt_jwt_error_name(got_), cdt_jwt_error_name(want), \
	       __VA_ARGS__); \
} while (0)

/* A valid payload around one changed member: "%s" placed in the object. */
static char *
claims(const char *extra)
{
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":\"cdt\","
		     "\"exp\":%d,\"iat\":%d%s%s}", NOW + 900, NOW,
		     *extra ? "," : "", extra);
	return cdt_buf_detach(&b, NULL);
}

static const char hdr_ok[] = "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}";

/* Sign hdr_ok + the claims with one member added or overridden. */
static char *
tok_with(const char *payload)
{
	return mk(&key, hdr_ok, payload);
}

static char *
tok_default(void)
{
	char *p = claims("");
	char *t = tok_with(p);
	free(p);
	return t;
}

static void
test_b64url(void)
{
	struct cdt_buf b = CDT_BUF_INIT;
	const unsigned char all[] = { 0xfb, 0xff, 0xbf, 0x00, 0x7e };
	cdt_jwt_b64url_encode(all, sizeof(all), &b);
	is_str(b.buf, "-_-_AH4", "b64url uses - and _ and no padding");
	cdt_buf_reset(&b);
	ok(cdt_jwt_b64url_decode("-_-_AH4", 7, &b) == 0 && b.len == 5 &&
	   !memcmp(b.buf, all, 5), "b64url round trip");
	static const char *const bad[] = {
		"AH4=", "A+4", "A/4", "A H4", "AH5", "A", "AB",
		"ABCDE", "QQ==",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(bad); i++) {
		cdt_buf_reset(&b);
		is_int(cdt_jwt_b64url_decode(bad[i], strlen(bad[i]), &b),
		       EX_DATAERR, "strict b64url refuses '%s'", bad[i]);
	}
	cdt_buf_reset(&b);
	ok(cdt_jwt_b64url_decode("QQ", 2, &b) == 0 && b.len == 1 &&
	   b.buf[0] == 'A', "b64url 'QQ' is 'A'");
	cdt_buf_release(&b);
}

static void
hexs(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* The direct SHA-256 and HMAC (RFC 4231 TC1, TC2, TC6, TC7). */
static void
test_hmac(void)
{
	unsigned char d[32], k[131];
	char h[65];
	cdt_jwt_sha256("abc", 3, d);
	hexs(d, 32, h);
	is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "SHA-256 of abc");
	memset(k, 0x0b, 20);
	cdt_jwt_hmac_sha256(k, 20, "Hi There", 8, d);
	hexs(d, 32, h);
	is_str(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	       "HMAC-SHA256 RFC 4231 TC1");
	cdt_jwt_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	hexs(d, 32, h);
	is_str(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	       "HMAC-SHA256 RFC 4231 TC2");
	memset(k, 0xaa, sizeof(k));
	static const char t6[] =
		"Test Using Larger Than Block-Size Key - Hash Key First";
	cdt_jwt_hmac_sha256(k, sizeof(k), t6, strlen(t6), d);
	hexs(d, 32, h);
	is_str(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	       "HMAC-SHA256 RFC 4231 TC6 (a key longer than a block)");
	static const char t7[] =
		"This is a test using a larger than block-size key and a "
		"larger than block-size data. The key needs to be hashed "
		"before being used by the HMAC algorithm.";
	cdt_jwt_hmac_sha256(k, sizeof(k), t7, strlen(t7), d);
	hexs(d, 32, h);
	is_str(h, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	       "HMAC-SHA256 RFC 4231 TC7");
}

static void
test_json(void)
{
	static const struct {
		const char *s;
		bool good;
	} v[] = {
		{ "{\"a\":1,\"b\":[true,false,null,\"x\",-0.5e3]}", true },
		{ "{\"a\":1,\"a\":2}", false },
		{ "{\"a\":1,\"\\u0061\":2}", false },
		{ "{\"x\":{\"a\":1,\"a\":1}}", false },
		{ "[{\"a\":1},{\"a\":1}]", true },
		{ "{\"a\":\"\\u0000\"}", false },
		{ "{\"a\":\"\\ud800\"}", false },
		{ "{\"a\":\"\\udc00\"}", false },
		{ "{\"a\":\"\\ud83d\\ude00\"}", true },
		{ "{\"a\":1,}", false },
		{ "{\"a\":01}", false },
		{ "{\"a\":1} x", false },
		{ "{'a':1}", false },
		{ "{\"a\":\"tab\there\"}", false },
		{ "nul", false },
		{ "", false },
		{ "\xff", false },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(v); i++) {
		jv out;
		const char *why = NULL;
		int rc = cdt_jwt_json_parse(v[i].s, strlen(v[i].s), 8, &out,
					    &why);
		ok((rc == 0) == v[i].good && (rc == 0) == jv_is_valid(out),
		   "strict JSON %s '%s'%s%s", v[i].good ? "takes" : "refuses",
		   v[i].s, why ? ": " : "", why ? why : "");
		jv_free(out);
	}
	struct cdt_buf deep = CDT_BUF_INIT;
	for (int i = 0; i < 5000; i++)
		cdt_buf_addch(&deep, '[');
	for (int i = 0; i < 5000; i++)
		cdt_buf_addch(&deep, ']');
	jv out;
	const char *why = NULL;
	is_int(cdt_jwt_json_parse(deep.buf, deep.len, 16, &out, &why),
	       EX_DATAERR, "5000 nested arrays are refused at depth 16 (%s)",
	       why ? why : "");
	cdt_buf_release(&deep);
}

static void
test_rfc(void)
{
	static const char h[] = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
	static const char p[] = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,"
		"\r\n \"http://example.com/is_root\":true}";
	char *t = mk(&key, h, p);
	is_str(t, rfc_jws, "RFC 7515 A.1: signing the exact bytes gives the "
	       "vector");
	free(t);
	struct cdt_jwt_policy p0 = { 0 };
	struct cdt_jwt_policy p60 = { .leeway_s = 60 };
	CLASS(rfc_jws, &key, &p0, 1300819379, CDT_JWT_OK,
	      "A.1 verifies at exp-1");
	CLASS(rfc_jws, &key, &p0, 1300819380, CDT_JWT_E_EXPIRED,
	      "A.1 expired at exp");
	CLASS(rfc_jws, &key, &p60, 1300819439, CDT_JWT_OK,
	      "A.1 with 60 s leeway verifies at exp+59");
	CLASS(rfc_jws, &key, &p60, 1300819440, CDT_JWT_E_EXPIRED,
	      "A.1 with 60 s leeway expired at exp+60");
	jv c = jv_invalid();
	cdt_jwt_verify(&key, rfc_jws, strlen(rfc_jws), &p0, 1300819379, &c,
		       NULL);
	jv r = jv_object_get(jv_copy(c),
			     jv_string("http://example.com/is_root"));
	ok(jv_get_kind(r) == JV_KIND_TRUE, "A.1 claims come back");
	jv_free(r);
	jv_free(c);
	/* The vector's typ is JWT and it has no iss/aud: policy refuses. */
	CLASS(rfc_jws, &key, &pol, 1300819379, CDT_JWT_E_CLAIM,
	      "A.1 under the access-token policy: wrong typ");
	CLASS(fix_valid, &key, &pol, NOW, CDT_JWT_OK,
	      "the anchors' valid HS256 fixture verifies");
}

static void
test_a1_a3(void)
{
	CLASS("thisisnotreallyajwt", &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A1 no dots");
	char *t = tok_default();
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "bearer %s", t);
	CLASS(b.buf, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A2 'bearer ' prefix");
	cdt_buf_reset(&b);
	cdt_buf_addf(&b, "Bearer%s", t);
	CLASS(b.buf, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A2 'Bearer' glued on: the header is no longer JSON");
	cdt_buf_reset(&b);
	cdt_buf_add(&b, t, (size_t)(strrchr(t, '.') - t));
	CLASS(b.buf, &key, &pol, NOW, CDT_JWT_E_MALFORMED, "A3 2 segments");
	cdt_buf_reset(&b);
	cdt_buf_addf(&b, "%s.eyJ9", t);
	CLASS(b.buf, &key, &pol, NOW, CDT_JWT_E_MALFORMED, "A3 4 segments");
	CLASS("eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.QR1Owv2ug2"
	      "WyPBnbQrRARTeEk9kDO2w8qDcjiHnSJflSdv1iNqhWXaKH4MqAkQtMoNfABIPJa"
	      "ZmK.AxY8DCtDaGlsbGljb3RoZQ.KDlTtXchhZTGufMYmOYGS4HffxPSUrfmqCHXa"
	      "I9wOGY.9hH0vgRfYgPnAHOd8stkvw", &key, &pol, NOW,
	      CDT_JWT_E_MALFORMED, "A3 a 5-segment JWE (RFC 7516 A.2)");
	free(b.buf);
	free(t);
}

static void
test_a4_a7(void)
{
	CLASS(rfc_none, &key, &pol, 1300819379, CDT_JWT_E_ALG,
	      "A4 RFC 7519 §6.1 unsecured JWT (alg none)");
	CLASS(fix_none, &key, &pol, NOW, CDT_JWT_E_ALG,
	      "A4 alg none, empty signature");
	static const char *const algs[] = {
		"none", "None", "NONE", "nOnE", "NoNe", "hs256", "HS256 ",
		"HS512", "HS384", "RS256", "ES256", "PS256", "EdDSA", "",
	};
	char *p = claims("");
	for (size_t i = 0; i < CDT_ARRAY_SIZE(algs); i++) {
		char h[128];
		snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"typ\":\"at+jwt\"}",
			 algs[i]);
		/* MACed with the right key: still refused, for the alg. */
		char *t = mk(&key, h, p);
		CLASS(t, &key, &pol, NOW, CDT_JWT_E_ALG,
		      "A5/A6 alg '%s' refused (signed with the key)", algs[i]);
		free(t);
		/* A garbage signature: refused for the alg before crypto. */
		t = mk_unsigned(h, p, "AAAA");
		CLASS(t, &key, &pol, NOW, CDT_JWT_E_ALG,
		      "A5/A6 alg '%s' refused before the signature is looked at",
		      algs[i]);
		free(t);
	}
	CLASS(fix_hs256_lower, &key, &pol, NOW, CDT_JWT_E_ALG,
	      "A5 the anchors' 'hs256' fixture");
	char *t = mk_unsigned("{\"typ\":\"at+jwt\"}", p, "");
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_ALG, "no alg at all");
	free(t);
	t = mk_unsigned("{\"alg\":[\"HS256\"],\"typ\":\"at+jwt\"}", p, "");
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_ALG, "alg not a string");
	free(t);

	/* A7: HMAC keyed with an RSA public key PEM, as a confused
	   verifier would check it. */
	static const char pem[] =
		"-----BEGIN PUBLIC KEY-----\n"
		"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
		"4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
		"-----END PUBLIC KEY-----\n";
	struct cdt_buf in = CDT_BUF_INIT;
	unsigned char mac[32];
	unsigned int n = 0;
	cdt_jwt_b64url_encode(hdr_ok, strlen(hdr_ok), &in);
	cdt_buf_addch(&in, '.');
	cdt_jwt_b64url_encode(p, strlen(p), &in);
	HMAC(EVP_sha256(), pem, (int)strlen(pem),
	     (const unsigned char *)in.buf, in.len, mac, &n);
	cdt_buf_addch(&in, '.');
	cdt_jwt_b64url_encode(mac, n, &in);
	CLASS(in.buf, &key, &pol, NOW, CDT_JWT_E_SIGNATURE,
	      "A7 HS256 MACed with a public key PEM as the secret");
	cdt_buf_release(&in);
	t = mk(&key, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", p);
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_ALG,
	      "A7 RS256 header on an HMAC key");
	free(t);

	/* Each key is bound to its alg. */
	unsigned char seed[32];
	memset(seed, 7, sizeof(seed));
	struct cdt_jwt_key ed;
	memset(&ed, 0, sizeof(ed));
	ok(cdt_jwt_key_ed25519(&ed, seed, NULL) == 0, "an Ed25519 key");
	t = mk(&ed, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", p);
	CLASS(t, &ed, &pol, NOW, CDT_JWT_OK, "EdDSA signs and verifies");
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_ALG,
	      "an EdDSA token on an HS256 key: alg");
	free(t);
	t = tok_default();
	CLASS(t, &ed, &pol, NOW, CDT_JWT_E_ALG,
	      "an HS256 token on an EdDSA key: alg");
	free(t);
	cdt_jwt_key_release(&ed);
	free(p);
}

static void
test_a8_a12(void)
{
	char *t = tok_default();
	CLASS(t, &key, &pol, NOW, CDT_JWT_OK, "the base token verifies");
	size_t len = strlen(t);
	char *sig = strrchr(t, '.') + 1;
	/* A8: flip one character in the middle of the signature. */
	char keep = sig[10];
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_SIGNATURE,
	      "A8 one signature character flipped");
	sig[10] = keep;
	/* A payload character flipped: the signature no longer matches. */
	char keep2 = t[len / 2];
	t[len / 2] = t[len / 2] == 'x' ? 'y' : 'x';
	if (t[len / 2] != '.')
		CLASS(t, &key, &pol, NOW, CDT_JWT_E_SIGNATURE,
		      "A8 one payload character flipped");
	t[len / 2] = keep2;
	/* A9 */
	char *cut = cdt_xstrndup(t, len - 3);
	CLASS(cut, &key, &pol, NOW, CDT_JWT_E_SIGNATURE,
	      "A9 signature truncated by 3");
	free(cut);
	cut = cdt_xstrndup(t, (size_t)(sig - t));
	CLASS(cut, &key, &pol, NOW, CDT_JWT_E_SIGNATURE,
	      "A9 empty signature");
	free(cut);

	/* A10 */
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "%s=", t);
	CLASS(b.buf, &key, &pol, NOW, CDT_JWT_E_MALFORMED, "A10 '=' padding");
	static const char bad[] = { '+', '/', ' ', '\n', '\t', '=' };
	for (size_t i = 0; i < sizeof(bad); i++) {
		cdt_buf_reset(&b);
		cdt_buf_addstr(&b, t);
		b.buf[5] = bad[i];
		CLASS(b.buf, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
		      "A10 character 0x%02x in the header", bad[i]);
	}
	cdt_buf_reset(&b);
	cdt_buf_add(&b, t, (size_t)(strchr(t, '.') - t) + 1);
	cdt_buf_addstr(&b, "\xe2\x82\xac");
	cdt_buf_addstr(&b, strchr(t, '.') + 1);
	CLASS(b.buf, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A10 a euro sign in the payload segment");
	/* Header segment with non-zero trailing bits (strict decoding). */
	/* A 16-byte header is 22 characters with 4 spare bits. */
	char *pl0 = claims("");
	char *t2 = mk(&key, "{\"alg\":\"HS256\"} ", pl0);
	char *dot = strchr(t2, '.');
	free(pl0);
	if (dot - t2 == 22) {
		dot[-1] = dot[-1] == 'A' ? 'B' : 'Q';
		CLASS(t2, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
		      "A10 non-zero trailing bits in the header segment");
	} else {
		ok(0, "A10 header segment length %d", (int)(dot - t2));
	}
	free(t2);

	/* A11 */
	char *cl = claims("");
	static const char *const notobj[] = {
		"0", "true", "null", "[]", "\"\"", "{", "{\"sub\":}", "",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(notobj); i++) {
		char *x = tok_with((char *)notobj[i]);
		CLASS(x, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
		      "A11 payload '%s' (signed)", notobj[i]);
		free(x);
		x = mk(&key, notobj[i], cl);
		CLASS(x, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
		      "A11 header '%s'", notobj[i]);
		free(x);
	}
	/* A12 */
	char *x = mk(&key, "{\"alg\":\"HS256\",\"alg\":\"none\","
		     "\"typ\":\"at+jwt\"}", cl);
	CLASS(x, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A12 duplicate 'alg' in the header");
	free(x);
	x = mk(&key, "{\"alg\":\"none\",\"alg\":\"HS256\","
	       "\"typ\":\"at+jwt\"}", cl);
	CLASS(x, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A12 duplicate 'alg', last one HS256 (never last-wins)");
	free(x);
	x = mk(&key, "{\"alg\":\"HS256\",\"\\u0061lg\":\"none\"}", cl);
	CLASS(x, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A12 duplicate 'alg' spelled with an escape");
	free(x);
	char *pl = claims("\"sub\":\"admin\"");
	x = tok_with(pl);
	CLASS(x, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A12 duplicate 'sub' in the claims (signed)");
	free(x);
	free(pl);
	free(cl);
	cdt_buf_release(&b);
	free(t);
}

static char *
tok_times(const char *fmt, ...) CDT_PRINTF(1, 2);

/* A token whose claims are iss/sub/aud plus the given members. */
static char *
tok_times(const char *fmt, ...)
{
	struct cdt_buf b = CDT_BUF_INIT;
	va_list ap;
	cdt_buf_addstr(&b, "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":"
		       "\"cdt\"");
	va_start(ap, fmt);
	cdt_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cdt_buf_addch(&b, '}');
	char *t = tok_with(b.buf);
	cdt_buf_release(&b);
	return t;
}

static void
test_a13_a17(void)
{
	struct cdt_jwt_policy p0 = pol;
	p0.leeway_s = 0;
	char *t = tok_times(",\"exp\":%d,\"iat\":%d", NOW, NOW - 10);
	CLASS(t, &key, &p0, NOW, CDT_JWT_E_EXPIRED, "A13 exp = now");
	CLASS(t, &key, &p0, NOW - 1, CDT_JWT_OK, "A13 exp = now+1 is fine");
	free(t);
	t = tok_times(",\"exp\":%d,\"iat\":%d", NOW - 100, NOW - 200);
	CLASS(t, &key, &p0, NOW, CDT_JWT_E_EXPIRED, "A14 exp = now-100");
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_EXPIRED,
	      "A14 exp = now-100 with 60 s leeway");
	free(t);
	t = tok_times(",\"exp\":%d,\"iat\":%d,\"nbf\":%d", NOW + 900, NOW,
		      NOW + 100);
	CLASS(t, &key, &p0, NOW, CDT_JWT_E_EXPIRED, "A14 nbf = now+100");
	free(t);
	t = tok_times(",\"exp\":%d,\"iat\":%d,\"nbf\":%d", NOW - 100,
		      NOW - 200, NOW + 100);
	CLASS(t, &key, &p0, NOW, CDT_JWT_E_EXPIRED, "A14 both at once");
	free(t);
	t = tok_times(",\"exp\":%d,\"iat\":%d,\"nbf\":%d", NOW + 900, NOW,
		      NOW + 100);
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_EXPIRED,
	      "A15 nbf = now+100, 60 s leeway");
	struct cdt_jwt_policy p120 = pol;
	p120.leeway_s = 120;
	CLASS(t, &key, &p120, NOW, CDT_JWT_OK,
	      "A15 nbf = now+100, 120 s leeway: accepted");
	free(t);
	static const char *const badt[] = {
		",\"exp\":\"1700000900\",\"iat\":1700000000",
		",\"exp\":null,\"iat\":1700000000",
		",\"exp\":1700000900,\"iat\":\"1700000000\"",
		",\"exp\":1700000900,\"iat\":null",
		",\"exp\":1700000900,\"iat\":1700000000,\"nbf\":\"0\"",
		",\"exp\":1700000900,\"iat\":1700000000,\"nbf\":null",
		",\"exp\":1e999,\"iat\":1700000000",
		",\"exp\":-5,\"iat\":1700000000",
		",\"exp\":true,\"iat\":1700000000",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(badt); i++) {
		t = tok_times("%s", badt[i]);
		CLASS(t, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
		      "A16 '%s'", badt[i] + 1);
		free(t);
	}
	t = tok_times(",\"exp\":%d,\"iat\":%d", NOW + 900, NOW + 1);
	CLASS(t, &key, &p0, NOW, CDT_JWT_E_EXPIRED,
	      "A17 iat = now+1, no leeway");
	CLASS(t, &key, &pol, NOW, CDT_JWT_OK, "A17 iat = now+1, 60 s leeway");
	free(t);
	t = tok_times(",\"exp\":%d,\"iat\":%d", NOW + 900, NOW + 61);
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_EXPIRED,
	      "A17 iat = now+61 with 60 s leeway");
	free(t);
	struct cdt_jwt_policy age = pol;
	age.max_age_s = 900;
	t = tok_times(",\"exp\":%d,\"iat\":%d", NOW + 9000, NOW - 961);
	CLASS(t, &key, &age, NOW, CDT_JWT_E_EXPIRED,
	      "A17 iat older than the maximum age");
	free(t);
	t = tok_times(",\"exp\":%d,\"iat\":%d", NOW + 9000, NOW - 959);
	CLASS(t, &key, &age, NOW, CDT_JWT_OK,
	      "A17 iat within the maximum age (and leeway)");
	free(t);
}

static void
test_a18_a21(void)
{
	char *p = NULL;
	struct {
		const char *payload;
		enum cdt_jwt_error want;
		const char *what;
	} v[] = {
		{ "{\"iss\":\"evil\",\"sub\":\"u1\",\"aud\":\"cdt\"", 
		  CDT_JWT_E_CLAIM, "A18 wrong iss" },
		{ "{\"sub\":\"u1\",\"aud\":\"cdt\"", CDT_JWT_E_CLAIM,
		  "A18 iss missing" },
		{ "{\"iss\":\"cdt-auth\",\"sub\":\"u1\"", CDT_JWT_E_CLAIM,
		  "A19 aud missing" },
		{ "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":\"other\"",
		  CDT_JWT_E_CLAIM, "A19 aud other" },
		{ "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":[\"x\","
		  "\"cdt\"]", CDT_JWT_OK, "A19 aud [x, cdt] (any match)" },
		{ "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":[]",
		  CDT_JWT_E_MALFORMED, "A20 aud []" },
		{ "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":1",
		  CDT_JWT_E_MALFORMED, "A20 aud 1" },
		{ "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":[\"cdt\",1]",
		  CDT_JWT_E_MALFORMED, "A20 aud [cdt, 1]" },
		{ "{\"iss\":\"cdt-auth\",\"aud\":\"cdt\"", CDT_JWT_E_CLAIM,
		  "a required claim (sub) missing" },
		{ "{\"iss\":\"cdt-auth\",\"sub\":7,\"aud\":\"cdt\"",
		  CDT_JWT_E_MALFORMED, "sub not a string" },
		{ "{\"iss\":\"cdt-auth\\u0000x\",\"sub\":\"u1\",\"aud\":"
		  "\"cdt\"", CDT_JWT_E_MALFORMED,
		  "\\u0000 cannot cut a string compare short" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(v); i++) {
		struct cdt_buf b = CDT_BUF_INIT;
		cdt_buf_addf(&b, "%s,\"exp\":%d,\"iat\":%d}", v[i].payload,
			     NOW + 900, NOW);
		char *t = tok_with(b.buf);
		CLASS(t, &key, &pol, NOW, v[i].want, "%s", v[i].what);
		free(t);
		cdt_buf_release(&b);
	}
	p = claims("");
	static const struct {
		const char *h;
		enum cdt_jwt_error want;
	} typs[] = {
		{ "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", CDT_JWT_E_CLAIM },
		{ "{\"alg\":\"HS256\"}", CDT_JWT_E_CLAIM },
		{ "{\"alg\":\"HS256\",\"typ\":7}", CDT_JWT_E_CLAIM },
		{ "{\"alg\":\"HS256\",\"typ\":\"AT+JWT\"}", CDT_JWT_OK },
		{ "{\"alg\":\"HS256\",\"typ\":\"application/at+jwt\"}",
		  CDT_JWT_OK },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(typs); i++) {
		char *t = mk(&key, typs[i].h, p);
		CLASS(t, &key, &pol, NOW, typs[i].want, "A21 header %s",
		      typs[i].h);
		free(t);
	}
	free(p);
}

static void
test_a22_a26(void)
{
	char *p = claims("");
	static const char *const hs[] = {
		"{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"crit\":[\"b64\"],"
		"\"b64\":false}",
		"{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"b64\":false}",
		"{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"crit\":[\"x-unknown\"],"
		"\"x-unknown\":1}",
		"{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"crit\":[]}",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(hs); i++) {
		char *t = mk(&key, hs[i], p);
		CLASS(t, &key, &pol, NOW, CDT_JWT_E_MALFORMED, "A22/A23 %s",
		      hs[i]);
		free(t);
	}
	static const char *const kids[] = {
		"../../../../dev/null", "' OR 1=1--", "k2", "", "K1",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(kids); i++) {
		char h[128];
		snprintf(h, sizeof(h), "{\"alg\":\"HS256\",\"typ\":\"at+jwt\","
			 "\"kid\":\"%s\"}", kids[i]);
		char *t = mk(&kkey, h, p);
		CLASS(t, &kkey, &pol, NOW, CDT_JWT_E_SIGNATURE,
		      "A24 unknown kid '%s'", kids[i]);
		free(t);
	}
	char *t = mk(&key, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":"
		     "\"k1\"}", p);
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_SIGNATURE,
	      "A24 a kid on a key that has none");
	free(t);
	t = mk(&kkey, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	       p);
	CLASS(t, &kkey, &pol, NOW, CDT_JWT_OK, "the key's own kid verifies");
	free(t);
	t = mk(&key, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"jku\":"
	       "\"http://169.254.169.254/\",\"x5u\":\"file:///etc/passwd\"}",
	       p);
	CLASS(t, &key, &pol, NOW, CDT_JWT_OK,
	      "A24 jku/x5u are ignored (never fetched): our own signature "
	      "still decides");
	free(t);
	/* A25: expired and signed with the wrong key. */
	unsigned char other[32];
	memset(other, 0x42, sizeof(other));
	struct cdt_jwt_key wrong;
	memset(&wrong, 0, sizeof(wrong));
	cdt_jwt_key_hs256(&wrong, other, sizeof(other), NULL);
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":\"cdt\","
		     "\"exp\":%d,\"iat\":%d}", NOW - 1000, NOW - 2000);
	t = mk(&wrong, hdr_ok, b.buf);
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_SIGNATURE,
	      "A25 expired and forged: signature, not expired");
	CLASS(t, &wrong, &pol, NOW, CDT_JWT_E_EXPIRED,
	      "A25 the same token under its own key: expired");
	free(t);
	t = mk(&wrong, hdr_ok, "0");
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_SIGNATURE,
	      "a forged token never reaches the claims parser");
	free(t);
	cdt_jwt_key_release(&wrong);
	/* A26 */
	cdt_buf_reset(&b);
	cdt_buf_addstr(&b, "eyJhbGciOiJIUzI1NiJ9.");
	while (b.len < (1 << 20))
		cdt_buf_addstr(&b, "AAAAAAAA");
	cdt_buf_addstr(&b, ".AAAA");
	CLASS(b.buf, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A26 a 1 MiB token");
	cdt_buf_reset(&b);
	for (int i = 0; i < 10000; i++)
		cdt_buf_addch(&b, '[');
	for (int i = 0; i < 10000; i++)
		cdt_buf_addch(&b, ']');
	t = tok_with(b.buf);
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A26 10k nested arrays: refused on size (%zu bytes)",
	      strlen(t));
	free(t);
	cdt_buf_reset(&b);
	cdt_buf_addstr(&b, "{\"iss\":\"cdt-auth\",\"sub\":\"u1\",\"aud\":\"cdt\","
		       "\"x\":");
	for (int i = 0; i < 2000; i++)
		cdt_buf_addch(&b, '[');
	for (int i = 0; i < 2000; i++)
		cdt_buf_addch(&b, ']');
	cdt_buf_addf(&b, ",\"exp\":%d,\"iat\":%d}", NOW + 900, NOW);
	t = tok_with(b.buf);
	ok(strlen(t) <= CDT_JWT_MAX, "2000 nested arrays fit the size cap");
	CLASS(t, &key, &pol, NOW, CDT_JWT_E_MALFORMED,
	      "A26 2000 nested arrays: refused on depth");
	free(t);
	cdt_buf_release(&b);
	free(p);
}

static void
test_sign(void)
{
	jv c = jv_object();
	c = jv_object_set(c, jv_string("iss"), jv_string("cdt-auth"));
	c = jv_object_set(c, jv_string("sub"), jv_string("u1"));
	c = jv_object_set(c, jv_string("aud"), jv_string("cdt"));
	c = jv_object_set(c, jv_string("exp"), jv_number(NOW + 900));
	c = jv_object_set(c, jv_string("iat"), jv_number(NOW));
	struct cdt_buf b = CDT_BUF_INIT;
	ok(cdt_jwt_sign(&kkey, "at+jwt", c, &b) == 0, "sign");
	jv out = jv_invalid();
	const char *why = NULL;
	is_int(cdt_jwt_verify(&kkey, b.buf, b.len, &pol, NOW, &out, &why),
	       CDT_JWT_OK, "what we sign, we verify");
	jv s = jv_object_get(out, jv_string("sub"));
	is_str(jv_get_kind(s) == JV_KIND_STRING ? jv_string_value(s) : NULL,
	       "u1", "the claims come back");
	jv_free(s);
	is_int(cdt_jwt_verify(&key, b.buf, b.len, &pol, NOW, NULL, NULL),
	       CDT_JWT_E_SIGNATURE, "a kid the verifying key lacks");
	cdt_buf_release(&b);
	struct cdt_jwt_key k;
	memset(&k, 0, sizeof(k));
	is_int(cdt_jwt_key_hs256(&k, "short", 5, NULL), EX_SOFTWARE,
	       "an HS256 secret under 32 bytes is refused");
}

int
main(void)
{
	unsigned char k[64];
	unhex(rfc_key_hex, k, sizeof(k));
	memset(&key, 0, sizeof(key));
	memset(&kkey, 0, sizeof(kkey));
	cdt_jwt_key_hs256(&key, k, sizeof(k), NULL);
	cdt_jwt_key_hs256(&kkey, k, sizeof(k), "k1");
	test_b64url();
	test_hmac();
	test_json();
	test_rfc();
	test_a1_a3();
	test_a4_a7();
	test_a8_a12();
	test_a13_a17();
	test_a18_a21();
	test_a22_a26();
	test_sign();
	cdt_jwt_key_release(&key);
	cdt_jwt_key_release(&kkey);
	return done_testing();
}
