#include "compat.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "codec.h"
#include "err.h"
#include "files.h"
#include "hash.h"
#include "path.h"

/* Room for the rest of a file record around a capped content string. */
#define RECORD_SLACK (64 * 1024)

struct ws {
	int root;
	const char *dir;
};

static int
ws_open(struct cdt_ctx *ctx, struct ws *ws)
{
	ws->root = -1;
	ws->dir = ctx->dir;
	if (!ws->dir && (cdt_opt(ctx, "session") || getenv("CDT_SESSION") ||
			 jv_is_valid(ctx->session)))
		return cdt_err(EX_SOFTWARE, "session workspaces are not "
			       "implemented yet: use -C DIR");
	if (!ws->dir)
		return cdt_usage(ctx, "no workspace: give -C DIR");
	return cdt_path_root_open(ws->dir, &ws->root);
}

static void
ws_close(struct ws *ws)
{
	if (ws->root >= 0)
		close(ws->root);
	ws->root = -1;
}

/* The lexical check, reported with the path. */
static int
check_path(const char *path)
{
	const char *why = NULL;
	int rc = cdt_path_check(path, strlen(path), &why);
	return rc ? cdt_err(rc, "bad path '%s': %s", path, why) : 0;
}

static const char *
node_type(mode_t m)
{
	return S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : "file";
}

static jv
time_str(const struct timespec *ts)
{
	char s[40];
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return jv_string(s);
}

/* A file record without content: path, node_type, size, modified_at. */
static jv
node_record(int root, const char *path, const struct stat *st)
{
	jv r = cdt_record_new("file");
	r = jv_object_set(r, jv_string("path"), jv_string(path));
	r = jv_object_set(r, jv_string("node_type"),
			  jv_string(node_type(st->st_mode)));
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		const char *slash = strrchr(path, '/');
		int dfd = -1;
		ssize_t n = -1;
		if (!slash) {
			n = readlinkat(root, path, target, sizeof(target) - 1);
		} else {
			char *parent = cdt_xstrndup(path,
						    (size_t)(slash - path));
			if (cdt_path_open(root, parent, O_PATH | O_DIRECTORY,
					  0, &dfd) == 0)
				n = readlinkat(dfd, slash + 1, target,
					       sizeof(target) - 1);
			free(parent);
			if (dfd >= 0)
				close(dfd);
		}
		if (n >= 0) {
			target[n] = '\0';
			r = jv_object_set(r, jv_string("target"),
					  jv_string(target));
		}
	}
	if (S_ISREG(st->st_mode))
		r = jv_object_set(r, jv_string("size"),
				  jv_number((double)st->st_size));
	r = jv_object_set(r, jv_string("modified_at"), time_str(&st->st_mtim));
	return r;
}

struct ls {
	int root;
	int rc;
};

static int
ls_cb(void *arg, const char *path, const struct stat *st)
{
	struct ls *ls = arg;
	return cdt_emit(node_record(ls->root, path, st));
}

int
cdt_files_ls(struct cdt_ctx *ctx)
{
	struct ws ws;
	int rc = ws_open(ctx, &ws);
	if (rc)
		return rc;
	if (ctx->argc > 1) {
		rc = cdt_usage(ctx, "ls takes at most one PATH");
		goto out;
	}
	const char *path = ctx->argc ? ctx->argv[0] : "";
	struct ls ls = { ws.root, 0 };
	if (*path) {
		struct stat st;
		rc = cdt_path_stat(ws.root, path, &st);
		if (rc)
			goto out;
		if (!S_ISDIR(st.st_mode)) {
			rc = cdt_emit(node_record(ws.root, path, &st));
			goto out;
		}
	}
	rc = cdt_path_list(ws.root, path, cdt_flag(ctx, "recursive"), ls_cb,
			   &ls);
out:
	ws_close(&ws);
	return rc;
}

