#include "compat.h"
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include "cfg.h"
#include "checkpoint.h"
#include "codec.h"
#include "err.h"
#include "git.h"
#include "log.h"
#include "path.h"
#include "sessws.h"

/* A commit message from -F is at most this long. */
#define MESSAGE_MAX ((size_t)1 << 20)

/* --- the workspace ------------------------------------------------------- */

/*
 * The session a command works in, when it has no -C: one command per
 * process, so it lives until exit.
 */
static struct cdt_sessws sess;
static bool in_session;

static void
sess_release(void)
{
	cdt_sessws_release(&sess);
}

/* -C DIR, else the session's workspace once perm is allowed on it. */
static int
workspace(struct cdt_ctx *ctx, const char *perm, const char **dir)
{
	*dir = ctx->dir;
	if (*dir && cdt_opt(ctx, "session"))
		return cdt_usage(ctx, "-C and --session exclude each other");
	if (*dir)
		return 0;
	if (in_session) {
		*dir = sess.workspace;
		return 0;
	}
	if (cdt_opt(ctx, "branch"))
		return cdt_usage(ctx, "--branch goes with -C: a session "
				 "commits to its own branch");
	int rc = cdt_sessws_open(ctx, perm, &sess);
	atexit(sess_release);
	if (rc)
		return rc;
	in_session = true;
	*dir = sess.workspace;
	return 0;
}

/* The size cap from the configuration (checkpoint.max_file_size). */
static int
size_cap(uint64_t *cap)
{
	struct cdt_cfg cfg;
	cdt_cfg_init(&cfg);
	int rc = cdt_cfg_load(&cfg);
	*cap = cdt_cfg_size(&cfg, "checkpoint.max_file_size",
			    CDT_GIT_MAX_FILE_SIZE);
	cdt_cfg_release(&cfg);
	return rc;
}

/* Open the workspace's repository; *b is the branch of --branch or HEAD. */
static int
open_repo(struct cdt_ctx *ctx, struct cdt_git *g, unsigned flags,
	  const char *perm, struct cdt_git_branch *b)
{
	const char *dir;
	uint64_t cap = CDT_GIT_MAX_FILE_SIZE;
	int rc = workspace(ctx, perm, &dir);
	if (!rc && (flags & CDT_GIT_WRITE))
		rc = size_cap(&cap);
	if (rc)
		return rc;
	rc = cdt_git_open(g, dir, flags);
	if (rc)
		return rc;
	g->max_file_size = cap;
	if (in_session) {
		g->author_name = sess.author_name;
		g->author_email = sess.author_email;
	}
	rc = cdt_git_branch(g, in_session ? sess.branch :
			    cdt_opt(ctx, "branch"), b);
	if (rc)
		cdt_git_close(g);
	return rc;
}

/* --- records ------------------------------------------------------------- */

static jv
hex_or_null(const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	if (!id || git_oid_is_zero(id))
		return jv_null();
	cdt_git_hex(id, hex);
	return jv_string(hex);
}

static jv
time_str(git_time_t t)
{
	char s[40];
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return jv_string(s);
}

/*
 * The checkpoint record of commit id (NULL: none yet) with its counts;
 * branch may be NULL.
 */
static int
checkpoint_record(struct cdt_git *g, const git_oid *id, const char *branch,
		  const struct cdt_git_stats *st, bool unchanged, jv *out)
{
	git_commit *c = NULL;
	jv r = cdt_record_new("checkpoint");
	r = jv_object_set(r, jv_string("sha"), hex_or_null(id));
	r = jv_object_set(r, jv_string("branch"),
			  branch ? jv_string(branch) : jv_null());
	r = jv_object_set(r, jv_string("session_id"), in_session ?
			  jv_string(sess.id) : jv_null());
	if (id && git_commit_lookup(&c, g->repo, id) < 0) {
		jv_free(r);
		return cdt_err(EX_SOFTWARE, "cannot read checkpoint: %s",
			       git_error_last() ? git_error_last()->message :
			       "?");
	}
	const char *msg = c ? git_commit_message(c) : NULL;
	size_t ml = msg ? strlen(msg) : 0;
	while (ml && msg[ml - 1] == '\n')
		ml--;
	r = jv_object_set(r, jv_string("message"),
			  msg ? jv_string_sized(msg, (int)ml) : jv_null());
	r = jv_object_set(r, jv_string("files_changed"),
			  jv_number((double)st->files));
	r = jv_object_set(r, jv_string("insertions"),
			  jv_number((double)st->insertions));
	r = jv_object_set(r, jv_string("deletions"),
			  jv_number((double)st->deletions));
	r = jv_object_set(r, jv_string("unchanged"), jv_bool(unchanged));
	r = jv_object_set(r, jv_string("created_at"),
			  c ? time_str(git_commit_time(c)) : jv_null());
	r = jv_object_set(r, jv_string("parent"), c &&
			  git_commit_parentcount(c) ?
			  hex_or_null(git_commit_parent_id(c, 0)) : jv_null());
	git_commit_free(c);
	*out = r;
	return 0;
}

