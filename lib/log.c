#include "compat.h"
#include <stdarg.h>
#include <time.h>
#include <jv.h>
#include "err.h"
#include "log.h"

static int level = CDT_LOG_WARN;
static bool json;

static const char *const names[] = { "error", "warn", "info", "debug" };

void
cdt_log_init(int delta)
{
	const char *e = getenv("CDT_LOG");
	level = CDT_LOG_WARN;
	if (e) {
		for (int i = 0; i < (int)CDT_ARRAY_SIZE(names); i++)
			if (!strcmp(e, names[i]))
				level = i;
	}
	level += delta;
	if (level < CDT_LOG_ERROR)
		level = CDT_LOG_ERROR;
	if (level > CDT_LOG_DEBUG)
		level = CDT_LOG_DEBUG;
	const char *f = getenv("CDT_LOG_FORMAT");
	json = f && !strcmp(f, "json");
}

void
cdt_log_set_level(enum cdt_log_level l)
{
	level = l;
}

enum cdt_log_level
cdt_log_level(void)
{
	return level;
}

bool
cdt_log_json(void)
{
	return json;
}

bool
cdt_log_enabled(enum cdt_log_level l)
{
	return (int)l <= level;
}

static void
now_rfc3339(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
cdt_log_line(enum cdt_log_level l, const char *cls, const char *msg)
{
	if (!cdt_log_enabled(l))
		return;
	if (json) {
		char t[32];
		now_rfc3339(t, sizeof(t));
		jv o = jv_object();
		if (l == CDT_LOG_ERROR && cls) {
			o = jv_object_set(o, jv_string("type"),
					  jv_string("error"));
			o = jv_object_set(o, jv_string("tool"),
					  jv_string(cdt_err_name()));
			o = jv_object_set(o, jv_string("class"),
					  jv_string(cls));
		} else {
			o = jv_object_set(o, jv_string("type"),
					  jv_string("log"));
			o = jv_object_set(o, jv_string("tool"),
					  jv_string(cdt_err_name()));
		}
		o = jv_object_set(o, jv_string("level"),
				  jv_string(names[l]));
		o = jv_object_set(o, jv_string("message"), jv_string(msg));
		o = jv_object_set(o, jv_string("time"), jv_string(t));
		jv s = jv_dump_string(o, 0);
		fprintf(stderr, "%s\n", jv_string_value(s));
		jv_free(s);
		fflush(stderr);
		return;
	}
	/* Mask control characters: a message may quote hostile input. */
	char line[CDT_ERR_MSG_MAX + 64];
	size_t n = 0;
	for (const char *p = msg; *p && n < sizeof(line) - 2; p++) {
		unsigned char c = (unsigned char)*p;
		line[n++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : *p;
	}
	line[n] = '\0';
	const char *pfx = l == CDT_LOG_WARN ? "warning: " : "";
	fprintf(stderr, "%s: %s%s\n", cdt_err_name(), pfx, line);
	fflush(stderr);
}

void
cdt_log(enum cdt_log_level l, const char *fmt, ...)
{
	if (!cdt_log_enabled(l))
		return;
	char msg[CDT_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cdt_log_line(l, NULL, msg);
}