/* Read a whole regular file through fd into a file record. */
static int
file_record(int root, const char *path, bool with_content, jv *out)
{
	int fd = -1;
	struct cdt_buf data = CDT_BUF_INIT;
	struct cdt_buf b64 = CDT_BUF_INIT;
	struct cdt_sha256 sha;
	struct stat st;
	char hex[CDT_SHA256_HEX_LEN + 1];
	bool truncated = false;
	int rc = cdt_path_open(root, path, O_RDONLY | O_NOFOLLOW, 0, &fd);
	cdt_sha256_init(&sha);
	if (rc)
		goto out;
	if (fstat(fd, &st) < 0) {
		rc = cdt_err_errno(EX_IOERR, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = cdt_err(EX_DATAERR, "cannot read '%s': %s", path,
			     S_ISDIR(st.st_mode) ? "is a directory (use -r)" :
			     "not a regular file");
		goto out;
	}
	/* Keep at most the cap in memory; hash all of it. */
	data.max = CDT_RECORD_MAX - RECORD_SLACK;
	char chunk[64 * 1024];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		cdt_sha256_update(&sha, chunk, (size_t)n);
		if (!with_content || truncated)
			continue;
		size_t room = data.max - data.len;
		if ((size_t)n > room) {
			cdt_buf_add(&data, chunk, room);
			truncated = true;
		} else {
			cdt_buf_add(&data, chunk, (size_t)n);
		}
	}
	cdt_sha256_final_hex(&sha, hex);
	jv r = node_record(root, path, &st);
	r = jv_object_set(r, jv_string("sha256"), jv_string(hex));
	if (with_content) {
		r = jv_object_set(r, jv_string("content_type"),
				  jv_string(cdt_content_type(path)));
		size_t len = data.len;
		if (truncated)
			len = cdt_utf8_cut(data.buf, len);
		if (cdt_is_text(data.buf, len)) {
			r = jv_object_set(r, jv_string("content"),
				jv_string_sized(data.buf, (int)len));
		} else {
			/* Base64 grows by 4/3: keep it under the cap too. */
			size_t raw = truncated || data.len / 3 * 4 > data.max ?
				data.max / 4 * 3 : data.len;
			if (raw < data.len)
				truncated = true;
			cdt_b64_encode(data.buf, raw < data.len ? raw :
				       data.len, &b64);
			r = jv_object_set(r, jv_string("content_base64"),
				jv_string_sized(b64.buf, (int)b64.len));
		}
		r = jv_object_set(r, jv_string("truncated"),
				  jv_bool(truncated));
	}
	*out = r;
out:
	cdt_sha256_release(&sha);
	cdt_buf_release(&b64);
	cdt_buf_release(&data);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Copy a file's bytes to stdout (read --raw). */
static int
raw_file(int root, const char *path)
{
	int fd = -1;
	int rc = cdt_path_open(root, path, O_RDONLY | O_NOFOLLOW, 0, &fd);
	if (rc)
		return rc;
	char chunk[64 * 1024];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
			break;
		}
		if (n == 0 || (rc = cdt_out_bytes(chunk, (size_t)n)))
			break;
		if (cdt_out_broken())
			break;
	}
	close(fd);
	return rc;
}

struct rd {
	int root;
	bool recursive;
	bool raw;
};

static int read_one(struct rd *r, const char *path);

static int
read_cb(void *arg, const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return 0;
	struct rd *r = arg;
	return read_one(r, path);
}

