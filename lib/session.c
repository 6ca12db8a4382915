#include "compat.h"
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include "auth.h"
#include "buf.h"
#include "caller.h"
#include "cfg.h"
#include "codec.h"
#include "err.h"
#include "git.h"
#include "hash.h"
#include "log.h"
#include "sandbox.h"
#include "session.h"
#include "sessws.h"
#include "store.h"

#define IDLE_DEFAULT_MS (30 * 60 * 1000LL)
/* The first of the sandbox uids (sandbox.uid): above systemd's ranges. */
#define SANDBOX_UID 1900000000
/* SIGTERM to SIGKILL for recorded processes (sandbox.kill_grace). */
#define KILL_GRACE_DEFAULT_MS 3000
/* A detached process's log is rotated past this (sandbox.log_max). */
#define LOG_MAX_DEFAULT ((uint64_t)10 << 20)
#define MAX_AGE_DEFAULT_MS (24 * 3600 * 1000LL)
#define MAX_SESSIONS_DEFAULT 5
#define PRUNE_AFTER_DEFAULT_MS (7 * 24 * 3600 * 1000LL)

static char *after_dashdash;
static bool have_dashdash;

void
cdt_session_set_argv(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			have_dashdash = true;
			after_dashdash = i + 1 < argc ? argv[i + 1] : NULL;
			return;
		}
	}
}

struct sess {
	struct cdt_ctx *ctx;
	struct cdt_cfg cfg;
	struct cdt_store *st;
	struct cdt_caller who;
	jv row;
};

static void
sess_init(struct sess *s, struct cdt_ctx *ctx)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	cdt_cfg_init(&s->cfg);
	cdt_caller_init(&s->who);
	s->row = jv_invalid();
}

static void
sess_release(struct sess *s)
{
	jv_free(s->row);
	s->row = jv_invalid();
	cdt_caller_release(&s->who);
	cdt_store_close(s->st);
	s->st = NULL;
	cdt_cfg_release(&s->cfg);
}

/* Config, store, and the caller; the stream has been read by then. */
static int
sess_open(struct sess *s)
{
	int rc = cdt_cfg_load(&s->cfg);
	if (rc)
		return rc;
	rc = cdt_store_open_cfg(&s->st, &s->cfg, 0);
	if (!rc)
		rc = cdt_caller_from_ctx(s->ctx, s->st, &s->cfg, &s->who);
	return rc;
}

/*
 * Read the record stream to its end, forwarding; an upstream error wins.
 * 1 when the reader of our output has gone: nothing more to do (the
 * caller returns 0 and the tool ends with SIGPIPE, quietly).
 */
static int
sess_stream(struct sess *s)
{
	int rc = cdt_stream_each(s->ctx, NULL, NULL);
	if (!rc && cdt_out_broken())
		return 1;
	if (!rc)
		rc = cdt_stream_upstream(s->ctx, "acting");
	if (!rc && s->ctx->session_conflict)
		rc = cdt_err(EX_DATAERR, "two session records that disagree "
			     "on stdin: name one as the argument");
	return rc;
}

static const char *
rstr(jv row, const char *key)
{
	return jv_get_kind(row) == JV_KIND_OBJECT ?
		cdt_record_str(row, key) : NULL;
}

static int64_t
rnum(jv obj, const char *key, int64_t def)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return def;
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	int64_t n = jv_get_kind(v) == JV_KIND_NUMBER ?
		(int64_t)jv_number_value(v) : def;
	jv_free(v);
	return n;
}

static jv
time_jv(int64_t ms)
{
	char t[32];
	if (ms <= 0)
		return jv_null();
	cdt_auth_time_str(ms, t);
	return jv_string(t);
}

