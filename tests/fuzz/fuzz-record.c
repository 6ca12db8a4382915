/*
 * fuzz-record.c - the stdin reader on arbitrary bytes.
 *
 * Each input is read in AUTO mode from a memfd (reads as large as the
 * reader asks) and again from a SOCK_SEQPACKET socket, where every read
 * returns one message, so the input arrives in pieces: some single bytes
 * first, then larger cuts derived from the data.  Both runs must give the
 * same transcript (decision, records, final status and message), every
 * record must be an object with a valid type, and whenever the input is
 * raw or empty the bytes handed back must be the input exactly.  Forced
 * --input raw must return the input exactly; forced --input records must
 * not crash.  Any difference abort()s.
 */
#include "compat.h"
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Cut points for the socket run; messages stay within the reader's
 * smallest read (4096), or SEQPACKET would drop the excess. */
#define MAX_PIECES 24
#define PIECE_MAX 4096

static int
memfd_with(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-record", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

/*
 * A socket whose reads return the input in pieces, or -1 when the input
 * is too large to be cut that way (the memfd run still covers it).
 */
static int
pieces_with(const uint8_t *data, size_t size)
{
	size_t cuts[MAX_PIECES];
	size_t n = 0;
	size_t off = 0;
	size_t singles = size ? data[0] % 9 : 0;
	unsigned h = 2166136261u;

	for (size_t i = 0; i < size && i < 64; i++)
		h = (h ^ data[i]) * 16777619u;
	while (off < size && n < singles && n < MAX_PIECES)
		cuts[n++] = ++off;
	while (off < size && n < MAX_PIECES) {
		size_t left = MAX_PIECES - n;
		size_t rest = size - off;
		size_t len = 1 + (h % 701);
		h = h * 1103515245u + 12345u;
		if (left == 1 || len > rest)
			len = rest;
		if (len > PIECE_MAX)
			return -1;
		off += len;
		cuts[n++] = off;
	}
	if (off != size)
		return -1;

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	off = 0;
	for (size_t i = 0; i < n; i++) {
		ssize_t w = send(sv[1], data + off, cuts[i] - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w != (ssize_t)(cuts[i] - off)) {
			/* The socket buffer is full: not the reader's fault. */
			close(sv[0]);
			close(sv[1]);
			return -1;
		}
		off = cuts[i];
	}
	close(sv[1]);
	return sv[0];
}

/* What one run saw, in a form two runs can be compared by. */
static void
transcript(int fd, enum cdt_input_mode mode, struct cdt_buf *t,
	   struct cdt_buf *raw, enum cdt_input_kind *kind_out)
{
	struct cdt_reader rd;
	enum cdt_input_kind kind = CDT_IN_UNDECIDED;
	struct cdt_err_last last;

	cdt_err_clear();
	cdt_reader_init(&rd, fd, mode);
	int rc = cdt_reader_kind(&rd, &kind);
	cdt_buf_addf(t, "kind %d rc %d\n", (int)kind, rc);
	if (!rc && kind == CDT_IN_RECORDS) {
		for (;;) {
			jv rec = jv_invalid();
			rc = cdt_reader_next(&rd, &rec);
			if (rc)
				break;
			if (!cdt_record_type_valid(cdt_record_type(rec)))
				abort();
			jv s = jv_dump_string(rec, 0);
			cdt_buf_addstr(t, jv_string_value(s));
			cdt_buf_addch(t, '\n');
			jv_free(s);
		}
		if (rc != CDT_EOF && rc != EX_DATAERR)
			abort();
		/* Raw reads on a record stream give nothing. */
		char c;
		if (cdt_reader_raw(&rd, &c, 1) != 0)
			abort();
	} else if (!rc) {
		jv rec = jv_invalid();
		if (cdt_reader_next(&rd, &rec) != CDT_EOF)
			abort();
		rc = cdt_reader_raw_all(&rd, raw);
		if (rc)
			abort();
	}
	cdt_err_get(&last);
	cdt_buf_addf(t, "end %d err %d %s\n", rc, last.code, last.message);
	cdt_reader_release(&rd);
	*kind_out = kind;
}

static bool
all_space(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (!strchr(" \t\r\n", data[i]) || !data[i])
			return false;
	return true;
}

static bool
same(const struct cdt_buf *b, const uint8_t *data, size_t size)
{
	return b->len == size && (!size || !memcmp(b->buf, data, size));
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cdt_err_quiet(true);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdt_buf t1 = CDT_BUF_INIT;
	struct cdt_buf t2 = CDT_BUF_INIT;
	struct cdt_buf raw = CDT_BUF_INIT;
	enum cdt_input_kind kind = CDT_IN_UNDECIDED;
	enum cdt_input_kind kind2 = CDT_IN_UNDECIDED;

	cdt_buf_init(&t1, SIZE_MAX / 2);
	cdt_buf_init(&t2, SIZE_MAX / 2);
	cdt_buf_init(&raw, SIZE_MAX / 2);

	/* AUTO, whole reads. */
	int fd = memfd_with(data, size);
	transcript(fd, CDT_INPUT_AUTO, &t1, &raw, &kind);
	close(fd);
	if (kind == CDT_IN_RAW || kind == CDT_IN_EMPTY) {
		if (!same(&raw, data, size))
			abort();
	} else if (kind == CDT_IN_RECORDS) {
		if (raw.len)
			abort();
	} else {
		abort();	/* no input this small is too large to decide */
	}
	if (kind == CDT_IN_EMPTY && !all_space(data, size))
		abort();

	/* AUTO, the same bytes in pieces: the same transcript. */
	fd = pieces_with(data, size);
	if (fd >= 0) {
		cdt_buf_reset(&raw);
		transcript(fd, CDT_INPUT_AUTO, &t2, &raw, &kind2);
		close(fd);
		if (t1.len != t2.len || memcmp(t1.buf, t2.buf, t1.len))
			abort();
		if ((kind2 == CDT_IN_RAW || kind2 == CDT_IN_EMPTY) &&
		    !same(&raw, data, size))
			abort();
	}

	/* --input raw: exactly the input, whatever it holds. */
	fd = memfd_with(data, size);
	cdt_buf_reset(&raw);
	cdt_buf_reset(&t2);
	transcript(fd, CDT_INPUT_RAW, &t2, &raw, &kind2);
	close(fd);
	if (kind2 != CDT_IN_RAW || !same(&raw, data, size))
		abort();

	/* --input records: records or 65, never a crash. */
	fd = memfd_with(data, size);
	cdt_buf_reset(&raw);
	cdt_buf_reset(&t2);
	transcript(fd, CDT_INPUT_RECORDS, &t2, &raw, &kind2);
	close(fd);
	if (kind2 == CDT_IN_RAW)
		abort();

	cdt_buf_release(&t1);
	cdt_buf_release(&t2);
	cdt_buf_release(&raw);
	return 0;
}
