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
 * RLIMIT_AS (memory), RLIMIT_NPROC (pids; it does not bind root),
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
	int64_t duration_ms;
	char why[256];		/* when !started: bwrap's words */
};

/*
 * The mechanism that enforces the process and memory limits here, for
 * the session record's enforced_by: "cgroup v1 pids.max" and "cgroup v1
 * memory.limit_in_bytes" where this process may make a child cgroup in
 * the v1 hierarchy (a root CI machine), else "rlimit_nproc" (or "none
 * (RLIMIT_NPROC does not bind root)") and "rlimit_as".  A run uses a
 * fresh child cgroup per exec, removed after; it falls back to the
 * rlimit when the cgroup cannot be made.
 */
const char *cdt_sandbox_pids_mech(void);
const char *cdt_sandbox_memory_mech(void);

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

#include "banned.h"
#endif
