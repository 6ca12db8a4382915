/*
 * fuzz-provider.c - the four wire parsers of lib/provider.c on arbitrary
 * bodies, and the error classifier on arbitrary error bodies.  The first
 * byte picks the wire and the content type, the second a chunk size; the
 * body is parsed whole, in those chunks, and (when short) byte by byte,
 * and every way must give the same result (status, class, message, text,
 * stop reason, tokens, model).  Every result must be one the contract
 * allows: a known class with its status, 75 only after output began.
 */
#include "compat.h"
#include "buf.h"
#include "err.h"
#include "provider.h"

static const char *const ctypes[] = {
	NULL, "text/html", "application/json", "text/plain",
};

static void
describe(struct cdt_buf *b, const struct cdt_chat_result *r)
{
	cdt_buf_addf(b, "%d|%s|%s|%s|%ld|%ld|%s|%d|%d|", r->status,
		     r->err_class ? r->err_class : "-", r->err_msg,
		     r->stop_reason, r->tokens_in, r->tokens_out, r->model,
		     r->output_began, r->partial);
	cdt_buf_add(b, r->text.buf, r->text.len);
}

static void
check(const struct cdt_chat_result *r)
{
	static const char *const classes[] = {
		"bad_request", "context_window", "auth", "not_found",
		"rate_limited", "quota", "overloaded", "server", "timeout",
		"connect", "stream_broken",
	};
	if (!r->err_class) {
		if (r->status)
			abort();
		return;
	}
	bool known = false;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(classes); i++)
		known |= !strcmp(r->err_class, classes[i]);
	if (!known || !r->status)
		abort();
	if (r->output_began != (r->status == 75) || r->partial !=
	    r->output_began)
		abort();
	if (strlen(r->err_msg) >= sizeof(r->err_msg))
		abort();
}

static void
parse(enum cdt_wire w, const char *ct, const char *in, size_t len,
      size_t split, struct cdt_buf *out)
{
	struct cdt_chat_result r;
	cdt_chat_result_init(&r);
	int rc = cdt_provider_parse_test(w, ct, in, len, split, &r);
	if (rc != r.status)
		abort();
	check(&r);
	describe(out, &r);
	cdt_chat_result_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdt_buf a = CDT_BUF_INIT;
	struct cdt_buf b = CDT_BUF_INIT;
	if (size < 2)
		return 0;
	enum cdt_wire w = (enum cdt_wire)(data[0] % 4);
	const char *ct = ctypes[(data[0] >> 2) % CDT_ARRAY_SIZE(ctypes)];
	size_t split = data[1] % 61 + 1;
	const char *in = (const char *)data + 2;
	size_t len = size - 2;

	cdt_err_quiet(true);
	parse(w, ct, in, len, 0, &a);
	parse(w, ct, in, len, split, &b);
	if (a.len != b.len || memcmp(a.buf, b.buf, a.len))
		abort();
	if (len <= 4096) {
		cdt_buf_reset(&b);
		parse(w, ct, in, len, 1, &b);
		if (a.len != b.len || memcmp(a.buf, b.buf, a.len))
			abort();
	}

	/* The same bytes as an error body of some status. */
	struct cdt_chat_result r;
	cdt_chat_result_init(&r);
	long status = 300 + (long)(data[1] * 3 % 300);
	double ra = data[0] & 0x80 ? data[1] : -1;
	int rc = cdt_provider_classify_test(w, status, ct, in, len, ra, &r);
	if (rc != r.status || !r.err_class || r.output_began ||
	    (rc != 65 && rc != 69 && rc != 77 && rc != 78) ||
	    (ra >= 0 && r.retry_after_s != ra))
		abort();
	check(&r);
	cdt_chat_result_release(&r);
	cdt_err_quiet(false);

	cdt_buf_release(&a);
	cdt_buf_release(&b);
	return 0;
}
