/*
 * lock.h - the cdt lock: one holder at a time across processes, and a
 * holder that died is told apart from one that lives.
 *
 * A lock is a file beneath a directory.  Taking it is flock(LOCK_EX) on
 * that file; the new holder then writes one line into it: its pid, the
 * start time of its process (field 22 of /proc/PID/stat, in clock ticks
 * after boot, so a recycled pid is not mistaken for the holder), the time
 * it took the lock and its tool's name.  Letting go empties the file, then
 * drops the flock.  The kernel drops the flock of a process that dies, so
 * a lock is never left held; what a killed holder leaves is its line.
 * The next holder finds that line, sees the process is gone (or the pid
 * now belongs to a process of another start time) and reports it as
 * stale, so the caller can clear what the dead holder left half done
 * (libgit2's own *.lock files).  A line naming a live process never
 * counts as stale, even when its flock is free (a descriptor handed to a
 * child that lives on, another machine on a network file system): that
 * lock is busy.
 *
 * Busy after waiting up to wait_ms is EX_TEMPFAIL (75), reported naming
 * the holder.  The file is created 0600 when missing and never removed;
 * it is never followed when it is a symlink (77).  A process takes a
 * given lock once: flock locks belong to open files, so a second take of
 * the same file in the same process waits for the first, and a child
 * forked (without exec) while the lock is held holds it too.
 */
#ifndef CDT_LOCK_H
#define CDT_LOCK_H

#include "compat.h"
#include <sys/types.h>

struct cdt_lock_holder {
	pid_t pid;
	unsigned long long start;	/* ticks after boot; 0 unknown */
	int64_t since_ns;		/* CLOCK_REALTIME when taken */
	char tool[32];
};

struct cdt_lock {
	int fd;			/* -1 when not held */
	bool stale;		/* the last holder died holding it */
	struct cdt_lock_holder prev;	/* that holder, when stale */
};
#define CDT_LOCK_INIT { -1, false, { 0, 0, 0, "" } }

/*
 * Take the lock file name beneath dirfd, waiting up to wait_ms (0: try
 * once).  0 with lk held (lk->stale and lk->prev say whether a dead
 * holder's line was found); 75 busy; 77 the name is a symlink; 73/74 the
 * file cannot be made or read.  Each failure is reported once.
 */
int cdt_lock_take(struct cdt_lock *lk, int dirfd, const char *name,
		  int wait_ms);
/* Empty the file and let go; safe when not held, and twice. */
void cdt_lock_release(struct cdt_lock *lk);

/*
 * The holder line in the open lock file fd: 0 with *h, 1 when the file
 * is empty, -1 when it holds something else.
 */
int cdt_lock_read_holder(int fd, struct cdt_lock_holder *h);
/* The start time of process pid; false when there is no such process. */
bool cdt_lock_proc_start(pid_t pid, unsigned long long *start);
/* Is h a running process: the same pid with the same start time? */
bool cdt_lock_holder_alive(const struct cdt_lock_holder *h);

#include "banned.h"
#endif
