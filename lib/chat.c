#include "compat.h"
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <sys/stat.h>
#include <unistd.h>
#include "caller.h"
#include "cfg.h"
#include "chat.h"
#include "codec.h"
#include "conv.h"
#include "err.h"
#include "extract.h"
#include "hash.h"
#include "log.h"
#include "provider.h"
#include "route.h"
#include "store.h"

/* Room for the rest of a message record around a capped content. */
#define RECORD_SLACK (64 * 1024)
/* The exit status of a turn stopped by Ctrl-C (128 + SIGINT). */
#define CHAT_INTERRUPTED 130

static volatile sig_atomic_t interrupted;

static void
on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct chat {
	struct cdt_ctx *ctx;
	struct cdt_cfg cfg;
	struct cdt_providers ps;
	struct cdt_route_cfg rc;
	bool have_cfg, have_ps, have_rc;
	struct cdt_store *st;
	struct cdt_caller who;
	/* Settings; the REPL's slash commands change them. */
	char *providers;	/* NULL: routing's priority */
	char *model;		/* NULL: the provider's default */
	char *system;
	bool edit;
	bool stream;
	bool no_log;
	long max_tokens;
	double temperature;
	const char *task;
	const char *record_file;
	bool replay;		/* --replay: the cassette is the provider */
	/* The conversation. */
	struct cdt_conv conv;
	jv history;		/* message records, oldest first */
	bool history_from_stdin;
	jv stdin_conv;		/* conversation_id of message records */
	jv stdin_system;	/* system text from message records */
	const char *session_id;
	/* Context from stdin records and -f. */
	struct cdt_buf context;
	jv bases;		/* path -> sha256 of what the model saw */
	jv exec_argv;		/* the command whose output is joined */
	struct cdt_buf exec_out;
	bool exec_open;
	/* The turn under way. */
	char reply_id[CDT_UUID_LEN + 1];
	bool deltas;
	bool text_mode;
	jv user_pending;	/* the user message, until the reply starts */
	FILE *echo;		/* the REPL's terminal when stdout is not */
	bool echoed;		/* the echo ended mid-line */
	int bad_record;
};

static void
chat_init(struct chat *ch, struct cdt_ctx *ctx)
{
	memset(ch, 0, sizeof(*ch));
	ch->ctx = ctx;
	cdt_cfg_init(&ch->cfg);
	ch->temperature = -1;
	ch->history = jv_array();
	ch->stdin_conv = jv_invalid();
	ch->stdin_system = jv_invalid();
	cdt_buf_init(&ch->context, CDT_RECORD_MAX);
	cdt_buf_init(&ch->exec_out, CDT_RECORD_MAX);
	ch->bases = jv_object();
	ch->exec_argv = jv_invalid();
	ch->user_pending = jv_invalid();
	ch->text_mode = ctx->out_mode == CDT_OUT_TEXT;
	cdt_caller_init(&ch->who);
}

static void
chat_release(struct chat *ch)
{
	cdt_caller_release(&ch->who);
	cdt_store_close(ch->st);
	if (ch->have_rc)
		cdt_route_cfg_release(&ch->rc);
	if (ch->have_ps)
		cdt_providers_release(&ch->ps);
	cdt_cfg_release(&ch->cfg);
	free(ch->providers);
	free(ch->model);
	free(ch->system);
	jv_free(ch->history);
	jv_free(ch->stdin_conv);
	jv_free(ch->stdin_system);
	cdt_buf_release(&ch->context);
	cdt_buf_release(&ch->exec_out);
	jv_free(ch->bases);
	jv_free(ch->exec_argv);
	jv_free(ch->user_pending);
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s && *s ? cdt_xstrdup(s) : NULL;
}

/* ---- configuration, providers, store ---- */

static int
load_config(struct chat *ch)
{
	int rc = 0;
	if (!ch->have_cfg) {
		rc = cdt_cfg_load(&ch->cfg);
		if (rc)
			return rc;
		ch->have_cfg = true;
	}
	if (!ch->have_ps) {
		rc = cdt_providers_load(&ch->cfg, &ch->ps);
		if (rc)
			return rc;
		ch->have_ps = true;
	}
	if (!ch->have_rc) {
		rc = cdt_route_cfg_load(&ch->cfg, &ch->rc);
		if (rc)
			return rc;
		ch->have_rc = true;
	}
	return 0;
}

/* The store the config names, else $CDT_HOME/cdt.db. */
static int
open_store(struct chat *ch, bool create)
{
	if (ch->st)
		return 0;
	const char *home = cdt_cfg_home();
	bool named = cdt_cfg_str(&ch->cfg, "store.url", NULL) ||
		     cdt_cfg_str(&ch->cfg, "store.path", NULL);
	if (!create && !named && home) {
		struct cdt_buf p = CDT_BUF_INIT;
		cdt_buf_addf(&p, "%s/cdt.db", home);
		bool none = access(p.buf, F_OK) != 0;
		cdt_buf_release(&p);
		if (none)
			return cdt_err(EX_NOINPUT, "no conversation yet");
	}
	return cdt_store_open_cfg(&ch->st, &ch->cfg,
				  create ? 0 : CDT_STORE_NOCREATE);
}

/*
 * Who is asking (the stream has been read: an auth record is a source),
 * once per command; and the conversations from before the caller check
 * get their owner.
 */
static int
resolve_caller(struct chat *ch)
{
	int rc = cdt_caller_from_ctx(ch->ctx, ch->st, &ch->cfg, &ch->who);
	if (!rc)
		rc = cdt_conv_adopt(ch->st);
	return rc;
}

/* ---- the context records carry ---- */

/* The longest run of backticks opening a line of s. */
static size_t
longest_fence(const char *s, size_t len)
{
	size_t best = 0;
	bool bol = true;
	for (size_t i = 0; i < len; i++) {
		if (bol && s[i] == '`') {
			size_t n = 0;
			while (i + n < len && s[i + n] == '`')
				n++;
			if (n > best)
				best = n;
			i += n - 1;
			bol = false;
			continue;
		}
		bol = s[i] == '\n';
	}
	return best;
}

/* A block of context: "HEAD\n```\ntext\n```", the fence long enough. */
static int
add_block(struct chat *ch, const char *head, const char *info,
	  const char *text, size_t len)
{
	struct cdt_buf *b = &ch->context;
	size_t fence = longest_fence(text, len) + 1;
	if (fence < 3)
		fence = 3;
	int rc = 0;
	if (b->len)
		rc |= cdt_buf_addstr(b, "\n\n");
	rc |= cdt_buf_addf(b, "%s\n", head);
	for (size_t i = 0; i < fence; i++)
		rc |= cdt_buf_addch(b, '`');
	rc |= cdt_buf_addf(b, "%s\n", info ? info : "");
	rc |= cdt_buf_add(b, text, len);
	if (len && text[len - 1] != '\n')
		rc |= cdt_buf_addch(b, '\n');
	for (size_t i = 0; i < fence; i++)
		rc |= cdt_buf_addch(b, '`');
	if (rc)
		return cdt_err(EX_DATAERR, "the context is over the %zu MiB "
			       "cap", b->max >> 20);
	return 0;
}

static int
add_line(struct chat *ch, const char *fmt, ...) CDT_PRINTF(2, 3);

