/*
 * sandbox.h - run one command in a fresh bubblewrap sandbox.
 *
 * The bwrap command line is the tested one of the security anchors §6:
 * the system read-only (/usr and a few files of /etc), the workspace
 * read-write at /home/dev, a private /tmp, new user, pid, ipc, uts, net
 * and cgroup namespaces (net shared only with network host), no
 * capabilities, a new terminal session, dying with its parent, and a
 * clean environment (HOME, PATH, LANG, TMPDIR and the extra K=V).  An
 * existing .git/hooks and .git/config are bound read-only over
 * themselves.  Engine "none" runs the command directly in the workspace
 * with the same clean environment: an explicit opt-out.
 *
 * The command runs under /bin/sh -c 'exec "$@"', which first writes one
 * byte to a private pipe: a run that never wrote it never started (the
 * sandbox failed: 125), and a missing or non-executable command is 127 or
 * 126 as in env(1).  Limits are set in the child before bwrap starts:
 * RLIMIT_AS (memory), RLIMIT_NPROC (pids; as root, with bwrap run as an
 * unprivileged uid, see cdt_sandbox_pids_mech),
 * RLIMIT_FSIZE (disk, per file), RLIMIT_CORE 0, and CPU affinity.  The
 * timeout kills bwrap's process group; --die-with-parent takes the
 * sandbox's pid namespace down with it.  Under bwrap a command killed by
 * signal N comes back as status 128+N (bwrap's rule) and is reported as
 * that signal.
 *
 * Nothing here writes stdout: output goes to the out callback, or to the
 * inherited fds 1 and 2 when there is none.
 */
#ifndef CDT_SANDBOX_H
#define CDT_SANDBOX_H

#include "compat.h"
#include <sys/types.h>

#define CDT_SANDBOX_EXIT_NOTRUN 125

struct cdt_sandbox {
	bool bwrap;		/* false: engine none */
	bool network;		/* share the host's network */
	const char *workspace;	/* host directory, at /home/dev */
	uint64_t memory_bytes;	/* 0: no limit */
	uint64_t disk_bytes;	/* 0: no limit */
	int64_t pids;		/* 0: no limit */
	double cpus;		/* 0: no limit */
	char **env;		/* extra "K=V", NULL-ended; may be NULL */
	int64_t timeout_ms;	/* 0: none */
	bool no_cgroup;		/* sandbox.cgroup none: the fallbacks only */
	unsigned uid;		/* root without a pids cgroup: bwrap's uid */
};

/*
 * The cgroups of one run, by limit: pids, memory, cpu ("" when that
 * limit has none).  Under cgroup v2 the three may be one directory.
 */
#define CDT_SANDBOX_NCG 3
struct cdt_cg {
	char dir[CDT_SANDBOX_NCG][1100];
};

/* Input: a fd to poll, a read, and whether bytes are buffered already. */
struct cdt_sandbox_io {
	int in_mode;		/* 0 /dev/null, 1 inherit fd 0, 2 in_read */
	int in_fd;
	ssize_t (*in_read)(void *arg, void *buf, size_t len);
	bool (*in_buffered)(void *arg);
	/* stream 1 stdout, 2 stderr; NULL: inherit fds 1 and 2. */
	int (*out)(void *arg, int stream, const char *data, size_t len);
	void *arg;
};

struct cdt_sandbox_result {
	bool started;		/* the command was reached */
	int code;		/* exit code (128+N after signal N) */
	int signal;		/* 0 if none */
	bool timed_out;
	bool oom_killed;	/* the memory cgroup killed something */
	const char *pids_by;	/* the mechanism this run used */
	const char *memory_by;
	const char *cpus_by;
	char pids_buf[64];	/* pids_by, when it names a uid */
	int64_t duration_ms;
	char why[256];		/* when !started: bwrap's words */
};

/*
 * The mechanism that enforces each limit here, for the session record's
 * enforced_by.  A controller delegated to our cgroup v2 directory (named
 * in its cgroup.subtree_control, the directory writable) comes first:
 * "cgroup v2 pids.max", "cgroup v2 memory.max", "cgroup v2 cpu.max".
 * Else the v1 hierarchy where this process may make a child cgroup (a
 * root CI machine): "cgroup v1 pids.max", "cgroup v1
 * memory.limit_in_bytes", "cgroup v1 cpu.cfs_quota_us".  Else (or
 * always, with sb->no_cgroup) the fallbacks: "RLIMIT_AS", "affinity"
 * (sched_setaffinity to N CPUs, rounded up) and "RLIMIT_NPROC".  As
 * root RLIMIT_NPROC binds nothing, so under bwrap with sb->uid the
 * sandbox is started as that unprivileged uid ("RLIMIT_NPROC (uid N)"):
 * the workspace reaches it through an idmapped mount (uid 0 on disk is
 * uid N through it, so files written inside stay root's on the host).
 * Without a uid, or under engine none: "none (RLIMIT_NPROC does not
 * bind root)".  A run makes fresh child cgroups, removed after; a limit
 * whose cgroup cannot be made falls back for that run.  The strings
 * live until the next call.
 */
