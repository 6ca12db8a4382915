#include "compat.h"
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "record.h"

#define CHUNK (64 * 1024)

void
cdt_reader_init(struct cdt_reader *rd, int fd, enum cdt_input_mode mode)
{
	memset(rd, 0, sizeof(*rd));
	rd->fd = fd;
	rd->mode = mode;
	rd->kind = mode == CDT_INPUT_NONE ? CDT_IN_EMPTY : CDT_IN_UNDECIDED;
	rd->parser = NULL;
	rd->chunk = NULL;
	cdt_buf_init(&rd->peek, CDT_RECORD_MAX + CHUNK);
	rd->first = jv_invalid();
	rd->max = CDT_RECORD_MAX;
}

void
cdt_reader_release(struct cdt_reader *rd)
{
	if (rd->parser)
		jv_parser_free(rd->parser);
	rd->parser = NULL;
	free(rd->chunk);
	rd->chunk = NULL;
	free(rd->seed);
	rd->seed = NULL;
	cdt_buf_release(&rd->peek);
	jv_free(rd->first);
	rd->first = jv_invalid();
}

bool
cdt_record_type_valid(const char *t)
{
	if (!t || !(*t >= 'a' && *t <= 'z'))
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_'))
			return false;
	return strlen(t) <= 64;
}

const char *
cdt_record_type(jv rec)
{
	if (jv_get_kind(rec) != JV_KIND_OBJECT)
		return NULL;
	jv t = jv_object_get(jv_copy(rec), jv_string("type"));
	const char *s = NULL;
	/* The string lives in rec, which holds a reference to it. */
	if (jv_get_kind(t) == JV_KIND_STRING)
		s = jv_string_value(t);
	jv_free(t);
	return s;
}

bool
cdt_record_is(jv rec, const char *type)
{
	const char *t = cdt_record_type(rec);
	return t && !strcmp(t, type);
}

jv
cdt_record_new(const char *type)
{
	return jv_object_set(jv_object(), jv_string("type"), jv_string(type));
}

const char *
cdt_record_str(jv rec, const char *key)
{
	if (jv_get_kind(rec) != JV_KIND_OBJECT)
		return NULL;
	jv v = jv_object_get(jv_copy(rec), jv_string(key));
	const char *s = NULL;
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v);
	jv_free(v);
	return s;
}

