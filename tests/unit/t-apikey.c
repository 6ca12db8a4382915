/*
 * Unit tests for lib/apikey: the key format and its checksum, parsing
 * before any lookup, HMAC-SHA256 (RFC 4231) and the constant-time
 * compare with its dummy for unknown ids.
 */
#include "compat.h"
#include "apikey.h"
#include "tap.h"

static void
test_crc(void)
{
	is_int(cdt_apikey_crc32("123456789", 9), 0xcbf43926u,
	       "CRC-32 check value");
	is_int(cdt_apikey_crc32("", 0), 0, "CRC-32 of nothing");
}

static void
test_new_parse(void)
{
	struct cdt_apikey k, p;
	char key[CDT_APIKEY_LEN + 1];
	const char *why = NULL;
	is_int(cdt_apikey_new(&k, key), 0, "a new key");
	is_int(strlen(key), CDT_APIKEY_LEN, "69 characters");
	ok(!strncmp(key, "cdt_sk_", 7) && key[19] == '_',
	   "cdt_sk_<id>_<secret><crc>");
	ok(!strncmp(key + 7, k.id, 12) && !strncmp(key + 20, k.secret, 43),
	   "id and secret in place");
	ok(cdt_apikey_looks_like(key, strlen(key)), "looks like a key");
	ok(!cdt_apikey_looks_like("eyJhbGciOi", 10), "a JWT does not");
	is_int(cdt_apikey_parse(key, strlen(key), &p, &why), 0, "parses");
	ok(!strcmp(p.id, k.id) && !strcmp(p.secret, k.secret),
	   "parse gives back id and secret");

	int refused = 0;
	for (size_t i = 7; i < CDT_APIKEY_LEN; i++) {
		if (i == 19)
			continue;
		char bad[CDT_APIKEY_LEN + 1];
		memcpy(bad, key, sizeof(bad));
		bad[i] = bad[i] == 'a' ? 'b' : 'a';
		if (cdt_apikey_parse(bad, strlen(bad), &p, &why) ==
		    EX_DATAERR)
			refused++;
	}
	is_int(refused, CDT_APIKEY_LEN - 8,
	       "every one-character change fails the checksum");
	char two[CDT_APIKEY_LEN + 1];
	memcpy(two, key, sizeof(two));
	char t = two[25];
	two[25] = two[26];
	two[26] = t;
	if (two[25] != two[26])
		is_int(cdt_apikey_parse(two, strlen(two), &p, &why),
		       EX_DATAERR, "two characters swapped fail (%s)", why);
	else
		ok(1, "two equal characters swapped: same key");
	static const char *const bad[] = {
		"", "cdt_sk_", "cdt_rt_abc",
		"cdt_sk_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"cdt_sk_AAAAAAAAAAAA-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"cdt_sk_AAAAAAAAAAA!_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(bad); i++) {
		why = NULL;
		is_int(cdt_apikey_parse(bad[i], strlen(bad[i]), &p, &why),
		       EX_DATAERR, "refused: '%s' (%s)", bad[i],
		       why ? why : "");
	}
	char longer[CDT_APIKEY_LEN + 2];
	snprintf(longer, sizeof(longer), "%sx", key);
	is_int(cdt_apikey_parse(longer, strlen(longer), &p, &why), EX_DATAERR,
	       "a character too many");
	is_int(cdt_apikey_parse(key, strlen(key) - 1, &p, &why), EX_DATAERR,
	       "a character too few");

	/* 500 keys: all distinct, and every base62 digit shows up. */
	static char seen[500][CDT_APIKEY_LEN + 1];
	int dup = 0;
	bool used[128] = { false };
	for (int i = 0; i < 500; i++) {
		cdt_apikey_new(&k, seen[i]);
		for (int j = 0; j < i; j++)
			if (!strcmp(seen[i], seen[j]))
				dup++;
		for (size_t c = 20; c < 63; c++)
			used[(unsigned char)seen[i][c]] = true;
	}
	is_int(dup, 0, "500 keys, no two alike");
	int n = 0;
	for (int c = 0; c < 128; c++)
		n += used[c];
	is_int(n, 62, "secrets use all 62 digits");
	cdt_apikey_wipe(&k);
	ok(k.secret[0] == 0 && k.id[0] == 0, "wipe clears the key");
}

static void
test_mac(void)
{
	char hex[CDT_APIKEY_MAC_HEX + 1];
	unsigned char k1[20];
	memset(k1, 0x0b, sizeof(k1));
	cdt_apikey_mac(k1, sizeof(k1), "Hi There", hex);
	is_str(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	       "RFC 4231 TC1");
	cdt_apikey_mac("Jefe", 4, "what do ya want for nothing?", hex);
	is_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	       "RFC 4231 TC2");
	char other[CDT_APIKEY_MAC_HEX + 1];
	cdt_apikey_mac("Jefe", 4, "what do ya want for nothing!", other);
	ok(cdt_apikey_mac_equal(hex, hex), "equal MACs are equal");
	ok(!cdt_apikey_mac_equal(hex, other), "different MACs are not");
	ok(!cdt_apikey_mac_equal(NULL, hex), "unknown id: the dummy never "
	   "matches");
	ok(!cdt_apikey_mac_equal("zz", hex), "a broken stored value never "
	   "matches");
	char upper[CDT_APIKEY_MAC_HEX + 1];
	memcpy(upper, hex, sizeof(upper));
	upper[0] = 'A';
	ok(!cdt_apikey_mac_equal(upper, upper), "not lowercase hex: no match");
}

int
main(void)
{
	test_crc();
	test_new_parse();
	test_mac();
	return done_testing();
}
