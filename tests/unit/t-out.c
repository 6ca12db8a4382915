/*
 * Unit tests for lib/out, the record writer.  Its state is per process
 * and it owns stdout, so every case runs in a forked child whose fd 1 is
 * a pipe, a regular file, /dev/full or closed, and whose stderr goes to
 * a temp file; the child puts its return codes in shared memory and the
 * parent checks them and the bytes that came out.
 */
#include "compat.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "out.h"
#include "record.h"
#include "tap.h"

/* What a child reports back. */
struct result {
	int rc[16];
	bool flag[16];
};
static struct result *res;

struct child {
	int status;
	struct cdt_buf out;	/* what reached fd 1 (pipe or file) */
	struct cdt_buf err;	/* what reached stderr */
};

static void
slurp(int fd, struct cdt_buf *b)
{
	char tmp[4096];
	ssize_t n;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		cdt_buf_add(b, tmp, (size_t)n);
}

static int
tmpfd(void)
{
	char tmpl[] = "/tmp/t-out.XXXXXX";
	int fd = mkstemp(tmpl);
	if (fd < 0) {
		perror("mkstemp");
		exit(1);
	}
	unlink(tmpl);
	return fd;
}

enum sink { PIPE, FILE_, DEV_FULL, CLOSED, BROKEN_PIPE };

/*
 * Run fn in a child with fd 1 on the given sink; collect its output,
 * stderr and exit status into c.
 */
static void
run(struct child *c, enum sink sink, void (*fn)(void))
{
	int p[2] = { -1, -1 };
	int out = -1;
	int efd = tmpfd();

	memset(res, 0, sizeof(*res));
	cdt_buf_init(&c->out, 0);
	cdt_buf_init(&c->err, 0);
	if (sink == PIPE || sink == BROKEN_PIPE) {
		if (pipe(p) < 0)
			exit(1);
		if (sink == BROKEN_PIPE) {
			close(p[0]);
			p[0] = -1;
		}
		out = p[1];
	} else if (sink == FILE_) {
		out = tmpfd();
	} else if (sink == DEV_FULL) {
		out = open("/dev/full", O_WRONLY);
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		if (p[0] >= 0)
			close(p[0]);
		if (out >= 0)
			dup2(out, 1);
		else
			close(1);
		dup2(efd, 2);
		fn();
		/* exit, not _exit: under ASan the leak check runs here too */
		exit(0);
	}
	if (p[1] >= 0)
		close(p[1]);
	if (p[0] >= 0) {
		slurp(p[0], &c->out);
		close(p[0]);
	}
	waitpid(pid, &c->status, 0);
	if (sink == FILE_) {
		lseek(out, 0, SEEK_SET);
		slurp(out, &c->out);
	}
	if (out >= 0 && out != p[1])
		close(out);
	lseek(efd, 0, SEEK_SET);
	slurp(efd, &c->err);
	close(efd);
}

static void
done(struct child *c)
{
	cdt_buf_release(&c->out);
	cdt_buf_release(&c->err);
}

static bool
clean_exit(const struct child *c)
{
	return WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
}

static jv
rec(const char *json)
{
	return jv_parse(json);
}

/* --- the cases, each run in a child --- */

static void
c_records(void)
{
	res->rc[0] = cdt_out_init(CDT_OUT_RECORDS, NULL);
	res->rc[1] = cdt_emit(rec("{ \"type\" : \"a\", \"x\" : [1, 2],"
				  " \"s\" : \"h\\u00e9\" }"));
	res->rc[2] = cdt_forward(rec("{\"z\":1,\"type\":\"zz_new\",\"a\":2}"));
	res->flag[0] = cdt_out_error_written();
	res->rc[3] = cdt_out_bytes("", 0);
	res->rc[4] = cdt_out_text("dropped %d\n", 1);
	res->flag[1] = cdt_out_mode() == CDT_OUT_RECORDS;
	res->rc[5] = cdt_out_close();
	res->flag[2] = cdt_out_broken();
}

static void
test_records(void)
{
	struct child c;
	const char *want = "{\"type\":\"a\",\"x\":[1,2],\"s\":\"h\xc3\xa9\"}\n"
		"{\"z\":1,\"type\":\"zz_new\",\"a\":2}\n";

	run(&c, PIPE, c_records);
	ok(clean_exit(&c) && res->rc[0] == 0 && res->rc[1] == 0 &&
	   res->rc[2] == 0 && res->rc[5] == 0,
	   "records mode on a pipe: init, emit, forward, close all 0");
	is_str(c.out.buf, want,
	       "records go out compact, one per line, keys in order");
	ok(res->flag[1] && !res->flag[0] && !res->flag[2],
	   "mode is records; no error record; not broken");
	ok(res->rc[4] == 0, "cdt_out_text in records mode is dropped");
	is_str(c.err.buf, "", "nothing on stderr");
	done(&c);

	run(&c, FILE_, c_records);
	ok(clean_exit(&c) && res->rc[5] == 0, "records mode into a file");
	is_str(c.out.buf, want, "the file holds the same lines");
	done(&c);
}

