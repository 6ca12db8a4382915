#include "compat.h"
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "path.h"
#include "buf.h"
#include "err.h"
#include "hash.h"
#include "log.h"

/* openat2 returns EAGAIN when a rename raced the lookup (man openat2). */
#define EAGAIN_RETRIES 32
/* Deeper trees are refused by remove -r rather than risk the stack. */
#define REMOVE_DEPTH_MAX 2048
#define TMPDIR_REL ".cdt/tmp"

/* ---- the lexical validator ------------------------------------------ */

/*
 * Decode one UTF-8 character at p (n > 0 bytes left); return NULL and
 * its length in *adv, or the reason it is refused.
 */
static const char *
check_char(const unsigned char *p, size_t n, size_t *adv)
{
	unsigned c = p[0];
	uint32_t cp;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;	/* range of the second byte */

	if (c < 0x80) {
		*adv = 1;
		if (c == 0)
			return "NUL byte";
		if (c < 0x20 || c == 0x7f)
			return "control character";
		if (c == '\\')
			return "backslash";
		return NULL;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		if (c == 0xed)
			hi = 0x9f;	/* UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		if (c == 0xf4)
			hi = 0x8f;	/* beyond U+10FFFF */
	} else {
		*adv = 1;
		return "invalid UTF-8";
	}
	if (n < len || p[1] < lo || p[1] > hi) {
		*adv = 1;
		return "invalid UTF-8";
	}
	for (size_t i = 1; i < len; i++) {
		if (i > 1 && (p[i] & 0xc0) != 0x80) {
			*adv = 1;
			return "invalid UTF-8";
		}
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	*adv = len;
	if (cp >= 0x80 && cp <= 0x9f)
		return "control character";
	if (cp == 0xfffd)
		return "replacement character U+FFFD";
	/*
	 * Invisible and bidi format characters: spoofed names (P13, P14),
	 * and the ones HFS+ ignores, which would make ".g\u200cit" reach
	 * .git on a Mac that syncs the workspace.
	 */
	if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff)
		return "invisible or bidi control character";
	return NULL;
}

static bool
ascii_caseeq(const char *s, size_t n, const char *lower)
{
	size_t i;

	for (i = 0; i < n && lower[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)lower[i])
			return false;
	}
	return i == n && !lower[i];
}

/*
 * Whether a first segment names .git or .cdt: in any case (macOS and
 * Windows file systems fold case), with trailing dots or spaces (Windows
 * drops them), or by its 8.3 short name.
 */
static bool
reserved_segment(const char *s, size_t n)
{
	while (n && (s[n - 1] == '.' || s[n - 1] == ' '))
		n--;
	return ascii_caseeq(s, n, ".git") || ascii_caseeq(s, n, ".cdt") ||
	       ascii_caseeq(s, n, "git~1") || ascii_caseeq(s, n, "cdt~1");
}

/* Check one segment of n bytes (no '/'); NULL or the reason. */
static const char *
check_segment(const char *s, size_t n)
{
	if (n == 0)
		return "empty segment";
	if (n == 1 && s[0] == '.')
		return "'.' segment";
	if (n == 2 && s[0] == '.' && s[1] == '.')
		return "'..' segment";
	if (n > CDT_PATH_SEGMENT_MAX)
		return "segment too long";
	for (size_t i = 0; i < n;) {
		size_t adv;
		const char *why = check_char((const unsigned char *)s + i,
					     n - i, &adv);
		if (why)
			return why;
		i += adv;
	}
	return NULL;
}

int
cdt_path_check(const char *path, size_t len, const char **why)
{
	const char *dummy;
	size_t seg = 0;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (len == 0)
		return *why = "empty path", EX_DATAERR;
	if (len > CDT_PATH_MAX)
		return *why = "path too long", EX_DATAERR;
	if (path[0] == '/')
		return *why = "absolute path", EX_DATAERR;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i == seg && i == len)
			return *why = "trailing slash", EX_DATAERR;
		*why = check_segment(path + seg, i - seg);
		if (*why)
			return EX_DATAERR;
		seg = i + 1;
	}
	const char *slash = memchr(path, '/', len);
	if (reserved_segment(path, slash ? (size_t)(slash - path) : len))
		return *why = "reserved path", EX_NOPERM;
	return 0;
}

