#include "compat.h"
#include <unistd.h>
#include "err.h"
#include "record.h"
#include "tool.h"
#include "render.h"

/* The message whose deltas were printed, so its text is not repeated. */
static char streamed_id[64];
static bool mid_line;

static double
num(jv rec, const char *key, double dflt)
{
	jv v = jv_object_get(jv_copy(rec), jv_string(key));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) :
		dflt;
	jv_free(v);
	return d;
}

static bool
flag(jv rec, const char *key)
{
	jv v = jv_object_get(jv_copy(rec), jv_string(key));
	bool b = jv_get_kind(v) == JV_KIND_TRUE;
	jv_free(v);
	return b;
}

static const char *
str(jv rec, const char *key)
{
	const char *s = cdt_record_str(rec, key);
	return s ? s : "";
}

/* Text that may end without a newline: remember, to close the line. */
static int
put_text(FILE *f, const char *s, size_t n)
{
	if (n && fwrite(s, 1, n, f) != n)
		return -1;
	if (n)
		mid_line = s[n - 1] != '\n';
	return 0;
}

static int
end_line(FILE *f)
{
	if (mid_line && putc('\n', f) == EOF)
		return -1;
	mid_line = false;
	return 0;
}

static int
render_message(FILE *f, jv rec)
{
	const char *role = str(rec, "role");
	const char *id = str(rec, "id");
	if (*streamed_id && !strcmp(id, streamed_id)) {
		streamed_id[0] = '\0';
		return end_line(f);
	}
	jv c = jv_object_get(jv_copy(rec), jv_string("content"));
	int rc = 0;
	if (jv_get_kind(c) == JV_KIND_STRING) {
		if (strcmp(role, "assistant") && fprintf(f, "%s> ", role) < 0)
			rc = -1;
		if (!rc)
			rc = put_text(f, jv_string_value(c),
				      (size_t)jv_string_length_bytes(
					      jv_copy(c)));
		if (!rc)
			rc = end_line(f);
	}
	jv_free(c);
	if (!rc && flag(rec, "partial"))
		rc = fprintf(f, "[partial reply]\n") < 0 ? -1 : 0;
	return rc;
}

static int
render_delta(FILE *f, jv rec)
{
	snprintf(streamed_id, sizeof(streamed_id), "%s",
		 str(rec, "message_id"));
	const char *c = str(rec, "content");
	return put_text(f, c, strlen(c));
}

static int
render_exec(FILE *f, jv rec)
{
	FILE *to = strcmp(str(rec, "stream"), "stderr") ? f : stderr;
	jv d = jv_object_get(jv_copy(rec), jv_string("data"));
	int rc = 0;
	if (jv_get_kind(d) == JV_KIND_STRING) {
		size_t n = (size_t)jv_string_length_bytes(jv_copy(d));
		if (n && fwrite(jv_string_value(d), 1, n, to) != n)
			rc = -1;
	} else if (cdt_record_str(rec, "data_base64")) {
		rc = fprintf(to, "[%zu bytes of binary output]\n",
			     strlen(str(rec, "data_base64")) / 4 * 3) < 0 ?
			-1 : 0;
	}
	jv_free(d);
	return rc;
}

static int
render_file(FILE *f, jv rec)
{
	const char *type = str(rec, "node_type");
	const char *sha = str(rec, "sha256");
	if (!strcmp(type, "directory"))
		return fprintf(f, "%s/\n", str(rec, "path")) < 0 ? -1 : 0;
	if (!strcmp(type, "symlink"))
		return fprintf(f, "%s -> %s\n", str(rec, "path"),
			       str(rec, "target")) < 0 ? -1 : 0;
	return fprintf(f, "%-40s %10.0f  %.12s%s\n", str(rec, "path"),
		       num(rec, "size", 0), sha,
		       flag(rec, "unchanged") ? "  unchanged" : "") < 0 ?
		-1 : 0;
}

static int
render_other(FILE *f, jv rec)
{
	jv s = jv_dump_string(jv_copy(rec), 0);
	int rc = fprintf(f, "%s\n", jv_string_value(s)) < 0 ? -1 : 0;
	jv_free(s);
	return rc;
}