static int stream_ctl[2];	/* parent -> child: "go on" */

static void
c_stream(void)
{
	char go;
	cdt_out_init(CDT_OUT_RECORDS, NULL);
	res->rc[0] = cdt_emit(rec("{\"type\":\"delta\",\"content\":\"He\"}"));
	/* Wait until the parent has seen the first line. */
	res->flag[0] = read(stream_ctl[0], &go, 1) == 1;
	res->rc[1] = cdt_emit(rec("{\"type\":\"delta\",\"content\":\"llo\"}"));
	res->rc[2] = cdt_out_close();
}

/* Each record reaches a pipe at once, before the next is written. */
static void
test_stream(void)
{
	int p[2];
	if (pipe(p) < 0 || pipe(stream_ctl) < 0)
		exit(1);
	memset(res, 0, sizeof(*res));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		close(p[0]);
		close(stream_ctl[1]);
		dup2(p[1], 1);
		c_stream();
		/* exit, not _exit: under ASan the leak check runs here too */
		exit(0);
	}
	close(p[1]);
	close(stream_ctl[0]);
	char line[256];
	size_t got = 0;
	struct pollfd pfd = { p[0], POLLIN, 0 };
	while (!memchr(line, '\n', got) && got < sizeof(line) - 1 &&
	       poll(&pfd, 1, 5000) == 1) {
		ssize_t n = read(p[0], line + got, sizeof(line) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = '\0';
	is_str(line, "{\"type\":\"delta\",\"content\":\"He\"}\n",
	       "on a pipe the first record arrives before the second is "
	       "written");
	if (write(stream_ctl[1], "g", 1) != 1)
		diag("cannot write to the child");
	close(stream_ctl[1]);
	struct cdt_buf rest = CDT_BUF_INIT;
	slurp(p[0], &rest);
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	is_str(rest.buf, "{\"type\":\"delta\",\"content\":\"llo\"}\n",
	       "then the second");
	ok(WIFEXITED(st) && res->flag[0] && !res->rc[0] && !res->rc[1] &&
	   !res->rc[2], "streaming: every call returned 0");
	cdt_buf_release(&rest);
}

static void
c_text(void)
{
	res->rc[0] = cdt_out_init(CDT_OUT_TEXT, NULL);
	res->rc[1] = cdt_forward(rec("{\"type\":\"forwarded_thing\","
				     "\"secret\":\"FWD\"}"));
	res->rc[2] = cdt_emit(rec("{\"type\":\"message\",\"role\":"
				  "\"assistant\",\"id\":\"m1\",\"content\":"
				  "\"Hello there\"}"));
	res->rc[3] = cdt_out_text("and %s\n", "some text");
	res->flag[0] = cdt_out_error_written();
	res->rc[4] = cdt_emit(rec("{\"type\":\"error\",\"tool\":\"cdt-x\","
				  "\"code\":65,\"class\":\"bad_record\","
				  "\"message\":\"ERRMSG\"}"));
	res->flag[1] = cdt_out_error_written();
	res->flag[2] = cdt_out_mode() == CDT_OUT_TEXT;
	res->rc[5] = cdt_out_close();
}

static void
test_text(void)
{
	struct child c;

	run(&c, PIPE, c_text);
	ok(clean_exit(&c) && !res->rc[0] && !res->rc[1] && !res->rc[2] &&
	   !res->rc[3] && !res->rc[4] && !res->rc[5] && res->flag[2],
	   "text mode: every call returns 0");
	ok(!strstr(c.out.buf, "FWD") && !strstr(c.out.buf, "forwarded_thing"),
	   "text mode drops forwarded records");
	ok(strstr(c.out.buf, "Hello there") != NULL,
	   "text mode renders the tool's own record");
	ok(strstr(c.out.buf, "and some text\n") != NULL,
	   "cdt_out_text prints in text mode");
	ok(!strstr(c.out.buf, "ERRMSG") && !strstr(c.out.buf, "{"),
	   "no error record and no JSON on stdout in text mode");
	ok(!res->flag[0] && res->flag[1],
	   "an emitted error record still sets cdt_out_error_written");
	done(&c);
}

static void
c_jq(void)
{
	res->rc[0] = cdt_out_init(CDT_OUT_JQ, ".id, .n");
	res->rc[1] = cdt_emit(rec("{\"type\":\"session\",\"id\":\"abc\","
				  "\"n\":{\"k\":[1,\"two\"]}}"));
	res->rc[2] = cdt_forward(rec("{\"type\":\"session\",\"id\":\"FWD\"}"));
	res->rc[3] = cdt_emit(rec("{\"type\":\"x\",\"id\":\"line\\nbreak\","
				  "\"n\":3}"));
	res->rc[4] = cdt_out_close();
}

static void
c_jq_bad(void)
{
	cdt_err_quiet(true);
	res->rc[0] = cdt_out_init(CDT_OUT_JQ, ".id | ]");
	res->rc[1] = cdt_out_close();
}

static void
c_jq_runtime(void)
{
	res->rc[0] = cdt_out_init(CDT_OUT_JQ, ".[0]");
	res->rc[1] = cdt_emit(rec("{\"type\":\"a\"}"));
	res->rc[2] = cdt_out_close();
}

static void
test_jq(void)
{
	struct child c;

	run(&c, PIPE, c_jq);
	ok(clean_exit(&c) && !res->rc[0] && !res->rc[1] && !res->rc[2] &&
	   !res->rc[3] && !res->rc[4], "jq mode: every call returns 0");
	is_str(c.out.buf, "abc\n{\"k\":[1,\"two\"]}\nline\nbreak\n3\n",
	       "jq mode: strings raw, other values compact, forwarded "
	       "records dropped");
	done(&c);

	run(&c, PIPE, c_jq_bad);
	ok(clean_exit(&c) && res->rc[0] == EX_USAGE,
	   "an invalid --jq expression: 64");
	done(&c);

	run(&c, PIPE, c_jq_runtime);
	ok(clean_exit(&c) && res->rc[0] == 0 && res->rc[1] == EX_DATAERR,
	   "a jq error at run time: 65");
	ok(strstr(c.err.buf, "--jq") != NULL, "and it is reported");
	done(&c);
}

static void
c_epipe(void)
{
	res->rc[0] = cdt_out_init(CDT_OUT_RECORDS, NULL);
	res->rc[1] = cdt_emit(rec("{\"type\":\"a\"}"));
	res->flag[0] = cdt_out_broken();
	res->rc[2] = cdt_forward(rec("{\"type\":\"b\"}"));
	res->rc[3] = cdt_out_bytes("xyz", 3);
	res->rc[4] = cdt_emit(rec("{\"type\":\"error\",\"code\":1}"));
	res->flag[1] = cdt_out_error_written();
	res->rc[5] = cdt_out_close();
	res->flag[2] = cdt_out_broken();
}

static void
test_epipe(void)
{
	struct child c;

	run(&c, BROKEN_PIPE, c_epipe);
	ok(clean_exit(&c), "EPIPE: no SIGPIPE death (ignored), clean exit");
	ok(res->rc[1] == 0 && res->flag[0],
	   "EPIPE: emit returns 0 and cdt_out_broken() is true");
	ok(!res->rc[2] && !res->rc[3] && !res->rc[4],
	   "after EPIPE further writes return 0");
	is_int(res->rc[5], 0, "after EPIPE cdt_out_close returns 0");
	ok(res->flag[2], "and cdt_out_broken() stays true");
	is_str(c.err.buf, "", "EPIPE: nothing on stderr");
	done(&c);
}

static void
c_full(void)
{
	res->rc[0] = cdt_out_init(CDT_OUT_RECORDS, NULL);
	res->rc[1] = cdt_emit(rec("{\"type\":\"a\"}"));
	res->rc[2] = cdt_emit(rec("{\"type\":\"b\"}"));
	res->rc[3] = cdt_out_bytes("xyz", 3);
	res->flag[0] = cdt_out_broken();
	res->rc[4] = cdt_out_close();
}

static int
count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_write_errors(void)
{
	struct child c;

	run(&c, DEV_FULL, c_full);
	ok(clean_exit(&c) && res->rc[0] == 0, "init on /dev/full");
	is_int(res->rc[1], EX_IOERR, "emit to /dev/full: EX_IOERR");
	ok(res->rc[2] == EX_IOERR && res->rc[3] == EX_IOERR,
	   "later writes: EX_IOERR too");
	is_int(res->rc[4], EX_IOERR, "close after a lost write: EX_IOERR");
	ok(!res->flag[0], "a full disk is not a broken pipe");
	ok(strstr(c.err.buf, "No space left on device") &&
	   count_lines(c.err.buf) == 1,
	   "reported once on stderr, with the reason");
	if (count_lines(c.err.buf) != 1)
		diag("stderr: %s", c.err.buf);
	done(&c);

	run(&c, CLOSED, c_full);
	ok(clean_exit(&c) && res->rc[1] == EX_IOERR && res->rc[4] == EX_IOERR,
	   "a closed stdout: EX_IOERR on write and on close");
	ok(count_lines(c.err.buf) == 1, "reported once");
	done(&c);
}

static void
c_fsize(void)
{
	/* A regular file is written in blocks: the loss shows at close. */
	struct rlimit rl = { 16, 16 };
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &rl);
	res->rc[0] = cdt_out_init(CDT_OUT_RECORDS, NULL);
	res->rc[1] = cdt_emit(rec("{\"type\":\"a\",\"pad\":\"0123456789\"}"));
	res->rc[2] = cdt_out_close();
}