static jv
sv(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

/* The row's sandbox document as an object (a copy). */
static jv
row_sandbox(jv row)
{
	const char *txt = rstr(row, "sandbox");
	jv sb = txt ? jv_parse(txt) : jv_object();
	if (jv_get_kind(sb) != JV_KIND_OBJECT) {
		jv_free(sb);
		sb = jv_object();
	}
	return sb;
}

/*
 * This machine, for gc: the host name and CDT_HOME (two homes on one host
 * are two installs).  A shared store holds other machines' sessions, whose
 * owner pids and processes mean nothing here.
 */
static void
machine_name(char *out, size_t n)
{
	char host[256] = "";
	if (gethostname(host, sizeof(host)))
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	const char *home = cdt_cfg_home();
	snprintf(out, n, "%s:%s", host, home ? home : "");
}

/* Was the row's session made on this machine?  Rows without one: yes. */
static bool
made_here(jv row)
{
	jv sb = row_sandbox(row);
	const char *m = cdt_record_str(sb, "machine");
	char here[4400];
	machine_name(here, sizeof(here));
	bool yes = !m || !strcmp(m, here);
	jv_free(sb);
	return yes;
}

/* When the session expires: its maximum age, or idle time, if sooner. */
static int64_t
row_expiry(jv row)
{
	jv sb = row_sandbox(row);
	int64_t idle = rnum(sb, "idle_timeout_ms", 0);
	jv_free(sb);
	int64_t exp = rnum(row, "expires_at", 0);
	int64_t last = rnum(row, "last_activity_at", 0);
	if (idle > 0 && (exp <= 0 || last + idle < exp))
		exp = last + idle;
	return exp;
}

static jv
row_record(jv row)
{
	jv r = cdt_record_new("session");
	r = jv_object_set(r, jv_string("id"), sv(rstr(row, "id")));
	jv t = jv_object();
	t = jv_object_set(t, jv_string("org"), sv(rstr(row, "org_name")));
	t = jv_object_set(t, jv_string("org_id"), sv(rstr(row, "org_id")));
	t = jv_object_set(t, jv_string("team"), sv(rstr(row, "team_name")));
	t = jv_object_set(t, jv_string("team_id"), sv(rstr(row, "team_id")));
	t = jv_object_set(t, jv_string("user"), sv(rstr(row, "user_id")));
	t = jv_object_set(t, jv_string("project"), sv(rstr(row, "project")));
	r = jv_object_set(r, jv_string("tenant"), t);
	r = jv_object_set(r, jv_string("project"), sv(rstr(row, "project")));
	r = jv_object_set(r, jv_string("parent_id"),
			  sv(rstr(row, "parent_id")));
	r = jv_object_set(r, jv_string("status"), sv(rstr(row, "status")));
	r = jv_object_set(r, jv_string("sandbox"), row_sandbox(row));
	r = jv_object_set(r, jv_string("workspace"),
			  sv(rstr(row, "workspace")));
	r = jv_object_set(r, jv_string("created_at"),
			  time_jv(rnum(row, "created_at", 0)));
	r = jv_object_set(r, jv_string("updated_at"),
			  time_jv(rnum(row, "updated_at", 0)));
	r = jv_object_set(r, jv_string("expires_at"),
			  time_jv(row_expiry(row)));
	r = jv_object_set(r, jv_string("last_activity_at"),
			  time_jv(rnum(row, "last_activity_at", 0)));
	if (rnum(row, "pruned_at", 0) > 0)
		r = jv_object_set(r, jv_string("pruned_at"),
				  time_jv(rnum(row, "pruned_at", 0)));
	return r;
}

#define SELECT_ROW \
	"SELECT s.id, s.org_id, s.team_id, s.user_id, s.project, " \
	"s.parent_id, s.status, s.sandbox, s.workspace, s.created_at, " \
	"s.updated_at, s.expires_at, s.last_activity_at, s.pruned_at, " \
	"o.name AS org_name, t.name AS team_name FROM sessions s " \
	"JOIN orgs o ON o.id = s.org_id JOIN teams t ON t.id = s.team_id "

static struct cdt_object
row_object(jv row)
{
	struct cdt_object o = {
		rstr(row, "org_id"), rstr(row, "team_id"),
		rstr(row, "user_id"), rstr(row, "project"),
	};
	return o;
}

/* Load s->row for id and authorise perm on it: 0, 66, 77, or store. */
static int
sess_load(struct sess *s, const char *id, const char *perm)
{
	jv_free(s->row);
	s->row = jv_invalid();
	return cdt_sessws_load(s->st, &s->who, SELECT_ROW "WHERE s.id = ?",
			       id, perm, &s->row);
}

/* The session id: the operand, a session record, else CDT_SESSION. */
static const char *
pick_id(struct cdt_ctx *ctx, const char *arg)
{
	if (arg)
		return arg;
	if (jv_is_valid(ctx->session)) {
		const char *id = cdt_record_str(ctx->session, "id");
		if (id)
			return id;
	}
	const char *e = getenv("CDT_SESSION");
	return e && *e ? e : NULL;
}

static int64_t
now_ms(void)
{
	return cdt_auth_now_ms();
}

static int
mkdirs(const char *path)
{
	char *p = cdt_xstrdup(path);
	int rc = 0;
	for (char *q = p + 1; ; q++) {
		if (*q == '/' || !*q) {
			char c = *q;
			*q = 0;
			if (mkdir(p, 0700) && errno != EEXIST) {
				rc = cdt_err_errno(EX_CANTCREAT, "cannot make "
						   "'%s'", p);
				break;
			}
			*q = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

static int
positive_number(const char *opt, const char *v, double *out)
{
	char *end = NULL;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d > 0) || d > 1e6)
		return cdt_err(EX_USAGE, "--%s takes a positive number, not "
			       "'%s'", opt, v);
	*out = d;
	return 0;
}

/* sandbox.cgroup none: no cgroup at all, the fallbacks (tests, checks). */
static bool
no_cgroup(struct sess *s)
{
	return !strcmp(cdt_cfg_str(&s->cfg, "sandbox.cgroup", "auto"),
		       "none");
}

/*
 * The uid the sandbox of session id runs as when RLIMIT_NPROC must bind
 * (root, no pids cgroup): one of the 65536 from sandbox.uid (default
 * SANDBOX_UID), picked by a hash of the id, so a session's runs share
 * one count and two sessions share one only by a 1 in 65536 chance.
 * 0 (sandbox.uid: 0): never drop root.
 */
static unsigned
sandbox_uid(struct sess *s, const char *id)
{
	int64_t base = cdt_cfg_int(&s->cfg, "sandbox.uid", SANDBOX_UID);
	uint32_t h = 2166136261u;
	if (base <= 0 || base > 4294967294 - 65536)
		return 0;
	for (const char *p = id; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return (unsigned)base + (h & 0xffff);
}

/* The session's sandbox document, from options over config. */
static int
make_sandbox(struct sess *s, const char *id, jv *out)
{
	struct cdt_ctx *ctx = s->ctx;
	const char *type = cdt_opt(ctx, "type");
	const char *engine = cdt_opt(ctx, "sandbox");
	const char *net = cdt_opt(ctx, "network");
	double cpus = cdt_cfg_number(&s->cfg, "sandbox.limits.cpus", 2);
	uint64_t mem = cdt_cfg_size(&s->cfg, "sandbox.limits.memory",
				    (uint64_t)4 << 30);
	uint64_t disk = cdt_cfg_size(&s->cfg, "sandbox.limits.disk",
				     (uint64_t)10 << 30);
	int64_t pids = cdt_cfg_int(&s->cfg, "sandbox.limits.pids", 512);
	int rc = 0;

	if (!type)
		type = cdt_cfg_str(&s->cfg, "sandbox.type", "interactive");
	if (strcmp(type, "interactive") && strcmp(type, "batch") &&
	    strcmp(type, "persistent"))
		return cdt_err(EX_USAGE, "--type takes interactive, batch or "
			       "persistent, not '%s'", type);
	if (!engine)
		engine = cdt_cfg_str(&s->cfg, "sandbox.engine", "bwrap");
	if (strcmp(engine, "bwrap") && strcmp(engine, "none"))
		return cdt_err(EX_USAGE, "--sandbox takes bwrap or none, not "
			       "'%s'", engine);
	bool network = cdt_cfg_bool(&s->cfg, "sandbox.network", false);
	if (net && !strcmp(net, "host"))
		network = true;
	else if (net && !strcmp(net, "none"))
		network = false;
	else if (net)
		return cdt_err(EX_USAGE, "--network takes none or host, not "
			       "'%s'", net);
	const char *v;
	if ((v = cdt_opt(ctx, "cpus")) && (rc = positive_number("cpus", v,
								 &cpus)))
		return rc;
	if ((v = cdt_opt(ctx, "memory")) && cdt_parse_size(v, &mem))
		return cdt_err(EX_USAGE, "--memory takes a size (512M, 4G), "
			       "not '%s'", v);
	if ((v = cdt_opt(ctx, "disk")) && cdt_parse_size(v, &disk))
		return cdt_err(EX_USAGE, "--disk takes a size (512M, 10G), "
			       "not '%s'", v);
	if ((v = cdt_opt(ctx, "pids"))) {
		double d;
		if ((rc = positive_number("pids", v, &d)))
			return rc;
		pids = (int64_t)d;
	}
	int64_t idle = cdt_cfg_duration_ms(&s->cfg, "sandbox.idle_timeout",
					   IDLE_DEFAULT_MS);
	if (!strcmp(type, "persistent"))
		idle = 0;
	int64_t timeout = !strcmp(type, "batch") ?
		cdt_cfg_duration_ms(&s->cfg, "sandbox.timeout", 0) : 0;
	bool bwrap = !strcmp(engine, "bwrap");

	jv lim = jv_object();
	lim = jv_object_set(lim, jv_string("cpus"), jv_number(cpus));
	lim = jv_object_set(lim, jv_string("memory_bytes"),
			    jv_number((double)mem));
	lim = jv_object_set(lim, jv_string("disk_bytes"),
			    jv_number((double)disk));
	lim = jv_object_set(lim, jv_string("pids"), jv_number((double)pids));
	struct cdt_sandbox mech = {
		.bwrap = bwrap, .pids = pids, .no_cgroup = no_cgroup(s),
		.uid = sandbox_uid(s, id),
	};
	jv enf = jv_object();
	enf = jv_object_set(enf, jv_string("cpus"),
			    jv_string(cdt_sandbox_cpus_mech(&mech)));
	enf = jv_object_set(enf, jv_string("memory"),
			    jv_string(cdt_sandbox_memory_mech(&mech)));
	enf = jv_object_set(enf, jv_string("pids"),
			    jv_string(cdt_sandbox_pids_mech(&mech)));
	enf = jv_object_set(enf, jv_string("disk"), jv_string(
		"rlimit_fsize per file; usage checked before each exec"));
	enf = jv_object_set(enf, jv_string("network"), jv_string(
		!network ? (bwrap ? "net namespace" : "none (no sandbox)") :
		"shared (host)"));
	jv sb = jv_object();
	sb = jv_object_set(sb, jv_string("type"), jv_string(type));
	sb = jv_object_set(sb, jv_string("engine"), jv_string(engine));
	sb = jv_object_set(sb, jv_string("network"),
			   jv_string(network ? "host" : "none"));
	sb = jv_object_set(sb, jv_string("limits"), lim);
	sb = jv_object_set(sb, jv_string("enforced_by"), enf);
	sb = jv_object_set(sb, jv_string("idle_timeout_ms"),
			   jv_number((double)idle));
	if (timeout > 0)
		sb = jv_object_set(sb, jv_string("exec_timeout_ms"),
				   jv_number((double)timeout));
	*out = sb;
	return 0;
}

static int event_add(struct sess *s, const char *id, const char *from,
		     const char *to, const char *reason, int64_t now);
static int transition(struct sess *s, const char *to, bool touch,
		      const char *reason);

/* git ------------------------------------------------------------- */

static int
gitfail(int code, const char *what)
{
	const git_error *e = git_error_last();
	return cdt_err(code, "%s: %s", what, e && e->message ? e->message :
		       "libgit2 failed");
}

/* The branch a session checkpoints to, as a ref name. */
static void
session_ref(const char *id, char *out, size_t len)
{
	snprintf(out, len, "refs/heads/coditect/session-%s", id);
}

/* The tip of session id's branch: 1 found, 0 no such branch, or -rc. */
static int
session_tip(struct cdt_git *g, const char *id, git_oid *tip)
{
	char ref[128];
	session_ref(id, ref, sizeof(ref));
	int e = git_reference_name_to_id(tip, g->repo, ref);
	if (e == GIT_ENOTFOUND)
		return 0;
	if (e < 0)
		return -gitfail(EX_IOERR, "cannot read a session branch");
	return 1;
}

/*
 * Start session id from its parent's latest checkpoint: the parent's
 * branch tip becomes the child's branch coditect/session-ID, from the
 * shared repository, or fetched from the parent's workspace when it has
 * another.  *ckpt: {sha, branch, from_branch}, or null when the parent
 * has no checkpoint.
 */
static int
from_parent(const char *ws, const char *pws, const char *parent,
	    const char *id, jv *ckpt)
{
	struct cdt_git g = { 0 }, pg = { 0 };
	git_remote *remote = NULL;
	git_reference *ref = NULL;
	git_oid tip;
	char pref[128], cref[128], hex[GIT_OID_HEXSZ + 1];
	bool shared = !strcmp(ws, pws);
	int rc, found;

	*ckpt = jv_null();
	session_ref(parent, pref, sizeof(pref));
	session_ref(id, cref, sizeof(cref));
	rc = cdt_git_open(&pg, pws, 0);
	if (rc == EX_NOINPUT) {
		/* No repository there: no checkpoint either. */
		cdt_err_clear();
		return 0;
	}
	if (rc)
		return rc;
	found = session_tip(&pg, parent, &tip);
	if (found <= 0) {
		cdt_git_close(&pg);
		return -found;
	}
	cdt_git_hex(&tip, hex);
	cdt_git_close(&pg);
	if ((rc = cdt_git_open(&g, ws, CDT_GIT_CREATE | CDT_GIT_WRITE)))
		return rc;
	if (shared) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, g.repo, &tip) < 0 ||
		    git_reference_create(&ref, g.repo, cref, &tip, 0,
					 "cdt-session: from the parent's "
					 "checkpoint") < 0)
			rc = gitfail(EX_TEMPFAIL, "cannot start the session's "
				     "branch at its parent's checkpoint");
		git_commit_free(c);
	} else {
		char spec[300];
		snprintf(spec, sizeof(spec), "+%s:%s", pref, cref);
		char *specs[] = { spec };
		git_strarray refspecs = { specs, 1 };
		/* A local path: no insteadOf (libgit2's regexes leak). */
		git_remote_create_options ro;
		git_remote_create_options_init(&ro,
			GIT_REMOTE_CREATE_OPTIONS_VERSION);
		ro.repository = g.repo;
		ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
			GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
		if (git_remote_create_with_opts(&remote, pws, &ro) < 0 ||
		    git_remote_fetch(remote, &refspecs, NULL,
				     "cdt-session: from the parent's "
				     "checkpoint") < 0)
			rc = gitfail(EX_TEMPFAIL, "cannot fetch the parent's "
				     "checkpoint");
	}
	git_reference_free(ref);
	git_remote_free(remote);
	cdt_git_close(&g);
	if (rc)
		return rc;
	jv c = jv_object();
	c = jv_object_set(c, jv_string("sha"), jv_string(hex));
	c = jv_object_set(c, jv_string("branch"),
			  jv_string(cref + strlen("refs/heads/")));
	c = jv_object_set(c, jv_string("from_branch"),
			  jv_string(pref + strlen("refs/heads/")));
	*ckpt = c;
	return 0;
}

