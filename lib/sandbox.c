#include "compat.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "log.h"
#include "sandbox.h"

#define BWRAP "bwrap"
#define SANDBOX_PATH "/usr/local/bin:/usr/bin:/bin"
/*
 * Where the uid fallback shows bwrap the idmapped workspace: a tmpfs of
 * the child's own mount namespace over /tmp (the one directory every
 * uid may reach; the workspace's parents may be 0700), never the host's.
 */
#define WS_AT "/tmp/.cdt-ws"
/*
 * Written inside, right before the command: the byte on fd 3 says the
 * sandbox is up; sh's own exec gives 126/127 as env(1) does.
 */
#define WRAPPER "printf x >&3 && exec 3>&- && exec \"$@\""

struct argv {
	char **v;
	size_t n, cap;
};

static void
add(struct argv *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = cdt_xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = cdt_xstrdup(s);
	a->v[a->n] = NULL;
}

static void
add2(struct argv *a, const char *x, const char *y)
{
	add(a, x);
	add(a, y);
}

static void
add3(struct argv *a, const char *x, const char *y, const char *z)
{
	add(a, x);
	add(a, y);
	add(a, z);
}

static bool
exists_at(const char *dir, const char *rel, bool want_dir)
{
	char p[4096];
	struct stat st;
	if (snprintf(p, sizeof(p), "%s/%s", dir, rel) >= (int)sizeof(p))
		return false;
	if (lstat(p, &st))
		return false;
	return want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

/* Bind at/rel read-only over itself inside, when ws/rel is there. */
static void
ro_git(struct argv *a, const char *ws, const char *at, const char *rel,
       bool dir)
{
	char src[4096], dst[4096];
	if (!exists_at(ws, rel, dir))
		return;
	snprintf(src, sizeof(src), "%s/%s", at, rel);
	snprintf(dst, sizeof(dst), "/home/dev/%s", rel);
	add3(a, "--ro-bind", src, dst);
}

/* The argv, with the workspace bound from at (the workspace or WS_AT). */
static char **
build_argv(const struct cdt_sandbox *sb, const char *at, char *const *cmd,
	   int ncmd)
{
	struct argv a = { 0 };
	if (sb->bwrap) {
		add(&a, BWRAP);
		add2(&a, "--die-with-parent", "--new-session");
		add2(&a, "--unshare-all", "--unshare-user");
		if (sb->network)
			add(&a, "--share-net");
		add(&a, "--disable-userns");
		add2(&a, "--hostname", "sandbox");
		add3(&a, "--ro-bind", "/usr", "/usr");
		add3(&a, "--symlink", "usr/bin", "/bin");
		add3(&a, "--symlink", "usr/sbin", "/sbin");
		add3(&a, "--symlink", "usr/lib", "/lib");
		add3(&a, "--symlink", "usr/lib64", "/lib64");
		static const char *const etc[] = {
			"/etc/alternatives", "/etc/ld.so.cache", "/etc/ssl",
			"/etc/localtime", NULL
		};
		static const char *const etc_net[] = {
			"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
			"/etc/host.conf", "/etc/gai.conf", NULL
		};
		for (const char *const *e = etc; *e; e++)
			add3(&a, "--ro-bind-try", *e, *e);
		for (const char *const *e = etc_net; sb->network && *e; e++)
			add3(&a, "--ro-bind-try", *e, *e);
		add2(&a, "--proc", "/proc");
		add2(&a, "--dev", "/dev");
		add2(&a, "--size", "268435456");
		add2(&a, "--tmpfs", "/tmp");
		add2(&a, "--tmpfs", "/run");
		add2(&a, "--dir", "/home");
		add3(&a, "--bind", at, "/home/dev");
		ro_git(&a, sb->workspace, at, ".git/hooks", true);
		ro_git(&a, sb->workspace, at, ".git/config", false);
		add2(&a, "--remount-ro", "/");
		add2(&a, "--chdir", "/home/dev");
		add(&a, "--clearenv");
		add3(&a, "--setenv", "HOME", "/home/dev");
		add3(&a, "--setenv", "PATH", SANDBOX_PATH);
		add3(&a, "--setenv", "TMPDIR", "/tmp");
		add3(&a, "--setenv", "LANG", "C.UTF-8");
		for (char **e = sb->env; e && *e; e++) {
			const char *eq = strchr(*e, '=');
			char *k = cdt_xstrndup(*e, eq ? (size_t)(eq - *e) :
					       strlen(*e));
			add3(&a, "--setenv", k, eq ? eq + 1 : "");
			free(k);
		}
		add2(&a, "--uid", "1000");
		add2(&a, "--gid", "1000");
		add2(&a, "--cap-drop", "ALL");
		add(&a, "--");
	}
	add3(&a, "/bin/sh", "-c", WRAPPER);
	add(&a, "sh");
	for (int i = 0; i < ncmd; i++)
		add(&a, cmd[i]);
	return a.v;
}

char **
cdt_sandbox_argv(const struct cdt_sandbox *sb, char *const *cmd, int ncmd)
{
	return build_argv(sb, sb->workspace, cmd, ncmd);
}

void
cdt_sandbox_argv_free(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

/* CDT_TEST_BWRAP names another bwrap (tests: a missing or broken one). */
static const char *
test_bwrap(void)
{
	const char *t = getenv("CDT_TEST_BWRAP");
	return t && *t ? t : NULL;
}

int
cdt_sandbox_probe(void)
{
	static const char *const dirs[] = { "/usr/bin", "/bin",
		"/usr/local/bin", NULL };
	const char *t = test_bwrap();
	if (t && !access(t, X_OK))
		return 0;
	for (const char *const *d = t ? dirs + 3 : dirs; *d; d++) {
		char p[64];
		snprintf(p, sizeof(p), "%s/" BWRAP, *d);
		if (!access(p, X_OK))
			return 0;
	}
	return cdt_err(EX_UNAVAILABLE, "bubblewrap (bwrap) is not installed: "
		       "apt-get install bubblewrap (or create the session "
		       "with --sandbox none)");
}

#define CG "/sys/fs/cgroup"

/*
 * Our own cgroup.  v1: the directory of controller's hierarchy
 * ("4:memory:/x" in /proc/self/cgroup).  v2 (controller NULL): the
 * unified hierarchy's directory ("0::/x"), at /sys/fs/cgroup when it is
 * mounted there alone, else at /sys/fs/cgroup/unified (hybrid).
 */
static bool
cg_self(const char *controller, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[1024];
	bool found = false;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *a = strchr(line, ':');
		char *b = a ? strchr(a + 1, ':') : NULL;
		if (!b)
			continue;
		*b = 0;
		if (!controller) {
			found = a + 1 == b && !strncmp(line, "0:", 2);
		} else {
			size_t cl = strlen(controller);
			for (char *t = a + 1; t && *t; ) {
				char *comma = strchr(t, ',');
				size_t tl = comma ? (size_t)(comma - t) :
					strlen(t);
				if (tl == cl && !strncmp(t, controller, cl))
					found = true;
				t = comma ? comma + 1 : NULL;
			}
		}
		if (!found)
			continue;
		char *path = b + 1;
		path[strcspn(path, "\n")] = 0;
		const char *sub = strcmp(path, "/") ? path : "";
		if (controller)
			snprintf(out, len, CG "/%s%s", controller, sub);
		else if (!access(CG "/cgroup.controllers", F_OK))
			snprintf(out, len, CG "%s", sub);
		else
			snprintf(out, len, CG "/unified%s", sub);
	}
	fclose(f);
	return found;
}

/* Is controller delegated to our v2 cgroup (its children may use it)? */
static bool
cg2_has(const char *controller, char *dir, size_t len)
{
	char p[1200], line[512];
	bool has = false;
	if (!cg_self(NULL, dir, len) || access(dir, W_OK))
		return false;
	snprintf(p, sizeof(p), "%s/cgroup.subtree_control", dir);
	FILE *f = fopen(p, "re");
	if (!f)
		return false;
	if (fgets(line, sizeof(line), f)) {
		size_t cl = strlen(controller);
		for (char *t = line; *t; ) {
			size_t tl = strcspn(t, " \n");
			if (tl == cl && !strncmp(t, controller, cl))
				has = true;
			t += tl;
			t += strspn(t, " \n");
		}
	}
	fclose(f);
	return has;
}

static bool
cg_usable(const char *controller, const char *file)
{
	char dir[1024], p[1100];
	if (!cg_self(controller, dir, sizeof(dir)))
		return false;
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	return !access(dir, W_OK) && !access(p, F_OK);
}

/* The three limits a cgroup can hold, in the order of struct cdt_cg. */
static const struct {
	const char *v2, *v2_file, *v1, *v1_file, *v2_name, *v1_name;
} lim[CDT_SANDBOX_NCG] = {
	{ "pids", "pids.max", "pids", "pids.max",
	  "cgroup v2 pids.max", "cgroup v1 pids.max" },
	{ "memory", "memory.max", "memory", "memory.limit_in_bytes",
	  "cgroup v2 memory.max", "cgroup v1 memory.limit_in_bytes" },
	{ "cpu", "cpu.max", "cpu", "cpu.cfs_quota_us",
	  "cgroup v2 cpu.max", "cgroup v1 cpu.cfs_quota_us" },
};

/* The cgroup mechanism for limit i here, or NULL. */
static const char *
cg_mech(int i)
{
	char dir[1024];
	if (cg2_has(lim[i].v2, dir, sizeof(dir)))
		return lim[i].v2_name;
	/* The root cgroup has no pids.max: probe what every one has. */
	if (cg_usable(lim[i].v1, i == 2 ? lim[i].v1_file : "cgroup.procs"))
		return lim[i].v1_name;
	return NULL;
}

/* Does the uid fallback apply to sb when it has no pids cgroup? */
static bool
uid_fallback(const struct cdt_sandbox *sb)
{
	return sb->pids > 0 && sb->bwrap && sb->uid && geteuid() == 0;
}

/* The pids mechanism without a cgroup, in buf when it names the uid. */
static const char *
nproc_mech(const struct cdt_sandbox *sb, char *buf, size_t len)
{
	if (geteuid() != 0)
		return "RLIMIT_NPROC";
	if (!uid_fallback(sb))
		return "none (RLIMIT_NPROC does not bind root)";
	snprintf(buf, len, "RLIMIT_NPROC (uid %u)", sb->uid);
	return buf;
}

const char *
cdt_sandbox_pids_mech(const struct cdt_sandbox *sb)
{
	static char buf[64];
	const char *m = sb->no_cgroup ? NULL : cg_mech(0);
	return m ? m : nproc_mech(sb, buf, sizeof(buf));
}

const char *
cdt_sandbox_memory_mech(const struct cdt_sandbox *sb)
{
	const char *m = sb->no_cgroup ? NULL : cg_mech(1);
	return m ? m : "RLIMIT_AS";
}

const char *
cdt_sandbox_cpus_mech(const struct cdt_sandbox *sb)
{
	const char *m = sb->no_cgroup ? NULL : cg_mech(2);
	return m ? m : "affinity";
}

static bool
put(const char *dir, const char *file, const char *v)
{
	char f[1200];
	snprintf(f, sizeof(f), "%s/%s", dir, file);
	int fd = open(f, O_WRONLY | O_CLOEXEC);
	bool done = fd >= 0 && write(fd, v, strlen(v)) ==
		(ssize_t)strlen(v);
	if (fd >= 0)
		close(fd);
	return done;
}

/*
 * A fresh child cgroup named name holding limit i: its directory in
 * out, or "" (no mechanism here, or it could not be made).  value is
 * the limit in the unit of the v1 file; for cpu, CPUs times 100,000.
 */
static void
cg_make(int i, const char *name, uint64_t value, char *out, size_t len)
{
	char dir[1024], v[64];
	bool v2 = cg2_has(lim[i].v2, dir, sizeof(dir));
	out[0] = 0;
	if (!value || (!v2 && !cg_self(lim[i].v1, dir, sizeof(dir))))
		return;
	if (snprintf(out, len, "%s/%s", dir, name) >= (int)len ||
	    (mkdir(out, 0700) && errno != EEXIST)) {
		out[0] = 0;
		return;
	}
	bool done;
	if (i == 2) {
		/* A quota per 100 ms period: N CPUs' worth of time. */
		snprintf(v, sizeof(v), v2 ? "%llu 100000" : "%llu",
			 (unsigned long long)value);
		done = (v2 || put(out, "cpu.cfs_period_us", "100000")) &&
			put(out, v2 ? lim[i].v2_file : lim[i].v1_file, v);
	} else {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
		done = put(out, v2 ? lim[i].v2_file : lim[i].v1_file, v);
		/* No swap beyond the limit, where the kernel has the file. */
		if (done && i == 1)
			put(out, v2 ? "memory.swap.max" :
			    "memory.memsw.limit_in_bytes", v2 ? "0" : v);
	}
	if (!done) {
		rmdir(out);
		out[0] = 0;
	}
}

/* The mechanism cgroup dir applies for limit i (v1 or v2, by path). */
static const char *
cg_name(int i, const char *dir)
{
	return !strncmp(dir, CG "/", sizeof(CG)) &&
		!strncmp(dir + sizeof(CG), lim[i].v1, strlen(lim[i].v1)) &&
		dir[sizeof(CG) + strlen(lim[i].v1)] == '/' ?
		lim[i].v1_name : lim[i].v2_name;
}

/* Make the run's cgroups: one per limit (v2: the same dir may repeat). */
static void
cgs_make(const struct cdt_sandbox *sb, const char *name, struct cdt_cg *cg)
{
	if (sb->no_cgroup)
		return;
	uint64_t cpu = sb->cpus > 0 ? (uint64_t)(sb->cpus * 100000) : 0;
	cg_make(0, name, sb->pids > 0 ? (uint64_t)sb->pids : 0, cg->dir[0],
		sizeof(cg->dir[0]));
	cg_make(1, name, sb->memory_bytes, cg->dir[1], sizeof(cg->dir[1]));
	cg_make(2, name, cpu, cg->dir[2], sizeof(cg->dir[2]));
}

/* In the child: join the cgroup (async-signal-safe calls only). */
static bool
cg_join(const char *dir)
{
	char p[1200], v[32];
	if (!*dir)
		return false;
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	int n = snprintf(v, sizeof(v), "%ld", (long)getpid());
	bool ok = write(fd, v, (size_t)n) == n;
	close(fd);
	return ok;
}

/*
 * Did the memory cgroup kill a process?  v1: oom_kill in
 * memory.oom_control; v2: oom_kill in memory.events.
 */
static bool
cg_oom(const char *dir)
{
	char p[1200], line[128];
	bool killed = false;
	if (!*dir)
		return false;
	snprintf(p, sizeof(p), "%s/memory.oom_control", dir);
	FILE *f = fopen(p, "re");
	if (!f) {
		snprintf(p, sizeof(p), "%s/memory.events", dir);
		f = fopen(p, "re");
	}
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "oom_kill ", 9) && strtoll(line + 9, NULL,
							     10) > 0)
			killed = true;
	fclose(f);
	return killed;
}

