/*
 * callercheck - drive the caller check (lib/caller.h) the way a tool
 * does, for shell tests and benchmarks.  The store is the one the
 * config names, else $CDT_HOME/cdt.db.
 *
 *	callercheck [-t FILE] [-r RECORD] [-n] whoami
 *		resolve the caller (flag -t is --token-file, -r a file
 *		holding an `auth` record, then CDT_TOKEN, then auth.json;
 *		-n never creates the local identity) and print it as JSON:
 *		kind, source, email, org, team, key_id, created, grants
 *	callercheck [-t FILE] [-r RECORD] PERM ORG TEAM OWNER PROJECT
 *		resolve, then authorise PERM on an object whose row has
 *		that org and team (names), owner (an email) and project;
 *		"-" for none.  A name the store does not know is used as
 *		the id itself.  Exit status: 0, 66 or 77 (the check's).
 *	callercheck mint EMAIL ORG [CLAIMS]
 *		print an access token for that user and org, signed with
 *		the store's key, whose claims are the usual ones overridden
 *		by the JSON object CLAIMS; exp, nbf and iat given as strings
 *		"+N"/"-N" are that many seconds from now.  A header object
 *		under the key "__header" replaces the header.
 *	callercheck bench N PERM
 *		resolve and authorise PERM on the caller's own new object N
 *		times in this process; print the CPU microseconds of one
 *		(resolve + authorise) and of one authorise alone.
 */
#include "compat.h"
#include <time.h>
#include <unistd.h>
#include "auth.h"
#include "caller.h"
#include "cfg.h"
#include "err.h"
#include "hash.h"
#include "jwt.h"
#include "store.h"

static int
usage(void)
{
	fputs("usage: callercheck [-t FILE] [-r RECORD] [-n] whoami\n"
	      "       callercheck [-t FILE] [-r RECORD] PERM ORG TEAM OWNER "
	      "PROJECT\n"
	      "       callercheck mint EMAIL ORG [CLAIMS]\n"
	      "       callercheck bench N PERM\n", stderr);
	return EX_USAGE;
}

static int
open_store(struct cdt_cfg *cfg, struct cdt_store **st)
{
	int rc = cdt_cfg_load(cfg);
	if (rc)
		return rc;
	const char *url = cdt_cfg_str(cfg, "store.url", NULL);
	const char *path = cdt_cfg_str(cfg, "store.path", NULL);
	if (url || path)
		return cdt_store_open(st, url ? url : path, 0);
	const char *home = cdt_cfg_home();
	if (!home)
		return cdt_err(EX_CONFIG, "no CDT_HOME");
	return cdt_store_open_default(st, home);
}

/* The id of a row named name in table (by column col), else name. */
static char *
lookup(struct cdt_store *st, const char *sql, const char *name)
{
	jv rows = jv_invalid();
	char *id = NULL;
	if (!strcmp(name, "-"))
		return NULL;
	if (!cdt_store_exec(st, sql, JV_ARRAY(jv_string(name)), &rows) &&
	    jv_array_length(jv_copy(rows)) > 0) {
		jv r = jv_array_get(jv_copy(rows), 0);
		jv v = jv_object_get(r, jv_string("id"));
		if (jv_get_kind(v) == JV_KIND_STRING)
			id = cdt_xstrdup(jv_string_value(v));
		jv_free(v);
	}
	jv_free(rows);
	return id ? id : cdt_xstrdup(name);
}

static void
print(jv v)
{
	jv s = jv_dump_string(v, 0);
	printf("%s\n", jv_string_value(s));
	jv_free(s);
}

static jv
caller_json(const struct cdt_caller *c)
{
	jv o = jv_object();
	o = jv_object_set(o, jv_string("kind"), jv_string(
			  c->kind == CDT_CALLER_KEY ? "key" : "token"));
	o = jv_object_set(o, jv_string("source"), jv_string(c->source));
	o = jv_object_set(o, jv_string("email"), jv_string(c->email));
	o = jv_object_set(o, jv_string("org"), jv_string(c->org));
	o = jv_object_set(o, jv_string("team"), jv_string(c->team));
	o = jv_object_set(o, jv_string("key_id"), jv_string(c->key_id));
	o = jv_object_set(o, jv_string("created"), jv_bool(c->created));
	jv g = jv_array();
	for (size_t i = 0; i < c->ngrants; i++)
		g = jv_array_append(g, jv_string(cdt_role_name(
				    c->grants[i].role)));
	o = jv_object_set(o, jv_string("grants"), g);
	return o;
}