static int
add_line(struct chat *ch, const char *fmt, ...)
{
	struct cdt_buf *b = &ch->context;
	va_list ap;
	int rc = b->len ? cdt_buf_addstr(b, "\n\n") : 0;
	va_start(ap, fmt);
	rc |= cdt_buf_vaddf(b, fmt, ap);
	va_end(ap);
	if (rc)
		return cdt_err(EX_DATAERR, "the context is over the %zu MiB "
			       "cap", b->max >> 20);
	return 0;
}

/* The info string of a fence: the file's extension, when it has one. */
static const char *
lang_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');
	return dot && dot[1] && !strpbrk(dot, " `") ? dot + 1 : "";
}

static int
bad_record(struct chat *ch, const char *type, const char *why)
{
	ch->bad_record = cdt_err_class(EX_DATAERR, "bad_record",
				       "bad %s record (record %ld): %s", type,
				       ch->ctx->in.nrecords, why);
	return ch->bad_record;
}

static int
file_context(struct chat *ch, jv rec)
{
	const char *path = cdt_record_str(rec, "path");
	if (!path || !*path)
		return bad_record(ch, "file", "no path");
	const char *nt = cdt_record_str(rec, "node_type");
	if (nt && strcmp(nt, "file"))
		return 0;
	const char *sha = cdt_record_str(rec, "sha256");
	if (sha)
		ch->bases = jv_object_set(ch->bases, jv_string(path),
					  jv_string(sha));
	jv c = jv_object_get(jv_copy(rec), jv_string("content"));
	int rc;
	struct cdt_buf head = CDT_BUF_INIT;
	cdt_buf_addf(&head, "FILE: %s", path);
	if (jv_get_kind(c) == JV_KIND_STRING) {
		jv t = jv_object_get(jv_copy(rec), jv_string("truncated"));
		if (jv_get_kind(t) == JV_KIND_TRUE)
			cdt_buf_addstr(&head, " (truncated)");
		jv_free(t);
		rc = add_block(ch, head.buf, lang_of(path),
			       jv_string_value(c),
			       (size_t)jv_string_length_bytes(jv_copy(c)));
	} else if (cdt_record_str(rec, "content_base64")) {
		jv size = jv_object_get(jv_copy(rec), jv_string("size"));
		rc = add_line(ch, "%s (binary, %.0f bytes, not shown)",
			      head.buf, jv_get_kind(size) == JV_KIND_NUMBER ?
			      jv_number_value(size) : 0.0);
		jv_free(size);
	} else {
		rc = add_line(ch, "%s (content not read)", head.buf);
	}
	cdt_buf_release(&head);
	jv_free(c);
	return rc;
}

static int
diff_context(struct chat *ch, jv rec)
{
	const char *path = cdt_record_str(rec, "path");
	const char *status = cdt_record_str(rec, "status");
	const char *patch = cdt_record_str(rec, "patch");
	if (!patch)
		return bad_record(ch, "diff", "no patch");
	struct cdt_buf head = CDT_BUF_INIT;
	cdt_buf_addf(&head, "DIFF: %s", path ? path : "(no path)");
	if (status)
		cdt_buf_addf(&head, " (%s)", status);
	int rc = add_block(ch, head.buf, "diff", patch, strlen(patch));
	cdt_buf_release(&head);
	return rc;
}

static void
argv_text(jv argv, struct cdt_buf *out)
{
	if (jv_get_kind(argv) != JV_KIND_ARRAY) {
		cdt_buf_addstr(out, "(unknown command)");
		return;
	}
	jv_array_foreach(argv, i, a) {
		if (i)
			cdt_buf_addch(out, ' ');
		if (jv_get_kind(a) == JV_KIND_STRING)
			cdt_buf_addstr(out, jv_string_value(a));
		jv_free(a);
	}
}

/* The output of one command so far, as a block. */
static int
close_exec(struct chat *ch, const char *exit_line)
{
	if (!ch->exec_open && !exit_line)
		return 0;
	struct cdt_buf head = CDT_BUF_INIT;
	cdt_buf_addstr(&head, "COMMAND: ");
	argv_text(ch->exec_argv, &head);
	int rc;
	if (ch->exec_open)
		rc = add_block(ch, head.buf, "", ch->exec_out.buf,
			       ch->exec_out.len);
	else
		rc = add_line(ch, "%s (no output)", head.buf);
	if (!rc && exit_line)
		rc = cdt_buf_addf(&ch->context, "\n%s", exit_line) ?
			cdt_err(EX_DATAERR, "the context is over the cap") : 0;
	cdt_buf_release(&head);
	cdt_buf_reset(&ch->exec_out);
	ch->exec_open = false;
	jv_free(ch->exec_argv);
	ch->exec_argv = jv_invalid();
	return rc;
}

static bool
same_argv(jv a, jv b)
{
	return jv_equal(jv_copy(a), jv_copy(b));
}

static int
exec_context(struct chat *ch, jv rec)
{
	jv argv = jv_object_get(jv_copy(rec), jv_string("argv"));
	int rc = 0;
	if (ch->exec_open && !same_argv(argv, ch->exec_argv))
		rc = close_exec(ch, NULL);
	if (rc) {
		jv_free(argv);
		return rc;
	}
	if (!ch->exec_open) {
		jv_free(ch->exec_argv);
		ch->exec_argv = argv;
		ch->exec_open = true;
	} else {
		jv_free(argv);
	}
	jv d = jv_object_get(jv_copy(rec), jv_string("data"));
	if (jv_get_kind(d) == JV_KIND_STRING)
		rc = cdt_buf_add(&ch->exec_out, jv_string_value(d),
				 (size_t)jv_string_length_bytes(jv_copy(d)));
	else if (cdt_record_str(rec, "data_base64"))
		rc = cdt_buf_addf(&ch->exec_out, "[%zu bytes of binary "
				  "output]\n",
				  strlen(cdt_record_str(rec, "data_base64")) /
				  4 * 3);
	jv_free(d);
	return rc ? cdt_err(EX_DATAERR, "command output over the %zu MiB "
			    "cap", ch->exec_out.max >> 20) : 0;
}

static int
exit_context(struct chat *ch, jv rec)
{
	char line[128];
	jv code = jv_object_get(jv_copy(rec), jv_string("code"));
	jv to = jv_object_get(jv_copy(rec), jv_string("timed_out"));
	const char *sig = cdt_record_str(rec, "signal");
	if (jv_get_kind(to) == JV_KIND_TRUE)
		snprintf(line, sizeof(line), "EXIT: timed out");
	else if (sig && *sig)
		snprintf(line, sizeof(line), "EXIT: killed by %.40s", sig);
	else if (jv_get_kind(code) == JV_KIND_NUMBER)
		snprintf(line, sizeof(line), "EXIT: %.0f",
			 jv_number_value(code));
	else
		snprintf(line, sizeof(line), "EXIT: unknown");
	jv_free(code);
	jv_free(to);
	if (!ch->exec_open) {
		jv argv = jv_object_get(jv_copy(rec), jv_string("argv"));
		jv_free(ch->exec_argv);
		ch->exec_argv = argv;
	}
	return close_exec(ch, line);
}

