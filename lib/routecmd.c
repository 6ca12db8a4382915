#include "compat.h"
#include <math.h>
#include "buf.h"
#include "caller.h"
#include "cfg.h"
#include "codec.h"
#include "err.h"
#include "hash.h"
#include "http.h"
#include "provider.h"
#include "record.h"
#include "route.h"
#include "store.h"
#include "routecmd.h"

/* Room left in a record for everything but the reply text. */
#define RECORD_SLACK ((size_t)64 << 10)

/* What every command works with, loaded after the stream is read. */
struct rt {
	struct cdt_cfg cfg;
	struct cdt_providers ps;
	struct cdt_route_cfg rc;
	struct cdt_store *st;
	struct cdt_caller who;
	bool have_ps;
	bool have_rc;
};

static void
rt_init(struct rt *rt)
{
	memset(rt, 0, sizeof(*rt));
	cdt_cfg_init(&rt->cfg);
	cdt_caller_init(&rt->who);
}

static void
rt_release(struct rt *rt)
{
	cdt_caller_release(&rt->who);
	cdt_store_close(rt->st);
	if (rt->have_rc)
		cdt_route_cfg_release(&rt->rc);
	if (rt->have_ps)
		cdt_providers_release(&rt->ps);
	cdt_cfg_release(&rt->cfg);
	rt->st = NULL;
}

static int
rt_open(struct rt *rt, bool store)
{
	int rc = cdt_cfg_load(&rt->cfg);
	if (!rc)
		rc = cdt_providers_load(&rt->cfg, &rt->ps);
	if (!rc)
		rt->have_ps = true;
	if (!rc)
		rc = cdt_route_cfg_load(&rt->cfg, &rt->rc);
	if (!rc)
		rt->have_rc = true;
	if (rc || !store)
		return rc;
	/* The store cdt-chat uses too: breakers are shared. */
	return cdt_store_open_cfg(&rt->st, &rt->cfg, 0);
}

/*
 * probe and reset change what every caller of the store gets routed to:
 * they need teams.update on the caller's own team (team-admin or
 * org-admin).  status, pick and send resolve no caller: they read the
 * store-wide router state, or feed it as every cdt-chat turn does, and
 * touch no tenant's rows; the provider keys are the machine's.
 */
static int
rt_authorize(struct rt *rt, struct cdt_ctx *ctx)
{
	int rc = cdt_caller_from_ctx(ctx, rt->st, &rt->cfg, &rt->who);
	if (rc)
		return rc;
	struct cdt_object team = { rt->who.org_id, rt->who.team_id, NULL,
				   NULL };
	return cdt_caller_authorize(&rt->who, "teams.update", &team, "team",
				    rt->who.team);
}

static struct cdt_route_opts
route_opts(struct cdt_ctx *ctx, const char *task)
{
	struct cdt_route_opts o = {
		.providers = cdt_opt(ctx, "provider"),
		.task = cdt_opt(ctx, "task") ? cdt_opt(ctx, "task") : task,
		.strategy = cdt_opt(ctx, "strategy"),
		.force = ctx->force,
	};
	return o;
}

static int
emit_all(jv records)
{
	int rc = 0;
	jv_array_foreach(records, i, r) {
		(void)i;
		if (!rc)
			rc = cdt_emit(r);
		else
			jv_free(r);
	}
	jv_free(records);
	return rc;
}

/* Forward the whole stream; an upstream error record stops us. */
static int
forward_all(struct cdt_ctx *ctx, const char *what)
{
	int rc = cdt_stream_each(ctx, NULL, NULL);
	if (!rc)
		rc = cdt_stream_upstream(ctx, what);
	return rc;
}

static int
no_operands(struct cdt_ctx *ctx, int max)
{
	if (ctx->argc > max)
		return cdt_usage(ctx, "%s takes %s", ctx->args.cmd_word,
				 max ? "at most one PROVIDER" : "no operands");
	return 0;
}

