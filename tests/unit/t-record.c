/*
 * Unit tests for lib/record: the stdin reader's records-or-raw decision,
 * the three JSON layouts, bad input (65 naming the line), the record cap,
 * exact raw replay of the bytes read while deciding, and the helpers.
 *
 * Input reaches the reader through a pipe from a forked writer that
 * writes in pieces (one byte at a time for some cases, with short pauses)
 * so that values cut across reads are exercised as they are on a real
 * pipe.  Stderr is captured around each run, so a case can also check
 * that the reader said nothing.
 */
#include "compat.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "record.h"
#include "tap.h"

/* How a run feeds the reader. */
struct feed {
	size_t piece;		/* bytes per write; 0: all at once */
	unsigned pause_us;	/* pause between writes */
	size_t max;		/* rd.max after init; 0: default */
};

static const struct feed whole = { 0, 0, 0 };
static const struct feed bytewise = { 1, 50, 0 };

struct run {
	int kind_rc;
	enum cdt_input_kind kind;
	jv recs;		/* array of the records read */
	int end_rc;		/* CDT_EOF, or the status that ended it */
	struct cdt_buf raw;	/* the raw bytes, unless records */
	int raw_rc;
	struct cdt_buf err;	/* what the reader wrote on stderr */
	char msg[CDT_ERR_MSG_MAX];	/* the last error reported */
	int msg_code;
};

/* A pipe whose other end a child fills as f says, then closes. */
static int
feeder(const char *in, size_t len, const struct feed *f, pid_t *pid)
{
	int p[2];
	if (pipe(p) < 0) {
		perror("pipe");
		exit(1);
	}
	fflush(stdout);
	*pid = fork();
	if (*pid < 0) {
		perror("fork");
		exit(1);
	}
	if (*pid == 0) {
		close(p[0]);
		signal(SIGPIPE, SIG_DFL);
		size_t off = 0;
		while (off < len) {
			size_t n = len - off;
			if (f->piece && n > f->piece)
				n = f->piece;
			ssize_t w = write(p[1], in + off, n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				_exit(0);	/* the reader stopped early */
			}
			off += (size_t)w;
			if (f->pause_us && off < len)
				usleep(f->pause_us);
		}
		_exit(0);
	}
	close(p[1]);
	return p[0];
}

static void
slurp_fd(int fd, struct cdt_buf *out)
{
	char tmp[4096];
	ssize_t n;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		cdt_buf_add(out, tmp, (size_t)n);
}

/*
 * Read fd to the end as a tool would: decide, then records until EOF or
 * an error, or else every raw byte.  Stderr goes to a temp file meanwhile.
 */
static void
read_fd_all(struct run *r, int fd, enum cdt_input_mode mode,
	    const struct feed *f)
{
	struct cdt_reader rd;
	struct cdt_err_last last;
	char tmpl[] = "/tmp/t-record-err.XXXXXX";
	int efd = mkstemp(tmpl);
	int saved = dup(2);

	if (efd < 0 || saved < 0) {
		perror("mkstemp");
		exit(1);
	}
	unlink(tmpl);
	r->recs = jv_array();
	r->end_rc = 0;
	r->raw_rc = 0;
	r->kind = CDT_IN_UNDECIDED;
	cdt_buf_init(&r->raw, SIZE_MAX / 2);
	cdt_buf_init(&r->err, 0);
	cdt_err_clear();
	fflush(stderr);
	dup2(efd, 2);

	cdt_reader_init(&rd, fd, mode);
	if (f->max)
		rd.max = f->max;
	r->kind_rc = cdt_reader_kind(&rd, &r->kind);
	if (r->kind_rc) {
		r->end_rc = r->kind_rc;
	} else if (r->kind == CDT_IN_RECORDS) {
		for (;;) {
			jv rec = jv_invalid();
			r->end_rc = cdt_reader_next(&rd, &rec);
			if (r->end_rc)
				break;
			r->recs = jv_array_append(r->recs, rec);
		}
	} else {
		jv rec = jv_invalid();
		/* Raw or empty input reads as no records. */
		r->end_rc = cdt_reader_next(&rd, &rec);
		r->raw_rc = cdt_reader_raw_all(&rd, &r->raw);
	}
	cdt_reader_release(&rd);

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	slurp_fd(efd, &r->err);
	close(efd);
	cdt_err_get(&last);
	r->msg_code = last.code;
	snprintf(r->msg, sizeof(r->msg), "%s", last.message);
}