static int
message_history(struct chat *ch, jv rec)
{
	const char *role = cdt_record_str(rec, "role");
	const char *content = cdt_record_str(rec, "content");
	if (!role || !content)
		return bad_record(ch, "message", "no role or content");
	if (strcmp(role, "user") && strcmp(role, "assistant") &&
	    strcmp(role, "system") && strcmp(role, "tool"))
		return bad_record(ch, "message", "unknown role");
	const char *conv = cdt_record_str(rec, "conversation_id");
	if (conv) {
		jv_free(ch->stdin_conv);
		ch->stdin_conv = jv_string(conv);
	}
	if (!strcmp(role, "system")) {
		jv_free(ch->stdin_system);
		ch->stdin_system = jv_string(content);
		return 0;
	}
	if (!strcmp(role, "tool")) {
		cdt_info("a tool message is not sent as history");
		return 0;
	}
	ch->history = jv_array_append(ch->history, jv_copy(rec));
	ch->history_from_stdin = true;
	return 0;
}

/* Everything is forwarded; context is taken on the way. */
static int
take(void *arg, jv rec, const char *type)
{
	struct chat *ch = arg;
	int rc = 0;
	if (strcmp(type, "exec") && ch->exec_open && strcmp(type, "exit"))
		rc = close_exec(ch, NULL);
	if (rc)
		return rc;
	if (!strcmp(type, "file"))
		rc = file_context(ch, rec);
	else if (!strcmp(type, "diff"))
		rc = diff_context(ch, rec);
	else if (!strcmp(type, "exec"))
		rc = exec_context(ch, rec);
	else if (!strcmp(type, "exit"))
		rc = exit_context(ch, rec);
	else if (!strcmp(type, "message"))
		rc = message_history(ch, rec);
	/* A bad record is still forwarded; the stream goes on to its end. */
	return rc == ch->bad_record ? 0 : rc;
}

/* -f FILE: the file's text as context. */
static int
attach_file(struct chat *ch, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct cdt_buf data = CDT_BUF_INIT;
	struct stat st;
	int rc = 0;
	if (fd < 0)
		return cdt_err_errno(errno == ENOENT ? EX_NOINPUT : EX_IOERR,
				     "cannot read '%s'", path);
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = cdt_err(EX_DATAERR, "cannot attach '%s': a directory",
			     path);
		goto out;
	}
	data.max = CDT_RECORD_MAX - RECORD_SLACK;
	char chunk[64 * 1024];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cdt_err_errno(EX_IOERR, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		if (cdt_buf_add(&data, chunk, (size_t)n)) {
			rc = cdt_err(EX_DATAERR, "cannot attach '%s': over "
				     "the %zu MiB cap", path,
				     data.max >> 20);
			goto out;
		}
	}
	char hex[CDT_SHA256_HEX_LEN + 1];
	cdt_sha256_hex(data.buf, data.len, hex);
	ch->bases = jv_object_set(ch->bases, jv_string(path), jv_string(hex));
	struct cdt_buf head = CDT_BUF_INIT;
	cdt_buf_addf(&head, "FILE: %s", path);
	if (cdt_is_text(data.buf, data.len))
		rc = add_block(ch, head.buf, lang_of(path), data.buf,
			       data.len);
	else
		rc = add_line(ch, "%s (binary, %zu bytes, not shown)",
			      head.buf, data.len);
	cdt_buf_release(&head);
out:
	cdt_buf_release(&data);
	close(fd);
	return rc;
}

static bool
blank_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n\f\v", s[i]) || !s[i])
			return false;
	return true;
}

/* ---- the request ---- */

/* The provider the history window is cut for: the first that may serve. */
static const struct cdt_provider *
first_candidate(struct chat *ch)
{
	char name[128];
	if (ch->providers) {
		size_t n = strcspn(ch->providers, ",");
		snprintf(name, sizeof(name), "%.*s", (int)n, ch->providers);
		return cdt_providers_find(&ch->ps, name);
	}
	jv_array_foreach(ch->rc.priority, i, v) {
		(void)i;
		struct cdt_provider *p = jv_get_kind(v) == JV_KIND_STRING ?
			cdt_providers_find(&ch->ps, jv_string_value(v)) : NULL;
		jv_free(v);
		if (p && cdt_provider_configured(p))
			return p;
	}
	return NULL;
}

/* The prior turns as [{role, content}], cut to the model's window. */
static jv
request_messages(struct chat *ch, const char *system, const char *user,
		 size_t ulen)
{
	jv hist = jv_array();
	jv_array_foreach(ch->history, i, m) {
		(void)i;
		const char *role = cdt_record_str(m, "role");
		const char *c = cdt_record_str(m, "content");
		/* An empty turn (a reply cut before its first byte) is
		   refused by some APIs and says nothing. */
		if (role && c && *c && (!strcmp(role, "user") ||
					!strcmp(role, "assistant"))) {
			jv o = jv_object();
			o = jv_object_set(o, jv_string("role"),
					  jv_string(role));
			o = jv_object_set(o, jv_string("content"),
					  jv_object_get(jv_copy(m),
							jv_string("content")));
			hist = jv_array_append(hist, o);
		}
		jv_free(m);
	}
	const struct cdt_provider *p = first_candidate(ch);
	long window = p ? cdt_provider_context(p, ch->model) : 0;
	long reply = ch->max_tokens > 0 ? ch->max_tokens :
		p && p->max_tokens > 0 ? p->max_tokens : 0;
	long budget = window > reply ? window - reply : 0;
	long reserved = cdt_conv_tokens(ulen) + 4 +
		(system ? cdt_conv_tokens(strlen(system)) : 0);
	jv kept;
	int left = 0;
	cdt_conv_window(hist, window > 0 ? (budget > 0 ? budget : 1) : 0,
			reserved, &kept, &left);
	if (left)
		cdt_warn("%d earlier message%s left out: the history does not "
			 "fit %s's window of %ld tokens with %ld for the reply",
			 left, left == 1 ? "" : "s", p->name, window, reply);
	jv o = jv_object();
	o = jv_object_set(o, jv_string("role"), jv_string("user"));
	o = jv_object_set(o, jv_string("content"),
			  jv_string_sized(user, (int)ulen));
	return jv_array_append(kept, o);
}

static jv
str_or_null(const char *s)
{
	return s && *s ? jv_string(s) : jv_null();
}

/* A message record; content whole (the emitted copy is cut apart). */
static jv
message_record(struct chat *ch, const char *id, const char *role,
	       const char *content, size_t len)
{
	char now[32];
	cdt_now_rfc3339(now);
	jv r = cdt_record_new("message");
	r = jv_object_set(r, jv_string("id"), jv_string(id));
	r = jv_object_set(r, jv_string("conversation_id"),
			  jv_string(ch->conv.id));
	r = jv_object_set(r, jv_string("session_id"),
			  str_or_null(ch->conv.session_id));
	r = jv_object_set(r, jv_string("role"), jv_string(role));
	r = jv_object_set(r, jv_string("content"),
			  jv_string_sized(content, (int)len));
	r = jv_object_set(r, jv_string("truncated"), jv_false());
	r = jv_object_set(r, jv_string("provider"), jv_null());
	r = jv_object_set(r, jv_string("model"), jv_null());
	r = jv_object_set(r, jv_string("timestamp"), jv_string(now));
	r = jv_object_set(r, jv_string("stop_reason"), jv_null());
	r = jv_object_set(r, jv_string("partial"), jv_false());
	r = jv_object_set(r, jv_string("replayed"), jv_false());
	r = jv_object_set(r, jv_string("metadata"), jv_object());
	return r;
}