static jv
ins_params(struct sess *s, const char *id, const char *project,
	   const char *parent, jv sb, const char *ws, int64_t now,
	   int64_t max_age)
{
	jv p = JV_ARRAY(jv_string(id), jv_string(s->who.org_id),
			jv_string(s->who.team_id), jv_string(s->who.user_id),
			sv(project), sv(parent), jv_copy(sb), jv_string(ws));
	p = jv_array_append(p, jv_number((double)now));
	p = jv_array_append(p, jv_number((double)now));
	p = jv_array_append(p, max_age > 0 ?
			    jv_number((double)(now + max_age)) : jv_null());
	return jv_array_append(p, jv_number((double)now));
}

static int
emit_row(jv row)
{
	return cdt_emit(row_record(row));
}

int
cdt_session_create(struct cdt_ctx *ctx)
{
	struct sess s;
	jv sb = jv_invalid(), ckpt = jv_null();
	char *ws = NULL, *pws = NULL;
	char id[CDT_UUID_LEN + 1];
	bool made = false;
	int rc;

	sess_init(&s, ctx);
	if (ctx->argc > 0) {
		rc = cdt_usage(ctx, "create takes no operand");
		goto out;
	}
	if ((rc = sess_stream(&s)) || (rc = sess_open(&s))) {
		rc = rc == 1 ? 0 : rc;
		goto out;
	}
	cdt_uuid4(id);
	if ((rc = make_sandbox(&s, id, &sb)))
		goto out;
	if (!strcmp(cdt_record_str(sb, "engine"), "bwrap") &&
	    (rc = cdt_sandbox_probe()))
		goto out;

	const char *project = cdt_opt(ctx, "project");
	if (!project && !ctx->dir) {
		project = getenv("CDT_PROJECT");
		if (!project || !*project)
			project = "default";
	}
	if (project && (rc = cdt_auth_check_name("project", project)))
		goto out;
	struct cdt_object here = cdt_caller_here(&s.who, project);
	if ((rc = cdt_caller_authorize(&s.who, "sessions.create", &here,
				       "session", NULL)))
		goto out;

	const char *parent = cdt_opt(ctx, "parent");
	if (parent && (rc = sess_load(&s, parent, "sessions.read")))
		goto out;
	if (parent)
		pws = cdt_xstrdup(rstr(s.row, "workspace"));

	long owner = (long)getppid();
	const char *op = cdt_opt(ctx, "owner-pid");
	if (op) {
		char *end = NULL;
		errno = 0;
		owner = strtol(op, &end, 10);
		if (errno || end == op || *end || owner < 0 ||
		    owner > INT_MAX) {
			rc = cdt_usage(ctx, "--owner-pid takes a process id "
				       "or 0, not '%s'", op);
			goto out;
		}
	}
	long long ostart = owner > 0 ? cdt_sandbox_start_time(owner) : 0;
	if (owner > 0 && ostart < 0) {
		rc = cdt_err(EX_USAGE, "--owner-pid %ld: no such process",
			     owner);
		goto out;
	}
	sb = jv_object_set(sb, jv_string("owner_pid"),
			   jv_number((double)owner));
	sb = jv_object_set(sb, jv_string("owner_start"),
			   jv_number((double)ostart));
	char mach[4400];
	machine_name(mach, sizeof(mach));
	sb = jv_object_set(sb, jv_string("machine"), jv_string(mach));

	if (ctx->dir) {
		ws = realpath(ctx->dir, NULL);
		struct stat st;
		if (!ws || stat(ws, &st) || !S_ISDIR(st.st_mode)) {
			rc = cdt_err(EX_NOINPUT, "-C '%s': not a directory",
				     ctx->dir);
			goto out;
		}
	} else {
		const char *root = cdt_cfg_str(&s.cfg, "storage.root", NULL);
		struct cdt_buf b = CDT_BUF_INIT;
		if (root)
			cdt_buf_addstr(&b, root);
		else
			cdt_buf_addf(&b, "%s/storage", cdt_cfg_home());
		cdt_buf_addf(&b, "/%s/%s/%s/projects/%s", s.who.org,
			     s.who.team, s.who.user_id, project);
		ws = cdt_xstrdup(b.buf);
		cdt_buf_release(&b);
		made = access(ws, F_OK) != 0;
		if ((rc = mkdirs(ws)))
			goto out;
	}
	/* Only what a session made may `gc --prune` remove. */
	sb = jv_object_set(sb, jv_string("workspace_created"), jv_bool(made));
	/* The repository now, -C DIR too: the sandbox's read-only .git/hooks
	   and .git/config binds apply from the first exec, so nothing run
	   inside can plant a hook or a core.fsmonitor for the host's git. */
	if ((rc = cdt_git_init_dir(ws)))
		goto out;
	/* On S3 the sandbox runs on a local working copy of the project. */
	char *loc = ctx->dir ? NULL : cdt_sessws_location(&s.cfg, s.who.org,
			s.who.team, s.who.user_id, project);
	if (loc) {
		bool pulled = false;
		rc = cdt_sessws_pull(&s.cfg, loc, ws, &pulled);
		jv so = jv_object();
		so = jv_object_set(so, jv_string("backend"), jv_string("s3"));
		so = jv_object_set(so, jv_string("location"), jv_string(loc));
		so = jv_object_set(so, jv_string("pulled"), jv_bool(pulled));
		sb = jv_object_set(sb, jv_string("storage"), so);
		free(loc);
		if (rc)
			goto out;
	}
	int64_t max = cdt_cfg_int(&s.cfg, "auth.quotas.max_sessions",
				  MAX_SESSIONS_DEFAULT);
	int64_t max_age = cdt_cfg_duration_ms(&s.cfg, "sandbox.max_age",
					      MAX_AGE_DEFAULT_MS);
	int64_t now = now_ms();
	jv rows = jv_invalid();
	if ((rc = cdt_store_begin(s.st, CDT_TXN_WRITE)))
		goto out;
	rc = cdt_store_exec(s.st, "SELECT count(*) AS n FROM sessions WHERE "
			    "user_id = ? AND status IN ('creating', "
			    "'running', 'paused')",
			    JV_ARRAY(jv_string(s.who.user_id)), &rows);
	if (!rc) {
		jv row = jv_array_get(jv_copy(rows), 0);
		int64_t n = rnum(row, "n", 0);	/* rnum borrows */
		jv_free(row);
		if (max > 0 && n >= max)
			rc = cdt_err(EX_TEMPFAIL, "session quota reached: %lld "
				     "sessions live, at most %lld "
				     "(auth.quotas.max_sessions); terminate "
				     "one first", (long long)n,
				     (long long)max);
	}
	jv_free(rows);
	if (!rc)
		rc = cdt_store_exec(s.st, "INSERT INTO sessions (id, org_id, "
				    "team_id, user_id, project, parent_id, "
				    "status, sandbox, workspace, created_at, "
				    "updated_at, expires_at, last_activity_at)"
				    " VALUES (?, ?, ?, ?, ?, ?, 'creating', ?, "
				    "?, ?, ?, ?, ?)",
				    ins_params(&s, id, project, parent, sb, ws,
					       now, max_age), NULL);
	if (!rc)
		rc = event_add(&s, id, NULL, "creating", "create", now);
	if (!rc)
		rc = cdt_store_commit(s.st);
	else
		cdt_store_rollback(s.st);
	if (!rc)
		rc = sess_load(&s, id, "sessions.read");
	if (rc)
		goto out;
	const char *why = "started";
	char note[160];
	if (parent) {
		rc = from_parent(ws, pws, parent, id, &ckpt);
		if (rc) {
			struct cdt_err_last e;
			cdt_err_get(&e);
			snprintf(note, sizeof(note), "%s", e.message ?
				 e.message : "cannot start from the parent");
			int erc = transition(&s, "error", false, note);
			rc = erc ? erc : rc;
			goto out;
		}
		if (jv_get_kind(ckpt) == JV_KIND_OBJECT)
			snprintf(note, sizeof(note), "started from the parent's "
				 "checkpoint %.12s", cdt_record_str(ckpt,
								   "sha"));
		else
			snprintf(note, sizeof(note), "started; the parent has "
				 "no checkpoint");
		why = note;
	}
	rc = transition(&s, "running", false, why);
	if (!rc) {
		jv r = row_record(s.row);
		if (parent)
			r = jv_object_set(r, jv_string("parent_checkpoint"),
					  jv_copy(ckpt));
		rc = cdt_emit(r);
	}
out:
	jv_free(ckpt);
	free(pws);
	free(ws);
	jv_free(sb);
	sess_release(&s);
	return rc;
}

