#include "compat.h"
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "cfg.h"
#include "codec.h"
#include "edit.h"
#include "err.h"
#include "files.h"
#include "hash.h"
#include "log.h"
#include "objstore.h"
#include "path.h"
#include "sessws.h"

/* Room for the rest of a file record around a capped content string. */
#define RECORD_SLACK (64 * 1024)
/* A --dry-run diff is held whole before it is printed. */
#define DIFF_MAX ((size_t)256 << 20)

/* ---- the workspace ---------------------------------------------------- */

static int
ws_open_at(struct cdt_ctx *ctx, const char *where, struct cdt_objstore **os)
{
	struct cdt_cfg cfg;
	int rc;
	*os = NULL;
	if (strncmp(where, "s3://", 5))
		return cdt_objstore_open_local(where, os);
	cdt_cfg_init(&cfg);
	rc = cdt_cfg_load(&cfg);
	if (!rc)
		rc = cdt_objstore_open_where(where, &cfg, os);
	cdt_cfg_release(&cfg);
	return rc;
}

/*
 * The workspace: -C DIR, else the session's (sessws.h) after the caller
 * check allowed perm.  Unless the command streams raw stdin (drain
 * false), the record stream is read to its end first, forwarding: a
 * session or auth record on it is context, and an upstream error stops
 * the command before it touches anything.
 */
static int
ws_open(struct cdt_ctx *ctx, struct cdt_objstore **os, const char *perm,
	bool drain)
{
	int rc = 0;
	*os = NULL;
	if (drain) {
		rc = cdt_stream_each(ctx, NULL, NULL);
		if (!rc)
			rc = cdt_stream_upstream(ctx, strcmp(perm,
					"sessions.read") ? "writing" :
					"reading");
		if (rc)
			return rc;
	}
	if (ctx->dir && cdt_opt(ctx, "session"))
		return cdt_usage(ctx, "-C and --session exclude each other");
	if (ctx->dir)
		return ws_open_at(ctx, ctx->dir, os);
	struct cdt_sessws w;
	rc = cdt_sessws_open(ctx, perm, &w);
	if (!rc)
		rc = ws_open_at(ctx, w.workspace, os);
	cdt_sessws_release(&w);
	return rc;
}

#define WS_READ "sessions.read"
#define WS_WRITE "sessions.update"

/* The lexical check, reported with the path. */
static int
check_path(const char *path)
{
	const char *why = NULL;
	int rc = cdt_path_check(path, strlen(path), &why);
	return rc ? cdt_err(rc, "bad path '%s': %s", path, why) : 0;
}

/*
 * rec[key] as a C string (rec not consumed), or NULL when absent or not
 * a string; *nul is set when the string holds a NUL byte, which a C
 * string would silently cut (P10).
 */
static const char *
rec_str(jv rec, const char *key, bool *nul)
{
	jv v = jv_object_get(jv_copy(rec), jv_string(key));
	const char *s = NULL;
	*nul = false;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		s = cdt_record_str(rec, key);
		*nul = (size_t)jv_string_length_bytes(jv_copy(v)) != strlen(s);
	}
	jv_free(v);
	return s;
}

/* The record's path, checked; 0 with *path, or a reported status. */
static int
rec_path(jv rec, const char *type, const char **path)
{
	bool nul;
	*path = rec_str(rec, "path", &nul);
	if (!*path)
		return cdt_err(EX_DATAERR, "%s record without a path", type);
	if (nul)
		return cdt_err(EX_DATAERR, "bad path '%s...': NUL byte", *path);
	return check_path(*path);
}

static const char *
node_name(enum cdt_node n)
{
	switch (n) {
	case CDT_NODE_DIR:	return "directory";
	case CDT_NODE_SYMLINK:	return "symlink";
	case CDT_NODE_OTHER:	return "other";
	default:		return "file";
	}
}

static jv
time_str(int64_t t)
{
	char s[40];
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return jv_string(s);
}

/* A file record without content: path, node_type, size, modified_at. */
static jv
node_record(const char *path, const struct cdt_objinfo *in)
{
	jv r = cdt_record_new("file");
	r = jv_object_set(r, jv_string("path"), jv_string(path));
	r = jv_object_set(r, jv_string("node_type"),
			  jv_string(node_name(in->node)));
	if (in->node == CDT_NODE_SYMLINK && in->target)
		r = jv_object_set(r, jv_string("target"),
				  jv_string(in->target));
	if (in->node == CDT_NODE_FILE)
		r = jv_object_set(r, jv_string("size"),
				  jv_number((double)in->size));
	/* Why it will not be read or written (it may alias an outside
	 * file). */
	if (in->node == CDT_NODE_FILE && in->nlink > 1)
		r = jv_object_set(r, jv_string("links"),
				  jv_number((double)in->nlink));
	if (in->mtime >= 0)
		r = jv_object_set(r, jv_string("modified_at"),
				  time_str(in->mtime));
	return r;
}

/* ---- ls and tree ---------------------------------------------------- */

static int
ls_cb(void *arg, const struct cdt_objinfo *in)
{
	return cdt_emit(node_record(in->path, in));
}

int
cdt_files_ls(struct cdt_ctx *ctx)
{
	struct cdt_objstore *os = NULL;
	if (ctx->argc > 1)
		return cdt_usage(ctx, "ls takes at most one PATH");
	const char *path = ctx->argc ? ctx->argv[0] : "";
	int rc = *path ? check_path(path) : 0;
	if (rc || (rc = ws_open(ctx, &os, WS_READ, true)))
		return rc;
	rc = cdt_objstore_list(os, path, cdt_flag(ctx, "recursive"), ls_cb,
			       NULL);
	cdt_objstore_free(os);
	return rc;
}

struct tnode {
	jv rec;
	int depth;
	bool last;		/* the last of its siblings */
	long children;
};

struct tree {
	struct tnode *v;
	size_t n, cap;
	size_t base;		/* strlen of the listed path plus '/' */
};

static int
tree_cb(void *arg, const struct cdt_objinfo *in)
{
	struct tree *t = arg;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->v = cdt_xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	struct tnode *n = &t->v[t->n++];
	n->rec = node_record(in->path, in);
	n->depth = 1;
	for (const char *s = in->path + t->base; *s; s++)
		if (*s == '/')
			n->depth++;
	n->children = 0;
	n->last = false;
	return 0;
}

/* One line of the text tree: the rails of the ancestors, then the node. */
static int
tree_line(const struct tree *t, size_t i, const bool *rails)
{
	struct cdt_buf b = CDT_BUF_INIT;
	const struct tnode *n = &t->v[i];
	for (int d = 1; d < n->depth; d++)
		cdt_buf_addstr(&b, rails[d] ? "    " : "\u2502   ");
	cdt_buf_addstr(&b, n->last ? "\u2514\u2500\u2500 " :
		       "\u251c\u2500\u2500 ");
	const char *path = cdt_record_str(n->rec, "path");
	const char *type = cdt_record_str(n->rec, "node_type");
	const char *slash = strrchr(path, '/');
	cdt_buf_addstr(&b, slash ? slash + 1 : path);
	if (!strcmp(type, "directory"))
		cdt_buf_addch(&b, '/');
	else if (!strcmp(type, "symlink"))
		cdt_buf_addf(&b, " -> %s", cdt_record_str(n->rec, "target") ?
			     cdt_record_str(n->rec, "target") : "?");
	int rc = cdt_out_text("%s\n", b.buf);
	cdt_buf_release(&b);
	return rc;
}

