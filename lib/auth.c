#include "compat.h"
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "auth.h"
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "hash.h"
#include "log.h"
#include "passwd.h"
#include "record.h"
#include "store.h"

#define KEY_FILE_MAX 256
#define SAVED_MAX (64 * 1024)
#define RT_PREFIX "cdt_rt_"
#define RT_LEN (7 + 43)

static const char *const role_names[] = {
	"analyst", "billing-admin", "developer", "project-lead", "team-admin",
	"org-admin",
};

enum cdt_role
cdt_role_parse(const char *name)
{
	for (size_t i = 0; name && i < CDT_ARRAY_SIZE(role_names); i++)
		if (!strcmp(name, role_names[i]))
			return (enum cdt_role)i;
	return CDT_ROLE_NONE;
}

const char *
cdt_role_name(enum cdt_role r)
{
	return r >= 0 && (size_t)r < CDT_ARRAY_SIZE(role_names) ?
		role_names[r] : "none";
}

int
cdt_role_rank(enum cdt_role r)
{
	switch (r) {
	case CDT_ROLE_ORG_ADMIN: return 4;
	case CDT_ROLE_TEAM_ADMIN: return 3;
	case CDT_ROLE_PROJECT_LEAD: return 2;
	case CDT_ROLE_DEVELOPER: return 1;
	case CDT_ROLE_ANALYST:
	case CDT_ROLE_BILLING_ADMIN: return 0;
	default: return -1;
	}
}

int64_t
cdt_auth_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
cdt_auth_time_str(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
cdt_auth_init(struct cdt_auth *a, struct cdt_store *st,
	      const struct cdt_cfg *cfg)
{
	memset(a, 0, sizeof(*a));
	a->st = st;
	a->cfg = cfg;
	a->access_ttl_ms = cfg ? cdt_cfg_duration_ms(cfg, "auth.access_ttl",
						     CDT_AUTH_ACCESS_TTL_MS) :
		CDT_AUTH_ACCESS_TTL_MS;
	a->refresh_ttl_ms = cfg ? cdt_cfg_duration_ms(cfg, "auth.refresh_ttl",
						      CDT_AUTH_REFRESH_TTL_MS) :
		CDT_AUTH_REFRESH_TTL_MS;
	if (a->access_ttl_ms < 1000)
		a->access_ttl_ms = 1000;
}

void
cdt_auth_release(struct cdt_auth *a)
{
	cdt_jwt_key_release(&a->key);
	OPENSSL_cleanse(a->pepper, sizeof(a->pepper));
	a->have_key = false;
	a->have_pepper = false;
}

/* ---- small store helpers --------------------------------------------- */

static jv
sv(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

/* The first row of a query (jv_null() when none); *rc its status. */
static jv
one(struct cdt_store *st, int *rc, const char *sql, jv params)
{
	jv rows = jv_invalid();
	*rc = cdt_store_exec(st, sql, params, &rows);
	if (*rc)
		return jv_null();
	jv r = jv_array_length(jv_copy(rows)) > 0 ?
		jv_array_get(jv_copy(rows), 0) : jv_null();
	jv_free(rows);
	return r;
}

static int64_t
num(jv row, const char *key, int64_t def)
{
	if (jv_get_kind(row) != JV_KIND_OBJECT)
		return def;
	jv v = jv_object_get(jv_copy(row), jv_string(key));
	int64_t n = jv_get_kind(v) == JV_KIND_NUMBER ?
		(int64_t)jv_number_value(v) : def;
	jv_free(v);
	return n;
}

static const char *
str(jv row, const char *key)
{
	return jv_get_kind(row) == JV_KIND_OBJECT ?
		cdt_record_str(row, key) : NULL;
}

/* ---- names ------------------------------------------------------------- */

int
cdt_auth_check_name(const char *what, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	bool ok = n >= 1 && n <= CDT_AUTH_NAME_MAX &&
		((name[0] >= 'a' && name[0] <= 'z') ||
		 (name[0] >= '0' && name[0] <= '9'));
	for (size_t i = 1; ok && i < n; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') ||
			(name[i] >= '0' && name[i] <= '9') || name[i] == '-';
	if (!ok)
		return cdt_err(EX_DATAERR, "bad %s name '%s': use lowercase "
			       "letters, digits and '-' (at most 63, not "
			       "starting with '-')", what, name ? name : "");
	return 0;
}

int
cdt_auth_email(const char *in, char out[CDT_AUTH_EMAIL_MAX + 1])
{
	size_t n = in ? strlen(in) : 0;
	const char *at = in ? strchr(in, '@') : NULL;
	bool ok = n >= 3 && n <= CDT_AUTH_EMAIL_MAX && at && at != in &&
		at[1] && !strchr(at + 1, '@');
	for (size_t i = 0; ok && i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		ok = c > 0x20 && c < 0x7f && c != '"' && c != '\\';
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (!ok) {
		out[0] = '\0';
		return cdt_err(EX_DATAERR, "bad email '%s'", in ? in : "");
	}
	out[n] = '\0';
	return 0;
}

/* ---- key files ----------------------------------------------------------- */

static char *
key_path(const struct cdt_auth *a, const char *cfgkey, const char *base,
	 bool *dflt)
{
	const char *p = a->cfg ? cdt_cfg_str(a->cfg, cfgkey, NULL) : NULL;
	*dflt = !p;
	if (p)
		return cdt_xstrdup(p);
	const char *home = cdt_cfg_home();
	if (!home)
		return NULL;
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "%s/keys/%s", home, base);
	return cdt_buf_detach(&b, NULL);
}

/* A secret file must be ours and private (DESIGN §5). */
static int
check_private(const char *path, const struct stat *st, bool dir)
{
	if (!dir && !S_ISREG(st->st_mode))
		return cdt_err_class(EX_CONFIG, "config", "'%s' is not a "
				     "regular file", path);
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return cdt_err_class(EX_CONFIG, "config", "'%s' has unsafe "
				     "permissions %04o: it holds secret keys, "
				     "so chmod %s it", path,
				     (unsigned)(st->st_mode & 07777),
				     dir ? "700" : "600");
	if (st->st_uid != geteuid())
		return cdt_err_class(EX_CONFIG, "config", "'%s' has unsafe "
				     "permissions: owned by uid %u, not you",
				     path, (unsigned)st->st_uid);
	return 0;
}

static int
unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n / 2; i++) {
		int v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[2 * i + (size_t)j];
			int d = c >= '0' && c <= '9' ? c - '0' :
				c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				return -1;
			v = v << 4 | d;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* 0 with the key, 0 with *missing, or 78 reported. */
static int
read_key_file(const char *path, unsigned char key[32], bool *missing)
{
	char text[KEY_FILE_MAX];
	struct stat st;
	size_t n = 0;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	*missing = false;
	if (fd < 0) {
		if (errno == ENOENT) {
			*missing = true;
			return 0;
		}
		return cdt_err_errno(EX_CONFIG, "cannot read the key file '%s'",
				     path);
	}
	if (fstat(fd, &st) < 0) {
		rc = cdt_err_errno(EX_CONFIG, "cannot stat '%s'", path);
		goto out;
	}
	rc = check_private(path, &st, false);
	if (rc)
		goto out;
	for (;;) {
		ssize_t r = read(fd, text + n, sizeof(text) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = cdt_err_errno(EX_CONFIG, "cannot read '%s'", path);
			goto out;
		}
		if (r == 0 || (n += (size_t)r) >= sizeof(text) - 1)
			break;
	}
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
		     text[n - 1] == ' '))
		n--;
	if (n != 64 || unhex(text, 64, key))
		rc = cdt_err_class(EX_CONFIG, "config", "'%s' is not a key "
				   "file (64 hex digits)", path);
out:
	OPENSSL_cleanse(text, sizeof(text));
	close(fd);
	return rc;
}

static int
mkdir_private(const char *path)
{
	struct stat st;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return cdt_err_errno(EX_CANTCREAT, "cannot create '%s'", path);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return cdt_err(EX_CANTCREAT, "cannot create '%s': not a "
			       "directory", path);
	return 0;
}

/*
 * Make a key file: a private temp file beside it, linked into place, so
 * two first runs at once end up agreeing on whichever linked first.
 */
static int
create_key_file(const char *path, bool dflt)
{
	struct cdt_buf tmp = CDT_BUF_INIT;
	unsigned char key[32];
	char hex[66];
	int fd = -1;
	int rc = 0;

	if (dflt) {
		const char *home = cdt_cfg_home();
		struct cdt_buf d = CDT_BUF_INIT;
		struct stat st;
		cdt_buf_addf(&d, "%s/keys", home);
		rc = mkdir_private(home);
		if (!rc)
			rc = mkdir_private(d.buf);
		if (!rc && stat(d.buf, &st) == 0)
			rc = check_private(d.buf, &st, true);
		cdt_buf_release(&d);
		if (rc)
			return rc;
	}
	rc = cdt_random_bytes(key, sizeof(key));
	if (rc)
		return rc;
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[64] = '\n';
	hex[65] = '\0';
	OPENSSL_cleanse(key, sizeof(key));
	unsigned char r[6];
	rc = cdt_random_bytes(r, sizeof(r));
	if (rc)
		goto out;
	cdt_buf_addf(&tmp, "%s.tmp.%ld.%02x%02x%02x%02x%02x%02x", path,
		     (long)getpid(), r[0], r[1], r[2], r[3], r[4], r[5]);
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = cdt_err_errno(EX_CANTCREAT, "cannot create the key file "
				   "'%s'", path);
		goto out;
	}
	if (write(fd, hex, 65) != 65 || fsync(fd) < 0) {
		rc = cdt_err_errno(EX_IOERR, "cannot write '%s'", tmp.buf);
		goto out;
	}
	if (link(tmp.buf, path) < 0 && errno != EEXIST)
		rc = cdt_err_errno(EX_CANTCREAT, "cannot create the key file "
				   "'%s'", path);
out:
	OPENSSL_cleanse(hex, sizeof(hex));
	if (fd >= 0) {
		close(fd);
		unlink(tmp.buf);
	}
	cdt_buf_release(&tmp);
	return rc;
}