int
cdt_routecmd_status(struct cdt_ctx *ctx)
{
	struct rt rt;
	jv recs = jv_invalid();
	int rc = no_operands(ctx, 0);
	if (rc)
		return rc;
	if ((rc = forward_all(ctx, "reporting")))
		return rc;
	rt_init(&rt);
	rc = rt_open(&rt, true);
	struct cdt_route_opts o = route_opts(ctx, NULL);
	if (!rc)
		rc = cdt_route_status(rt.st, &rt.ps, &rt.rc, &o, &recs);
	if (!rc)
		rc = emit_all(jv_copy(recs));
	/* The records go out first; the verdict is the exit status. */
	if (!rc && cdt_flag(ctx, "check"))
		rc = cdt_route_check(recs);
	jv_free(recs);
	rt_release(&rt);
	return rc;
}

/* ---- the request: PROMPT words, raw stdin, request/message records ---- */

struct input {
	bool take;		/* send: request and message records are ours */
	jv msgs;		/* [{role, content}] */
	struct cdt_buf system;
	char *model;
	char *task;
	char *providers;
	char *conversation;
	long max_tokens;
	double temperature;	/* < 0: unset */
	int line;
};

static void
input_init(struct input *in, bool take)
{
	memset(in, 0, sizeof(*in));
	in->take = take;
	in->msgs = jv_array();
	cdt_buf_init(&in->system, CDT_RECORD_MAX);
	in->temperature = -1;
}

static void
input_release(struct input *in)
{
	jv_free(in->msgs);
	cdt_buf_release(&in->system);
	free(in->model);
	free(in->task);
	free(in->providers);
	free(in->conversation);
}

static void
set_str(char **dst, jv rec, const char *key)
{
	const char *s = cdt_record_str(rec, key);
	if (s && *s) {
		free(*dst);
		*dst = cdt_xstrdup(s);
	}
}

/* One turn {role, content} (m is not consumed); 65 when malformed. */
static int
add_turn(struct input *in, jv m, const char *what)
{
	const char *role = jv_get_kind(m) == JV_KIND_OBJECT ?
		cdt_record_str(m, "role") : NULL;
	const char *content = role ? cdt_record_str(m, "content") : NULL;
	if (!role || !content)
		return cdt_err_class(EX_DATAERR, "bad_record", "bad %s: a "
				     "message needs a role and a content "
				     "string", what);
	if (!strcmp(role, "system")) {
		if (in->system.len && cdt_buf_addstr(&in->system, "\n\n"))
			return cdt_err(EX_DATAERR, "the system text is over "
				       "the cap");
		if (cdt_buf_addstr(&in->system, content))
			return cdt_err(EX_DATAERR, "the system text is over "
				       "the cap");
		return 0;
	}
	if (strcmp(role, "user") && strcmp(role, "assistant"))
		return cdt_err_class(EX_DATAERR, "bad_record", "bad %s: role "
				     "'%s' (user, assistant or system)", what,
				     role);
	/* An empty turn (a reply cut before its first byte) says nothing,
	   and some APIs refuse it. */
	if (!*content)
		return 0;
	jv t = jv_object();
	t = jv_object_set(t, jv_string("role"), jv_string(role));
	t = jv_object_set(t, jv_string("content"), jv_string(content));
	in->msgs = jv_array_append(in->msgs, t);
	return 0;
}