int
cdt_files_tree(struct cdt_ctx *ctx)
{
	struct cdt_objstore *os = NULL;
	struct tree t = { NULL, 0, 0, 0 };
	bool *later = NULL, *rails = NULL;
	long dirs = 0, files = 0;
	int rc;

	if (ctx->argc > 1)
		return cdt_usage(ctx, "tree takes at most one PATH");
	const char *path = ctx->argc ? ctx->argv[0] : "";
	rc = *path ? check_path(path) : 0;
	if (rc || (rc = ws_open(ctx, &os, WS_READ, true)))
		return rc;
	t.base = *path ? strlen(path) + 1 : 0;
	if (*path) {
		struct cdt_objinfo in;
		if ((rc = cdt_objstore_stat(os, path, &in)))
			goto out;
		if (in.node != CDT_NODE_DIR) {
			rc = cdt_err(EX_DATAERR, "cannot show the tree of "
				     "'%s': not a directory", path);
			goto out;
		}
	}
	rc = cdt_objstore_list(os, path, true, tree_cb, &t);
	if (rc)
		goto out;
	/* Backwards: whether each node has a later sibling; children. */
	int maxd = 1;
	for (size_t i = 0; i < t.n; i++)
		if (t.v[i].depth > maxd)
			maxd = t.v[i].depth;
	later = cdt_xcalloc((size_t)maxd + 2, sizeof(bool));
	rails = cdt_xcalloc((size_t)maxd + 2, sizeof(bool));
	long *count = cdt_xcalloc((size_t)maxd + 2, sizeof(long));
	for (size_t i = t.n; i-- > 0;) {
		int d = t.v[i].depth;
		t.v[i].last = !later[d];
		later[d] = true;
		t.v[i].children = count[d + 1];
		for (int k = d + 1; k <= maxd + 1; k++) {
			later[k] = false;
			count[k] = 0;
		}
		count[d]++;
	}
	free(count);
	if (cdt_out_mode() == CDT_OUT_TEXT)
		rc = cdt_out_text("%s\n", *path ? path : ".");
	for (size_t i = 0; i < t.n && !rc; i++) {
		struct tnode *n = &t.v[i];
		bool dir = !strcmp(cdt_record_str(n->rec, "node_type"),
				   "directory");
		if (dir)
			dirs++;
		else
			files++;
		if (cdt_out_mode() == CDT_OUT_TEXT) {
			rc = tree_line(&t, i, rails);
			rails[n->depth] = n->last;
			continue;
		}
		jv r = jv_object_set(jv_copy(n->rec), jv_string("depth"),
				     jv_number(n->depth));
		if (dir)
			r = jv_object_set(r, jv_string("children"),
					  jv_number((double)n->children));
		rc = cdt_emit(r);
	}
	if (!rc && cdt_out_mode() == CDT_OUT_TEXT)
		rc = cdt_out_text("\n%ld director%s, %ld file%s\n", dirs,
				  dirs == 1 ? "y" : "ies", files,
				  files == 1 ? "" : "s");
out:
	for (size_t i = 0; i < t.n; i++)
		jv_free(t.v[i].rec);
	free(t.v);
	free(later);
	free(rails);
	cdt_objstore_free(os);
	return rc;
}

/* ---- read and stat ------------------------------------------------- */

/* Hash every byte; keep content up to the record's cap. */
struct collector {
	struct cdt_sha256 sha;
	struct cdt_buf data;
	bool keep;
	bool truncated;
	uint64_t total;
};

static int
collect_sink(void *arg, const void *data, size_t len)
{
	struct collector *c = arg;
	cdt_sha256_update(&c->sha, data, len);
	c->total += len;
	if (!c->keep || c->truncated)
		return 0;
	size_t room = c->data.max - c->data.len;
	if (len > room) {
		cdt_buf_add(&c->data, data, room);
		c->truncated = true;
		return 0;
	}
	return cdt_buf_add(&c->data, data, len);
}

/*
 * A file record for the regular file path: with content when asked.
 * known is what a listing said about it, or NULL (the backend tells).
 */
static int
file_record(struct cdt_objstore *os, const char *path,
	    const struct cdt_objinfo *known, bool with_content, jv *out)
{
	struct collector c = { .keep = with_content };
	struct cdt_buf b64 = CDT_BUF_INIT;
	struct cdt_objinfo info;
	char hex[CDT_SHA256_HEX_LEN + 1];
	cdt_sha256_init(&c.sha);
	cdt_buf_init(&c.data, CDT_RECORD_MAX - RECORD_SLACK);
	int rc = cdt_objstore_get(os, path, collect_sink, &c,
				  known ? NULL : &info);
	if (rc)
		goto out;
	cdt_sha256_final_hex(&c.sha, hex);
	info = known ? *known : info;
	info.node = CDT_NODE_FILE;
	info.size = c.total;
	jv r = node_record(path, &info);
	r = jv_object_set(r, jv_string("sha256"), jv_string(hex));
	if (with_content) {
		bool truncated = c.truncated;
		r = jv_object_set(r, jv_string("content_type"),
				  jv_string(cdt_content_type(path)));
		size_t len = c.data.len;
		if (truncated)
			len = cdt_utf8_cut(c.data.buf, len);
		if (cdt_is_text(c.data.buf, len)) {
			r = jv_object_set(r, jv_string("content"),
				jv_string_sized(c.data.buf, (int)len));
		} else {
			/* Base64 grows by 4/3: keep it under the cap too. */
			size_t raw = c.data.len;
			if (truncated || raw / 3 * 4 > c.data.max)
				raw = c.data.max / 4 * 3;
			if (raw < c.data.len)
				truncated = true;
			cdt_b64_encode(c.data.buf, raw < c.data.len ? raw :
				       c.data.len, &b64);
			r = jv_object_set(r, jv_string("content_base64"),
				jv_string_sized(b64.buf, (int)b64.len));
		}
		r = jv_object_set(r, jv_string("truncated"),
				  jv_bool(truncated));
	}
	*out = r;
out:
	cdt_sha256_release(&c.sha);
	cdt_buf_release(&b64);
	cdt_buf_release(&c.data);
	return rc;
}

static int
raw_sink(void *arg, const void *data, size_t len)
{
	int rc = cdt_out_bytes(data, len);
	/* The reader has gone: stop reading quietly. */
	return rc ? rc : cdt_out_broken() ? EX_IOERR : 0;
}

struct rd {
	struct cdt_objstore *os;
	bool recursive;
	bool raw;
};

static int
read_file(struct rd *r, const char *path, const struct cdt_objinfo *known)
{
	if (r->raw) {
		int rc = cdt_objstore_get(r->os, path, raw_sink, NULL, NULL);
		return cdt_out_broken() ? 0 : rc;
	}
	jv rec = jv_invalid();
	int rc = file_record(r->os, path, known, true, &rec);
	return rc ? rc : cdt_emit(rec);
}

static int
read_cb(void *arg, const struct cdt_objinfo *in)
{
	if (in->node != CDT_NODE_FILE || cdt_out_broken())
		return 0;
	return read_file(arg, in->path, in);
}

static int
read_one(struct rd *r, const char *path)
{
	struct cdt_objinfo in;
	int rc = cdt_objstore_stat(r->os, path, &in);
	if (rc)
		return rc;
	if (in.node == CDT_NODE_DIR && r->recursive)
		return cdt_objstore_list(r->os, path, true, read_cb, r);
	if (in.node == CDT_NODE_DIR)
		return cdt_err(EX_DATAERR, "cannot read '%s': is a directory "
			       "(use -r)", path);
	if (in.node == CDT_NODE_SYMLINK)
		return cdt_err(EX_NOPERM, "refusing '%s': a symlink", path);
	if (in.node != CDT_NODE_FILE)
		return cdt_err(EX_NOPERM, "refusing '%s': not a regular file",
			       path);
	struct cdt_objinfo known = in;
	known.path = NULL;
	known.target = NULL;
	known.etag = NULL;
	return read_file(r, path, &known);
}

