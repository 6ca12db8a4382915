/* Unit tests for lib/hash: SHA-256 vectors, streaming, random, UUIDv4. */
#include "compat.h"
#include "hash.h"
#include "tap.h"

/* FIPS 180-2 appendix B vectors. */
static const struct {
	const char *in;
	const char *hex;
} vec[] = {
	{ "",
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abc",
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

static void
test_vectors(void)
{
	char hex[CDT_SHA256_HEX_LEN + 1];

	for (size_t i = 0; i < CDT_ARRAY_SIZE(vec); i++) {
		memset(hex, 'x', sizeof(hex));
		cdt_sha256_hex(vec[i].in, strlen(vec[i].in), hex);
		is_str(hex, vec[i].hex, "sha256 of '%.10s' (%zu bytes)",
		       vec[i].in, strlen(vec[i].in));
	}
}

static void
test_million_a(void)
{
	char chunk[1000];
	char hex[CDT_SHA256_HEX_LEN + 1];
	struct cdt_sha256 s;

	memset(chunk, 'a', sizeof(chunk));
	cdt_sha256_init(&s);
	for (int i = 0; i < 1000; i++)
		cdt_sha256_update(&s, chunk, sizeof(chunk));
	cdt_sha256_final_hex(&s, hex);
	is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67"
	       "f1809a48a497200e046d39ccc7112cd0",
	       "sha256 of one million 'a' (FIPS 180-2 B.3), streamed");
	ok(s.ctx == NULL, "final_hex releases the context");
	cdt_sha256_release(&s);
	ok(s.ctx == NULL, "release after final is harmless");
}

static void
test_streaming_chunks(void)
{
	static const size_t sizes[] = { 1, 3, 7, 63, 64, 65, 127, 1000 };
	size_t len = 10007;
	unsigned char *data = malloc(len);
	char one[CDT_SHA256_HEX_LEN + 1];

	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 131 + (i >> 7));
	cdt_sha256_hex(data, len, one);
	for (size_t k = 0; k < CDT_ARRAY_SIZE(sizes); k++) {
		char hex[CDT_SHA256_HEX_LEN + 1];
		struct cdt_sha256 s;
		size_t off = 0;

		cdt_sha256_init(&s);
		cdt_sha256_update(&s, data, 0);
		while (off < len) {
			size_t n = len - off < sizes[k] ? len - off : sizes[k];
			cdt_sha256_update(&s, data + off, n);
			off += n;
		}
		cdt_sha256_final_hex(&s, hex);
		is_str(hex, one, "chunks of %zu equal one-shot", sizes[k]);
	}
	free(data);

	struct cdt_sha256 s;
	cdt_sha256_init(&s);
	cdt_sha256_update(&s, "abandoned", 9);
	cdt_sha256_release(&s);
	ok(s.ctx == NULL, "release abandons a digest in progress");
}

static bool
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool
uuid_shape(const char *u, const char **why)
{
	if (strlen(u) != CDT_UUID_LEN)
		return *why = "length", false;
	for (size_t i = 0; i < CDT_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? u[i] != '-' : !is_lower_hex(u[i]))
			return *why = "character", false;
	}
	if (u[14] != '4')
		return *why = "version nibble", false;
	if (!strchr("89ab", u[19]))
		return *why = "variant", false;
	return true;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_uuid(void)
{
	enum { N = 1000 };
	char (*ids)[CDT_UUID_LEN + 1] = calloc(N, sizeof(*ids));
	int bad = 0, failed = 0, dups = 0;
	const char *why = "";
	int variants[4] = { 0 };

	for (int i = 0; i < N; i++) {
		if (cdt_uuid4(ids[i]))
			failed++;
		if (!uuid_shape(ids[i], &why)) {
			if (!bad)
				diag("bad uuid '%s': %s", ids[i], why);
			bad++;
		} else {
			variants[strchr("89ab", ids[i][19]) - "89ab"]++;
		}
	}
	/* The checker itself must tell a bad id from a good one. */
	ok(!uuid_shape("0b9f5d2e-7c1a-1e3b-9f4d-2a6c8e1b3d5f", &why) &&
	   !uuid_shape("0b9f5d2e-7c1a-4e3b-cf4d-2a6c8e1b3d5f", &why) &&
	   !uuid_shape("0B9F5D2E-7C1A-4E3B-9F4D-2A6C8E1B3D5F", &why) &&
	   !uuid_shape("0b9f5d2e7c1a4e3b9f4d2a6c8e1b3d5f", &why) &&
	   uuid_shape("0b9f5d2e-7c1a-4e3b-bf4d-2a6c8e1b3d5f", &why),
	   "the uuid shape check rejects version 1, variant c, upper case, "
	   "no dashes");
	is_int(failed, 0, "cdt_uuid4 returned 0 %d times", N);
	is_int(bad, 0, "every uuid is 36 chars, lowercase, version 4, "
	       "variant 8/9/a/b");
	qsort(ids, N, sizeof(*ids), cmp_str);
	for (int i = 1; i < N; i++)
		if (!strcmp(ids[i - 1], ids[i]))
			dups++;
	is_int(dups, 0, "%d uuids are distinct", N);
	/* 1000 draws over 4 variants: each turns up (p of failing ~1e-125). */
	ok(variants[0] && variants[1] && variants[2] && variants[3],
	   "all four variant digits occur (%d %d %d %d)",
	   variants[0], variants[1], variants[2], variants[3]);
	free(ids);
}

static void
test_random(void)
{
	unsigned char a[4096], b[4096];
	int zero = 0;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	is_int(cdt_random_bytes(a, sizeof(a)), 0, "random 4096 bytes");
	is_int(cdt_random_bytes(b, sizeof(b)), 0, "random again");
	ok(memcmp(a, b, sizeof(a)) != 0, "two draws differ");
	for (size_t i = 0; i < sizeof(a); i++)
		zero += a[i] == 0;
	/* Expect 16 zero bytes; 100 would mean the buffer was not filled. */
	ok(zero < 100, "random bytes are not mostly zero (%d of 4096)", zero);
	is_int(cdt_random_bytes(a, 0), 0, "zero bytes asked, none given");
}

int
main(void)
{
	test_vectors();
	test_million_a();
	test_streaming_chunks();
	test_uuid();
	test_random();
	return done_testing();
}