static int
take_request(struct input *in, jv rec)
{
	jv msgs = jv_object_get(jv_copy(rec), jv_string("messages"));
	int rc = 0;
	if (jv_get_kind(msgs) != JV_KIND_ARRAY &&
	    jv_get_kind(msgs) != JV_KIND_NULL) {
		jv_free(msgs);
		return cdt_err_class(EX_DATAERR, "bad_record", "bad request "
				     "record: 'messages' must be an array");
	}
	if (jv_get_kind(msgs) == JV_KIND_ARRAY) {
		jv_array_foreach(msgs, i, m) {
			(void)i;
			if (!rc)
				rc = add_turn(in, m, "request record");
			jv_free(m);
		}
	}
	jv_free(msgs);
	if (rc)
		return rc;
	const char *sys = cdt_record_str(rec, "system");
	if (sys && *sys && ((in->system.len &&
			     cdt_buf_addstr(&in->system, "\n\n")) ||
			    cdt_buf_addstr(&in->system, sys)))
		return cdt_err(EX_DATAERR, "the system text is over the cap");
	set_str(&in->model, rec, "model");
	set_str(&in->task, rec, "task");
	set_str(&in->providers, rec, "provider");
	set_str(&in->conversation, rec, "conversation_id");
	jv v = jv_object_get(jv_copy(rec), jv_string("max_tokens"));
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);
		if (d < 1 || d > 1e9 || d != floor(d))
			rc = cdt_err_class(EX_DATAERR, "bad_record", "bad "
					   "request record: 'max_tokens' must "
					   "be a positive integer");
		in->max_tokens = (long)d;
	}
	jv_free(v);
	v = jv_object_get(jv_copy(rec), jv_string("temperature"));
	if (!rc && jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);
		if (d < 0 || d > 2)
			rc = cdt_err_class(EX_DATAERR, "bad_record", "bad "
					   "request record: 'temperature' "
					   "must be 0 to 2");
		in->temperature = d;
	}
	jv_free(v);
	return rc;
}

static int
input_fn(void *arg, jv rec, const char *type)
{
	struct input *in = arg;
	int rc = 0;
	if (!strcmp(type, "request"))
		rc = take_request(in, rec);
	else if (!strcmp(type, "message"))
		rc = add_turn(in, rec, "message record");
	else
		return 0;
	if (rc)
		return rc;
	return in->take ? 1 : 0;
}

static bool
blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' &&
		    s[i] != '\r')
			return false;
	return true;
}

/*
 * Read the input: raw text, or the record stream to its end (forwarded,
 * except what send takes).  The user's turn is the PROMPT words, then the
 * raw text, after any turns the records carried.
 */
static int
read_request(struct cdt_ctx *ctx, struct input *in, int first_operand)
{
	struct cdt_buf raw = CDT_BUF_INIT;
	struct cdt_buf msg = CDT_BUF_INIT;
	enum cdt_input_kind kind;
	int rc = cdt_reader_kind(&ctx->in, &kind);
	if (!rc && kind == CDT_IN_RAW)
		rc = cdt_reader_raw_all(&ctx->in, &raw);
	else if (!rc)
		rc = cdt_stream_each(ctx, input_fn, in);
	if (!rc)
		rc = cdt_stream_upstream(ctx, "routing");
	for (int i = first_operand; !rc && i < ctx->argc; i++)
		if (cdt_buf_addf(&msg, "%s%s", i > first_operand ? " " : "",
				 ctx->argv[i]))
			rc = cdt_err(EX_DATAERR, "the prompt is over the cap");
	if (!rc && raw.len && !blank(raw.buf, raw.len)) {
		if ((msg.len && cdt_buf_addstr(&msg, "\n\n")) ||
		    cdt_buf_add(&msg, raw.buf, raw.len))
			rc = cdt_err(EX_DATAERR, "the prompt is over the cap");
	}
	if (!rc && msg.len) {
		jv t = jv_object();
		t = jv_object_set(t, jv_string("role"), jv_string("user"));
		t = jv_object_set(t, jv_string("content"),
				  jv_string_sized(msg.buf, (int)msg.len));
		in->msgs = jv_array_append(in->msgs, t);
	}
	cdt_buf_release(&msg);
	cdt_buf_release(&raw);
	return rc;
}