/*
 * The file records read replaces: those naming a file.  Directory and
 * symlink records (from `ls -r`) pass through as they are.
 */
static int
take_files(void *arg, jv rec, const char *type)
{
	if (strcmp(type, "file"))
		return 0;
	const char *nt = cdt_record_str(rec, "node_type");
	if (nt && strcmp(nt, "file"))
		return 0;
	int rc = cdt_spool_add(arg, jv_copy(rec));
	return rc ? rc : 1;
}

int
cdt_files_read(struct cdt_ctx *ctx)
{
	struct cdt_objstore *os = NULL;
	struct cdt_spool sp;
	jv rec = jv_invalid();
	int rc = 0;
	cdt_spool_init(&sp);
	/* Check every path before reading any. */
	for (int i = 0; i < ctx->argc && !rc; i++)
		rc = check_path(ctx->argv[i]);
	if (!rc && ctx->argc == 0) {
		/* The paths come from file records on stdin, replaced. */
		rc = cdt_stream_each(ctx, take_files, &sp);
		if (!rc)
			rc = cdt_stream_upstream(ctx, "reading");
	}
	if (rc || (rc = ws_open(ctx, &os, WS_READ, true)))
		goto out;
	struct rd r = { os, cdt_flag(ctx, "recursive"), cdt_flag(ctx, "raw") };
	for (int i = 0; i < ctx->argc && !rc && !cdt_out_broken(); i++)
		rc = read_one(&r, ctx->argv[i]);
	while (!rc && (rc = cdt_spool_next(&sp, &rec)) == 0) {
		const char *p = NULL;
		rc = rec_path(rec, "file", &p);
		if (!rc)
			rc = read_one(&r, p);
		jv_free(rec);
		rec = jv_invalid();
	}
	if (rc == CDT_EOF)
		rc = 0;
out:
	cdt_spool_release(&sp);
	cdt_objstore_free(os);
	return rc;
}

int
cdt_files_stat(struct cdt_ctx *ctx)
{
	struct cdt_objstore *os = NULL;
	int rc = 0;
	if (ctx->argc < 1)
		return cdt_usage(ctx, "stat needs a PATH");
	for (int i = 0; i < ctx->argc && !rc; i++)
		rc = check_path(ctx->argv[i]);
	if (rc || (rc = ws_open(ctx, &os, WS_READ, true)))
		return rc;
	for (int i = 0; i < ctx->argc && !rc; i++) {
		struct cdt_objinfo in;
		jv rec = jv_invalid();
		rc = cdt_objstore_stat(os, ctx->argv[i], &in);
		if (rc)
			break;
		if (in.node == CDT_NODE_FILE) {
			struct cdt_objinfo known = in;
			known.path = known.target = known.etag = NULL;
			rc = file_record(os, ctx->argv[i], &known, false,
					 &rec);
		} else {
			rec = node_record(ctx->argv[i], &in);
		}
		if (!rc)
			rc = cdt_emit(rec);
	}
	cdt_objstore_free(os);
	return rc;
}

/* ---- write and apply ------------------------------------------------ */

enum tkind {
	T_FILE = 0,
	T_DIR,
	T_SYMLINK,
};

/* One path the stream touches: its records fold into one result. */
struct target {
	char *path;
	enum tkind kind;
	int left;		/* records for it not yet folded in */
	int rc;			/* --partial: its failure */
	int blocks;		/* SEARCH/REPLACE pairs so far */
	bool looked;		/* the workspace's version was looked at */
	bool exists;		/* ... and is a regular file */
	enum cdt_node node;	/* what is there, when it exists */
	uint64_t orig_size;	/* ... its size */
	char etag[80];		/* ... and on S3 its ETag, or "" */
	bool have_orig;		/* orig holds its content */
	struct cdt_buf orig;
	char orig_sha[CDT_SHA256_HEX_LEN + 1];	/* "" until known */
	char *orig_link;	/* a symlink's target, when one is there */
	bool have_cur;		/* cur holds the new content */
	struct cdt_buf cur;
	char *link;		/* the new symlink's target */
	struct cdt_objput *put;	/* staged */
	bool unchanged;
	bool done;		/* committed (or unchanged) and reported */
	char sha[CDT_SHA256_HEX_LEN + 1];
	uint64_t size;
};

struct writer {
	struct cdt_ctx *ctx;
	struct cdt_objstore *os;
	bool partial;
	bool dry_run;
	struct target *t;
	size_t nt, cap;
	jv index;		/* path -> target number */
	struct cdt_buf diff;
	int first_rc;		/* --partial: the first failure */
};

static struct target *
target_of(struct writer *w, const char *path, bool add)
{
	jv n = jv_object_get(jv_copy(w->index), jv_string(path));
	if (jv_get_kind(n) == JV_KIND_NUMBER) {
		size_t i = (size_t)jv_number_value(n);
		jv_free(n);
		return &w->t[i];
	}
	jv_free(n);
	if (!add)
		return NULL;
	if (w->nt == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->t = cdt_xrealloc(w->t, w->cap * sizeof(*w->t));
	}
	struct target *t = &w->t[w->nt];
	memset(t, 0, sizeof(*t));
	t->path = cdt_xstrdup(path);
	t->orig = (struct cdt_buf)CDT_BUF_INIT;
	t->cur = (struct cdt_buf)CDT_BUF_INIT;
	w->index = jv_object_set(w->index, jv_string(path),
				 jv_number((double)w->nt));
	w->nt++;
	return t;
}

static void
target_release(struct target *t)
{
	free(t->path);
	cdt_buf_release(&t->orig);
	cdt_buf_release(&t->cur);
	free(t->orig_link);
	free(t->link);
	cdt_objstore_put_abort(t->put);
}

/* The bytes a file record asks to write, checked; rec not consumed. */
static int
record_bytes(jv rec, const char *path, struct cdt_buf *out)
{
	jv c = jv_object_get(jv_copy(rec), jv_string("content"));
	jv b = jv_object_get(jv_copy(rec), jv_string("content_base64"));
	int rc = 0;
	cdt_buf_reset(out);
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
		rc = cdt_err(EX_DATAERR, "file record '%s' has no content",
			     path);
	}
	jv_free(c);
	jv_free(b);
	return rc;
}

/* A string member (NUL allowed), or refuse the record. */
static int
member(jv obj, const char *key, const char *path, jv *out)
{
	*out = jv_object_get(jv_copy(obj), jv_string(key));
	if (jv_get_kind(*out) == JV_KIND_STRING)
		return 0;
	jv_free(*out);
	*out = jv_invalid();
	return cdt_err(EX_DATAERR, "edit record '%s': no '%s' string", path,
		       key);
}

/* The SEARCH/REPLACE pairs of an edit record: itself, or its "edits". */
static int
edit_pairs(jv rec, const char *path, jv *pairs)
{
	jv e = jv_object_get(jv_copy(rec), jv_string("edits"));
	int rc = 0;
	*pairs = jv_array();
	if (jv_get_kind(e) == JV_KIND_ARRAY) {
		jv_array_foreach(e, i, p) {
			if (!rc && jv_get_kind(p) != JV_KIND_OBJECT)
				rc = cdt_err(EX_DATAERR, "edit record '%s': "
					     "edits[%d] is not an object",
					     path, i);
			if (!rc)
				*pairs = jv_array_append(*pairs, jv_copy(p));
			jv_free(p);
		}
		if (!rc && jv_array_length(jv_copy(*pairs)) == 0)
			rc = cdt_err(EX_DATAERR, "edit record '%s': no edits",
				     path);
	} else if (jv_is_valid(e) && jv_get_kind(e) != JV_KIND_NULL) {
		rc = cdt_err(EX_DATAERR, "edit record '%s': 'edits' is not an "
			     "array", path);
	} else {
		*pairs = jv_array_append(*pairs, jv_copy(rec));
	}
	jv_free(e);
	jv_array_foreach(*pairs, i, p) {
		jv s = jv_invalid(), r = jv_invalid();
		if (!rc)
			rc = member(p, "search", path, &s);
		if (!rc)
			rc = member(p, "replace", path, &r);
		jv_free(s);
		jv_free(r);
		jv_free(p);
	}
	if (rc) {
		jv_free(*pairs);
		*pairs = jv_invalid();
	}
	return rc;
}

