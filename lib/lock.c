#include "compat.h"
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "lock.h"

static int64_t
now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool
cdt_lock_proc_start(pid_t pid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses. */
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	p++;
	/* Fields 3 to 21 come before the start time. */
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return false;
		if (field == 22) {
			char *end = NULL;
			errno = 0;
			unsigned long long v = strtoull(p, &end, 10);
			if (errno || end == p)
				return false;
			*start = v;
			return true;
		}
		p += strcspn(p, " ");
	}
	return false;
}

bool
cdt_lock_holder_alive(const struct cdt_lock_holder *h)
{
	unsigned long long start;
	if (h->pid <= 0)
		return false;
	if (kill(h->pid, 0) < 0 && errno == ESRCH)
		return false;
	if (!cdt_lock_proc_start(h->pid, &start))
		return false;
	/* An unknown start time cannot prove the pid was recycled. */
	return h->start == 0 || start == h->start;
}

int
cdt_lock_read_holder(int fd, struct cdt_lock_holder *h)
{
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	memset(h, 0, sizeof(*h));
	if (n < 0)
		return -1;
	if (n == 0)
		return 1;
	buf[n] = '\0';
	long pid = 0;
	unsigned long long start = 0;
	long long since = 0;
	char tool[32] = "";
	int got = sscanf(buf, "%ld %llu %lld %31s", &pid, &start, &since,
			 tool);
	if (got < 3 || pid <= 0 || pid > INT32_MAX)
		return -1;
	h->pid = (pid_t)pid;
	h->start = start;
	h->since_ns = since;
	snprintf(h->tool, sizeof(h->tool), "%s", got == 4 ? tool : "");
	return 0;
}

static int
write_holder(int fd)
{
	char line[160];
	unsigned long long start = 0;
	cdt_lock_proc_start(getpid(), &start);
	int n = snprintf(line, sizeof(line), "%ld %llu %" PRId64 " %s\n",
			 (long)getpid(), start, now_ns(CLOCK_REALTIME),
			 *cdt_err_name() ? cdt_err_name() : "cdt");
	if (ftruncate(fd, 0) < 0 ||
	    pwrite(fd, line, (size_t)n, 0) != (ssize_t)n)
		return -1;
	return 0;
}

/* Is fd still the file called name in dirfd (nobody replaced it)? */
static bool
same_file(int dirfd, const char *name, int fd)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 &&
		fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int
busy(const char *name, const struct cdt_lock_holder *h, bool known)
{
	if (!known)
		return cdt_err_class(EX_TEMPFAIL, "conflict", "'%s' is locked "
				     "by another process", name);
	return cdt_err_class(EX_TEMPFAIL, "conflict", "'%s' is locked by "
			     "%s (pid %ld)", name,
			     *h->tool ? h->tool : "a cdt process",
			     (long)h->pid);
}

int
cdt_lock_take(struct cdt_lock *lk, int dirfd, const char *name,
	      int wait_ms)
{
	int64_t deadline = now_ns(CLOCK_MONOTONIC) +
		(int64_t)(wait_ms > 0 ? wait_ms : 0) * 1000000;
	long pause_us = 1000;
	struct cdt_lock_holder h;
	bool known = false;

	lk->fd = -1;
	lk->stale = false;
	memset(&lk->prev, 0, sizeof(lk->prev));
	for (;;) {
		int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC |
				O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd < 0) {
			if (errno == ELOOP)
				return cdt_err(EX_NOPERM, "refusing lock '%s': "
					       "a symlink", name);
			return cdt_err_errno(errno == ENOENT ||
					     errno == EACCES ? EX_CANTCREAT :
					     EX_IOERR, "cannot open lock '%s'",
					     name);
		}
		bool held = false;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (!same_file(dirfd, name, fd)) {
				close(fd);
				continue;	/* replaced: take the new */
			}
			int r = cdt_lock_read_holder(fd, &h);
			known = r == 0;
			if (r != 0 || h.pid == getpid() ||
			    !cdt_lock_holder_alive(&h))
				held = true;
			if (held && r == 0 && h.pid != getpid()) {
				lk->stale = true;
				lk->prev = h;
			}
		} else if (errno != EWOULDBLOCK && errno != EINTR) {
			int rc = cdt_err_errno(EX_IOERR, "cannot lock '%s'",
					       name);
			close(fd);
			return rc;
		} else {
			known = cdt_lock_read_holder(fd, &h) == 0;
		}
		if (held) {
			if (write_holder(fd) < 0) {
				int rc = cdt_err_errno(EX_IOERR, "cannot write "
						       "lock '%s'", name);
				close(fd);
				lk->stale = false;
				return rc;
			}
			lk->fd = fd;
			return 0;
		}
		close(fd);
		lk->stale = false;
		int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
		if (left <= 0)
			return busy(name, &h, known);
		if ((int64_t)pause_us * 1000 > left)
			pause_us = (long)(left / 1000) + 1;
		usleep((useconds_t)pause_us);
		if (pause_us < 50000)
			pause_us *= 2;
	}
}

void
cdt_lock_release(struct cdt_lock *lk)
{
	if (lk->fd < 0)
		return;
	/* Empty first: a holder that is gone must leave no line. */
	if (ftruncate(lk->fd, 0) < 0)
		cdt_err_errno(EX_IOERR, "cannot clear lock");
	close(lk->fd);
	lk->fd = -1;
}