static jv
read_record(const char *path)
{
	FILE *f = fopen(path, "r");
	struct cdt_buf b = CDT_BUF_INIT;
	char chunk[4096];
	size_t n;
	if (!f)
		return jv_invalid();
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		cdt_buf_add(&b, chunk, n);
	fclose(f);
	jv v = jv_parse_sized(b.buf, (int)b.len);
	cdt_buf_release(&b);
	return v;
}

/* "+N" / "-N" seconds from now, in claims given as strings. */
static jv
when(jv v, int64_t now)
{
	if (jv_get_kind(v) != JV_KIND_STRING)
		return v;
	const char *s = jv_string_value(v);
	if ((s[0] != '+' && s[0] != '-') || !s[1])
		return v;
	double d = (double)now + strtod(s, NULL);
	jv_free(v);
	return jv_number(d);
}

static int
mint(struct cdt_store *st, struct cdt_cfg *cfg, int argc, char **argv)
{
	struct cdt_auth a;
	struct cdt_buf tok = CDT_BUF_INIT;
	jv rows = jv_invalid();
	int rc;
	if (argc < 2 || argc > 3)
		return usage();
	cdt_auth_init(&a, st, cfg);
	rc = cdt_auth_keys(&a, CDT_AUTH_SIGNING);
	if (!rc && !a.have_key)
		rc = cdt_err(EX_CONFIG, "no signing key");
	if (!rc)
		rc = cdt_store_exec(st, "SELECT u.id AS uid, o.id AS oid, "
				    "(SELECT t.id FROM teams t WHERE t.org_id "
				    "= o.id ORDER BY t.created_at LIMIT 1) AS "
				    "tid, (SELECT r.family FROM refresh_tokens "
				    "r WHERE r.user_id = u.id AND r.revoked_at "
				    "IS NULL ORDER BY r.created_at DESC LIMIT "
				    "1) AS fam FROM users u, orgs o WHERE "
				    "u.email = ? AND o.name = ?",
				    JV_ARRAY(jv_string(argv[0]),
					     jv_string(argv[1])), &rows);
	if (rc)
		goto out;
	if (jv_array_length(jv_copy(rows)) < 1) {
		rc = cdt_err(EX_NOINPUT, "no such user or org");
		goto out;
	}
	jv r = jv_array_get(jv_copy(rows), 0);
	int64_t now = cdt_auth_now_ms() / 1000;
	char jti[CDT_UUID_LEN + 1];
	cdt_uuid4(jti);
	jv c = jv_object();
	c = jv_object_set(c, jv_string("iss"), jv_string(CDT_AUTH_ISSUER));
	c = jv_object_set(c, jv_string("aud"), jv_string(CDT_AUTH_AUDIENCE));
	c = jv_object_set(c, jv_string("sub"),
			  jv_object_get(jv_copy(r), jv_string("uid")));
	c = jv_object_set(c, jv_string("exp"), jv_number((double)now + 900));
	c = jv_object_set(c, jv_string("nbf"), jv_number((double)now));
	c = jv_object_set(c, jv_string("iat"), jv_number((double)now));
	c = jv_object_set(c, jv_string("jti"), jv_string(jti));
	c = jv_object_set(c, jv_string("org"),
			  jv_object_get(jv_copy(r), jv_string("oid")));
	c = jv_object_set(c, jv_string("team"),
			  jv_object_get(jv_copy(r), jv_string("tid")));
	c = jv_object_set(c, jv_string("roles"), jv_array());
	c = jv_object_set(c, jv_string("sid"), jv_string("0000000000000000"));
	c = jv_object_set(c, jv_string("fam"),
			  jv_object_get(r, jv_string("fam")));
	jv hdr = JV_OBJECT(jv_string("alg"), jv_string("HS256"),
			   jv_string("typ"), jv_string("at+jwt"),
			   jv_string("kid"), jv_string(a.key.kid));
	if (argc == 3) {
		jv over = jv_parse(argv[2]);
		if (jv_get_kind(over) != JV_KIND_OBJECT) {
			jv_free(over);
			jv_free(c);
			jv_free(hdr);
			rc = cdt_err(EX_USAGE, "CLAIMS must be a JSON object");
			goto out;
		}
		jv_object_foreach(over, k, v) {
			if (!strcmp(jv_string_value(k), "__header")) {
				jv_free(hdr);
				hdr = v;
				jv_free(k);
				continue;
			}
			c = jv_object_set(c, k, when(v, now));
		}
		jv_free(over);
	}
	jv hs = jv_dump_string(hdr, 0);
	jv ps = jv_dump_string(c, 0);
	rc = cdt_jwt_sign_parts(&a.key, jv_string_value(hs),
				strlen(jv_string_value(hs)),
				jv_string_value(ps),
				strlen(jv_string_value(ps)), &tok);
	jv_free(hs);
	jv_free(ps);
	if (!rc)
		printf("%s\n", tok.buf);
out:
	cdt_buf_release(&tok);
	jv_free(rows);
	cdt_auth_release(&a);
	return rc;
}

