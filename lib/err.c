#include "compat.h"
#include <stdarg.h>
#include <unistd.h>
#include "err.h"
#include "log.h"

static const char *toolname = "cdt";
static int quiet;		/* nesting depth of cdt_err_quiet(true) */
static bool silenced;

static struct {
	int code;
	char cls[32];
	char message[CDT_ERR_MSG_MAX];
	double retry_after_s;
} last = { 0, "", "", -1 };

void
cdt_err_setname(const char *tool)
{
	toolname = tool;
}

const char *
cdt_err_name(void)
{
	return toolname;
}

void
cdt_err_quiet(bool q)
{
	if (q)
		quiet++;
	else if (quiet > 0)
		quiet--;
}

void
cdt_err_silence(void)
{
	silenced = true;
}

const char *
cdt_err_class_of(int code)
{
	switch (code) {
	case EX_USAGE:		return "usage";
	case EX_DATAERR:	return "bad_record";
	case EX_NOINPUT:	return "not_found";
	case EX_UNAVAILABLE:	return "overloaded";
	case EX_CANTCREAT:	return "io";
	case EX_IOERR:		return "io";
	case EX_TEMPFAIL:	return "conflict";
	case EX_NOPERM:		return "auth";
	case EX_CONFIG:		return "config";
	case 1:			return "failed";
	default:		return "internal";
	}
}

static int
report(int code, const char *cls, double retry, const char *fmt, va_list ap,
       bool with_errno)
{
	int saved = errno;
	char msg[CDT_ERR_MSG_MAX];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
			 strerror(saved));
	last.code = code;
	snprintf(last.cls, sizeof(last.cls), "%s",
		 cls ? cls : cdt_err_class_of(code));
	memcpy(last.message, msg, sizeof(msg));
	last.retry_after_s = retry;
	if (!quiet && !silenced)
		cdt_log_line(CDT_LOG_ERROR, last.cls, msg);
	errno = saved;
	return code;
}

int
cdt_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(code, NULL, -1, fmt, ap, false);
	va_end(ap);
	return code;
}

int
cdt_err_class(int code, const char *cls, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(code, cls, -1, fmt, ap, false);
	va_end(ap);
	return code;
}

int
cdt_err_retry(int code, const char *cls, double retry_after_s,
	      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(code, cls, retry_after_s, fmt, ap, false);
	va_end(ap);
	return code;
}

int
cdt_err_errno(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(code, NULL, -1, fmt, ap, true);
	va_end(ap);
	return code;
}

void
cdt_err_get(struct cdt_err_last *out)
{
	out->code = last.code;
	out->cls = last.cls;
	out->message = last.message;
	out->retry_after_s = last.retry_after_s;
}

void
cdt_err_clear(void)
{
	last.code = 0;
	last.cls[0] = '\0';
	last.message[0] = '\0';
	last.retry_after_s = -1;
}

void
cdt_oom(void)
{
	static const char tail[] = ": out of memory\n";
	/* No stdio: it may need memory we do not have. */
	if (write(2, toolname, strlen(toolname)) < 0 ||
	    write(2, tail, sizeof(tail) - 1) < 0)
		_exit(EX_SOFTWARE);
	_exit(EX_SOFTWARE);
}

void *
cdt_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		cdt_oom();
	return p;
}

void *
cdt_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		cdt_oom();
	return p;
}

void *
cdt_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		cdt_oom();
	return q;
}

char *
cdt_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		cdt_oom();
	return p;
}

char *
cdt_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		cdt_oom();
	return p;
}