/* Emit rec (consumed), its content cut to the record cap if needed. */
static int
emit_capped(jv rec)
{
	jv c = jv_object_get(jv_copy(rec), jv_string("content"));
	size_t n = jv_get_kind(c) == JV_KIND_STRING ?
		(size_t)jv_string_length_bytes(jv_copy(c)) : 0;
	size_t cap = CDT_RECORD_MAX - RECORD_SLACK;
	if (n > cap) {
		size_t keep = cdt_utf8_cut(jv_string_value(c), cap);
		rec = jv_object_set(rec, jv_string("content"),
				    jv_string_sized(jv_string_value(c),
						    (int)keep));
		rec = jv_object_set(rec, jv_string("truncated"), jv_true());
	}
	jv_free(c);
	return cdt_emit(rec);
}

/* The turn's user message, once. */
static void
emit_user(struct chat *ch)
{
	if (jv_is_valid(ch->user_pending))
		emit_capped(ch->user_pending);
	ch->user_pending = jv_invalid();
}

static int
on_delta(void *arg, const char *text, size_t len)
{
	struct chat *ch = arg;
	if (interrupted)
		return CHAT_INTERRUPTED;
	emit_user(ch);
	if (ch->echo && len) {
		fwrite(text, 1, len, ch->echo);
		fflush(ch->echo);
		ch->echoed = text[len - 1] != '\n';
	}
	if (!ch->deltas || !len || cdt_out_broken())
		return 0;
	jv d = cdt_record_new("delta");
	d = jv_object_set(d, jv_string("message_id"),
			  jv_string(ch->reply_id));
	d = jv_object_set(d, jv_string("content"),
			  jv_string_sized(text, (int)len));
	/* A failed write is reported once and ends the tool later; the
	   reply is still received whole, to be stored. */
	cdt_emit(d);
	return 0;
}

/* Who served the part of a reply that broke: the last attempt's. */
static jv
last_attempt_provider(jv attempts)
{
	int n = jv_get_kind(attempts) == JV_KIND_ARRAY ?
		jv_array_length(jv_copy(attempts)) : 0;
	if (n == 0)
		return jv_null();
	jv a = jv_array_get(jv_copy(attempts), n - 1);
	if (jv_get_kind(a) != JV_KIND_OBJECT) {
		jv_free(a);
		return jv_null();
	}
	jv p = jv_object_get(a, jv_string("provider"));
	if (jv_get_kind(p) == JV_KIND_STRING)
		return p;
	jv_free(p);
	return jv_null();
}

/* Print the error that was remembered quietly, as it would have been. */
static void
say_again(void)
{
	struct cdt_err_last e;
	cdt_err_get(&e);
	if (!e.code)
		return;
	char *msg = cdt_xstrdup(e.message ? e.message : "");
	char *cls = cdt_xstrdup(e.cls ? e.cls : cdt_err_class_of(e.code));
	cdt_err_retry(e.code, cls, e.retry_after_s, "%s", msg);
	free(cls);
	free(msg);
}

static int
record_cassette(struct chat *ch, const struct cdt_chat_req *req,
		const struct cdt_route_result *res)
{
	char key[65];
	int rc = cdt_provider_request_key(res->provider, req, key);
	if (!rc)
		rc = cdt_cassette_append(ch->record_file, key,
					 res->provider->name, &res->chat);
	return rc;
}

/* --edit: the file and edit records of the reply, or 1 and nothing. */
static int
parse_edits(struct chat *ch, const struct cdt_chat_result *r, jv *recs)
{
	char why[512];
	struct cdt_extract_opts o = { r->stop_reason, ch->reply_id,
				      ch->bases };
	if (cdt_extract(r->text.buf, r->text.len, &o, recs, why,
			sizeof(why)))
		return cdt_err_class(1, "bad_edit", "no file or edit records: "
				     "%s", why);
	return 0;
}

/* Store the turn: the user message and the reply (or its part). */
static int
store_turn(struct chat *ch, jv user, jv reply)
{
	jv recs = jv_array();
	if (ch->history_from_stdin && !ch->conv.exists) {
		/* A conversation new to this store keeps the turns it came
		   with, under ids of its own. */
		jv_array_foreach(ch->history, i, m) {
			(void)i;
			recs = jv_array_append(recs, jv_object_delete(m,
						jv_string("id")));
		}
	}
	recs = jv_array_append(recs, user);
	recs = jv_array_append(recs, reply);
	return cdt_conv_append(ch->st, &ch->conv, recs);
}

/*
 * One turn: send text as the user message (with the context), stream
 * the reply, store and emit the messages.  repl: Ctrl-C ends the turn,
 * not the program.
 */