/* Kill what is left in the cgroup, then remove it. */
static void
cg_remove(char *dir)
{
	char p[1200];
	if (!*dir)
		return;
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	for (int tries = 0; tries < 1000 && rmdir(dir) && errno != ENOENT;
	     tries++) {
		FILE *f = fopen(p, "re");
		long pid;
		while (f && fscanf(f, "%ld", &pid) == 1)
			kill((pid_t)pid, SIGKILL);
		if (f)
			fclose(f);
		usleep(1000);
	}
	dir[0] = 0;
}

void
cdt_sandbox_cg_rmdir(struct cdt_cg *cg)
{
	for (int i = 0; i < CDT_SANDBOX_NCG; i++) {
		if (*cg->dir[i] && rmdir(cg->dir[i]) && errno != ENOENT)
			cdt_debug("cgroup '%s' kept: %s", cg->dir[i],
				  strerror(errno));
		cg->dir[i][0] = 0;
	}
}

void
cdt_sandbox_cg_remove(struct cdt_cg *cg)
{
	for (int i = 0; i < CDT_SANDBOX_NCG; i++)
		cg_remove(cg->dir[i]);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
closefd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
set_limit(int res, uint64_t v)
{
	struct rlimit rl = { (rlim_t)v, (rlim_t)v };
	setrlimit(res, &rl);
}

/*
 * A user namespace mapping uid and gid 0 to uid (and gid) sb->uid, for
 * the idmapped mount: its fd, or -1 (reported).  A helper child makes
 * it; we write its maps, open it, and let the helper go.
 */
static int
idmap_userns(unsigned uid)
{
	int go[2] = { -1, -1 }, up[2] = { -1, -1 }, ns = -1;
	char b = 0, f[64], map[64];
	if (pipe2(go, O_CLOEXEC) || pipe2(up, O_CLOEXEC)) {
		cdt_err_errno(EX_OSERR, "cannot make a pipe");
		goto out;
	}
	fflush(NULL);
	pid_t c = fork();
	if (c < 0) {
		cdt_err_errno(EX_OSERR, "cannot fork");
		goto out;
	}
	if (c == 0) {
		close(go[1]);
		b = unshare(CLONE_NEWUSER) ? 'n' : 'y';
		if (write(up[1], &b, 1) == 1)
			while (read(go[0], &b, 1) < 0 && errno == EINTR)
				;
		_exit(0);
	}
	closefd(&up[1]);
	closefd(&go[0]);
	if (read(up[0], &b, 1) != 1 || b != 'y') {
		cdt_err(EX_UNAVAILABLE, "cannot make a user namespace for the "
			"sandbox's uid %u", uid);
	} else {
		int n = snprintf(map, sizeof(map), "0 %u 1\n", uid);
		const char *const which[] = { "uid_map", "gid_map" };
		bool ok = true;
		for (int i = 0; i < 2 && ok; i++) {
			snprintf(f, sizeof(f), "/proc/%ld/%s", (long)c,
				 which[i]);
			int fd = open(f, O_WRONLY | O_CLOEXEC);
			ok = fd >= 0 && write(fd, map, (size_t)n) == n;
			if (fd >= 0)
				close(fd);
		}
		snprintf(f, sizeof(f), "/proc/%ld/ns/user", (long)c);
		if (!ok || (ns = open(f, O_RDONLY | O_CLOEXEC)) < 0)
			cdt_err_errno(EX_UNAVAILABLE, "cannot map uid %u in "
				      "a user namespace", uid);
	}
	closefd(&go[1]);
	while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
		;
out:
	closefd(&go[0]);
	closefd(&go[1]);
	closefd(&up[0]);
	closefd(&up[1]);
	return ns;
}

/*
 * The uid fallback's view of the workspace: a detached clone of it,
 * idmapped so that uid and gid 0 on disk are sb->uid through it (files
 * the sandbox writes are root's on the host, and root's are the
 * sandbox's).  Its fd in *tree; 0, or 69 (reported).
 */
static int
idmap_tree(const struct cdt_sandbox *sb, int *tree)
{
	int ns = idmap_userns(sb->uid);
	*tree = -1;
	if (ns < 0)
		return EX_UNAVAILABLE;
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, sb->workspace,
			      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP,
				   .userns_fd = (uint64_t)ns };
	int rc = 0;
	if (fd < 0 || syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH,
			      &attr, sizeof(attr))) {
		rc = cdt_err_errno(EX_UNAVAILABLE, "cannot give uid %u the "
				   "workspace through an idmapped mount "
				   "(set sandbox.uid: 0 to run as root with "
				   "no pids limit)", sb->uid);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	close(ns);
	*tree = fd;
	return rc;
}

