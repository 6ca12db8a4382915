#include "compat.h"
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>
#include "err.h"
#include "log.h"
#include "tool.h"

#ifndef CDT_VERSION
#define CDT_VERSION "0"
#endif

static void
jv_oom(void *data)
{
	cdt_oom();
}

/* A program started with fd 0, 1 or 2 closed must not reuse them. */
static void
open_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}

const char *
cdt_opt(struct cdt_ctx *ctx, const char *name)
{
	return cdt_args_get(&ctx->args, name);
}

bool
cdt_flag(struct cdt_ctx *ctx, const char *name)
{
	return cdt_args_has(&ctx->args, name);
}

static int
usage_error(const struct cdt_tool *t, const struct cdt_cmd *cmd,
	    const char *why)
{
	cdt_err(EX_USAGE, "%s", why);
	cdt_opt_usage(stderr, t, cmd);
	fprintf(stderr, "try '%s --help'\n", t->name);
	return EX_USAGE;
}

int
cdt_usage(struct cdt_ctx *ctx, const char *fmt, ...)
{
	char why[CDT_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return usage_error(ctx->tool, ctx->args.cmd, why);
}

static int
setup(struct cdt_ctx *ctx)
{
	const char *in = cdt_opt(ctx, "input");
	enum cdt_input_mode im = CDT_INPUT_AUTO;
	if (in && !strcmp(in, "records"))
		im = CDT_INPUT_RECORDS;
	else if (in && !strcmp(in, "raw"))
		im = CDT_INPUT_RAW;
	else if (in)
		return cdt_usage(ctx, "--input takes 'records' or 'raw', "
				 "not '%s'", in);
	if (cdt_flag(ctx, "no-stdin") || (!in && isatty(0)))
		im = CDT_INPUT_NONE;
	cdt_reader_init(&ctx->in, 0, im);

	int n = !!cdt_flag(ctx, "json") + !!cdt_flag(ctx, "text") +
		!!cdt_flag(ctx, "jq");
	if (n > 1)
		return cdt_usage(ctx, "--json, --text and --jq exclude each "
				 "other");
	if (cdt_flag(ctx, "jq"))
		ctx->out_mode = CDT_OUT_JQ;
	else if (cdt_flag(ctx, "text"))
		ctx->out_mode = CDT_OUT_TEXT;
	else if (cdt_flag(ctx, "json"))
		ctx->out_mode = CDT_OUT_RECORDS;
	else
		ctx->out_mode = isatty(1) ? CDT_OUT_TEXT : CDT_OUT_RECORDS;
	ctx->dir = cdt_opt(ctx, "directory");
	if (ctx->dir && !*ctx->dir)
		return cdt_usage(ctx, "-C needs a directory");
	ctx->force = cdt_flag(ctx, "force");
	ctx->no_input = cdt_flag(ctx, "no-input");
	return cdt_out_init(ctx->out_mode, cdt_opt(ctx, "jq"));
}

/* The error record that goes out last when stdout carries records. */
static void
emit_error(void)
{
	struct cdt_err_last e;
	cdt_err_get(&e);
	if (!e.code)
		return;
	jv r = cdt_record_new("error");
	r = jv_object_set(r, jv_string("tool"), jv_string(cdt_err_name()));
	r = jv_object_set(r, jv_string("code"), jv_number(e.code));
	r = jv_object_set(r, jv_string("class"), jv_string(e.cls));
	r = jv_object_set(r, jv_string("message"), jv_string(e.message));
	if (e.retry_after_s >= 0)
		r = jv_object_set(r, jv_string("retry_after_s"),
				  jv_number(e.retry_after_s));
	cdt_emit(r);
}

static int
finish(struct cdt_ctx *ctx, int rc)
{
	if (rc && ctx->out_mode == CDT_OUT_RECORDS &&
	    !cdt_out_error_written() && !cdt_out_broken()) {
		struct cdt_err_last e;
		cdt_err_get(&e);
		if (e.code != rc)	/* a code nobody reported in words */
			cdt_err_clear();
		if (e.code == rc)
			emit_error();
	}
	int crc = cdt_out_close();
	if (!rc)
		rc = crc;
	if (cdt_out_broken()) {
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
	}
	return rc;
}

int
cdt_tool_main(const struct cdt_tool *t, int argc, char **argv)
{
	struct cdt_ctx ctx;
	char why[512] = "";
	int rc;

	open_std_fds();
	signal(SIGPIPE, SIG_IGN);
	cdt_err_setname(t->name);
	jv_nomem_handler(jv_oom, NULL);
	memset(&ctx, 0, sizeof(ctx));
	ctx.tool = t;
	ctx.auth = jv_invalid();
	ctx.session = jv_invalid();
	ctx.upstream_error = jv_invalid();
	cdt_reader_init(&ctx.in, 0, CDT_INPUT_NONE);
	cdt_log_init(0);

	rc = cdt_opt_parse(t, argc, argv, &ctx.args, why, sizeof(why));
	if (rc) {
		ctx.out_mode = isatty(1) ? CDT_OUT_TEXT : CDT_OUT_RECORDS;
		cdt_out_init(ctx.out_mode, NULL);
		rc = finish(&ctx, usage_error(t, ctx.args.cmd, why));
		goto out;
	}
	cdt_log_init(cdt_args_count(&ctx.args, "verbose") -
		     cdt_args_count(&ctx.args, "quiet"));
	if (ctx.args.list_options) {
		cdt_opt_list(stdout, t, ctx.args.cmd_word);
		rc = fflush(stdout) ? EX_IOERR : 0;
		goto out;
	}
	if (ctx.args.help || ctx.args.version) {
		cdt_out_init(CDT_OUT_TEXT, NULL);
		if (ctx.args.help)
			cdt_opt_help(stdout, t, ctx.args.cmd_word ?
				     ctx.args.cmd : NULL);
		else
			printf("%s %s\n", t->name, CDT_VERSION);
		rc = finish(&ctx, 0);
		goto out;
	}
	ctx.argv = ctx.args.operands;
	ctx.argc = ctx.args.noperands;
	rc = setup(&ctx);
	if (!rc)
		rc = ctx.args.cmd->run(&ctx);
	rc = finish(&ctx, rc);
out:
	cdt_reader_release(&ctx.in);
	jv_free(ctx.auth);
	jv_free(ctx.session);
	jv_free(ctx.upstream_error);
	cdt_args_release(&ctx.args);
	return rc;
}

/* Remember auth, session and error records as they pass. */
static int
note_context(struct cdt_ctx *ctx, jv rec, const char *type)
{
	if (!strcmp(type, "error")) {
		if (!jv_is_valid(ctx->upstream_error))
			ctx->upstream_error = jv_copy(rec);
	} else if (!strcmp(type, "auth")) {
		jv_free(ctx->auth);
		ctx->auth = jv_copy(rec);
	} else if (!strcmp(type, "session")) {
		const char *id = cdt_record_str(rec, "id");
		const char *old = jv_is_valid(ctx->session) ?
			cdt_record_str(ctx->session, "id") : NULL;
		if (old && id && strcmp(old, id))
			ctx->session_conflict = true;
		if (!old) {
			jv_free(ctx->session);
			ctx->session = jv_copy(rec);
		}
		ctx->nsessions++;
	}
	return 0;
}

int
cdt_stream_each(struct cdt_ctx *ctx, cdt_stream_fn fn, void *arg)
{
	for (;;) {
		jv rec = jv_invalid();
		int rc = cdt_reader_next(&ctx->in, &rec);
		if (rc == CDT_EOF)
			return 0;
		if (rc)
			return rc;
		const char *type = cdt_record_type(rec);
		note_context(ctx, rec, type);
		int took = fn ? fn(arg, rec, type) : 0;
		if (took == 0) {
			rc = cdt_forward(rec);
			if (rc)
				return rc;
		} else {
			jv_free(rec);
			if (took != 1)
				return took;
		}
	}
}

struct take {
	const char *const *types;
	struct cdt_spool *sp;
};

static int
take_fn(void *arg, jv rec, const char *type)
{
	struct take *tk = arg;
	for (const char *const *t = tk->types; *t; t++) {
		if (!strcmp(*t, type)) {
			int rc = cdt_spool_add(tk->sp, jv_copy(rec));
			return rc ? rc : 1;
		}
	}
	return 0;
}

int
cdt_stream_take(struct cdt_ctx *ctx, const char *const *types,
		struct cdt_spool *sp)
{
	struct take tk = { types, sp };
	return cdt_stream_each(ctx, take_fn, &tk);
}

int
cdt_stream_upstream(struct cdt_ctx *ctx, const char *what)
{
	if (!jv_is_valid(ctx->upstream_error))
		return 0;
	jv c = jv_object_get(jv_copy(ctx->upstream_error), jv_string("code"));
	int code = jv_get_kind(c) == JV_KIND_NUMBER ?
		(int)jv_number_value(c) : 1;
	jv_free(c);
	if (code <= 0 || code > 255)
		code = 1;
	const char *tool = cdt_record_str(ctx->upstream_error, "tool");
	if (ctx->force) {
		cdt_warn("%s despite an error from %s (--force)", what,
			 tool ? tool : "upstream");
		return 0;
	}
	cdt_info("not %s: %s failed upstream (exit %d)", what,
		 tool ? tool : "a tool", code);
	/* The record itself was forwarded: do not write another. */
	cdt_err_quiet(true);
	cdt_err_class(code, "upstream", "%s failed upstream",
		      tool ? tool : "a tool");
	cdt_err_quiet(false);
	return code;
}