static void
test_file_error_at_close(void)
{
	struct child c;

	run(&c, FILE_, c_fsize);
	ok(clean_exit(&c) && res->rc[0] == 0, "a file over RLIMIT_FSIZE");
	is_int(res->rc[2], EX_IOERR,
	       "output lost in a regular file: close returns EX_IOERR");
	ok(strstr(c.err.buf, "cannot") != NULL, "and says so");
	done(&c);
}

static void
c_errors_written(void)
{
	cdt_out_init(CDT_OUT_RECORDS, NULL);
	cdt_forward(rec("{\"type\":\"file\",\"path\":\"a\"}"));
	res->flag[0] = cdt_out_error_written();
	cdt_forward(rec("{\"type\":\"error\",\"tool\":\"cdt-up\","
			"\"code\":69}"));
	res->flag[1] = cdt_out_error_written();
	cdt_out_close();
}

static void
c_error_emitted(void)
{
	cdt_out_init(CDT_OUT_RECORDS, NULL);
	res->flag[0] = cdt_out_error_written();
	res->rc[0] = cdt_emit(rec("{\"type\":\"error\",\"code\":65}"));
	res->flag[1] = cdt_out_error_written();
	cdt_out_close();
}

static void
c_jq_error(void)
{
	cdt_out_init(CDT_OUT_JQ, ".");
	res->rc[0] = cdt_emit(rec("{\"type\":\"error\",\"code\":65}"));
	res->flag[0] = cdt_out_error_written();
	cdt_out_close();
}

