/*
 * prov_openai.c - OpenAI Chat Completions and the servers that copy it
 * (Moonshot/Kimi, LM Studio, llama.cpp, vLLM): POST /chat/completions
 * with a Bearer key, stream true and stream_options.include_usage, so a
 * last chunk with empty choices carries the usage; Kimi puts it in
 * choices[0].usage instead, and both are read.  The stream ends with
 * "data: [DONE]"; a data object with "error" is a mid-stream failure.
 * api.openai.com takes max_completion_tokens (its newer models refuse
 * max_tokens); other servers get max_tokens.
 */
#include "compat.h"

#include "prov.h"

static int
build(const struct cdt_provider *p, const struct cdt_chat_req *req,
      const char *model, struct cdt_buf *url, jv *body,
      struct cdt_buf *hdrs, struct cdt_chat_result *res)
{
	jv msgs = jv_invalid();
	int rc = prov_messages(req, PROV_SYS_MESSAGE, &msgs, NULL, res);
	if (rc)
		return rc;
	long max = req->max_tokens > 0 ? req->max_tokens : p->max_tokens;
	jv o = jv_object();
	o = jv_object_set(o, jv_string("model"), jv_string(model));
	o = jv_object_set(o, jv_string("messages"), msgs);
	if (max > 0)
		o = jv_object_set(o, jv_string(
			strstr(p->base_url, "://api.openai.com")
			? "max_completion_tokens" : "max_tokens"),
			jv_number((double)max));
	if (req->temperature >= 0)
		o = jv_object_set(o, jv_string("temperature"),
				  jv_number(req->temperature));
	o = jv_object_set(o, jv_string("stream"), jv_true());
	jv so = jv_object_set(jv_object(), jv_string("include_usage"),
			      jv_true());
	o = jv_object_set(o, jv_string("stream_options"), so);
	*body = o;
	cdt_buf_addf(url, "%s/chat/completions", p->base_url);
	if (p->api_key) {
		struct cdt_buf v = CDT_BUF_INIT;
		cdt_buf_addf(&v, "Bearer %s", p->api_key);
		prov_header(hdrs, "Authorization", v.buf);
		cdt_buf_release_secret(&v);
	}
	return 0;
}

static void
usage(struct cdt_chat_result *res, jv u)
{
	if (jv_get_kind(u) == JV_KIND_OBJECT) {
		res->tokens_in = prov_long(u, "prompt_tokens",
					   res->tokens_in);
		res->tokens_out = prov_long(u, "completion_tokens",
					    res->tokens_out);
	}
	jv_free(u);
}

static int
event(struct prov_stream *s, const char *type, jv data, const char *raw,
      size_t len)
{
	struct cdt_chat_result *res = s->res;
	int rc = 0;
	(void)type;
	if (!jv_is_valid(data)) {
		if (len == 6 && !memcmp(raw, "[DONE]", 6))
			s->done = true;
		else
			rc = prov_fail(s, "server", NULL, "malformed event in "
				       "the openai stream");
		goto out;
	}
	jv err = prov_get(data, "error");
	if (jv_is_valid(err) && jv_get_kind(err) != JV_KIND_NULL) {
		const char *msg = prov_str(err, "message");
		const char *t = prov_str(err, "code");
		if (!t || !*t)
			t = prov_str(err, "type");
		rc = prov_fail(s, NULL, t, msg ? msg : "error event");
		jv_free(err);
		goto out;
	}
	jv_free(err);
	prov_model(res, prov_get(data, "model"));
	const char *text = prov_str(data, "choices.0.delta.content");
	if (text) {
		jv v = prov_get(data, "choices.0.delta.content");
		rc = prov_text(s, text,
			       (size_t)jv_string_length_bytes(jv_copy(v)));
		jv_free(v);
		if (rc)
			goto out;
	}
	const char *fin = prov_str(data, "choices.0.finish_reason");
	if (fin) {
		prov_stop_reason(res, fin);
		s->finished = true;
	}
	usage(res, prov_get(data, "usage"));
	usage(res, prov_get(data, "choices.0.usage"));
out:
	jv_free(data);
	return rc;
}

static const char *
incomplete(const struct prov_stream *s)
{
	return s->done ? NULL : "data: [DONE]";
}

const struct prov_wire prov_openai = {
	"openai", CDT_SSE_SSE, "text/event-stream", build, event,
	incomplete,
};