/* SHA-256 of a key in hex, without starting OpenSSL's EVP (jwt.h). */
static void
fingerprint(const unsigned char key[32], char hex[CDT_SHA256_HEX_LEN + 1])
{
	unsigned char d[32];
	cdt_jwt_sha256(key, 32, d);
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static int
meta_get(struct cdt_store *st, const char *key, char *out, size_t len)
{
	int rc;
	jv r = one(st, &rc, "SELECT value FROM meta WHERE key = ?",
		   JV_ARRAY(jv_string(key)));
	out[0] = '\0';
	if (!rc && str(r, "value"))
		snprintf(out, len, "%s", str(r, "value"));
	jv_free(r);
	return rc;
}

/* Record value under key unless one is there; *now the stored value. */
static int
meta_claim(struct cdt_store *st, const char *key, const char *value,
	   char *now, size_t len)
{
	int rc = cdt_store_exec(st, "INSERT INTO meta (key, value) VALUES "
				"(?, ?) ON CONFLICT (key) DO NOTHING",
				JV_ARRAY(jv_string(key), jv_string(value)),
				NULL);
	if (!rc)
		rc = meta_get(st, key, now, len);
	return rc;
}

static int
load_one(struct cdt_auth *a, bool signing, bool create,
	 unsigned char key[32], bool *have)
{
	const char *cfgkey = signing ? "auth.signing_key_file" :
		"auth.pepper_file";
	const char *metakey = signing ? "auth.signing_key_sha256" :
		"auth.pepper_sha256";
	const char *what = signing ? "signing key" : "API-key pepper";
	char stored[80], fp[CDT_SHA256_HEX_LEN + 1];
	bool dflt, missing;
	int rc;
	char *path = key_path(a, cfgkey, signing ? "signing.key" :
			      "pepper.key", &dflt);

	*have = false;
	if (!path)
		return cdt_err(EX_CONFIG, "no home for the key files: set "
			       "CDT_HOME or HOME");
	rc = meta_get(a->st, metakey, stored, sizeof(stored));
	if (!rc && dflt) {
		/* The default directory must be private too (0700). */
		struct stat st;
		char *slash = strrchr(path, '/');
		*slash = '\0';
		if (stat(path, &st) == 0)
			rc = check_private(path, &st, true);
		*slash = '/';
	}
	if (!rc)
		rc = read_key_file(path, key, &missing);
	if (!rc && missing && create) {
		rc = create_key_file(path, dflt);
		if (!rc)
			rc = read_key_file(path, key, &missing);
	}
	if (rc)
		goto out;
	if (missing) {
		if (stored[0])
			rc = cdt_err_class(EX_CONFIG, "config", "%s does not "
					   "match the store '%s': '%s' is "
					   "missing (copy the key files of the "
					   "machine that set the store up)",
					   what, cdt_store_name(a->st), path);
		goto out;
	}
	fingerprint(key, fp);
	if (!stored[0] && create)
		rc = meta_claim(a->st, metakey, fp, stored, sizeof(stored));
	if (rc)
		goto out;
	if (stored[0] && strcmp(stored, fp)) {
		rc = cdt_err_class(EX_CONFIG, "config", "%s does not match the "
				   "store '%s': '%s' is not the key the store "
				   "was set up with", what,
				   cdt_store_name(a->st), path);
		goto out;
	}
	*have = true;
out:
	free(path);
	return rc;
}

int
cdt_auth_keys(struct cdt_auth *a, unsigned flags)
{
	bool create = flags & CDT_AUTH_CREATE;
	unsigned char k[32];
	int rc = 0;

	if ((flags & CDT_AUTH_SIGNING) && !a->have_key) {
		bool have = false;
		rc = load_one(a, true, create, k, &have);
		if (!rc && have) {
			char fp[CDT_SHA256_HEX_LEN + 1], type[16];
			char kid[17];
			fingerprint(k, fp);
			memcpy(kid, fp, 16);
			kid[16] = '\0';
			rc = meta_get(a->st, "auth.key_type", type,
				      sizeof(type));
			if (!rc && !type[0] && create) {
				const char *want = a->cfg ?
					cdt_cfg_str(a->cfg, "auth.key_type",
						    "hs256") : "hs256";
				rc = meta_claim(a->st, "auth.key_type", want,
						type, sizeof(type));
			}
			if (!rc)
				rc = strcmp(type, "eddsa") ?
					cdt_jwt_key_hs256(&a->key, k, 32, kid) :
					cdt_jwt_key_ed25519(&a->key, k, kid);
			if (rc == EX_SOFTWARE)
				rc = cdt_err(EX_SOFTWARE, "cannot set up the "
					     "signing key");
			a->have_key = !rc;
		}
		OPENSSL_cleanse(k, sizeof(k));
		if (rc)
			return rc;
	}
	if ((flags & CDT_AUTH_PEPPER) && !a->have_pepper) {
		bool have = false;
		rc = load_one(a, false, create, a->pepper, &have);
		a->have_pepper = !rc && have;
	}
	return rc;
}

/* ---- audit ---------------------------------------------------------------- */

int
cdt_auth_audit(struct cdt_auth *a, const char *actor, const char *org_id,
	       const char *event, jv detail)
{
	return cdt_store_exec(a->st, "INSERT INTO audit (ts, actor, org_id, "
			      "event, detail) VALUES (?, ?, ?, ?, ?)",
			      JV_ARRAY(jv_number((double)cdt_auth_now_ms()),
				       sv(actor), sv(org_id),
				       jv_string(event), detail), NULL);
}

/* ---- issuing credentials ------------------------------------------------ */

bool
cdt_auth_is_refresh_token(const char *s)
{
	return s && strlen(s) == RT_LEN && !strncmp(s, RT_PREFIX, 7);
}

static int
new_refresh_token(char out[RT_LEN + 1])
{
	unsigned char r[32];
	struct cdt_buf b = CDT_BUF_INIT;
	int rc = cdt_random_bytes(r, sizeof(r));
	if (!rc) {
		cdt_buf_addstr(&b, RT_PREFIX);
		cdt_jwt_b64url_encode(r, sizeof(r), &b);
		memcpy(out, b.buf, RT_LEN + 1);
	}
	OPENSSL_cleanse(r, sizeof(r));
	cdt_buf_release_secret(&b);
	return rc;
}

/* The user's team in org: a team grant first, else the oldest team. */
static jv
default_team(struct cdt_auth *a, int *rc, const char *user_id,
	     const char *org_id)
{
	jv r = one(a->st, rc, "SELECT t.id, t.name FROM teams t WHERE "
		   "t.org_id = ? ORDER BY CASE WHEN t.id IN (SELECT team_id "
		   "FROM memberships WHERE user_id = ? AND org_id = ? AND "
		   "team_id IS NOT NULL) THEN 0 ELSE 1 END, t.created_at, "
		   "t.name LIMIT 1",
		   JV_ARRAY(jv_string(org_id), jv_string(user_id),
			    jv_string(org_id)));
	if (!*rc && jv_get_kind(r) != JV_KIND_OBJECT)
		*rc = cdt_err(EX_NOINPUT, "the org has no team");
	return r;
}

int
cdt_auth_issue(struct cdt_auth *a, const char *user_id, const char *org_id,
	       const char *team_id, const char *family, jv *cred)
{
	char fam[CDT_UUID_LEN + 1], jti[CDT_UUID_LEN + 1];
	char rt[RT_LEN + 1], sha[CDT_SHA256_HEX_LEN + 1], sid[17];
	char exp_s[32];
	struct cdt_buf tok = CDT_BUF_INIT;
	jv u = jv_null(), t = jv_null(), roles = jv_invalid();
	jv rows = jv_invalid();
	int rc;

	*cred = jv_invalid();
	rc = cdt_auth_keys(a, CDT_AUTH_SIGNING);
	if (!rc && !a->have_key)
		rc = cdt_err(EX_CONFIG, "no signing key: run 'cdt-auth init'");
	if (rc)
		return rc;
	u = one(a->st, &rc, "SELECT u.email, o.name AS org FROM users u, "
		"orgs o WHERE u.id = ? AND o.id = ?",
		JV_ARRAY(jv_string(user_id), jv_string(org_id)));
	if (!rc && jv_get_kind(u) != JV_KIND_OBJECT)
		rc = cdt_err(EX_NOINPUT, "no such user or org");
	if (rc)
		goto out;
	if (team_id)
		t = one(a->st, &rc, "SELECT id, name FROM teams WHERE id = ? "
			"AND org_id = ?",
			JV_ARRAY(jv_string(team_id), jv_string(org_id)));
	else
		t = default_team(a, &rc, user_id, org_id);
	if (!rc && jv_get_kind(t) != JV_KIND_OBJECT)
		rc = cdt_err(EX_NOINPUT, "no such team");
	if (rc)
		goto out;
	rc = cdt_store_exec(a->st, "SELECT DISTINCT role FROM memberships "
			    "WHERE user_id = ? AND org_id = ? AND (team_id IS "
			    "NULL OR team_id = ?) ORDER BY role",
			    JV_ARRAY(jv_string(user_id), jv_string(org_id),
				     jv_string(str(t, "id"))), &rows);
	if (rc)
		goto out;
	roles = jv_array();
	jv_array_foreach(rows, i, r) {
		roles = jv_array_append(roles, jv_string(str(r, "role")));
		jv_free(r);
	}
	if (!family) {
		rc = cdt_uuid4(fam);
		family = fam;
	}
	if (!rc)
		rc = cdt_uuid4(jti);
	if (!rc)
		rc = new_refresh_token(rt);
	if (rc)
		goto out;
	cdt_sha256_hex(rt, RT_LEN, sha);
	memcpy(sid, sha, 16);
	sid[16] = '\0';
	int64_t now = cdt_auth_now_ms();
	rc = cdt_store_exec(a->st, "INSERT INTO refresh_tokens (token_sha256, "
			    "family, user_id, org_id, team_id, created_at, "
			    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			    JV_ARRAY(jv_string(sha), jv_string(family),
				     jv_string(user_id), jv_string(org_id),
				     jv_string(str(t, "id")),
				     jv_number((double)now),
				     jv_number((double)(now +
							a->refresh_ttl_ms))),
			    NULL);
	if (rc)
		goto out;
	int64_t iat = now / 1000;
	int64_t exp = iat + a->access_ttl_ms / 1000;
	jv c = jv_object();
	c = jv_object_set(c, jv_string("iss"), jv_string(CDT_AUTH_ISSUER));
	c = jv_object_set(c, jv_string("aud"), jv_string(CDT_AUTH_AUDIENCE));
	c = jv_object_set(c, jv_string("sub"), jv_string(user_id));
	c = jv_object_set(c, jv_string("exp"), jv_number((double)exp));
	c = jv_object_set(c, jv_string("nbf"), jv_number((double)iat));
	c = jv_object_set(c, jv_string("iat"), jv_number((double)iat));
	c = jv_object_set(c, jv_string("jti"), jv_string(jti));
	c = jv_object_set(c, jv_string("org"), jv_string(org_id));
	c = jv_object_set(c, jv_string("team"), jv_string(str(t, "id")));
	c = jv_object_set(c, jv_string("roles"), jv_copy(roles));
	c = jv_object_set(c, jv_string("sid"), jv_string(sid));
	c = jv_object_set(c, jv_string("fam"), jv_string(family));
	rc = cdt_jwt_sign(&a->key, "at+jwt", c, &tok);
	if (rc) {
		rc = cdt_err(EX_SOFTWARE, "cannot sign the access token");
		goto out;
	}
	cdt_auth_time_str(exp * 1000, exp_s);
	const char *project = getenv("CDT_PROJECT");
	jv user = jv_object();
	user = jv_object_set(user, jv_string("id"), jv_string(user_id));
	user = jv_object_set(user, jv_string("email"),
			     jv_string(str(u, "email")));
	jv ten = jv_object();
	ten = jv_object_set(ten, jv_string("org"), jv_string(str(u, "org")));
	ten = jv_object_set(ten, jv_string("team"),
			    jv_string(str(t, "name")));
	ten = jv_object_set(ten, jv_string("user"), jv_string(user_id));
	ten = jv_object_set(ten, jv_string("project"),
			    project && *project ? jv_string(project) :
			    jv_null());
	ten = jv_object_set(ten, jv_string("org_id"), jv_string(org_id));
	ten = jv_object_set(ten, jv_string("team_id"),
			    jv_string(str(t, "id")));
	jv r = cdt_record_new("auth");
	r = jv_object_set(r, jv_string("token"), jv_string(tok.buf));
	r = jv_object_set(r, jv_string("expires_at"), jv_string(exp_s));
	r = jv_object_set(r, jv_string("user"), user);
	r = jv_object_set(r, jv_string("tenant"), ten);
	r = jv_object_set(r, jv_string("roles"), roles);
	roles = jv_invalid();
	r = jv_object_set(r, jv_string("refresh_token"), jv_string(rt));
	*cred = r;
out:
	OPENSSL_cleanse(rt, sizeof(rt));
	cdt_buf_release_secret(&tok);
	jv_free(rows);
	jv_free(roles);
	jv_free(u);
	jv_free(t);
	return rc;
}

/* ---- logins ------------------------------------------------------------- */

static int
login_refused(void)
{
	return cdt_err_class(EX_NOPERM, "auth", "login failed: wrong email "
			     "or password, or the account is locked for now");
}

/* The org a user's events belong to: the one named, else the first. */
static jv
user_org(struct cdt_auth *a, const char *user_id, const char *org)
{
	int rc;
	jv r;
	if (org)
		r = one(a->st, &rc, "SELECT o.id FROM orgs o JOIN memberships "
			"m ON m.org_id = o.id WHERE o.name = ? AND "
			"m.user_id = ? LIMIT 1",
			JV_ARRAY(jv_string(org), jv_string(user_id)));
	else
		r = one(a->st, &rc, "SELECT org_id AS id FROM memberships "
			"WHERE user_id = ? ORDER BY created_at, org_id LIMIT 1",
			JV_ARRAY(jv_string(user_id)));
	return r;
}

/* One more failure; the fifth locks the account. */
static void
count_failure(struct cdt_auth *a, const char *user_id, const char *email,
	      const char *org_id, const char *why)
{
	int rc = cdt_store_begin(a->st, CDT_TXN_WRITE);
	if (rc)
		return;
	int64_t now = cdt_auth_now_ms();
	rc = cdt_store_exec(a->st, "UPDATE users SET failed_logins = "
			    "failed_logins + 1, updated_at = ? WHERE id = ?",
			    JV_ARRAY(jv_number((double)now),
				     jv_string(user_id)), NULL);
	jv r = rc ? jv_null() :
		one(a->st, &rc, "SELECT failed_logins FROM users WHERE id = ?",
		    JV_ARRAY(jv_string(user_id)));
	if (!rc && num(r, "failed_logins", 0) >= CDT_AUTH_MAX_FAILURES) {
		rc = cdt_store_exec(a->st, "UPDATE users SET locked_until = ?, "
				    "failed_logins = 0 WHERE id = ?",
				    JV_ARRAY(jv_number((double)(now +
							CDT_AUTH_LOCK_MS)),
					     jv_string(user_id)), NULL);
		if (!rc)
			rc = cdt_auth_audit(a, user_id, org_id,
					    "account_locked",
					    JV_OBJECT(jv_string("email"),
						      jv_string(email)));
	}
	jv_free(r);
	if (!rc)
		rc = cdt_auth_audit(a, user_id, org_id, "login_failed",
				    JV_OBJECT(jv_string("email"),
					      jv_string(email),
					      jv_string("reason"),
					      jv_string(why)));
	if (!rc)
		cdt_store_commit(a->st);
	else
		cdt_store_rollback(a->st);
}

int
cdt_auth_login(struct cdt_auth *a, const char *email_in, const char *org,
	       const char *pw, size_t pwlen, jv *cred)
{
	char email[CDT_AUTH_EMAIL_MAX + 1];
	jv u = jv_null(), o = jv_null();
	const char *why = NULL;
	bool rehash = false;
	int rc;

	*cred = jv_invalid();
	cdt_err_quiet(true);
	rc = cdt_auth_email(email_in, email);
	cdt_err_quiet(false);
	if (rc) {
		cdt_passwd_dummy(pw, pwlen);
		return login_refused();
	}
	char org_id[64];
	rc = cdt_store_login_org(a->st, "email", email, org, org_id,
				 sizeof(org_id));
	if (rc)
		goto out;
	cdt_store_set_org(a->st, org_id);
	u = one(a->st, &rc, "SELECT id, password_hash, disabled, locked_until "
		"FROM users WHERE email = ?", JV_ARRAY(jv_string(email)));
	if (rc)
		goto out;
	int64_t now = cdt_auth_now_ms();
	const char *uid = str(u, "id");
	if (uid) {
		o = user_org(a, uid, org);
		if (!str(o, "id"))
			why = "not a member of that org";
	}
	/* Every refusal costs one Argon2id run, like a wrong password. */
	if (!uid)
		why = "unknown email";
	else if (num(u, "locked_until", 0) > now)
		why = "account locked";
	else if (num(u, "disabled", 0))
		why = "account disabled";
	else if (!str(u, "password_hash"))
		why = "no password set";
	if (why) {
		cdt_passwd_dummy(pw, pwlen);
		if (uid)
			count_failure(a, uid, email, str(o, "id"), why);
		else if (!cdt_auth_audit(a, NULL, NULL, "login_failed",
					 JV_OBJECT(jv_string("email"),
						   jv_string(email),
						   jv_string("reason"),
						   jv_string(why))))
			(void)0;
		rc = login_refused();
		goto out;
	}
	int v = cdt_passwd_verify(str(u, "password_hash"), pw, pwlen,
				  &rehash);
	if (v) {
		count_failure(a, uid, email, str(o, "id"), v == 1 ?
			      "wrong password" : "unreadable stored hash");
		rc = login_refused();
		goto out;
	}
	char phc[CDT_PASSWD_PHC_MAX] = "";
	if (rehash && cdt_passwd_hash(pw, pwlen, phc))
		phc[0] = '\0';
	rc = cdt_store_begin(a->st, CDT_TXN_WRITE);
	if (rc)
		goto out;
	/* Failures elsewhere may have locked it while we hashed. */
	jv again = one(a->st, &rc, "SELECT locked_until, disabled FROM users "
		       "WHERE id = ?", JV_ARRAY(jv_string(uid)));
	if (!rc && (num(again, "locked_until", 0) > now ||
		    num(again, "disabled", 0))) {
		jv_free(again);
		cdt_store_rollback(a->st);
		rc = login_refused();
		goto out;
	}
	jv_free(again);
	if (!rc && phc[0])
		rc = cdt_store_exec(a->st, "UPDATE users SET password_hash = ? "
				    "WHERE id = ?",
				    JV_ARRAY(jv_string(phc), jv_string(uid)),
				    NULL);
	if (!rc)
		rc = cdt_store_exec(a->st, "UPDATE users SET failed_logins = 0, "
				    "updated_at = ? WHERE id = ?",
				    JV_ARRAY(jv_number((double)now),
					     jv_string(uid)), NULL);
	if (!rc)
		rc = cdt_auth_issue(a, uid, str(o, "id"), NULL, NULL, cred);
	if (!rc)
		rc = cdt_auth_audit(a, uid, str(o, "id"), "login",
				    JV_OBJECT(jv_string("email"),
					      jv_string(email),
					      jv_string("rehashed"),
					      jv_bool(phc[0] != '\0')));
	if (!rc)
		rc = cdt_store_commit(a->st);
	else
		cdt_store_rollback(a->st);
	if (rc) {
		jv_free(*cred);
		*cred = jv_invalid();
	}
out:
	jv_free(u);
	jv_free(o);
	return rc;
}

int
cdt_auth_check_password(struct cdt_auth *a, const char *user_id,
			const char *pw, size_t len)
{
	int rc;
	jv u = one(a->st, &rc, "SELECT email, password_hash, locked_until "
		   "FROM users WHERE id = ?", JV_ARRAY(jv_string(user_id)));
	if (rc) {
		jv_free(u);
		return rc;
	}
	const char *why = NULL;
	if (num(u, "locked_until", 0) > cdt_auth_now_ms()) {
		cdt_passwd_dummy(pw, len);
		why = "account locked";
	} else if (cdt_passwd_verify(str(u, "password_hash"), pw, len,
				     NULL)) {
		why = "wrong password";
	}
	if (why) {
		jv o = user_org(a, user_id, NULL);
		count_failure(a, user_id, str(u, "email") ? str(u, "email") :
			      "", str(o, "id"), why);
		jv_free(o);
		rc = cdt_err_class(EX_NOPERM, "auth", "wrong password, or the "
				   "account is locked for now");
	}
	jv_free(u);
	return rc;
}

int
cdt_auth_revoke_user(struct cdt_auth *a, const char *user_id)
{
	return cdt_store_exec(a->st, "UPDATE refresh_tokens SET revoked_at = ? "
			      "WHERE user_id = ? AND revoked_at IS NULL",
			      JV_ARRAY(jv_number((double)cdt_auth_now_ms()),
				       jv_string(user_id)), NULL);
}

int
cdt_auth_set_password(struct cdt_auth *a, const char *user_id,
		      const char *pw, size_t len, const char *actor)
{
	char phc[CDT_PASSWD_PHC_MAX];
	const char *bad = cdt_passwd_check(pw, len);
	if (bad)
		return cdt_err(EX_DATAERR, "the new password is %s", bad);
	int rc = cdt_passwd_hash(pw, len, phc);
	if (rc)
		return rc;
	rc = cdt_store_begin(a->st, CDT_TXN_WRITE);
	if (rc)
		return rc;
	rc = cdt_store_exec(a->st, "UPDATE users SET password_hash = ?, "
			    "failed_logins = 0, locked_until = NULL, "
			    "updated_at = ? WHERE id = ?",
			    JV_ARRAY(jv_string(phc),
				     jv_number((double)cdt_auth_now_ms()),
				     jv_string(user_id)), NULL);
	if (!rc)
		rc = cdt_auth_revoke_user(a, user_id);
	if (!rc) {
		jv o = user_org(a, user_id, NULL);
		rc = cdt_auth_audit(a, actor, str(o, "id"), "password_changed",
				    JV_OBJECT(jv_string("user"),
					      jv_string(user_id)));
		jv_free(o);
	}
	if (!rc)
		return cdt_store_commit(a->st);
	cdt_store_rollback(a->st);
	return rc;
}

/* ---- refresh and logout ------------------------------------------------- */

static int
refresh_refused(void)
{
	return cdt_err_class(EX_NOPERM, "auth", "refresh token unknown, "
			     "expired or revoked: log in again");
}

int
cdt_auth_refresh(struct cdt_auth *a, const char *rt, jv *cred)
{
	char sha[CDT_SHA256_HEX_LEN + 1];
	jv r = jv_null();
	int rc;

	*cred = jv_invalid();
	if (!cdt_auth_is_refresh_token(rt))
		return refresh_refused();
	cdt_sha256_hex(rt, strlen(rt), sha);
	char org_id[64];
	rc = cdt_store_login_org(a->st, "refresh", sha, NULL, org_id,
				 sizeof(org_id));
	if (rc)
		return rc;
	cdt_store_set_org(a->st, org_id);
	rc = cdt_store_begin(a->st, CDT_TXN_WRITE);
	if (rc)
		return rc;
	r = one(a->st, &rc, "SELECT r.family, r.user_id, r.org_id, r.team_id, "
		"r.expires_at, r.used_at, r.revoked_at, u.disabled FROM "
		"refresh_tokens r JOIN users u ON u.id = r.user_id WHERE "
		"r.token_sha256 = ?", JV_ARRAY(jv_string(sha)));
	if (rc)
		goto out;
	int64_t now = cdt_auth_now_ms();
	if (jv_get_kind(r) != JV_KIND_OBJECT ||
	    num(r, "revoked_at", 0) || num(r, "disabled", 0)) {
		rc = refresh_refused();
		goto out;
	}
	if (num(r, "used_at", 0)) {
		/* Replay: whoever holds the family now is not to be trusted
		   (RFC 9700 §4.14.2), so all of it goes. */
		rc = cdt_store_exec(a->st, "UPDATE refresh_tokens SET "
				    "revoked_at = ? WHERE family = ? AND "
				    "revoked_at IS NULL",
				    JV_ARRAY(jv_number((double)now),
					     jv_string(str(r, "family"))),
				    NULL);
		if (!rc)
			rc = cdt_auth_audit(a, str(r, "user_id"),
					    str(r, "org_id"),
					    "refresh_token_reuse",
					    JV_OBJECT(jv_string("family"),
						      jv_string(str(r,
							    "family"))));
		if (!rc)
			rc = cdt_store_commit(a->st);
		if (!rc)
			rc = cdt_err_class(EX_NOPERM, "auth", "refresh token "
					   "used twice: that login is revoked "
					   "everywhere; log in again");
		goto out;
	}
	if (num(r, "expires_at", 0) <= now) {
		rc = refresh_refused();
		goto out;
	}
	rc = cdt_store_exec(a->st, "UPDATE refresh_tokens SET used_at = ? "
			    "WHERE token_sha256 = ? AND used_at IS NULL AND "
			    "revoked_at IS NULL",
			    JV_ARRAY(jv_number((double)now), jv_string(sha)),
			    NULL);
	if (!rc && cdt_store_changes(a->st) != 1)
		rc = refresh_refused();
	if (!rc)
		rc = cdt_auth_issue(a, str(r, "user_id"), str(r, "org_id"),
				    str(r, "team_id"), str(r, "family"), cred);
	if (!rc)
		rc = cdt_store_commit(a->st);
	if (rc) {
		jv_free(*cred);
		*cred = jv_invalid();
	}
out:
	cdt_store_rollback(a->st);
	jv_free(r);
	return rc;
}

int
cdt_auth_logout(struct cdt_auth *a, const char *rt, const char *family,
		const char *actor)
{
	jv r = jv_null();
	int rc = 0;
	if (rt && cdt_auth_is_refresh_token(rt)) {
		char sha[CDT_SHA256_HEX_LEN + 1];
		cdt_sha256_hex(rt, strlen(rt), sha);
		char org_id[64];
		rc = cdt_store_login_org(a->st, "refresh", sha, NULL, org_id,
					 sizeof(org_id));
		if (!rc && *org_id)
			cdt_store_set_org(a->st, org_id);
		if (!rc)
		r = one(a->st, &rc, "SELECT family, org_id FROM refresh_tokens "
			"WHERE token_sha256 = ?", JV_ARRAY(jv_string(sha)));
		if (str(r, "family"))
			family = str(r, "family");
	}
	if (!rc && family) {
		rc = cdt_store_begin(a->st, CDT_TXN_WRITE);
		if (!rc)
			rc = cdt_store_exec(a->st, "UPDATE refresh_tokens SET "
					    "revoked_at = ? WHERE family = ? "
					    "AND revoked_at IS NULL",
					    JV_ARRAY(jv_number((double)
							cdt_auth_now_ms()),
						     jv_string(family)), NULL);
		if (!rc && cdt_store_changes(a->st) > 0)
			rc = cdt_auth_audit(a, actor, str(r, "org_id"),
					    "logout",
					    JV_OBJECT(jv_string("family"),
						      jv_string(family)));
		if (!rc)
			rc = cdt_store_commit(a->st);
		else
			cdt_store_rollback(a->st);
	}
	jv_free(r);
	return rc;
}

/* ---- orgs and the local identity ----------------------------------------- */

int
cdt_auth_create_org(struct cdt_auth *a, const char *org, const char *team,
		    const char *email_in, const char *name, bool exists_ok,
		    jv *cred)
{
	char email[CDT_AUTH_EMAIL_MAX + 1];
	char org_id[CDT_UUID_LEN + 1], team_id[CDT_UUID_LEN + 1];
	char uid[CDT_UUID_LEN + 1];
	jv r = jv_null();
	int rc;

	*cred = jv_invalid();
	rc = cdt_auth_check_name("org", org);
	if (!rc)
		rc = cdt_auth_check_name("team", team);
	if (!rc)
		rc = cdt_auth_email(email_in, email);
	if (rc)
		return rc;
	char seen[64] = "";
	r = one(a->st, &rc, "SELECT id FROM orgs WHERE name = ?",
		JV_ARRAY(jv_string(org)));
	/* Row level security hides other orgs: ask the store too. */
	if (!rc && !str(r, "id"))
		rc = cdt_store_login_org(a->st, "org", org, NULL, seen,
					 sizeof(seen));
	if (!rc && (str(r, "id") || *seen))
		rc = cdt_err_class(EX_CANTCREAT, "conflict", "org '%s' exists "
				   "already", org);
	jv_free(r);
	if (rc)
		return rc;
	r = one(a->st, &rc, "SELECT id FROM users WHERE email = ?",
		JV_ARRAY(jv_string(email)));
	if (!rc && !str(r, "id"))
		rc = cdt_store_login_org(a->st, "user", email, NULL, seen,
					 sizeof(seen));
	const char *have = str(r, "id") ? str(r, "id") : *seen ? seen : NULL;
	if (!rc && have && !exists_ok)
		rc = cdt_err_class(EX_NOPERM, "auth", "a user '%s' exists "
				   "already: log in as that user first", email);
	if (!rc && have)
		snprintf(uid, sizeof(uid), "%s", have);
	else if (!rc)
		rc = cdt_uuid4(uid);
	bool new_user = !have;
	jv_free(r);
	if (!rc)
		rc = cdt_uuid4(org_id);
	if (!rc)
		rc = cdt_uuid4(team_id);
	if (rc)
		return rc;
	cdt_store_set_org(a->st, org_id);
	double now = (double)cdt_auth_now_ms();
	rc = cdt_store_exec(a->st, "INSERT INTO orgs (id, name, created_at) "
			    "VALUES (?, ?, ?)",
			    JV_ARRAY(jv_string(org_id), jv_string(org),
				     jv_number(now)), NULL);
	if (!rc)
		rc = cdt_store_exec(a->st, "INSERT INTO teams (id, org_id, "
				    "name, created_at) VALUES (?, ?, ?, ?)",
				    JV_ARRAY(jv_string(team_id),
					     jv_string(org_id), jv_string(team),
					     jv_number(now)), NULL);
	if (!rc && new_user)
		rc = cdt_store_exec(a->st, "INSERT INTO users (id, email, name, "
				    "created_at, updated_at) VALUES (?, ?, ?, "
				    "?, ?)",
				    JV_ARRAY(jv_string(uid), jv_string(email),
					     sv(name), jv_number(now),
					     jv_number(now)), NULL);
	if (!rc)
		rc = cdt_store_exec(a->st, "INSERT INTO memberships (user_id, "
				    "org_id, team_id, project, role, "
				    "created_at) VALUES (?, ?, NULL, NULL, "
				    "'org-admin', ?)",
				    JV_ARRAY(jv_string(uid), jv_string(org_id),
					     jv_number(now)), NULL);
	if (!rc)
		rc = cdt_auth_audit(a, uid, org_id, "org_created",
				    JV_OBJECT(jv_string("org"), jv_string(org),
					      jv_string("team"),
					      jv_string(team),
					      jv_string("email"),
					      jv_string(email)));
	if (!rc)
		rc = cdt_auth_issue(a, uid, org_id, team_id, NULL, cred);
	return rc;
}

/* The OS user's name, made safe for an email's local part. */
static void
os_user(char *name, size_t len, char *local, size_t llen)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *n = pw && pw->pw_name && *pw->pw_name ? pw->pw_name :
		getenv("USER");
	if (!n || !*n)
		n = "user";
	snprintf(name, len, "%s", n);
	size_t o = 0;
	for (size_t i = 0; n[i] && o + 1 < llen; i++) {
		char c = n[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			c = '-';
		local[o++] = c;
	}
	local[o] = '\0';
	if (!o)
		snprintf(local, llen, "user");
}

void
cdt_auth_local_user(char *email, size_t elen, char *name, size_t nlen)
{
	char local[64];
	os_user(name, nlen, local, sizeof(local));
	snprintf(email, elen, "%s@localhost", local);
}

int
cdt_auth_bootstrap(struct cdt_auth *a, jv *cred, bool *created)
{
	int lock = -1;
	int rc;

	*cred = jv_null();
	*created = false;
	if (strcmp(cdt_store_backend_name(a->st), "sqlite"))
		return 0;
	rc = cdt_auth_lock(&lock);
	if (rc)
		return rc;
	/* Someone may have made it while we waited for the lock. */
	rc = cdt_auth_saved_read(cred);
	if (rc || jv_get_kind(*cred) != JV_KIND_NULL)
		goto out;
	rc = cdt_store_begin(a->st, CDT_TXN_WRITE);
	if (rc)
		goto out;
	jv n = one(a->st, &rc, "SELECT count(*) AS n FROM users", jv_array());
	int64_t users = num(n, "n", 1);
	jv_free(n);
	if (rc || users > 0) {
		cdt_store_rollback(a->st);
		goto out;
	}
	char name[256], email[128];
	cdt_auth_local_user(email, sizeof(email), name, sizeof(name));
	rc = cdt_auth_keys(a, CDT_AUTH_SIGNING | CDT_AUTH_PEPPER |
			   CDT_AUTH_CREATE);
	if (!rc)
		rc = cdt_auth_create_org(a, "local", "default", email, name,
					 false, cred);
	if (!rc)
		rc = cdt_auth_audit(a, NULL, NULL, "local_identity_created",
				    JV_OBJECT(jv_string("email"),
					      jv_string(email)));
	if (!rc)
		rc = cdt_store_commit(a->st);
	else
		cdt_store_rollback(a->st);
	/* Written after the commit, so no one reads credentials for users
	   the store does not have yet; readers without the file wait on
	   the lock. */
	if (!rc)
		rc = cdt_auth_saved_write(*cred);
	if (!rc) {
		*created = true;
		cdt_log(CDT_LOG_WARN, "created a local identity: %s, org-admin "
			"of org 'local', team 'default' (cdt-auth(1); set a "
			"password with 'cdt-auth passwd')", email);
	}
out:
	if (rc) {
		jv_free(*cred);
		*cred = jv_null();
	}
	cdt_auth_unlock(&lock);
	return rc;
}

/* ---- saved credentials ---------------------------------------------------- */

static char *
home_file(const char *base)
{
	const char *home = cdt_cfg_home();
	if (!home)
		return NULL;
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addf(&b, "%s/%s", home, base);
	return cdt_buf_detach(&b, NULL);
}

int
cdt_auth_secret_read(const char *path, jv *out)
{
	struct cdt_buf text = CDT_BUF_INIT;
	struct stat st;
	int fd = -1;
	int rc = 0;

	*out = jv_null();
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)
			rc = cdt_err_errno(EX_CONFIG, "cannot read '%s'", path);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = cdt_err_errno(EX_CONFIG, "cannot stat '%s'", path);
		goto out;
	}
	rc = check_private(path, &st, false);
	if (rc)
		goto out;
	cdt_buf_init(&text, SAVED_MAX);
	for (;;) {
		if (cdt_buf_grow(&text, 4096)) {
			rc = cdt_err_class(EX_CONFIG, "config", "'%s' is too "
					   "large", path);
			goto out;
		}
		ssize_t r = read(fd, text.buf + text.len, 4096);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = cdt_err_errno(EX_CONFIG, "cannot read '%s'", path);
			goto out;
		}
		if (r == 0)
			break;
		cdt_buf_setlen(&text, text.len + (size_t)r);
	}
	jv j = text.len ? jv_parse_sized(text.buf, (int)text.len) :
		jv_invalid();
	if (jv_get_kind(j) != JV_KIND_OBJECT) {
		jv_free(j);
		rc = cdt_err_class(EX_CONFIG, "config", "'%s' is not a JSON "
				   "object: fix or remove it", path);
		goto out;
	}
	*out = j;
