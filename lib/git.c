#include "compat.h"
#include <dirent.h>
#include <fcntl.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "git.h"
#include "hash.h"
#include "log.h"
#include "path.h"

/* From this many new blobs on, they go into one pack, not loose files. */
#define PACK_MIN 128
/* A pack is written whenever this much is waiting in memory. */
#define PACK_FLUSH ((size_t)64 << 20)

/* --- errors -------------------------------------------------------------- */

static void
lib_init(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	git_libgit2_init();
	/*
	 * Every tree we write names blobs we have just stored or checked;
	 * the per-entry existence check costs a file open each.
	 */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
}

/* The sysexits code for a libgit2 failure. */
static int
code_of(int e)
{
	const git_error *ge = git_error_last();
	switch (e) {
	case GIT_ELOCKED:
	case GIT_EMODIFIED:
		return EX_TEMPFAIL;
	case GIT_ENOTFOUND:
	case GIT_EAMBIGUOUS:
		return EX_NOINPUT;
	case GIT_EAUTH:
	case GIT_ECERTIFICATE:
		return EX_NOPERM;
	case GIT_ENONFASTFORWARD:
		return 1;
	case GIT_EINVALIDSPEC:
		return EX_DATAERR;
	default:
		break;
	}
	if (ge && ge->klass == GIT_ERROR_OS)
		return EX_IOERR;
	if (ge && ge->klass == GIT_ERROR_NOMEMORY)
		cdt_oom();
	return EX_SOFTWARE;
}

/* Report a libgit2 failure e as "what: libgit2's words"; return the code. */
static int CDT_PRINTF(2, 3)
gerr(int e, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const git_error *ge = git_error_last();
	int code = code_of(e);
	const char *cls = code == EX_TEMPFAIL ? "conflict" : NULL;
	return cdt_err_class(code, cls, "%s: %s", what, ge && ge->message ?
			     ge->message : "libgit2 failed");
}

void
cdt_git_hex(const git_oid *id, char out[GIT_OID_HEXSZ + 1])
{
	git_oid_tostr(out, GIT_OID_HEXSZ + 1, id);
}

/* --- paths beneath the root ---------------------------------------------- */

/*
 * Paths from trees and from libgit2's walk of the work tree are relative
 * and canonical; this checks the parts that matter for safety and leaves
 * git's wider set of names alone.
 */
static bool
reserved_segment(const char *s, size_t n)
{
	return (n == 4 && !strncasecmp(s, ".git", 4)) ||
		(n == 4 && !strncasecmp(s, ".cdt", 4));
}

static int
safe_rel(const char *path)
{
	const char *p = path;
	if (!*p || *p == '/')
		return cdt_err(EX_DATAERR, "bad path '%s' in the tree", path);
	for (bool first = true; *p; first = false) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return cdt_err(EX_DATAERR, "bad path '%s' in the tree",
				       path);
		if (first && reserved_segment(p, n))
			return cdt_err(EX_NOPERM, "refusing '%s': reserved "
				       "path", path);
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

static bool
is_reserved(const char *path)
{
	return reserved_segment(path, strcspn(path, "/"));
}

/*
 * The directory of a path beneath the root, opened one component at a
 * time with O_NOFOLLOW, so a symlink anywhere on the way is never
 * followed.  The last one opened is kept: paths come sorted, so most
 * files share it.
 */
struct wdir {
	int root;
	int fd;			/* O_PATH of cur, or -1 */
	struct cdt_buf cur;
	bool valid;
};

static void
wdir_init(struct wdir *w, int root)
{
	w->root = root;
	w->fd = -1;
	cdt_buf_init(&w->cur, CDT_BUF_MAX_DEFAULT);
	w->valid = false;
}

/* Drop the kept directory (it may be about to go). */
static void
wdir_forget(struct wdir *w)
{
	if (w->fd >= 0 && w->fd != w->root)
		close(w->fd);
	w->fd = -1;
	w->valid = false;
}

static void
wdir_release(struct wdir *w)
{
	if (w->fd >= 0 && w->fd != w->root)
		close(w->fd);
	w->fd = -1;
	w->valid = false;
	cdt_buf_release(&w->cur);
}

/*
 * Open the parent of rel into *dirfd (owned by w) with *base its last
 * segment.  With create, missing directories are made.  errno-style
 * failures: -1 with errno ENOENT (missing), ENOTDIR (a file or symlink
 * on the way; *stop is its length in rel), or another errno.
 */
static int
wdir_parent(struct wdir *w, const char *rel, bool create, int *dirfd,
	    const char **base, size_t *stop)
{
	const char *slash = strrchr(rel, '/');
	size_t plen = slash ? (size_t)(slash - rel) : 0;
	*base = slash ? slash + 1 : rel;
	*stop = 0;
	if (w->valid && w->cur.len == plen && !memcmp(w->cur.buf, rel, plen)) {
		*dirfd = w->fd;
		return 0;
	}
	if (w->fd >= 0 && w->fd != w->root)
		close(w->fd);
	w->fd = -1;
	w->valid = false;
	int fd = w->root;
	size_t off = 0;
	while (off < plen) {
		size_t n = strcspn(rel + off, "/");
		char name[256];
		if (n >= sizeof(name)) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		memcpy(name, rel + off, n);
		name[n] = '\0';
		int nfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
				 O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, name, 0777) < 0 && errno != EEXIST)
				goto fail;
			nfd = openat(fd, name, O_PATH | O_DIRECTORY |
				     O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			if (errno == ELOOP || errno == ENOTDIR) {
				errno = ENOTDIR;
				*stop = off + n;
			}
			goto fail;
		}
		if (fd != w->root)
			close(fd);
		fd = nfd;
		off += n + 1;
	}
	w->fd = fd;
	cdt_buf_reset(&w->cur);
	cdt_buf_add(&w->cur, rel, plen);
	w->valid = true;
	*dirfd = fd;
	return 0;
fail:;
	int saved = errno;
	if (fd != w->root)
		close(fd);
	errno = saved;
	return -1;
}

/* --- open, lock, stale locks --------------------------------------------- */

static int
open_cdt_dir(int root, const char *sub, int *out)
{
	*out = -1;
	if (mkdirat(root, ".cdt", 0700) < 0 && errno != EEXIST)
		return cdt_err_errno(EX_CANTCREAT, "cannot make '.cdt'");
	int fd = openat(root, ".cdt", O_PATH | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	if (fd < 0)
		return cdt_err_errno(EX_NOPERM, "refusing '.cdt'");
	if (sub) {
		if (mkdirat(fd, sub, 0700) < 0 && errno != EEXIST) {
			int rc = cdt_err_errno(EX_CANTCREAT, "cannot make "
					       "'.cdt/%s'", sub);
			close(fd);
			return rc;
		}
		int s = openat(fd, sub, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			       O_CLOEXEC);
		close(fd);
		if (s < 0)
			return cdt_err_errno(EX_NOPERM, "refusing '.cdt/%s'",
					     sub);
		fd = s;
	}
	*out = fd;
	return 0;
}

/*
 * A lock file, a libgit2 temporary file, or a pack whose index never
 * came (the indexer renames the pack into place first): git counts that
 * one as garbage and cannot use it.
 */
static bool
debris_name(int dfd, const char *name)
{
	size_t n = strlen(name);
	if ((n > 5 && !strcmp(name + n - 5, ".lock")) ||
	    strstr(name, "_git2_") != NULL)
		return true;
	if (n < 11 || n > 200 || strncmp(name, "pack-", 5) ||
	    strcmp(name + n - 5, ".pack"))
		return false;
	char idx[256];
	snprintf(idx, sizeof(idx), "%.*s.idx", (int)(n - 5), name);
	return faccessat(dfd, idx, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		errno == ENOENT;
}

/*
 * Remove what a dead lock holder left in dir (recursively below it when
 * deep): lock files and libgit2's temporary files made since it took the
 * lock.  Anything older was there before it and is not ours to judge.
 */
static void
clear_debris(int dfd, const char *shown, int64_t since_ns, bool deep,
	     int depth)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && deep && depth < 32) {
			int sub = openat(dirfd(d), e->d_name, O_PATH |
					 O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				clear_debris(sub, shown, since_ns, deep,
					     depth + 1);
				close(sub);
			}
			continue;
		}
		if (!S_ISREG(st.st_mode) || !debris_name(dirfd(d), e->d_name))
			continue;
		int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 +
			st.st_mtim.tv_nsec;
		/* One second of slack for coarse file system clocks. */
		if (m + 1000000000 < since_ns)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			cdt_info("removed '%s/%s' left by a dead process",
				 shown, e->d_name);
	}
	closedir(d);
}