const char *cdt_sandbox_pids_mech(const struct cdt_sandbox *sb);
const char *cdt_sandbox_memory_mech(const struct cdt_sandbox *sb);
const char *cdt_sandbox_cpus_mech(const struct cdt_sandbox *sb);

/* Is bwrap installed and able to start here?  0, or 69 (reported). */
int cdt_sandbox_probe(void);
/*
 * The argv for the command (NULL-ended, freed with cdt_sandbox_argv_free)
 * including the /bin/sh wrapper; for bwrap, bwrap's own options first.
 */
char **cdt_sandbox_argv(const struct cdt_sandbox *sb, char *const *cmd,
			int ncmd);
void cdt_sandbox_argv_free(char **argv);
/*
 * Run the command.  0 with *res filled (whether or not it started), or
 * a status when we could not even fork (reported).  A status from the
 * out callback stops the run (the process group is killed) and is
 * returned.
 */
int cdt_sandbox_run(const struct cdt_sandbox *sb, char *const *cmd,
		    int ncmd, const struct cdt_sandbox_io *io,
		    struct cdt_sandbox_result *res);

/* A process started by cdt_sandbox_spawn. */
struct cdt_sandbox_proc {
	long pid;		/* bwrap's (its own process group), or sh's */
	long long start_time;	/* /proc/PID/stat field 22 */
	bool started;		/* the command was reached */
	char why[256];		/* when !started: the log's words */
	struct cdt_cg cg;	/* kept until cdt_sandbox_kill */
	const char *pids_by, *memory_by, *cpus_by;
	char pids_buf[64];	/* pids_by, when it names a uid */
};

/*
 * Start the command detached: in a session of its own (setsid, then a
 * second fork, so it is nobody's child here), standard input /dev/null,
 * its output appended to the file log (made 0600), its cgroups named
 * name (unique: they outlive this process).  With log_max (bytes), the
 * output goes through a writer process of its own (outside the sandbox,
 * ending with it) that keeps the log under log_max: past it the log
 * becomes log.1, replacing the one before, and a new log starts.  Under bwrap the second
 * child waits until the first has gone before it starts bwrap, so
 * --die-with-parent binds bwrap to the process that adopted it and the
 * sandbox's pid namespace to bwrap: killing bwrap ends the sandbox.
 * Waits only until the sandbox is up (or failed: started false, why
 * from the log, the cgroups removed).  0, or a status (reported).
 */
int cdt_sandbox_spawn(const struct cdt_sandbox *sb, char *const *cmd,
		      int ncmd, const char *log, uint64_t log_max,
		      const char *name, struct cdt_sandbox_proc *p);

/*
 * A process's start time (field 22 of /proc/PID/stat, clock ticks since
 * boot), or -1 when there is no such process or it is a zombie.
 */
long long cdt_sandbox_start_time(long pid);

/*
 * Kill a recorded process and its sandbox: only when pid still has
 * start_time (a recycled pid is never signalled).  With grace_ms, first
 * SIGTERM (cdt_sandbox_term) and up to grace_ms for pid to go; then
 * SIGKILL to its process group and to it, waiting up to a second for it
 * to go; then the cgroups in cg are emptied (SIGKILL to what is left in
 * them) and removed.  When the start time differs nothing is signalled
 * at all and the cgroups are only removed if empty.  0 killed, 1 it was
 * gone.
 */
int cdt_sandbox_kill(long pid, long long start_time, int64_t grace_ms,
		     struct cdt_cg *cg);
/*
 * SIGTERM to a recorded process's command when pid still has start_time
 * (then true): every descendant of pid (and pid itself) that is not
 * bwrap, as bwrap would turn a SIGTERM of its own into a SIGKILL of the
 * sandbox.  Many processes share one grace period this way: TERM them
 * all, then cdt_sandbox_kill_termed each with what is left of it and
 * what cdt_sandbox_term said (the command may be gone by then while its
 * process group is not).
 */
bool cdt_sandbox_term(long pid, long long start_time);
int cdt_sandbox_kill_termed(long pid, long long start_time, bool ours,
			    int64_t grace_ms, struct cdt_cg *cg);

/* Remove the cgroups in cg that are empty; "" entries are skipped. */
void cdt_sandbox_cg_rmdir(struct cdt_cg *cg);
/* Empty (SIGKILL) and remove the cgroups in cg; "" entries are skipped. */
void cdt_sandbox_cg_remove(struct cdt_cg *cg);

#include "banned.h"
#endif
