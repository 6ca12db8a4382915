/*
 * Unit tests for lib/lock: a held lock is busy (75) for another process,
 * naming the holder; letting go empties the file; a holder killed with
 * SIGKILL leaves its line, which the next taker reports as stale with
 * the dead pid; a line naming a live process is never stale (busy even
 * with its flock free); a live pid with another start time is a
 * recycled pid, so stale; waiting takes the lock once it is let go;
 * a symlink as the lock file is 77; the start time of this process
 * agrees with /proc.
 */
#include "compat.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "lock.h"
#include "tap.h"

static char dir[4096];
static int dirfd_;

static int
take_in_child(int wait_ms)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct cdt_lock lk = CDT_LOCK_INIT;
		cdt_err_quiet(true);
		int rc = cdt_lock_take(&lk, dirfd_, "t.lock", wait_ms);
		cdt_lock_release(&lk);
		_exit(rc);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
write_line(const char *line)
{
	int fd = openat(dirfd_, "t.lock", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, line, strlen(line)) < 0)
			perror("write");
		close(fd);
	}
}

static size_t
file_size(void)
{
	struct stat st;
	return fstatat(dirfd_, "t.lock", &st, 0) == 0 ? (size_t)st.st_size :
		(size_t)-1;
}

static pid_t
sleeper(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

int
main(void)
{
	struct cdt_lock lk = CDT_LOCK_INIT;
	struct cdt_lock_holder h;
	unsigned long long start = 0;
	char line[256];

	snprintf(dir, sizeof(dir), "%s/cdt-t-lock.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	dirfd_ = open(dir, O_PATH | O_DIRECTORY);
	cdt_err_setname("t-lock");

	ok(cdt_lock_proc_start(getpid(), &start) && start > 0,
	   "start time of this process");
	unsigned long long again = 0;
	ok(cdt_lock_proc_start(getpid(), &again) && again == start,
	   "the same twice");
	ok(!cdt_lock_proc_start(0x7ffffff0, &again), "no such process");

	is_int(cdt_lock_take(&lk, dirfd_, "t.lock", 0), 0, "take");
	ok(lk.fd >= 0 && !lk.stale, "held, not stale");
	is_int(cdt_lock_read_holder(lk.fd, &h), 0, "holder line written");
	is_int(h.pid, getpid(), "holder pid");
	ok(h.start == start, "holder start time");
	is_str(h.tool, "t-lock", "holder tool");
	ok(cdt_lock_holder_alive(&h), "the holder lives");
	is_int(take_in_child(0), EX_TEMPFAIL, "busy for another process");
	is_int(take_in_child(150), EX_TEMPFAIL, "busy after waiting");
	cdt_lock_release(&lk);
	is_int(lk.fd, -1, "released");
	is_int((int)file_size(), 0, "letting go empties the file");
	cdt_lock_release(&lk);
	ok(1, "release twice is safe");
	is_int(take_in_child(0), 0, "free for another process");

	/* A holder that lets go while another waits: the waiter gets it. */
	is_int(cdt_lock_take(&lk, dirfd_, "t.lock", 0), 0, "take again");
	pid_t w = fork();
	if (w == 0) {
		struct cdt_lock l2 = CDT_LOCK_INIT;
		/* A forked copy of the holder's file would hold it too. */
		close(lk.fd);
		int rc = cdt_lock_take(&l2, dirfd_, "t.lock", 5000);
		cdt_lock_release(&l2);
		_exit(rc);
	}
	usleep(100000);
	cdt_lock_release(&lk);
	int st;
	waitpid(w, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a waiter takes it when "
	   "it is let go");

	/* Killed while holding: its line stays, the next taker sees it. */
	pid_t k = fork();
	if (k == 0) {
		struct cdt_lock l2 = CDT_LOCK_INIT;
		if (cdt_lock_take(&l2, dirfd_, "t.lock", 0))
			_exit(1);
		pause();
		_exit(0);
	}
	for (int i = 0; i < 200 && file_size() == 0; i++)
		usleep(10000);
	kill(k, SIGKILL);
	waitpid(k, &st, 0);
	ok(file_size() > 0, "a killed holder leaves its line");
	is_int(cdt_lock_take(&lk, dirfd_, "t.lock", 0), 0,
	       "taken after the holder died");
	ok(lk.stale, "reported stale");
	is_int(lk.prev.pid, k, "with the dead holder's pid");
	ok(lk.prev.since_ns > 0, "and when it took the lock");
	cdt_lock_release(&lk);

	/* A live process's line with no flock: busy, never cleared. */
	pid_t s = sleeper();
	unsigned long long sst = 0;
	for (int i = 0; i < 100 && !cdt_lock_proc_start(s, &sst); i++)
		usleep(1000);
	snprintf(line, sizeof(line), "%ld %llu 1 other\n", (long)s, sst);
	write_line(line);
	cdt_err_quiet(true);
	is_int(cdt_lock_take(&lk, dirfd_, "t.lock", 0), EX_TEMPFAIL,
	       "a live holder's line is busy");
	cdt_err_quiet(false);
	is_int((int)file_size(), (int)strlen(line), "its line is kept");
	/* The same pid with another start time: recycled, so stale. */
	snprintf(line, sizeof(line), "%ld %llu 1 other\n", (long)s, sst + 7);
	write_line(line);
	is_int(cdt_lock_take(&lk, dirfd_, "t.lock", 0), 0,
	       "a recycled pid is not the holder");
	ok(lk.stale && lk.prev.pid == s, "reported stale");
	cdt_lock_release(&lk);
	kill(s, SIGKILL);
	waitpid(s, &st, 0);

	/* Garbage in the file: taken, not stale (nothing known to clear). */
	write_line("not a holder line\n");
	is_int(cdt_lock_take(&lk, dirfd_, "t.lock", 0), 0, "garbage: taken");
	ok(!lk.stale, "garbage is not a stale holder");
	cdt_lock_release(&lk);

	/* A symlink is never followed. */
	if (symlinkat("t.lock", dirfd_, "link.lock") < 0)
		perror("symlink");
	cdt_err_quiet(true);
	is_int(cdt_lock_take(&lk, dirfd_, "link.lock", 0), EX_NOPERM,
	       "a symlink as the lock is 77");
	cdt_err_quiet(false);
	ok(lk.fd == -1, "and nothing is held");

	/* Parsing. */
	int fd = openat(dirfd_, "p.lock", O_RDWR | O_CREAT, 0600);
	is_int(cdt_lock_read_holder(fd, &h), 1, "empty file");
	if (write(fd, "12 34 56\n", 9) != 9)
		perror("write");
	is_int(cdt_lock_read_holder(fd, &h), 0, "line without a tool");
	ok(h.pid == 12 && h.start == 34 && h.since_ns == 56 && !*h.tool,
	   "fields read");
	close(fd);

	unlinkat(dirfd_, "t.lock", 0);
	unlinkat(dirfd_, "link.lock", 0);
	unlinkat(dirfd_, "p.lock", 0);
	close(dirfd_);
	rmdir(dir);
	return done_testing();
}
