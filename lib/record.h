/*
 * record.h - reading the record stream (DESIGN §2).
 *
 * A cdt_reader reads stdin (or any fd) and decides once whether it
 * carries records or raw bytes: records when the first JSON value is an
 * object whose "type" is a snake_case string (any such type, so unknown
 * records are forwarded too), raw otherwise; --input records|raw forces
 * either.  The bytes read while deciding are kept, so raw input loses
 * nothing.  Records may be JSON Lines, concatenated or pretty-printed JSON
 * (libjq's streaming parser takes all three).  In a record stream a parse
 * error is EX_DATAERR naming line and column, and so is a value that is
 * not an object with a type, or a record over the cap: a record is over
 * the cap when `max` bytes pass without a value completing, so memory
 * stays bounded by the cap plus one read.
 */
#ifndef CDT_RECORD_H
#define CDT_RECORD_H

#include "compat.h"
#include <jv.h>
#include "buf.h"

#define CDT_RECORD_MAX ((size_t)64 << 20)
#define CDT_EOF (-1)

enum cdt_input_mode {
	CDT_INPUT_AUTO = 0,
	CDT_INPUT_RECORDS,
	CDT_INPUT_RAW,
	CDT_INPUT_NONE,		/* --no-stdin, or stdin is a terminal */
};

enum cdt_input_kind {
	CDT_IN_UNDECIDED = 0,
	CDT_IN_EMPTY,		/* no records; raw reads give the white space */
	CDT_IN_RECORDS,
	CDT_IN_RAW,
};

struct cdt_reader {
	int fd;
	enum cdt_input_mode mode;
	enum cdt_input_kind kind;
	struct jv_parser *parser;
	char *chunk;		/* the buffer handed to the parser */
	char *seed;		/* the first bytes, while the parser reads them */
	size_t chunk_cap;
	struct cdt_buf peek;	/* bytes read while deciding (raw replay) */
	size_t peek_off;
	jv first;		/* the first record, read while deciding */
	size_t pending;		/* bytes fed since a value last completed */
	size_t max;
	long nrecords;
	int failed;		/* the status of a failed decision */
	bool eof;
	bool parser_done;	/* the parser has seen end of input */
};

void cdt_reader_init(struct cdt_reader *rd, int fd, enum cdt_input_mode mode);
void cdt_reader_release(struct cdt_reader *rd);

/* Decide records or raw (reads as much as the first value needs). */
int cdt_reader_kind(struct cdt_reader *rd, enum cdt_input_kind *kind);

/*
 * The next record: 0 with *rec set (the caller owns it), CDT_EOF at the
 * end, or EX_DATAERR / EX_IOERR after reporting.  Raw or empty input
 * reads as no records.
 */
int cdt_reader_next(struct cdt_reader *rd, jv *rec);

/*
 * Raw bytes: the bytes read while deciding, then the rest of the fd.
 * Returns the count, 0 at the end, or -1 after reporting an I/O error.
 */
ssize_t cdt_reader_raw(struct cdt_reader *rd, void *buf, size_t len);
/* All raw input into out (bounded by out->max: EX_DATAERR past it). */
int cdt_reader_raw_all(struct cdt_reader *rd, struct cdt_buf *out);

/* Record helpers. */
bool cdt_record_type_valid(const char *type);
/* The record's type, or NULL; rec is not consumed. */
const char *cdt_record_type(jv rec);
bool cdt_record_is(jv rec, const char *type);
/* A new object {"type": type}. */
jv cdt_record_new(const char *type);
/* rec[key] as a C string, or NULL (rec is not consumed). */
const char *cdt_record_str(jv rec, const char *key);
/* The current time as RFC 3339 UTC ("2026-11-22T05:00:00Z"). */
void cdt_now_rfc3339(char out[32]);

#include "banned.h"
#endif
