/*
 * spool.h - records a tool keeps while it reads its input to the end.
 *
 * Tools that act on a record stream read it whole before acting (DESIGN
 * §2).  A spool keeps the records they will act on in memory up to
 * CDT_SPOOL_MEM bytes, then moves them to an unlinked file under
 * $CDT_HOME/tmp, so a large stream costs disk, not memory.  Records come
 * back in the order they were added.
 */
#ifndef CDT_SPOOL_H
#define CDT_SPOOL_H

#include "compat.h"
#include <jv.h>
#include "record.h"

#define CDT_SPOOL_MEM ((size_t)16 << 20)

struct cdt_spool {
	jv mem;			/* array while in memory */
	size_t bytes;
	size_t count;
	size_t limit;		/* CDT_SPOOL_MEM unless changed (tests) */
	int fd;			/* -1 while in memory */
	FILE *out;
	bool reading;
	size_t next;
	struct cdt_reader rd;
};

void cdt_spool_init(struct cdt_spool *sp);
void cdt_spool_release(struct cdt_spool *sp);
/* Keep rec (consumed). */
int cdt_spool_add(struct cdt_spool *sp, jv rec);
/* The next kept record: 0 with *rec, CDT_EOF, or a status. */
int cdt_spool_next(struct cdt_spool *sp, jv *rec);
/* Start reading again from the first record. */
int cdt_spool_rewind(struct cdt_spool *sp);
/* Was it moved to disk? */
bool cdt_spool_on_disk(const struct cdt_spool *sp);

#include "banned.h"
#endif