static void
run_feed(struct run *r, const char *in, size_t len, enum cdt_input_mode mode,
	 const struct feed *f)
{
	pid_t pid;
	int fd = feeder(in, len, f, &pid);
	read_fd_all(r, fd, mode, f);
	close(fd);
	waitpid(pid, NULL, 0);
}

static void
run_str(struct run *r, const char *in, enum cdt_input_mode mode,
	const struct feed *f)
{
	run_feed(r, in, strlen(in), mode, f);
}

static void
run_release(struct run *r)
{
	jv_free(r->recs);
	r->recs = jv_invalid();
	cdt_buf_release(&r->raw);
	cdt_buf_release(&r->err);
}

static int
nrecs(const struct run *r)
{
	return jv_array_length(jv_copy(r->recs));
}

/* The type of the i-th record read, or "" (the string lives in r). */
static const char *
rec_type(const struct run *r, int i)
{
	static char t[80];
	jv rec = jv_array_get(jv_copy(r->recs), i);
	const char *s = cdt_record_type(rec);
	snprintf(t, sizeof(t), "%s", s ? s : "");
	jv_free(rec);
	return t;
}

/* The types of all records read, joined by ',' ("a,b,c"). */
static const char *
types(const struct run *r)
{
	static char all[256];
	size_t off = 0;
	all[0] = '\0';
	for (int i = 0; i < nrecs(r) && off < sizeof(all); i++)
		off += (size_t)snprintf(all + off, sizeof(all) - off, "%s%s",
					i ? "," : "", rec_type(r, i));
	return all;
}

static bool
raw_is(const struct run *r, const char *in, size_t len)
{
	return r->raw.len == len && !memcmp(r->raw.buf, in, len);
}

/* The i-th record, compact, as a malloc'd string. */
static char *
rec_dump(const struct run *r, int i)
{
	jv s = jv_dump_string(jv_array_get(jv_copy(r->recs), i), 0);
	char *out = cdt_xstrdup(jv_string_value(s));
	jv_free(s);
	return out;
}

static void
test_layouts(void)
{
	struct run r;
	const char *jsonl = "{\"type\":\"a\",\"n\":1}\n{\"type\":\"b\"}\n"
		"{\"type\":\"c\",\"x\":[1,2]}\n";

	run_str(&r, jsonl, CDT_INPUT_AUTO, &whole);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_RECORDS &&
	   r.end_rc == CDT_EOF && r.raw.len == 0,
	   "JSON Lines: records, read to the end");
	is_str(types(&r), "a,b,c", "JSON Lines: all three records in order");
	run_release(&r);

	run_str(&r, "{\"type\":\"a\"}{\"type\":\"b\"}", CDT_INPUT_AUTO,
		&whole);
	ok(r.kind == CDT_IN_RECORDS && r.end_rc == CDT_EOF &&
	   !strcmp(types(&r), "a,b"),
	   "concatenated {\"type\":\"a\"}{\"type\":\"b\"}: two records");
	run_release(&r);

	const char *pretty =
		"{\n"
		"  \"type\": \"session\",\n"
		"  \"id\": \"s1\",\n"
		"  \"sandbox\": {\n"
		"    \"limits\": { \"cpus\": 2 }\n"
		"  }\n"
		"}\n"
		"{\n"
		"\t\"type\":\n"
		"\t\t\"file\",\n"
		"\t\"path\": \"a.c\"\n"
		"}\n";
	run_str(&r, pretty, CDT_INPUT_AUTO, &whole);
	ok(r.kind == CDT_IN_RECORDS && r.end_rc == CDT_EOF &&
	   !strcmp(types(&r), "session,file"),
	   "pretty-printed multi-line objects: two records");
	char *d = nrecs(&r) == 2 ? rec_dump(&r, 0) : cdt_xstrdup("");
	is_str(d, "{\"type\":\"session\",\"id\":\"s1\",\"sandbox\":"
	       "{\"limits\":{\"cpus\":2}}}",
	       "pretty-printed record comes out whole, keys in order");
	free(d);
	run_release(&r);

	run_str(&r, pretty, CDT_INPUT_AUTO, &bytewise);
	ok(r.kind == CDT_IN_RECORDS && r.end_rc == CDT_EOF &&
	   !strcmp(types(&r), "session,file"),
	   "pretty-printed records written one byte at a time");
	run_release(&r);

	run_str(&r, "\r\n  \t{\"type\":\"a\"}\r\n{\"type\":\"b\"}\r\n\r\n",
		CDT_INPUT_AUTO, &whole);
	ok(r.kind == CDT_IN_RECORDS && r.end_rc == CDT_EOF &&
	   !strcmp(types(&r), "a,b"),
	   "leading white space and CRLF line ends are fine");
	run_release(&r);

	run_str(&r, "{\"type\":\"a\"}\n{\"type\":\"b\"}", CDT_INPUT_AUTO,
		&whole);
	ok(r.end_rc == CDT_EOF && !strcmp(types(&r), "a,b"),
	   "last record without a final newline");
	run_release(&r);
}