out:
	if (fd >= 0)
		close(fd);
	cdt_buf_release_secret(&text);
	return rc;
}

int
cdt_auth_secret_write(const char *path, jv obj)
{
	struct cdt_buf tmp = CDT_BUF_INIT;
	int fd = -1;
	int rc = 0;

	cdt_buf_addf(&tmp, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp.buf);
	if (fd < 0) {
		rc = cdt_err_errno(EX_CANTCREAT, "cannot write '%s'", path);
		goto out;
	}
	jv s = jv_dump_string(jv_copy(obj), 0);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(s));
	bool ok = fchmod(fd, 0600) == 0 &&
		write(fd, jv_string_value(s), n) == (ssize_t)n &&
		write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	OPENSSL_cleanse((void *)(uintptr_t)jv_string_value(s), n);
	jv_free(s);
	if (!ok || rename(tmp.buf, path) < 0) {
		rc = cdt_err_errno(EX_IOERR, "cannot write '%s'", path);
		unlink(tmp.buf);
	}
out:
	if (fd >= 0)
		close(fd);
	cdt_buf_release(&tmp);
	return rc;
}

int
cdt_auth_saved_read(jv *cred)
{
	char *path = home_file("auth.json");
	*cred = jv_null();
	if (!path)
		return 0;
	int rc = cdt_auth_secret_read(path, cred);
	free(path);
	return rc;
}

