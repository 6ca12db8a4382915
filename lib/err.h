/*
 * err.h - errors, exit codes and out-of-memory handling.
 *
 * A status is an int: 0 or a <sysexits.h> code (DESIGN §6).  cdt_err()
 * prints one line "cdt-TOOL: message" on stderr (or an error record under
 * CDT_LOG_FORMAT=json), remembers it as the last error for the error
 * record a tool writes last on stdout, and returns the code, so one
 * statement reports and hands the status back:
 *
 *	return cdt_err(EX_DATAERR, "bad record at line %d: %s", n, why);
 *
 * Control characters in the message are masked, so hostile input cannot
 * drive the terminal.  cdt_xmalloc() and friends print "out of memory"
 * and exit 70: the one place lib/ ends the process.
 */
#ifndef CDT_ERR_H
#define CDT_ERR_H

#include "compat.h"

#define CDT_ERR_MSG_MAX 1024

/* Set the program name used in messages ("cdt-files"). */
void cdt_err_setname(const char *tool);
const char *cdt_err_name(void);

int cdt_err(int code, const char *fmt, ...) CDT_PRINTF(2, 3);
/* As cdt_err, with an explicit error class (DESIGN §6). */
int cdt_err_class(int code, const char *cls, const char *fmt, ...)
	CDT_PRINTF(3, 4);
/* As cdt_err_class, with a retry_after_s figure for the error record. */
int cdt_err_retry(int code, const char *cls, double retry_after_s,
		  const char *fmt, ...) CDT_PRINTF(4, 5);
/* Append ": strerror(errno)" to the message. */
int cdt_err_errno(int code, const char *fmt, ...) CDT_PRINTF(2, 3);

/* The default class of an exit code ("usage" for 64, "io" for 74, ...). */
const char *cdt_err_class_of(int code);

/*
 * The last error reported.  code is 0 when none was.  retry_after_s is
 * negative when unknown.  The strings live until the next cdt_err*.
 */
struct cdt_err_last {
	int code;
	const char *cls;
	const char *message;
	double retry_after_s;
};
void cdt_err_get(struct cdt_err_last *out);
/* Forget the last error (the REPL does so between turns). */
void cdt_err_clear(void);

/*
 * cdt_err_quiet(true) ... cdt_err_quiet(false) brackets code whose errors
 * are remembered but not printed; brackets nest.  cdt_err_silence() is for
 * good: the reader of our output has gone, and a tool then ends quietly.
 */
void cdt_err_quiet(bool quiet);
void cdt_err_silence(void);

void *cdt_xmalloc(size_t n);
void *cdt_xcalloc(size_t n, size_t size);
void *cdt_xrealloc(void *p, size_t n);
char *cdt_xstrdup(const char *s);
char *cdt_xstrndup(const char *s, size_t n);
CDT_NORETURN void cdt_oom(void);

#include "banned.h"
#endif