static void
test_error_written(void)
{
	struct child c;

	run(&c, PIPE, c_errors_written);
	ok(!res->flag[0] && res->flag[1],
	   "a forwarded error record sets cdt_out_error_written");
	ok(strstr(c.out.buf, "\"type\":\"error\"") != NULL,
	   "and is written in records mode");
	done(&c);

	run(&c, PIPE, c_error_emitted);
	ok(!res->flag[0] && res->flag[1] && res->rc[0] == 0,
	   "an emitted error record sets cdt_out_error_written");
	done(&c);

	run(&c, PIPE, c_jq_error);
	ok(res->flag[0] && res->rc[0] == 0 && c.out.len == 0,
	   "jq mode: an error record is noted, not printed");
	done(&c);
}

static void
c_bytes(void)
{
	cdt_out_init(CDT_OUT_RECORDS, NULL);
	res->rc[0] = cdt_out_bytes("bin\0ary\xff\n", 9);
	res->rc[1] = cdt_out_bytes("tail", 4);
	res->rc[2] = cdt_out_close();
}

static void
c_overcap(void)
{
	size_t n = CDT_RECORD_MAX + 1;
	char *big = malloc(n);
	memset(big, 'a', n);
	jv r = cdt_record_new("file");
	r = jv_object_set(r, jv_string("content"), jv_string_sized(big,
								   (int)n));
	free(big);
	cdt_err_quiet(true);
	cdt_out_init(CDT_OUT_RECORDS, NULL);
	res->rc[0] = cdt_emit(r);
	res->rc[1] = cdt_emit(rec("{\"type\":\"small\"}"));
	res->rc[2] = cdt_out_close();
}

static void
test_bytes_and_cap(void)
{
	struct child c;

	run(&c, PIPE, c_bytes);
	ok(!res->rc[0] && !res->rc[1] && !res->rc[2] && c.out.len == 13 &&
	   !memcmp(c.out.buf, "bin\0ary\xff\ntail", 13),
	   "cdt_out_bytes writes bytes exactly, NUL and all");
	done(&c);

	run(&c, FILE_, c_overcap);
	ok(clean_exit(&c) && res->rc[0] == EX_DATAERR,
	   "a record over CDT_RECORD_MAX: 65");
	ok(res->rc[1] == 0 && !strcmp(c.out.buf, "{\"type\":\"small\"}\n"),
	   "nothing of it is written; the next record is");
	done(&c);
}

int
main(void)
{
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	test_records();
	test_stream();
	test_text();
	test_jq();
	test_epipe();
	test_write_errors();
	test_file_error_at_close();
	test_error_written();
	test_bytes_and_cap();
	munmap(res, sizeof(*res));
	return done_testing();
}