static void
test_unknown_forwarded(void)
{
	struct run r;
	const char *in = "{\"type\":\"zz_future_2\","
		"\"k\":{\"deep\":[true,null]},\"n\":1.5}\n"
		"{\"type\":\"auth\",\"token\":\"t\"}\n";

	run_str(&r, in, CDT_INPUT_AUTO, &whole);
	ok(r.kind == CDT_IN_RECORDS && r.end_rc == CDT_EOF &&
	   !strcmp(types(&r), "zz_future_2,auth"),
	   "an unknown type is read as a record (to be forwarded)");
	char *d = nrecs(&r) ? rec_dump(&r, 0) : cdt_xstrdup("");
	is_str(d, "{\"type\":\"zz_future_2\",\"k\":{\"deep\":[true,null]},"
	       "\"n\":1.5}", "the unknown record keeps every field");
	free(d);
	run_release(&r);
}

static void
test_raw_decisions(void)
{
	struct run r;

	/* An object without "type" first: raw, replayed from byte 0. */
	const char *notype = "{\"a\": 1, \"b\": [1,2,3]}\n"
		"{\"type\":\"x\"}\nand some text \xe2\x82\xac\n";
	run_str(&r, notype, CDT_INPUT_AUTO, &whole);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_RAW && r.end_rc == CDT_EOF &&
	   nrecs(&r) == 0,
	   "first value an object without type: raw, no records");
	ok(r.raw_rc == 0 && raw_is(&r, notype, strlen(notype)),
	   "raw replay gives exactly the original bytes, parsed part too");
	run_release(&r);

	run_str(&r, notype, CDT_INPUT_AUTO, &bytewise);
	ok(r.kind == CDT_IN_RAW && raw_is(&r, notype, strlen(notype)),
	   "the same, written one byte at a time");
	run_release(&r);

	/* A type that is not snake_case is not a cdt record type. */
	const char *badtype = "{\"type\":\"Not-A-Type\"}\n";
	run_str(&r, badtype, CDT_INPUT_AUTO, &whole);
	ok(r.kind == CDT_IN_RAW && raw_is(&r, badtype, strlen(badtype)),
	   "an object whose type is not snake_case is raw");
	run_release(&r);

	const char *text = "hello {\"type\":\"a\"}\nsecond line\n";
	run_str(&r, text, CDT_INPUT_AUTO, &whole);
	ok(r.kind == CDT_IN_RAW && raw_is(&r, text, strlen(text)) &&
	   nrecs(&r) == 0, "text not starting with '{' is raw, exact bytes");
	run_release(&r);

	const char *arr = "  [{\"type\":\"a\"}]\n";
	run_str(&r, arr, CDT_INPUT_AUTO, &whole);
	ok(r.kind == CDT_IN_RAW && raw_is(&r, arr, strlen(arr)),
	   "a JSON array is raw, leading white space kept");
	run_release(&r);

	const char *brace = "{ this is a C block, not JSON }\nint x;\n";
	run_str(&r, brace, CDT_INPUT_AUTO, &whole);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_RAW &&
	   raw_is(&r, brace, strlen(brace)),
	   "text starting with '{' that is not JSON: raw, exact bytes");
	is_int(r.msg_code, 0, "no error is left behind for that raw text");
	is_str(r.err.buf, "",
	       "nothing on stderr when '{' text turns out to be raw");
	run_release(&r);

	run_str(&r, brace, CDT_INPUT_AUTO, &bytewise);
	ok(r.kind == CDT_IN_RAW && raw_is(&r, brace, strlen(brace)),
	   "non-JSON '{' text written one byte at a time: exact bytes");
	run_release(&r);

	/* Incomplete JSON at EOF that starts like a record. */
	const char *cut = "{\"type\":\"a\", \"x\": ";
	run_str(&r, cut, CDT_INPUT_AUTO, &whole);
	ok(r.kind == CDT_IN_RAW && raw_is(&r, cut, strlen(cut)),
	   "a cut-off first object is raw, exact bytes");
	run_release(&r);
}

