/*
 * log.h - diagnostics on stderr.
 *
 * Levels: error < warn < info < debug.  The threshold comes from CDT_LOG
 * (error|warn|info|debug, default warn), moved by -q (one step down) and
 * -v (one step up per -v).  CDT_LOG_FORMAT=json writes each line as a
 * JSON object {"level","tool","message","time"} instead of
 * "cdt-TOOL: message".  Nothing here ever writes to stdout.
 */
#ifndef CDT_LOG_H
#define CDT_LOG_H

#include "compat.h"

enum cdt_log_level {
	CDT_LOG_ERROR = 0,
	CDT_LOG_WARN = 1,
	CDT_LOG_INFO = 2,
	CDT_LOG_DEBUG = 3,
};

/* Read CDT_LOG and CDT_LOG_FORMAT; adjust by delta (-q = -1, -v = +1). */
void cdt_log_init(int delta);
void cdt_log_set_level(enum cdt_log_level level);
enum cdt_log_level cdt_log_level(void);
bool cdt_log_json(void);
bool cdt_log_enabled(enum cdt_log_level level);

void cdt_log(enum cdt_log_level level, const char *fmt, ...)
	CDT_PRINTF(2, 3);
#define cdt_warn(...) cdt_log(CDT_LOG_WARN, __VA_ARGS__)
#define cdt_info(...) cdt_log(CDT_LOG_INFO, __VA_ARGS__)
#define cdt_debug(...) cdt_log(CDT_LOG_DEBUG, __VA_ARGS__)

/*
 * Write one already-formatted diagnostic (used by cdt_err too).  Control
 * characters other than tab are shown as '?'.
 */
void cdt_log_line(enum cdt_log_level level, const char *cls, const char *msg);

#include "banned.h"
#endif