/* Counts of commit id against its first parent. */
static int
commit_stats(struct cdt_git *g, const git_oid *id, struct cdt_git_stats *st)
{
	git_commit *c = NULL;
	git_oid pt, t;
	memset(st, 0, sizeof(*st));
	int e = git_commit_lookup(&c, g->repo, id);
	if (e < 0)
		return cdt_err(EX_SOFTWARE, "cannot read checkpoint: %s",
			       git_error_last() ? git_error_last()->message :
			       "?");
	git_oid_cpy(&t, git_commit_tree_id(c));
	int rc = cdt_git_commit_tree(g, git_commit_parentcount(c) ?
				     git_commit_parent_id(c, 0) : NULL, &pt);
	git_commit_free(c);
	return rc ? rc : cdt_git_stats(g, &pt, &t, st);
}

/* --- create -------------------------------------------------------------- */

struct create {
	struct cdt_spool files;
	bool from_records;
	bool saw_exit;
	bool exit_ok;
	char exit_what[64];
};

/* Keep the last exit record's verdict, and the file records. */
static int
create_take(void *arg, jv rec, const char *type)
{
	struct create *c = arg;
	if (!strcmp(type, "exit")) {
		jv code = jv_object_get(jv_copy(rec), jv_string("code"));
		jv sig = jv_object_get(jv_copy(rec), jv_string("signal"));
		jv to = jv_object_get(jv_copy(rec), jv_string("timed_out"));
		c->saw_exit = true;
		c->exit_ok = jv_get_kind(code) == JV_KIND_NUMBER &&
			jv_number_value(code) == 0 &&
			(jv_get_kind(sig) == JV_KIND_NULL ||
			 jv_get_kind(sig) == JV_KIND_INVALID) &&
			jv_get_kind(to) != JV_KIND_TRUE;
		if (jv_get_kind(sig) == JV_KIND_STRING)
			snprintf(c->exit_what, sizeof(c->exit_what),
				 "was killed by %s", jv_string_value(sig));
		else if (jv_get_kind(to) == JV_KIND_TRUE)
			snprintf(c->exit_what, sizeof(c->exit_what),
				 "timed out");
		else if (jv_get_kind(code) == JV_KIND_NUMBER)
			snprintf(c->exit_what, sizeof(c->exit_what),
				 "exited %g", jv_number_value(code));
		else
			snprintf(c->exit_what, sizeof(c->exit_what),
				 "left no exit code");
		jv_free(code);
		jv_free(sig);
		jv_free(to);
	} else if (c->from_records && !strcmp(type, "file")) {
		int rc = cdt_spool_add(&c->files, jv_copy(rec));
		if (rc)
			return rc;
	}
	return 0;	/* forwarded either way */
}

/* The bytes of a file record: content or content_base64 (rec kept). */
static int
record_bytes(jv rec, const char *path, struct cdt_buf *out)
{
	jv c = jv_object_get(jv_copy(rec), jv_string("content"));
	jv b = jv_object_get(jv_copy(rec), jv_string("content_base64"));
	int rc = 0;
	if (jv_get_kind(c) == JV_KIND_STRING) {
		rc = cdt_buf_add(out, jv_string_value(c),
				 (size_t)jv_string_length_bytes(jv_copy(c)));
	} else if (jv_get_kind(b) == JV_KIND_STRING) {
		if (cdt_b64_decode(jv_string_value(b),
				   (size_t)jv_string_length_bytes(jv_copy(b)),
				   out))
			rc = cdt_err(EX_DATAERR, "file record '%s': bad "
				     "content_base64", path);
	} else {
		rc = cdt_err(EX_DATAERR, "file record '%s' has no content "
			     "(--from-records needs content or "
			     "content_base64)", path);
	}
	jv_free(c);
	jv_free(b);
	return rc;
}

static bool
rec_flag(jv rec, const char *key)
{
	jv v = jv_object_get(jv_copy(rec), jv_string(key));
	bool on = jv_get_kind(v) == JV_KIND_TRUE;
	jv_free(v);
	return on;
}

/*
 * One file record onto the overlay; with apply false only checked.
 * Directory records add nothing (git keeps no directories).
 */
