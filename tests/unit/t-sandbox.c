/*
 * Unit tests for lib/sandbox: the bwrap command line has the flags of
 * the security anchors §6 in the places that matter (no --share-net
 * unless network host; the workspace at /home/dev; --remount-ro / after
 * the binds; the clean environment; --cap-drop ALL; the sh wrapper and
 * the command last, unchanged), .git/hooks and .git/config are bound
 * read-only only when present, engine none has no bwrap at all; and runs
 * with engine none: status, 127, output through the callback, raw input
 * through the callbacks, the timeout.
 */
#include "compat.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "sandbox.h"
#include "tap.h"

static int
find(char **v, const char *s)
{
	for (int i = 0; v[i]; i++)
		if (!strcmp(v[i], s))
			return i;
	return -1;
}

static int
find3(char **v, const char *a, const char *b, const char *c)
{
	for (int i = 0; v[i] && v[i + 1] && v[i + 2]; i++)
		if (!strcmp(v[i], a) && !strcmp(v[i + 1], b) &&
		    !strcmp(v[i + 2], c))
			return i;
	return -1;
}

static int
count(char **v)
{
	int n = 0;
	while (v[n])
		n++;
	return n;
}

/* The callbacks share one arg: the output so far, and the input. */
struct feed {
	struct cdt_buf out;
	const char *data;
	size_t off, len;
};

static int
collect(void *arg, int stream, const char *d, size_t n)
{
	struct feed *f = arg;
	cdt_buf_addf(&f->out, "%d:", stream);
	return cdt_buf_add(&f->out, d, n);
}