static int
turn(struct chat *ch, const char *text, size_t len, bool repl)
{
	struct cdt_route_result res;
	struct cdt_buf sys = CDT_BUF_INIT;
	char user_id[CDT_UUID_LEN + 1];
	jv msgs = jv_invalid();
	jv user = jv_invalid();
	jv reply = jv_invalid();
	jv edits = jv_invalid();
	struct sigaction sa, old_sa;
	bool handler = false;
	cdt_route_result_init(&res);
	int rc = cdt_uuid4(user_id);
	if (!rc)
		rc = cdt_uuid4(ch->reply_id);
	if (rc)
		goto out;

	const char *system = ch->system;
	if (!system && jv_get_kind(ch->stdin_system) == JV_KIND_STRING)
		system = jv_string_value(ch->stdin_system);
	if (system)
		cdt_buf_addstr(&sys, system);
	if (ch->edit)
		cdt_buf_addf(&sys, "%s%s", sys.len ? "\n\n" : "",
			     cdt_extract_instructions);

	msgs = request_messages(ch, sys.len ? sys.buf : NULL, text, len);
	struct cdt_chat_req req = {
		.messages = msgs,
		.system = sys.len ? sys.buf : NULL,
		.model = ch->model,
		.max_tokens = ch->max_tokens,
		.temperature = ch->temperature,
		.stream = true,
	};
	user = message_record(ch, user_id, "user", text, len);
	/* The user message goes out with the first piece of the reply, so
	   a request that never got an answer prints none. */
	ch->user_pending = ch->text_mode ? jv_invalid() : jv_copy(user);

	struct cdt_route_opts ro = {
		.providers = ch->providers,
		.task = ch->task,
		.force = ch->ctx->force,
	};
	interrupted = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	handler = sigaction(SIGINT, &sa, &old_sa) == 0;
	/* The router's words are held back: a cancelled attempt is ours
	   to explain. */
	cdt_err_quiet(true);
	rc = cdt_route_send(ch->st, &ch->ps, &ch->rc, &ro, &req, on_delta, ch,
			    &res);
	cdt_err_quiet(false);
	/* The handler stays until the turn is stored: a second Ctrl-C
	   must not lose the part received. */
	/* A replay has one provider and the cassette's words say more
	   than the router's summary: the key that was missed. */
	if (rc && !interrupted && ch->replay && rc == EX_CONFIG &&
	    res.chat.err_msg[0])
		cdt_err_class(rc, "config", "replay: %s", res.chat.err_msg);
	else if (rc && !interrupted)
		say_again();

	const struct cdt_chat_result *r = &res.chat;
	bool stopped = interrupted != 0;
	bool got = r->text.len > 0 || r->output_began;
	if (rc && !got && !stopped)
		goto out;	/* nothing came: the router said why */
	emit_user(ch);

	reply = message_record(ch, ch->reply_id, "assistant", r->text.buf,
			       r->text.len);
	reply = jv_object_set(reply, jv_string("provider"),
			      res.provider ? jv_string(res.provider->name) :
			      last_attempt_provider(res.attempts));
	reply = jv_object_set(reply, jv_string("model"),
			      str_or_null(*r->model ? r->model : ch->model));
	reply = jv_object_set(reply, jv_string("stop_reason"),
			      str_or_null(rc || stopped ? NULL :
					  r->stop_reason));
	reply = jv_object_set(reply, jv_string("partial"),
			      jv_bool(rc != 0 || stopped || r->partial));
	reply = jv_object_set(reply, jv_string("replayed"),
			      jv_bool(r->replayed));
	reply = jv_object_set(reply, jv_string("metadata"),
			      cdt_route_reply_metadata(&res, ch->rc.strategy));

	/* What needs the reply's bytes comes first: then the buffer goes,
	   before storing and printing make their copies of a long reply. */
	int erc = 0;
	if (!stopped && !rc && ch->record_file && !r->replayed)
		rc = record_cassette(ch, &req, &res);
	if (!stopped && !rc && ch->edit)
		erc = parse_edits(ch, r, &edits);
	cdt_buf_release(&res.chat.text);

	int src = 0;
	if (!ch->no_log)
		src = store_turn(ch, jv_copy(user), jv_copy(reply));
	if (!src) {
		ch->history = jv_array_append(ch->history, jv_copy(user));
		ch->history = jv_array_append(ch->history, jv_copy(reply));
	}
	emit_capped(reply);
	reply = jv_invalid();

	if (stopped) {
		rc = repl ? 0 : CHAT_INTERRUPTED;
		if (!repl)
			cdt_err_class(rc, "interrupted", "interrupted: the "
				      "part received is stored%s",
				      ch->no_log ? " nowhere (--no-log)" : "");
		else
			fprintf(stderr, "[interrupted]\n");
		goto out;
	}
	if (!rc)
		rc = src;
	if (!rc)
		rc = erc;
	if (!rc && jv_is_valid(edits)) {
		jv_array_foreach(edits, i, rec) {
			(void)i;
			if (!rc)
				rc = cdt_emit(rec);
			else
				jv_free(rec);
		}
	}
out:
	if (handler)
		sigaction(SIGINT, &old_sa, NULL);
	jv_free(ch->user_pending);
	ch->user_pending = jv_invalid();
	jv_free(edits);
	jv_free(reply);
	jv_free(user);
	jv_free(msgs);
	cdt_buf_release(&sys);
	cdt_route_result_release(&res);
	return rc;
}

/* ---- options ---- */

static int
parse_options(struct chat *ch)
{
	struct cdt_ctx *ctx = ch->ctx;
	const char *v;
	if ((v = cdt_opt(ctx, "max-tokens"))) {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno || *end || n < 1 || n > 100000000)
			return cdt_usage(ctx, "--max-tokens takes a positive "
					 "number, not '%s'", v);
		ch->max_tokens = n;
	}
	if ((v = cdt_opt(ctx, "temperature"))) {
		char *end;
		errno = 0;
		double t = strtod(v, &end);
		if (errno || *end || end == v || !isfinite(t) || t < 0 ||
		    t > 2)
			return cdt_usage(ctx, "--temperature takes a number "
					 "from 0 to 2, not '%s'", v);
		ch->temperature = t;
	}
	if (cdt_flag(ctx, "continue") && cdt_opt(ctx, "conversation"))
		return cdt_usage(ctx, "-c and --conversation exclude each "
				 "other");
	if (cdt_opt(ctx, "record") && cdt_opt(ctx, "replay"))
		return cdt_usage(ctx, "--record and --replay exclude each "
				 "other");
	set_str(&ch->system, cdt_opt(ctx, "system"));
	ch->edit = cdt_flag(ctx, "edit");
	ch->stream = cdt_flag(ctx, "stream");
	ch->no_log = cdt_flag(ctx, "no-log");
	ch->task = cdt_opt(ctx, "task");
	ch->record_file = cdt_opt(ctx, "record");
	v = cdt_opt(ctx, "provider");
	if (v && (!*v || strspn(v, ",") == strlen(v)))
		return cdt_usage(ctx, "--provider needs a provider name");
	set_str(&ch->providers, v);
	return 0;
}

/*
 * -m [PROVIDER:]MODEL (else defaults.model): a PROVIDER prefix picks the
 * provider when --provider did not; a bare MODEL that only some providers
 * know is sent to those.
 */
static void
pick_model(struct chat *ch, const char *m)
{
	if (!m || !*m)
		return;
	const char *colon = strchr(m, ':');
	if (colon) {
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)(colon - m), m);
		if (colon - m < (long)sizeof(name) &&
		    cdt_providers_find(&ch->ps, name)) {
			if (!ch->providers)
				set_str(&ch->providers, name);
			set_str(&ch->model, colon + 1);
			return;
		}
	}
	set_str(&ch->model, m);
	if (ch->providers)
		return;
	struct cdt_buf who = CDT_BUF_INIT;
	for (size_t i = 0; i < ch->ps.n; i++) {
		const struct cdt_provider *p = &ch->ps.v[i];
		bool knows = (p->model && !strcmp(p->model, m)) ||
			cdt_model_lookup(p->name, m) != NULL;
		if (!knows && jv_get_kind(p->models) == JV_KIND_ARRAY) {
			jv_array_foreach(p->models, j, v) {
				(void)j;
				if (jv_get_kind(v) == JV_KIND_STRING &&
				    !strcmp(jv_string_value(v), m))
					knows = true;
				jv_free(v);
			}
		}
		if (knows)
			cdt_buf_addf(&who, "%s%s", who.len ? "," : "",
				     p->name);
	}
	if (who.len)
		set_str(&ch->providers, who.buf);
	cdt_buf_release(&who);
}

/* Session: --session, else a session record, else CDT_SESSION. */
static int
pick_session(struct chat *ch)
{
	struct cdt_ctx *ctx = ch->ctx;
	const char *s = cdt_opt(ctx, "session");
	if (!s && ctx->session_conflict)
		return cdt_err(EX_DATAERR, "two session records disagree: "
			       "pick one with --session");
	if (!s && jv_is_valid(ctx->session))
		s = cdt_record_str(ctx->session, "id");
	if (!s)
		s = getenv("CDT_SESSION");
	ch->session_id = s && *s ? s : NULL;
	return 0;
}