static void
test_empty(void)
{
	struct run r;

	run_str(&r, "", CDT_INPUT_AUTO, &whole);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_EMPTY, "empty input: EMPTY");
	ok(r.end_rc == CDT_EOF && nrecs(&r) == 0 && r.raw.len == 0,
	   "empty input: no records, no raw bytes");
	run_release(&r);

	const char *ws = " \n\t\r\n  \n";
	run_str(&r, ws, CDT_INPUT_AUTO, &whole);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_EMPTY && r.end_rc == CDT_EOF,
	   "white space only: EMPTY, no records");
	ok(raw_is(&r, ws, strlen(ws)), "white space only: raw reads give it");
	run_release(&r);

	run_str(&r, ws, CDT_INPUT_RECORDS, &whole);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_EMPTY && r.end_rc == CDT_EOF,
	   "white space only with --input records: EMPTY, not an error");
	run_release(&r);

	struct cdt_reader rd;
	enum cdt_input_kind kind = CDT_IN_UNDECIDED;
	char c;
	cdt_reader_init(&rd, 0, CDT_INPUT_NONE);
	ok(cdt_reader_kind(&rd, &kind) == 0 && kind == CDT_IN_EMPTY &&
	   cdt_reader_raw(&rd, &c, 1) == 0,
	   "--no-stdin (CDT_INPUT_NONE): EMPTY, nothing read");
	cdt_reader_release(&rd);

	/*
	 * A closed stdin reads as empty.  The fd number is far above any
	 * the run opens itself, so it stays closed while the reader runs.
	 */
	int bad = 987;
	close(bad);
	ok(fcntl(bad, F_GETFD) < 0 && errno == EBADF, "fd %d is closed", bad);
	struct feed f = whole;
	read_fd_all(&r, bad, CDT_INPUT_AUTO, &f);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_EMPTY && r.end_rc == CDT_EOF &&
	   r.raw.len == 0 && r.raw_rc == 0,
	   "a closed fd (EBADF) reads as empty");
	run_release(&r);
}

/* Run one case in a child, so an abort() in the reader is a failure. */
static int
in_child(const char *in, size_t len, enum cdt_input_mode mode)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct run r;
		int code = 1;
		run_feed(&r, in, len, mode, &whole);
		if (r.end_rc == CDT_EOF && !strcmp(types(&r), "a,b"))
			code = 0;
		else if (r.end_rc == EX_DATAERR && !strcmp(types(&r), "a"))
			code = EX_DATAERR;
		run_release(&r);
		exit(code);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static void
test_control_bytes(void)
{
	struct run r;

	/* NUL is not JSON white space: such input is not empty. */
	const char nuls[] = "\0\0\n\0";
	run_feed(&r, nuls, sizeof(nuls) - 1, CDT_INPUT_AUTO, &whole);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_RAW &&
	   raw_is(&r, nuls, sizeof(nuls) - 1),
	   "NUL bytes and newlines are raw input, not empty");
	if (r.kind != CDT_IN_RAW)
		diag("kind %d", (int)r.kind);
	run_release(&r);

	/*
	 * libjq 1.6 takes an ASCII RS (0x1e) as a JSON-seq separator even
	 * outside seq mode: jv_parser_next then returns "no value" with
	 * bytes still in its buffer.  Either outcome is fine here (both
	 * records, or 65 after the first); dying on an assertion is not.
	 */
	const char rs[] = "{\"type\":\"a\"}\x1e{\"type\":\"b\"}\n";
	int st = in_child(rs, sizeof(rs) - 1, CDT_INPUT_AUTO);
	ok(WIFEXITED(st) && (WEXITSTATUS(st) == 0 ||
			     WEXITSTATUS(st) == EX_DATAERR),
	   "an ASCII RS between records: no crash, records or 65");
	if (!WIFEXITED(st))
		diag("the reader died of signal %d", WTERMSIG(st));
	st = in_child(rs + 12, sizeof(rs) - 13, CDT_INPUT_RECORDS);
	ok(WIFEXITED(st), "an ASCII RS first with --input records: no crash");
	if (!WIFEXITED(st))
		diag("the reader died of signal %d", WTERMSIG(st));
}

