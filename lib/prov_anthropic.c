/*
 * prov_anthropic.c - the Anthropic Messages API: POST /v1/messages with
 * x-api-key and anthropic-version, stream true and the max_tokens it
 * requires; SSE with named events (message_start, content_block_*,
 * message_delta, message_stop, ping, error).  output_tokens in
 * message_delta is cumulative; input tokens are input_tokens plus the
 * cache reads and writes, which are input too.
 */
#include "compat.h"

#include "prov.h"

#define DEFAULT_MAX_TOKENS 8192

static int
build(const struct cdt_provider *p, const struct cdt_chat_req *req,
      const char *model, struct cdt_buf *url, jv *body,
      struct cdt_buf *hdrs, struct cdt_chat_result *res)
{
	struct cdt_buf sys = CDT_BUF_INIT;
	jv msgs = jv_invalid();
	int rc = prov_messages(req, PROV_SYS_APART, &msgs, &sys, res);
	if (rc) {
		cdt_buf_release(&sys);
		return rc;
	}
	long max = req->max_tokens > 0 ? req->max_tokens
		   : p->max_tokens > 0 ? p->max_tokens : DEFAULT_MAX_TOKENS;
	jv o = jv_object();
	o = jv_object_set(o, jv_string("model"), jv_string(model));
	o = jv_object_set(o, jv_string("max_tokens"), jv_number((double)max));
	if (sys.len)
		o = jv_object_set(o, jv_string("system"),
				  jv_string_sized(sys.buf, (int)sys.len));
	o = jv_object_set(o, jv_string("messages"), msgs);
	if (req->temperature >= 0)
		o = jv_object_set(o, jv_string("temperature"),
				  jv_number(req->temperature));
	o = jv_object_set(o, jv_string("stream"), jv_true());
	*body = o;
	cdt_buf_addf(url, "%s/v1/messages", p->base_url);
	if (p->api_key)
		prov_header(hdrs, "x-api-key", p->api_key);
	prov_header(hdrs, "anthropic-version", "2023-06-01");
	cdt_buf_release(&sys);
	return 0;
}

static long
input_tokens(jv usage, long def)
{
	long n = prov_long(usage, "input_tokens", -1);
	if (n < 0)
		return def;
	long c = prov_long(usage, "cache_creation_input_tokens", 0);
	long r = prov_long(usage, "cache_read_input_tokens", 0);
	return n + (c > 0 ? c : 0) + (r > 0 ? r : 0);
}

static int
event(struct prov_stream *s, const char *type, jv data, const char *raw,
      size_t len)
{
	struct cdt_chat_result *res = s->res;
	int rc = 0;
	const char *t = prov_str(data, "type");
	if (!t)
		t = type;
	if (!jv_is_valid(data)) {
		/* Every Anthropic event carries a JSON object. */
		rc = prov_fail(s, "server", NULL, "malformed event in the "
			       "anthropic stream");
		goto out;
	}
	if (!t || !strcmp(t, "ping")) {
		goto out;
	} else if (!strcmp(t, "message_start")) {
		jv m = prov_get(data, "message");
		prov_model(res, prov_get(m, "model"));
		jv u = prov_get(m, "usage");
		res->tokens_in = input_tokens(u, res->tokens_in);
		res->tokens_out = prov_long(u, "output_tokens",
					    res->tokens_out);
		jv_free(u);
		jv_free(m);
	} else if (!strcmp(t, "content_block_delta")) {
		const char *dt = prov_str(data, "delta.type");
		const char *text = prov_str(data, "delta.text");
		/* thinking_delta and input_json_delta are not the reply. */
		if (text && (!dt || !strcmp(dt, "text_delta"))) {
			jv v = prov_get(data, "delta.text");
			rc = prov_text(s, text, (size_t)jv_string_length_bytes(
				jv_copy(v)));
			jv_free(v);
		}
	} else if (!strcmp(t, "message_delta")) {
		prov_stop_reason(res, prov_str(data, "delta.stop_reason"));
		s->finished = true;
		jv u = prov_get(data, "usage");
		res->tokens_out = prov_long(u, "output_tokens",
					    res->tokens_out);
		res->tokens_in = input_tokens(u, res->tokens_in);
		jv_free(u);
	} else if (!strcmp(t, "message_stop")) {
		s->done = true;
	} else if (!strcmp(t, "error")) {
		rc = prov_fail(s, NULL, prov_str(data, "error.type"),
			       prov_str(data, "error.message"));
	}
out:
	(void)raw;
	(void)len;
	jv_free(data);
	return rc;
}

static const char *
incomplete(const struct prov_stream *s)
{
	return s->done ? NULL : "message_stop";
}

const struct prov_wire prov_anthropic = {
	"anthropic", CDT_SSE_SSE, "text/event-stream", build, event,
	incomplete,
};