static int
read_one(struct rd *r, const char *path)
{
	struct stat st;
	int rc = cdt_path_stat(r->root, path, &st);
	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode) && r->recursive) {
		struct rd flat = *r;
		flat.recursive = false;
		return cdt_path_list(r->root, path, true, read_cb, &flat);
	}
	if (S_ISLNK(st.st_mode))
		return cdt_err(EX_NOPERM, "refusing '%s': a symlink", path);
	if (r->raw)
		return raw_file(r->root, path);
	jv rec = jv_invalid();
	rc = file_record(r->root, path, true, &rec);
	return rc ? rc : cdt_emit(rec);
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
	struct ws ws = { -1, NULL };
	struct cdt_spool sp;
	cdt_spool_init(&sp);
	int rc = 0;
	if (ctx->argc == 0) {
		/* The paths come from file records on stdin, replaced. */
		rc = cdt_stream_each(ctx, take_files, &sp);
		if (!rc)
			rc = cdt_stream_upstream(ctx, "reading");
		if (rc)
			goto out;
	}
	rc = ws_open(ctx, &ws);
	if (rc)
		goto out;
	struct rd r = { ws.root, cdt_flag(ctx, "recursive"),
			cdt_flag(ctx, "raw") };
	/* Check every path before reading any. */
	for (int i = 0; i < ctx->argc && !rc; i++)
		rc = check_path(ctx->argv[i]);
	if (rc)
		goto out;
	for (int i = 0; i < ctx->argc && !rc; i++)
		rc = read_one(&r, ctx->argv[i]);
	jv rec = jv_invalid();
	while (!rc && (rc = cdt_spool_next(&sp, &rec)) == 0) {
		const char *p = cdt_record_str(rec, "path");
		if (!p)
			rc = cdt_err(EX_DATAERR, "file record without a path");
		else
			rc = read_one(&r, p);
		jv_free(rec);
	}
	if (rc == CDT_EOF)
		rc = 0;
out:
	cdt_spool_release(&sp);
	ws_close(&ws);
	return rc;
}

/* The written file as a record: path, size, sha256, unchanged. */
static int
written_record(int root, const char *path, const char *sha, size_t size,
	       bool unchanged)
{
	jv r = cdt_record_new("file");
	r = jv_object_set(r, jv_string("path"), jv_string(path));
	r = jv_object_set(r, jv_string("node_type"), jv_string("file"));
	r = jv_object_set(r, jv_string("size"), jv_number((double)size));
	r = jv_object_set(r, jv_string("sha256"), jv_string(sha));
	r = jv_object_set(r, jv_string("unchanged"), jv_bool(unchanged));
	return cdt_emit(r);
}

/* write PATH: raw stdin streamed into PATH, atomically. */
static int
write_raw(struct cdt_ctx *ctx, int root, const char *path)
{
	struct cdt_atomic a = CDT_ATOMIC_INIT;
	struct cdt_sha256 sha;
	char hex[CDT_SHA256_HEX_LEN + 1];
	size_t total = 0;
	int rc = cdt_atomic_begin(&a, root, path,
				  0666 | CDT_PATH_MODE_KEEP);
	if (rc)
		return rc;
	cdt_sha256_init(&sha);
	char chunk[64 * 1024];
	for (;;) {
		ssize_t n = cdt_reader_raw(&ctx->in, chunk, sizeof(chunk));
		if (n < 0) {
			rc = EX_IOERR;
			break;
		}
		if (n == 0)
			break;
		cdt_sha256_update(&sha, chunk, (size_t)n);
		total += (size_t)n;
		if ((rc = cdt_atomic_write(&a, chunk, (size_t)n)))
			break;
	}
	if (!rc)
		rc = cdt_atomic_commit(&a);
	cdt_atomic_abort(&a);
	cdt_sha256_final_hex(&sha, hex);
	cdt_sha256_release(&sha);
	return rc ? rc : written_record(root, path, hex, total, false);
}

/* The bytes a file record asks to write, checked; rec not consumed. */
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
		rc = cdt_err(EX_DATAERR, "file record '%s' has no content",
			     path);
	}
	jv_free(c);
	jv_free(b);
	return rc;
}

static int
current_sha(int root, const char *path, char hex[CDT_SHA256_HEX_LEN + 1],
	    bool *exists)
{
	jv rec = jv_invalid();
	struct stat st;
	*exists = false;
	hex[0] = '\0';
	/* A file that is not there yet is no error here. */
	cdt_err_quiet(true);
	int src = cdt_path_stat(root, path, &st);
	cdt_err_quiet(false);
	if (src == EX_NOINPUT) {
		cdt_err_clear();
		return 0;
	}
	int rc = file_record(root, path, false, &rec);
	if (rc)
		return rc;
	*exists = true;
	snprintf(hex, CDT_SHA256_HEX_LEN + 1, "%s",
		 cdt_record_str(rec, "sha256"));
	jv_free(rec);
	return 0;
}