/* Validate a C-string path and report a refusal. */
static int
check_rel(const char *rel)
{
	const char *why = NULL;
	int rc = cdt_path_check(rel, strlen(rel), &why);

	if (rc)
		return cdt_err(rc, "refusing '%s': %s", rel, why);
	return 0;
}

/* ---- resolution ----------------------------------------------------- */

static bool forced_fallback;
static bool openat2_missing;

void
cdt_path_force_fallback(bool on)
{
	forced_fallback = on;
}

bool
cdt_path_openat2(void)
{
	const char *e;

	if (forced_fallback || openat2_missing)
		return false;
	/* Read each time, so a test can switch modes in one process. */
	e = getenv("CDT_TEST_NO_OPENAT2");
	return !(e && !strcmp(e, "1"));
}

enum op {
	OP_READ,	/* the path must exist */
	OP_CREATE,	/* the call makes something at the path */
};

/*
 * Report errno e for an operation (verb) on rel and return its status.
 * ELOOP only ever comes from a symlink here (the callers ask for no
 * symlink to be followed), EXDEV from a resolution leaving the root.
 */
static int
fail_errno(int e, enum op op, const char *verb, const char *rel)
{
	int code;

	switch (e) {
	case ELOOP:
		return cdt_err(EX_NOPERM, "refusing '%s': symlink in path",
			       rel);
	case EXDEV:
		return cdt_err(EX_NOPERM, "refusing '%s': escapes the "
			       "workspace", rel);
	case ENOENT:
		code = EX_NOINPUT;
		break;
	case ENOTDIR:
		code = op == OP_CREATE ? EX_CANTCREAT : EX_NOINPUT;
		break;
	case EEXIST:
	case EISDIR:
	case ENOTEMPTY:
		code = EX_CANTCREAT;
		break;
	case EACCES:
	case EPERM:
		code = EX_NOPERM;
		break;
	case EAGAIN:
		code = EX_TEMPFAIL;
		break;
	case EINVAL:
	case ENAMETOOLONG:
		code = EX_DATAERR;
		break;
	default:
		code = EX_IOERR;
		break;
	}
	return cdt_err(code, "cannot %s '%s': %s", verb, rel, strerror(e));
}

/* Whether name in dirfd is a symlink (not following it). */
static bool
is_symlink_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISLNK(st.st_mode);
}