/* Check one record's shape and path, and count it for its target. */
static int
check_record(struct writer *w, jv rec)
{
	bool edit = cdt_record_is(rec, "edit");
	const char *path = NULL;
	int rc = rec_path(rec, edit ? "edit" : "file", &path);
	if (rc)
		return rc;
	if (edit) {
		jv pairs = jv_invalid();
		rc = edit_pairs(rec, path, &pairs);
		jv_free(pairs);
	} else {
		const char *nt = cdt_record_str(rec, "node_type");
		if (nt && !strcmp(nt, "symlink")) {
			bool nul;
			const char *tg = rec_str(rec, "target", &nul);
			if (!tg || nul)
				rc = cdt_err(EX_DATAERR, "symlink record '%s' "
					     "without a target", path);
			else
				rc = cdt_objstore_check_target(path, tg);
		} else if (nt && strcmp(nt, "file") &&
			   strcmp(nt, "directory")) {
			rc = cdt_err(EX_DATAERR, "file record '%s': unknown "
				     "node_type '%s'", path, nt);
		} else if (!nt || !strcmp(nt, "file")) {
			jv c = jv_object_get(jv_copy(rec),
					     jv_string("content"));
			jv b = jv_object_get(jv_copy(rec),
					     jv_string("content_base64"));
			if (jv_get_kind(c) != JV_KIND_STRING &&
			    jv_get_kind(b) != JV_KIND_STRING)
				rc = cdt_err(EX_DATAERR, "file record '%s' has "
					     "no content", path);
			jv_free(c);
			jv_free(b);
		}
	}
	struct target *t = target_of(w, path, true);
	t->left++;
	if (rc && w->partial && !t->rc)
		t->rc = rc;
	return rc;
}

static int
hash_sink(void *arg, const void *data, size_t len)
{
	cdt_sha256_update(arg, data, len);
	return 0;
}

/* Look at what the workspace holds at the target's path, once. */
static int
look(struct writer *w, struct target *t)
{
	struct cdt_objinfo in;
	if (t->looked)
		return 0;
	cdt_err_quiet(true);
	int rc = cdt_objstore_stat(w->os, t->path, &in);
	cdt_err_quiet(false);
	if (rc == EX_NOINPUT) {
		cdt_err_clear();
		t->looked = true;
		return 0;
	}
	if (rc) {
		struct cdt_err_last e;
		cdt_err_get(&e);
		return cdt_err_class(rc, e.cls, "%s", e.message);
	}
	t->looked = true;
	t->node = in.node;
	t->exists = in.node == CDT_NODE_FILE;
	t->orig_size = in.size;
	snprintf(t->etag, sizeof(t->etag), "%s", in.etag ? in.etag : "");
	if (in.node == CDT_NODE_SYMLINK && in.target)
		t->orig_link = cdt_xstrdup(in.target);
	if (in.node == CDT_NODE_FILE && in.nlink > 1)
		return cdt_err(EX_NOPERM, "refusing '%s': file has other hard "
			       "links", t->path);
	if (in.node == CDT_NODE_OTHER)
		return cdt_err(EX_NOPERM, "refusing '%s': not a regular file",
			       t->path);
	return 0;
}

static int
orig_sha(struct writer *w, struct target *t)
{
	int rc = look(w, t);
	if (rc || t->orig_sha[0] || !t->exists)
		return rc;
	if (t->have_orig) {
		cdt_sha256_hex(t->orig.buf, t->orig.len, t->orig_sha);
		return 0;
	}
	struct cdt_sha256 sha;
	cdt_sha256_init(&sha);
	rc = cdt_objstore_get(w->os, t->path, hash_sink, &sha, NULL);
	if (!rc)
		cdt_sha256_final_hex(&sha, t->orig_sha);
	cdt_sha256_release(&sha);
	return rc;
}

static int
buf_sink(void *arg, const void *data, size_t len)
{
	return cdt_buf_add(arg, data, len);
}

static int
orig_content(struct writer *w, struct target *t)
{
	int rc = look(w, t);
	if (rc || t->have_orig || !t->exists)
		return rc;
	cdt_buf_reset(&t->orig);
	t->orig.max = CDT_RECORD_MAX;
	rc = cdt_objstore_get(w->os, t->path, buf_sink, &t->orig, NULL);
	if (rc == EX_DATAERR && t->orig.len >= CDT_RECORD_MAX - 65536)
		rc = cdt_err(EX_DATAERR, "cannot edit '%s': larger than %zu "
			     "bytes", t->path, CDT_RECORD_MAX);
	if (!rc) {
		t->have_orig = true;
		cdt_sha256_hex(t->orig.buf, t->orig.len, t->orig_sha);
	}
	return rc;
}

/* Shorten text for a message: its first line, at most 40 bytes. */
static void
snippet(const char *s, size_t n, char *out, size_t outlen)
{
	size_t l = 0;
	while (l < n && l < 40 && s[l] != '\n' && s[l] != '\0')
		l++;
	l = cdt_utf8_cut(s, l);
	snprintf(out, outlen, "%.*s%s", (int)l, s, l < n ? "..." : "");
}

static int
apply_edit(struct writer *w, struct target *t, jv rec)
{
	jv pairs = jv_invalid();
	int rc = edit_pairs(rec, t->path, &pairs);
	if (rc)
		return rc;
	if (t->kind != T_FILE) {
		rc = cdt_err(EX_DATAERR, "cannot edit '%s': the stream made it "
			     "a %s", t->path, t->kind == T_DIR ? "directory" :
			     "symlink");
		goto out;
	}
	if (!t->have_cur) {
		if ((rc = orig_content(w, t)))
			goto out;
		if (!t->exists) {
			rc = cdt_err(t->node == CDT_NODE_SYMLINK ? EX_NOPERM :
				     t->node == CDT_NODE_DIR ? EX_DATAERR :
				     EX_NOINPUT, "cannot edit '%s': %s",
				     t->path, t->node == CDT_NODE_SYMLINK ?
				     "a symlink" : t->node == CDT_NODE_DIR ?
				     "is a directory" : "No such file");
			goto out;
		}
		cdt_buf_reset(&t->cur);
		t->cur.max = CDT_RECORD_MAX;
		cdt_buf_add(&t->cur, t->orig.buf, t->orig.len);
		t->have_cur = true;
	}
	jv_array_foreach(pairs, i, p) {
		jv s = jv_object_get(jv_copy(p), jv_string("search"));
		jv r = jv_object_get(jv_copy(p), jv_string("replace"));
		size_t line = 0;
		size_t slen = (size_t)jv_string_length_bytes(jv_copy(s));
		t->blocks++;
		enum cdt_edit_result er = rc ? CDT_EDIT_OK :
			cdt_edit_apply(&t->cur, jv_string_value(s), slen,
				       jv_string_value(r),
				       (size_t)jv_string_length_bytes(
					       jv_copy(r)), &line);
		if (!rc && er != CDT_EDIT_OK) {
			char snip[64];
			snippet(jv_string_value(s), slen, snip, sizeof(snip));
			if (er == CDT_EDIT_AMBIGUOUS)
				rc = cdt_err(EX_DATAERR, "cannot apply edit %d "
					     "to '%s': %s (again at line %zu)"
					     ": '%s'", t->blocks, t->path,
					     cdt_edit_strerror(er), line,
					     snip);
			else
				rc = cdt_err(EX_DATAERR, "cannot apply edit %d "
					     "to '%s': %s: '%s'", t->blocks,
					     t->path, cdt_edit_strerror(er),
					     snip);
		}
		jv_free(s);
		jv_free(r);
		jv_free(p);
	}
out:
	jv_free(pairs);
	return rc;
}

