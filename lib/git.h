/*
 * git.h - the libgit2 glue of cdt-checkpoint: a workspace's repository,
 * its snapshots, the differences between them and the way back.
 *
 * A workspace is a plain directory; its repository is DIR/.git (never
 * searched for above DIR), created on first use; a write adds `/.cdt/` to
 * its info/exclude when missing, so git does not show it either.  libgit2
 * is initialised once, lazily.  Every write holds the cdt lock
 * DIR/.cdt/checkpoint.lock (lock.h); when the last holder
 * died holding it, the lock files libgit2 leaves behind (index.lock, ref
 * and config locks, half-written objects and packs) that date from the
 * dead holder's time are removed before anything else happens.
 *
 * A snapshot is the tree of the work tree as `git add -A` sees it:
 * .gitignore, .git/info/exclude and core.excludesFile are honoured, .cdt/
 * and .git/ are never taken, symlinks are stored as symlinks (their
 * target, mode 120000) and never followed, no file is read through a
 * symlink, a nested repository (a directory with its own .git) is left
 * out, and a file over
 * the size cap is refused (65) naming it.  Files are stored byte for byte
 * (no .gitattributes filters).  The index that caches file status is the
 * repository's own when the branch is HEAD's (so `git status` agrees
 * afterwards), else a private one in .git/cdt/ (HEAD and .git/index are
 * left alone).  Many new files go into one pack rather than as loose
 * objects.
 *
 * Restore writes each file through a temporary file in DIR/.cdt/tmp and
 * a rename, never through a symlink, removes only paths the baseline
 * tracks, refuses (73, before writing anything) when an untracked file or
 * directory is in the way, and syncs the file system at the end.
 *
 * Statuses are sysexits codes, each reported once: 65 bad input, 66 no
 * such checkpoint, 73 cannot create, 74 I/O, 75 busy or moved meanwhile
 * (lock, index.lock held by git, branch moved, remote unreachable), 77
 * refused path or remote authentication, 78 no author, 1 push rejected.
 */
#ifndef CDT_GIT_H
#define CDT_GIT_H

#include "compat.h"
#include <git2.h>
#include "lock.h"

#define CDT_GIT_MAX_FILE_SIZE ((uint64_t)50 << 20)
/* How long a write waits for the cdt lock. */
#define CDT_GIT_LOCK_WAIT_MS 3000

struct cdt_git {
	git_repository *repo;
	git_index *index;	/* of the branch in use, or NULL */
	char *dir;		/* the work tree, as given */
	int rootfd;		/* O_PATH of dir */
	uint64_t max_file_size;
	struct cdt_lock lock;
	/* Set: the author of commits, instead of the environment and git
	   config (a session's authenticated user).  Borrowed. */
	const char *author_name;
	const char *author_email;
};

enum cdt_git_open_flags {
	CDT_GIT_CREATE = 1 << 0,	/* make the repository when missing */
	CDT_GIT_WRITE = 1 << 1,		/* take the cdt lock first */
};

/*
 * Open the repository of the work tree dir.  Without CDT_GIT_CREATE a
 * directory with no repository is 66.  g->max_file_size starts at
 * CDT_GIT_MAX_FILE_SIZE.  On failure g needs no close (it is safe).
 */
int cdt_git_open(struct cdt_git *g, const char *dir, unsigned flags);
void cdt_git_close(struct cdt_git *g);
/*
 * Make dir's repository when it has none, with an empty .git/hooks, so
 * a sandbox can bind both .git/hooks and .git/config read-only before
 * anything has been committed.  0, or as cdt_git_open.
 */
int cdt_git_init_dir(const char *dir);

/* The branch a command works on. */
struct cdt_git_branch {
	char *ref;		/* "refs/heads/B", or "HEAD" when detached */
	char *name;		/* "B", or NULL when detached */
	bool head;		/* HEAD is (or points at) this branch */
	bool born;		/* tip is valid */
	bool exists;		/* the ref exists (else tip is its start) */
	git_oid tip;
};

/*
 * name NULL: HEAD's branch (or HEAD itself, detached).  A name that is
 * not a valid branch name is 65.  A branch that does not exist yet
 * starts at HEAD's commit (tip, with exists false), or with no commit at
 * all (born false) when HEAD has none either.
 */
int cdt_git_branch(struct cdt_git *g, const char *name,
		   struct cdt_git_branch *b);
void cdt_git_branch_release(struct cdt_git_branch *b);

/*
 * Build the tree of the work tree (needs CDT_GIT_WRITE) with the index of
 * branch b, store the objects and write that index.
 */
int cdt_git_snapshot(struct cdt_git *g, const struct cdt_git_branch *b,
		     git_oid *tree);

/* The tree of commit c (tree is zero when c is NULL: the empty tree). */
int cdt_git_commit_tree(struct cdt_git *g, const git_oid *c, git_oid *tree);