static int
openat2_retry(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	int fd = -1;

	for (int i = 0; i < EAGAIN_RETRIES; i++) {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return fd;
}

/*
 * Open the directory dir[0..len) (validated, "" = the root) beneath
 * rootfd with flags (O_PATH or O_RDONLY) | O_DIRECTORY, following no
 * symlink.  Returns the fd, or -1 with errno: ELOOP for a symlink
 * anywhere, ENOTDIR for a non-directory, ENOENT, EAGAIN after retries.
 */
static int
open_dir_beneath(int rootfd, const char *dir, size_t len, int flags)
{
	char path[CDT_PATH_MAX + 1];
	int cur = -1;
	int fd;

	flags |= O_DIRECTORY | O_CLOEXEC;
	if (len == 0)
		return openat(rootfd, ".", flags);
	if (len > CDT_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, len);
	path[len] = '\0';
	if (cdt_path_openat2()) {
		fd = openat2_retry(rootfd, path, flags);
		if (fd >= 0 || errno != ENOSYS)
			return fd;
		openat2_missing = true;
	}

	/*
	 * The walk: every component opened O_NOFOLLOW relative to the one
	 * before, so a symlink anywhere stops it (as ENOTDIR, which the
	 * probe turns into ELOOP) and nothing can be swapped in between.
	 */
	char *seg = path;
	for (;;) {
		char *slash = strchr(seg, '/');
		bool last = !slash;
		if (slash)
			*slash = '\0';
		fd = openat(cur >= 0 ? cur : rootfd, seg,
			    (last ? flags : O_PATH | O_DIRECTORY | O_CLOEXEC) |
			    O_NOFOLLOW);
		if (fd < 0) {
			int e = errno;
			if (e == ENOTDIR &&
			    is_symlink_at(cur >= 0 ? cur : rootfd, seg))
				e = ELOOP;
			if (cur >= 0)
				close(cur);
			errno = e;
			return -1;
		}
		if (cur >= 0)
			close(cur);
		cur = fd;
		if (last)
			return cur;
		seg = slash + 1;
	}
}

/*
 * Open the parent directory of the validated rel as O_PATH; *base
 * points at rel's last segment.  Reports failures against rel.
 */
static int
open_parent(int rootfd, const char *rel, const char *verb, int *pfd,
	    const char **base)
{
	const char *slash = strrchr(rel, '/');
	size_t plen = slash ? (size_t)(slash - rel) : 0;

	*base = slash ? slash + 1 : rel;
	*pfd = open_dir_beneath(rootfd, rel, plen, O_PATH);
	if (*pfd < 0)
		return fail_errno(errno, OP_READ, verb, rel);
	return 0;
}

/*
 * mkdir -p of dir[0..len) beneath rootfd with mode for new directories;
 * *dirfd gets the last one O_RDONLY.  msgpath names the operation in
 * messages.  A symlink in the way is ELOOP (77), a file 73.
 */
static int
make_dirs(int rootfd, const char *dir, size_t len, mode_t mode,
	  const char *verb, const char *msgpath, int *dirfd)
{
	char path[CDT_PATH_MAX + 1];
	int cur = -1;
	int rc = 0;

	*dirfd = -1;
	if (len == 0) {
		*dirfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY |
				O_CLOEXEC);
		if (*dirfd < 0)
			return fail_errno(errno, OP_CREATE, verb, msgpath);
		return 0;
	}
	/* Usually the directories exist: one resolution settles it. */
	*dirfd = open_dir_beneath(rootfd, dir, len, O_RDONLY);
	if (*dirfd >= 0)
		return 0;
	if (errno != ENOENT)
		return fail_errno(errno, OP_CREATE, verb, msgpath);

	memcpy(path, dir, len);
	path[len] = '\0';
	char *seg = path;
	for (;;) {
		char *slash = strchr(seg, '/');
		bool last = !slash;
		int at = cur >= 0 ? cur : rootfd;
		if (slash)
			*slash = '\0';
		if (mkdirat(at, seg, mode) < 0 && errno != EEXIST) {
			rc = fail_errno(errno, OP_CREATE, verb, msgpath);
			break;
		}
		int fd = openat(at, seg, (last ? O_RDONLY : O_PATH) |
				O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == ENOTDIR && is_symlink_at(at, seg))
				e = ELOOP;
			rc = fail_errno(e, OP_CREATE, verb, msgpath);
			break;
		}
		if (cur >= 0)
			close(cur);
		cur = fd;
		if (last) {
			*dirfd = cur;
			return 0;
		}
		seg = slash + 1;
	}
	if (cur >= 0)
		close(cur);
	return rc;
}

/* ---- opening -------------------------------------------------------- */

int
cdt_path_root_open(const char *dir, int *rootfd)
{
	*rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*rootfd >= 0)
		return 0;
	if (errno == ENOENT || errno == ENOTDIR)
		return cdt_err(EX_NOINPUT, "cannot open workspace '%s': %s",
			       dir, strerror(errno));
	return cdt_err_errno(errno == EACCES ? EX_NOPERM : EX_IOERR,
			     "cannot open workspace '%s'", dir);
}