/* An S3 ETag that is the MD5 of the object (not multipart, not KMS). */
static bool
etag_is_md5(const char *etag)
{
	return strlen(etag) == 32 && strspn(etag, "0123456789abcdefABCDEF") ==
	       32;
}

static bool
md5_hex(const void *data, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!EVP_Digest(data, len, md, &n, EVP_md5(), NULL) || n != 16)
		return false;
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return true;
}

/* The target's records are all in: stage it (or diff it). */
static int
finish_target(struct writer *w, struct target *t)
{
	int rc = look(w, t);
	if (rc)
		return rc;
	if (t->kind == T_DIR) {
		if (t->looked && t->node != CDT_NODE_DIR && (t->exists ||
		    t->node == CDT_NODE_SYMLINK))
			return cdt_err(EX_CANTCREAT, "cannot create directory "
				       "'%s': File exists", t->path);
		return 0;
	}
	if (t->kind == T_SYMLINK) {
		if (t->node == CDT_NODE_DIR)
			return cdt_err(EX_CANTCREAT, "cannot make symlink "
				       "'%s': is a directory", t->path);
		if (cdt_objstore_kind(w->os) == CDT_OBJSTORE_S3)
			return cdt_err(EX_CANTCREAT, "cannot make symlink "
				       "'%s': %s has no symlinks", t->path,
				       cdt_objstore_name(w->os));
		t->unchanged = t->node == CDT_NODE_SYMLINK && t->orig_link &&
			       !strcmp(t->orig_link, t->link);
		if (w->dry_run && !t->unchanged) {
			if (t->exists && (rc = orig_content(w, t)))
				return rc;
			rc = cdt_edit_diff(t->path, t->orig.buf, t->orig.len,
					   t->exists, t->link,
					   strlen(t->link), true, 0120000,
					   &w->diff);
		}
		return rc;
	}
	/* A file. */
	if (t->node == CDT_NODE_DIR)
		return cdt_err(EX_CANTCREAT, "cannot write '%s': is a "
			       "directory", t->path);
	if (t->node == CDT_NODE_SYMLINK)
		return cdt_err(EX_NOPERM, "refusing '%s': a symlink", t->path);
	cdt_sha256_hex(t->cur.buf, t->cur.len, t->sha);
	t->size = t->cur.len;
	if (w->dry_run) {
		if ((rc = orig_content(w, t)))
			return rc;
		t->unchanged = t->exists && !strcmp(t->orig_sha, t->sha);
		if (!t->unchanged)
			rc = cdt_edit_diff(t->path, t->orig.buf, t->orig.len,
					   t->exists, t->cur.buf, t->cur.len,
					   true, 0, &w->diff);
		return rc;
	}
	/* Identical content is not rewritten: settle it before staging. */
	if (t->exists && !t->orig_sha[0] && t->orig_size == t->cur.len) {
		char md5[33];
		if (cdt_objstore_kind(w->os) == CDT_OBJSTORE_S3 &&
		    etag_is_md5(t->etag) && md5_hex(t->cur.buf, t->cur.len,
						    md5))
			t->unchanged = !strcasecmp(t->etag, md5);
		else if ((rc = orig_sha(w, t)))
			goto out;
	}
	if (t->orig_sha[0])
		t->unchanged = t->exists && !strcmp(t->orig_sha, t->sha);
	if (t->unchanged)
		goto out;
	rc = cdt_objstore_put_begin(w->os, t->path, &t->put);
	if (!rc)
		rc = cdt_objstore_put_write(t->put, t->cur.buf, t->cur.len);
out:
	/* The bytes are staged: memory goes back. */
	cdt_buf_release(&t->cur);
	cdt_buf_release(&t->orig);
	t->have_cur = t->have_orig = false;
	return rc;
}

static int
prelist_cb(void *arg, const struct cdt_objinfo *in)
{
	struct writer *w = arg;
	struct target *t = target_of(w, in->path, false);
	if (!t)
		return 0;
	t->node = in->node;
	t->exists = in->node == CDT_NODE_FILE;
	t->orig_size = in->size;
	snprintf(t->etag, sizeof(t->etag), "%s", in->etag ? in->etag : "");
	return 0;
}

/*
 * On S3 each path would cost one or two listings to look at: with many,
 * list the directory they share once instead, and take what is absent
 * from it as absent.
 */
static int
prelist(struct writer *w)
{
	if (cdt_objstore_kind(w->os) != CDT_OBJSTORE_S3 || w->nt < 8)
		return 0;
	size_t common = strlen(w->t[0].path);
	for (size_t i = 1; i < w->nt; i++) {
		size_t k = 0;
		while (k < common && w->t[i].path[k] == w->t[0].path[k])
			k++;
		common = k;
	}
	/* Back to a whole directory: "a/b/" of "a/b/c" and "a/b/d". */
	while (common && w->t[0].path[common - 1] != '/')
		common--;
	char *dir = cdt_xstrndup(w->t[0].path, common ? common - 1 : 0);
	cdt_err_quiet(true);
	int rc = cdt_objstore_list(w->os, dir, true, prelist_cb, w);
	cdt_err_quiet(false);
	if (rc == EX_NOINPUT) {
		cdt_err_clear();
		rc = 0;
	} else if (rc) {
		struct cdt_err_last e;
		cdt_err_get(&e);
		rc = cdt_err_class(rc, e.cls, "%s", e.message);
	}
	free(dir);
	for (size_t i = 0; !rc && i < w->nt; i++)
		w->t[i].looked = true;
	return rc;
}

static int
fold_record(struct writer *w, jv rec)
{
	bool edit = cdt_record_is(rec, "edit");
	const char *path = cdt_record_str(rec, "path");
	struct target *t = target_of(w, path, false);
	int rc = 0;
	if (!t || t->rc)
		return 0;	/* --partial: refused in the check */
	const char *base = cdt_record_str(rec, "base_sha256");
	if (base) {
		if ((rc = orig_sha(w, t)))
			goto out;
		if (strcmp(base, t->orig_sha)) {
			rc = cdt_err_class(EX_TEMPFAIL, "conflict", "'%s' "
					   "changed since it was read "
					   "(base_sha256 does not match)",
					   t->path);
			goto out;
		}
	}
	if (edit) {
		rc = apply_edit(w, t, rec);
	} else {
		const char *nt = cdt_record_str(rec, "node_type");
		free(t->link);
		t->link = NULL;
		if (nt && !strcmp(nt, "directory")) {
			t->kind = T_DIR;
			cdt_buf_release(&t->cur);
			t->have_cur = false;
		} else if (nt && !strcmp(nt, "symlink")) {
			t->kind = T_SYMLINK;
			t->link = cdt_xstrdup(cdt_record_str(rec, "target"));
			cdt_buf_release(&t->cur);
			t->have_cur = false;
		} else {
			t->kind = T_FILE;
			t->cur.max = CDT_RECORD_MAX;
			rc = record_bytes(rec, t->path, &t->cur);
			t->have_cur = !rc;
		}
	}
	if (!rc && --t->left == 0)
		rc = finish_target(w, t);
out:
	if (rc && w->partial)
		t->rc = rc;
	return rc;
}