static int
parse_long_opt(struct cdt_ctx *ctx, const char *name, long *out)
{
	const char *v = cdt_opt(ctx, name);
	char *end;
	if (!v)
		return 0;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1)
		return cdt_usage(ctx, "--%s takes a positive integer, not '%s'",
				 name, v);
	*out = n;
	return 0;
}

static int
parse_temp_opt(struct cdt_ctx *ctx, double *out)
{
	const char *v = cdt_opt(ctx, "temperature");
	char *end;
	if (!v)
		return 0;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= 0 && d <= 2))
		return cdt_usage(ctx, "--temperature takes 0 to 2, not '%s'",
				 v);
	*out = d;
	return 0;
}

int
cdt_routecmd_pick(struct cdt_ctx *ctx)
{
	struct rt rt;
	struct input in;
	jv rec = jv_invalid();
	int rc = no_operands(ctx, 0);
	if (rc)
		return rc;
	input_init(&in, false);
	rt_init(&rt);
	rc = read_request(ctx, &in, 0);
	if (!rc)
		rc = rt_open(&rt, true);
	if (rc)
		goto out;
	struct cdt_route_opts o = route_opts(ctx, in.task);
	if (!o.providers)
		o.providers = in.providers;
	struct cdt_chat_req req = {
		.messages = in.msgs,
		.system = in.system.len ? in.system.buf : NULL,
		.model = in.model ? in.model :
			cdt_cfg_str(&rt.cfg, "defaults.model", NULL),
		.max_tokens = in.max_tokens,
		.temperature = -1,
	};
	rc = cdt_route_pick(rt.st, &rt.ps, &rt.rc, &o, &req, &rec);
	if (jv_is_valid(rec)) {
		int erc = cdt_emit(rec);
		if (!rc)
			rc = erc;
	}
out:
	rt_release(&rt);
	input_release(&in);
	return rc;
}

/* ---- send ---- */

struct sender {
	char id[CDT_UUID_LEN + 1];
	bool deltas;
	int status;
};

static int
on_delta(void *arg, const char *text, size_t len)
{
	struct sender *s = arg;
	if (!s->deltas || !len)
		return 0;
	jv d = cdt_record_new("delta");
	d = jv_object_set(d, jv_string("message_id"), jv_string(s->id));
	d = jv_object_set(d, jv_string("content"),
			  jv_string_sized(text, (int)len));
	/* A write error is reported once and ends the tool afterwards;
	   the reply is still received whole. */
	int rc = cdt_emit(d);
	if (rc && !s->status)
		s->status = rc;
	return 0;
}

static jv
str_or_null(const char *s)
{
	return s && *s ? jv_string(s) : jv_null();
}

static jv
reply_record(struct cdt_ctx *ctx, const struct sender *s,
	     const struct input *in, const struct cdt_route_result *res,
	     const char *strategy, bool failed)
{
	const struct cdt_chat_result *r = &res->chat;
	char now[32];
	const char *session = jv_is_valid(ctx->session) ?
		cdt_record_str(ctx->session, "id") : NULL;
	if (!session)
		session = getenv("CDT_SESSION");
	size_t n = r->text.len;
	bool truncated = false;
	if (n > CDT_RECORD_MAX - RECORD_SLACK) {
		n = cdt_utf8_cut(r->text.buf, CDT_RECORD_MAX -
				     RECORD_SLACK);
		truncated = true;
	}
	cdt_now_rfc3339(now);
	jv m = cdt_record_new("message");
	m = jv_object_set(m, jv_string("id"), jv_string(s->id));
	m = jv_object_set(m, jv_string("conversation_id"),
			  str_or_null(in->conversation));
	m = jv_object_set(m, jv_string("session_id"), str_or_null(session));
	m = jv_object_set(m, jv_string("role"), jv_string("assistant"));
	m = jv_object_set(m, jv_string("content"),
			  jv_string_sized(r->text.buf, (int)n));
	m = jv_object_set(m, jv_string("truncated"), jv_bool(truncated));
	/* A partial reply came from the last provider tried. */
	jv who = jv_null();
	if (res->provider) {
		who = jv_string(res->provider->name);
	} else {
		int na = jv_array_length(jv_copy(res->attempts));
		if (na > 0)
			who = jv_object_get(jv_array_get(jv_copy(res->attempts),
							 na - 1),
					    jv_string("provider"));
	}
	m = jv_object_set(m, jv_string("provider"), who);
	m = jv_object_set(m, jv_string("model"), str_or_null(r->model));
	m = jv_object_set(m, jv_string("timestamp"), jv_string(now));
	m = jv_object_set(m, jv_string("stop_reason"),
			  str_or_null(failed ? NULL : r->stop_reason));
	m = jv_object_set(m, jv_string("partial"),
			  jv_bool(failed || r->partial));
	m = jv_object_set(m, jv_string("replayed"), jv_bool(r->replayed));

	m = jv_object_set(m, jv_string("metadata"),
			  cdt_route_reply_metadata(res, strategy));
	return m;
}