/*
 * In the child, as root: a mount namespace of its own with a tmpfs over
 * /tmp and the idmapped workspace at WS_AT.  Async-signal-safe.
 */
static void
mount_ws(int tree)
{
	const char *step = "unshare";
	if (unshare(CLONE_NEWNS) ||
	    (step = "mount", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE,
				    NULL)) ||
	    mount("cdt-sandbox", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0755,size=64k") ||
	    (step = "mkdir", mkdir(WS_AT, 0755)) ||
	    (step = "move_mount", syscall(SYS_move_mount, tree, "",
					   AT_FDCWD, WS_AT,
					   MOVE_MOUNT_F_EMPTY_PATH)) ||
	    (step = "chdir", chdir("/"))) {
		dprintf(2, "cannot mount the workspace for the sandbox's "
			"uid (%s): %s\n", step, strerror(errno));
		_exit(CDT_SANDBOX_EXIT_NOTRUN);
	}
}

/* In the child: become the unprivileged uid (async-signal-safe). */
static void
drop_to(unsigned uid)
{
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid)) {
		dprintf(2, "cannot become uid %u: %s\n", uid,
			strerror(errno));
		_exit(CDT_SANDBOX_EXIT_NOTRUN);
	}
}

/*
 * In the child: limits, affinity, fds, then exec.  Never returns.  With
 * tree (not -1), the uid fallback: the idmapped workspace, then bwrap as
 * sb->uid under RLIMIT_NPROC.
 */
