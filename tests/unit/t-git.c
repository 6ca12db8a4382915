/*
 * Unit tests for lib/git: a repository made on first use; snapshots of a
 * work tree (ignore rules, .cdt, symlinks, the size cap, many files in a
 * pack); commits that move only their branch; counts; resolving refs;
 * diffs; restore (removals, symlinks in the way, untracked files in the
 * way); trees from records; push to a local bare repository; the lock
 * and what a dead holder left.  The git command-line checks live in
 * tests/t5*-checkpoint-*.sh; these run the library under the sanitizers.
 */
#include "compat.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "git.h"
#include "tap.h"

static char top[4096];
static char ws[4200];

static void
put(const char *rel, const char *content)
{
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", ws, rel);
	for (char *s = p + strlen(ws) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0777);
		*s = '/';
	}
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

static char *
get(const char *rel)
{
	static char buf[4096];
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", ws, rel);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool
exists(const char *rel)
{
	char p[8192];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", ws, rel);
	return lstat(p, &st) == 0;
}

/* A snapshot and a commit on b; the new commit's id in *id. */
static int
checkpoint(struct cdt_git *g, struct cdt_git_branch *b, const char *msg,
	   git_oid *id)
{
	git_oid tree;
	int rc = cdt_git_snapshot(g, b, &tree);
	return rc ? rc : cdt_git_commit(g, b, &tree, msg, id);
}

static size_t
tree_entries(struct cdt_git *g, const git_oid *commit)
{
	git_oid t;
	git_tree *tree = NULL;
	size_t n = 0;
	if (cdt_git_commit_tree(g, commit, &t) == 0 &&
	    git_tree_lookup(&tree, g->repo, &t) == 0)
		n = git_tree_entrycount(tree);
	git_tree_free(tree);
	return n;
}

static int
count_change(void *arg, const struct cdt_git_change *c)
{
	int *n = arg;
	(*n)++;
	return 0;
}

int
main(void)
{
	struct cdt_git g;
	struct cdt_git_branch b;
	git_oid c1, c2, c3, t1, t2, tree;
	struct cdt_git_stats st;
	char hex[GIT_OID_HEXSZ + 1];

	snprintf(top, sizeof(top), "%s/cdt-t-git.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(top))
		return 1;
	snprintf(ws, sizeof(ws), "%s/ws", top);
	mkdir(ws, 0777);
	cdt_err_setname("t-git");
	setenv("GIT_AUTHOR_NAME", "Tee Git", 1);
	setenv("GIT_AUTHOR_EMAIL", "tg@example.com", 1);
	setenv("HOME", top, 1);

	cdt_err_quiet(true);
	is_int(cdt_git_open(&g, ws, 0), EX_NOINPUT, "no repository: 66");
	cdt_err_quiet(false);
	is_int(cdt_git_open(&g, ws, CDT_GIT_CREATE | CDT_GIT_WRITE), 0,
	       "made on first use");
	ok(exists(".git/HEAD") && exists(".cdt/checkpoint.lock"),
	   "repository and lock");
	is_int(cdt_git_branch(&g, NULL, &b), 0, "HEAD's branch");
	ok(b.head && !b.born && b.name, "unborn, named");

	put("a.txt", "one\ntwo\n");
	put("src/b.c", "int x;\n");
	put(".gitignore", "*.log\n");
	put("noise.log", "ignored\n");
	put(".cdt/state", "never\n");
	char lp[8192];
	snprintf(lp, sizeof(lp), "%s/link", ws);
	ok(symlink("a.txt", lp) == 0, "a symlink");
	is_int(checkpoint(&g, &b, "first\n", &c1), 0, "first checkpoint");
	ok(b.born && b.exists && git_oid_equal(&b.tip, &c1), "branch moved");
	is_int((int)tree_entries(&g, &c1), 4, "four entries at the top");
	is_int(cdt_git_commit_tree(&g, &c1, &t1), 0, "its tree");
	is_int(cdt_git_stats(&g, NULL, &t1, &st), 0, "stats");
	is_int((int)st.files, 4, "4 files");
	is_int((int)st.insertions, 5, "5 lines");

	/* Unchanged: the same tree again. */
	is_int(cdt_git_snapshot(&g, &b, &tree), 0, "snapshot again");
	ok(git_oid_equal(&tree, &t1), "same tree when nothing changed");

	/* A change, a removal, an executable, a type change. */
	put("a.txt", "one\n2\nthree\n");
	put("src/run.sh", "#!/bin/sh\n");
	char rp[8192];
	snprintf(rp, sizeof(rp), "%s/src/run.sh", ws);
	chmod(rp, 0755);
	snprintf(rp, sizeof(rp), "%s/src/b.c", ws);
	unlink(rp);
	is_int(checkpoint(&g, &b, "second", &c2), 0, "second checkpoint");
	cdt_git_commit_tree(&g, &c2, &t2);
	int nch = 0;
	is_int(cdt_git_changes(&g, &t1, &t2, count_change, &nch), 0,
	       "changes");
	is_int(nch, 3, "three paths changed");
	is_int(cdt_git_stats(&g, &t1, &t2, &st), 0, "stats of the change");
	ok(st.insertions == 3 && st.deletions == 2, "+3 -2 (%zu %zu)",
	   st.insertions, st.deletions);

	git_oid r;
	is_int(cdt_git_resolve(&g, "HEAD~1", &r), 0, "HEAD~1");
	ok(git_oid_equal(&r, &c1), "is the first");
	cdt_git_hex(&c1, hex);
	hex[8] = '\0';
	is_int(cdt_git_resolve(&g, hex, &r), 0, "a short sha");
	cdt_err_quiet(true);
	is_int(cdt_git_resolve(&g, "no-such-ref", &r), EX_NOINPUT, "66");
	cdt_err_quiet(false);

	/* diff against the work tree */
	git_diff *diff = NULL;
	put("new.txt", "n\n");
	is_int(cdt_git_diff(&g, &t2, NULL, &diff), 0, "diff to work tree");
	is_int((int)git_diff_num_deltas(diff), 1, "the new file");
	git_diff_free(diff);
	diff = NULL;
	is_int(cdt_git_diff(&g, &t1, &t2, &diff), 0, "diff of two trees");
	is_int((int)git_diff_num_deltas(diff), 3, "three deltas");
	git_diff_free(diff);

	/* restore: back to c1 from a clean c3 */
	is_int(checkpoint(&g, &b, "third", &c3), 0, "third checkpoint");
	git_oid t3;
	cdt_git_commit_tree(&g, &c3, &t3);
	put("keep.log", "ignored, kept\n");
	struct cdt_git_restore_stats rs;
	is_int(cdt_git_restore(&g, &t3, &t1, NULL, 0, &rs), 0, "restore c1");
	is_str(get("a.txt"), "one\ntwo\n", "a.txt back");
	is_str(get("src/b.c"), "int x;\n", "b.c back");
	ok(!exists("src/run.sh") && !exists("new.txt"), "tracked removed");
	ok(exists("keep.log") && exists("noise.log"), "ignored kept");
	ok(rs.written == 2 && rs.removed == 2, "2 written, 2 removed");

	/* An untracked file in the way: 73, nothing changed. */
	put("new.txt", "mine\n");
	put("a.txt", "changed\n");
	cdt_err_quiet(true);
	/* From t1 (the work tree less new.txt) to t3, which has new.txt. */
	is_int(cdt_git_restore(&g, &t1, &t3, NULL, 0, &rs), EX_CANTCREAT,
	       "untracked file in the way");
	cdt_err_quiet(false);
	is_str(get("new.txt"), "mine\n", "untouched");
	is_str(get("a.txt"), "changed\n", "nothing restored");
	/* The same content there already (a half-done restore): fine. */
	put("new.txt", "n\n");
	is_int(cdt_git_restore(&g, &t1, &t3, NULL, 0, &rs), 0,
	       "a file that already holds it");
	is_str(get("a.txt"), "one\n2\nthree\n", "restored");

	/* A restore limited to a path; a path in neither tree is 66. */
	char src[] = "src", nw[] = "nowhere";
	char *paths[] = { src };
	put("a.txt", "local\n");
	is_int(cdt_git_restore(&g, &t3, &t1, paths, 1, &rs), 0, "src only");
	ok(exists("src/b.c") && !exists("src/run.sh"), "src as in c1");
	is_str(get("a.txt"), "local\n", "a.txt untouched");
	char *nowhere[] = { nw };
	cdt_err_quiet(true);
	is_int(cdt_git_restore(&g, &t3, &t1, nowhere, 1, &rs), EX_NOINPUT,
	       "a path in neither tree");
	cdt_err_quiet(false);

	/* The size cap. */
	g.max_file_size = 4;
	put("big", "0123456789");
	cdt_err_quiet(true);
	is_int(cdt_git_snapshot(&g, &b, &tree), EX_DATAERR, "over the cap");
	cdt_err_quiet(false);
	g.max_file_size = CDT_GIT_MAX_FILE_SIZE;

	/* Trees from records. */
	struct cdt_git_overlay o = CDT_GIT_OVERLAY_INIT;
	is_int(cdt_git_overlay_begin(&g, &t1, 3, &o), 0, "overlay");
	is_int(cdt_git_overlay_put(&g, &o, "dir/x", "x\n", 2, 0), 0, "put");
	is_int(cdt_git_overlay_put(&g, &o, "ln", "a.txt", 5, 0120000), 0,
	       "a symlink");
	is_int(cdt_git_overlay_remove(&o, "src"), 0, "remove a directory");
	cdt_err_quiet(true);
	is_int(cdt_git_overlay_remove(&o, "zz"), EX_NOINPUT, "nothing there");
	cdt_err_quiet(false);
	is_int(cdt_git_overlay_tree(&g, &o, &tree), 0, "its tree");
	cdt_git_overlay_release(&o);
	cdt_git_overlay_release(&o);
	ok(1, "release twice");
	is_int(cdt_git_stats(&g, &t1, &tree, &st), 0, "overlay stats");
	is_int((int)st.files, 3, "three changes");

	/* Many files go through a pack. */
	for (int i = 0; i < 200; i++) {
		char n[64], c[64];
		snprintf(n, sizeof(n), "many/f%d", i);
		snprintf(c, sizeof(c), "file %d\n", i);
		put(n, c);
	}
	snprintf(rp, sizeof(rp), "%s/big", ws);
	unlink(rp);
	is_int(checkpoint(&g, &b, "many", &c3), 0, "200 new files");
	is_int(cdt_git_stats(&g, &t1, NULL, &st), 0, "stats to empty");

	/* A new branch starts at HEAD; HEAD stays. */
	struct cdt_git_branch nb;
	git_oid c4, head_before;
	git_oid_cpy(&head_before, &b.tip);
	is_int(cdt_git_branch(&g, "side/one", &nb), 0, "a new branch");
	ok(!nb.exists && nb.born && git_oid_equal(&nb.tip, &b.tip),
	   "starts at HEAD");
	put("side.txt", "s\n");
	is_int(checkpoint(&g, &nb, "side", &c4), 0, "commit on it");
	git_oid now;
	ok(git_reference_name_to_id(&now, g.repo, "HEAD") == 0 &&
	   git_oid_equal(&now, &head_before), "HEAD did not move");
	cdt_err_quiet(true);
	struct cdt_git_branch bad;
	is_int(cdt_git_branch(&g, "a..b", &bad), EX_DATAERR, "bad name");
	cdt_err_quiet(false);
	cdt_git_branch_release(&nb);

	/* The branch moved meanwhile: 75. */
	struct cdt_git_branch stale = b;
	stale.ref = cdt_xstrdup(b.ref);
	stale.name = cdt_xstrdup(b.name);
	git_oid_cpy(&stale.tip, &c1);
	is_int(cdt_git_snapshot(&g, &stale, &tree), 0, "snapshot");
	cdt_err_quiet(true);
	is_int(cdt_git_commit(&g, &stale, &tree, "late", &c4), EX_TEMPFAIL,
	       "the branch moved: 75");
	cdt_err_quiet(false);
	cdt_git_branch_release(&stale);

	/* Push to a local bare repository. */
	char bare[8192];
	git_repository *br = NULL;
	snprintf(bare, sizeof(bare), "%s/bare.git", top);
	ok(git_repository_init(&br, bare, 1) == 0, "a bare repository");
	git_repository_free(br);
	const char *spec[] = { "refs/heads/master:refs/heads/master" };
	char *shown = NULL;
	is_int(cdt_git_push(&g, bare, spec, 1, &shown), 0, "pushed");
	is_str(shown, bare, "shown as given");
	free(shown);
	shown = NULL;
	char nope[8192];
	snprintf(nope, sizeof(nope), "%s/nope.git", top);
	cdt_err_quiet(true);
	is_int(cdt_git_push(&g, nope, spec, 1, &shown), EX_NOINPUT,
	       "no such repository");
	free(shown);
	shown = NULL;
	is_int(cdt_git_push(&g, "https://user:secret@127.0.0.1:1/x.git", spec,
			    1, &shown), EX_TEMPFAIL, "unreachable");
	cdt_err_quiet(false);
	is_str(shown, "https://user@127.0.0.1:1/x.git", "no password shown");
	free(shown);

	/* The lock is held: another process waits, then gives up (75). */
	pid_t pid = fork();
	if (pid == 0) {
		struct cdt_git g2;
		close(g.lock.fd);	/* not ours: the parent holds it */
		cdt_err_quiet(true);
		_exit(cdt_git_open(&g2, ws, CDT_GIT_WRITE));
	}
	int wst;
	waitpid(pid, &wst, 0);
	ok(WIFEXITED(wst) && WEXITSTATUS(wst) == EX_TEMPFAIL,
	   "locked: 75 for another process (%d)", WIFEXITED(wst) ?
	   WEXITSTATUS(wst) : -1);
	cdt_git_branch_release(&b);
	cdt_git_close(&g);
	cdt_git_close(&g);
	ok(1, "close twice");

	/* A dead holder's lock files are cleared on the next open. */
	pid = fork();
	if (pid == 0) {
		struct cdt_git g2;
		if (cdt_git_open(&g2, ws, CDT_GIT_WRITE))
			_exit(1);
		put("../ws/.git/index.lock", "");
		put("../ws/.git/refs/heads/master.lock", "");
		_exit(0);	/* dies holding the lock */
	}
	waitpid(pid, &wst, 0);
	ok(exists(".git/index.lock"), "left behind");
	cdt_err_quiet(true);
	is_int(cdt_git_open(&g, ws, CDT_GIT_WRITE), 0, "opened again");
	cdt_err_quiet(false);
	ok(g.lock.stale && g.lock.prev.pid == pid, "saw the dead holder");
	ok(!exists(".git/index.lock") && !exists(".git/refs/heads/master.lock"),
	   "its lock files are gone");
	cdt_git_close(&g);

	pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", top, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &wst, 0);
	git_libgit2_shutdown();
	return done_testing();
}