static bool
live(const char *status)
{
	return status && (!strcmp(status, "creating") ||
			  !strcmp(status, "running") ||
			  !strcmp(status, "paused"));
}

/* Append one transition to the session's history (session_events). */
static int
event_add(struct sess *s, const char *id, const char *from, const char *to,
	  const char *reason, int64_t now)
{
	return cdt_store_exec(s->st, "INSERT INTO session_events (session_id, "
			      "seq, ts, from_status, to_status, reason) "
			      "SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ? "
			      "FROM session_events WHERE session_id = ?",
			      JV_ARRAY(jv_string(id), jv_number((double)now),
				       sv(from), jv_string(to), sv(reason),
				       jv_string(id)), NULL);
}

/*
 * Move the loaded row from one status to another, if still there, and
 * store the transition with its time and reason in one transaction (a
 * heartbeat, from a status to itself, is no transition).
 */
static int
transition(struct sess *s, const char *to, bool touch, const char *reason)
{
	const char *id = rstr(s->row, "id");
	const char *from = rstr(s->row, "status");
	int64_t now = now_ms();
	int rc = cdt_store_begin(s->st, CDT_TXN_WRITE);
	if (rc)
		return rc;
	rc = cdt_store_exec(s->st, "UPDATE sessions SET status = ?, "
			    "updated_at = ?, last_activity_at = CASE WHEN "
			    "? THEN ? ELSE last_activity_at END WHERE "
			    "id = ? AND status = ?",
			    JV_ARRAY(jv_string(to), jv_number((double)now),
				     jv_bool(touch), jv_number((double)now),
				     jv_string(id), jv_string(from)), NULL);
	if (!rc && cdt_store_changes(s->st) != 1)
		rc = cdt_err(EX_TEMPFAIL, "session '%s' changed meanwhile; "
			     "try again", id);
	if (!rc && strcmp(from, to))
		rc = event_add(s, id, from, to, reason, now);
	if (!rc)
		rc = cdt_store_commit(s->st);
	else
		cdt_store_rollback(s->st);
	if (rc)
		return rc;
	char *keep = cdt_xstrdup(id);
	rc = sess_load(s, keep, "sessions.read");
	free(keep);
	return rc;
}

/*
 * SIGTERM to the recorded processes in rows (where kill_it says, or all
 * when kill_it is NULL): the array *ours gets, per row, whether it was
 * still the recorded process then.  Returns the deadline that one grace period
 * (sandbox.kill_grace) gives them all together.
 */
static int64_t
term_procs(struct sess *s, jv rows, bool (*kill_it)(struct sess *, jv),
	   jv *ours)
{
	jv_array_foreach(rows, i, row) {
		bool o = (!kill_it || kill_it(s, row)) &&
			cdt_sandbox_term((long)rnum(row, "pid", 0),
					 rnum(row, "start_time", 0));
		*ours = jv_array_append(*ours, jv_bool(o));
		jv_free(row);
	}
	jv_free(rows);
	return now_ms() + cdt_cfg_duration_ms(&s->cfg, "sandbox.kill_grace",
					      KILL_GRACE_DEFAULT_MS);
}

/* Element i of term_procs's *ours. */
static bool
was_ours(jv ours, int i)
{
	return jv_get_kind(jv_array_get(jv_copy(ours), i)) == JV_KIND_TRUE;
}

/*
 * End one recorded process of the session: with kill_it, kill it (only
 * if its pid still has the recorded start time) and its sandbox, after
 * waiting for it until deadline (from term_procs); else only note that
 * it exited.  Its row gets ended_at and end_reason
 * ("killed", "gone": not there at the time, nothing signalled by pid;
 * "exited"), and *list an entry.  Borrows row.
 */
static int
reap_proc(struct sess *s, jv row, bool kill_it, bool ours, int64_t deadline,
	  jv *list)
{
	struct cdt_cg cg;
	memset(&cg, 0, sizeof(cg));
	long pid = (long)rnum(row, "pid", 0);
	long long start = rnum(row, "start_time", 0);
	const char *txt = rstr(row, "cgroups");
	jv dirs = txt ? jv_parse(txt) : jv_array();
	if (jv_get_kind(dirs) == JV_KIND_ARRAY) {
		jv_array_foreach(dirs, i, d) {
			const char *ds = jv_get_kind(d) == JV_KIND_STRING ?
				jv_string_value(d) : "";
			if (i < CDT_SANDBOX_NCG && strlen(ds) <
			    sizeof(cg.dir[i]))
				memcpy(cg.dir[i], ds, strlen(ds) + 1);
			jv_free(d);
		}
	}
	jv_free(dirs);
	const char *why;
	if (kill_it) {
		int64_t left = deadline - now_ms();
		why = cdt_sandbox_kill_termed(pid, start, ours,
					      left > 0 ? left : 0, &cg) ?
			"gone" : "killed";
	} else {
		if (cdt_sandbox_start_time(pid) == start)
			return 0;
		cdt_sandbox_cg_rmdir(&cg);
		why = "exited";
	}
	int rc = cdt_store_exec(s->st, "UPDATE session_processes SET "
				"ended_at = ?, end_reason = ? WHERE "
				"session_id = ? AND pid = ? AND start_time = ? "
				"AND ended_at IS NULL",
				JV_ARRAY(jv_number((double)now_ms()),
					 jv_string(why),
					 sv(rstr(row, "session_id")),
					 jv_number((double)pid),
					 jv_number((double)start)), NULL);
	if (rc)
		return rc;
	cdt_info("process %ld of session '%s': %s", pid,
		 rstr(row, "session_id"), why);
	jv e = jv_object();
	e = jv_object_set(e, jv_string("pid"), jv_number((double)pid));
	e = jv_object_set(e, jv_string("start_time"),
			  jv_number((double)start));
	e = jv_object_set(e, jv_string("end_reason"), jv_string(why));
	*list = jv_array_append(*list, e);
	return 0;
}

/* The session's processes not known to have ended (rows in *out). */
static int
live_procs(struct sess *s, const char *id, jv *out)
{
	return cdt_store_exec(s->st, "SELECT session_id, pid, start_time, "
			      "cgroups FROM session_processes WHERE "
			      "session_id = ? AND ended_at IS NULL ORDER BY "
			      "started_at, pid", JV_ARRAY(jv_string(id)), out);
}

/*
 * Terminate the loaded session for reason: through terminating while
 * its recorded processes are killed, when it has any.  *list gets them.
 */
static int
end_session(struct sess *s, const char *reason, jv *list)
{
	jv rows = jv_invalid();
	char *id = cdt_xstrdup(rstr(s->row, "id"));
	int rc = live_procs(s, id, &rows);
	if (!rc && jv_array_length(jv_copy(rows)) > 0) {
		rc = transition(s, "terminating", false, reason);
		jv ours = jv_array();
		int64_t deadline = rc ? 0 : term_procs(s, jv_copy(rows), NULL,
							&ours);
		jv_array_foreach(rows, i, row) {
			if (!rc)
				rc = reap_proc(s, row, true, was_ours(ours, i),
					       deadline, list);
			jv_free(row);
		}
		jv_free(ours);
	}
	/* Nothing written inside is lost: S3 gets it first (else 75, and
	   the session stays for the next try). */
	if (!rc)
		rc = cdt_sessws_push(&s->cfg, s->row);
	if (!rc)
		rc = transition(s, "terminated", false, reason);
	jv_free(rows);
	free(id);
	return rc;
}

/* A process row as the record shows it. */
static jv
proc_record(jv row)
{
	jv p = jv_object();
	p = jv_object_set(p, jv_string("pid"), jv_number(rnum(row, "pid",
							       0)));
	p = jv_object_set(p, jv_string("start_time"),
			  jv_number((double)rnum(row, "start_time", 0)));
	const char *a = rstr(row, "argv");
	jv argv = a ? jv_parse(a) : jv_null();
	p = jv_object_set(p, jv_string("argv"), jv_is_valid(argv) ? argv :
			  jv_null());
	p = jv_object_set(p, jv_string("log"), sv(rstr(row, "log")));
	p = jv_object_set(p, jv_string("started_at"),
			  time_jv(rnum(row, "started_at", 0)));
	p = jv_object_set(p, jv_string("ended_at"),
			  time_jv(rnum(row, "ended_at", 0)));
	return jv_object_set(p, jv_string("end_reason"),
			     sv(rstr(row, "end_reason")));
}