/*
 * Commit tree on branch b with the tip as parent (none when unborn) and
 * move the branch there, only if it still points at the tip (75 when it
 * moved meanwhile).  HEAD moves only when it is detached and b is HEAD.
 * The author is g->author_name and author_email when set, else
 * GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, else user.name and
 * user.email from git config (EMAIL too); the committer likewise from
 * GIT_COMMITTER_*, else the author.  78 when no author is known.
 */
int cdt_git_commit(struct cdt_git *g, struct cdt_git_branch *b,
		   const git_oid *tree, const char *message, git_oid *out);

/* Files changed, lines added and removed between two trees. */
struct cdt_git_stats {
	size_t files;
	size_t insertions;
	size_t deletions;
};
/* a or b NULL: the empty tree.  Binary files count no lines, as git. */
int cdt_git_stats(struct cdt_git *g, const git_oid *a, const git_oid *b,
		  struct cdt_git_stats *st);

/* One changed path between two trees, for show. */
struct cdt_git_change {
	const char *path;
	const char *status;	/* added, modified, deleted */
	size_t insertions;
	size_t deletions;
	bool binary;
};
typedef int (*cdt_git_change_fn)(void *arg, const struct cdt_git_change *c);
int cdt_git_changes(struct cdt_git *g, const git_oid *a, const git_oid *b,
		    cdt_git_change_fn fn, void *arg);

/*
 * Resolve spec (a sha, a unique prefix, a branch, HEAD~2, ...) to a
 * commit: 66 when there is no such commit.
 */
int cdt_git_resolve(struct cdt_git *g, const char *spec, git_oid *out);

/*
 * The diff from tree a (NULL: empty) to tree b, or to the work tree when
 * b is NULL (untracked files that a snapshot would take count as added,
 * ignored ones do not).  Binary changes come as git binary patches, so
 * `git apply` takes the output.  The caller frees *out.
 */
int cdt_git_diff(struct cdt_git *g, const git_oid *a, const git_oid *b,
		 git_diff **out);

/*
 * Make the work tree's paths match tree to, from baseline (the tree the
 * work tree equals now): written where to differs, removed where
 * baseline has them and to does not.  paths (npaths of them, canonical
 * workspace paths) limit the restore to those files and directories; one
 * that matches nothing in either tree is 66.  Needs CDT_GIT_WRITE.
 */
struct cdt_git_restore_stats {
	size_t written;
	size_t removed;
};
int cdt_git_restore(struct cdt_git *g, const git_oid *baseline,
		    const git_oid *to, char *const *paths, int npaths,
		    struct cdt_git_restore_stats *st);

/*
 * Trees built from records (create --from-records): an in-memory index
 * that starts as tree base (NULL: empty), takes blobs and removals, and
 * becomes a tree.  Paths are checked by the caller.  Release is safe
 * after CDT_GIT_OVERLAY_INIT and after a failed begin.
 */
struct cdt_git_sink;
struct cdt_git_overlay {
	git_index *index;
	struct cdt_git_sink *sink;
};
#define CDT_GIT_OVERLAY_INIT { NULL, NULL }
/* expected: about how many files will be put (many go into a pack). */
int cdt_git_overlay_begin(struct cdt_git *g, const git_oid *base,
			  size_t expected, struct cdt_git_overlay *o);
/*
 * mode 0: a regular file, keeping the executable bit of the file it
 * replaces; 0120000: a symlink whose target is data.  Over the size cap
 * is 65.
 */
int cdt_git_overlay_put(struct cdt_git *g, struct cdt_git_overlay *o,
			const char *path, const void *data, size_t len,
			unsigned mode);
/* Remove path, or everything below it; 66 when there is nothing. */
int cdt_git_overlay_remove(struct cdt_git_overlay *o, const char *path);
int cdt_git_overlay_tree(struct cdt_git *g, struct cdt_git_overlay *o,
			 git_oid *tree);
void cdt_git_overlay_release(struct cdt_git_overlay *o);

/*
 * Push: remote is a configured remote's name, a path, or a file://,
 * ssh:// (or scp-like) or https:// URL.  refspecs are "SRC:DST" ref
 * names.  Credentials: for ssh the agent (SSH_AUTH_SOCK), else
 * ~/.ssh/id_ed25519 or ~/.ssh/id_ecdsa; for https GIT_TOKEN or
 * GITHUB_TOKEN, never logged.  *shown gets the remote as it may be
 * printed (no credentials in it; the caller frees it).  1 when rejected
 * (non-fast-forward), 77 authentication or host key, 75 unreachable, 66
 * no such local repository.  Remote-tracking refs of a named remote are
 * updated under the cdt lock.
 */
int cdt_git_push(struct cdt_git *g, const char *remote,
		 const char *const *refspecs, size_t n, char **shown);

/* A git_oid as 40 hex digits. */
void cdt_git_hex(const git_oid *id, char out[GIT_OID_HEXSZ + 1]);

#include "banned.h"
#endif