int
cdt_routecmd_send(struct cdt_ctx *ctx)
{
	struct rt rt;
	struct input in;
	struct sender s;
	struct cdt_route_result res;
	long max_tokens = 0;
	double temp = -1;
	input_init(&in, true);
	rt_init(&rt);
	cdt_route_result_init(&res);
	memset(&s, 0, sizeof(s));
	int rc = parse_long_opt(ctx, "max-tokens", &max_tokens);
	if (!rc)
		rc = parse_temp_opt(ctx, &temp);
	if (!rc)
		rc = read_request(ctx, &in, 0);
	if (!rc && !jv_array_length(jv_copy(in.msgs)))
		rc = cdt_err_class(EX_NOINPUT, "not_found", "nothing to send: "
				   "give a PROMPT, text on stdin, or request "
				   "or message records");
	if (!rc)
		rc = rt_open(&rt, true);
	if (!rc)
		rc = cdt_uuid4(s.id);
	if (rc)
		goto out;
	s.deltas = cdt_flag(ctx, "stream") || ctx->out_mode == CDT_OUT_TEXT;

	struct cdt_route_opts o = route_opts(ctx, in.task);
	if (!o.providers)
		o.providers = in.providers;
	const char *model = cdt_opt(ctx, "model");
	if (!model)
		model = in.model;
	if (!model)
		model = cdt_cfg_str(&rt.cfg, "defaults.model", NULL);
	struct cdt_chat_req req = {
		.messages = in.msgs,
		.system = in.system.len ? in.system.buf : NULL,
		.model = model,
		.max_tokens = max_tokens ? max_tokens : in.max_tokens,
		.temperature = temp >= 0 ? temp : in.temperature,
		.stream = true,
	};
	rc = cdt_route_send(rt.st, &rt.ps, &rt.rc, &o, &req, on_delta, &s,
			    &res);
	/* A reply that broke after output began is printed as far as it
	   came (partial), then the error. */
	if (!rc || res.chat.output_began || res.chat.text.len) {
		int erc = cdt_emit(reply_record(ctx, &s, &in, &res,
				   o.strategy ? o.strategy : rt.rc.strategy,
				   rc != 0));
		if (!rc)
			rc = erc;
	}
	if (!rc)
		rc = s.status;
out:
	cdt_route_result_release(&res);
	rt_release(&rt);
	input_release(&in);
	return rc;
}

/* ---- probe, reset, config ---- */

int
cdt_routecmd_probe(struct cdt_ctx *ctx)
{
	struct rt rt;
	jv recs = jv_invalid();
	int rc = no_operands(ctx, 1);
	if (rc)
		return rc;
	if ((rc = forward_all(ctx, "probing")))
		return rc;
	rt_init(&rt);
	rc = rt_open(&rt, true);
	if (!rc)
		rc = rt_authorize(&rt, ctx);
	struct cdt_route_opts o = route_opts(ctx, NULL);
	if (!rc)
		rc = cdt_route_probe(rt.st, &rt.ps, &rt.rc, &o,
				     ctx->argc ? ctx->argv[0] : NULL, &recs);
	if (!rc)
		rc = emit_all(jv_copy(recs));
	if (!rc)
		rc = cdt_route_check(recs);
	jv_free(recs);
	rt_release(&rt);
	return rc;
}