static void
child(const struct cdt_sandbox *sb, char **argv, int in, int out,
      int errfd, int mark, const struct cdt_cg *cg, int tree)
{
	/*
	 * A group of its own, so the timeout kills the whole tree; not when
	 * it reads our terminal (a background group would stop on SIGTTIN).
	 */
	if (in != 0)
		setpgid(0, 0);
	bool pids_cg = cg_join(cg->dir[0]);
	bool mem_cg = cg_join(cg->dir[1]);
	bool cpu_cg = cg_join(cg->dir[2]);
	signal(SIGPIPE, SIG_DFL);
	if (in >= 0 && in != 0)
		dup2(in, 0);
	if (out >= 0)
		dup2(out, 1);
	if (errfd >= 0)
		dup2(errfd, 2);
	if (mark != 3) {
		dup2(mark, 3);
	} else {
		int fl = fcntl(3, F_GETFD);
		fcntl(3, F_SETFD, fl & ~FD_CLOEXEC);
	}
	if (tree >= 0)
		mount_ws(tree);
	close_range(4, ~0U, 0);
	set_limit(RLIMIT_CORE, 0);
	if (sb->memory_bytes && !mem_cg)
		set_limit(RLIMIT_AS, sb->memory_bytes);
	if (sb->disk_bytes)
		set_limit(RLIMIT_FSIZE, sb->disk_bytes);
	if (sb->pids > 0 && !pids_cg)
		set_limit(RLIMIT_NPROC, (uint64_t)sb->pids);
	if (sb->cpus > 0 && !cpu_cg) {
		cpu_set_t have, want;
		CPU_ZERO(&want);
		if (!sched_getaffinity(0, sizeof(have), &have)) {
			int need = (int)sb->cpus;
			if ((double)need < sb->cpus)
				need++;
			for (int c = 0; c < CPU_SETSIZE && need > 0; c++) {
				if (CPU_ISSET(c, &have)) {
					CPU_SET(c, &want);
					need--;
				}
			}
			sched_setaffinity(0, sizeof(want), &want);
		}
	}
	if (tree >= 0)
		drop_to(sb->uid);
	if (sb->bwrap) {
		static char path[] = "PATH=" SANDBOX_PATH;
		char *const env[] = { path, NULL };
		if (test_bwrap()) {
			execve(test_bwrap(), argv, env);
		} else {
			execve("/usr/bin/" BWRAP, argv, env);
			execvpe(BWRAP, argv, env);
		}
		dprintf(2, "cannot run bwrap: %s\n", strerror(errno));
		_exit(CDT_SANDBOX_EXIT_NOTRUN);
	}
	/* Engine none: the same clean environment, in the workspace. */
	size_t n = 0;
	for (char **e = sb->env; e && *e; e++)
		n++;
	char **env = calloc(n + 5, sizeof(*env));
	if (!env || chdir(sb->workspace)) {
		dprintf(2, "cannot enter '%s': %s\n", sb->workspace,
			strerror(errno));
		_exit(CDT_SANDBOX_EXIT_NOTRUN);
	}
	size_t k = 0;
	static char home[4200], path[] = "PATH=" SANDBOX_PATH,
		tmp[] = "TMPDIR=/tmp", lang[] = "LANG=C.UTF-8";
	snprintf(home, sizeof(home), "HOME=%s", sb->workspace);
	env[k++] = home;
	env[k++] = path;
	env[k++] = tmp;
	env[k++] = lang;
	for (char **e = sb->env; e && *e; e++)
		env[k++] = *e;
	env[k] = NULL;
	execve("/bin/sh", argv, env);
	dprintf(2, "cannot run /bin/sh: %s\n", strerror(errno));
	_exit(CDT_SANDBOX_EXIT_NOTRUN);
}