void
cdt_now_rfc3339(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Read up to len bytes from the fd, retrying on EINTR. */
static ssize_t
read_fd(struct cdt_reader *rd, void *buf, size_t len)
{
	if (rd->eof)
		return 0;
	for (;;) {
		ssize_t n = read(rd->fd, buf, len);
		if (n >= 0) {
			if (n == 0)
				rd->eof = true;
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EBADF) {	/* a closed stdin reads as empty */
			rd->eof = true;
			return 0;
		}
		cdt_err_errno(EX_IOERR, "cannot read standard input");
		return -1;
	}
}

/*
 * Turn libjq's "MSG at line N, column C" into our form.  The parser's
 * message names the position; we keep its words.
 */
static int
parse_error(jv msg)
{
	const char *m = jv_string_value(msg);
	const char *at = strstr(m, " at line ");
	int line = 0, col = -1;
	int rc;
	/*
	 * libjq counts the newline that ended a bad token before it
	 * reports: "line N+1, column 0" means the end of line N.
	 */
	if (at && sscanf(at, " at line %d, column %d", &line, &col) == 2 &&
	    col == 0 && line > 1)
		rc = cdt_err_class(EX_DATAERR, "bad_record",
				   "bad record at the end of line %d: %.*s",
				   line - 1, (int)(at - m), m);
	else if (at)
		rc = cdt_err_class(EX_DATAERR, "bad_record",
				   "bad record at%s: %.*s", at + 3,
				   (int)(at - m), m);
	else
		rc = cdt_err_class(EX_DATAERR, "bad_record",
				   "bad record: %s", m);
	jv_free(msg);
	return rc;
}

static int
check_record(struct cdt_reader *rd, jv v)
{
	if (jv_get_kind(v) != JV_KIND_OBJECT ||
	    !cdt_record_type_valid(cdt_record_type(v))) {
		long n = rd->nrecords + 1;
		jv_free(v);
		return cdt_err_class(EX_DATAERR, "bad_record",
			"bad record %ld: not an object with a \"type\"", n);
	}
	jv_free(v);
	return 0;
}

/*
 * Pull the next value out of the parser, feeding it from the fd (or from
 * `extra`, when deciding) as needed.  Returns 0 with *out, CDT_EOF, or a
 * status.  When `keep` is set, every byte read is appended to rd->peek.
 */
static int
next_value(struct cdt_reader *rd, jv *out, bool keep)
{
	if (!rd->parser) {
		rd->parser = jv_parser_new(0);
		rd->chunk = cdt_xmalloc(CHUNK);
		rd->chunk_cap = CHUNK;
	}
	for (;;) {
		jv v = jv_parser_next(rd->parser);
		if (jv_is_valid(v)) {
			rd->pending = 0;
			*out = v;
			return 0;
		}
		if (jv_invalid_has_msg(jv_copy(v)))
			return parse_error(jv_invalid_get_msg(v));
		jv_free(v);
		/*
		 * libjq stops at an RS byte (0x1e) with input left; feeding it
		 * more then trips an assertion.  Let it finish what it has.
		 */
		if (jv_parser_remaining(rd->parser) > 0)
			continue;
		if (rd->parser_done)
			return CDT_EOF;
		if (rd->pending > rd->max)
			return cdt_err_class(EX_DATAERR, "bad_record",
				"bad record %ld: over the %zu MiB cap",
				rd->nrecords + 1, rd->max >> 20);
		ssize_t n = read_fd(rd, rd->chunk, rd->chunk_cap);
		if (n < 0)
			return EX_IOERR;
		if (keep && n > 0 && cdt_buf_add(&rd->peek, rd->chunk,
						 (size_t)n))
			keep = false;	/* too big to be a first record */
		rd->pending += (size_t)n;
		if (n == 0)
			rd->parser_done = true;
		jv_parser_set_buf(rd->parser, rd->chunk, (size_t)n,
				  n != 0);
	}
}

static int
decide(struct cdt_reader *rd, enum cdt_input_kind *kind)
{
	if (rd->kind != CDT_IN_UNDECIDED) {
		*kind = rd->kind;
		return 0;
	}
	if (rd->mode == CDT_INPUT_RAW) {
		*kind = rd->kind = CDT_IN_RAW;
		return 0;
	}
	/* Look at the first byte that is not white space. */
	int c = -1;
	size_t i = 0;
	while (!rd->eof) {
		char tmp[4096];
		ssize_t n = read_fd(rd, tmp, sizeof(tmp));
		if (n < 0)
			return EX_IOERR;
		if (n > 0 && cdt_buf_add(&rd->peek, tmp, (size_t)n))
			return cdt_err(EX_DATAERR, "input too large");
		while (i < rd->peek.len &&
		       memchr(" \t\r\n", rd->peek.buf[i], 4))
			i++;
		if (i < rd->peek.len) {
			c = (unsigned char)rd->peek.buf[i];
			break;
		}
	}
	if (c == -1) {
		/* Nothing but white space: no records; raw reads replay it. */
		*kind = rd->kind = CDT_IN_EMPTY;
		return 0;
	}
	if (c != '{' && rd->mode != CDT_INPUT_RECORDS) {
		*kind = rd->kind = CDT_IN_RAW;
		return 0;
	}
	/* Parse the first value from what we have, reading more as needed. */
	rd->parser = jv_parser_new(0);
	rd->chunk = cdt_xmalloc(CHUNK);
	rd->chunk_cap = CHUNK;
	/* The parser keeps a pointer into the buffer: give it a copy. */
	rd->seed = cdt_xmalloc(rd->peek.len);
	memcpy(rd->seed, rd->peek.buf, rd->peek.len);
	jv_parser_set_buf(rd->parser, rd->seed, rd->peek.len, !rd->eof);
	rd->pending = rd->peek.len;
	if (rd->eof)
		rd->parser_done = true;
	jv v = jv_invalid();
	/* Text that merely begins with '{' is raw input, not an error. */
	if (rd->mode != CDT_INPUT_RECORDS)
		cdt_err_quiet(true);
	int rc = next_value(rd, &v, true);
	if (rd->mode != CDT_INPUT_RECORDS)
		cdt_err_quiet(false);
	if (rc > 0 && rd->mode != CDT_INPUT_RECORDS && rc != EX_DATAERR)
		return rc;
	bool is_record = rc == 0 && jv_get_kind(v) == JV_KIND_OBJECT &&
		cdt_record_type_valid(cdt_record_type(v));
	if (rd->mode == CDT_INPUT_RECORDS) {
		if (rc == CDT_EOF) {
			*kind = rd->kind = CDT_IN_EMPTY;
			return 0;
		}
		if (rc)
			return rc;
		if (!is_record)
			return check_record(rd, v);
	} else if (!is_record) {
		if (rc > 0)
			cdt_err_clear();	/* text that begins with '{' */
		jv_free(v);
		/* Everything read so far is in peek; the rest is on the fd. */
		jv_parser_free(rd->parser);
		rd->parser = NULL;
		if (rd->peek.len > rd->max)
			return cdt_err_class(EX_DATAERR, "bad_record",
				"bad record 1: over the %zu MiB cap (text "
				"that begins with '{'? use --input raw)",
				rd->max >> 20);
		*kind = rd->kind = CDT_IN_RAW;
		return 0;
	}
	cdt_buf_release(&rd->peek);
	rd->first = v;
	*kind = rd->kind = CDT_IN_RECORDS;
	return 0;
}

int
cdt_reader_kind(struct cdt_reader *rd, enum cdt_input_kind *kind)
{
	/* A failed decision stays failed: reported once, never redone. */
	if (rd->failed)
		return rd->failed;
	int rc = decide(rd, kind);
	if (rc)
		rd->failed = rc;
	return rc;
}

int
cdt_reader_next(struct cdt_reader *rd, jv *rec)
{
	enum cdt_input_kind kind;
	int rc = cdt_reader_kind(rd, &kind);
	if (rc)
		return rc;
	if (kind != CDT_IN_RECORDS)
		return CDT_EOF;
	if (jv_is_valid(rd->first)) {
		*rec = rd->first;
		rd->first = jv_invalid();
		rd->nrecords++;
		return 0;
	}
	jv v = jv_invalid();
	rc = next_value(rd, &v, false);
	if (rc)
		return rc;
	rc = check_record(rd, jv_copy(v));
	if (rc) {
		jv_free(v);
		return rc;
	}
	rd->nrecords++;
	*rec = v;
	return 0;
}

ssize_t
cdt_reader_raw(struct cdt_reader *rd, void *buf, size_t len)
{
	enum cdt_input_kind kind;
	if (cdt_reader_kind(rd, &kind))
		return -1;
	if (kind == CDT_IN_RECORDS)
		return 0;
	if (rd->peek_off < rd->peek.len) {
		size_t n = rd->peek.len - rd->peek_off;
		if (n > len)
			n = len;
		memcpy(buf, rd->peek.buf + rd->peek_off, n);
		rd->peek_off += n;
		return (ssize_t)n;
	}
	if (rd->mode == CDT_INPUT_NONE)
		return 0;
	return read_fd(rd, buf, len);
}

int
cdt_reader_raw_all(struct cdt_reader *rd, struct cdt_buf *out)
{
	char tmp[CHUNK];
	for (;;) {
		ssize_t n = cdt_reader_raw(rd, tmp, sizeof(tmp));
		if (n < 0)
			return EX_IOERR;
		if (n == 0)
			return 0;
		if (cdt_buf_add(out, tmp, (size_t)n))
			return cdt_err(EX_DATAERR, "input over the %zu MiB cap",
				       out->max >> 20);
	}
}