static int
overlay_record(struct cdt_git *g, struct cdt_git_overlay *o, jv rec,
	       bool apply)
{
	const char *path = cdt_record_str(rec, "path");
	const char *nt = cdt_record_str(rec, "node_type");
	const char *why = NULL;
	struct cdt_buf data = CDT_BUF_INIT;
	int rc;
	if (!path)
		return cdt_err(EX_DATAERR, "file record without a path");
	rc = cdt_path_check(path, strlen(path), &why);
	if (rc)
		return cdt_err(rc, "bad path '%s': %s", path, why);
	if (nt && !strcmp(nt, "directory"))
		return 0;
	if (rec_flag(rec, "deleted"))
		return apply ? cdt_git_overlay_remove(o, path) : 0;
	if (rec_flag(rec, "truncated"))
		return cdt_err(EX_DATAERR, "file record '%s' was truncated: "
			       "its content is not whole", path);
	unsigned mode = 0;
	if (nt && !strcmp(nt, "symlink")) {
		const char *t = cdt_record_str(rec, "target");
		if (!t || !*t)
			return cdt_err(EX_DATAERR, "symlink record '%s' has no "
				       "target", path);
		rc = cdt_buf_addstr(&data, t);
		mode = GIT_FILEMODE_LINK;
	} else if (nt && strcmp(nt, "file")) {
		return cdt_err(EX_DATAERR, "file record '%s': unknown "
			       "node_type '%s'", path, nt);
	} else {
		rc = record_bytes(rec, path, &data);
	}
	if (!rc && (uint64_t)data.len > g->max_file_size)
		rc = cdt_err(EX_DATAERR, "refusing '%s': %zu bytes, over the "
			     "checkpoint size cap of %llu "
			     "(checkpoint.max_file_size)", path, data.len,
			     (unsigned long long)g->max_file_size);
	if (!rc && apply)
		rc = cdt_git_overlay_put(g, o, path, data.buf, data.len, mode);
	cdt_buf_release(&data);
	return rc;
}

/* The tree of the file records on stdin, over the branch's last one. */
static int
records_tree(struct cdt_ctx *ctx, struct cdt_git *g, struct create *c,
	     const git_oid *base, git_oid *tree)
{
	struct cdt_git_overlay o = CDT_GIT_OVERLAY_INIT;
	jv rec = jv_invalid();
	int rc;
	/* Every record is checked before any is stored. */
	while ((rc = cdt_spool_next(&c->files, &rec)) == 0) {
		rc = overlay_record(g, NULL, rec, false);
		jv_free(rec);
		if (rc)
			return rc;
	}
	if (rc != CDT_EOF)
		return rc;
	rc = cdt_spool_rewind(&c->files);
	if (!rc)
		rc = cdt_git_overlay_begin(g, cdt_flag(ctx, "full-tree") ?
					   NULL : base, c->files.count, &o);
	while (!rc && (rc = cdt_spool_next(&c->files, &rec)) == 0) {
		rc = overlay_record(g, &o, rec, true);
		jv_free(rec);
	}
	if (rc == CDT_EOF)
		rc = cdt_git_overlay_tree(g, &o, tree);
	cdt_git_overlay_release(&o);
	return rc;
}

static int
read_message(struct cdt_ctx *ctx, char **out)
{
	const char *m = cdt_opt(ctx, "message");
	const char *f = cdt_opt(ctx, "file");
	char stamp[32];
	*out = NULL;
	if (m) {
		*out = cdt_xstrdup(m);
		return 0;
	}
	if (!f) {
		cdt_now_rfc3339(stamp);
		struct cdt_buf b = CDT_BUF_INIT;
		cdt_buf_addf(&b, "checkpoint %s", stamp);
		*out = cdt_buf_detach(&b, NULL);
		return 0;
	}
	int fd = open(f, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cdt_err_errno(EX_NOINPUT, "cannot read '%s'", f);
	struct cdt_buf b = CDT_BUF_INIT;
	char chunk[65536];
	int rc = 0;
	b.max = MESSAGE_MAX;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cdt_err_errno(EX_IOERR, "cannot read '%s'", f);
			break;
		}
		if (n == 0)
			break;
		if (cdt_buf_add(&b, chunk, (size_t)n)) {
			rc = cdt_err(EX_DATAERR, "'%s' is over %zu bytes: not "
				     "a commit message", f, MESSAGE_MAX);
			break;
		}
	}
	close(fd);
	if (!rc && memchr(b.buf, '\0', b.len))
		rc = cdt_err(EX_DATAERR, "'%s' holds a NUL byte: not a commit "
			     "message", f);
	if (rc)
		cdt_buf_release(&b);
	else
		*out = cdt_buf_detach(&b, NULL);
	return rc;
}

/*
 * Snapshot (or build from records), then commit unless nothing changed.
 * *made tells which; *rec is the record to print.
 */