int
cdt_render(FILE *f, jv rec)
{
	const char *t = cdt_record_type(rec);
	if (!t)
		return render_other(f, rec);
	if (strcmp(t, "delta") && end_line(f))
		return -1;
	if (!strcmp(t, "message"))
		return render_message(f, rec);
	if (!strcmp(t, "delta"))
		return render_delta(f, rec);
	if (!strcmp(t, "exec"))
		return render_exec(f, rec);
	if (!strcmp(t, "file"))
		return render_file(f, rec);
	if (!strcmp(t, "edit"))
		return fprintf(f, "edit %s\n", str(rec, "path")) < 0 ? -1 : 0;
	if (!strcmp(t, "exit")) {
		if (flag(rec, "timed_out"))
			return fprintf(f, "[timed out]\n") < 0 ? -1 : 0;
		if (*str(rec, "signal"))
			return fprintf(f, "[killed by %s]\n",
				       str(rec, "signal")) < 0 ? -1 : 0;
		return fprintf(f, "[exit %.0f]\n", num(rec, "code", 0)) < 0 ?
			-1 : 0;
	}
	if (!strcmp(t, "checkpoint")) {
		/* The subject only, as git log --oneline (no trailers). */
		const char *m = str(rec, "message");
		return fprintf(f, "%.12s %s %.*s\n", str(rec, "sha"),
			       str(rec, "branch"), (int)strcspn(m, "\n"),
			       m) < 0 ? -1 : 0;
	}
	if (!strcmp(t, "diff")) {
		const char *p = str(rec, "patch");
		return put_text(f, p, strlen(p)) || end_line(f) ? -1 : 0;
	}
	if (!strcmp(t, "session"))
		return fprintf(f, "%s %s %s\n", str(rec, "id"),
			       str(rec, "status"), str(rec, "project")) < 0 ?
			-1 : 0;
	if (!strcmp(t, "auth")) {
		jv u = jv_object_get(jv_copy(rec), jv_string("user"));
		int rc = fprintf(f, "logged in as %s\n",
				 cdt_record_str(u, "email") ?
				 cdt_record_str(u, "email") : "?") < 0 ?
			-1 : 0;
		jv_free(u);
		return rc;
	}
	if (!strcmp(t, "api_key"))
		return fprintf(f, "key %s %s %s\n", str(rec, "id"),
			       str(rec, "name"), str(rec, "role")) < 0 ?
			-1 : 0;
	if (!strcmp(t, "route"))
		return fprintf(f, "%-12s %-9s %-11s %s\n",
			       str(rec, "provider"), str(rec, "state"),
			       str(rec, "health"), str(rec, "reason")) < 0 ?
			-1 : 0;
	if (!strcmp(t, "error")) {
		fflush(f);
		return fprintf(stderr, "%s: %s\n", *str(rec, "tool") ?
			       str(rec, "tool") : "cdt",
			       str(rec, "message")) < 0 ? -1 : 0;
	}
	return render_other(f, rec);
}

int
cdt_render_run(struct cdt_ctx *ctx)
{
	int code = 0;
	/* Text, always: a CI log is for a person, and no error record. */
	ctx->out_mode = CDT_OUT_TEXT;
	if (ctx->in.mode == CDT_INPUT_RAW)
		return cdt_usage(ctx, "render reads records, not --input raw");
	if (ctx->in.mode == CDT_INPUT_AUTO)
		ctx->in.mode = CDT_INPUT_RECORDS;
	for (;;) {
		jv rec = jv_invalid();
		int rc = cdt_reader_next(&ctx->in, &rec);
		if (rc == CDT_EOF)
			break;
		if (rc)
			return rc;
		if (!code && cdt_record_is(rec, "error")) {
			jv c = jv_object_get(jv_copy(rec), jv_string("code"));
			code = jv_get_kind(c) == JV_KIND_NUMBER ?
				(int)jv_number_value(c) : 1;
			jv_free(c);
			if (code <= 0 || code > 255)
				code = 1;
		}
		rc = cdt_render(stdout, rec) ? EX_IOERR : 0;
		jv_free(rec);
		if (rc)
			return cdt_err_errno(rc, "cannot write output");
	}
	if (end_line(stdout))
		return cdt_err_errno(EX_IOERR, "cannot write output");
	if (code) {
		/* The error record already said why, on stderr. */
		cdt_err_quiet(true);
		cdt_err_class(code, "upstream", "the stream carried an error");
		cdt_err_quiet(false);
	}
	return code;
}

int
cdt_front_exec(const char *name, int argc, char **argv)
{
	char self[4096];
	char prog[8200];
	char tool[4096];
	cdt_err_setname("cdt");
	snprintf(tool, sizeof(tool), "cdt-%s", name);
	argv[0] = tool;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(prog, sizeof(prog), "%s/%s", self, tool);
			if (access(prog, X_OK) == 0)
				execv(prog, argv);
		}
	}
	execvp(tool, argv);
	return cdt_err_errno(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR,
			     "cannot run '%s'", tool);
}
