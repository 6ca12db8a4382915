/*
 * path.h - workspace paths: the lexical validator, and file operations
 * confined beneath a workspace root directory fd.
 *
 * A workspace path is relative and canonical: valid UTF-8, segments
 * joined by single '/', none empty, "." or "..", no trailing '/', no
 * backslash, no control character (C0, DEL, C1), no U+FFFD (what libjq
 * makes of invalid UTF-8), no invisible or bidi format character
 * (U+200B-200F, U+202A-202E, U+2060-206F, U+FEFF), segments of at most
 * 255 bytes, at most 4095 bytes in all (PATH_MAX with its NUL).  The
 * validator rejects and never repairs.  A first segment that names .git
 * or .cdt is reserved, in any letter case and in the spellings Windows
 * and macOS clients reach them by (".git.", ".git ", "GIT~1").
 *
 * Every operation validates its path, then resolves it beneath the root
 * without following a symlink in any component: the parent directory
 * through openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS),
 * or where the kernel lacks openat2 (or CDT_TEST_NO_OPENAT2=1, or
 * cdt_path_force_fallback) by opening one component at a time with
 * O_NOFOLLOW; the final component is then handled with an *at call that
 * never follows it.  Both ways give the same codes.
 *
 * Statuses: 0; 65 the path is lexically bad, or names a FIFO, socket or
 * device; 66 no such file (also a file used as a directory); 73 the
 * tree's state prevents the change (the target exists under noreplace,
 * a directory where a file is wanted, a directory not empty); 74 other
 * I/O errors (ENOSPC, EIO, ...); 75 the kernel kept reporting a rename
 * race (EAGAIN); 77 a reserved path, a symlink in the path, an escape,
 * a write to a file with other hard links, EACCES/EPERM.  Each function
 * reports its failure once with cdt_err ("refusing 'a/b': symlink in
 * path", "cannot write 'a': No space left on device") and returns the
 * code; cdt_path_check only returns.  Paths are C strings unless a
 * length is passed.
 */
#ifndef CDT_PATH_H
#define CDT_PATH_H

#include "compat.h"
#include <sys/types.h>
#include <sys/stat.h>

#define CDT_PATH_MAX 4095
#define CDT_PATH_SEGMENT_MAX 255

/*
 * Or'ed into the mode of cdt_path_write/cdt_atomic_begin: an existing
 * target keeps its permission bits (as editors do); only a new file gets
 * the mode (less umask).  Without it the file gets the mode (less umask)
 * whether or not it existed.
 */
#define CDT_PATH_MODE_KEEP ((mode_t)010000000)

/*
 * 0 when path[0..len) is an acceptable workspace path (bytes past len
 * are not looked at); EX_DATAERR with *why a static reason ("'..'
 * segment", "absolute path", ...); or EX_NOPERM with *why "reserved
 * path".  *why is NULL on success; why may be NULL.  Prints nothing.
 */
int cdt_path_check(const char *path, size_t len, const char **why);

/* Use the component walk even where openat2 works (for tests). */
void cdt_path_force_fallback(bool on);
/* Whether the next resolution will use openat2. */
bool cdt_path_openat2(void);

/*
 * Open the workspace root dir as O_PATH|O_DIRECTORY (symlinks in dir are
 * followed: it comes from configuration, not from a request).  66 when
 * missing or not a directory.
 */
int cdt_path_root_open(const char *dir, int *rootfd);

/*
 * Open rel beneath the root.  O_NOFOLLOW and O_CLOEXEC are implied.
 * Anything but a regular file or a directory (FIFO, socket, device) is
 * refused with 65 without blocking, unless flags has O_PATH.  An open
 * for writing refuses a file with other hard links (77), and O_TRUNC
 * truncates only after that check.  *fd is -1 on failure.
 */
int cdt_path_open(int rootfd, const char *rel, int flags, mode_t mode,
		  int *fd);

/*
 * mkdir -p reldir beneath the root (0777 less umask); *dirfd is the
 * final directory opened O_RDONLY|O_DIRECTORY (usable for fsync and *at
 * calls), or -1 on failure.  A file in the way is 73.
 */