static int
checkpoint_now(struct cdt_ctx *ctx, struct cdt_git *g,
	       struct cdt_git_branch *b, struct create *c, const char *msg,
	       bool *made, jv *rec)
{
	git_oid tree, ptree, id;
	struct cdt_git_stats st;
	int rc;
	memset(&st, 0, sizeof(st));
	*made = false;
	rc = cdt_git_commit_tree(g, b->born ? &b->tip : NULL, &ptree);
	if (rc)
		return rc;
	if (c && c->from_records)
		rc = records_tree(ctx, g, c, b->born ? &ptree : NULL, &tree);
	else
		rc = cdt_git_snapshot(g, b, &tree);
	if (rc)
		return rc;
	/* An empty tree with no checkpoint yet is nothing to keep either. */
	git_oid empty;
	git_oid_fromstr(&empty, "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
	if (b->born ? git_oid_equal(&tree, &ptree) :
	    git_oid_equal(&tree, &empty))
		return checkpoint_record(g, b->born ? &b->tip : NULL, b->name,
					 &st, true, rec);
	if (in_session) {
		/* git's trailer convention: the last paragraph. */
		struct cdt_buf m = CDT_BUF_INIT;
		size_t ml = strlen(msg);
		while (ml && msg[ml - 1] == '\n')
			ml--;
		cdt_buf_add(&m, msg, ml);
		cdt_buf_addf(&m, "\n\nCdt-Session: %s\n", sess.id);
		rc = cdt_git_commit(g, b, &tree, m.buf, &id);
		cdt_buf_release(&m);
	} else {
		rc = cdt_git_commit(g, b, &tree, msg, &id);
	}
	if (!rc)
		rc = cdt_git_stats(g, &ptree, &tree, &st);
	if (!rc)
		rc = checkpoint_record(g, &id, b->name, &st, false, rec);
	*made = rc == 0;
	return rc;
}

int
cdt_checkpoint_create(struct cdt_ctx *ctx)
{
	struct create c;
	struct cdt_git g;
	struct cdt_git_branch b;
	char *msg = NULL;
	jv rec = jv_invalid();
	bool made = false, opened = false;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(&b, 0, sizeof(b));
	cdt_spool_init(&c.files);
	c.from_records = cdt_flag(ctx, "from-records");
	if (ctx->argc) {
		rc = cdt_usage(ctx, "create takes no operand (the message "
			       "goes with -m)");
		goto out;
	}
	if (cdt_opt(ctx, "message") && cdt_opt(ctx, "file")) {
		rc = cdt_usage(ctx, "-m and -F exclude each other");
		goto out;
	}
	if (cdt_opt(ctx, "file") && !strcmp(cdt_opt(ctx, "file"), "-")) {
		rc = cdt_usage(ctx, "-F - cannot be: standard input carries "
			       "the record stream");
		goto out;
	}
	if (cdt_flag(ctx, "full-tree") && !c.from_records) {
		rc = cdt_usage(ctx, "--full-tree goes with --from-records");
		goto out;
	}
	rc = cdt_stream_each(ctx, create_take, &c);
	if (!rc)
		rc = cdt_stream_upstream(ctx, "checkpointing");
	if (rc)
		goto out;
	if (cdt_flag(ctx, "require-success") && !c.saw_exit) {
		rc = cdt_err(1, "refusing to checkpoint: no exit record on "
			     "standard input (--require-success)");
		goto out;
	}
	if (cdt_flag(ctx, "require-success") && !c.exit_ok) {
		rc = cdt_err(1, "refusing to checkpoint: the last command %s "
			     "(--require-success)", c.exit_what);
		goto out;
	}
	rc = read_message(ctx, &msg);
	if (!rc)
		rc = open_repo(ctx, &g, CDT_GIT_CREATE | CDT_GIT_WRITE,
				     "sessions.update", &b);
	if (rc)
		goto out;
	opened = true;
	rc = checkpoint_now(ctx, &g, &b, &c, msg, &made, &rec);
	/* A session on S3: the working copy goes back with the checkpoint. */
	if (!rc && in_session)
		rc = cdt_sessws_push(&sess.cfg, sess.row);
	if (rc)
		goto out;
	rc = cdt_emit(rec);
	rec = jv_invalid();
	if (!rc && !made && cdt_flag(ctx, "exit-code"))
		rc = 1;
out:
	jv_free(rec);
	if (opened) {
		cdt_git_branch_release(&b);
		cdt_git_close(&g);
	}
	free(msg);
	cdt_spool_release(&c.files);
	return rc;
}

/* --- list, show ---------------------------------------------------------- */

/* Read (and forward) the stream; an error record in it stops us. */
static int
pass_stream(struct cdt_ctx *ctx, const char *what)
{
	int rc = cdt_stream_each(ctx, NULL, NULL);
	return rc ? rc : cdt_stream_upstream(ctx, what);
}

int
cdt_checkpoint_list(struct cdt_ctx *ctx)
{
	struct cdt_git g;
	struct cdt_git_branch b;
	git_revwalk *walk = NULL;
	long max = -1;
	int rc;

	if (ctx->argc)
		return cdt_usage(ctx, "list takes no operand");
	const char *n = cdt_opt(ctx, "max-count");
	if (n) {
		char *end = NULL;
		errno = 0;
		max = strtol(n, &end, 10);
		if (errno || end == n || *end || max < 0)
			return cdt_usage(ctx, "-n needs a count, not '%s'", n);
	}
	rc = pass_stream(ctx, "listing");
	if (!rc)
		rc = open_repo(ctx, &g, 0, "sessions.read", &b);
	if (rc)
		return rc;
	if (!b.exists)
		goto out;
	int e = git_revwalk_new(&walk, g.repo);
	if (e >= 0)
		e = git_revwalk_push(walk, &b.tip);
	if (e >= 0)
		e = git_revwalk_simplify_first_parent(walk);
	if (e < 0) {
		rc = cdt_err(EX_SOFTWARE, "cannot list checkpoints: %s",
			     git_error_last() ? git_error_last()->message :
			     "?");
		goto out;
	}
	git_oid id;
	for (long i = 0; (max < 0 || i < max) && !rc &&
	     git_revwalk_next(&id, walk) == 0; i++) {
		struct cdt_git_stats st;
		jv rec = jv_invalid();
		rc = commit_stats(&g, &id, &st);
		if (!rc)
			rc = checkpoint_record(&g, &id, b.name, &st, false,
					       &rec);
		if (!rc)
			rc = cdt_emit(rec);
		if (cdt_out_broken())
			break;
	}
out:
	git_revwalk_free(walk);
	cdt_git_branch_release(&b);
	cdt_git_close(&g);
	return rc;
}

struct show {
	jv files;
	struct cdt_git_stats st;
};

static int
show_change(void *arg, const struct cdt_git_change *c)
{
	struct show *s = arg;
	jv f = jv_object();
	f = jv_object_set(f, jv_string("path"), jv_string(c->path));
	f = jv_object_set(f, jv_string("status"), jv_string(c->status));
	f = jv_object_set(f, jv_string("insertions"),
			  jv_number((double)c->insertions));
	f = jv_object_set(f, jv_string("deletions"),
			  jv_number((double)c->deletions));
	f = jv_object_set(f, jv_string("binary"), jv_bool(c->binary));
	s->files = jv_array_append(s->files, f);
	s->st.files++;
	s->st.insertions += c->insertions;
	s->st.deletions += c->deletions;
	return 0;
}

int
cdt_checkpoint_show(struct cdt_ctx *ctx)
{
	struct cdt_git g;
	struct cdt_git_branch b;
	struct show s;
	git_oid id, t, pt;
	git_commit *c = NULL;
	jv rec = jv_invalid();
	int rc;

	if (ctx->argc != 1)
		return cdt_usage(ctx, "show needs one REF");
	rc = pass_stream(ctx, "showing");
	if (!rc)
		rc = open_repo(ctx, &g, 0, "sessions.read", &b);
	if (rc)
		return rc;
	memset(&s, 0, sizeof(s));
	s.files = jv_array();
	rc = cdt_git_resolve(&g, ctx->argv[0], &id);
	if (rc)
		goto out;
	if (git_commit_lookup(&c, g.repo, &id) < 0) {
		rc = cdt_err(EX_SOFTWARE, "cannot read '%s'", ctx->argv[0]);
		goto out;
	}
	git_oid_cpy(&t, git_commit_tree_id(c));
	rc = cdt_git_commit_tree(&g, git_commit_parentcount(c) ?
				 git_commit_parent_id(c, 0) : NULL, &pt);
	if (!rc)
		rc = cdt_git_changes(&g, &pt, &t, show_change, &s);
	if (!rc)
		rc = checkpoint_record(&g, &id, b.born &&
				       git_oid_equal(&id, &b.tip) ? b.name :
				       NULL, &s.st, false, &rec);
	if (rc)
		goto out;
	/* The files, for a person: one line each after the summary. */
	size_t n = (size_t)jv_array_length(jv_copy(s.files));
	rec = jv_object_set(rec, jv_string("files"), s.files);
	s.files = jv_invalid();
	jv files = jv_object_get(jv_copy(rec), jv_string("files"));
	rc = cdt_emit(rec);
	rec = jv_invalid();
	for (size_t i = 0; !rc && i < n; i++) {
		jv f = jv_array_get(jv_copy(files), (int)i);
		jv ins = jv_object_get(jv_copy(f), jv_string("insertions"));
		jv del = jv_object_get(jv_copy(f), jv_string("deletions"));
		rc = cdt_out_text(" %c %-50s +%g -%g\n",
				  cdt_record_str(f, "status")[0] - 32,
				  cdt_record_str(f, "path"),
				  jv_number_value(ins), jv_number_value(del));
		jv_free(ins);
		jv_free(del);
		jv_free(f);
	}
	jv_free(files);
out:
	jv_free(rec);
	jv_free(s.files);
	git_commit_free(c);
	cdt_git_branch_release(&b);
	cdt_git_close(&g);
	return rc;
}

/* --- diff ---------------------------------------------------------------- */

static int
print_patch(const git_diff_delta *d, const git_diff_hunk *h,
	    const git_diff_line *l, void *payload)
{
	int *rc = payload;
	if (l->origin == GIT_DIFF_LINE_CONTEXT ||
	    l->origin == GIT_DIFF_LINE_ADDITION ||
	    l->origin == GIT_DIFF_LINE_DELETION) {
		char o = l->origin;
		*rc = cdt_out_bytes(&o, 1);
	}
	if (!*rc)
		*rc = cdt_out_bytes(l->content, l->content_len);
	return *rc || cdt_out_broken() ? -1 : 0;
}

static const char *
delta_status(const git_diff_delta *d)
{
	switch (d->status) {
	case GIT_DELTA_ADDED:
	case GIT_DELTA_UNTRACKED:
		return "added";
	case GIT_DELTA_DELETED:
		return "deleted";
	default:
		return "modified";
	}
}

static int
diff_records(git_diff *diff)
{
	size_t n = git_diff_num_deltas(diff);
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		git_patch *p = NULL;
		git_buf buf = GIT_BUF_INIT;
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		int e = git_patch_from_diff(&p, diff, i);
		if (e >= 0)
			e = git_patch_to_buf(&buf, p);
		if (e < 0) {
			rc = cdt_err(EX_SOFTWARE, "cannot make the patch of "
				     "'%s': %s", d->new_file.path,
				     git_error_last() ?
				     git_error_last()->message : "?");
		} else {
			jv r = cdt_record_new("diff");
			r = jv_object_set(r, jv_string("path"),
				jv_string(d->status == GIT_DELTA_DELETED ?
					  d->old_file.path : d->new_file.path));
			r = jv_object_set(r, jv_string("status"),
					  jv_string(delta_status(d)));
			r = jv_object_set(r, jv_string("patch"),
				jv_string_sized(buf.ptr, (int)buf.size));
			rc = cdt_emit(r);
		}
		git_buf_dispose(&buf);
		git_patch_free(p);
	}
	return rc;
}