static double
cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
bench(struct cdt_store *st, struct cdt_cfg *cfg,
      const struct cdt_caller_src *src, int argc, char **argv)
{
	struct cdt_caller c;
	long n = argc == 2 ? strtol(argv[0], NULL, 10) : 0;
	int rc = 0;
	if (n < 1)
		return usage();
	cdt_caller_init(&c);
	/* One warm-up: key files, statement caches, page cache. */
	rc = cdt_caller_resolve(st, cfg, src, &c);
	double t0 = cpu_us();
	for (long i = 0; !rc && i < n; i++) {
		rc = cdt_caller_resolve(st, cfg, src, &c);
		struct cdt_object o = cdt_caller_here(&c, NULL);
		if (!rc && !cdt_caller_can(&c, argv[1], &o))
			rc = 1;
	}
	double t1 = cpu_us();
	struct cdt_object o = cdt_caller_here(&c, NULL);
	volatile int yes = 0;
	for (long i = 0; !rc && i < n * 10; i++)
		yes += cdt_caller_can(&c, argv[1], &o);
	double t2 = cpu_us();
	if (!rc)
		printf("%.1f %.3f\n", (t1 - t0) / (double)n,
		       (t2 - t1) / (double)(n * 10));
	cdt_caller_release(&c);
	return rc;
}

int
main(int argc, char **argv)
{
	struct cdt_cfg cfg;
	struct cdt_store *st = NULL;
	struct cdt_caller c;
	struct cdt_caller_src src = { NULL, jv_invalid(), false };
	char *org = NULL, *team = NULL, *owner = NULL;
	int rc, ch;

	cdt_err_setname("callercheck");
	cdt_cfg_init(&cfg);
	cdt_caller_init(&c);
	while ((ch = getopt(argc, argv, "+t:r:n")) != -1) {
		switch (ch) {
		case 't':
			src.token_file = optarg;
			break;
		case 'r':
			jv_free(src.auth);
			src.auth = read_record(optarg);
			break;
		case 'n':
			src.no_create = true;
			break;
		default:
			return usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (strcmp(argv[0], "whoami") && strcmp(argv[0], "mint")
			 && strcmp(argv[0], "bench") && argc != 5)) {
		jv_free(src.auth);
		return usage();
	}
	rc = open_store(&cfg, &st);
	if (rc)
		goto out;
	if (!strcmp(argv[0], "mint")) {
		rc = mint(st, &cfg, argc - 1, argv + 1);
		goto out;
	}
	if (!strcmp(argv[0], "bench")) {
		rc = bench(st, &cfg, &src, argc - 1, argv + 1);
		goto out;
	}
	rc = cdt_caller_resolve(st, &cfg, &src, &c);
	if (rc)
		goto out;
	if (!strcmp(argv[0], "whoami")) {
		print(caller_json(&c));
		goto out;
	}
	org = lookup(st, "SELECT id FROM orgs WHERE name = ?", argv[1]);
	team = lookup(st, "SELECT id FROM teams WHERE name = ? ORDER BY "
		      "org_id = '' LIMIT 1", argv[2]);
	if (team && org) {
		/* Team names repeat across orgs: take the one in org. */
		jv rows = jv_invalid();
		if (!cdt_store_exec(st, "SELECT id FROM teams WHERE org_id = ? "
				    "AND name = ?",
				    JV_ARRAY(jv_string(org),
					     jv_string(argv[2])), &rows) &&
		    jv_array_length(jv_copy(rows)) > 0) {
			jv v = jv_object_get(jv_array_get(jv_copy(rows), 0),
					     jv_string("id"));
			free(team);
			team = cdt_xstrdup(jv_string_value(v));
			jv_free(v);
		}
		jv_free(rows);
	}
	owner = lookup(st, "SELECT id FROM users WHERE email = ?", argv[3]);
	struct cdt_object o = { org, team, owner,
				strcmp(argv[4], "-") ? argv[4] : NULL };
	rc = cdt_caller_authorize(&c, argv[0], &o, "object", "x");
out:
	free(org);
	free(team);
	free(owner);
	jv_free(src.auth);
	cdt_caller_release(&c);
	cdt_store_close(st);
	cdt_cfg_release(&cfg);
	if (fflush(stdout))
		rc = rc ? rc : EX_IOERR;
	return rc;
}