/* Output seen before the start mark is bwrap's own: kept for why. */
struct pre {
	char buf[4096];
	size_t len;
};

static void
pre_add(struct pre *p, const char *d, size_t n)
{
	size_t room = sizeof(p->buf) - 1 - p->len;
	if (n > room)
		n = room;
	memcpy(p->buf + p->len, d, n);
	p->len += n;
	p->buf[p->len] = 0;
}

/* The mechanism each limit of this run used. */
static void
limits_by(const struct cdt_sandbox *sb, const struct cdt_cg *cg,
	  struct cdt_sandbox_result *res)
{
	res->pids_by = !sb->pids ? "none" : *cg->dir[0] ?
		cg_name(0, cg->dir[0]) : nproc_mech(sb, res->pids_buf,
						    sizeof(res->pids_buf));
	res->memory_by = !sb->memory_bytes ? "none" : *cg->dir[1] ?
		cg_name(1, cg->dir[1]) : "RLIMIT_AS";
	res->cpus_by = !(sb->cpus > 0) ? "none" : *cg->dir[2] ?
		cg_name(2, cg->dir[2]) : "affinity";
}

/*
 * This run's cgroups, then (no pids cgroup, root, a uid) the idmapped
 * workspace in *tree, and its argv.  0, or a status (reported).
 */
static int
prepare(const struct cdt_sandbox *sb, const char *name, struct cdt_cg *cg,
	int *tree, char ***argv, char *const *cmd, int ncmd)
{
	int rc = 0;
	*tree = -1;
	cgs_make(sb, name, cg);
	if (!*cg->dir[0] && uid_fallback(sb) && (rc = idmap_tree(sb, tree)))
		return rc;
	*argv = build_argv(sb, *tree >= 0 ? WS_AT : sb->workspace, cmd,
			   ncmd);
	return 0;
}