int
cdt_checkpoint_diff(struct cdt_ctx *ctx)
{
	struct cdt_git g;
	struct cdt_git_branch b;
	git_diff *diff = NULL;
	git_oid a, bb, ta, tb;
	int rc;
	/* The patch is bytes: --json (or --jq) asks for records instead. */
	bool records = cdt_flag(ctx, "json") || cdt_opt(ctx, "jq");

	if (ctx->argc > 2)
		return cdt_usage(ctx, "diff takes at most two REFs");
	if (records)
		rc = pass_stream(ctx, "comparing");
	else
		rc = 0;
	if (!rc)
		rc = open_repo(ctx, &g, 0, "sessions.read", &b);
	if (rc)
		return rc;
	memset(&ta, 0, sizeof(ta));
	if (ctx->argc >= 1)
		rc = cdt_git_resolve(&g, ctx->argv[0], &a);
	else if (b.born)
		git_oid_cpy(&a, &b.tip);
	if (!rc && (ctx->argc >= 1 || b.born))
		rc = cdt_git_commit_tree(&g, &a, &ta);
	if (!rc && ctx->argc == 2)
		rc = cdt_git_resolve(&g, ctx->argv[1], &bb);
	if (!rc && ctx->argc == 2)
		rc = cdt_git_commit_tree(&g, &bb, &tb);
	if (!rc)
		rc = cdt_git_diff(&g, &ta, ctx->argc == 2 ? &tb : NULL, &diff);
	if (rc)
		goto out;
	if (records) {
		rc = diff_records(diff);
	} else {
		int prc = 0;
		int e = git_diff_print(diff, GIT_DIFF_FORMAT_PATCH, print_patch,
				       &prc);
		rc = prc;
		if (!rc && e < 0 && !cdt_out_broken())
			rc = cdt_err(EX_SOFTWARE, "cannot print the diff: %s",
				     git_error_last() ?
				     git_error_last()->message : "?");
	}
	if (!rc && cdt_flag(ctx, "exit-code") && git_diff_num_deltas(diff))
		rc = 1;
out:
	git_diff_free(diff);
	cdt_git_branch_release(&b);
	cdt_git_close(&g);
	return rc;
}