int
cdt_path_open(int rootfd, const char *rel, int flags, mode_t mode, int *fd)
{
	bool path_only = flags & O_PATH;
	bool writing = !path_only && (flags & O_ACCMODE) != O_RDONLY;
	enum op op = flags & O_CREAT ? OP_CREATE : OP_READ;
	const char *base;
	int pfd = -1;
	int rc;
	struct stat st;

	*fd = -1;
	if ((rc = check_rel(rel)))
		return rc;
	if ((rc = open_parent(rootfd, rel, "open", &pfd, &base)))
		return rc;

	/*
	 * Look first: opening a device can have effects, and a FIFO with
	 * no writer (or no reader) would block or fail with ENXIO.
	 */
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode)) {
			rc = fail_errno(ELOOP, op, "open", rel);
			goto out;
		}
		if (!path_only && !S_ISREG(st.st_mode) &&
		    !S_ISDIR(st.st_mode)) {
			rc = cdt_err(EX_DATAERR, "refusing '%s': not a "
				     "regular file", rel);
			goto out;
		}
	}
	/*
	 * O_NONBLOCK: what was swapped in after the look must not hang us
	 * before fstat can refuse it.  O_TRUNC waits for the hard-link
	 * check.
	 */
	int oflags = (flags & ~O_TRUNC) | O_NOFOLLOW | O_CLOEXEC;
	if (!path_only)
		oflags |= O_NONBLOCK;
	*fd = openat(pfd, base, oflags, mode & 07777);
	if (*fd < 0) {
		int e = errno;
		if ((e == ENOTDIR || e == EEXIST || e == ELOOP) &&
		    is_symlink_at(pfd, base))
			e = ELOOP;
		rc = fail_errno(e, op, "open", rel);
		goto out;
	}
	if (fstat(*fd, &st) < 0) {
		rc = fail_errno(errno, op, "open", rel);
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {	/* O_PATH|O_NOFOLLOW opens the link */
		rc = fail_errno(ELOOP, op, "open", rel);
		goto out;
	}
	if (!path_only && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		rc = cdt_err(EX_DATAERR, "refusing '%s': not a regular file",
			     rel);
		goto out;
	}
	/* A hard link planted from outside would carry the write out. */
	if (writing && S_ISREG(st.st_mode) && st.st_nlink > 1) {
		rc = cdt_err(EX_NOPERM, "refusing '%s': file has other hard "
			     "links", rel);
		goto out;
	}
	if (writing && (flags & O_TRUNC) && S_ISREG(st.st_mode) &&
	    ftruncate(*fd, 0) < 0) {
		rc = fail_errno(errno, op, "truncate", rel);
		goto out;
	}
	if (!path_only && !(flags & O_NONBLOCK)) {
		int fl = fcntl(*fd, F_GETFL);
		if (fl < 0 || fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
			rc = fail_errno(errno, op, "open", rel);
			goto out;
		}
	}
out:
	if (rc && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	close(pfd);
	return rc;
}

int
cdt_path_mkdirs(int rootfd, const char *reldir, int *dirfd)
{
	int rc;

	*dirfd = -1;
	if ((rc = check_rel(reldir)))
		return rc;
	return make_dirs(rootfd, reldir, strlen(reldir), 0777,
			 "create directory", reldir, dirfd);
}

int
cdt_path_stat(int rootfd, const char *rel, struct stat *st)
{
	const char *base;
	int pfd = -1;
	int rc;

	if (!*rel) {
		if (fstat(rootfd, st) < 0)
			return cdt_err_errno(EX_IOERR, "cannot stat the "
					     "workspace");
		return 0;
	}
	if ((rc = check_rel(rel)))
		return rc;
	if ((rc = open_parent(rootfd, rel, "stat", &pfd, &base)))
		return rc;
	if (fstatat(pfd, base, st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = fail_errno(errno, OP_READ, "stat", rel);
	close(pfd);
	return rc;
}

/* ---- listing -------------------------------------------------------- */

struct entry {
	char *name;
	struct stat st;
};

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
		      ((const struct entry *)b)->name);
}

static void
free_entries(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/*
 * Read the directory fd (consumed) into a sorted array of entries with
 * their lstat.  prefix is the directory's relpath with a trailing '/'
 * ("" at the root), for the names of skipped entries.
 */
static int
read_dir(int fd, const char *prefix, const char *msgpath,
	 struct entry **out, size_t *count)
{
	DIR *d = fdopendir(fd);
	struct entry *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;

	*out = NULL;
	*count = 0;
	if (!d) {
		rc = fail_errno(errno, OP_READ, "list", msgpath);
		close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				rc = fail_errno(errno, OP_READ, "list",
						msgpath);
			break;
		}
		const char *name = de->d_name;
		size_t len = strlen(name);
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (!*prefix && reserved_segment(name, len))
			continue;
		const char *why = check_segment(name, len);
		if (!why && strlen(prefix) + len > CDT_PATH_MAX)
			why = "path too long";
		if (why) {
			cdt_warn("skipping '%s%s': %s", prefix, name, why);
			continue;
		}
		struct stat st;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)	/* removed meanwhile */
				continue;
			rc = fail_errno(errno, OP_READ, "list", msgpath);
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = cdt_xrealloc(v, cap * sizeof(*v));
		}
		v[n].name = cdt_xstrdup(name);
		v[n].st = st;
		n++;
	}
	closedir(d);
	if (rc) {
		free_entries(v, n);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof(*v), entry_cmp);
	*out = v;
	*count = n;
	return 0;
}

