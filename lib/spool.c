#include "compat.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cfg.h"
#include "err.h"
#include "spool.h"

void
cdt_spool_init(struct cdt_spool *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->mem = jv_array();
	sp->limit = CDT_SPOOL_MEM;
	sp->fd = -1;
	sp->out = NULL;
}

void
cdt_spool_release(struct cdt_spool *sp)
{
	jv_free(sp->mem);
	sp->mem = jv_invalid();
	if (sp->reading)
		cdt_reader_release(&sp->rd);
	if (sp->out)
		fclose(sp->out);
	if (sp->fd >= 0)
		close(sp->fd);
	sp->out = NULL;
	sp->fd = -1;
}

bool
cdt_spool_on_disk(const struct cdt_spool *sp)
{
	return sp->fd >= 0;
}

static int
write_rec(struct cdt_spool *sp, jv rec)
{
	jv s = jv_dump_string(rec, 0);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(s));
	bool ok = fwrite(jv_string_value(s), 1, n, sp->out) == n &&
		putc('\n', sp->out) != EOF;
	jv_free(s);
	return ok ? 0 : cdt_err_errno(EX_IOERR, "cannot spool input to "
				      "'%s/tmp'", cdt_cfg_home());
}

/* Move what is in memory to an unlinked file in $CDT_HOME/tmp. */
static int
to_disk(struct cdt_spool *sp)
{
	char dir[4096];
	const char *home = cdt_cfg_home();
	snprintf(dir, sizeof(dir), "%s/tmp", home);
	if (mkdir(home, 0700) < 0 && errno != EEXIST)
		return cdt_err_errno(EX_CANTCREAT, "cannot create '%s'", home);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cdt_err_errno(EX_CANTCREAT, "cannot create '%s'", dir);
	sp->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (sp->fd < 0)
		return cdt_err_errno(EX_CANTCREAT, "cannot spool input to "
				     "'%s'", dir);
	int fd2 = dup(sp->fd);
	if (fd2 < 0 || !(sp->out = fdopen(fd2, "w")))
		return cdt_err_errno(EX_IOERR, "cannot spool input");
	jv mem = sp->mem;
	sp->mem = jv_array();
	int rc = 0;
	jv_array_foreach(mem, i, rec) {
		if (!rc)
			rc = write_rec(sp, rec);
		else
			jv_free(rec);
	}
	jv_free(mem);
	return rc;
}

int
cdt_spool_add(struct cdt_spool *sp, jv rec)
{
	sp->count++;
	if (sp->out)
		return write_rec(sp, rec);
	/* An estimate of its size is enough to decide when to spill. */
	jv s = jv_dump_string(jv_copy(rec), 0);
	sp->bytes += (size_t)jv_string_length_bytes(s);
	sp->mem = jv_array_append(sp->mem, rec);
	if (sp->bytes > sp->limit)
		return to_disk(sp);
	return 0;
}

int
cdt_spool_next(struct cdt_spool *sp, jv *rec)
{
	if (sp->fd < 0) {
		if (sp->next >= (size_t)jv_array_length(jv_copy(sp->mem)))
			return CDT_EOF;
		*rec = jv_array_get(jv_copy(sp->mem), (int)sp->next++);
		return 0;
	}
	if (!sp->reading) {
		if (fflush(sp->out) != 0)
			return cdt_err_errno(EX_IOERR, "cannot spool input");
		if (lseek(sp->fd, 0, SEEK_SET) < 0)
			return cdt_err_errno(EX_IOERR, "cannot read spool");
		cdt_reader_init(&sp->rd, sp->fd, CDT_INPUT_RECORDS);
		sp->reading = true;
	}
	return cdt_reader_next(&sp->rd, rec);
}

int
cdt_spool_rewind(struct cdt_spool *sp)
{
	sp->next = 0;
	if (sp->reading) {
		cdt_reader_release(&sp->rd);
		sp->reading = false;
	}
	return 0;
}