/* The session record with its history and its recorded processes. */
static int
emit_history(struct sess *s)
{
	jv ev = jv_invalid(), pr = jv_invalid();
	const char *id = rstr(s->row, "id");
	int rc = cdt_store_exec(s->st, "SELECT ts, from_status, to_status, "
				"reason FROM session_events WHERE "
				"session_id = ? ORDER BY seq",
				JV_ARRAY(jv_string(id)), &ev);
	if (!rc)
		rc = cdt_store_exec(s->st, "SELECT * FROM session_processes "
				    "WHERE session_id = ? ORDER BY "
				    "started_at, pid",
				    JV_ARRAY(jv_string(id)), &pr);
	if (rc) {
		jv_free(ev);
		jv_free(pr);
		return rc;
	}
	jv h = jv_array(), procs = jv_array();
	jv_array_foreach(ev, i, row) {
		jv e = jv_object();
		e = jv_object_set(e, jv_string("at"),
				  time_jv(rnum(row, "ts", 0)));
		e = jv_object_set(e, jv_string("from"),
				  sv(rstr(row, "from_status")));
		e = jv_object_set(e, jv_string("to"),
				  sv(rstr(row, "to_status")));
		e = jv_object_set(e, jv_string("reason"),
				  sv(rstr(row, "reason")));
		h = jv_array_append(h, e);
		jv_free(row);
	}
	jv_array_foreach(pr, i, row) {
		procs = jv_array_append(procs, proc_record(row));
		jv_free(row);
	}
	jv_free(ev);
	jv_free(pr);
	jv r = row_record(s->row);
	r = jv_object_set(r, jv_string("history"), h);
	r = jv_object_set(r, jv_string("processes"), procs);
	return cdt_emit(r);
}

enum life { L_GET, L_HEARTBEAT, L_PAUSE, L_RESUME, L_TERMINATE };

static int
lifecycle(struct cdt_ctx *ctx, enum life what)
{
	struct sess s;
	jv procs = jv_array();
	int rc;
	sess_init(&s, ctx);
	if (ctx->argc > 1) {
		rc = cdt_usage(ctx, "one session id at most");
		goto out;
	}
	if ((rc = sess_stream(&s)) || (rc = sess_open(&s))) {
		rc = rc == 1 ? 0 : rc;
		goto out;
	}
	const char *id = pick_id(ctx, ctx->argc ? ctx->argv[0] : NULL);
	if (!id) {
		rc = cdt_usage(ctx, "which session? give its id, a session "
			       "record on stdin, or CDT_SESSION");
		goto out;
	}
	if ((rc = sess_load(&s, id, what == L_GET ? "sessions.read" :
			    "sessions.update")))
		goto out;
	const char *st = rstr(s.row, "status");
	bool ended = !live(st);
	switch (what) {
	case L_GET:
		break;
	case L_TERMINATE:
		/* Its processes and its working copy are on that machine. */
		if (!ended && !made_here(s.row)) {
			jv sb = row_sandbox(s.row);
			rc = cdt_err_class(EX_UNAVAILABLE, "unavailable",
					   "session '%s' runs on %s: terminate "
					   "it there (its processes and working "
					   "copy are there; its cdt-session gc "
					   "ends it when it is idle)", id,
					   cdt_record_str(sb, "machine"));
			jv_free(sb);
		} else if (!ended) {
			rc = end_session(&s, "terminate", &procs);
		}
		break;
	case L_HEARTBEAT:
	case L_PAUSE:
	case L_RESUME:
		if (ended) {
			rc = cdt_err_class(EX_UNAVAILABLE, "unavailable",
					   "session '%s' is %s", id, st);
			break;
		}
		if (what == L_HEARTBEAT)
			rc = transition(&s, st, true, NULL);
		else if (what == L_PAUSE && strcmp(st, "paused"))
			rc = transition(&s, "paused", false, "pause");
		else if (what == L_RESUME && !strcmp(st, "paused"))
			rc = transition(&s, "running", true, "resume");
		break;
	}
	if (!rc && what == L_GET && cdt_flag(ctx, "history")) {
		rc = emit_history(&s);
	} else if (!rc) {
		jv r = row_record(s.row);
		if (jv_array_length(jv_copy(procs)) > 0)
			r = jv_object_set(r, jv_string("ended_processes"),
					  jv_copy(procs));
		rc = cdt_emit(r);
	}
out:
	jv_free(procs);
	sess_release(&s);
	return rc;
}

int
cdt_session_get(struct cdt_ctx *ctx)
{
	return lifecycle(ctx, L_GET);
}

int
cdt_session_heartbeat(struct cdt_ctx *ctx)
{
	return lifecycle(ctx, L_HEARTBEAT);
}

int
cdt_session_pause(struct cdt_ctx *ctx)
{
	return lifecycle(ctx, L_PAUSE);
}

int
cdt_session_resume(struct cdt_ctx *ctx)
{
	return lifecycle(ctx, L_RESUME);
}

int
cdt_session_terminate(struct cdt_ctx *ctx)
{
	return lifecycle(ctx, L_TERMINATE);
}

int
cdt_session_list(struct cdt_ctx *ctx)
{
	struct sess s;
	jv rows = jv_invalid();
	int rc;
	sess_init(&s, ctx);
	if (ctx->argc > 0) {
		rc = cdt_usage(ctx, "list takes no operand");
		goto out;
	}
	if ((rc = sess_stream(&s)) || (rc = sess_open(&s))) {
		rc = rc == 1 ? 0 : rc;
		goto out;
	}
	const char *status = cdt_opt(ctx, "status");
	if (status && !live(status) && strcmp(status, "terminating") &&
	    strcmp(status, "terminated") && strcmp(status, "error")) {
		rc = cdt_usage(ctx, "--status takes creating, running, paused, "
			       "terminating, terminated or error");
		goto out;
	}
	bool all = cdt_flag(ctx, "all");
	rc = cdt_store_exec(s.st, SELECT_ROW "WHERE s.org_id = ? AND "
			    "(? OR s.user_id = ?) AND (? IS NULL OR "
			    "s.status = ?) ORDER BY s.created_at, s.id",
			    JV_ARRAY(jv_string(s.who.org_id), jv_bool(all),
				     jv_string(s.who.user_id), sv(status),
				     sv(status)), &rows);
	if (rc)
		goto out;
	jv_array_foreach(rows, i, row) {
		struct cdt_object o = row_object(row);
		if (!rc && cdt_caller_can(&s.who, "sessions.read", &o))
			rc = emit_row(row);
		jv_free(row);
	}
out:
	jv_free(rows);
	sess_release(&s);
	return rc;
}

/*
 * The recorded processes not known to have ended, of sessions of the
 * caller's org it may change: those of an ended session are killed
 * (left over from a terminate that could not finish); those of a live
 * session that have exited are noted, and their cgroups removed.
 */
/* May gc touch this process row: made here, by a caller who may? */
static bool
sweep_may(struct sess *s, jv row)
{
	struct cdt_object o = row_object(row);
	return made_here(row) &&
		cdt_caller_can(&s->who, "sessions.update", &o);
}

/* Does gc kill it: its session has ended. */
static bool
sweep_kills(struct sess *s, jv row)
{
	return !live(rstr(row, "status")) && sweep_may(s, row);
}

static int
gc_sweep(struct sess *s)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(s->st, "SELECT p.session_id, p.pid, "
				"p.start_time, p.cgroups, s.status, s.org_id, "
				"s.team_id, s.user_id, s.project, s.sandbox FROM "
				"session_processes p JOIN sessions s ON s.id = "
				"p.session_id WHERE s.org_id = ? AND "
				"p.ended_at IS NULL ORDER BY p.started_at",
				JV_ARRAY(jv_string(s->who.org_id)), &rows);
	if (rc)
		return rc;
	jv ours = jv_array();
	int64_t deadline = term_procs(s, jv_copy(rows), sweep_kills, &ours);
	jv_array_foreach(rows, i, row) {
		jv list = jv_array();
		if (!rc && sweep_may(s, row))
			rc = reap_proc(s, row, !live(rstr(row, "status")),
				       was_ours(ours, i), deadline, &list);
		jv_free(list);
		jv_free(row);
	}
	jv_free(ours);
	jv_free(rows);
	return rc;
}

/* Is the session's branch tip on any other ref (checkpointed elsewhere)? */
static int
tip_elsewhere(struct cdt_git *g, const char *self, const git_oid *tip,
	      char *where, size_t len)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	int rc = 0, e;
	*where = 0;
	if (git_reference_iterator_new(&it, g->repo) < 0)
		return gitfail(EX_IOERR, "cannot list the refs");
	while (!*where && (e = git_reference_next(&ref, it)) == 0) {
		git_reference *res = NULL;
		const char *name = git_reference_name(ref);
		if (strcmp(name, self) &&
		    git_reference_resolve(&res, ref) == 0) {
			const git_oid *o = git_reference_target(res);
			if (o && (git_oid_equal(o, tip) ||
				  git_graph_descendant_of(g->repo, o, tip) == 1))
				snprintf(where, len, "%s", name);
		}
		git_reference_free(res);
		git_reference_free(ref);
		ref = NULL;
	}
	git_reference_iterator_free(it);
	return rc;
}