int cdt_path_mkdirs(int rootfd, const char *reldir, int *dirfd);

/*
 * lstat of rel beneath the root: a symlink as the last component is
 * reported as the symlink; rel "" is the root itself.
 */
int cdt_path_stat(int rootfd, const char *rel, struct stat *st);

/*
 * Called for each entry; relpath is relative to the root and lives
 * until the callback returns.  A non-zero return (a status) stops the
 * listing and becomes cdt_path_list's result.
 */
typedef int (*cdt_path_list_cb)(void *ctx, const char *relpath,
				const struct stat *st);

/*
 * Call cb for each entry of the directory rel ("" = the root), in strcmp
 * order, depth-first (a, a/x, a.txt) when recursive; never descends a
 * symlink (reported as one, lstat).  .git and .cdt at the root are left
 * out; names the validator rejects are skipped with a warning.  When
 * rel names a non-directory, cb is called once for rel itself.
 */
int cdt_path_list(int rootfd, const char *rel, bool recursive,
		  cdt_path_list_cb cb, void *ctx);

/* Remove a file or symlink (never what it points to); a dir is 73. */
int cdt_path_unlink(int rootfd, const char *rel);
/*
 * Remove a file, symlink or empty directory; with recursive, a whole
 * tree, never following symlinks inside it.  A non-empty dir without
 * recursive is 73.
 */
int cdt_path_remove(int rootfd, const char *rel, bool recursive);
/*
 * Rename from to to, creating the parents of to.  With noreplace an
 * existing to (even a dangling symlink) is 73 (RENAME_NOREPLACE).  A
 * symlink at either end is moved or replaced itself, never followed.
 * Moving a directory into itself is 65.
 */
int cdt_path_rename(int rootfd, const char *from, const char *to,
		    bool noreplace);

/*
 * Atomic replacement of a file.  The content goes to a new file of
 * random name in ROOT/.cdt/tmp (made 0700 on demand), which commit
 * fsyncs, renames over rel (whose parents begin has created) and follows
 * with an fsync of the directory.  Until commit returns 0 rel holds its
 * old content or does not exist; nothing half-written is visible.
 * rel may not be a directory (73), a symlink (77) or a special file
 * (65).  mode & 0777 (less umask) is the file's mode; see
 * CDT_PATH_MODE_KEEP.
 *
 *	struct cdt_atomic a = CDT_ATOMIC_INIT;
 *	rc = cdt_atomic_begin(&a, root, "src/a.c", 0666 | CDT_PATH_MODE_KEEP);
 *	while (!rc && more)
 *		rc = cdt_atomic_write(&a, buf, n);
 *	if (!rc)
 *		rc = cdt_atomic_commit(&a);
 *	cdt_atomic_abort(&a);
 *
 * The first failure sticks: later writes and commit return it.  commit
 * and a failed begin leave nothing behind; abort removes the temp file
 * and is safe at any time after CDT_ATOMIC_INIT, also twice.
 */
struct cdt_atomic {
	int fd;			/* the temp file */
	int tmpdirfd;		/* ROOT/.cdt/tmp */
	int dirfd;		/* the target's parent directory */
	int rc;			/* first failure */
	char *rel;		/* the target, for messages */
	const char *base;	/* its last segment, inside rel */
	char tmpname[40];	/* in tmpdirfd; "" when none exists */
};
#define CDT_ATOMIC_INIT { -1, -1, -1, 0, NULL, NULL, "" }

int cdt_atomic_begin(struct cdt_atomic *a, int rootfd, const char *rel,
		     mode_t mode);
int cdt_atomic_write(struct cdt_atomic *a, const void *data, size_t len);
int cdt_atomic_commit(struct cdt_atomic *a);
void cdt_atomic_abort(struct cdt_atomic *a);

/* The whole of begin, write, commit. */
int cdt_path_write(int rootfd, const char *rel, const void *data,
		   size_t len, mode_t mode);

#include "banned.h"
#endif