static int
emit_target(struct target *t)
{
	char now[32];
	jv r = cdt_record_new("file");
	cdt_now_rfc3339(now);
	r = jv_object_set(r, jv_string("path"), jv_string(t->path));
	r = jv_object_set(r, jv_string("node_type"), jv_string(
		t->kind == T_DIR ? "directory" : t->kind == T_SYMLINK ?
		"symlink" : "file"));
	if (t->kind == T_SYMLINK)
		r = jv_object_set(r, jv_string("target"), jv_string(t->link));
	if (t->kind == T_FILE) {
		r = jv_object_set(r, jv_string("size"),
				  jv_number((double)t->size));
		r = jv_object_set(r, jv_string("sha256"), jv_string(t->sha));
	}
	r = jv_object_set(r, jv_string("modified_at"), jv_string(now));
	if (t->kind != T_DIR)
		r = jv_object_set(r, jv_string("unchanged"),
				  jv_bool(t->unchanged));
	return cdt_emit(r);
}

/* Put one staged target in place and say so. */
static int
commit_target(struct writer *w, struct target *t)
{
	int rc = 0;
	if (t->kind == T_DIR) {
		rc = cdt_objstore_mkdir(w->os, t->path);
	} else if (t->kind == T_SYMLINK) {
		if (!t->unchanged)
			rc = cdt_objstore_symlink(w->os, t->path, t->link);
	} else if (t->put) {
		struct cdt_objput *p = t->put;
		t->put = NULL;
		rc = cdt_objstore_put_commit(p);
	}
	t->done = true;
	return rc ? rc : emit_target(t);
}

/*
 * Staged writes hold three descriptors each until commit: let the
 * process have what the hard limit allows.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
take_all(void *arg, jv rec, const char *type)
{
	struct cdt_spool *sp = arg;
	if (strcmp(type, "file") && strcmp(type, "edit"))
		return 1;	/* --dry-run: stdout is the diff alone */
	int rc = cdt_spool_add(sp, jv_copy(rec));
	return rc ? rc : 1;
}

/* --if-match: the file's sha256 now must be want; 75 otherwise. */
static int
check_match(struct cdt_objstore *os, const char *path, const char *want)
{
	struct cdt_objinfo in;
	char cur[CDT_SHA256_HEX_LEN + 1] = "";
	cdt_err_quiet(true);
	int rc = cdt_objstore_stat(os, path, &in);
	cdt_err_quiet(false);
	if (rc && rc != EX_NOINPUT) {
		struct cdt_err_last e;
		cdt_err_get(&e);
		return cdt_err_class(rc, e.cls, "%s", e.message);
	}
	cdt_err_clear();
	if (!rc && in.node == CDT_NODE_FILE) {
		struct cdt_sha256 sha;
		cdt_sha256_init(&sha);
		rc = cdt_objstore_get(os, path, hash_sink, &sha, NULL);
		if (!rc)
			cdt_sha256_final_hex(&sha, cur);
		cdt_sha256_release(&sha);
		if (rc)
			return rc;
	}
	if (!strcasecmp(cur, want))
		return 0;
	return cdt_err_class(EX_TEMPFAIL, "conflict", "'%s' does not match "
			     "--if-match: its sha256 is %s", path,
			     cur[0] ? cur : "none (no such file)");
}

/* Write PATH from raw stdin, streamed, atomically. */
static int
write_raw(struct cdt_ctx *ctx, struct cdt_objstore *os, const char *path)
{
	struct cdt_objput *p = NULL;
	const char *want = cdt_opt(ctx, "if-match");
	struct target t = { .path = (char *)path, .kind = T_FILE };
	char chunk[64 * 1024];
	bool same = false;
	int rc = 0;

	/* Before reading stdin, and again just before the rename. */
	if (want && (rc = check_match(os, path, want)))
		return rc;
	rc = cdt_objstore_put_begin(os, path, &p);
	while (!rc) {
		ssize_t n = cdt_reader_raw(&ctx->in, chunk, sizeof(chunk));
		if (n < 0)
			rc = EX_IOERR;
		if (n <= 0)
			break;
		rc = cdt_objstore_put_write(p, chunk, (size_t)n);
	}
	if (!rc && want)
		rc = check_match(os, path, want);
	if (!rc)
		rc = cdt_objstore_put_same(p, &same);
	if (!rc) {
		struct cdt_objput *q = p;
		p = NULL;
		cdt_objstore_put_digest(q, t.sha, &t.size);
		t.unchanged = same;
		if (same)
			cdt_objstore_put_abort(q);
		else
			rc = cdt_objstore_put_commit(q);
	}
	cdt_objstore_put_abort(p);
	return rc ? rc : emit_target(&t);
}

static int
write_records(struct cdt_ctx *ctx, bool edits_only)
{
	struct writer w = { .ctx = ctx, .index = jv_object(),
			    .diff = CDT_BUF_INIT };
	struct cdt_spool sp;
	static const char *const take_fe[] = { "file", "edit", NULL };
	static const char *const take_e[] = { "edit", NULL };
	jv rec = jv_invalid();
	int rc;

	w.partial = cdt_flag(ctx, "partial");
	w.dry_run = cdt_flag(ctx, "dry-run");
	w.diff.max = DIFF_MAX;
	cdt_spool_init(&sp);
	if (w.dry_run)
		rc = cdt_stream_each(ctx, take_all, &sp);
	else
		rc = cdt_stream_take(ctx, edits_only ? take_e : take_fe, &sp);
	if (!rc)
		rc = cdt_stream_upstream(ctx, "writing");
	if (!rc)
		rc = ws_open(ctx, &w.os, w.dry_run ? WS_READ : WS_WRITE,
			     false);
	if (rc)
		goto out;
	/* 1. Every record's shape and path, before anything else. */
	while (!rc && (rc = cdt_spool_next(&sp, &rec)) == 0) {
		if (!edits_only || cdt_record_is(rec, "edit")) {
			int crc = check_record(&w, rec);
			if (crc && w.partial) {
				if (!w.first_rc)
					w.first_rc = crc;
			} else {
				rc = crc;
			}
		}
		jv_free(rec);
		rec = jv_invalid();
	}
	if (rc != CDT_EOF)
		goto out;
	raise_fd_limit();
	if ((rc = prelist(&w)))
		goto out;
	/* 2. Fold the records of each path in order and stage the result. */
	rc = cdt_spool_rewind(&sp);
	while (!rc && (rc = cdt_spool_next(&sp, &rec)) == 0) {
		bool mine = !edits_only || cdt_record_is(rec, "edit");
		const char *path = NULL;
		bool nul = false;
		if (mine)
			path = rec_str(rec, "path", &nul);
		if (mine && path && !nul &&
		    !cdt_path_check(path, strlen(path), NULL)) {
			int frc = fold_record(&w, rec);
			struct target *t = target_of(&w, path, false);
			if (w.partial) {
				if (frc && !w.first_rc)
					w.first_rc = frc;
				/* Per file: in place as soon as it is done. */
				if (!frc && t && !t->rc && !t->left &&
				    !t->done && !w.dry_run) {
					frc = commit_target(&w, t);
					if (frc && !w.first_rc)
						w.first_rc = frc;
				}
			} else {
				rc = frc;
			}
		}
		jv_free(rec);
		rec = jv_invalid();
	}
	if (rc != CDT_EOF)
		goto out;
	rc = 0;
	/* 3. All staged: put everything in place. */
	size_t staged = 0;
	for (size_t i = 0; i < w.nt; i++)
		staged += w.t[i].put != NULL;
	if (staged > 1 && !w.dry_run)
		rc = cdt_objstore_flush(w.os);
	for (size_t i = 0; i < w.nt && !rc; i++) {
		struct target *t = &w.t[i];
		if (t->rc || t->done || t->left)
			continue;
		if (w.dry_run)
			continue;
		rc = commit_target(&w, t);
	}
	if (!rc && w.dry_run && w.diff.len)
		rc = cdt_out_bytes(w.diff.buf, w.diff.len);
	if (!rc)
		rc = w.first_rc;
out:
	jv_free(rec);
	for (size_t i = 0; i < w.nt; i++)
		target_release(&w.t[i]);
	free(w.t);
	jv_free(w.index);
	cdt_buf_release(&w.diff);
	cdt_spool_release(&sp);
	cdt_objstore_free(w.os);
	return rc == CDT_EOF ? 0 : rc;
}

