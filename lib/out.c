#include "compat.h"
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jq.h>
#include "err.h"
#include "out.h"
#include "record.h"
#include "render.h"

static enum cdt_out_mode mode;
static bool flush_each = true;
static bool broken;
static bool failed;
static bool error_written;
static jq_state *jq;
static char outbuf[64 * 1024];

int
cdt_out_init(enum cdt_out_mode m, const char *jq_expr)
{
	struct stat st;
	mode = m;
	flush_each = !(fstat(1, &st) == 0 && S_ISREG(st.st_mode));
	if (!flush_each)
		setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if (m != CDT_OUT_JQ)
		return 0;
	jq = jq_init();
	if (!jq)
		return cdt_err(EX_SOFTWARE, "cannot start jq");
	/* jq reports compile errors through its own callback. */
	if (!jq_compile(jq, jq_expr)) {
		jq_teardown(&jq);
		jq = NULL;
		return cdt_err(EX_USAGE, "invalid --jq expression '%s'",
			       jq_expr);
	}
	return 0;
}

enum cdt_out_mode
cdt_out_mode(void)
{
	return mode;
}

bool
cdt_out_broken(void)
{
	return broken;
}

bool
cdt_out_error_written(void)
{
	return error_written;
}

static int
check_write(int ok)
{
	if (ok && (!flush_each || fflush(stdout) == 0))
		return 0;
	if (errno == EPIPE) {
		/* The reader has gone: from now on the tool ends quietly. */
		broken = true;
		cdt_err_silence();
		return 0;
	}
	if (!failed) {
		failed = true;
		return cdt_err_errno(EX_IOERR, "cannot write output");
	}
	return EX_IOERR;
}

static int
put(const char *s, size_t len)
{
	if (broken || failed)
		return failed ? EX_IOERR : 0;
	return check_write(fwrite(s, 1, len, stdout) == len);
}

static int
put_record(jv rec)
{
	if (cdt_record_is(rec, "error"))
		error_written = true;
	jv s = jv_dump_string(rec, 0);
	int rc;
	int len = jv_string_length_bytes(jv_copy(s));
	if ((size_t)len > CDT_RECORD_MAX) {
		rc = cdt_err(EX_DATAERR, "record over the %zu MiB cap",
			     CDT_RECORD_MAX >> 20);
	} else if (broken || failed) {
		rc = failed ? EX_IOERR : 0;
	} else {
		bool ok = fwrite(jv_string_value(s), 1, (size_t)len,
				 stdout) == (size_t)len &&
			putc('\n', stdout) != EOF;
		rc = check_write(ok);
	}
	jv_free(s);
	return rc;
}

static int
run_jq(jv rec)
{
	int rc = 0;
	jq_start(jq, rec, 0);
	for (;;) {
		jv r = jq_next(jq);
		if (!jv_is_valid(r)) {
			if (jv_invalid_has_msg(jv_copy(r))) {
				jv m = jv_invalid_get_msg(r);
				jv ms = jv_get_kind(m) == JV_KIND_STRING ? m :
					jv_dump_string(m, 0);
				rc = cdt_err(EX_DATAERR, "--jq: %s",
					     jv_string_value(ms));
				jv_free(ms);
			} else {
				jv_free(r);
			}
			break;
		}
		if (jv_get_kind(r) == JV_KIND_STRING) {
			int n = jv_string_length_bytes(jv_copy(r));
			rc = put(jv_string_value(r), (size_t)n);
			if (!rc)
				rc = put("\n", 1);
			jv_free(r);
		} else {
			jv s = jv_dump_string(r, 0);
			rc = put(jv_string_value(s),
				 (size_t)jv_string_length_bytes(jv_copy(s)));
			if (!rc)
				rc = put("\n", 1);
			jv_free(s);
		}
		if (rc)
			break;
	}
	return rc;
}

int
cdt_emit(jv rec)
{
	switch (mode) {
	case CDT_OUT_TEXT: {
		int rc = 0;
		if (!broken && !failed) {
			if (cdt_record_is(rec, "error"))
				error_written = true;
			/* Errors already went to stderr in text mode. */
			else
				rc = check_write(cdt_render(stdout, rec) == 0);
		}
		jv_free(rec);
		return rc;
	}
	case CDT_OUT_JQ:
		if (cdt_record_is(rec, "error")) {
			error_written = true;
			jv_free(rec);
			return 0;
		}
		return run_jq(rec);
	default:
		return put_record(rec);
	}
}

int
cdt_forward(jv rec)
{
	if (mode != CDT_OUT_RECORDS) {
		jv_free(rec);
		return 0;
	}
	return put_record(rec);
}

int
cdt_out_bytes(const void *data, size_t len)
{
	return put(data, len);
}

int
cdt_out_text(const char *fmt, ...)
{
	if (mode != CDT_OUT_TEXT || broken || failed)
		return failed ? EX_IOERR : 0;
	va_list ap;
	va_start(ap, fmt);
	int n = vfprintf(stdout, fmt, ap);
	va_end(ap);
	return check_write(n >= 0);
}

int
cdt_out_close(void)
{
	int rc = 0;
	if (jq)
		jq_teardown(&jq);
	jq = NULL;
	if (!broken && !failed && fflush(stdout) != 0)
		rc = check_write(0);
	if (failed)
		rc = EX_IOERR;
	/* fclose reports what fflush could not (NFS, fuse). */
	errno = 0;
	if (fclose(stdout) != 0) {
		if (errno == EPIPE)
			broken = true;
		else if (!broken && !failed && errno != EBADF)
			rc = cdt_err_errno(EX_IOERR, "cannot close output");
	}
	return rc;
}