static void
test_forced(void)
{
	struct run r;

	run_str(&r, "just some prompt text\n", CDT_INPUT_RECORDS, &whole);
	is_int(r.end_rc, EX_DATAERR, "--input records on raw text: 65");
	run_release(&r);

	run_str(&r, "{\"no_type\":true}\n", CDT_INPUT_RECORDS, &whole);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "not an object"),
	   "--input records on a type-less object: 65 'not an object'");
	run_release(&r);

	run_str(&r, "{ not json\n", CDT_INPUT_RECORDS, &whole);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "line 1"),
	   "--input records on non-JSON '{' text: 65 naming line 1");
	run_release(&r);

	/*
	 * cdt_err_quiet nests: a caller's quiet (a tool after EPIPE) must
	 * survive the reader's own quiet while it decides, in every mode.
	 */
	const char *bad2 = "{\"type\":\"a\"}\n[2]\n";
	for (int m = CDT_INPUT_AUTO; m <= CDT_INPUT_RECORDS; m++) {
		cdt_err_quiet(true);
		run_str(&r, bad2, (enum cdt_input_mode)m, &whole);
		cdt_err_quiet(false);
		ok(r.end_rc == EX_DATAERR && r.msg_code == EX_DATAERR &&
		   r.err.len == 0,
		   "%s: under cdt_err_quiet the bad record is remembered, "
		   "not printed", m == CDT_INPUT_AUTO ? "auto" :
		   "--input records");
		if (r.err.len)
			diag("stderr: %s", r.err.buf);
		run_release(&r);
	}

	const char *recs = "{\"type\":\"a\"}\n{\"type\":\"b\"}\n";
	run_str(&r, recs, CDT_INPUT_RAW, &whole);
	ok(r.kind_rc == 0 && r.kind == CDT_IN_RAW && nrecs(&r) == 0 &&
	   r.end_rc == CDT_EOF, "--input raw on records: raw, no records");
	ok(raw_is(&r, recs, strlen(recs)),
	   "--input raw on records: exactly the bytes");
	run_release(&r);
}

static void
test_bad_input(void)
{
	struct run r;

	run_str(&r, "{\"type\":\"a\"}\n{\"type\":\"b\" \"x\":1}\n"
		"{\"type\":\"c\"}\n", CDT_INPUT_AUTO, &whole);
	is_int(r.end_rc, EX_DATAERR, "malformed second line: 65");
	ok(strstr(r.msg, "line 2") && strstr(r.msg, "column"),
	   "malformed second line: the message names line 2 and a column");
	if (!strstr(r.msg, "line 2"))
		diag("message: %s", r.msg);
	is_str(types(&r), "a", "the record before the bad line was read");
	ok(strstr(r.err.buf, "line 2") != NULL,
	   "the bad line is reported on stderr");
	run_release(&r);

	/*
	 * libjq notices a bad literal only at the newline after it and
	 * counts that newline first ("line 3, column 0"); the line the
	 * user must fix is still line 2.
	 */
	run_str(&r, "{\"type\":\"a\"}\n{\"type\":\"b\",\"ok\":tru\n"
		"{\"type\":\"c\"}\n", CDT_INPUT_AUTO, &whole);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "line 2"),
	   "a bad literal at the end of line 2: 65 naming line 2");
	if (!strstr(r.msg, "line 2"))
		diag("message: %s", r.msg);
	run_release(&r);

	run_str(&r, "{\"type\":\"a\"}\n{\"type\":\"b\",,}\n",
		CDT_INPUT_AUTO, &bytewise);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "line 2"),
	   "malformed second line written byte by byte: 65, line 2");
	run_release(&r);

	run_str(&r, "{\"type\":\"a\"}\n[1,2,3]\n{\"type\":\"c\"}\n",
		CDT_INPUT_AUTO, &whole);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "not an object"),
	   "a number array mid-stream: 65 'not an object'");
	is_str(types(&r), "a", "records before the array were read");
	run_release(&r);

	run_str(&r, "{\"type\":\"a\"}\n{\"id\":\"x\"}\n", CDT_INPUT_AUTO,
		&whole);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "not an object"),
	   "a type-less object mid-stream: 65");
	run_release(&r);

	run_str(&r, "{\"type\":\"a\"}\n\"str\"\n", CDT_INPUT_AUTO, &whole);
	ok(r.end_rc == EX_DATAERR, "a string mid-stream: 65");
	run_release(&r);

	run_str(&r, "{\"type\":\"a\"}\n{\"type\":\"b\"", CDT_INPUT_AUTO,
		&whole);
	ok(r.end_rc == EX_DATAERR && !strcmp(types(&r), "a"),
	   "a record cut off at EOF: 65 after the whole ones");
	run_release(&r);

	run_str(&r, "{\"type\":\"a\"}\ngarbage\n", CDT_INPUT_AUTO, &whole);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "line"),
	   "text after records: 65 naming the line");
	run_release(&r);
}