int
cdt_files_write(struct cdt_ctx *ctx)
{
	struct cdt_objstore *os = NULL;
	int rc;
	if (ctx->argc > 1)
		return cdt_usage(ctx, "write takes at most one PATH");
	if (ctx->argc == 0) {
		if (cdt_opt(ctx, "if-match"))
			return cdt_usage(ctx, "--if-match needs a PATH");
		return write_records(ctx, false);
	}
	if (cdt_flag(ctx, "partial") || cdt_flag(ctx, "dry-run"))
		return cdt_usage(ctx, "--partial and --dry-run work on "
				 "records, not with a PATH");
	const char *want = cdt_opt(ctx, "if-match");
	if (want && (strlen(want) != CDT_SHA256_HEX_LEN ||
		     strspn(want, "0123456789abcdefABCDEF") !=
		     CDT_SHA256_HEX_LEN))
		return cdt_usage(ctx, "--if-match takes a sha256 in hex");
	rc = check_path(ctx->argv[0]);
	if (rc)
		return rc;
	/* With a PATH, stdin is the content, whatever it looks like. */
	if (ctx->in.mode == CDT_INPUT_AUTO)
		ctx->in.mode = CDT_INPUT_RAW;
	if ((rc = ws_open(ctx, &os, WS_WRITE, false)))
		return rc;
	rc = write_raw(ctx, os, ctx->argv[0]);
	cdt_objstore_free(os);
	return rc;
}

int
cdt_files_apply(struct cdt_ctx *ctx)
{
	if (ctx->argc)
		return cdt_usage(ctx, "apply takes no PATH: it reads edit "
				 "records");
	return write_records(ctx, true);
}

/* ---- rm and mv ----------------------------------------------------- */

int
cdt_files_rm(struct cdt_ctx *ctx)
{
	struct cdt_objstore *os = NULL;
	int rc = 0;
	if (ctx->argc < 1)
		return cdt_usage(ctx, "rm needs a PATH");
	for (int i = 0; i < ctx->argc && !rc; i++)
		rc = check_path(ctx->argv[i]);
	if (rc || (rc = ws_open(ctx, &os, WS_WRITE, true)))
		return rc;
	bool recursive = cdt_flag(ctx, "recursive");
	for (int i = 0; i < ctx->argc && !rc; i++) {
		struct cdt_objinfo in;
		rc = cdt_objstore_stat(os, ctx->argv[i], &in);
		if (rc)
			break;
		enum cdt_node node = in.node;
		if (node == CDT_NODE_DIR && !recursive) {
			rc = cdt_err(EX_DATAERR, "cannot remove '%s': is a "
				     "directory (use -r)", ctx->argv[i]);
			break;
		}
		rc = cdt_objstore_remove(os, ctx->argv[i], recursive);
		if (rc)
			break;
		jv r = cdt_record_new("file");
		r = jv_object_set(r, jv_string("path"),
				  jv_string(ctx->argv[i]));
		r = jv_object_set(r, jv_string("node_type"),
				  jv_string(node_name(node)));
		r = jv_object_set(r, jv_string("deleted"), jv_true());
		rc = cdt_emit(r);
	}
	cdt_objstore_free(os);
	return rc;
}

int
cdt_files_mv(struct cdt_ctx *ctx)
{
	struct cdt_objstore *os = NULL;
	struct cdt_objinfo in;
	int rc = 0;
	if (ctx->argc != 2)
		return cdt_usage(ctx, "mv needs FROM and TO");
	for (int i = 0; i < ctx->argc && !rc; i++)
		rc = check_path(ctx->argv[i]);
	if (rc || (rc = ws_open(ctx, &os, WS_WRITE, true)))
		return rc;
	const char *from = ctx->argv[0], *to = ctx->argv[1];
	rc = cdt_objstore_stat(os, from, &in);
	if (!rc)
		rc = cdt_objstore_rename(os, from, to,
					 !cdt_flag(ctx, "overwrite"));
	if (!rc && !(rc = cdt_objstore_stat(os, to, &in))) {
		jv r = node_record(to, &in);
		r = jv_object_set(r, jv_string("moved_from"), jv_string(from));
		rc = cdt_emit(r);
	}
	cdt_objstore_free(os);
	return rc;
}

/* ---- sync ------------------------------------------------------------ */

struct sent {
	char *path;
	enum cdt_node node;
	char *target;
	uint64_t size;
};

struct slist {
	struct sent *v;
	size_t n, cap;
};

static int
slist_cb(void *arg, const struct cdt_objinfo *in)
{
	struct slist *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = cdt_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	struct sent *e = &l->v[l->n++];
	e->path = cdt_xstrdup(in->path);
	e->node = in->node;
	e->target = in->target ? cdt_xstrdup(in->target) : NULL;
	e->size = in->size;
	return 0;
}

static void
slist_release(struct slist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].target);
	}
	free(l->v);
}

static int
known_cb(void *arg, const struct cdt_objinfo *in)
{
	jv *known = arg;
	if (in->node != CDT_NODE_FILE)
		return 0;
	jv o = jv_object_set(jv_object(), jv_string("size"),
			     jv_number((double)in->size));
	o = jv_object_set(o, jv_string("etag"),
			  jv_string(in->etag ? in->etag : ""));
	*known = jv_object_set(*known, jv_string(in->path), o);
	return 0;
}

static int
put_sink(void *arg, const void *data, size_t len)
{
	return cdt_objstore_put_write(arg, data, len);
}

struct progress {
	bool on;
	size_t done, total;
	uint64_t bytes;
	int64_t last_ms;
};

