/*
 * prov_gemini.c - Google Gemini: POST
 * /v1beta/models/MODEL:streamGenerateContent?alt=sse with the key in
 * x-goog-api-key (never in the URL), system prompt as
 * systemInstruction, roles user and model.  Each SSE data is a whole
 * GenerateContentResponse: text is candidates[0].content.parts[].text
 * (thought parts skipped), usageMetadata is cumulative (the last wins),
 * finishReason comes on the last chunk.  There is no terminator: EOF
 * ends the stream.  We count a stream complete only when a finishReason
 * (or a promptFeedback.blockReason, which has no candidates) arrived:
 * Gemini always sends one last, so an EOF before it is a cut stream,
 * even when candidates arrived, and never a silent success.
 */
#include "compat.h"

#include "prov.h"

static bool
model_ok(const char *m)
{
	if (!*m)
		return false;
	for (; *m; m++)
		if (!((*m >= 'a' && *m <= 'z') || (*m >= 'A' && *m <= 'Z') ||
		      (*m >= '0' && *m <= '9') || *m == '-' || *m == '.' ||
		      *m == '_'))
			return false;
	return true;
}

static int
build(const struct cdt_provider *p, const struct cdt_chat_req *req,
      const char *model, struct cdt_buf *url, jv *body,
      struct cdt_buf *hdrs, struct cdt_chat_result *res)
{
	struct cdt_buf sys = CDT_BUF_INIT;
	jv msgs = jv_invalid();
	if (!strncmp(model, "models/", 7))
		model += 7;
	if (!model_ok(model))
		return prov_bad(res, EX_DATAERR, "bad gemini model name "
				"'%.64s'", model);
	int rc = prov_messages(req, PROV_SYS_APART, &msgs, &sys, res);
	if (rc) {
		cdt_buf_release(&sys);
		return rc;
	}
	jv contents = jv_array();
	jv_array_foreach(msgs, i, m) {
		const char *role = prov_str(m, "role");
		jv part = jv_object_set(jv_object(), jv_string("text"),
					prov_get(m, "content"));
		jv c = jv_object();
		c = jv_object_set(c, jv_string("role"), jv_string(
			!strcmp(role, "assistant") ? "model" : "user"));
		c = jv_object_set(c, jv_string("parts"),
				  jv_array_append(jv_array(), part));
		contents = jv_array_append(contents, c);
		jv_free(m);
	}
	jv_free(msgs);
	jv o = jv_object();
	o = jv_object_set(o, jv_string("contents"), contents);
	if (sys.len) {
		jv part = jv_object_set(jv_object(), jv_string("text"),
					jv_string_sized(sys.buf,
							(int)sys.len));
		o = jv_object_set(o, jv_string("systemInstruction"),
				  jv_object_set(jv_object(),
						jv_string("parts"),
						jv_array_append(jv_array(),
								part)));
	}
	long max = req->max_tokens > 0 ? req->max_tokens : p->max_tokens;
	jv gc = jv_object();
	if (max > 0)
		gc = jv_object_set(gc, jv_string("maxOutputTokens"),
				   jv_number((double)max));
	if (req->temperature >= 0)
		gc = jv_object_set(gc, jv_string("temperature"),
				   jv_number(req->temperature));
	if (jv_object_length(jv_copy(gc)) > 0)
		o = jv_object_set(o, jv_string("generationConfig"), gc);
	else
		jv_free(gc);
	*body = o;
	/* GEMINI_BASE_URL may already name the API version. */
	size_t bl = strlen(p->base_url);
	bool versioned = (bl >= 7 && !strcmp(p->base_url + bl - 7,
					      "/v1beta")) ||
			 (bl >= 3 && !strcmp(p->base_url + bl - 3, "/v1"));
	cdt_buf_addf(url, "%s%s/models/%s:streamGenerateContent?alt=sse",
		     p->base_url, versioned ? "" : "/v1beta", model);
	if (p->api_key)
		prov_header(hdrs, "x-goog-api-key", p->api_key);
	cdt_buf_release(&sys);
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
	if (!jv_is_valid(data)) {
		rc = prov_fail(s, "server", NULL, "malformed event in the "
			       "gemini stream");
		goto out;
	}
	jv err = prov_get(data, "error");
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		const char *t = prov_str(err, "status");
		rc = prov_fail(s, NULL, t, prov_str(err, "message"));
		jv_free(err);
		goto out;
	}
	jv_free(err);
	prov_model(res, prov_get(data, "modelVersion"));
	jv cand = prov_get(data, "candidates.0");
	if (jv_is_valid(cand)) {
		s->candidate = true;
		jv parts = prov_get(cand, "content.parts");
		if (jv_get_kind(parts) == JV_KIND_ARRAY) {
			jv_array_foreach(parts, i, part) {
				jv t = prov_get(part, "text");
				jv th = prov_get(part, "thought");
				if (!rc && jv_get_kind(t) == JV_KIND_STRING &&
				    jv_get_kind(th) != JV_KIND_TRUE)
					rc = prov_text(s, jv_string_value(t),
						       (size_t)
						       jv_string_length_bytes(
						       jv_copy(t)));
				jv_free(th);
				jv_free(t);
				jv_free(part);
			}
		}
		jv_free(parts);
		const char *fin = prov_str(cand, "finishReason");
		if (fin && strcmp(fin, "FINISH_REASON_UNSPECIFIED")) {
			prov_stop_reason(res, fin);
			s->finished = true;
		}
	}
	jv_free(cand);
	const char *block = prov_str(data, "promptFeedback.blockReason");
	if (block) {
		prov_stop_reason(res, "content_filter");
		s->finished = true;
	}
	jv u = prov_get(data, "usageMetadata");
	if (jv_get_kind(u) == JV_KIND_OBJECT) {
		res->tokens_in = prov_long(u, "promptTokenCount",
					   res->tokens_in);
		long c = prov_long(u, "candidatesTokenCount", -1);
		long t = prov_long(u, "thoughtsTokenCount", 0);
		/* Thinking is billed as output. */
		if (c >= 0 || t > 0)
			res->tokens_out = (c > 0 ? c : 0) + (t > 0 ? t : 0);
	}
	jv_free(u);
out:
	jv_free(data);
	return rc;
}

static const char *
incomplete(const struct prov_stream *s)
{
	return s->finished ? NULL : "a finishReason";
}

const struct prov_wire prov_gemini = {
	"gemini", CDT_SSE_SSE, "text/event-stream", build, event, incomplete,
};