int
cdt_auth_saved_write(jv cred)
{
	const char *home = cdt_cfg_home();
	char *path = home_file("auth.json");
	int rc;
	if (!path)
		return cdt_err(EX_CONFIG, "no home for auth.json: set CDT_HOME "
			       "or HOME");
	rc = mkdir_private(home);
	if (!rc)
		rc = cdt_auth_secret_write(path, cred);
	free(path);
	return rc;
}

int
cdt_auth_saved_remove(void)
{
	char *path = home_file("auth.json");
	int rc = 0;
	if (path && unlink(path) < 0 && errno != ENOENT)
		rc = cdt_err_errno(EX_IOERR, "cannot remove '%s'", path);
	free(path);
	return rc;
}

int
cdt_auth_lock(int *fd)
{
	const char *home = cdt_cfg_home();
	char *path = home_file(".auth.lock");
	int rc = 0;
	*fd = -1;
	if (!path)
		return cdt_err(EX_CONFIG, "no home: set CDT_HOME or HOME");
	rc = mkdir_private(home);
	if (!rc) {
		*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			   0600);
		if (*fd < 0)
			rc = cdt_err_errno(EX_CANTCREAT, "cannot open '%s'",
					   path);
	}
	while (!rc && flock(*fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		rc = cdt_err_errno(EX_IOERR, "cannot lock '%s'", path);
		close(*fd);
		*fd = -1;
	}
	free(path);
	return rc;
}

void
cdt_auth_unlock(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}