/* Any ref left but the pruned sessions' own branches (in gone)? */
static bool
repo_has_other_refs(struct cdt_git *g, jv gone)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	bool other = false;
	if (git_reference_iterator_new(&it, g->repo) < 0)
		return true;
	while (!other && git_reference_next(&ref, it) == 0) {
		const char *name = git_reference_name(ref);
		bool mine = false;
		jv_array_foreach(gone, i, id) {
			char r[128];
			session_ref(jv_string_value(id), r, sizeof(r));
			mine = mine || !strcmp(r, name);
			jv_free(id);
		}
		other = !mine;
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	return other;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	(void)flag;
	if (remove(path) && errno != ENOENT)
		cdt_warn("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Remove a tree, never following symlinks nor crossing mounts. */
static int
rm_tree(const char *dir)
{
	if (access(dir, F_OK))
		return 0;
	if (nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) ||
	    !access(dir, F_OK))
		return cdt_err_errno(EX_IOERR, "cannot remove '%s'", dir);
	return 0;
}

/* Is ws a directory sessions make, under the storage root? */
static bool
under_storage(struct sess *s, const char *ws)
{
	const char *root = cdt_cfg_str(&s->cfg, "storage.root", NULL);
	struct cdt_buf b = CDT_BUF_INIT;
	if (!root && !cdt_cfg_home())
		return false;
	if (root)
		cdt_buf_addstr(&b, root);
	else
		cdt_buf_addf(&b, "%s/storage", cdt_cfg_home());
	cdt_buf_addstr(&b, "/");
	bool in = !strncmp(ws, b.buf, b.len) && !strstr(ws + b.len, "..");
	cdt_buf_release(&b);
	return in;
}

/*
 * Prune one terminated session (s->row): its branch, when its tip is on
 * no other ref (else the session is kept, unpruned), and its workspace,
 * when it is under the storage root, a session made it, no unpruned
 * session still uses it and its repository keeps no other ref.  The record says what goes before it goes; with
 * dry_run nothing goes.  gone: the ids pruned in this run (appended).
 */
static int
prune_one(struct sess *s, bool dry_run, jv *gone)
{
	struct cdt_git g = { 0 };
	jv others = jv_invalid();
	const char *id = rstr(s->row, "id");
	const char *ws = rstr(s->row, "workspace");
	/* A -C DIR checkout is never touched: neither branch nor files. */
	bool ours = under_storage(s, ws);
	char ref[128], where[512] = "", hex[GIT_OID_HEXSZ + 1] = "";
	git_oid tip;
	int rc = 0, found = 0;
	bool repo = false, rm_ws = false;

	session_ref(id, ref, sizeof(ref));
	if (ours) {
		char p[4200];
		snprintf(p, sizeof(p), "%s/.git", ws);
		repo = !access(p, F_OK);
	}
	if (repo && (rc = cdt_git_open(&g, ws, dry_run ? 0 : CDT_GIT_WRITE)))
		goto out;
	if (repo && (found = session_tip(&g, id, &tip)) < 0) {
		rc = -found;
		goto out;
	}
	if (found > 0) {
		cdt_git_hex(&tip, hex);
		if ((rc = tip_elsewhere(&g, ref, &tip, where, sizeof(where))))
			goto out;
		if (*where) {
			cdt_info("session '%s' kept: its branch is on '%s'", id,
				 where);
			goto out;
		}
	}
	/* Which sessions use the workspace, and did one of them make it? */
	rc = cdt_store_exec(s->st, "SELECT id, sandbox, pruned_at FROM "
			    "sessions WHERE workspace = ?",
			    JV_ARRAY(jv_string(ws)), &others);
	if (rc)
		goto out;
	bool shared = false, made = false;
	jv_array_foreach(others, i, o) {
		jv osb = row_sandbox(o);
		jv m = jv_object_get(osb, jv_string("workspace_created"));
		made = made || jv_get_kind(m) == JV_KIND_TRUE;
		jv_free(m);
		bool in_run = !strcmp(cdt_record_str(o, "id"), id) ||
			rnum(o, "pruned_at", 0) > 0;
		jv_array_foreach(*gone, k, gid) {
			in_run = in_run || !strcmp(jv_string_value(gid),
						   cdt_record_str(o, "id"));
			jv_free(gid);
		}
		shared = shared || !in_run;
		jv_free(o);
	}
	jv run = jv_array_append(jv_copy(*gone), jv_string(id));
	rm_ws = ours && made && !shared &&
		(!repo || !repo_has_other_refs(&g, run));
	jv_free(run);

	jv p = jv_object();
	p = jv_object_set(p, jv_string("branch"), found > 0 ?
			  jv_string(ref + strlen("refs/heads/")) : jv_null());
	p = jv_object_set(p, jv_string("tip"), found > 0 ? jv_string(hex) :
			  jv_null());
	p = jv_object_set(p, jv_string("workspace"), rm_ws ? jv_string(ws) :
			  jv_null());
	jv r = row_record(s->row);
	r = jv_object_set(r, jv_string("pruned"), p);
	r = jv_object_set(r, jv_string("dry_run"), jv_bool(dry_run));
	*gone = jv_array_append(*gone, jv_string(id));
	if ((rc = cdt_emit(r)) || dry_run)
		goto out;
	if (found > 0) {
		git_reference *gr = NULL;
		if (git_reference_lookup(&gr, g.repo, ref) < 0 ||
		    git_reference_delete(gr) < 0)
			rc = gitfail(EX_TEMPFAIL, "cannot delete the session's "
				     "branch");
		git_reference_free(gr);
		if (rc)
			goto out;
	}
	cdt_git_close(&g);
	if (rm_ws && (rc = rm_tree(ws)))
		goto out;
	if (cdt_cfg_home()) {
		struct cdt_buf logs = CDT_BUF_INIT;
		cdt_buf_addf(&logs, "%s/sessions/%s", cdt_cfg_home(), id);
		rc = rm_tree(logs.buf);
		cdt_buf_release(&logs);
	}
	int64_t now = now_ms();
	if (!rc)
		rc = cdt_store_exec(s->st, "UPDATE sessions SET pruned_at = ? "
				    "WHERE id = ?",
				    JV_ARRAY(jv_number((double)now),
					     jv_string(id)), NULL);
	if (!rc)
		rc = event_add(s, id, rstr(s->row, "status"),
			       rstr(s->row, "status"), "pruned", now);
out:
	jv_free(others);
	cdt_git_close(&g);
	return rc;
}

/*
 * gc --prune: the sessions of the caller's org it may delete, ended
 * longer than sandbox.prune_after ago and not pruned yet.
 */
static int
gc_prune(struct sess *s, bool dry_run)
{
	jv rows = jv_invalid(), gone = jv_array();
	int64_t after = cdt_cfg_duration_ms(&s->cfg, "sandbox.prune_after",
					    PRUNE_AFTER_DEFAULT_MS);
	int rc = cdt_store_exec(s->st, SELECT_ROW "WHERE s.org_id = ? AND "
				"s.status IN ('terminated', 'error') AND "
				"s.pruned_at IS NULL AND s.updated_at <= ? "
				"ORDER BY s.updated_at, s.id",
				JV_ARRAY(jv_string(s->who.org_id),
					 jv_number((double)(now_ms() - after))),
				&rows);
	if (rc)
		goto out;
	jv_array_foreach(rows, i, row) {
		struct cdt_object o = row_object(row);
		if (rc || !made_here(row) ||
		    !cdt_caller_can(&s->who, "sessions.delete", &o)) {
			jv_free(row);
			continue;
		}
		jv_free(s->row);
		s->row = row;
		rc = prune_one(s, dry_run, &gone);
	}
out:
	jv_free(gone);
	jv_free(rows);
	return rc;
}

int
cdt_session_gc(struct cdt_ctx *ctx)
{
	struct sess s;
	jv rows = jv_invalid();
	int rc;
	sess_init(&s, ctx);
	bool prune = cdt_flag(ctx, "prune");
	bool dry_run = cdt_flag(ctx, "dry-run");
	if (ctx->argc > 0 || (dry_run && !prune)) {
		rc = cdt_usage(ctx, ctx->argc ? "gc takes no operand" :
			       "--dry-run goes with --prune");
		goto out;
	}
	if ((rc = sess_stream(&s)) || (rc = sess_open(&s))) {
		rc = rc == 1 ? 0 : rc;
		goto out;
	}
	rc = cdt_store_exec(s.st, SELECT_ROW "WHERE s.org_id = ? AND "
			    "s.status IN ('creating', 'running', 'paused') "
			    "ORDER BY s.created_at, s.id",
			    JV_ARRAY(jv_string(s.who.org_id)), &rows);
	if (rc)
		goto out;
	int64_t now = now_ms();
	jv_array_foreach(rows, i, row) {
		struct cdt_object o = row_object(row);
		const char *why = NULL;
		jv sb = row_sandbox(row);
		long owner = (long)rnum(sb, "owner_pid", 0);
		long long ostart = rnum(sb, "owner_start", 0);
		jv_free(sb);
		int64_t exp = row_expiry(row);
		if (exp > 0 && now >= exp)
			why = exp == rnum(row, "expires_at", 0) ?
				"maximum age" : "idle";
		else if (owner > 0 && cdt_sandbox_start_time(owner) != ostart)
			why = "owner process gone";
		if (rc || !why || !made_here(row) ||
		    (!cdt_caller_can(&s.who, "sessions.update", &o) &&
		     !cdt_caller_can(&s.who, "sessions.delete", &o))) {
			jv_free(row);
			continue;
		}
		jv_free(s.row);
		s.row = row;
		jv procs = jv_array();
		rc = end_session(&s, why, &procs);
		if (!rc) {
			cdt_info("terminated session '%s': %s",
				 rstr(s.row, "id"), why);
			jv r = row_record(s.row);
			r = jv_object_set(r, jv_string("reason"),
					  jv_string(why));
			if (jv_array_length(jv_copy(procs)) > 0)
				r = jv_object_set(r, jv_string(
					"ended_processes"), jv_copy(procs));
			rc = cdt_emit(r);
		}
		jv_free(procs);
	}
	if (!rc)
		rc = gc_sweep(&s);
	if (!rc && prune)
		rc = gc_prune(&s, dry_run);
out:
	jv_free(rows);
	sess_release(&s);
	return rc;
}

/* exec ------------------------------------------------------------ */

struct xo {
	const char *id;
	jv argv;
	struct cdt_buf carry[2];	/* an unfinished UTF-8 char */
	struct cdt_reader *in;
};

static int
emit_chunk(struct xo *x, int stream, const char *d, size_t n, bool b64)
{
	jv r = cdt_record_new("exec");
	r = jv_object_set(r, jv_string("session_id"), jv_string(x->id));
	r = jv_object_set(r, jv_string("argv"), jv_copy(x->argv));
	r = jv_object_set(r, jv_string("stream"),
			  jv_string(stream == 1 ? "stdout" : "stderr"));
	if (!b64) {
		r = jv_object_set(r, jv_string("data"), jv_string_sized(d,
			(int)n));
	} else {
		struct cdt_buf b = CDT_BUF_INIT;
		int rc = cdt_b64_encode(d, n, &b);
		if (rc) {
			jv_free(r);
			cdt_buf_release(&b);
			return rc;
		}
		r = jv_object_set(r, jv_string("data_base64"),
				  jv_string_sized(b.buf, (int)b.len));
		cdt_buf_release(&b);
	}
	return cdt_emit(r);
}

static int
xo_out(void *arg, int stream, const char *data, size_t len)
{
	struct xo *x = arg;
	struct cdt_buf *c = &x->carry[stream - 1];
	int rc = cdt_buf_add(c, data, len);
	if (rc)
		return rc;
	size_t cut = cdt_utf8_cut(c->buf, c->len);
	if (c->len - cut > 3 || !cdt_utf8_valid(c->buf, cut)) {
		rc = emit_chunk(x, stream, c->buf, c->len, true);
		cdt_buf_reset(c);
		return rc;
	}
	if (cut)
		rc = emit_chunk(x, stream, c->buf, cut, false);
	cdt_buf_consume(c, cut);
	return rc;
}

static ssize_t
xo_read(void *arg, void *buf, size_t len)
{
	struct xo *x = arg;
	return cdt_reader_raw(x->in, buf, len);
}

static bool
xo_buffered(void *arg)
{
	struct xo *x = arg;
	return x->in->peek_off < x->in->peek.len;
}

static int
add_env(char ***env, int *n, const char *kv, const char *where)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return cdt_err(EX_USAGE, "%s: '%s' is not NAME=VALUE", where,
			       kv);
	*env = cdt_xrealloc(*env, (size_t)(*n + 2) * sizeof(**env));
	(*env)[(*n)++] = cdt_xstrdup(kv);
	(*env)[*n] = NULL;
	return 0;
}