static void
test_cap(void)
{
	struct run r;
	struct cdt_buf in = CDT_BUF_INIT;
	struct feed f = { 4096, 0, 1024 };

	/* A record far over a 1 KiB cap, in a stream that is records. */
	cdt_buf_addstr(&in, "{\"type\":\"a\"}\n{\"type\":\"b\",\"s\":\"");
	for (int i = 0; i < 300 * 1024 / 8; i++)
		cdt_buf_addstr(&in, "xxxxxxxx");
	cdt_buf_addstr(&in, "\"}\n{\"type\":\"c\"}\n");
	run_feed(&r, in.buf, in.len, CDT_INPUT_AUTO, &f);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "cap"),
	   "a huge string over a small cap: 65 naming the cap");
	if (!strstr(r.msg, "cap"))
		diag("rc %d, message: %s", r.end_rc, r.msg);
	is_str(types(&r), "a", "the record before it was read");
	run_release(&r);

	/* A first record over the cap: 65 whether forced or not. */
	struct cdt_buf big = CDT_BUF_INIT;
	cdt_buf_addstr(&big, "{\"type\":\"b\",\"s\":\"");
	for (int i = 0; i < 300 * 1024 / 8; i++)
		cdt_buf_addstr(&big, "xxxxxxxx");
	cdt_buf_addstr(&big, "\"}\n");
	run_feed(&r, big.buf, big.len, CDT_INPUT_RECORDS, &f);
	ok(r.end_rc == EX_DATAERR && strstr(r.msg, "cap") && nrecs(&r) == 0,
	   "--input records, first record over the cap: 65 naming the cap");
	run_release(&r);
	run_feed(&r, big.buf, big.len, CDT_INPUT_AUTO, &f);
	ok(r.end_rc == EX_DATAERR && nrecs(&r) == 0 && r.raw.len == 0,
	   "first value over the cap, undecided: 65, nothing read");
	run_release(&r);
	cdt_buf_release(&big);

	/* The same stream under the default cap reads whole. */
	run_feed(&r, in.buf, in.len, CDT_INPUT_AUTO, &whole);
	ok(r.end_rc == CDT_EOF && !strcmp(types(&r), "a,b,c"),
	   "the same 300 KiB record under the default cap reads fine");
	run_release(&r);
	cdt_buf_release(&in);

	/* A first record of 150 KiB spans the peek, seed and chunks. */
	cdt_buf_addstr(&in, "{\"type\":\"big\",\"s\":\"");
	for (int i = 0; i < 150 * 1024; i++)
		cdt_buf_addch(&in, 'a' + i % 26);
	cdt_buf_addstr(&in, "\"}\n{\"type\":\"after\"}\n");
	struct feed odd = { 3001, 0, 0 };
	run_feed(&r, in.buf, in.len, CDT_INPUT_AUTO, &odd);
	ok(r.end_rc == CDT_EOF && !strcmp(types(&r), "big,after"),
	   "a 150 KiB first record in 3001-byte writes, then another");
	run_release(&r);
	cdt_buf_release(&in);

	/* The same size without a type: raw, and not a byte lost. */
	cdt_buf_addstr(&in, "{\"s\":\"");
	for (int i = 0; i < 150 * 1024; i++)
		cdt_buf_addch(&in, 'a' + i % 26);
	cdt_buf_addstr(&in, "\"}\nthen text\n");
	run_feed(&r, in.buf, in.len, CDT_INPUT_AUTO, &odd);
	ok(r.kind == CDT_IN_RAW && raw_is(&r, in.buf, in.len),
	   "a 150 KiB type-less object then text: raw, exact bytes");
	run_release(&r);
	cdt_buf_release(&in);

	/* Raw text longer than any buffer streams through unchanged. */
	for (int i = 0; i < 200 * 1024; i++)
		cdt_buf_addch(&in, i % 61 == 60 ? '\n' : ' ' + i % 90);
	in.buf[0] = 'x';
	run_feed(&r, in.buf, in.len, CDT_INPUT_AUTO, &odd);
	ok(r.kind == CDT_IN_RAW && raw_is(&r, in.buf, in.len),
	   "200 KiB of raw text: exact bytes");
	run_release(&r);
	cdt_buf_release(&in);
}