/*
 * List the directory at relpath dir (a cdt_buf holding it, "" at the
 * root).  Subdirectories are reopened from the root by path, so the
 * descent holds one directory fd at a time and never follows a symlink
 * swapped in after the listing.
 */
static int
list_dir(int rootfd, struct cdt_buf *dir, bool recursive,
	 cdt_path_list_cb cb, void *ctx)
{
	struct entry *v = NULL;
	size_t n = 0;
	size_t dlen = dir->len;
	int rc;

	int fd = open_dir_beneath(rootfd, dir->buf, dir->len, O_RDONLY);
	if (fd < 0) {
		if (dlen && (errno == ENOENT || errno == ENOTDIR ||
			     errno == ELOOP))
			return 0;	/* changed since its parent's listing */
		return fail_errno(errno, OP_READ, "list",
				  dlen ? dir->buf : ".");
	}
	if (dlen && (rc = cdt_buf_addch(dir, '/'))) {
		close(fd);
		goto out;
	}
	rc = read_dir(fd, dir->buf, dlen ? dir->buf : ".", &v, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		cdt_buf_setlen(dir, dlen ? dlen + 1 : 0);
		if ((rc = cdt_buf_addstr(dir, v[i].name)))
			break;
		if ((rc = cb(ctx, dir->buf, &v[i].st)))
			break;
		if (recursive && S_ISDIR(v[i].st.st_mode))
			rc = list_dir(rootfd, dir, true, cb, ctx);
	}
out:
	free_entries(v, n);
	cdt_buf_setlen(dir, dlen);
	return rc;
}

int
cdt_path_list(int rootfd, const char *rel, bool recursive,
	      cdt_path_list_cb cb, void *ctx)
{
	struct cdt_buf dir = CDT_BUF_INIT;
	struct stat st;
	int rc;

	if (*rel) {
		if ((rc = cdt_path_stat(rootfd, rel, &st)))
			return rc;
		if (!S_ISDIR(st.st_mode))
			return cb(ctx, rel, &st);
		if ((rc = cdt_buf_addstr(&dir, rel)))
			return rc;
	}
	rc = list_dir(rootfd, &dir, recursive, cb, ctx);
	cdt_buf_release(&dir);
	return rc;
}

/* ---- removing and renaming ------------------------------------------ */