/* --- restore ------------------------------------------------------------- */

int
cdt_checkpoint_restore(struct cdt_ctx *ctx)
{
	struct cdt_git g;
	struct cdt_git_branch b;
	struct cdt_git_restore_stats rs;
	git_oid target, ttree, base;
	jv rec = jv_invalid();
	bool made = false;
	char *msg = NULL;
	int rc;

	if (ctx->argc < 1)
		return cdt_usage(ctx, "restore needs a REF");
	for (int i = 1; i < ctx->argc; i++) {
		const char *why = NULL;
		rc = cdt_path_check(ctx->argv[i], strlen(ctx->argv[i]), &why);
		if (rc)
			return cdt_err(rc, "bad path '%s': %s", ctx->argv[i],
				       why);
	}
	rc = pass_stream(ctx, "restoring");
	if (!rc)
		rc = open_repo(ctx, &g, CDT_GIT_WRITE, "sessions.update",
				     &b);
	if (rc)
		return rc;
	/* Resolved before the work tree is kept: HEAD~1 stays what it was. */
	rc = cdt_git_resolve(&g, ctx->argv[0], &target);
	if (!rc)
		rc = cdt_git_commit_tree(&g, &target, &ttree);
	if (rc)
		goto out;
	char hex[GIT_OID_HEXSZ + 1];
	cdt_git_hex(&target, hex);
	struct cdt_buf m = CDT_BUF_INIT;
	cdt_buf_addf(&m, "before restoring %.12s", hex);
	msg = cdt_buf_detach(&m, NULL);
	/* Never lose work: what differs from the last checkpoint is kept. */
	rc = checkpoint_now(ctx, &g, &b, NULL, msg, &made, &rec);
	if (rc)
		goto out;
	if (made) {
		rc = cdt_emit(rec);
		rec = jv_invalid();
		if (rc)
			goto out;
	}
	jv_free(rec);
	rec = jv_invalid();
	rc = cdt_git_commit_tree(&g, b.born ? &b.tip : NULL, &base);
	if (!rc)
		rc = cdt_git_restore(&g, &base, &ttree, ctx->argv + 1,
				     ctx->argc - 1, &rs);
	if (rc)
		goto out;
	struct cdt_git_stats st;
	rc = commit_stats(&g, &target, &st);
	if (!rc)
		rc = checkpoint_record(&g, &target, NULL, &st, false, &rec);
	if (rc)
		goto out;
	jv r = jv_object();
	r = jv_object_set(r, jv_string("written"),
			  jv_number((double)rs.written));
	r = jv_object_set(r, jv_string("removed"),
			  jv_number((double)rs.removed));
	rec = jv_object_set(rec, jv_string("restored"), r);
	rc = cdt_emit(rec);
	rec = jv_invalid();
out:
	jv_free(rec);
	free(msg);
	cdt_git_branch_release(&b);
	cdt_git_close(&g);
	return rc;
}