static void
test_utf8_and_chunks(void)
{
	struct run r;
	const char *in = "{\"type\":\"message\",\"content\":"
		"\"h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac "
		"\xf0\x9f\x8e\x89 \\u00e9\"}\n";

	run_str(&r, in, CDT_INPUT_AUTO, &whole);
	jv rec = nrecs(&r) ? jv_array_get(jv_copy(r.recs), 0) : jv_null();
	const char *c = cdt_record_str(rec, "content");
	is_str(c, "h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac "
	       "\xf0\x9f\x8e\x89 \xc3\xa9",
	       "UTF-8 content round-trips (2-, 3- and 4-byte chars, \\u)");
	jv_free(rec);
	run_release(&r);

	/* One byte at a time cuts every multi-byte char across reads. */
	run_str(&r, in, CDT_INPUT_AUTO, &bytewise);
	rec = nrecs(&r) ? jv_array_get(jv_copy(r.recs), 0) : jv_null();
	c = cdt_record_str(rec, "content");
	is_str(c, "h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac "
	       "\xf0\x9f\x8e\x89 \xc3\xa9",
	       "UTF-8 content cut across one-byte writes round-trips");
	jv_free(rec);
	run_release(&r);

	const char *many = "{\"type\":\"file\",\"path\":\"src/main.c\","
		"\"content\":\"int main(void)\\n{\\n\\treturn 0;\\n}\\n\"}\n"
		"{\"type\":\"exit\",\"code\":0}\n";
	struct feed f = { 3, 200, 0 };
	run_str(&r, many, CDT_INPUT_AUTO, &f);
	ok(r.end_rc == CDT_EOF && !strcmp(types(&r), "file,exit"),
	   "records split across many 3-byte writes");
	char *d = nrecs(&r) ? rec_dump(&r, 0) : cdt_xstrdup("");
	is_str(d, "{\"type\":\"file\",\"path\":\"src/main.c\",\"content\":"
	       "\"int main(void)\\n{\\n\\treturn 0;\\n}\\n\"}",
	       "the split record is whole");
	free(d);
	run_release(&r);

	run_str(&r, many, CDT_INPUT_AUTO, &bytewise);
	ok(r.end_rc == CDT_EOF && !strcmp(types(&r), "file,exit"),
	   "records written one byte at a time");
	run_release(&r);
}

/* The API as documented: next without kind first, raw on records. */
static void
test_api_order(void)
{
	pid_t pid;
	struct cdt_reader rd;
	jv rec = jv_invalid();
	char buf[16];
	const char *in = "{\"type\":\"a\"}\n{\"type\":\"b\"}\n";
	int fd = feeder(in, strlen(in), &whole, &pid);

	cdt_reader_init(&rd, fd, CDT_INPUT_AUTO);
	int rc = cdt_reader_next(&rd, &rec);
	ok(rc == 0 && cdt_record_is(rec, "a"),
	   "cdt_reader_next decides by itself");
	jv_free(rec);
	ok(cdt_reader_raw(&rd, buf, sizeof(buf)) == 0,
	   "cdt_reader_raw on a record stream reads nothing");
	rec = jv_invalid();
	rc = cdt_reader_next(&rd, &rec);
	ok(rc == 0 && cdt_record_is(rec, "b"), "then the second record");
	jv_free(rec);
	is_int(cdt_reader_next(&rd, &rec), CDT_EOF, "then CDT_EOF");
	is_int(cdt_reader_next(&rd, &rec), CDT_EOF, "and CDT_EOF again");
	is_int(rd.nrecords, 2, "nrecords counts them");
	cdt_reader_release(&rd);
	close(fd);
	waitpid(pid, NULL, 0);

	/* Raw reads in small pieces, straddling the peeked bytes. */
	const char *raw = "{\"k\":1} tail of the raw input\n";
	fd = feeder(raw, strlen(raw), &whole, &pid);
	cdt_reader_init(&rd, fd, CDT_INPUT_AUTO);
	struct cdt_buf got = CDT_BUF_INIT;
	ssize_t n;
	while ((n = cdt_reader_raw(&rd, buf, 5)) > 0)
		cdt_buf_add(&got, buf, (size_t)n);
	ok(n == 0 && got.len == strlen(raw) && !strcmp(got.buf, raw),
	   "cdt_reader_raw in 5-byte reads replays every byte");
	cdt_buf_release(&got);
	cdt_reader_release(&rd);
	close(fd);
	waitpid(pid, NULL, 0);

	/* raw_all honours the output buffer's limit. */
	const char *longer = "0123456789abcdef";
	fd = feeder(longer, strlen(longer), &whole, &pid);
	cdt_reader_init(&rd, fd, CDT_INPUT_AUTO);
	cdt_buf_init(&got, 8);
	cdt_err_quiet(true);
	is_int(cdt_reader_raw_all(&rd, &got), EX_DATAERR,
	       "cdt_reader_raw_all past out->max: 65");
	cdt_err_quiet(false);
	cdt_buf_release(&got);
	cdt_reader_release(&rd);
	close(fd);
	waitpid(pid, NULL, 0);

	/* Release of a reader that never read anything. */
	cdt_reader_init(&rd, 0, CDT_INPUT_AUTO);
	cdt_reader_release(&rd);
	cdt_reader_release(&rd);
	ok(rd.parser == NULL && rd.chunk == NULL,
	   "release of an unused reader, twice, is harmless");
}