/* Empty the directory name in parent, never following a symlink. */
static int
empty_tree(int parent, const char *name, int depth, const char *msgpath)
{
	int fd = -1;
	int dfd = -1;
	struct entry *v = NULL;
	size_t n = 0;
	int rc = 0;

	if (depth > REMOVE_DEPTH_MAX)
		return cdt_err(EX_IOERR, "cannot remove '%s': nested deeper "
			       "than %d directories", msgpath,
			       REMOVE_DEPTH_MAX);
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOTDIR && is_symlink_at(parent, name))
			e = ELOOP;
		return fail_errno(e, OP_READ, "remove", msgpath);
	}
	/* Read every name first: unlinking while readdir runs is unsafe. */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		rc = fail_errno(errno, OP_READ, "remove", msgpath);
		goto out;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		rc = fail_errno(errno, OP_READ, "remove", msgpath);
		close(dfd);
		goto out;
	}
	size_t cap = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = cdt_xrealloc(v, cap * sizeof(*v));
		}
		v[n++].name = cdt_xstrdup(de->d_name);
	}
	if (errno)
		rc = fail_errno(errno, OP_READ, "remove", msgpath);
	closedir(d);
	for (size_t i = 0; !rc && i < n; i++) {
		struct stat st;
		if (fstatat(fd, v[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = fail_errno(errno, OP_READ, "remove",
						msgpath);
			continue;
		}
		if (S_ISDIR(st.st_mode))
			rc = empty_tree(fd, v[i].name, depth + 1, msgpath);
		if (!rc && unlinkat(fd, v[i].name, S_ISDIR(st.st_mode) ?
				    AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
			rc = fail_errno(errno, OP_CREATE, "remove", msgpath);
	}
out:
	free_entries(v, n);
	close(fd);
	return rc;
}

static int
remove_at(int rootfd, const char *rel, bool recursive, bool dirs)
{
	const char *base;
	int pfd = -1;
	int rc;
	struct stat st;

	if ((rc = check_rel(rel)))
		return rc;
	if ((rc = open_parent(rootfd, rel, "remove", &pfd, &base)))
		return rc;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = fail_errno(errno, OP_READ, "remove", rel);
		goto out;
	}
	if (S_ISDIR(st.st_mode) && !dirs) {
		rc = fail_errno(EISDIR, OP_CREATE, "remove", rel);
		goto out;
	}
	if (S_ISDIR(st.st_mode) && recursive &&
	    (rc = empty_tree(pfd, base, 0, rel)))
		goto out;
	if (unlinkat(pfd, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
		rc = fail_errno(errno, OP_CREATE, "remove", rel);
out:
	close(pfd);
	return rc;
}

int
cdt_path_unlink(int rootfd, const char *rel)
{
	return remove_at(rootfd, rel, false, false);
}

int
cdt_path_remove(int rootfd, const char *rel, bool recursive)
{
	return remove_at(rootfd, rel, recursive, true);
}

int
cdt_path_rename(int rootfd, const char *from, const char *to, bool noreplace)
{
	const char *fbase;
	const char *tslash = strrchr(to, '/');
	const char *tbase = tslash ? tslash + 1 : to;
	int fpfd = -1;
	int tpfd = -1;
	int rc;
	struct stat st;
	size_t flen = strlen(from);

	if ((rc = check_rel(from)) || (rc = check_rel(to)))
		return rc;
	if (!strncmp(to, from, flen) && to[flen] == '/')
		return cdt_err(EX_DATAERR, "cannot move '%s' into itself",
			       from);
	if ((rc = open_parent(rootfd, from, "rename", &fpfd, &fbase)))
		return rc;
	if (fstatat(fpfd, fbase, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = fail_errno(errno, OP_READ, "rename", from);
		goto out;
	}
	rc = make_dirs(rootfd, to, tslash ? (size_t)(tslash - to) : 0, 0777,
		       "rename to", to, &tpfd);
	if (rc)
		goto out;
	if (renameat2(fpfd, fbase, tpfd, tbase,
		      noreplace ? RENAME_NOREPLACE : 0) < 0) {
		int e = errno;
		/* Here EXDEV means another file system, not an escape. */
		rc = cdt_err(e == EXDEV ? EX_IOERR :
			     e == EEXIST || e == ENOTEMPTY || e == EISDIR ||
			     e == ENOTDIR ? EX_CANTCREAT :
			     e == ENOENT ? EX_NOINPUT :
			     e == EINVAL ? EX_DATAERR :
			     e == EACCES || e == EPERM ? EX_NOPERM : EX_IOERR,
			     "cannot rename '%s' to '%s': %s", from, to,
			     strerror(e));
	}
out:
	if (tpfd >= 0)
		close(tpfd);
	close(fpfd);
	return rc;
}

/* ---- atomic writes -------------------------------------------------- */

static void
atomic_release(struct cdt_atomic *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->tmpname[0] && a->tmpdirfd >= 0)
		unlinkat(a->tmpdirfd, a->tmpname, 0);
	if (a->tmpdirfd >= 0)
		close(a->tmpdirfd);
	if (a->dirfd >= 0)
		close(a->dirfd);
	free(a->rel);
	*a = (struct cdt_atomic)CDT_ATOMIC_INIT;
}

void
cdt_atomic_abort(struct cdt_atomic *a)
{
	atomic_release(a);
}

/* The target may be absent or a regular file; report anything else. */
static int
check_target(struct cdt_atomic *a, struct stat *st, bool *exists)
{
	*exists = false;
	if (fstatat(a->dirfd, a->base, st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail_errno(errno, OP_CREATE, "write", a->rel);
	}
	*exists = true;
	if (S_ISLNK(st->st_mode))
		return fail_errno(ELOOP, OP_CREATE, "write", a->rel);
	if (S_ISDIR(st->st_mode))
		return fail_errno(EISDIR, OP_CREATE, "write", a->rel);
	if (!S_ISREG(st->st_mode))
		return cdt_err(EX_DATAERR, "refusing '%s': not a regular "
			       "file", a->rel);
	return 0;
}

int
cdt_atomic_begin(struct cdt_atomic *a, int rootfd, const char *rel,
		 mode_t mode)
{
	int rc;
	struct stat st;
	bool exists;

	*a = (struct cdt_atomic)CDT_ATOMIC_INIT;
	if ((rc = check_rel(rel)))
		return rc;
	a->rel = cdt_xstrdup(rel);
	const char *slash = strrchr(a->rel, '/');
	a->base = slash ? slash + 1 : a->rel;
	rc = make_dirs(rootfd, a->rel, slash ? (size_t)(slash - a->rel) : 0,
		       0777, "write", a->rel, &a->dirfd);
	if (rc)
		goto fail;
	if ((rc = check_target(a, &st, &exists)))
		goto fail;
	rc = make_dirs(rootfd, TMPDIR_REL, strlen(TMPDIR_REL), 0700,
		       "create directory", TMPDIR_REL, &a->tmpdirfd);
	if (rc)
		goto fail;

	/* A random name: a name others can predict, they can plant. */
	for (int tries = 0; a->fd < 0; tries++) {
		unsigned char r[16];
		char name[sizeof(a->tmpname)];
		size_t o;

		if ((rc = cdt_random_bytes(r, sizeof(r))))
			goto fail;
		memcpy(name, "tmp-", 4);
		o = 4;
		for (size_t i = 0; i < sizeof(r); i++) {
			name[o++] = "0123456789abcdef"[r[i] >> 4];
			name[o++] = "0123456789abcdef"[r[i] & 15];
		}
		name[o] = '\0';
		a->fd = openat(a->tmpdirfd, name, O_WRONLY | O_CREAT | O_EXCL |
			       O_NOFOLLOW | O_CLOEXEC, mode & 0777);
		if (a->fd >= 0) {
			memcpy(a->tmpname, name, o + 1);
		} else if (errno != EEXIST || tries == 8) {
			rc = fail_errno(errno == EEXIST ? EIO : errno,
					OP_CREATE, "write", a->rel);
			goto fail;
		}
	}
	if (exists && (mode & CDT_PATH_MODE_KEEP) &&
	    fchmod(a->fd, st.st_mode & 0777) < 0) {
		rc = fail_errno(errno, OP_CREATE, "write", a->rel);
		goto fail;
	}
	return 0;
fail:
	atomic_release(a);
	return rc;
}

int
cdt_atomic_write(struct cdt_atomic *a, const void *data, size_t len)
{
	const char *p = data;

	if (a->rc)
		return a->rc;
	if (a->fd < 0)
		return a->rc = cdt_err(EX_SOFTWARE, "cannot write: no atomic "
				       "write begun");
	while (len) {
		ssize_t n = write(a->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return a->rc = fail_errno(n < 0 ? errno : EIO,
						  OP_CREATE, "write", a->rel);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
cdt_atomic_commit(struct cdt_atomic *a)
{
	int rc = a->rc;
	struct stat st;
	bool exists;

	if (!rc && a->fd < 0)
		rc = cdt_err(EX_SOFTWARE, "cannot commit: no atomic write "
			     "begun");
	if (rc)
		goto out;
	if (fsync(a->fd) < 0) {
		rc = fail_errno(errno, OP_CREATE, "write", a->rel);
		goto out;
	}
	int fd = a->fd;
	a->fd = -1;
	if (close(fd) < 0) {
		rc = fail_errno(errno, OP_CREATE, "write", a->rel);
		goto out;
	}
	/* Again: a directory or a symlink may have appeared since begin. */
	if ((rc = check_target(a, &st, &exists)))
		goto out;
	if (renameat(a->tmpdirfd, a->tmpname, a->dirfd, a->base) < 0) {
		int e = errno;
		rc = e == EXDEV ?
		     cdt_err(EX_IOERR, "cannot write '%s': %s", a->rel,
			     strerror(e)) :
		     fail_errno(e, OP_CREATE, "write", a->rel);
		goto out;
	}
	a->tmpname[0] = '\0';
	/* The rename is only durable once the directory is. */
	if (fsync(a->dirfd) < 0)
		rc = cdt_err_errno(EX_IOERR, "cannot sync the directory of "
				   "'%s'", a->rel);
out:
	atomic_release(a);
	return rc;
}

int
cdt_path_write(int rootfd, const char *rel, const void *data, size_t len,
	       mode_t mode)
{
	struct cdt_atomic a = CDT_ATOMIC_INIT;
	int rc;

	rc = cdt_atomic_begin(&a, rootfd, rel, mode);
	if (!rc)
		rc = cdt_atomic_write(&a, data, len);
	if (!rc)
		rc = cdt_atomic_commit(&a);
	cdt_atomic_abort(&a);
	return rc;
}