static int
env_file(char ***env, int *n, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return cdt_err_errno(EX_NOINPUT, "cannot read --env-file '%s'",
				     path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len || line[0] == '#')
			continue;
		rc = add_env(env, n, line, path);
	}
	free(line);
	fclose(f);
	return rc;
}

/* The bytes a workspace takes on disk (nftw has no argument: a static). */
static uint64_t du_total;

static int
du_add(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)path;
	(void)flag;
	(void)f;
	du_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

/* 0, or 75 when the workspace is over its disk limit. */
static int
disk_check(const char *ws, uint64_t limit)
{
	if (!limit)
		return 0;
	du_total = 0;
	if (nftw(ws, du_add, 32, FTW_PHYS | FTW_MOUNT))
		return 0;	/* unreadable parts: no figure, no refusal */
	if (du_total <= limit)
		return 0;
	return cdt_err_class(EX_TEMPFAIL, "quota", "the workspace is over its "
			     "disk limit: %llu bytes used, %llu allowed "
			     "(--disk); remove files first",
			     (unsigned long long)du_total,
			     (unsigned long long)limit);
}

/* A failure before the command ran: its error record, then 125. */
static int
not_run(struct cdt_ctx *ctx, int rc)
{
	if (!rc)
		return 0;
	if (ctx->out_mode == CDT_OUT_RECORDS && !cdt_out_error_written() &&
	    !cdt_out_broken()) {
		struct cdt_err_last e;
		cdt_err_get(&e);
		jv r = cdt_record_new("error");
		r = jv_object_set(r, jv_string("tool"),
				  jv_string(cdt_err_name()));
		r = jv_object_set(r, jv_string("code"), jv_number(rc));
		r = jv_object_set(r, jv_string("class"), jv_string(
			e.code == rc && e.cls ? e.cls : cdt_err_class_of(rc)));
		r = jv_object_set(r, jv_string("message"), jv_string(
			e.code == rc && e.message ? e.message :
			"the command did not run"));
		cdt_emit(r);
	}
	cdt_err_clear();
	return CDT_SANDBOX_EXIT_NOTRUN;
}

/* A log file of the session's not used yet: sessions/ID/logs/N.log. */
static int
log_path(struct sess *s, const char *id, char **out)
{
	jv rows = jv_invalid();
	struct cdt_buf b = CDT_BUF_INIT;
	const char *home = cdt_cfg_home();
	if (!home)
		return cdt_err(EX_CONFIG, "no home for the logs: set CDT_HOME "
			       "or HOME");
	int rc = cdt_store_exec(s->st, "SELECT count(*) AS n FROM "
				"session_processes WHERE session_id = ?",
				JV_ARRAY(jv_string(id)), &rows);
	if (rc)
		return rc;
	jv row = jv_array_get(rows, 0);
	int64_t n = rnum(row, "n", 0);
	jv_free(row);
	cdt_buf_addf(&b, "%s/sessions/%s/logs", home, id);
	if ((rc = mkdirs(b.buf))) {
		cdt_buf_release(&b);
		return rc;
	}
	size_t dir = b.len;
	do {
		b.len = dir;
		cdt_buf_addf(&b, "/%lld.log", (long long)++n);
	} while (!access(b.buf, F_OK));
	*out = cdt_xstrdup(b.buf);
	cdt_buf_release(&b);
	return 0;
}

/*
 * exec --detach: start the command in a fresh sandbox, detached, its
 * output in a log of the session; record it (pid and start time) and
 * print a process record.
 */
static int
detach(struct sess *s, const struct cdt_sandbox *sb, char *const *cmd,
       int ncmd, jv argv)
{
	const char *id = rstr(s->row, "id");
	jv sbd = row_sandbox(s->row);
	const char *type = cdt_record_str(sbd, "type");
	bool persistent = type && !strcmp(type, "persistent");
	jv_free(sbd);
	if (!persistent)
		return cdt_err(EX_USAGE, "exec --detach needs a persistent "
			       "session (create --type persistent)");
	char *log = NULL, name[128];
	int rc = log_path(s, id, &log);
	if (rc)
		return rc;
	struct cdt_sandbox_proc p;
	int64_t now = now_ms();
	snprintf(name, sizeof(name), "cdt-detach-%.8s-%ld-%lld", id,
		 (long)getpid(), (long long)now);
	uint64_t log_max = cdt_cfg_size(&s->cfg, "sandbox.log_max",
					LOG_MAX_DEFAULT);
	if ((rc = cdt_sandbox_spawn(sb, cmd, ncmd, log, log_max, name, &p)))
		goto out;
	if (!p.started) {
		rc = cdt_err(EX_UNAVAILABLE, "the sandbox did not start: %s%s",
			     p.why, sb->bwrap ? " (is bubblewrap installed "
			     "and allowed user namespaces? apt-get install "
			     "bubblewrap)" : "");
		goto out;
	}
	jv cgs = jv_array();
	for (int i = 0; i < CDT_SANDBOX_NCG; i++)
		cgs = jv_array_append(cgs, jv_string(p.cg.dir[i]));
	rc = cdt_store_exec(s->st, "INSERT INTO session_processes "
			    "(session_id, pid, start_time, argv, log, "
			    "cgroups, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			    JV_ARRAY(jv_string(id), jv_number((double)p.pid),
				     jv_number((double)p.start_time),
				     jv_copy(argv), jv_string(log), cgs,
				     jv_number((double)now)), NULL);
	if (rc) {
		/* Nothing left running that no row names. */
		cdt_sandbox_kill(p.pid, p.start_time, 0, &p.cg);
		goto out;
	}
	jv r = cdt_record_new("process");
	r = jv_object_set(r, jv_string("session_id"), jv_string(id));
	r = jv_object_set(r, jv_string("pid"), jv_number((double)p.pid));
	r = jv_object_set(r, jv_string("start_time"),
			  jv_number((double)p.start_time));
	r = jv_object_set(r, jv_string("argv"), jv_copy(argv));
	r = jv_object_set(r, jv_string("log"), jv_string(log));
	r = jv_object_set(r, jv_string("started_at"), time_jv(now));
	jv by = jv_object();
	by = jv_object_set(by, jv_string("pids"), jv_string(p.pids_by));
	by = jv_object_set(by, jv_string("memory"), jv_string(p.memory_by));
	by = jv_object_set(by, jv_string("cpus"), jv_string(p.cpus_by));
	r = jv_object_set(r, jv_string("enforced_by"), by);
	rc = cdt_emit(r);