/* --- push ---------------------------------------------------------------- */

/* Is commit sha (hex) on branch ref?  66 when it is not here at all. */
static int
on_branch(struct cdt_git *g, const char *sha, const char *ref,
	  const char *branch)
{
	git_oid id, tip;
	git_commit *c = NULL;
	if (git_oid_fromstr(&id, sha) < 0)
		return cdt_err(EX_DATAERR, "checkpoint record: bad sha '%s'",
			       sha);
	if (git_reference_name_to_id(&tip, g->repo, ref) < 0)
		return cdt_err(EX_NOINPUT, "no branch '%s' to push", branch);
	if (git_commit_lookup(&c, g->repo, &id) < 0)
		return cdt_err(EX_NOINPUT, "no checkpoint %.12s in '%s'", sha,
			       g->dir);
	git_commit_free(c);
	if (git_oid_equal(&id, &tip) ||
	    git_graph_descendant_of(g->repo, &tip, &id) == 1)
		return 0;
	return cdt_err(EX_DATAERR, "checkpoint %.12s is not on '%s'", sha,
		       branch);
}

static bool
valid_branch(const char *name)
{
	struct cdt_buf r = CDT_BUF_INIT;
	int valid = 0;
	cdt_buf_addf(&r, "refs/heads/%s", name);
	if (git_reference_name_is_valid(&valid, r.buf) < 0)
		valid = 0;
	cdt_buf_release(&r);
	return valid && *name != '-';
}

/* The distinct branches of the records to push, checked. */
static int
push_branches(struct cdt_git *g, jv recs, jv *branches)
{
	int rc = 0;
	jv_array_foreach(recs, i, r) {
		const char *br = cdt_record_str(r, "branch");
		const char *sha = cdt_record_str(r, "sha");
		if (!rc && !rec_flag(r, "unchanged")) {
			if (!br)
				rc = cdt_err(EX_DATAERR, "checkpoint record "
					     "without a branch: cannot push "
					     "it");
			else if (!valid_branch(br))
				rc = cdt_err(EX_DATAERR, "checkpoint record: "
					     "bad branch '%s'", br);
		}
		if (!rc && br && sha && !rec_flag(r, "unchanged")) {
			struct cdt_buf ref = CDT_BUF_INIT;
			cdt_buf_addf(&ref, "refs/heads/%s", br);
			rc = on_branch(g, sha, ref.buf, br);
			cdt_buf_release(&ref);
		}
		bool seen = false;
		if (!rc && br && !rec_flag(r, "unchanged")) {
			jv_array_foreach(*branches, k, x) {
				seen = seen || !strcmp(jv_string_value(x), br);
				jv_free(x);
			}
			if (!seen)
				*branches = jv_array_append(*branches,
							    jv_string(br));
		}
		jv_free(r);
	}
	return rc;
}