int
cdt_routecmd_reset(struct cdt_ctx *ctx)
{
	struct rt rt;
	jv recs = jv_invalid();
	int rc = no_operands(ctx, 1);
	if (rc)
		return rc;
	if ((rc = forward_all(ctx, "resetting")))
		return rc;
	rt_init(&rt);
	rc = rt_open(&rt, true);
	if (!rc)
		rc = rt_authorize(&rt, ctx);
	struct cdt_route_opts o = route_opts(ctx, NULL);
	const char *name = NULL;
	if (!rc && ctx->argc) {
		struct cdt_provider *p = cdt_providers_find(&rt.ps,
							    ctx->argv[0]);
		if (!p)
			rc = cdt_err_class(EX_CONFIG, "config", "no provider "
					   "'%s'", ctx->argv[0]);
		else
			name = o.providers = p->name;
	}
	if (!rc)
		rc = cdt_route_reset(rt.st, name);
	if (!rc)
		rc = cdt_route_status(rt.st, &rt.ps, &rt.rc, &o, &recs);
	if (!rc) {
		rc = emit_all(recs);
		recs = jv_invalid();
	}
	jv_free(recs);
	rt_release(&rt);
	return rc;
}

int
cdt_routecmd_config(struct cdt_ctx *ctx)
{
	struct rt rt;
	int rc = no_operands(ctx, 0);
	if (rc)
		return rc;
	if ((rc = forward_all(ctx, "reporting")))
		return rc;
	rt_init(&rt);
	rc = rt_open(&rt, false);
	if (rc)
		goto out;
	jv r = cdt_route_cfg_record(&rt.rc);
	jv ps = jv_array();
	for (size_t i = 0; i < rt.ps.n; i++) {
		const struct cdt_provider *p = &rt.ps.v[i];
		double pin, pout;
		cdt_provider_price(p, NULL, &pin, &pout);
		jv e = jv_object();
		e = jv_object_set(e, jv_string("name"), jv_string(p->name));
		e = jv_object_set(e, jv_string("model"), str_or_null(p->model));
		e = jv_object_set(e, jv_string("configured"),
				  jv_bool(cdt_provider_configured(p)));
		e = jv_object_set(e, jv_string("key_source"),
				  str_or_null(p->key_source));
		e = jv_object_set(e, jv_string("key_vars"),
				  str_or_null(p->key_vars));
		struct cdt_buf u = CDT_BUF_INIT;
		if (p->base_url)
			cdt_http_redact_url(&u, p->base_url);
		e = jv_object_set(e, jv_string("base_url"),
				  str_or_null(u.len ? u.buf : NULL));
		cdt_buf_release(&u);
		jv pr = jv_object();
		pr = jv_object_set(pr, jv_string("input"),
				   pin >= 0 ? jv_number(pin) : jv_null());
		pr = jv_object_set(pr, jv_string("output"),
				   pout >= 0 ? jv_number(pout) : jv_null());
		e = jv_object_set(e, jv_string("price"), pr);
		long w = cdt_provider_context(p, NULL);
		e = jv_object_set(e, jv_string("max_input_tokens"),
				  w > 0 ? jv_number(w) : jv_null());
		e = jv_object_set(e, jv_string("timeout_ms"),
				  jv_number(p->timeout_ms > 0 ? p->timeout_ms :
					    rt.rc.timeout_ms));
		ps = jv_array_append(ps, e);
	}
	r = jv_object_set(r, jv_string("providers"), ps);
	rc = cdt_emit(r);
out:
	rt_release(&rt);
	return rc;
}