int
cdt_sandbox_run(const struct cdt_sandbox *sb, char *const *cmd, int ncmd,
		const struct cdt_sandbox_io *io, struct cdt_sandbox_result *res)
{
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int mark[2] = { -1, -1 }, devnull = -1, tree = -1;
	char **argv = NULL;
	int rc = 0;
	pid_t pid = -1;
	struct pre pre = { .len = 0 };
	char *inbuf = NULL;
	size_t inlen = 0, inoff = 0;
	bool in_eof = false;
	int64_t t0 = now_ms();
	struct cdt_cg cg = { 0 };
	char name[64];

	memset(res, 0, sizeof(*res));
	if (sb->bwrap && (rc = cdt_sandbox_probe()))
		return rc;
	snprintf(name, sizeof(name), "cdt-exec-%ld", (long)getpid());
	if ((rc = prepare(sb, name, &cg, &tree, &argv, cmd, ncmd)))
		goto out;
	if (pipe2(mark, O_CLOEXEC) ||
	    (io->out && (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC))) ||
	    (io->in_mode == 2 && pipe2(inp, O_CLOEXEC))) {
		rc = cdt_err_errno(EX_OSERR, "cannot make a pipe");
		goto out;
	}
	if (io->in_mode == 0 &&
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		rc = cdt_err_errno(EX_OSERR, "cannot open /dev/null");
		goto out;
	}
	limits_by(sb, &cg, res);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = cdt_err_errno(EX_OSERR, "cannot fork");
		goto out;
	}
	if (pid == 0)
		child(sb, argv, io->in_mode == 0 ? devnull :
		      io->in_mode == 2 ? inp[0] : 0, io->out ? outp[1] : -1,
		      io->out ? errp[1] : -1, mark[1], &cg, tree);
	closefd(&tree);
	pid_t target = io->in_mode == 1 ? pid : -pid;
	if (io->in_mode != 1)
		setpgid(pid, pid);
	closefd(&mark[1]);
	closefd(&outp[1]);
	closefd(&errp[1]);
	closefd(&inp[0]);
	closefd(&devnull);
	if (inp[1] >= 0)
		fcntl(inp[1], F_SETFL, fcntl(inp[1], F_GETFL) | O_NONBLOCK);
	inbuf = io->in_mode == 2 ? cdt_xmalloc(65536) : NULL;

	char buf[65536];
	while (mark[0] >= 0 || outp[0] >= 0 || errp[0] >= 0) {
		struct pollfd pf[5];
		int np = 0, ix_mark = -1, ix_out = -1, ix_err = -1;
		int ix_in = -1, ix_pipe = -1;
		bool buffered = inp[1] >= 0 && inoff == inlen && !in_eof &&
			io->in_buffered && io->in_buffered(io->arg);
		struct pollfd rd = { -1, POLLIN, 0 };
		if (mark[0] >= 0) {
			rd.fd = mark[0];
			pf[ix_mark = np++] = rd;
		}
		if (outp[0] >= 0) {
			rd.fd = outp[0];
			pf[ix_out = np++] = rd;
		}
		if (errp[0] >= 0) {
			rd.fd = errp[0];
			pf[ix_err = np++] = rd;
		}
		if (inp[1] >= 0 && inoff < inlen)
			pf[ix_pipe = np++] = (struct pollfd){ inp[1], POLLOUT,
							      0 };
		else if (inp[1] >= 0 && !in_eof && !buffered)
			pf[ix_in = np++] = (struct pollfd){ io->in_fd, POLLIN,
							    0 };
		int wait = -1;
		if (sb->timeout_ms > 0) {
			int64_t left = t0 + sb->timeout_ms - now_ms();
			wait = left > 0 ? (int)left : 0;
		}
		if (buffered)
			wait = 0;
		int pr = poll(pf, (nfds_t)np, wait);
		if (pr < 0 && errno != EINTR) {
			rc = cdt_err_errno(EX_OSERR, "poll");
			break;
		}
		if (sb->timeout_ms > 0 && now_ms() - t0 >= sb->timeout_ms) {
			res->timed_out = true;
			kill(target, SIGKILL);
			break;
		}
		if (pr < 0)
			continue;
		if (ix_mark >= 0 && pf[ix_mark].revents) {
			ssize_t n = read(mark[0], buf, sizeof(buf));
			if (n > 0)
				res->started = true;
			if (n == 0 || (n < 0 && errno != EINTR))
				closefd(&mark[0]);
		}
		int ixs[2] = { ix_out, ix_err };
		int *fds[2] = { &outp[0], &errp[0] };
		for (int s = 0; s < 2 && !rc; s++) {
			if (ixs[s] < 0 || !pf[ixs[s]].revents)
				continue;
			ssize_t n = read(*fds[s], buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				closefd(fds[s]);
				continue;
			}
			if (!res->started)
				pre_add(&pre, buf, (size_t)n);
			else
				rc = io->out(io->arg, s + 1, buf, (size_t)n);
		}
		if (rc) {
			kill(target, SIGKILL);
			break;
		}
		if ((ix_in >= 0 && pf[ix_in].revents) || buffered) {
			ssize_t n = io->in_read(io->arg, inbuf, 65536);
			if (n <= 0) {
				in_eof = true;
				closefd(&inp[1]);
			} else {
				inlen = (size_t)n;
				inoff = 0;
			}
		}
		if (ix_pipe >= 0 && pf[ix_pipe].revents) {
			ssize_t n = write(inp[1], inbuf + inoff, inlen - inoff);
			if (n > 0) {
				inoff += (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* The command stopped reading: so do we. */
				in_eof = true;
				closefd(&inp[1]);
			}
		}
		if (in_eof)
			closefd(&inp[1]);
	}
	if (inp[1] >= 0)
		closefd(&inp[1]);

	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	res->duration_ms = now_ms() - t0;
	res->oom_killed = cg_oom(cg.dir[1]);
	if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
		res->code = 128 + res->signal;
	} else {
		res->code = WEXITSTATUS(status);
		if (sb->bwrap && res->code > 128 && res->code < 128 + 65)
			res->signal = res->code - 128;
	}
	if (res->timed_out) {
		res->signal = SIGKILL;
		res->code = 124;
	}
	/* The output before the mark, when the command ran, was its own. */
	if (res->started && pre.len && !rc)
		rc = io->out(io->arg, 2, pre.buf, pre.len);
	if (!res->started && !res->timed_out) {
		size_t l = pre.len;
		while (l && (pre.buf[l - 1] == '\n' || pre.buf[l - 1] == ' '))
			pre.buf[--l] = 0;
		const char *w = l ? pre.buf : "the sandbox did not start";
		size_t wl = strlen(w);
		if (wl >= sizeof(res->why))
			wl = sizeof(res->why) - 1;
		memcpy(res->why, w, wl);
		res->why[wl] = 0;
		if (!io->out && l)
			dprintf(2, "%s\n", pre.buf);
	}
