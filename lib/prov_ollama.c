/*
 * prov_ollama.c - Ollama's native API: POST /api/chat, NDJSON, one
 * object per line with message.content, the last one done:true with
 * done_reason, prompt_eval_count and eval_count.  A failure after the
 * 200 is a bare {"error":"..."} line, so every line is checked for it.
 * A key (Ollama's cloud, or a proxy) goes as a Bearer token.
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
	o = jv_object_set(o, jv_string("stream"), jv_true());
	jv opt = jv_object();
	if (max > 0)
		opt = jv_object_set(opt, jv_string("num_predict"),
				    jv_number((double)max));
	if (req->temperature >= 0)
		opt = jv_object_set(opt, jv_string("temperature"),
				    jv_number(req->temperature));
	if (jv_object_length(jv_copy(opt)) > 0)
		o = jv_object_set(o, jv_string("options"), opt);
	else
		jv_free(opt);
	*body = o;
	cdt_buf_addf(url, "%s/api/chat", p->base_url);
	if (p->api_key) {
		struct cdt_buf v = CDT_BUF_INIT;
		cdt_buf_addf(&v, "Bearer %s", p->api_key);
		prov_header(hdrs, "Authorization", v.buf);
		cdt_buf_release_secret(&v);
	}
	return 0;
}

static int
event(struct prov_stream *s, const char *type, jv data, const char *raw,
      size_t len)
{
	struct cdt_chat_result *res = s->res;
	int rc = 0;
	(void)type;
	(void)raw;
	(void)len;
	if (jv_get_kind(data) != JV_KIND_OBJECT) {
		rc = prov_fail(s, "server", NULL, "malformed line in the "
			       "ollama stream");
		goto out;
	}
	jv err = prov_get(data, "error");
	if (jv_is_valid(err) && jv_get_kind(err) != JV_KIND_NULL) {
		const char *msg = jv_get_kind(err) == JV_KIND_STRING
				  ? jv_string_value(err)
				  : prov_str(err, "message");
		rc = prov_fail(s, NULL, NULL, msg ? msg : "error line");
		jv_free(err);
		goto out;
	}
	jv_free(err);
	prov_model(res, prov_get(data, "model"));
	jv c = prov_get(data, "message.content");
	if (jv_get_kind(c) == JV_KIND_STRING)
		rc = prov_text(s, jv_string_value(c),
			       (size_t)jv_string_length_bytes(jv_copy(c)));
	jv_free(c);
	if (rc)
		goto out;
	jv done = prov_get(data, "done");
	if (jv_get_kind(done) == JV_KIND_TRUE) {
		s->done = true;
		const char *why = prov_str(data, "done_reason");
		prov_stop_reason(res, why ? why : "stop");
		res->tokens_in = prov_long(data, "prompt_eval_count",
					   res->tokens_in);
		res->tokens_out = prov_long(data, "eval_count",
					    res->tokens_out);
	}
	jv_free(done);
out:
	jv_free(data);
	return rc;
}

static const char *
incomplete(const struct prov_stream *s)
{
	return s->done ? NULL : "a line with done:true";
}

const struct prov_wire prov_ollama = {
	"ollama", CDT_SSE_NDJSON, "application/x-ndjson", build, event,
	incomplete,
};