int
cdt_checkpoint_push(struct cdt_ctx *ctx)
{
	struct cdt_spool sp;
	struct cdt_git g;
	struct cdt_git_branch b;
	const char *remote = cdt_opt(ctx, "remote");
	const char *to = cdt_opt(ctx, "to");
	jv recs = jv_array();		/* taken from stdin, in order */
	jv branches = jv_array();	/* distinct, in order */
	jv rec = jv_invalid();
	char **specs = NULL;
	char *shown = NULL;
	bool opened = false, synthetic = false;
	int nb = 0, rc;

	cdt_spool_init(&sp);
	memset(&b, 0, sizeof(b));
	if (ctx->argc) {
		rc = cdt_usage(ctx, "push takes no operand (the remote goes "
			       "with --remote)");
		goto out;
	}
	rc = cdt_stream_take(ctx, (const char *const[]){ "checkpoint", NULL },
			     &sp);
	while (!rc && (rc = cdt_spool_next(&sp, &rec)) == 0) {
		recs = jv_array_append(recs, rec);
		rec = jv_invalid();
	}
	if (rc == CDT_EOF)
		rc = 0;
	if (!rc)
		rc = cdt_stream_upstream(ctx, "pushing");
	if (!rc)
		rc = open_repo(ctx, &g, 0, "sessions.update", &b);
	if (rc)
		goto forward;
	opened = true;
	if (to && !valid_branch(to)) {
		rc = cdt_usage(ctx, "--to: bad branch name '%s'", to);
		goto forward;
	}
	if (!jv_array_length(jv_copy(recs))) {
		/* No checkpoint records: the branch's last checkpoint. */
		struct cdt_git_stats st;
		if (!b.exists)
			rc = cdt_err(EX_NOINPUT, "nothing to push: '%s' has no "
				     "checkpoint yet", b.name ? b.name :
				     "HEAD");
		else if (!b.name)
			rc = cdt_usage(ctx, "HEAD is detached: give --branch");
		if (!rc)
			rc = commit_stats(&g, &b.tip, &st);
		if (!rc)
			rc = checkpoint_record(&g, &b.tip, b.name, &st, false,
					       &rec);
		if (rc)
			goto forward;
		recs = jv_array_append(recs, rec);
		rec = jv_invalid();
		synthetic = true;
	}
	rc = push_branches(&g, recs, &branches);
	if (rc)
		goto forward;
	nb = jv_array_length(jv_copy(branches));
	if (to && nb > 1) {
		rc = cdt_usage(ctx, "--to names one branch; the checkpoints "
			       "are on %d", nb);
		goto forward;
	}
	if (nb) {
		specs = cdt_xcalloc((size_t)nb + 1, sizeof(*specs));
		for (int i = 0; i < nb; i++) {
			jv x = jv_array_get(jv_copy(branches), i);
			struct cdt_buf s = CDT_BUF_INIT;
			cdt_buf_addf(&s, "refs/heads/%s:refs/heads/%s",
				     jv_string_value(x),
				     to ? to : jv_string_value(x));
			specs[i] = cdt_buf_detach(&s, NULL);
			jv_free(x);
		}
		rc = cdt_git_push(&g, remote ? remote : "origin",
				  (const char *const *)specs, (size_t)nb,
				  &shown);
		if (rc)
			goto forward;
	}
	/* Pushed: each record again, saying where it went. */
	jv_array_foreach(recs, i, r) {
		if (!rc && !rec_flag(r, "unchanged")) {
			struct cdt_buf ref = CDT_BUF_INIT;
			cdt_buf_addf(&ref, "refs/heads/%s", to ? to :
				     cdt_record_str(r, "branch"));
			jv p = jv_object();
			p = jv_object_set(p, jv_string("remote"),
					  jv_string(shown));
			p = jv_object_set(p, jv_string("ref"),
					  jv_string(ref.buf));
			r = jv_object_set(r, jv_string("pushed"), p);
			cdt_buf_release(&ref);
		}
		if (!rc)
			rc = cdt_emit(r);
		else
			jv_free(r);
	}
	goto out;
forward:
	/* Not pushed: the records taken from stdin go on as they came. */
	if (!synthetic) {
		jv_array_foreach(recs, i, r)
			cdt_forward(r);
	}
out:
	if (specs)
		for (char **s = specs; *s; s++)
			free(*s);
	free(specs);
	free(shown);
	jv_free(rec);
	jv_free(recs);
	jv_free(branches);
	if (opened) {
		cdt_git_branch_release(&b);
		cdt_git_close(&g);
	}
	cdt_spool_release(&sp);
	return rc;
}