out:
	free(log);
	return rc;
}

int
cdt_session_exec(struct cdt_ctx *ctx)
{
	struct sess s;
	struct xo x = { NULL, jv_array(), { CDT_BUF_INIT, CDT_BUF_INIT },
			&ctx->in };
	char **env = NULL;
	int nenv = 0, rc = 0, ncmd = 0, nid;
	char **cmd = NULL;
	struct cdt_sandbox_result res;
	struct cdt_sandbox_io io = { 0 };
	enum cdt_input_kind kind = CDT_IN_EMPTY;
	bool upstream = false;

	sess_init(&s, ctx);
	nid = ctx->argc;
	if (have_dashdash && after_dashdash) {
		for (int i = 0; i < ctx->argc; i++) {
			if (ctx->argv[i] == after_dashdash) {
				nid = i;
				break;
			}
		}
	}
	cmd = ctx->argv + nid;
	ncmd = ctx->argc - nid;
	if (!have_dashdash || ncmd < 1) {
		rc = cdt_err(EX_USAGE, "exec needs -- COMMAND [ARG...]");
		goto out;
	}
	if (nid > 1) {
		rc = cdt_err(EX_USAGE, "one session id at most before --");
		goto out;
	}
	for (int i = 0; !rc && i < cdt_args_count(&ctx->args, "env"); i++)
		rc = add_env(&env, &nenv, cdt_args_nth(&ctx->args, "env", i),
			     "--env");
	const char *ef = cdt_opt(ctx, "env-file");
	if (!rc && ef)
		rc = env_file(&env, &nenv, ef);
	int64_t timeout = 0;
	const char *to = cdt_opt(ctx, "timeout");
	if (!rc && to && (cdt_parse_duration(to, &timeout) || timeout <= 0))
		rc = cdt_err(EX_USAGE, "--timeout takes a duration (30s, 10m), "
			     "not '%s'", to);
	if (rc)
		goto out;

	if ((rc = cdt_reader_kind(&ctx->in, &kind)))
		goto out;
	if (kind == CDT_IN_RECORDS) {
		rc = cdt_stream_each(ctx, NULL, NULL);
		if (!rc && jv_is_valid(ctx->upstream_error)) {
			rc = cdt_stream_upstream(ctx, "running the command");
			upstream = rc != 0;
		}
		if (!rc && ctx->session_conflict)
			rc = cdt_err(EX_DATAERR, "two session records that "
				     "disagree on stdin: name one as the "
				     "argument");
		if (rc)
			goto out;
		if (cdt_out_broken()) {
			upstream = true;	/* nothing to report */
			goto out;
		}
	}
	if ((rc = sess_open(&s)))
		goto out;
	const char *id = pick_id(ctx, nid ? ctx->argv[0] : NULL);
	if (!id) {
		rc = cdt_err(EX_USAGE, "which session? give its id, a session "
			     "record on stdin, or CDT_SESSION");
		goto out;
	}
	if ((rc = sess_load(&s, id, "sessions.update")))
		goto out;
	const char *status = rstr(s.row, "status");
	if (strcmp(status, "running")) {
		rc = cdt_err_class(EX_UNAVAILABLE, "unavailable",
				   "session '%s' is %s%s", id, status,
				   !strcmp(status, "paused") ?
				   ": resume it first" : "");
		goto out;
	}
	jv sbd = row_sandbox(s.row);
	jv lim = jv_object_get(jv_copy(sbd), jv_string("limits"));
	const char *engine = cdt_record_str(sbd, "engine");
	const char *net = cdt_record_str(sbd, "network");
	struct cdt_sandbox sb = {
		.bwrap = !engine || strcmp(engine, "none"),
		.network = net && !strcmp(net, "host"),
		.workspace = rstr(s.row, "workspace"),
		.memory_bytes = (uint64_t)rnum(lim, "memory_bytes", 0),
		.disk_bytes = (uint64_t)rnum(lim, "disk_bytes", 0),
		.pids = rnum(lim, "pids", 0),
		.cpus = 0,
		.env = env,
		.timeout_ms = timeout ? timeout :
			rnum(sbd, "exec_timeout_ms", 0),
		.no_cgroup = no_cgroup(&s),
		.uid = sandbox_uid(&s, rstr(s.row, "id")),
	};
	if (jv_get_kind(lim) == JV_KIND_OBJECT) {
		jv c = jv_object_get(jv_copy(lim), jv_string("cpus"));
		if (jv_get_kind(c) == JV_KIND_NUMBER)
			sb.cpus = jv_number_value(c);
		jv_free(c);
	}
	jv_free(lim);
	/* The session's row stays alive while we use sb's strings. */
	jv_free(sbd);

	if ((rc = disk_check(sb.workspace, sb.disk_bytes)))
		goto out;
	rc = cdt_store_exec(s.st, "UPDATE sessions SET last_activity_at = ? "
			    "WHERE id = ?",
			    JV_ARRAY(jv_number((double)now_ms()),
				     jv_string(id)), NULL);
	if (rc)
		goto out;

	x.id = rstr(s.row, "id");
	for (int i = 0; i < ncmd; i++)
		x.argv = jv_array_append(x.argv, jv_string(cmd[i]));
	if (cdt_flag(ctx, "detach")) {
		rc = detach(&s, &sb, cmd, ncmd, x.argv);
		if (rc)
			goto out;
		sess_release(&s);
		goto done;
	}
	if (kind == CDT_IN_RAW) {
		io.in_mode = 2;
		io.in_fd = ctx->in.fd;
		io.in_read = xo_read;
		io.in_buffered = xo_buffered;
	} else if (ctx->in.mode == CDT_INPUT_NONE && isatty(0) &&
		   !cdt_flag(ctx, "no-stdin")) {
		io.in_mode = 1;
	}
	if (ctx->out_mode != CDT_OUT_TEXT)
		io.out = xo_out;
	io.arg = &x;
	rc = cdt_sandbox_run(&sb, cmd, ncmd, &io, &res);
	if (rc)
		goto out;
	for (int st = 0; io.out && st < 2; st++) {
		if (x.carry[st].len && !rc)
			rc = emit_chunk(&x, st + 1, x.carry[st].buf,
					x.carry[st].len, true);
	}
	if (rc)
		goto out;
	cdt_store_exec(s.st, "UPDATE sessions SET last_activity_at = ? "
		       "WHERE id = ?", JV_ARRAY(jv_number((double)now_ms()),
						jv_string(id)), NULL);
	if (!res.started && !res.timed_out) {
		rc = cdt_err(EX_UNAVAILABLE, "the sandbox did not start: %s%s",
			     res.why, sb.bwrap ? " (is bubblewrap installed "
			     "and allowed user namespaces? apt-get install "
			     "bubblewrap)" : "");
		goto out;
	}
	jv r = cdt_record_new("exit");
	r = jv_object_set(r, jv_string("session_id"), jv_string(x.id));
	r = jv_object_set(r, jv_string("argv"), jv_copy(x.argv));
	r = jv_object_set(r, jv_string("code"), jv_number(res.code));
	if (res.signal) {
		char sig[32];
		const char *abbrev = sigabbrev_np(res.signal);
		if (abbrev)
			snprintf(sig, sizeof(sig), "SIG%s", abbrev);
		else
			snprintf(sig, sizeof(sig), "%d", res.signal);
		r = jv_object_set(r, jv_string("signal"), jv_string(sig));
	} else {
		r = jv_object_set(r, jv_string("signal"), jv_null());
	}
	r = jv_object_set(r, jv_string("timed_out"), jv_bool(res.timed_out));
	r = jv_object_set(r, jv_string("oom_killed"),
			  jv_bool(res.oom_killed));
	r = jv_object_set(r, jv_string("duration_ms"),
			  jv_number((double)res.duration_ms));
	if (io.out)
		rc = cdt_emit(r);
	else
		jv_free(r);
	if (res.timed_out)
		cdt_warn("timed out after %s: killed the sandbox", to ? to :
			 "the session's exec timeout");
	if (!rc) {
		cdt_err_clear();
		rc = res.code;
	}
	sess_release(&s);
	goto done;
out:
	sess_release(&s);
	if (!upstream)
		rc = not_run(ctx, rc);
done:
	for (int i = 0; i < nenv; i++)
		free(env[i]);
	free(env);
	jv_free(x.argv);
	cdt_buf_release(&x.carry[0]);
	cdt_buf_release(&x.carry[1]);
	return rc;
}