static ssize_t
feed_read(void *arg, void *buf, size_t len)
{
	struct feed *f = arg;
	size_t n = f->len - f->off < len ? f->len - f->off : len;
	memcpy(buf, f->data + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

static bool
feed_buffered(void *arg)
{
	struct feed *f = arg;
	return f->off < f->len;
}

int
main(void)
{
	char tmpl[] = "/tmp/t-sandbox.XXXXXX";
	char *ws = mkdtemp(tmpl);
	ok(ws != NULL, "temp workspace");
	char *cmd[] = { (char[]){ "echo" }, (char[]){ "a b" }, NULL };
	char *env[] = { (char[]){ "FOO=bar=baz" }, NULL };
	struct cdt_sandbox sb = { .bwrap = true, .workspace = ws, .env = env };

	char **v = cdt_sandbox_argv(&sb, cmd, 2);
	int n = count(v);
	is_str(v[0], "bwrap", "bwrap first");
	ok(find(v, "--die-with-parent") > 0 && find(v, "--new-session") > 0,
	   "dies with parent, new session");
	ok(find(v, "--unshare-all") > 0 && find(v, "--share-net") < 0,
	   "all namespaces, no shared network by default");
	ok(find3(v, "--bind", ws, "/home/dev") > 0, "workspace at /home/dev");
	ok(find(v, "--remount-ro") > find3(v, "--bind", ws, "/home/dev"),
	   "--remount-ro / after the binds");
	ok(find(v, "--clearenv") > 0, "clean environment");
	ok(find3(v, "--setenv", "HOME", "/home/dev") > 0 &&
	   find3(v, "--setenv", "TMPDIR", "/tmp") > 0 &&
	   find3(v, "--setenv", "LANG", "C.UTF-8") > 0, "HOME TMPDIR LANG");
	ok(find3(v, "--setenv", "FOO", "bar=baz") > 0, "--env K=V split at "
	   "the first =");
	ok(find3(v, "--cap-drop", "ALL", "--") > 0, "--cap-drop ALL, then --");
	ok(find3(v, "--ro-bind", "/usr", "/usr") > 0, "/usr read-only");
	ok(find(v, "--tmpfs") > 0 && !strcmp(v[find(v, "--tmpfs") + 1], "/tmp"),
	   "a private /tmp");
	ok(find(v, ".git/hooks") < 0, "no .git binds without .git");
	is_str(v[n - 2], "echo", "the command after the wrapper");
	is_str(v[n - 1], "a b", "its argument unchanged");
	is_str(v[n - 3], "sh", "$0 of the wrapper");
	is_str(v[n - 5], "-c", "sh -c");
	cdt_sandbox_argv_free(v);

	sb.network = true;
	v = cdt_sandbox_argv(&sb, cmd, 2);
	ok(find(v, "--share-net") > 0, "network host shares the network");
	cdt_sandbox_argv_free(v);
	sb.network = false;

	char p[4200];
	snprintf(p, sizeof(p), "%s/.git", ws);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/.git/hooks", ws);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/.git/config", ws);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	close(fd);
	v = cdt_sandbox_argv(&sb, cmd, 2);
	snprintf(p, sizeof(p), "%s/.git/hooks", ws);
	ok(find3(v, "--ro-bind", p, "/home/dev/.git/hooks") > 0,
	   ".git/hooks read-only");
	snprintf(p, sizeof(p), "%s/.git/config", ws);
	ok(find3(v, "--ro-bind", p, "/home/dev/.git/config") > 0,
	   ".git/config read-only");
	ok(find(v, "--remount-ro") > find3(v, "--ro-bind", p,
					    "/home/dev/.git/config"),
	   "after the workspace bind");
	cdt_sandbox_argv_free(v);

	sb.bwrap = false;
	v = cdt_sandbox_argv(&sb, cmd, 2);
	is_str(v[0], "/bin/sh", "engine none: no bwrap");
	is_int(count(v), 6, "engine none: sh -c WRAPPER sh CMD ARG");
	cdt_sandbox_argv_free(v);

	struct feed out = { CDT_BUF_INIT, NULL, 0, 0 };
	struct cdt_sandbox_io io = { .in_mode = 0, .out = collect,
				     .arg = &out };
	struct cdt_sandbox_result res;
	char *c1[] = { (char[]){ "sh" }, (char[]){ "-c" },
		       (char[]){ "echo o; echo e >&2; echo $FOO; exit 7" } };
	is_int(cdt_sandbox_run(&sb, c1, 3, &io, &res), 0, "run");
	ok(res.started, "started");
	is_int(res.code, 7, "status 7");
	is_int(res.signal, 0, "no signal");
	ok(strstr(out.out.buf, "1:o\n") && strstr(out.out.buf, "2:e\n") &&
	   strstr(out.out.buf, "bar=baz"), "both streams and --env");
	cdt_buf_reset(&out.out);

	char *c2[] = { (char[]){ "no-such-command-here" } };
	is_int(cdt_sandbox_run(&sb, c2, 1, &io, &res), 0, "run missing");
	is_int(res.code, 127, "missing command is 127");
	ok(res.started, "the sandbox started");
	cdt_buf_reset(&out.out);

	char *c3[] = { (char[]){ "sh" }, (char[]){ "-c" },
		       (char[]){ "kill -TERM $$" } };
	cdt_sandbox_run(&sb, c3, 3, &io, &res);
	is_int(res.signal, 15, "SIGTERM seen");
	is_int(res.code, 143, "128+15");
	cdt_buf_reset(&out.out);

	char *c4[] = { (char[]){ "sleep" }, (char[]){ "5" } };
	sb.timeout_ms = 200;
	cdt_sandbox_run(&sb, c4, 2, &io, &res);
	ok(res.timed_out, "timed out");
	is_int(res.code, 124, "124");
	ok(res.duration_ms < 3000, "killed promptly (%lld ms)",
	   (long long)res.duration_ms);
	sb.timeout_ms = 0;

	static const char text[] = "line one\nline two\n";
	struct feed fin = { CDT_BUF_INIT, text, 0, sizeof(text) - 1 };
	int pp[2];
	ok(pipe(pp) == 0, "pipe for the end of input");
	close(pp[1]);
	struct cdt_sandbox_io io2 = { .in_mode = 2, .in_fd = pp[0],
				      .in_read = feed_read,
				      .in_buffered = feed_buffered,
				      .out = collect, .arg = &fin };
	char *c5[] = { (char[]){ "cat" } };
	is_int(cdt_sandbox_run(&sb, c5, 1, &io2, &res), 0, "cat with input");
	is_int(res.code, 0, "cat exits 0");
	ok(!strcmp(fin.out.buf, "1:line one\n1:line two\n") ||
	   !strcmp(fin.out.buf, "1:line one\nline two\n"),
	   "raw input reached the command");
	close(pp[0]);
	cdt_buf_release(&fin.out);

	cdt_buf_reset(&out.out);
	io.in_mode = 0;
	cdt_sandbox_run(&sb, c5, 1, &io, &res);
	is_int(res.code, 0, "cat of /dev/null");
	is_int((int)out.out.len, 0, "no output from /dev/null");

	cdt_buf_release(&out.out);

	/* Start times: ours, a zombie's (none), a missing pid's (none). */
	ok(cdt_sandbox_start_time((long)getpid()) > 0, "our start time");
	is_int((int)cdt_sandbox_start_time(0), -1, "pid 0: none");
	pid_t z = fork();
	if (z == 0)
		_exit(0);
	for (int i = 0; i < 2000 && cdt_sandbox_start_time(z) > 0; i++)
		usleep(1000);
	is_int((int)cdt_sandbox_start_time(z), -1, "a zombie has none");
	waitpid(z, NULL, 0);
	is_int((int)cdt_sandbox_start_time(z), -1, "a reaped pid has none");

	/* Detached (engine none): recorded, logged, killed by start time. */
	char log[300];
	snprintf(log, sizeof(log), "%s/d.log", ws);
	char *c6[] = { (char[]){ "sh" }, (char[]){ "-c" },
		       (char[]){ "echo up; exec sleep 300" } };
	struct cdt_sandbox_proc dp;
	struct cdt_sandbox none = { .bwrap = false, .workspace = ws };
	is_int(cdt_sandbox_spawn(&none, c6, 3, log, 0, "t-sandbox-detach", &dp),
	       0, "spawn");
	ok(dp.started, "the detached command started");
	is_int((int)(cdt_sandbox_start_time(dp.pid) == dp.start_time), 1,
	       "its recorded start time is its own");
	is_int((int)getpgid((pid_t)dp.pid), (int)dp.pid,
	       "it leads its own process group");
	ok(getsid((pid_t)dp.pid) != getsid(0), "in a session of its own");
	struct stat lst;
	for (int i = 0; i < 5000 && (stat(log, &lst) || !lst.st_size); i++)
		usleep(1000);	/* the start mark comes before the echo */
	struct cdt_cg none_cg;
	memset(&none_cg, 0, sizeof(none_cg));
	is_int(cdt_sandbox_kill(dp.pid, dp.start_time + 1, 0, &none_cg), 1,
	       "a different start time: not killed");
	ok(kill((pid_t)dp.pid, 0) == 0, "and it is still running");
	is_int(cdt_sandbox_kill(dp.pid, dp.start_time, 0, &dp.cg), 0,
	       "the recorded start time: killed");
	is_int((int)cdt_sandbox_start_time(dp.pid), -1, "and gone");
	char got[64] = "";
	int lfd = open(log, O_RDONLY);
	ssize_t ln = lfd >= 0 ? read(lfd, got, sizeof(got) - 1) : -1;
	got[ln > 0 ? ln : 0] = 0;
	if (lfd >= 0)
		close(lfd);
	is_str(got, "up\n", "its output is in the log");

	/* A TERM with a grace: the trap runs before anything is killed. */
	char *c7[] = { (char[]){ "sh" }, (char[]){ "-c" }, (char[]){
		"trap 'echo term; exit 0' TERM; echo up; "
		"while :; do sleep 0.1; done" } };
	unlink(log);
	is_int(cdt_sandbox_spawn(&none, c7, 3, log, 1 << 20, "t-sandbox-term",
				 &dp),
	       0, "spawn a TERM trap");
	for (int i = 0; i < 5000 && (stat(log, &lst) || !lst.st_size); i++)
		usleep(1000);
	is_int(cdt_sandbox_kill(dp.pid, dp.start_time, 5000, &dp.cg), 0,
	       "killed with a grace");
	lfd = open(log, O_RDONLY);
	ln = lfd >= 0 ? read(lfd, got, sizeof(got) - 1) : -1;
	got[ln > 0 ? ln : 0] = 0;
	if (lfd >= 0)
		close(lfd);
	/* sh may say "Terminated" of its sleep first. */
	ln = (ssize_t)strlen(got);
	ok(!strncmp(got, "up\n", 3) && ln >= 5 &&
	   !strcmp(got + ln - 5, "term\n"), "the trap got SIGTERM first");

	/* The mechanisms' names without cgroups. */
	struct cdt_sandbox fb = { .bwrap = true, .pids = 8, .no_cgroup = true,
				  .uid = 1900000007 };
	is_str(cdt_sandbox_pids_mech(&fb), geteuid() ? "RLIMIT_NPROC" :
	       "RLIMIT_NPROC (uid 1900000007)", "pids: RLIMIT_NPROC");
	is_str(cdt_sandbox_memory_mech(&fb), "RLIMIT_AS", "memory: RLIMIT_AS");
	is_str(cdt_sandbox_cpus_mech(&fb), "affinity", "cpus: affinity");
	fb.uid = 0;
	is_str(cdt_sandbox_pids_mech(&fb), geteuid() ? "RLIMIT_NPROC" :
	       "none (RLIMIT_NPROC does not bind root)", "no uid: none");
	ok(!stat(log, &lst) && (lst.st_mode & 0777) == 0600, "log 0600");
	unlink(log);
	snprintf(p, sizeof(p), "%s/.git/config", ws);
	unlink(p);
	snprintf(p, sizeof(p), "%s/.git/hooks", ws);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/.git", ws);
	rmdir(p);
	ok(rmdir(ws) == 0, "cleanup");
	done_testing();
}