out:
	cdt_sandbox_cg_remove(&cg);
	closefd(&tree);
	closefd(&mark[0]);
	closefd(&mark[1]);
	closefd(&outp[0]);
	closefd(&outp[1]);
	closefd(&errp[0]);
	closefd(&errp[1]);
	closefd(&inp[0]);
	closefd(&inp[1]);
	closefd(&devnull);
	free(inbuf);
	cdt_sandbox_argv_free(argv);
	return rc;
}

/* Field 22 of a stat file, or -1 (gone, zombie); async-signal-safe. */
static long long
stat_start(const char *path)
{
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *q = strrchr(buf, ')');
	if (!q || q[1] != ' ' || q[2] == 'Z' || q[2] == 'X')
		return -1;
	/* Field 3 is the state; field 22 is 19 spaces further on. */
	q += 2;
	for (int i = 0; i < 19 && q; i++)
		q = strchr(q + 1, ' ');
	if (!q)
		return -1;
	long long v = 0;
	for (q++; *q >= '0' && *q <= '9'; q++)
		v = v * 10 + (*q - '0');
	return v;
}

long long
cdt_sandbox_start_time(long pid)
{
	char p[64];
	if (pid <= 0)
		return -1;
	snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
	return stat_start(p);
}

/* Is /proc/PID/comm "bwrap"? */
static bool
is_bwrap(long pid)
{
	char p[64], comm[32];
	snprintf(p, sizeof(p), "/proc/%ld/comm", pid);
	FILE *f = fopen(p, "re");
	bool yes = f && fgets(comm, sizeof(comm), f) &&
		!strcmp(comm, BWRAP "\n");
	if (f)
		fclose(f);
	return yes;
}

/* The parent of pid (field 4 of its stat), or 0. */
static long
ppid_of(long pid)
{
	char p[64], buf[1024];
	snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *q = strrchr(buf, ')');
	long pp = 0;
	return q && sscanf(q + 1, " %*c %ld", &pp) == 1 ? pp : 0;
}

/* Does p's chain of parents reach pid? */
static bool
under(long p, long pid)
{
	for (int depth = 0; depth < 64 && p > 1 && p != pid; depth++)
		p = ppid_of(p);
	return p == pid;
}

/*
 * SIGTERM to pid's tree, bwrap left out: all processes whose chain of
 * parents reaches pid (the sandbox's, in the host's pid namespace).  A
 * descendant is signalled through a pidfd opened before its ancestry is
 * checked again, so a pid recycled meanwhile is never signalled.
 */
static void
term_tree(long pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (!is_bwrap(pid))
		kill((pid_t)pid, SIGTERM);
	while (d && (e = readdir(d))) {
		char *end;
		long p = strtol(e->d_name, &end, 10);
		if (*end || p <= 1 || p == pid || !under(p, pid))
			continue;
		int fd = (int)syscall(SYS_pidfd_open, (pid_t)p, 0);
		if (fd < 0)
			continue;
		if (under(p, pid) && !is_bwrap(p))
			syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0);
		close(fd);
	}
	if (d)
		closedir(d);
}

static bool
is_ours(long pid, long long start_time)
{
	return pid > 0 && start_time > 0 &&
		cdt_sandbox_start_time(pid) == start_time;
}

bool
cdt_sandbox_term(long pid, long long start_time)
{
	bool ours = is_ours(pid, start_time);
	if (ours)
		term_tree(pid);
	return ours;
}

int
cdt_sandbox_kill_termed(long pid, long long start_time, bool ours,
			int64_t grace_ms, struct cdt_cg *cg)
{
	if (ours && grace_ms > 0) {
		int64_t until = now_ms() + grace_ms;
		while (cdt_sandbox_start_time(pid) == start_time &&
		       now_ms() < until)
			usleep(10000);
	}
	if (ours) {
		kill(-(pid_t)pid, SIGKILL);
		kill((pid_t)pid, SIGKILL);
		for (int i = 0; i < 1000 &&
		     cdt_sandbox_start_time(pid) == start_time; i++)
			usleep(1000);
		cdt_sandbox_cg_remove(cg);
	} else {
		cdt_sandbox_cg_rmdir(cg);
	}
	return ours ? 0 : 1;
}

int
cdt_sandbox_kill(long pid, long long start_time, int64_t grace_ms,
		 struct cdt_cg *cg)
{
	bool ours = grace_ms > 0 ? cdt_sandbox_term(pid, start_time) :
		is_ours(pid, start_time);
	return cdt_sandbox_kill_termed(pid, start_time, ours, grace_ms, cg);
}

/* In the detached child: tell the parent "PID START", then run. */
static void
detached(const struct cdt_sandbox *sb, char **argv, pid_t first, int in,
	 int logfd, int mark, int idfd, const struct cdt_cg *cg, int tree)
{
	char v[64];
	/* bwrap's --die-with-parent must not bind it to the first child. */
	for (int i = 0; sb->bwrap && i < 20000 && getppid() == first; i++)
		usleep(100);
	setpgid(0, 0);
	int n = snprintf(v, sizeof(v), "%ld %lld\n", (long)getpid(),
			 stat_start("/proc/self/stat"));
	if (write(idfd, v, (size_t)n) != n)
		_exit(CDT_SANDBOX_EXIT_NOTRUN);
	close(idfd);
	child(sb, argv, in, logfd, logfd, mark, cg, tree);
}

/*
 * The log's writer (a detached process of its own, outside the sandbox):
 * what comes on fd 0 goes to the log on fd 1; past max bytes the log
 * becomes log.1 (replacing the one before) and a new log starts.  Ends
 * at end of input, when the sandbox has gone.  Async-signal-safe.
 */