static int
pick_conversation(struct chat *ch)
{
	struct cdt_ctx *ctx = ch->ctx;
	struct cdt_conv_pick pk = {
		.prefix = cdt_opt(ctx, "conversation"),
		.latest = cdt_flag(ctx, "continue"),
		.session_id = ch->session_id,
		.who = &ch->who,
		.write = true,
	};
	if (!pk.prefix && !pk.latest &&
	    jv_get_kind(ch->stdin_conv) == JV_KIND_STRING)
		pk.id = jv_string_value(ch->stdin_conv);
	int rc = cdt_conv_pick(ch->st, &pk, &ch->conv);
	if (rc)
		return rc;
	if (ch->conv.exists && !ch->history_from_stdin) {
		jv_free(ch->history);
		ch->history = jv_invalid();
		rc = cdt_conv_history(ch->st, &ch->conv, &ch->history);
	}
	return rc;
}

/* Read stdin: raw text into *raw, or records (forwarded) into context. */
static int
read_input(struct chat *ch, struct cdt_buf *raw)
{
	struct cdt_ctx *ctx = ch->ctx;
	enum cdt_input_kind kind;
	int rc = cdt_reader_kind(&ctx->in, &kind);
	if (rc)
		return rc;
	if (kind == CDT_IN_RAW)
		return cdt_reader_raw_all(&ctx->in, raw);
	if (kind != CDT_IN_RECORDS)
		return 0;
	rc = cdt_stream_each(ctx, take, ch);
	if (!rc)
		rc = close_exec(ch, NULL);
	if (!rc)
		rc = ch->bad_record;
	if (!rc)
		rc = cdt_stream_upstream(ctx, "sending");
	return rc;
}

/* The user message: prompt words, raw stdin, then the context. */
static int
compose(struct chat *ch, const struct cdt_buf *raw, struct cdt_buf *msg)
{
	struct cdt_ctx *ctx = ch->ctx;
	int rc = 0;
	for (int i = 0; i < ctx->argc; i++)
		rc |= cdt_buf_addf(msg, "%s%s", i ? " " : "", ctx->argv[i]);
	if (raw->len && !blank_text(raw->buf, raw->len)) {
		if (msg->len)
			rc |= cdt_buf_addstr(msg, "\n\n");
		rc |= cdt_buf_add(msg, raw->buf, raw->len);
	}
	if (ch->context.len) {
		if (msg->len)
			rc |= cdt_buf_addstr(msg, "\n\n");
		rc |= cdt_buf_add(msg, ch->context.buf, ch->context.len);
	}
	return rc ? cdt_err(EX_DATAERR, "the message is over the %zu MiB "
			    "cap", msg->max >> 20) : 0;
}

static int repl(struct chat *ch, struct cdt_buf *pending);

int
cdt_chat_send(struct cdt_ctx *ctx)
{
	struct chat ch;
	struct cdt_buf raw = CDT_BUF_INIT;
	struct cdt_buf msg = CDT_BUF_INIT;
	bool interactive = cdt_flag(ctx, "interactive");
	chat_init(&ch, ctx);
	int rc = parse_options(&ch);
	if (!rc && interactive && ctx->argc)
		rc = cdt_usage(ctx, "-i takes no PROMPT");
	if (!rc)
		rc = read_input(&ch, &raw);
	for (int i = 0; !rc && i < cdt_args_count(&ctx->args, "file"); i++)
		rc = attach_file(&ch, cdt_args_nth(&ctx->args, "file", i));
	if (rc)
		goto out;
	if (!interactive) {
		rc = compose(&ch, &raw, &msg);
		if (!rc && blank_text(msg.buf, msg.len))
			rc = cdt_err(EX_NOINPUT, "nothing to send: give a "
				     "PROMPT, text on stdin, or records");
		if (rc)
			goto out;
	}
	rc = load_config(&ch);
	if (!rc && cdt_opt(ctx, "replay")) {
		struct cdt_provider *p = cdt_providers_add_replay(&ch.ps,
			cdt_opt(ctx, "replay"));
		set_str(&ch.providers, p->name);
		ch.replay = true;
	}
	if (rc)
		goto out;
	pick_model(&ch, cdt_opt(ctx, "model") ? cdt_opt(ctx, "model") :
		   cdt_cfg_str(&ch.cfg, "defaults.model", NULL));
	rc = pick_session(&ch);
	if (!rc)
		rc = open_store(&ch, true);
	if (!rc)
		rc = resolve_caller(&ch);
	if (!rc)
		rc = pick_conversation(&ch);
	if (rc)
		goto out;
	ch.deltas = ch.text_mode || ch.stream;
	if (interactive) {
		/* Raw text and context on stdin go with the first turn. */
		rc = compose(&ch, &raw, &msg);
		if (!rc && blank_text(msg.buf, msg.len))
			cdt_buf_reset(&msg);
		if (!rc)
			rc = repl(&ch, &msg);
	} else {
		rc = turn(&ch, msg.buf, msg.len, false);
	}
out:
	cdt_buf_release(&msg);
	cdt_buf_release(&raw);
	chat_release(&ch);
	return rc;
}

/* ---- the REPL ---- */

static char *rl_got;
static bool rl_ready;

static void
on_line(char *line)
{
	rl_got = line;
	rl_ready = true;
	rl_callback_handler_remove();
}

enum { LINE_OK, LINE_EOF, LINE_INTERRUPTED, LINE_ERROR };

/*
 * One line through readline's callback interface, so that Ctrl-C at the
 * prompt (a SIGINT that interrupts poll) drops the line and returns.
 */
static int
read_line(const char *prompt, char **out)
{
	*out = NULL;
	rl_ready = false;
	rl_got = NULL;
	interrupted = 0;
	rl_callback_handler_install(prompt, on_line);
	while (!rl_ready) {
		struct pollfd pfd = { fileno(rl_instream), POLLIN, 0 };
		int n = poll(&pfd, 1, -1);
		if (n < 0 && errno == EINTR) {
			if (!interrupted)
				continue;
			interrupted = 0;
			rl_free_line_state();
			rl_callback_sigcleanup();
			rl_callback_handler_remove();
			fputs("^C\n", rl_outstream);
			fflush(rl_outstream);
			return LINE_INTERRUPTED;
		}
		if (n < 0) {
			rl_callback_handler_remove();
			cdt_err_errno(EX_IOERR, "cannot read the terminal");
			return LINE_ERROR;
		}
		rl_callback_read_char();
	}
	if (!rl_got)
		return LINE_EOF;
	*out = rl_got;
	return LINE_OK;
}

/*
 * One entry: a line; a line ending in '\' goes on to the next; a line
 * of three double quotes opens a block that the next such line closes.
 */
static int
read_entry(struct cdt_buf *text)
{
	char *line = NULL;
	cdt_buf_reset(text);
	int r = read_line("> ", &line);
	if (r != LINE_OK)
		return r;
	bool block = !strcmp(line, "\"\"\"");
	if (block) {
		free(line);
		for (;;) {
			r = read_line("... ", &line);
			if (r != LINE_OK)
				return r == LINE_EOF ? LINE_OK : r;
			if (!strcmp(line, "\"\"\"")) {
				free(line);
				return LINE_OK;
			}
			cdt_buf_addf(text, "%s%s", text->len ? "\n" : "",
				     line);
			free(line);
		}
	}
	for (;;) {
		size_t n = strlen(line);
		bool more = n && line[n - 1] == '\\';
		cdt_buf_add(text, line, more ? n - 1 : n);
		free(line);
		if (!more)
			return LINE_OK;
		cdt_buf_addch(text, '\n');
		r = read_line("... ", &line);
		if (r != LINE_OK)
			return r == LINE_EOF ? LINE_OK : r;
	}
}

