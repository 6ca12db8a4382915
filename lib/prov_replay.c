/*
 * prov_replay.c - cassettes: replies recorded as JSON Lines
 * {"key","provider","model","text","stop_reason","tokens_in",
 * "tokens_out"} and served again by a provider of type replay.  The key
 * is cdt_provider_request_key's: the same for every provider, so a reply
 * recorded from claude replays for the same request.  When a key appears
 * twice the last line wins (re-recording appends).  A miss is a config
 * error (78) naming the key, never a call to a real provider.
 */
#include "compat.h"

#include <fcntl.h>
#include <unistd.h>

#include "err.h"
#include "prov.h"

#define CHUNKS 4		/* a replayed reply arrives in a few pieces */

/* The longest prefix of s[0..n) not ending inside a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t n, size_t total)
{
	if (n >= total)
		return total;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* The last line of the cassette with this key; 0, 66 none, or 78. */
static int
find(const char *file, const char *key, jv *out, char *why, size_t whylen)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	int rc = EX_NOINPUT;

	*out = jv_invalid();
	if (!f) {
		snprintf(why, whylen, "cannot read cassette '%s': %s", file,
			 strerror(errno));
		return EX_CONFIG;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		size_t len = (size_t)n;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (!len)
			continue;
		/* Cheap test before parsing a long line. */
		if (!memmem(line, len, key, strlen(key)))
			continue;
		jv j = jv_parse_sized(line, (int)(len > INT32_MAX ? INT32_MAX
							       : len));
		const char *k = prov_str(j, "key");
		if (jv_get_kind(j) != JV_KIND_OBJECT) {
			jv_free(j);
			snprintf(why, whylen, "cassette '%s' line %ld is not "
				 "a JSON object", file, lineno);
			rc = EX_CONFIG;
			break;
		}
		if (k && !strcmp(k, key)) {
			jv_free(*out);
			*out = j;
			rc = 0;
		} else {
			jv_free(j);
		}
	}
	if (rc != EX_CONFIG && ferror(f)) {
		snprintf(why, whylen, "cannot read cassette '%s': %s", file,
			 strerror(errno));
		rc = EX_CONFIG;
	}
	if (rc == EX_CONFIG) {
		jv_free(*out);
		*out = jv_invalid();
	}
	free(line);
	fclose(f);
	return rc;
}

int
prov_replay_send(const struct cdt_provider *p,
		 const struct cdt_chat_req *req, cdt_delta_cb cb, void *ctx,
		 struct cdt_chat_result *res)
{
	char key[65];
	char why[256] = "";
	jv j = jv_invalid();
	int64_t start = prov_now_ms();
	int rc = cdt_provider_request_key(p, req, key);
	if (rc)
		return prov_bad(res, rc, "malformed request for replay");
	if (!p->replay_file)
		return prov_bad(res, EX_CONFIG, "provider '%s' has no "
				"cassette file", p->name);
	rc = find(p->replay_file, key, &j, why, sizeof(why));
	if (rc == EX_NOINPUT)
		return prov_bad(res, EX_CONFIG, "no reply for request %s in "
				"cassette '%s'", key, p->replay_file);
	if (rc)
		return prov_bad(res, EX_CONFIG, "%s", why);

	res->replayed = true;
	prov_model(res, prov_get(j, "model"));
	res->tokens_in = prov_long(j, "tokens_in", -1);
	res->tokens_out = prov_long(j, "tokens_out", -1);
	const char *stop = prov_str(j, "stop_reason");
	prov_stop_reason(res, stop ? stop : "end_turn");
	jv text = prov_get(j, "text");
	const char *t = jv_get_kind(text) == JV_KIND_STRING
			? jv_string_value(text) : "";
	size_t len = jv_get_kind(text) == JV_KIND_STRING
		     ? (size_t)jv_string_length_bytes(jv_copy(text)) : 0;
	size_t piece = len / CHUNKS + 1;
	for (size_t off = 0; off < len;) {
		size_t n = utf8_cut(t + off, piece, len - off);
		if (n == 0)	/* a sequence longer than a piece */
			n = utf8_cut(t + off, piece + 4, len - off);
		if (cdt_buf_add(&res->text, t + off, n)) {
			rc = prov_bad(res, EX_CONFIG, "the reply in cassette "
				      "'%s' is too large", p->replay_file);
			break;
		}
		if (!res->output_began) {
			res->output_began = true;
			res->ttfb_ms = (long)(prov_now_ms() - start);
		}
		if (cb && (rc = cb(ctx, t + off, n))) {
			res->err_class = "cancelled";
			res->status = rc;
			res->partial = true;
			snprintf(res->err_msg, sizeof(res->err_msg),
				 "stopped by the reader");
			break;
		}
		off += n;
	}
	if (!res->output_began)
		res->ttfb_ms = (long)(prov_now_ms() - start);
	jv_free(text);
	jv_free(j);
	return rc;
}

int
cdt_cassette_append(const char *file, const char *key, const char *provider,
		    const struct cdt_chat_result *res)
{
	jv o = jv_object();
	o = jv_object_set(o, jv_string("key"), jv_string(key));
	o = jv_object_set(o, jv_string("provider"),
			  jv_string(provider ? provider : ""));
	o = jv_object_set(o, jv_string("model"), jv_string(res->model));
	o = jv_object_set(o, jv_string("text"),
			  jv_string_sized(res->text.buf, (int)res->text.len));
	o = jv_object_set(o, jv_string("stop_reason"),
			  jv_string(res->stop_reason));
	o = jv_object_set(o, jv_string("tokens_in"),
			  jv_number((double)res->tokens_in));
	o = jv_object_set(o, jv_string("tokens_out"),
			  jv_number((double)res->tokens_out));
	jv s = jv_dump_string(o, 0);
	struct cdt_buf line = CDT_BUF_INIT;
	cdt_buf_add(&line, jv_string_value(s),
		    (size_t)jv_string_length_bytes(jv_copy(s)));
	cdt_buf_addch(&line, '\n');
	jv_free(s);

	int rc = 0;
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		      O_NOCTTY, 0644);
	if (fd < 0) {
		rc = cdt_err_errno(EX_CANTCREAT, "cannot open cassette '%s'",
				   file);
		goto out;
	}
	/* One write: O_APPEND makes it land whole at the end. */
	ssize_t w;
	do
		w = write(fd, line.buf, line.len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		rc = cdt_err_errno(EX_IOERR, "cannot write cassette '%s'",
				   file);
	else if ((size_t)w != line.len)
		rc = cdt_err(EX_IOERR, "cannot write cassette '%s': short "
			     "write", file);
	if (close(fd) && !rc)
		rc = cdt_err_errno(EX_IOERR, "cannot write cassette '%s'",
				   file);
out:
	cdt_buf_release(&line);
	return rc;
}