static void
logger(const char *log, uint64_t max)
{
	char buf[65536], old[4200];
	struct stat st;
	snprintf(old, sizeof(old), "%s.1", log);
	uint64_t size = fstat(1, &st) ? 0 : (uint64_t)st.st_size;
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *q = buf; n > 0; ) {
			if (size >= max) {
				int fd;
				if (rename(log, old) || (fd = open(log,
				    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
				    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
					_exit(1);
				dup2(fd, 1);
				close(fd);
				size = 0;
			}
			size_t k = (size_t)n < max - size ? (size_t)n :
				(size_t)(max - size);
			ssize_t w = write(1, q, k);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(1);
			q += w;
			n -= w;
			size += (uint64_t)w;
		}
	}
	_exit(0);
}

/*
 * In the first child, with a log cap: start the logger on a pipe whose
 * writing end replaces *logfd; the logger keeps done open till it ends.
 */
static void
start_logger(const char *log, uint64_t max, int *logfd, int devnull,
	     int done)
{
	int lp[2];
	if (pipe2(lp, O_CLOEXEC))
		_exit(CDT_SANDBOX_EXIT_NOTRUN);
	pid_t l = fork();
	if (l < 0)
		_exit(CDT_SANDBOX_EXIT_NOTRUN);
	if (l == 0) {
		int keep = fcntl(done, F_DUPFD, 10);
		dup2(lp[0], 0);
		dup2(*logfd, 1);
		dup2(devnull, 2);
		dup2(keep, 3);
		close_range(4, ~0U, 0);
		logger(log, max);
	}
	close(lp[0]);
	close(*logfd);
	*logfd = lp[1];
}

int
cdt_sandbox_spawn(const struct cdt_sandbox *sb, char *const *cmd, int ncmd,
		  const char *log, uint64_t log_max, const char *name,
		  struct cdt_sandbox_proc *p)
{
	int mark[2] = { -1, -1 }, idp[2] = { -1, -1 }, done[2] = { -1, -1 };
	int logfd = -1, devnull = -1, rc = 0, tree = -1;
	char **argv = NULL, c = 0;
	struct stat st;

	memset(p, 0, sizeof(*p));
	if (sb->bwrap && (rc = cdt_sandbox_probe()))
		return rc;
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
		     O_NOFOLLOW, 0600);
	if (logfd < 0)
		return cdt_err_errno(EX_CANTCREAT, "cannot open the log '%s'",
				     log);
	off_t from = fstat(logfd, &st) ? 0 : st.st_size;
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 ||
	    pipe2(mark, O_CLOEXEC) || pipe2(idp, O_CLOEXEC) ||
	    pipe2(done, O_CLOEXEC)) {
		rc = cdt_err_errno(EX_OSERR, "cannot make a pipe");
		goto out;
	}
	if ((rc = prepare(sb, name, &p->cg, &tree, &argv, cmd, ncmd)))
		goto out;
	struct cdt_sandbox_result by = { .started = false };
	limits_by(sb, &p->cg, &by);
	p->pids_by = by.pids_by == by.pids_buf ? p->pids_buf : by.pids_by;
	memcpy(p->pids_buf, by.pids_buf, sizeof(p->pids_buf));
	p->memory_by = by.memory_by;
	p->cpus_by = by.cpus_by;
	fflush(NULL);
	pid_t c1 = fork();
	if (c1 < 0) {
		rc = cdt_err_errno(EX_OSERR, "cannot fork");
		goto out;
	}
	if (c1 == 0) {
		pid_t first = getpid();
		setsid();
		if (log_max)
			start_logger(log, log_max, &logfd, devnull, done[1]);
		close(done[1]);
		pid_t c2 = fork();
		if (c2 == 0)
			detached(sb, argv, first, devnull, logfd, mark[1],
				 idp[1], &p->cg, tree);
		_exit(c2 < 0 ? CDT_SANDBOX_EXIT_NOTRUN : 0);
	}
	closefd(&tree);
	closefd(&mark[1]);
	closefd(&idp[1]);
	closefd(&done[1]);
	int status;
	while (waitpid(c1, &status, 0) < 0 && errno == EINTR)
		;
	char line[64];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(idp[0], line + got, sizeof(line) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = 0;
	if (sscanf(line, "%ld %lld", &p->pid, &p->start_time) != 2) {
		rc = cdt_err(EX_OSERR, "cannot start a detached process");
		goto out;
	}
	/* The byte on the mark pipe: the sandbox is up; EOF: it failed. */
	struct pollfd pf = { mark[0], POLLIN, 0 };
	if (poll(&pf, 1, 30000) > 0 && read(mark[0], &c, 1) == 1)
		p->started = true;
out:
	if (!p->started && !rc) {
		/* bwrap's words pass through the logger: let it end first. */
		struct pollfd df = { done[0], POLLIN, 0 };
		while (done[0] >= 0 && poll(&df, 1, 5000) > 0 &&
		       read(done[0], &c, 1) > 0)
			;
		int fd = open(log, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : pread(fd, p->why,
						sizeof(p->why) - 1, from);
		if (fd >= 0)
			close(fd);
		p->why[n > 0 ? n : 0] = 0;
		size_t l = strlen(p->why);
		while (l && (p->why[l - 1] == '\n' || p->why[l - 1] == ' '))
			p->why[--l] = 0;
		if (!l)
			snprintf(p->why, sizeof(p->why), "the sandbox did not "
				 "start");
		cdt_sandbox_kill(p->pid, p->start_time, 0, &p->cg);
	} else if (rc) {
		cdt_sandbox_cg_remove(&p->cg);
	}
	closefd(&mark[0]);
	closefd(&mark[1]);
	closefd(&idp[0]);
	closefd(&idp[1]);
	closefd(&done[0]);
	closefd(&done[1]);
	closefd(&devnull);
	closefd(&logfd);
	closefd(&tree);
	cdt_sandbox_argv_free(argv);
	return rc;
}