static void
progress(struct progress *pg, bool final)
{
	struct timespec ts;
	if (!pg->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (!final && now - pg->last_ms < 100)
		return;
	pg->last_ms = now;
	fprintf(stderr, "\rcdt-files: sync: %zu/%zu files, %.1f MB%s",
		pg->done, pg->total, (double)pg->bytes / 1e6,
		final ? "\n" : "");
	fflush(stderr);
}

/*
 * Copy one file.  known is what a listing of dst said of path (an object
 * {size, etag}), or null: then dst is asked.
 */
static int
sync_file(struct cdt_objstore *src, struct cdt_objstore *dst,
	  const char *path, jv known, bool quiet)
{
	struct cdt_objput *p = NULL;
	struct target t = { .path = (char *)path, .kind = T_FILE };
	bool same = false;
	int rc = cdt_objstore_put_begin(dst, path, &p);
	if (!rc)
		rc = cdt_objstore_get(src, path, put_sink, p, NULL);
	if (!rc && jv_get_kind(known) == JV_KIND_OBJECT) {
		jv sz = jv_object_get(jv_copy(known), jv_string("size"));
		const char *etag = cdt_record_str(known, "etag");
		char hex[CDT_SHA256_HEX_LEN + 1], md5[33];
		uint64_t size;
		cdt_objstore_put_digest(p, hex, &size);
		same = jv_get_kind(sz) == JV_KIND_NUMBER &&
		       (uint64_t)jv_number_value(sz) == size && etag &&
		       etag_is_md5(etag) && cdt_objstore_put_md5(p, md5) &&
		       !strcasecmp(etag, md5);
		jv_free(sz);
	} else if (!rc && jv_get_kind(known) != JV_KIND_NULL) {
		rc = cdt_objstore_put_same(p, &same);
	}
	if (!rc) {
		cdt_objstore_put_digest(p, t.sha, &t.size);
		t.unchanged = same;
		struct cdt_objput *q = p;
		p = NULL;
		if (same)
			cdt_objstore_put_abort(q);
		else
			rc = cdt_objstore_put_commit(q);
	}
	cdt_objstore_put_abort(p);
	return rc || quiet ? rc : emit_target(&t);
}

/* mkdir -p of a destination directory named on the command line. */
static int
mkdir_p(const char *dir)
{
	char *p = cdt_xstrdup(dir);
	int rc = 0;
	for (char *s = p + 1; !rc; s++) {
		bool end = !*s;
		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			rc = cdt_err_errno(errno == EACCES ? EX_NOPERM :
					   EX_CANTCREAT, "cannot create '%s'",
					   p);
		if (end)
			break;
		*s = '/';
	}
	free(p);
	return rc;
}

/*
 * Copy src's tree onto dst: files that differ, symlinks (not to S3),
 * empty directories; with del, remove what src lacks.  quiet: no
 * records.
 */
static int
sync_trees(struct cdt_objstore *src, struct cdt_objstore *dst, bool del,
	   bool quiet, struct progress *pg)
{
	struct slist sl = { NULL, 0, 0 }, dl = { NULL, 0, 0 };
	jv have = jv_object();
	jv known = jv_object();
	int rc;

	if ((rc = cdt_objstore_list(src, "", true, slist_cb, &sl)))
		goto done;
	pg->total = sl.n;
	/* On S3, one listing of dst tells what it holds already. */
	bool listed = cdt_objstore_kind(dst) == CDT_OBJSTORE_S3;
	if (listed && (rc = cdt_objstore_list(dst, "", true, known_cb,
					      &known)))
		goto done;
	for (size_t i = 0; i < sl.n && !rc; i++) {
		struct sent *e = &sl.v[i];
		have = jv_object_set(have, jv_string(e->path), jv_true());
		if (e->node == CDT_NODE_FILE) {
			/* Listed and absent: null; not listed: invalid. */
			jv k = listed ? jv_object_get(jv_copy(known),
						      jv_string(e->path)) :
				jv_invalid();
			if (listed && !jv_is_valid(k))
				k = jv_null();
			rc = sync_file(src, dst, e->path, k, quiet);
			jv_free(k);
			pg->bytes += e->size;
		} else if (e->node == CDT_NODE_SYMLINK) {
			if (cdt_objstore_kind(dst) == CDT_OBJSTORE_S3) {
				cdt_warn("sync: skipping symlink '%s': %s has "
					 "no symlinks", e->path,
					 cdt_objstore_name(dst));
			} else {
				struct target t = { .path = e->path,
						    .kind = T_SYMLINK,
						    .link = e->target };
				rc = e->target ? cdt_objstore_symlink(dst,
					e->path, e->target) : 0;
				if (!rc && e->target && !quiet)
					rc = emit_target(&t);
			}
		} else if (e->node == CDT_NODE_DIR) {
			/* Only an empty one needs making. */
			size_t l = strlen(e->path);
			bool empty = i + 1 >= sl.n ||
				strncmp(sl.v[i + 1].path, e->path, l) ||
				sl.v[i + 1].path[l] != '/';
			if (empty)
				rc = cdt_objstore_mkdir(dst, e->path);
		} else {
			cdt_warn("sync: skipping '%s': not a regular file",
				 e->path);
		}
		pg->done++;
		progress(pg, false);
	}
	if (!rc && del) {
		rc = cdt_objstore_list(dst, "", true, slist_cb, &dl);
		const char *gone = NULL;
		for (size_t i = 0; i < dl.n && !rc; i++) {
			const char *p = dl.v[i].path;
			size_t gl = gone ? strlen(gone) : 0;
			/* Below a directory already removed whole. */
			if (gone && !strncmp(p, gone, gl) && p[gl] == '/')
				continue;
			jv h = jv_object_get(jv_copy(have), jv_string(p));
			bool keep = jv_is_valid(h) &&
				    jv_get_kind(h) == JV_KIND_TRUE;
			jv_free(h);
			if (keep)
				continue;
			rc = cdt_objstore_remove(dst, p, true);
			if (rc)
				break;
			if (dl.v[i].node == CDT_NODE_DIR)
				gone = p;
			jv r = cdt_record_new("file");
			r = jv_object_set(r, jv_string("path"), jv_string(p));
			r = jv_object_set(r, jv_string("node_type"),
					  jv_string(node_name(dl.v[i].node)));
			r = jv_object_set(r, jv_string("deleted"), jv_true());
			if (quiet)
				jv_free(r);
			else
				rc = cdt_emit(r);
		}
	}
	progress(pg, true);
done:
	jv_free(have);
	jv_free(known);
	slist_release(&sl);
	slist_release(&dl);
	return rc;
}

int
cdt_files_mirror(const char *from, const char *to,
		 const struct cdt_cfg *cfg)
{
	struct cdt_objstore *src = NULL, *dst = NULL;
	struct progress pg = { false, 0, 0, 0, 0 };
	int rc = 0;
	if (strncmp(to, "s3://", 5))
		rc = mkdir_p(to);
	if (!rc)
		rc = cdt_objstore_open_where(from, cfg, &src);
	if (!rc)
		rc = cdt_objstore_open_where(to, cfg, &dst);
	if (!rc)
		rc = sync_trees(src, dst, false, true, &pg);
	cdt_objstore_free(src);
	cdt_objstore_free(dst);
	return rc;
}

int
cdt_files_sync(struct cdt_ctx *ctx)
{
	struct cdt_objstore *src = NULL, *dst = NULL;
	struct progress pg = { isatty(2) && cdt_log_enabled(CDT_LOG_WARN),
			       0, 0, 0, 0 };
	int rc;

	const char *to = cdt_opt(ctx, "to");
	if (!to || (strcmp(to, "s3") && strcmp(to, "local"))) {
		rc = cdt_usage(ctx, "sync needs --to s3 or --to local");
		goto out;
	}
	if (ctx->argc != 1) {
		rc = cdt_usage(ctx, "sync needs the destination: "
			       "s3://BUCKET/PREFIX or a directory");
		goto out;
	}
	const char *dest = ctx->argv[0];
	bool dest_s3 = !strncmp(dest, "s3://", 5);
	if (dest_s3 != !strcmp(to, "s3")) {
		rc = cdt_usage(ctx, "--to %s does not match '%s'", to, dest);
		goto out;
	}
	rc = cdt_stream_each(ctx, NULL, NULL);
	if (!rc)
		rc = cdt_stream_upstream(ctx, "syncing");
	if (rc || (rc = ws_open(ctx, &src, WS_READ, false)))
		goto out;
	if (!dest_s3 && (rc = mkdir_p(dest)))
		goto out;
	if ((rc = ws_open_at(ctx, dest, &dst)))
		goto out;
	rc = sync_trees(src, dst, cdt_flag(ctx, "delete"), false, &pg);
out:
	cdt_objstore_free(src);
	cdt_objstore_free(dst);
	return rc;
}