static int
save_conversation(struct chat *ch, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return cdt_err_errno(EX_CANTCREAT, "cannot write '%s'", path);
	int bad = 0;
	jv_array_foreach(ch->history, i, m) {
		(void)i;
		jv s = jv_dump_string(m, 0);
		if (fprintf(f, "%s\n", jv_string_value(s)) < 0)
			bad = 1;
		jv_free(s);
	}
	if (fclose(f) != 0 || bad)
		return cdt_err_errno(EX_IOERR, "cannot write '%s'", path);
	fprintf(stderr, "saved %d messages to %s\n",
		jv_array_length(jv_copy(ch->history)), path);
	return 0;
}

static const char repl_help[] =
	"/provider [P,...]   use only these providers (none: routing's)\n"
	"/model [[P:]MODEL]  the model (none: the provider's default)\n"
	"/system [TEXT]      the system prompt (none: no system prompt)\n"
	"/edit [on|off]      ask for file and edit blocks\n"
	"/save FILE          write the conversation's message records\n"
	"/quit               leave (so does Ctrl-D)\n"
	"A line ending in \\ continues on the next; \"\"\" opens and closes "
	"a block.\n"
	"//text sends /text.  Ctrl-C stops a reply and keeps what came.\n";

/* A slash command; 1 to leave the REPL. */
static int
slash(struct chat *ch, char *line)
{
	char *arg = line + strcspn(line, " \t");
	if (*arg)
		*arg++ = '\0';
	arg += strspn(arg, " \t");
	const char *cmd = line + 1;
	if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit"))
		return 1;
	if (!strcmp(cmd, "provider")) {
		set_str(&ch->providers, arg);
		fprintf(stderr, "providers: %s\n", ch->providers ?
			ch->providers : "(routing's priority)");
	} else if (!strcmp(cmd, "model")) {
		/* A PROVIDER: prefix picks the provider too. */
		const char *colon = strchr(arg, ':');
		char name[128] = "";
		if (colon && colon - arg < (long)sizeof(name))
			snprintf(name, sizeof(name), "%.*s",
				 (int)(colon - arg), arg);
		if (*name && cdt_providers_find(&ch->ps, name)) {
			set_str(&ch->providers, name);
			set_str(&ch->model, colon + 1);
		} else {
			set_str(&ch->model, arg);
		}
		fprintf(stderr, "model: %s\n", ch->model ? ch->model :
			"(the provider's default)");
	} else if (!strcmp(cmd, "system")) {
		set_str(&ch->system, arg);
		fprintf(stderr, "system prompt: %s\n", ch->system ? "set" :
			"none");
	} else if (!strcmp(cmd, "edit")) {
		if (!*arg)
			ch->edit = !ch->edit;
		else if (!strcmp(arg, "on") || !strcmp(arg, "off"))
			ch->edit = !strcmp(arg, "on");
		else
			fprintf(stderr, "/edit takes on or off\n");
		fprintf(stderr, "edit blocks: %s\n", ch->edit ? "on" : "off");
	} else if (!strcmp(cmd, "save")) {
		if (!*arg)
			fprintf(stderr, "/save needs a FILE\n");
		else if (save_conversation(ch, arg))
			cdt_err_clear();
	} else if (!strcmp(cmd, "help")) {
		fputs(repl_help, stderr);
	} else {
		fprintf(stderr, "unknown command '/%.40s'; /help lists "
			"them\n", cmd);
	}
	return 0;
}