/* Check one file record before anything is written. */
static int
check_file_record(int root, jv rec)
{
	const char *path = cdt_record_str(rec, "path");
	if (!path)
		return cdt_err(EX_DATAERR, "file record without a path");
	int rc = check_path(path);
	if (rc)
		return rc;
	const char *nt = cdt_record_str(rec, "node_type");
	if (nt && !strcmp(nt, "symlink"))
		return cdt_err(EX_NOPERM, "refusing to write symlink '%s'",
			       path);
	if (nt && !strcmp(nt, "directory"))
		return 0;
	if (nt && strcmp(nt, "file"))
		return cdt_err(EX_DATAERR, "file record '%s': unknown "
			       "node_type '%s'", path, nt);
	struct cdt_buf b = CDT_BUF_INIT;
	rc = record_bytes(rec, path, &b);
	cdt_buf_release(&b);
	if (rc)
		return rc;
	const char *base = cdt_record_str(rec, "base_sha256");
	if (base) {
		char hex[CDT_SHA256_HEX_LEN + 1];
		bool exists;
		rc = current_sha(root, path, hex, &exists);
		if (rc)
			return rc;
		if (strcmp(hex, base))
			return cdt_err_class(EX_TEMPFAIL, "conflict",
				"'%s' changed since it was read "
				"(base_sha256 does not match)", path);
	}
	return 0;
}

static int
write_record(int root, jv rec)
{
	const char *path = cdt_record_str(rec, "path");
	const char *nt = cdt_record_str(rec, "node_type");
	struct cdt_buf b = CDT_BUF_INIT;
	char hex[CDT_SHA256_HEX_LEN + 1];
	char old[CDT_SHA256_HEX_LEN + 1];
	bool exists;
	int rc;
	if (nt && !strcmp(nt, "directory")) {
		int dfd = -1;
		rc = cdt_path_mkdirs(root, path, &dfd);
		if (dfd >= 0)
			close(dfd);
		if (rc)
			return rc;
		jv r = cdt_record_new("file");
		r = jv_object_set(r, jv_string("path"), jv_string(path));
		r = jv_object_set(r, jv_string("node_type"),
				  jv_string("directory"));
		return cdt_emit(r);
	}
	rc = record_bytes(rec, path, &b);
	if (rc)
		goto out;
	cdt_sha256_hex(b.buf, b.len, hex);
	rc = current_sha(root, path, old, &exists);
	if (rc)
		goto out;
	bool same = exists && !strcmp(old, hex);
	if (!same)
		rc = cdt_path_write(root, path, b.buf, b.len,
				    0666 | CDT_PATH_MODE_KEEP);
	if (!rc)
		rc = written_record(root, path, hex, b.len, same);
out:
	cdt_buf_release(&b);
	return rc;
}

int
cdt_files_write(struct cdt_ctx *ctx)
{
	struct ws ws = { -1, NULL };
	struct cdt_spool sp;
	static const char *const take[] = { "file", "edit", NULL };
	jv rec = jv_invalid();
	int rc;
	cdt_spool_init(&sp);
	if (ctx->argc > 1) {
		rc = cdt_usage(ctx, "write takes at most one PATH");
		goto out;
	}
	if (ctx->argc == 1) {
		rc = check_path(ctx->argv[0]);
		if (rc)
			goto out;
		/* With a PATH, stdin is the content, whatever it looks like. */
		if (ctx->in.mode == CDT_INPUT_AUTO)
			ctx->in.mode = CDT_INPUT_RAW;
		rc = ws_open(ctx, &ws);
		if (!rc)
			rc = write_raw(ctx, ws.root, ctx->argv[0]);
		goto out;
	}
	rc = cdt_stream_take(ctx, take, &sp);
	if (!rc)
		rc = cdt_stream_upstream(ctx, "writing");
	if (!rc)
		rc = ws_open(ctx, &ws);
	/* Every record is checked before any is written. */
	while (!rc && (rc = cdt_spool_next(&sp, &rec)) == 0) {
		if (cdt_record_is(rec, "edit"))
			rc = cdt_err(EX_SOFTWARE, "applying edit records is "
				     "not implemented yet");
		else
			rc = check_file_record(ws.root, rec);
		jv_free(rec);
		rec = jv_invalid();
	}
	if (rc != CDT_EOF)
		goto out;
	rc = cdt_spool_rewind(&sp);
	while (!rc && (rc = cdt_spool_next(&sp, &rec)) == 0) {
		rc = write_record(ws.root, rec);
		jv_free(rec);
		rec = jv_invalid();
	}
	if (rc == CDT_EOF)
		rc = 0;
out:
	cdt_spool_release(&sp);
	ws_close(&ws);
	return rc;
}