static void
clear_stale(struct cdt_git *g)
{
	const struct cdt_lock_holder *h = &g->lock.prev;
	const char *gitdir = git_repository_path(g->repo);
	cdt_warn("the last %s (pid %ld) died holding the lock; clearing "
		 "what it left", *h->tool ? h->tool : "holder", (long)h->pid);
	int gd = open(gitdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (gd < 0)
		return;
	static const char *const flat[] = { ".", "objects", "objects/pack",
					    "cdt" };
	static const char *const deep[] = { "refs", "logs" };
	for (size_t i = 0; i < CDT_ARRAY_SIZE(flat); i++) {
		int fd = openat(gd, flat[i], O_PATH | O_DIRECTORY | O_NOFOLLOW |
				O_CLOEXEC);
		if (fd >= 0) {
			clear_debris(fd, flat[i], h->since_ns, false, 0);
			close(fd);
		}
	}
	/* Loose objects are written as objects/xx/tmp_object_git2_*. */
	int od = openat(gd, "objects", O_PATH | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	for (int i = 0; od >= 0 && i < 256; i++) {
		char sub[3];
		snprintf(sub, sizeof(sub), "%02x", i);
		int fd = openat(od, sub, O_PATH | O_DIRECTORY | O_NOFOLLOW |
				O_CLOEXEC);
		if (fd >= 0) {
			clear_debris(fd, sub, h->since_ns, false, 0);
			close(fd);
		}
	}
	if (od >= 0)
		close(od);
	for (size_t i = 0; i < CDT_ARRAY_SIZE(deep); i++) {
		int fd = openat(gd, deep[i], O_PATH | O_DIRECTORY | O_NOFOLLOW |
				O_CLOEXEC);
		if (fd >= 0) {
			clear_debris(fd, deep[i], h->since_ns, true, 0);
			close(fd);
		}
	}
	close(gd);
}

/* Add "/.cdt/" to info/exclude, so git itself does not show it either. */
static void
exclude_cdt(struct cdt_git *g)
{
	struct cdt_buf p = CDT_BUF_INIT;
	cdt_buf_addf(&p, "%sinfo", git_repository_path(g->repo));
	mkdir(p.buf, 0777);
	cdt_buf_addstr(&p, "/exclude");
	int fd = open(p.buf, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW |
		      O_CLOEXEC, 0666);
	if (fd >= 0) {
		char buf[8192];
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		if (!strstr(buf, "/.cdt/")) {
			const char *add = n > 0 && buf[n - 1] != '\n' ?
				"\n/.cdt/\n" : "/.cdt/\n";
			if (write(fd, add, strlen(add)) < 0)
				cdt_warn("cannot add '/.cdt/' to %s", p.buf);
		}
		close(fd);
	}
	cdt_buf_release(&p);
}

int
cdt_git_open(struct cdt_git *g, const char *dir, unsigned flags)
{
	int rc, e;
	memset(g, 0, sizeof(*g));
	g->rootfd = -1;
	g->lock.fd = -1;
	g->max_file_size = CDT_GIT_MAX_FILE_SIZE;
	g->dir = cdt_xstrdup(dir);
	lib_init();
	rc = cdt_path_root_open(dir, &g->rootfd);
	if (rc)
		goto fail;
	if (flags & CDT_GIT_WRITE) {
		int cdt = -1;
		rc = open_cdt_dir(g->rootfd, NULL, &cdt);
		if (rc)
			goto fail;
		rc = cdt_lock_take(&g->lock, cdt, "checkpoint.lock",
				   CDT_GIT_LOCK_WAIT_MS);
		close(cdt);
		if (rc)
			goto fail;
	}
	e = git_repository_open_ext(&g->repo, dir,
				    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (e == GIT_ENOTFOUND && (flags & CDT_GIT_CREATE)) {
		git_repository_init_options o;
		git_repository_init_options_init(&o,
			GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		o.flags = GIT_REPOSITORY_INIT_NO_REINIT;
		e = git_repository_init_ext(&g->repo, dir, &o);
		if (e == GIT_EEXISTS)	/* half made by a dead process */
			e = git_repository_init(&g->repo, dir, 0);
		if (e < 0) {
			rc = cdt_err(EX_CANTCREAT, "cannot make a repository "
				     "in '%s': %s", dir, git_error_last() ?
				     git_error_last()->message : "?");
			goto fail;
		}
	} else if (e == GIT_ENOTFOUND) {
		rc = cdt_err(EX_NOINPUT, "no checkpoints in '%s' (no git "
			     "repository yet)", dir);
		goto fail;
	} else if (e < 0) {
		rc = gerr(e, "cannot open the repository in '%s'", dir);
		goto fail;
	}
	if (git_repository_is_bare(g->repo)) {
		rc = cdt_err(EX_DATAERR, "'%s' is a bare repository, not a "
			     "work tree", dir);
		goto fail;
	}
	e = git_ignore_add_rule(g->repo, "/.cdt/\n");
	if (e < 0) {
		rc = gerr(e, "cannot set up '%s'", dir);
		goto fail;
	}
	if (g->lock.stale)
		clear_stale(g);
	if (flags & CDT_GIT_WRITE)
		exclude_cdt(g);
	return 0;
fail:
	cdt_git_close(g);
	return rc;
}

int
cdt_git_init_dir(const char *dir)
{
	struct cdt_git g;
	int rc = cdt_git_open(&g, dir, CDT_GIT_CREATE | CDT_GIT_WRITE);
	if (rc)
		return rc;
	const char *gd = git_repository_path(g.repo);
	struct cdt_buf h = CDT_BUF_INIT;
	cdt_buf_addf(&h, "%shooks", gd);
	if (mkdir(h.buf, 0755) && errno != EEXIST)
		rc = cdt_err_errno(EX_CANTCREAT, "cannot make '%s'", h.buf);
	cdt_buf_release(&h);
	cdt_git_close(&g);
	return rc;
}

void
cdt_git_close(struct cdt_git *g)
{
	if (g->index)
		git_index_free(g->index);
	g->index = NULL;
	if (g->repo)
		git_repository_free(g->repo);
	g->repo = NULL;
	cdt_lock_release(&g->lock);
	if (g->rootfd >= 0)
		close(g->rootfd);
	g->rootfd = -1;
	free(g->dir);
	g->dir = NULL;
}

/* --- branches ------------------------------------------------------------ */

void
cdt_git_branch_release(struct cdt_git_branch *b)
{
	free(b->ref);
	free(b->name);
	b->ref = NULL;
	b->name = NULL;
}

int
cdt_git_branch(struct cdt_git *g, const char *name, struct cdt_git_branch *b)
{
	git_reference *head = NULL;
	git_reference *ref = NULL;
	const char *head_target = NULL;
	int rc = 0, e;
	memset(b, 0, sizeof(*b));

	/* HEAD as a symbolic ref: which branch it names, born or not. */
	e = git_reference_lookup(&head, g->repo, "HEAD");
	if (e < 0) {
		rc = gerr(e, "cannot read HEAD");
		goto out;
	}
	if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC)
		head_target = git_reference_symbolic_target(head);
	if (name) {
		struct cdt_buf r = CDT_BUF_INIT;
		int valid = 0;
		cdt_buf_addf(&r, "refs/heads/%s", name);
		if (git_reference_name_is_valid(&valid, r.buf) < 0 || !valid ||
		    !strcmp(name, "HEAD") || *name == '-') {
			cdt_buf_release(&r);
			rc = cdt_err(EX_DATAERR, "bad branch name '%s'", name);
			goto out;
		}
		b->ref = cdt_buf_detach(&r, NULL);
		b->name = cdt_xstrdup(name);
		b->head = head_target && !strcmp(head_target, b->ref);
	} else if (head_target) {
		b->ref = cdt_xstrdup(head_target);
		b->name = cdt_xstrdup(head_target +
				      (strncmp(head_target, "refs/heads/", 11) ?
				       0 : 11));
		b->head = true;
	} else {
		b->ref = cdt_xstrdup("HEAD");
		b->head = true;
	}
	e = git_reference_name_to_id(&b->tip, g->repo, b->ref);
	if (e == 0) {
		b->born = b->exists = true;
	} else if (e != GIT_ENOTFOUND) {
		rc = gerr(e, "cannot read '%s'", b->ref);
		goto out;
	} else if (!b->head) {
		/* A new branch starts where HEAD is, as `git branch B`. */
		e = git_reference_name_to_id(&b->tip, g->repo, "HEAD");
		b->born = e == 0;
		if (e < 0 && e != GIT_ENOTFOUND && e != GIT_EUNBORNBRANCH) {
			rc = gerr(e, "cannot read HEAD");
			goto out;
		}
	}
out:
	git_reference_free(ref);
	git_reference_free(head);
	if (rc)
		cdt_git_branch_release(b);
	return rc;
}

int
cdt_git_commit_tree(struct cdt_git *g, const git_oid *c, git_oid *tree)
{
	git_commit *commit = NULL;
	memset(tree, 0, sizeof(*tree));
	if (!c)
		return 0;
	int e = git_commit_lookup(&commit, g->repo, c);
	if (e < 0)
		return gerr(e, "cannot read a checkpoint");
	git_oid_cpy(tree, git_commit_tree_id(commit));
	git_commit_free(commit);
	return 0;
}

/* --- storing blobs ------------------------------------------------------- */

/*
 * Where new blobs go.  Few: loose objects, through the repository's odb.
 * Many: an in-memory odb, written out as one pack (PACK_FLUSH at a time)
 * before anything refers to them.
 */
struct cdt_git_sink {
	struct cdt_git *g;
	git_odb *odb;		/* the repository's */
	git_odb *mem;		/* the in-memory one, or NULL */
	git_odb_backend *mempack;
	git_repository *memrepo;
	git_oid *pending;
	size_t npending;
	size_t cap;
	size_t bytes;
};

static int
sink_begin(struct cdt_git_sink *s, struct cdt_git *g, size_t expected)
{
	int e;
	memset(s, 0, sizeof(*s));
	s->g = g;
	e = git_repository_odb(&s->odb, g->repo);
	if (e < 0)
		return gerr(e, "cannot open the object database");
	if (expected < PACK_MIN)
		return 0;
	if ((e = git_odb_new(&s->mem)) < 0 ||
	    (e = git_mempack_new(&s->mempack)) < 0)
		return gerr(e, "cannot set up a pack");
	e = git_odb_add_backend(s->mem, s->mempack, 1);
	if (e < 0) {
		s->mempack->free(s->mempack);
		s->mempack = NULL;
		return gerr(e, "cannot set up a pack");
	}
	e = git_repository_wrap_odb(&s->memrepo, s->mem);
	if (e < 0)
		return gerr(e, "cannot set up a pack");
	return 0;
}

static int
sink_flush(struct cdt_git_sink *s)
{
	git_packbuilder *pb = NULL;
	struct cdt_buf dir = CDT_BUF_INIT;
	int rc = 0, e;
	if (!s->npending)
		return 0;
	e = git_packbuilder_new(&pb, s->memrepo);
	for (size_t i = 0; e >= 0 && i < s->npending; i++)
		e = git_packbuilder_insert(pb, &s->pending[i], NULL);
	cdt_buf_addf(&dir, "%sobjects/pack", git_repository_path(s->g->repo));
	if (e >= 0)
		e = git_packbuilder_write(pb, dir.buf, 0, NULL, NULL);
	if (e < 0) {
		rc = gerr(e, "cannot write a pack");
		goto out;
	}
	git_mempack_reset(s->mempack);
	s->npending = 0;
	s->bytes = 0;
	/* Let the repository see the new pack. */
	e = git_odb_refresh(s->odb);
	if (e < 0)
		rc = gerr(e, "cannot read the new pack");
out:
	cdt_buf_release(&dir);
	git_packbuilder_free(pb);
	return rc;
}

static int
sink_put(struct cdt_git_sink *s, const void *data, size_t len, git_oid *id)
{
	int e;
	if (!s->mem) {
		e = git_odb_write(id, s->odb, data, len, GIT_OBJECT_BLOB);
		return e < 0 ? gerr(e, "cannot store a file") : 0;
	}
	e = git_odb_hash(id, data, len, GIT_OBJECT_BLOB);
	if (e < 0)
		return gerr(e, "cannot hash a file");
	if (git_odb_exists(s->odb, id) || git_odb_exists(s->mem, id))
		return 0;
	git_oid got;
	e = git_odb_write(&got, s->mem, data, len, GIT_OBJECT_BLOB);
	if (e < 0)
		return gerr(e, "cannot store a file");
	if (s->npending == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->pending = cdt_xrealloc(s->pending,
					  s->cap * sizeof(*s->pending));
	}
	git_oid_cpy(&s->pending[s->npending++], id);
	s->bytes += len;
	return s->bytes >= PACK_FLUSH ? sink_flush(s) : 0;
}

/* Write what waits; 0 when all is stored. */
static int
sink_end(struct cdt_git_sink *s)
{
	return s->mem ? sink_flush(s) : 0;
}

static void
sink_release(struct cdt_git_sink *s)
{
	free(s->pending);
	if (s->memrepo)
		git_repository_free(s->memrepo);
	if (s->mem)
		git_odb_free(s->mem);	/* frees the mempack too */
	if (s->odb)
		git_odb_free(s->odb);
	memset(s, 0, sizeof(*s));
}

/* --- snapshots ----------------------------------------------------------- */

static int
private_index(struct cdt_git *g, const struct cdt_git_branch *b)
{
	struct cdt_buf p = CDT_BUF_INIT;
	char hex[CDT_SHA256_HEX_LEN + 1];
	git_index *idx = NULL;
	git_tree *tree = NULL;
	int rc = 0, e;
	cdt_sha256_hex(b->ref, strlen(b->ref), hex);
	cdt_buf_addf(&p, "%scdt", git_repository_path(g->repo));
	if (mkdir(p.buf, 0777) < 0 && errno != EEXIST) {
		rc = cdt_err_errno(EX_CANTCREAT, "cannot make '%s'", p.buf);
		goto out;
	}
	cdt_buf_addf(&p, "/index-%.40s", hex);
	e = git_index_open(&idx, p.buf);
	if (e >= 0)
		e = git_repository_set_index(g->repo, idx);
	if (e < 0) {
		rc = gerr(e, "cannot open the index of '%s'", b->ref);
		goto out;
	}
	/*
	 * It caches the branch's tree: start from the tip, keeping the file
	 * status of entries that did not change (read_tree does).
	 */
	if (b->born) {
		git_oid t;
		rc = cdt_git_commit_tree(g, &b->tip, &t);
		if (rc)
			goto out;
		e = git_tree_lookup(&tree, g->repo, &t);
		if (e >= 0)
			e = git_index_read_tree(idx, tree);
	} else {
		e = git_index_clear(idx);
	}
	if (e < 0) {
		rc = gerr(e, "cannot read the tree of '%s'", b->ref);
		goto out;
	}
	g->index = idx;
	idx = NULL;
out:
	git_tree_free(tree);
	git_index_free(idx);
	cdt_buf_release(&p);
	return rc;
}

static int
select_index(struct cdt_git *g, const struct cdt_git_branch *b)
{
	if (g->index)
		return 0;
	if (!b->head)
		return private_index(g, b);
	int e = git_repository_index(&g->index, g->repo);
	if (e < 0)
		return gerr(e, "cannot read the index");
	if (git_index_has_conflicts(g->index))
		return cdt_err_class(EX_TEMPFAIL, "conflict", "the index has "
				     "unresolved merge conflicts: resolve "
				     "them first");
	return 0;
}

struct snap {
	struct cdt_git *g;
	struct cdt_git_sink sink;
	struct wdir w;
	struct cdt_buf data;
	bool filemode;
};

static void
entry_stat(git_index_entry *e, const struct stat *st)
{
	e->ctime.seconds = (int32_t)st->st_ctim.tv_sec;
	e->ctime.nanoseconds = (uint32_t)st->st_ctim.tv_nsec;
	e->mtime.seconds = (int32_t)st->st_mtim.tv_sec;
	e->mtime.nanoseconds = (uint32_t)st->st_mtim.tv_nsec;
	e->dev = (uint32_t)st->st_dev;
	e->ino = (uint32_t)st->st_ino;
	e->uid = (uint32_t)st->st_uid;
	e->gid = (uint32_t)st->st_gid;
	e->file_size = (uint32_t)st->st_size;
}

static int
over_cap(struct cdt_git *g, const char *path, uint64_t size)
{
	return cdt_err(EX_DATAERR, "refusing '%s': %llu bytes, over the "
		       "checkpoint size cap of %llu (checkpoint.max_file_size;"
		       " or list it in .gitignore)", path,
		       (unsigned long long)size,
		       (unsigned long long)g->max_file_size);
}

/* Read the regular file base in dirfd whole, checking the cap as it goes. */
static int
read_file(struct snap *s, int dirfd, const char *base, const char *path,
	  struct stat *st)
{
	int fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			O_CLOEXEC | O_NOCTTY);
	int rc = 0;
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? -1 :
			cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
	if (fstat(fd, st) < 0) {
		rc = cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		rc = -1;	/* changed under us: look again next time */
		goto out;
	}
	if ((uint64_t)st->st_size > s->g->max_file_size) {
		rc = over_cap(s->g, path, (uint64_t)st->st_size);
		goto out;
	}
	cdt_buf_reset(&s->data);
	s->data.max = (size_t)s->g->max_file_size + 65536;
	if (cdt_buf_grow(&s->data, (size_t)st->st_size)) {
		rc = over_cap(s->g, path, (uint64_t)st->st_size);
		goto out;
	}
	for (;;) {
		/* It may grow while we read it: the cap still holds. */
		if (s->data.cap - s->data.len <= 1 &&
		    cdt_buf_grow(&s->data, 65536)) {
			rc = over_cap(s->g, path, s->data.len);
			goto out;
		}
		ssize_t n = read(fd, s->data.buf + s->data.len,
				 s->data.cap - s->data.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		cdt_buf_setlen(&s->data, s->data.len + (size_t)n);
		if (s->data.len > s->g->max_file_size) {
			rc = over_cap(s->g, path, s->data.len);
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

/* Store one path of the work tree in the index. */
static int
take_path(struct snap *s, git_index *idx, const char *path)
{
	int dirfd;
	const char *base;
	size_t stop;
	struct stat st;
	git_index_entry e;
	int rc;

	if (wdir_parent(&s->w, path, false, &dirfd, &base, &stop) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			goto gone;
		return cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
	}
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			goto gone;
		return cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
	}
	memset(&e, 0, sizeof(e));
	e.path = path;
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dirfd, base, target, sizeof(target));
		if (n < 0 || n == (ssize_t)sizeof(target))
			return cdt_err_errno(EX_IOERR, "cannot read symlink "
					     "'%s'", path);
		rc = sink_put(&s->sink, target, (size_t)n, &e.id);
		if (rc)
			return rc;
		e.mode = GIT_FILEMODE_LINK;
	} else if (S_ISREG(st.st_mode)) {
		rc = read_file(s, dirfd, base, path, &st);
		if (rc < 0)
			goto gone;
		if (rc)
			return rc;
		rc = sink_put(&s->sink, s->data.buf, s->data.len, &e.id);
		if (rc)
			return rc;
		e.mode = GIT_FILEMODE_BLOB;
		if (s->filemode ? (st.st_mode & 0100) != 0 :
		    (git_index_get_bypath(idx, path, 0) &&
		     git_index_get_bypath(idx, path, 0)->mode ==
		     GIT_FILEMODE_BLOB_EXECUTABLE))
			e.mode = GIT_FILEMODE_BLOB_EXECUTABLE;
	} else if (S_ISDIR(st.st_mode)) {
		/* A directory listed whole: a nested repository. */
		cdt_warn("skipping '%s': a directory", path);
		return 0;
	} else {
		cdt_warn("skipping '%s': not a file, directory or symlink",
			 path);
		return 0;
	}
	entry_stat(&e, &st);
	int err = git_index_add(idx, &e);
	return err < 0 ? gerr(err, "cannot add '%s'", path) : 0;
gone:
	/* It went away since libgit2 saw it: it is not in the tree. */
	if (git_index_get_bypath(idx, path, 0))
		git_index_remove(idx, path, 0);
	return 0;
}

int
cdt_git_snapshot(struct cdt_git *g, const struct cdt_git_branch *b,
		 git_oid *tree)
{
	git_diff *diff = NULL;
	git_config *cfg = NULL;
	struct snap s;
	int rc, e;

	memset(&s, 0, sizeof(s));
	s.g = g;
	wdir_init(&s.w, g->rootfd);
	cdt_buf_init(&s.data, CDT_BUF_MAX_DEFAULT);
	rc = select_index(g, b);
	if (rc)
		goto out;
	s.filemode = true;
	if (git_repository_config_snapshot(&cfg, g->repo) == 0) {
		int v = 1;
		if (git_config_get_bool(&v, cfg, "core.filemode") == 0)
			s.filemode = v != 0;
	}
	/* Nothing under .cdt/ is ever committed, whoever added it. */
	git_index_remove_directory(g->index, ".cdt", 0);

	git_diff_options o;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
		GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_SKIP_BINARY_CHECK |
		GIT_DIFF_IGNORE_SUBMODULES | GIT_DIFF_UPDATE_INDEX;
	e = git_diff_index_to_workdir(&diff, g->repo, g->index, &o);
	if (e < 0) {
		rc = gerr(e, "cannot read the work tree");
		goto out;
	}
	size_t n = git_diff_num_deltas(diff), adds = 0;
	for (size_t i = 0; i < n; i++)
		if (git_diff_get_delta(diff, i)->status != GIT_DELTA_DELETED)
			adds++;
	rc = sink_begin(&s.sink, g, adds);
	for (size_t i = 0; !rc && i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		const char *path = d->status == GIT_DELTA_DELETED ?
			d->old_file.path : d->new_file.path;
		if (is_reserved(path))
			continue;
		if (d->status == GIT_DELTA_DELETED) {
			e = git_index_remove(g->index, path, 0);
			if (e < 0 && e != GIT_ENOTFOUND)
				rc = gerr(e, "cannot drop '%s'", path);
			continue;
		}
		rc = take_path(&s, g->index, path);
	}
	if (!rc)
		rc = sink_end(&s.sink);
	if (rc)
		goto out;
	/* The blobs are stored: now the trees and the index may name them. */
	e = git_index_write_tree(tree, g->index);
	if (e < 0) {
		rc = gerr(e, "cannot write the tree");
		goto out;
	}
	e = git_index_write(g->index);
	if (e < 0)
		rc = gerr(e, "cannot write the index");
out:
	sink_release(&s.sink);
	git_diff_free(diff);
	git_config_free(cfg);
	cdt_buf_release(&s.data);
	wdir_release(&s.w);
	return rc;
}

/* --- commits ------------------------------------------------------------- */

/* NAME or EMAIL of GIT_{who}_*, else git config key, else fallback. */
static const char *
ident(git_config *cfg, const char *var, const char *key, const char *dflt,
      git_buf *keep)
{
	const char *v = getenv(var);
	if (v && *v)
		return v;
	if (cfg && git_config_get_string_buf(keep, cfg, key) == 0 &&
	    keep->size)
		return keep->ptr;
	return dflt && *dflt ? dflt : NULL;
}

static int
signatures(struct cdt_git *g, git_signature **author,
	   git_signature **committer)
{
	git_config *cfg = NULL;
	git_buf n = GIT_BUF_INIT, m = GIT_BUF_INIT;
	git_buf cn = GIT_BUF_INIT, cm = GIT_BUF_INIT;
	int rc = 0;
	*author = *committer = NULL;
	git_repository_config_snapshot(&cfg, g->repo);
	const char *name = g->author_name ? g->author_name :
		ident(cfg, "GIT_AUTHOR_NAME", "user.name", NULL, &n);
	const char *mail = g->author_email ? g->author_email :
		ident(cfg, "GIT_AUTHOR_EMAIL", "user.email", getenv("EMAIL"),
		      &m);
	if (!name || !mail) {
		rc = cdt_err(EX_CONFIG, "no author for the checkpoint: set "
			     "GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, or git "
			     "config user.name and user.email");
		goto out;
	}
	const char *cname = ident(cfg, "GIT_COMMITTER_NAME", "", name, &cn);
	const char *cmail = ident(cfg, "GIT_COMMITTER_EMAIL", "", mail, &cm);
	if (git_signature_now(author, name, mail) < 0 ||
	    git_signature_now(committer, cname, cmail) < 0) {
		rc = cdt_err(EX_CONFIG, "bad author or committer '%s <%s>': %s",
			     name, mail, git_error_last() ?
			     git_error_last()->message : "?");
		git_signature_free(*author);
		*author = NULL;
	}
out:
	git_buf_dispose(&n);
	git_buf_dispose(&m);
	git_buf_dispose(&cn);
	git_buf_dispose(&cm);
	git_config_free(cfg);
	return rc;
}

int
cdt_git_commit(struct cdt_git *g, struct cdt_git_branch *b,
	       const git_oid *tree, const char *message, git_oid *out)
{
	git_signature *author = NULL;
	git_signature *committer = NULL;
	git_tree *t = NULL;
	git_commit *parent = NULL;
	git_reference *ref = NULL;
	git_buf msg = GIT_BUF_INIT;
	struct cdt_buf log = CDT_BUF_INIT;
	int rc, e;

	rc = signatures(g, &author, &committer);
	if (rc)
		goto out;
	e = git_tree_lookup(&t, g->repo, tree);
	if (e >= 0 && b->born)
		e = git_commit_lookup(&parent, g->repo, &b->tip);
	if (e >= 0)
		e = git_message_prettify(&msg, message, 0, 0);
	if (e < 0) {
		rc = gerr(e, "cannot prepare the checkpoint");
		goto out;
	}
	const git_commit *parents[1] = { parent };
	e = git_commit_create(out, g->repo, NULL, author, committer, NULL,
			      msg.ptr, t, parent ? 1 : 0, parents);
	if (e < 0) {
		rc = gerr(e, "cannot write the checkpoint");
		goto out;
	}
	cdt_buf_addf(&log, "commit%s: %.*s", b->born ? "" : " (initial)",
		     (int)strcspn(msg.ptr, "\n"), msg.ptr);
	/* Move the branch only from where we read it: a compare-and-swap. */
	if (b->exists)
		e = git_reference_create_matching(&ref, g->repo, b->ref, out, 1,
						  &b->tip, log.buf);
	else
		e = git_reference_create(&ref, g->repo, b->ref, out, 0,
					 log.buf);
	if (e == GIT_EMODIFIED || e == GIT_EEXISTS) {
		rc = cdt_err_class(EX_TEMPFAIL, "conflict", "'%s' moved while "
				   "the checkpoint was made: try again",
				   b->name ? b->name : b->ref);
		goto out;
	}
	if (e < 0) {
		rc = gerr(e, "cannot move '%s'", b->ref);
		goto out;
	}
	git_oid_cpy(&b->tip, out);
	b->born = b->exists = true;
out:
	cdt_buf_release(&log);
	git_buf_dispose(&msg);
	git_reference_free(ref);
	git_commit_free(parent);
	git_tree_free(t);
	git_signature_free(author);
	git_signature_free(committer);
	return rc;
}

int
cdt_git_resolve(struct cdt_git *g, const char *spec, git_oid *out)
{
	git_object *obj = NULL;
	git_object *c = NULL;
	int e = git_revparse_single(&obj, g->repo, spec);
	if (e == GIT_ENOTFOUND || e == GIT_EAMBIGUOUS || e == GIT_EINVALIDSPEC)
		return cdt_err(EX_NOINPUT, "no checkpoint '%s'%s", spec,
			       e == GIT_EAMBIGUOUS ? " (ambiguous)" : "");
	if (e < 0)
		return gerr(e, "cannot resolve '%s'", spec);
	e = git_object_peel(&c, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (e < 0)
		return cdt_err(EX_NOINPUT, "'%s' is not a checkpoint (a "
			       "commit)", spec);
	git_oid_cpy(out, git_object_id(c));
	git_object_free(c);
	return 0;
}

/* --- statistics and differences ------------------------------------------ */

static int
lookup_tree(struct cdt_git *g, const git_oid *id, git_tree **out)
{
	*out = NULL;
	if (!id || git_oid_is_zero(id))
		return 0;
	int e = git_tree_lookup(out, g->repo, id);
	return e < 0 ? gerr(e, "cannot read a tree") : 0;
}

/* Lines of a blob, or binary (a NUL in the first 8000 bytes, as git). */
static void
blob_lines(const git_blob *b, size_t *lines, bool *binary)
{
	const char *p = git_blob_rawcontent(b);
	size_t n = (size_t)git_blob_rawsize(b);
	*lines = 0;
	*binary = memchr(p, '\0', n < 8000 ? n : 8000) != NULL;
	if (*binary || !n)
		return;
	for (const char *q = p; (q = memchr(q, '\n', (size_t)(p + n - q)));
	     q++)
		(*lines)++;
	if (p[n - 1] != '\n')
		(*lines)++;
}

/*
 * Count one delta's lines.  The blobs go to libgit2 as plain buffers:
 * given blobs (or paths), it looks up .gitattributes for each, which
 * costs a realpath() of the file's path every time.
 */
static int
delta_lines(struct cdt_git *g, const git_diff_delta *d,
	    struct cdt_git_change *c)
{
	git_blob *a = NULL;
	git_blob *b = NULL;
	git_patch *p = NULL;
	int e = 0;
	bool bin = false;
	size_t n = 0;
	c->insertions = c->deletions = 0;
	c->binary = false;
	if (d->old_file.mode == GIT_FILEMODE_COMMIT ||
	    d->new_file.mode == GIT_FILEMODE_COMMIT)
		return 0;
	if (d->status != GIT_DELTA_ADDED)
		e = git_blob_lookup(&a, g->repo, &d->old_file.id);
	if (e >= 0 && d->status != GIT_DELTA_DELETED)
		e = git_blob_lookup(&b, g->repo, &d->new_file.id);
	if (e < 0)
		return gerr(e, "cannot read '%s'", c->path);
	if (!a || !b) {
		blob_lines(a ? a : b, &n, &bin);
		c->binary = bin;
		*(a ? &c->deletions : &c->insertions) = n;
	} else {
		git_diff_options o;
		git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
		o.context_lines = 0;
		e = git_patch_from_buffers(&p, git_blob_rawcontent(a),
					   (size_t)git_blob_rawsize(a), NULL,
					   git_blob_rawcontent(b),
					   (size_t)git_blob_rawsize(b), NULL,
					   &o);
		if (e < 0) {
			git_blob_free(a);
			git_blob_free(b);
			return gerr(e, "cannot compare '%s'", c->path);
		}
		git_patch_line_stats(NULL, &c->insertions, &c->deletions, p);
		c->binary = (git_patch_get_delta(p)->flags &
			     GIT_DIFF_FLAG_BINARY) != 0;
		git_patch_free(p);
	}
	git_blob_free(a);
	git_blob_free(b);
	return 0;
}

int
cdt_git_changes(struct cdt_git *g, const git_oid *a, const git_oid *b,
		cdt_git_change_fn fn, void *arg)
{
	git_tree *ta = NULL;
	git_tree *tb = NULL;
	git_diff *diff = NULL;
	int rc = lookup_tree(g, a, &ta);
	if (!rc)
		rc = lookup_tree(g, b, &tb);
	if (rc)
		goto out;
	git_diff_options o;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.flags = GIT_DIFF_SKIP_BINARY_CHECK | GIT_DIFF_INCLUDE_TYPECHANGE;
	int e = git_diff_tree_to_tree(&diff, g->repo, ta, tb, &o);
	if (e < 0) {
		rc = gerr(e, "cannot compare checkpoints");
		goto out;
	}
	size_t n = git_diff_num_deltas(diff);
	for (size_t i = 0; !rc && i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		struct cdt_git_change c;
		c.path = d->status == GIT_DELTA_DELETED ? d->old_file.path :
			d->new_file.path;
		c.status = d->status == GIT_DELTA_ADDED ? "added" :
			d->status == GIT_DELTA_DELETED ? "deleted" :
			"modified";
		if (d->status == GIT_DELTA_TYPECHANGE) {
			/* As git --stat: the old one gone, the new one in. */
			git_diff_delta x = *d;
			struct cdt_git_change c2 = c;
			x.status = GIT_DELTA_DELETED;
			rc = delta_lines(g, &x, &c);
			x = *d;
			x.status = GIT_DELTA_ADDED;
			if (!rc)
				rc = delta_lines(g, &x, &c2);
			c.insertions = c2.insertions;
			c.binary = c.binary || c2.binary;
		} else {
			rc = delta_lines(g, d, &c);
		}
		if (!rc)
			rc = fn(arg, &c);
	}
out:
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
	return rc;
}

static int
add_stats(void *arg, const struct cdt_git_change *c)
{
	struct cdt_git_stats *st = arg;
	st->files++;
	st->insertions += c->insertions;
	st->deletions += c->deletions;
	return 0;
}

int
cdt_git_stats(struct cdt_git *g, const git_oid *a, const git_oid *b,
	      struct cdt_git_stats *st)
{
	memset(st, 0, sizeof(*st));
	return cdt_git_changes(g, a, b, add_stats, st);
}

int
cdt_git_diff(struct cdt_git *g, const git_oid *a, const git_oid *b,
	     git_diff **out)
{
	git_tree *ta = NULL;
	git_tree *tb = NULL;
	int rc = lookup_tree(g, a, &ta);
	*out = NULL;
	if (!rc && b)
		rc = lookup_tree(g, b, &tb);
	if (rc)
		goto out;
	git_diff_options o;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.flags = GIT_DIFF_SHOW_BINARY | GIT_DIFF_INCLUDE_TYPECHANGE |
		GIT_DIFF_IGNORE_SUBMODULES;
	int e;
	if (b) {
		e = git_diff_tree_to_tree(out, g->repo, ta, tb, &o);
	} else {
		o.flags |= GIT_DIFF_INCLUDE_UNTRACKED |
			GIT_DIFF_RECURSE_UNTRACKED_DIRS |
			GIT_DIFF_SHOW_UNTRACKED_CONTENT;
		e = git_diff_tree_to_workdir(out, g->repo, ta, &o);
	}
	if (e < 0)
		rc = gerr(e, "cannot compare");
out:
	git_tree_free(ta);
	git_tree_free(tb);
	return rc;
}

/* --- restore ------------------------------------------------------------- */

struct restore {
	struct cdt_git *g;
	struct wdir w;
	int tmpfd;		/* DIR/.cdt/tmp */
	const char **dels;	/* paths the restore removes, sorted */
	size_t ndels;
	pid_t pid;
	unsigned long serial;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool
deleted(struct restore *r, const char *path)
{
	return bsearch(&path, r->dels, r->ndels, sizeof(*r->dels),
		       cmp_str) != NULL;
}

/*
 * Would every file below dir go with the deletions?  dfd is dir's
 * parent, name its last segment; prefix is its path.
 */
static bool
empties(struct restore *r, int dfd, const char *name, struct cdt_buf *prefix,
	int depth)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	if (fd < 0 || depth > 64) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	bool ok = true;
	size_t keep = prefix->len;
	struct dirent *e;
	while (ok && (e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		cdt_buf_setlen(prefix, keep);
		cdt_buf_addf(prefix, "/%s", e->d_name);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ok = false;
		else if (S_ISDIR(st.st_mode))
			ok = empties(r, dirfd(d), e->d_name, prefix, depth + 1);
		else
			ok = deleted(r, prefix->buf);
	}
	cdt_buf_setlen(prefix, keep);
	closedir(d);
	return ok;
}

/* Is the blob id (with mode) what the file at path already holds? */
static bool
holds(struct restore *r, int dfd, const char *base, const struct stat *st,
      const git_diff_file *f)
{
	struct snap s;
	git_oid id;
	bool same = false;
	memset(&s, 0, sizeof(s));
	s.g = r->g;
	cdt_buf_init(&s.data, CDT_BUF_MAX_DEFAULT);
	if (S_ISLNK(st->st_mode) && f->mode == GIT_FILEMODE_LINK) {
		char t[4096];
		ssize_t n = readlinkat(dfd, base, t, sizeof(t));
		same = n >= 0 && n < (ssize_t)sizeof(t) &&
			git_odb_hash(&id, t, (size_t)n, GIT_OBJECT_BLOB) == 0 &&
			git_oid_equal(&id, &f->id);
	} else if (S_ISREG(st->st_mode) && f->mode != GIT_FILEMODE_LINK) {
		struct stat st2;
		cdt_err_quiet(true);
		int rc = read_file(&s, dfd, base, base, &st2);
		cdt_err_quiet(false);
		same = rc == 0 && git_odb_hash(&id, s.data.buf, s.data.len,
					       GIT_OBJECT_BLOB) == 0 &&
			git_oid_equal(&id, &f->id);
	}
	cdt_buf_release(&s.data);
	return same;
}

/*
 * Before anything is written: the way to path is free, or will be once
 * the deletions are done.  *skip: an untracked file there already holds
 * the content (a restore that was interrupted).
 */
static int
check_way(struct restore *r, const git_diff_delta *d, bool *skip)
{
	const char *path = d->new_file.path;
	const char *base;
	struct cdt_buf sub = CDT_BUF_INIT;
	struct stat st;
	size_t stop;
	int dfd, rc = 0;
	*skip = false;
	/* Every directory on the way opens without following a symlink. */
	if (wdir_parent(&r->w, path, false, &dfd, &base, &stop) < 0) {
		if (errno == ENOENT)
			return 0;	/* made when written */
		if (errno != ENOTDIR)
			return cdt_err_errno(EX_IOERR, "cannot restore '%s'",
					     path);
		cdt_buf_add(&sub, path, stop);
		if (!deleted(r, sub.buf))
			rc = cdt_err(EX_CANTCREAT, "cannot restore '%s': '%s' "
				     "is in the way and is not tracked", path,
				     sub.buf);
		cdt_buf_release(&sub);
		return rc;
	}
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cdt_err_errno(EX_IOERR, "cannot "
							   "restore '%s'",
							   path);
	cdt_buf_addstr(&sub, path);
	if (S_ISDIR(st.st_mode)) {
		if (d->new_file.mode != GIT_FILEMODE_COMMIT &&
		    !empties(r, dfd, base, &sub, 0))
			rc = cdt_err(EX_CANTCREAT, "cannot restore '%s': a "
				     "directory with untracked files is there",
				     path);
	} else if (d->status == GIT_DELTA_ADDED) {
		if (holds(r, dfd, base, &st, &d->new_file))
			*skip = true;
		else
			rc = cdt_err(EX_CANTCREAT, "cannot restore '%s': an "
				     "untracked file is there", path);
	}
	cdt_buf_release(&sub);
	return rc;
}

static int
way_error(const char *path, size_t stop, const char *what)
{
	if (errno == ENOTDIR)
		return cdt_err(EX_CANTCREAT, "cannot %s '%s': '%.*s' is not a "
			       "directory", what, path, (int)stop, path);
	return cdt_err_errno(EX_IOERR, "cannot %s '%s'", what, path);
}

static int
remove_path(struct restore *r, const char *path)
{
	int dfd;
	const char *base;
	size_t stop;
	if (wdir_parent(&r->w, path, false, &dfd, &base, &stop) < 0)
		return errno == ENOENT ? 0 : way_error(path, stop, "remove");
	if (unlinkat(dfd, base, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno == EISDIR &&
	    (unlinkat(dfd, base, AT_REMOVEDIR) == 0 || errno == ENOENT))
		return 0;
	return cdt_err_errno(EX_IOERR, "cannot remove '%s'", path);
}

/* Remove the directories above path that the removals left empty. */
static void
prune(struct restore *r, const char *path)
{
	char *p = cdt_xstrdup(path);
	char *slash;
	while ((slash = strrchr(p, '/'))) {
		int dfd;
		const char *base;
		size_t stop;
		*slash = '\0';
		if (wdir_parent(&r->w, p, false, &dfd, &base, &stop) < 0 ||
		    unlinkat(dfd, base, AT_REMOVEDIR) < 0)
			break;
		wdir_forget(&r->w);
	}
	free(p);
}

static int
write_path(struct restore *r, const git_diff_file *f)
{
	const char *path = f->path;
	int dfd, fd = -1, rc = 0;
	const char *base;
	size_t stop;
	git_blob *blob = NULL;
	char tmp[64];
	bool made = false;
	struct stat st;

	if (wdir_parent(&r->w, path, true, &dfd, &base, &stop) < 0)
		return way_error(path, stop, "restore");
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		if (f->mode == GIT_FILEMODE_COMMIT)
			return 0;
		/* Emptied by the removals (checked): make room. */
		if (unlinkat(dfd, base, AT_REMOVEDIR) < 0)
			return cdt_err_errno(EX_CANTCREAT, "cannot restore "
					     "'%s'", path);
		wdir_forget(&r->w);
	}
	if (f->mode == GIT_FILEMODE_COMMIT) {
		if (mkdirat(dfd, base, 0777) < 0 && errno != EEXIST)
			return cdt_err_errno(EX_CANTCREAT, "cannot restore "
					     "'%s'", path);
		return 0;
	}
	int e = git_blob_lookup(&blob, r->g->repo, &f->id);
	if (e < 0)
		return gerr(e, "cannot read '%s'", path);
	const char *data = git_blob_rawcontent(blob);
	size_t len = (size_t)git_blob_rawsize(blob);
	snprintf(tmp, sizeof(tmp), "restore-%ld-%lu", (long)r->pid,
		 r->serial++);
	if (f->mode == GIT_FILEMODE_LINK) {
		char *target = cdt_xstrndup(data, len);
		if (symlinkat(target, r->tmpfd, tmp) < 0)
			rc = cdt_err_errno(EX_CANTCREAT, "cannot restore "
					   "'%s'", path);
		free(target);
		made = rc == 0;
	} else {
		fd = openat(r->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
			    O_NOFOLLOW | O_CLOEXEC,
			    f->mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0777 :
			    0666);
		if (fd < 0) {
			rc = cdt_err_errno(EX_CANTCREAT, "cannot restore '%s'",
					   path);
			goto out;
		}
		made = true;
		for (size_t off = 0; off < len; ) {
			ssize_t n = write(fd, data + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = cdt_err_errno(EX_IOERR, "cannot restore "
						   "'%s'", path);
				goto out;
			}
			off += (size_t)n;
		}
		if (close(fd) < 0) {
			fd = -1;
			rc = cdt_err_errno(EX_IOERR, "cannot restore '%s'",
					   path);
			goto out;
		}
		fd = -1;
	}
	if (rc)
		goto out;
	if (renameat(r->tmpfd, tmp, dfd, base) < 0) {
		rc = cdt_err_errno(errno == EXDEV ? EX_CANTCREAT : EX_IOERR,
				   "cannot restore '%s'", path);
		goto out;
	}
	made = false;
out:
	if (fd >= 0)
		close(fd);
	if (made)
		unlinkat(r->tmpfd, tmp, 0);
	git_blob_free(blob);
	return rc;
}

/* Does path name an entry (file or directory) of tree? */
static bool
in_tree(git_tree *t, const char *path)
{
	git_tree_entry *e = NULL;
	if (!t || git_tree_entry_bypath(&e, t, path) < 0)
		return false;
	git_tree_entry_free(e);
	return true;
}

int
cdt_git_restore(struct cdt_git *g, const git_oid *baseline,
		const git_oid *to, char *const *paths, int npaths,
		struct cdt_git_restore_stats *st)
{
	struct restore r;
	git_tree *ta = NULL;
	git_tree *tb = NULL;
	git_diff *diff = NULL;
	bool *skip = NULL;
	int rc, e;

	memset(&r, 0, sizeof(r));
	memset(st, 0, sizeof(*st));
	r.g = g;
	r.tmpfd = -1;
	r.pid = getpid();
	wdir_init(&r.w, g->rootfd);
	rc = lookup_tree(g, baseline, &ta);
	if (!rc)
		rc = lookup_tree(g, to, &tb);
	for (int i = 0; !rc && i < npaths; i++)
		if (!in_tree(ta, paths[i]) && !in_tree(tb, paths[i]))
			rc = cdt_err(EX_NOINPUT, "no '%s' in the checkpoint "
				     "or in the work tree's last one",
				     paths[i]);
	if (rc)
		goto out;
	git_diff_options o;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.flags = GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_SKIP_BINARY_CHECK |
		GIT_DIFF_DISABLE_PATHSPEC_MATCH;
	o.pathspec.strings = (char **)paths;
	o.pathspec.count = (size_t)npaths;
	e = git_diff_tree_to_tree(&diff, g->repo, ta, tb, &o);
	if (e < 0) {
		rc = gerr(e, "cannot compare checkpoints");
		goto out;
	}
	size_t n = git_diff_num_deltas(diff);
	r.dels = cdt_xcalloc(n + 1, sizeof(*r.dels));
	skip = cdt_xcalloc(n + 1, sizeof(*skip));
	for (size_t i = 0; !rc && i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		rc = safe_rel(d->old_file.path);
		if (!rc)
			rc = safe_rel(d->new_file.path);
		if (d->status == GIT_DELTA_DELETED)
			r.dels[r.ndels++] = d->old_file.path;
	}
	qsort(r.dels, r.ndels, sizeof(*r.dels), cmp_str);
	/* Everything is checked before anything changes. */
	for (size_t i = 0; !rc && i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if (d->status != GIT_DELTA_DELETED)
			rc = check_way(&r, d, &skip[i]);
	}
	if (!rc)
		rc = open_cdt_dir(g->rootfd, "tmp", &r.tmpfd);
	wdir_forget(&r.w);
	for (size_t i = n; !rc && i-- > 0; ) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if (d->status != GIT_DELTA_DELETED)
			continue;
		rc = remove_path(&r, d->old_file.path);
		if (!rc) {
			st->removed++;
			prune(&r, d->old_file.path);
		}
	}
	wdir_forget(&r.w);
	for (size_t i = 0; !rc && i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if (d->status == GIT_DELTA_DELETED || skip[i])
			continue;
		rc = write_path(&r, &d->new_file);
		if (!rc)
			st->written++;
	}
	if (!rc) {
		/* One sync for the lot: the restore is on disk when we say. */
		int fd = openat(g->rootfd, ".", O_RDONLY | O_DIRECTORY |
				O_CLOEXEC);
		if (fd < 0 || syncfs(fd) < 0)
			rc = cdt_err_errno(EX_IOERR, "cannot sync '%s'",
					   g->dir);
		if (fd >= 0)
			close(fd);
	}
out:
	if (r.tmpfd >= 0)
		close(r.tmpfd);
	free(skip);
	free(r.dels);
	wdir_release(&r.w);
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
	return rc;
}

/* --- trees from records -------------------------------------------------- */

int
cdt_git_overlay_begin(struct cdt_git *g, const git_oid *base,
		      size_t expected, struct cdt_git_overlay *o)
{
	git_tree *t = NULL;
	o->index = NULL;
	o->sink = cdt_xcalloc(1, sizeof(*o->sink));
	int rc = lookup_tree(g, base, &t);
	if (!rc)
		rc = sink_begin(o->sink, g, expected);
	if (rc)
		goto out;
	int e = git_index_new(&o->index);
	if (e >= 0 && t)
		e = git_index_read_tree(o->index, t);
	if (e < 0)
		rc = gerr(e, "cannot read the last checkpoint");
out:
	git_tree_free(t);
	return rc;
}

int
cdt_git_overlay_put(struct cdt_git *g, struct cdt_git_overlay *o,
		    const char *path, const void *data, size_t len,
		    unsigned mode)
{
	git_index_entry e;
	if ((uint64_t)len > g->max_file_size)
		return over_cap(g, path, len);
	memset(&e, 0, sizeof(e));
	e.path = path;
	int rc = sink_put(o->sink, data, len, &e.id);
	if (rc)
		return rc;
	const git_index_entry *old = git_index_get_bypath(o->index, path, 0);
	e.mode = mode ? mode : old && old->mode ==
		GIT_FILEMODE_BLOB_EXECUTABLE ? GIT_FILEMODE_BLOB_EXECUTABLE :
		GIT_FILEMODE_BLOB;
	e.file_size = (uint32_t)len;
	/* A file where a directory was, or the other way round. */
	git_index_remove_directory(o->index, path, 0);
	char *p = cdt_xstrdup(path);
	for (char *s; (s = strrchr(p, '/')); ) {
		*s = '\0';
		git_index_remove(o->index, p, 0);
	}
	free(p);
	int err = git_index_add(o->index, &e);
	return err < 0 ? gerr(err, "cannot add '%s'", path) : 0;
}

int
cdt_git_overlay_remove(struct cdt_git_overlay *o, const char *path)
{
	size_t before = git_index_entrycount(o->index);
	git_index_remove(o->index, path, 0);
	git_index_remove_directory(o->index, path, 0);
	if (git_index_entrycount(o->index) == before)
		return cdt_err(EX_NOINPUT, "cannot remove '%s': not in the "
			       "last checkpoint", path);
	return 0;
}

int
cdt_git_overlay_tree(struct cdt_git *g, struct cdt_git_overlay *o,
		     git_oid *tree)
{
	/* The blobs are stored before the tree that names them. */
	int rc = sink_end(o->sink);
	if (rc)
		return rc;
	int e = git_index_write_tree_to(tree, o->index, g->repo);
	return e < 0 ? gerr(e, "cannot write the tree") : 0;
}

void
cdt_git_overlay_release(struct cdt_git_overlay *o)
{
	if (o->sink) {
		sink_release(o->sink);
		free(o->sink);
	}
	o->sink = NULL;
	git_index_free(o->index);
	o->index = NULL;
}

/* --- push ---------------------------------------------------------------- */

struct pushcb {
	int tries;		/* credentials asked for, per kind */
	int key;		/* the next ssh key to offer */
	bool auth_failed;
	bool token_given;
	char *rejected;		/* the first ref the remote refused */
	char *rejected_why;
};

static int
ssh_key_cred(struct pushcb *p, git_credential **out, const char *user)
{
	const char *home = getenv("HOME");
	static const char *const keys[] = { "id_ed25519", "id_ecdsa" };
	/* The agent first, then the key files (no passphrase prompt). */
	while (p->key <= (int)CDT_ARRAY_SIZE(keys)) {
		int k = p->key++;
		if (k == 0) {
			if (getenv("SSH_AUTH_SOCK") &&
			    git_credential_ssh_key_from_agent(out, user) == 0)
				return 0;
			continue;
		}
		if (!home)
			continue;
		struct cdt_buf f = CDT_BUF_INIT;
		cdt_buf_addf(&f, "%s/.ssh/%s", home, keys[k - 1]);
		int e = access(f.buf, R_OK) == 0 ?
			git_credential_ssh_key_new(out, user, NULL, f.buf,
						   NULL) : -1;
		cdt_buf_release(&f);
		if (e == 0)
			return 0;
	}
	return -1;
}

static int
credentials(git_credential **out, const char *url, const char *user_url,
	    unsigned int allowed, void *payload)
{
	struct pushcb *p = payload;
	const char *user = user_url && *user_url ? user_url : NULL;
	if (++p->tries > 8)
		goto fail;
	if (allowed & GIT_CREDENTIAL_USERNAME) {
		const char *u = user ? user : getenv("USER");
		if (u && git_credential_username_new(out, u) == 0)
			return 0;
		goto fail;
	}
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		if (user && ssh_key_cred(p, out, user) == 0)
			return 0;
		goto fail;
	}
	if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		const char *tok = getenv("GIT_TOKEN");
		if (!tok || !*tok)
			tok = getenv("GITHUB_TOKEN");
		if (!tok || !*tok || p->token_given)
			goto fail;
		p->token_given = true;
		if (git_credential_userpass_plaintext_new(out, user ? user :
			"x-access-token", tok) == 0)
			return 0;
	}
fail:
	p->auth_failed = true;
	git_error_set_str(GIT_ERROR_NET, "no credentials were accepted");
	return GIT_EAUTH;
}

static int
keep_libgit2_verdict(git_cert *cert, int valid, const char *host,
		     void *payload)
{
	return GIT_PASSTHROUGH;
}

static int
update_reference(const char *refname, const char *status, void *payload)
{
	struct pushcb *p = payload;
	if (status && !p->rejected) {
		p->rejected = cdt_xstrdup(refname);
		p->rejected_why = cdt_xstrdup(status);
	}
	return 0;
}

/* The remote as it may be shown: a URL loses its password, if any. */
static char *
shown_url(const char *url)
{
	const char *at = strchr(url, '@');
	const char *scheme = strstr(url, "://");
	if (!at || !scheme || at < scheme)
		return cdt_xstrdup(url);
	const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
	struct cdt_buf b = CDT_BUF_INIT;
	if (colon) {
		cdt_buf_add(&b, url, (size_t)(colon - url));
		cdt_buf_addstr(&b, at);
	} else {
		cdt_buf_addstr(&b, url);
	}
	return cdt_buf_detach(&b, NULL);
}

static int
push_error(int e, struct pushcb *p, const char *shown)
{
	const git_error *ge = git_error_last();
	const char *why = ge && ge->message ? ge->message : "failed";
	if (p->auth_failed || e == GIT_EAUTH)
		return cdt_err_class(EX_NOPERM, "auth", "cannot push to '%s': "
				     "authentication failed (ssh: the agent, "
				     "~/.ssh/id_ed25519 or id_ecdsa; https: "
				     "GIT_TOKEN or GITHUB_TOKEN)", shown);
	if (e == GIT_ECERTIFICATE)
		return cdt_err_class(EX_NOPERM, "auth", "cannot push to '%s': "
				     "%s (for ssh, add the host key to "
				     "~/.ssh/known_hosts)", shown, why);
	if (e == GIT_ENONFASTFORWARD)
		return cdt_err(1, "push to '%s' rejected: %s (fetch and "
			       "merge, or push to another branch)", shown, why);
	if (e == GIT_ENOTFOUND)
		return cdt_err(EX_NOINPUT, "cannot push to '%s': %s", shown,
			       why);
	if (ge && (ge->klass == GIT_ERROR_NET || ge->klass == GIT_ERROR_SSH ||
		   ge->klass == GIT_ERROR_OS || ge->klass == GIT_ERROR_HTTP ||
		   ge->klass == GIT_ERROR_SSL))
		return cdt_err_class(EX_TEMPFAIL, "connect", "cannot reach "
				     "'%s': %s", shown, why);
	return cdt_err(EX_SOFTWARE, "cannot push to '%s': %s", shown, why);
}

/*
 * url.<base>.pushInsteadOf, then url.<base>.insteadOf, as git applies
 * them: the longest matching prefix wins.  Done here because libgit2
 * 1.5's own rewriting leaks a pcre2 match block per config entry.
 */
static char *
rewrite_url(git_config *cfg, const char *url, bool push)
{
	git_config_iterator *it = NULL;
	git_config_entry *e;
	char *best = NULL;
	size_t best_len = 0;
	for (int pass = push ? 0 : 1; pass < 2 && !best; pass++) {
		const char *key = pass == 0 ? ".pushinsteadof" : ".insteadof";
		size_t kl = strlen(key);
		if (git_config_iterator_new(&it, cfg) < 0)
			break;
		while (git_config_next(&e, it) == 0) {
			size_t nl = strlen(e->name), vl;
			if (strncmp(e->name, "url.", 4) || nl <= 4 + kl ||
			    strcmp(e->name + nl - kl, key) || !e->value)
				continue;
			vl = strlen(e->value);
			if (!vl || strncmp(url, e->value, vl) || vl <= best_len)
				continue;
			struct cdt_buf b = CDT_BUF_INIT;
			cdt_buf_add(&b, e->name + 4, nl - 4 - kl);
			cdt_buf_addstr(&b, url + vl);
			free(best);
			best = cdt_buf_detach(&b, NULL);
			best_len = vl;
		}
		git_config_iterator_free(it);
		it = NULL;
	}
	return best ? best : cdt_xstrdup(url);
}

/* A configured remote's push URL, rewritten; NULL when there is none. */
static char *
remote_url(git_config *cfg, const char *name)
{
	git_buf v = GIT_BUF_INIT;
	struct cdt_buf k = CDT_BUF_INIT;
	char *url = NULL;
	cdt_buf_addf(&k, "remote.%s.pushurl", name);
	if (git_config_get_string_buf(&v, cfg, k.buf) == 0 && v.size) {
		url = rewrite_url(cfg, v.ptr, false);
	} else {
		git_buf_dispose(&v);
		cdt_buf_reset(&k);
		cdt_buf_addf(&k, "remote.%s.url", name);
		if (git_config_get_string_buf(&v, cfg, k.buf) == 0 && v.size)
			url = rewrite_url(cfg, v.ptr, true);
	}
	git_buf_dispose(&v);
	cdt_buf_release(&k);
	return url;
}

/*
 * After a push to the remote called name: its remote-tracking refs, as
 * its fetch refspecs map the pushed branches (what `git push` does).
 */
static int
track(struct cdt_git *g, git_config *cfg, const char *name,
      const char *const *specs, const git_oid *ids, size_t n)
{
	git_config_iterator *it = NULL;
	git_config_entry *e;
	struct cdt_buf k = CDT_BUF_INIT;
	int rc = 0;
	cdt_buf_addf(&k, "remote.%s.fetch", name);
	if (git_config_multivar_iterator_new(&it, cfg, k.buf, NULL) < 0) {
		cdt_buf_release(&k);
		return 0;
	}
	while (!rc && git_config_next(&e, it) == 0) {
		git_refspec *rs = NULL;
		if (!e->value || git_refspec_parse(&rs, e->value, 1) < 0)
			continue;
		for (size_t i = 0; !rc && i < n; i++) {
			const char *dst = strchr(specs[i], ':') + 1;
			git_buf t = GIT_BUF_INIT;
			git_reference *ref = NULL;
			if (!git_refspec_src_matches(rs, dst) ||
			    git_refspec_transform(&t, rs, dst) < 0) {
				git_buf_dispose(&t);
				continue;
			}
			int err = git_reference_create(&ref, g->repo, t.ptr,
						       &ids[i], 1,
						       "update by push");
			if (err < 0)
				rc = gerr(err, "pushed, but cannot record "
					  "it in '%s'", t.ptr);
			git_reference_free(ref);
			git_buf_dispose(&t);
		}
		git_refspec_free(rs);
	}
	git_config_iterator_free(it);
	cdt_buf_release(&k);
	return rc;
}

int
cdt_git_push(struct cdt_git *g, const char *name, const char *const *specs,
	     size_t n, char **shown)
{
	git_remote *remote = NULL;
	git_config *cfg = NULL;
	git_oid *ids = NULL;
	char *url = NULL;
	struct pushcb p;
	int rc = 0, e;
	bool named = false;

	memset(&p, 0, sizeof(p));
	*shown = NULL;
	e = git_repository_config_snapshot(&cfg, g->repo);
	if (e < 0) {
		rc = gerr(e, "cannot read the git configuration");
		goto out;
	}
	int valid = 0;
	if (git_remote_name_is_valid(&valid, name) == 0 && valid &&
	    (url = remote_url(cfg, name))) {
		named = true;
		*shown = cdt_xstrdup(name);
	} else {
		*shown = shown_url(name);
		const char *colon = strchr(name, ':');
		const char *slash = strchr(name, '/');
		struct stat st;
		/* Neither a URL nor scp-like host:path: a local path. */
		if (!strstr(name, "://") && (!colon || (slash && slash < colon))
		    && stat(name, &st) < 0) {
			if (!slash)
				rc = cdt_err(EX_USAGE, "no remote '%s': not a "
					     "configured remote, nor a path",
					     name);
			else
				rc = cdt_err(EX_NOINPUT, "cannot push to '%s': "
					     "no such repository", name);
			goto out;
		}
		url = rewrite_url(cfg, name, true);
	}
	git_remote_create_options ro;
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = g->repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
		GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	e = git_remote_create_with_opts(&remote, url, &ro);
	if (e < 0) {
		rc = cdt_err(EX_USAGE, "no remote '%s': not a remote's name, a "
			     "path or a URL", *shown);
		goto out;
	}
	/* What is pushed, as it is now (the tracking refs get these). */
	ids = cdt_xcalloc(n + 1, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		const char *colon = strchr(specs[i], ':');
		char *src = cdt_xstrndup(specs[i], (size_t)(colon - specs[i]));
		e = git_reference_name_to_id(&ids[i], g->repo, src);
		free(src);
		if (e < 0) {
			rc = gerr(e, "cannot push '%s'", specs[i]);
			goto out;
		}
	}
	git_remote_callbacks cb;
	git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb.credentials = credentials;
	cb.certificate_check = keep_libgit2_verdict;
	cb.push_update_reference = update_reference;
	cb.payload = &p;
	git_push_options po;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks = cb;
	po.pb_parallelism = 0;	/* the packbuilder on every core */
	git_strarray refspecs = { (char **)specs, n };

	e = git_remote_connect(remote, GIT_DIRECTION_PUSH, &cb, NULL, NULL);
	if (e >= 0)
		e = git_remote_upload(remote, &refspecs, &po);
	if (e < 0) {
		rc = push_error(e, &p, *shown);
		goto out;
	}
	if (p.rejected) {
		rc = cdt_err(1, "push of '%s' to '%s' rejected: %s",
			     p.rejected, *shown, p.rejected_why);
		goto out;
	}
	if (named) {
		/* Remote-tracking refs are a write: under the cdt lock. */
		if (g->lock.fd < 0) {
			int cdt = -1;
			rc = open_cdt_dir(g->rootfd, NULL, &cdt);
			if (!rc)
				rc = cdt_lock_take(&g->lock, cdt,
						   "checkpoint.lock",
						   CDT_GIT_LOCK_WAIT_MS);
			if (cdt >= 0)
				close(cdt);
			if (rc)
				goto out;
			if (g->lock.stale)
				clear_stale(g);
		}
		rc = track(g, cfg, name, specs, ids, n);
	}
out:
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	free(ids);
	free(url);
	git_config_free(cfg);
	free(p.rejected);
	free(p.rejected_why);
	return rc;
}