static int
repl(struct chat *ch, struct cdt_buf *pending)
{
	FILE *tty = NULL;
	struct cdt_buf text = CDT_BUF_INIT;
	struct cdt_buf hist = CDT_BUF_INIT;
	struct sigaction sa, old_sa;
	int rc = 0;
	if (ch->ctx->no_input)
		return cdt_err(EX_USAGE, "-i reads from the terminal: not "
			       "with --no-input");
	if (!isatty(0) || !isatty(1)) {
		/* Records came on stdin, or go out on stdout: talk to the
		   person on the terminal itself. */
		tty = fopen("/dev/tty", "r+e");
		if (!tty)
			return cdt_err_errno(EX_NOINPUT, "-i needs a terminal: "
					     "cannot open /dev/tty");
	}
	rl_instream = tty ? tty : stdin;
	rl_outstream = tty ? tty : stdout;
	/* Records go to stdout: the person still reads the reply. */
	if (!ch->text_mode && !isatty(1))
		ch->echo = rl_outstream;
	rl_readline_name = "cdt-chat";
	rl_catch_signals = 0;
	rl_catch_sigwinch = 1;
	using_history();
	stifle_history(1000);
	const char *home = cdt_cfg_home();
	if (home) {
		cdt_buf_addf(&hist, "%s/chat_history", home);
		int fd = open(hist.buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		read_history(hist.buf);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_sa);
	fprintf(stderr, "cdt-chat: conversation %.8s; /help for commands, "
		"Ctrl-D to leave\n", ch->conv.id);
	for (;;) {
		int r = read_entry(&text);
		if (r == LINE_INTERRUPTED)
			continue;
		if (r == LINE_ERROR) {
			rc = EX_IOERR;
			break;
		}
		if (r == LINE_EOF) {
			fputc('\n', rl_outstream);
			break;
		}
		if (blank_text(text.buf, text.len))
			continue;
		add_history(text.buf);
		if (hist.len)
			append_history(1, hist.buf);
		if (text.buf[0] == '/' && text.buf[1] != '/') {
			if (slash(ch, text.buf))
				break;
			continue;
		}
		const char *t = text.buf[0] == '/' ? text.buf + 1 : text.buf;
		if (pending->len) {
			struct cdt_buf m = CDT_BUF_INIT;
			cdt_buf_addf(&m, "%s\n\n", t);
			cdt_buf_add(&m, pending->buf, pending->len);
			r = turn(ch, m.buf, m.len, true);
			cdt_buf_release(&m);
			if (!r)
				cdt_buf_reset(pending);
		} else {
			r = turn(ch, t, strlen(t), true);
		}
		if (ch->echo && ch->echoed)
			fputc('\n', ch->echo);
		ch->echoed = false;
		/* A failed turn was reported; the REPL goes on. */
		if (r)
			cdt_err_clear();
		if (cdt_out_broken())
			break;
	}
	sigaction(SIGINT, &old_sa, NULL);
	if (hist.len)
		history_truncate_file(hist.buf, 1000);
	clear_history();
	cdt_buf_release(&hist);
	cdt_buf_release(&text);
	ch->echo = NULL;
	if (tty)
		fclose(tty);
	rl_instream = NULL;
	rl_outstream = NULL;
	return rc;
}

/* ---- log, models, extract ---- */

int
cdt_chat_log(struct cdt_ctx *ctx)
{
	struct chat ch;
	jv recs = jv_invalid();
	chat_init(&ch, ctx);
	int rc = cdt_stream_each(ctx, NULL, NULL);
	if (!rc)
		rc = cdt_stream_upstream(ctx, "reading the log");
	if (!rc)
		rc = cdt_cfg_load(&ch.cfg);
	if (!rc)
		ch.have_cfg = true;
	if (!rc)
		rc = open_store(&ch, false);
	if (!rc)
		rc = resolve_caller(&ch);
	if (!rc)
		rc = cdt_conv_log(ch.st, &ch.who, cdt_opt(ctx, "conversation"),
				  cdt_opt(ctx, "session"), &recs);
	if (!rc) {
		jv_array_foreach(recs, i, r) {
			(void)i;
			if (!rc)
				rc = emit_capped(r);
			else
				jv_free(r);
		}
	}
	jv_free(recs);
	chat_release(&ch);
	return rc;
}

static jv
price_or_null(double p)
{
	return p >= 0 ? jv_number(p) : jv_null();
}

static int
model_row(const struct cdt_provider *p, const char *name, jv *seen)
{
	jv key = jv_string_fmt("%s\n%s", p->name, name);
	jv had = jv_object_get(jv_copy(*seen), jv_copy(key));
	bool dup = jv_is_valid(had);
	jv_free(had);
	if (dup) {
		jv_free(key);
		return 0;
	}
	*seen = jv_object_set(*seen, key, jv_true());
	double in, out;
	cdt_provider_price(p, name, &in, &out);
	long window = cdt_provider_context(p, name);
	bool dflt = p->model && !strcmp(p->model, name);
	bool conf = cdt_provider_configured(p);
	if (cdt_out_mode() == CDT_OUT_TEXT) {
		char w[32] = "-", pi[32] = "-", po[32] = "-";
		if (window > 0)
			snprintf(w, sizeof(w), "%ld", window);
		if (in >= 0)
			snprintf(pi, sizeof(pi), "%.2f", in);
		if (out >= 0)
			snprintf(po, sizeof(po), "%.2f", out);
		return cdt_out_text("%-10s %-32s %9s %8s %8s %s%s\n", p->name,
				    name, w, pi, po, dflt ? "default" : "",
				    conf ? "" : dflt ? ", unconfigured" :
				    "unconfigured");
	}
	jv r = cdt_record_new("model");
	r = jv_object_set(r, jv_string("provider"), jv_string(p->name));
	r = jv_object_set(r, jv_string("model"), jv_string(name));
	r = jv_object_set(r, jv_string("default"), jv_bool(dflt));
	r = jv_object_set(r, jv_string("context_window"),
			  window > 0 ? jv_number((double)window) : jv_null());
	jv price = jv_object();
	price = jv_object_set(price, jv_string("input"), price_or_null(in));
	price = jv_object_set(price, jv_string("output"), price_or_null(out));
	r = jv_object_set(r, jv_string("price"), price);
	r = jv_object_set(r, jv_string("configured"), jv_bool(conf));
	r = jv_object_set(r, jv_string("table_date"),
			  jv_string(cdt_models_date));
	return cdt_emit(r);
}

int
cdt_chat_models(struct cdt_ctx *ctx)
{
	struct chat ch;
	jv seen = jv_object();
	chat_init(&ch, ctx);
	int rc = cdt_stream_each(ctx, NULL, NULL);
	if (!rc)
		rc = cdt_stream_upstream(ctx, "listing models");
	if (!rc)
		rc = load_config(&ch);
	if (!rc && cdt_out_mode() == CDT_OUT_TEXT)
		rc = cdt_out_text("%-10s %-32s %9s %8s %8s\n", "PROVIDER",
				  "MODEL", "CONTEXT", "IN $/M", "OUT $/M");
	size_t n = 0;
	const struct cdt_model_info *t = cdt_models_table(&n);
	for (size_t i = 0; !rc && i < ch.ps.n; i++) {
		const struct cdt_provider *p = &ch.ps.v[i];
		if (p->model)
			rc = model_row(p, p->model, &seen);
		for (size_t j = 0; !rc && j < n; j++)
			if (!strcmp(t[j].provider, p->name))
				rc = model_row(p, t[j].name, &seen);
		if (jv_get_kind(p->models) != JV_KIND_ARRAY)
			continue;
		jv_array_foreach(p->models, j, v) {
			(void)j;
			if (!rc && jv_get_kind(v) == JV_KIND_STRING)
				rc = model_row(p, jv_string_value(v), &seen);
			jv_free(v);
		}
	}
	if (!rc && cdt_out_mode() == CDT_OUT_TEXT)
		rc = cdt_out_text("prices in USD per million tokens; table of "
				  "%s\n", cdt_models_date);
	jv_free(seen);
	chat_release(&ch);
	return rc;
}

struct ext {
	jv bases;
	jv replies;		/* message records to parse */
};

static int
ext_take(void *arg, jv rec, const char *type)
{
	struct ext *e = arg;
	if (!strcmp(type, "file")) {
		const char *p = cdt_record_str(rec, "path");
		const char *s = cdt_record_str(rec, "sha256");
		if (p && s)
			e->bases = jv_object_set(e->bases, jv_string(p),
						 jv_string(s));
	} else if (!strcmp(type, "message")) {
		const char *role = cdt_record_str(rec, "role");
		if (role && !strcmp(role, "assistant"))
			e->replies = jv_array_append(e->replies,
						     jv_copy(rec));
	}
	return 0;
}

int
cdt_chat_extract(struct cdt_ctx *ctx)
{
	struct ext e = { jv_object(), jv_array() };
	struct cdt_buf raw = CDT_BUF_INIT;
	jv all = jv_array();
	enum cdt_input_kind kind;
	char why[512];
	int rc = cdt_reader_kind(&ctx->in, &kind);
	if (rc)
		goto out;
	if (kind == CDT_IN_RECORDS) {
		rc = cdt_stream_each(ctx, ext_take, &e);
		if (!rc)
			rc = cdt_stream_upstream(ctx, "extracting");
	} else {
		rc = cdt_reader_raw_all(&ctx->in, &raw);
		if (!rc) {
			jv m = cdt_record_new("message");
			m = jv_object_set(m, jv_string("content"),
					  jv_string_sized(raw.buf,
							  (int)raw.len));
			e.replies = jv_array_append(e.replies, m);
		}
	}
	if (rc)
		goto out;
	/* All or nothing over every reply, as for one. */
	jv_array_foreach(e.replies, i, m) {
		jv c = jv_object_get(jv_copy(m), jv_string("content"));
		jv recs = jv_invalid();
		struct cdt_extract_opts o = {
			cdt_record_str(m, "stop_reason"),
			cdt_record_str(m, "id"), e.bases,
		};
		if (!rc && jv_get_kind(c) == JV_KIND_STRING &&
		    cdt_extract(jv_string_value(c),
				(size_t)jv_string_length_bytes(jv_copy(c)), &o,
				&recs, why, sizeof(why)))
			rc = cdt_err_class(1, "bad_edit", "no file or edit "
					   "records: reply %d: %s", i + 1,
					   why);
		if (jv_is_valid(recs))
			all = jv_array_concat(all, recs);
		else
			jv_free(recs);
		jv_free(c);
		jv_free(m);
	}
	if (rc)
		goto out;
	jv_array_foreach(all, i, r) {
		(void)i;
		if (!rc)
			rc = cdt_emit(r);
		else
			jv_free(r);
	}
out:
	jv_free(all);
	jv_free(e.bases);
	jv_free(e.replies);
	cdt_buf_release(&raw);
	return rc;
}