/* Check every operand before touching anything. */
static int
check_operands(struct cdt_ctx *ctx, int min, int max, const char *what)
{
	if (ctx->argc < min || (max >= 0 && ctx->argc > max))
		return cdt_usage(ctx, "%s", what);
	int rc = 0;
	for (int i = 0; i < ctx->argc && !rc; i++)
		rc = check_path(ctx->argv[i]);
	return rc;
}

int
cdt_files_stat(struct cdt_ctx *ctx)
{
	struct ws ws;
	int rc = check_operands(ctx, 1, -1, "stat needs a PATH");
	if (rc || (rc = ws_open(ctx, &ws)))
		return rc;
	for (int i = 0; i < ctx->argc && !rc; i++) {
		struct stat st;
		jv rec = jv_invalid();
		rc = cdt_path_stat(ws.root, ctx->argv[i], &st);
		if (rc)
			break;
		if (S_ISREG(st.st_mode))
			rc = file_record(ws.root, ctx->argv[i], false, &rec);
		else
			rec = node_record(ws.root, ctx->argv[i], &st);
		if (!rc)
			rc = cdt_emit(rec);
	}
	ws_close(&ws);
	return rc;
}

int
cdt_files_rm(struct cdt_ctx *ctx)
{
	struct ws ws;
	int rc = check_operands(ctx, 1, -1, "rm needs a PATH");
	if (rc || (rc = ws_open(ctx, &ws)))
		return rc;
	bool recursive = cdt_flag(ctx, "recursive");
	for (int i = 0; i < ctx->argc && !rc; i++) {
		struct stat st;
		rc = cdt_path_stat(ws.root, ctx->argv[i], &st);
		if (rc)
			break;
		if (S_ISDIR(st.st_mode) && !recursive) {
			rc = cdt_err(EX_DATAERR, "cannot remove '%s': is a "
				     "directory (use -r)", ctx->argv[i]);
			break;
		}
		rc = cdt_path_remove(ws.root, ctx->argv[i], recursive);
		if (rc)
			break;
		jv r = cdt_record_new("file");
		r = jv_object_set(r, jv_string("path"),
				  jv_string(ctx->argv[i]));
		r = jv_object_set(r, jv_string("node_type"),
				  jv_string(node_type(st.st_mode)));
		r = jv_object_set(r, jv_string("deleted"), jv_true());
		rc = cdt_emit(r);
	}
	ws_close(&ws);
	return rc;
}

int
cdt_files_mv(struct cdt_ctx *ctx)
{
	struct ws ws;
	int rc = check_operands(ctx, 2, 2, "mv needs FROM and TO");
	if (rc || (rc = ws_open(ctx, &ws)))
		return rc;
	const char *from = ctx->argv[0], *to = ctx->argv[1];
	struct stat st;
	rc = cdt_path_stat(ws.root, from, &st);
	if (!rc)
		rc = cdt_path_rename(ws.root, from, to,
				     !cdt_flag(ctx, "overwrite"));
	if (!rc && !(rc = cdt_path_stat(ws.root, to, &st))) {
		jv r = node_record(ws.root, to, &st);
		r = jv_object_set(r, jv_string("moved_from"), jv_string(from));
		rc = cdt_emit(r);
	}
	ws_close(&ws);
	return rc;
}