static void
test_helpers(void)
{
	ok(cdt_record_type_valid("auth") && cdt_record_type_valid("api_key") &&
	   cdt_record_type_valid("x9_y"),
	   "type_valid: snake_case names");
	ok(!cdt_record_type_valid(NULL) && !cdt_record_type_valid("") &&
	   !cdt_record_type_valid("Auth") && !cdt_record_type_valid("9a") &&
	   !cdt_record_type_valid("_a") && !cdt_record_type_valid("a-b") &&
	   !cdt_record_type_valid("a b") && !cdt_record_type_valid("a\xc3\xa9"),
	   "type_valid: refuses empty, upper case, leading digit or _, "
	   "'-', space, non-ASCII");
	char t64[66];
	memset(t64, 'a', 64);
	t64[64] = '\0';
	ok(cdt_record_type_valid(t64), "type_valid: 64 characters");
	t64[64] = 'a';
	t64[65] = '\0';
	ok(!cdt_record_type_valid(t64), "type_valid: not 65");

	jv rec = jv_parse("{\"type\":\"file\",\"path\":\"a.c\",\"size\":3}");
	is_str(cdt_record_type(rec), "file", "cdt_record_type");
	ok(cdt_record_is(rec, "file") && !cdt_record_is(rec, "fil"),
	   "cdt_record_is");
	is_str(cdt_record_str(rec, "path"), "a.c", "cdt_record_str");
	ok(cdt_record_str(rec, "size") == NULL &&
	   cdt_record_str(rec, "nope") == NULL,
	   "cdt_record_str: NULL for a number or a missing key");
	ok(jv_get_kind(rec) == JV_KIND_OBJECT, "the helpers do not consume");
	jv_free(rec);

	jv arr = jv_parse("[1]");
	jv num = jv_number(1);
	ok(cdt_record_type(arr) == NULL && cdt_record_type(num) == NULL &&
	   cdt_record_str(arr, "type") == NULL,
	   "helpers on non-objects give NULL");
	jv_free(arr);
	jv_free(num);
	jv nt = jv_parse("{\"type\":7}");
	ok(cdt_record_type(nt) == NULL, "a numeric type is no type");
	jv_free(nt);

	jv r = cdt_record_new("checkpoint");
	jv s = jv_dump_string(r, 0);
	is_str(jv_string_value(s), "{\"type\":\"checkpoint\"}",
	       "cdt_record_new");
	jv_free(s);

	char now[32];
	memset(now, 'x', sizeof(now));
	cdt_now_rfc3339(now);
	int y, mo, d, h, mi, sec;
	char z = 0;
	int n = sscanf(now, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h,
		       &mi, &sec, &z);
	ok(n == 7 && z == 'Z' && strlen(now) == 20 && y >= 2024 &&
	   mo >= 1 && mo <= 12 && d >= 1 && d <= 31,
	   "cdt_now_rfc3339 gives YYYY-MM-DDTHH:MM:SSZ (%s)", now);
}

int
main(void)
{
	/* The forked writers may outlive a reader that stopped early. */
	signal(SIGPIPE, SIG_IGN);
	test_layouts();
	test_unknown_forwarded();
	test_raw_decisions();
	test_empty();
	test_forced();
	test_control_bytes();
	test_bad_input();
	test_cap();
	test_utf8_and_chunks();
	test_api_order();
	test_helpers();
	return done_testing();
}
