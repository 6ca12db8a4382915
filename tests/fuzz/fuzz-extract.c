/*
 * fuzz-extract.c - the --edit block parser on arbitrary replies.  It must
 * never crash, must give the same answer twice, and what it accepts must
 * be well-formed (paths the validator takes, a non-empty SEARCH) and
 * survive a round trip: the records written back as blocks (each path in
 * backticks, each fence longer than any backtick run of its content)
 * parse to the same records.  Any difference aborts.
 */
#include "compat.h"
#include "buf.h"
#include "extract.h"
#include "path.h"
#include "record.h"

static size_t
longest_run(const char *s, size_t n)
{
	size_t best = 0, run = 0;
	for (size_t i = 0; i < n; i++) {
		run = s[i] == '`' ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

static void
fence(struct cdt_buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cdt_buf_addch(b, '`');
	cdt_buf_addch(b, '\n');
}

static const char *
field(jv r, const char *k, size_t *n)
{
	jv v = jv_object_get(jv_copy(r), jv_string(k));
	const char *s = NULL;
	*n = 0;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		s = jv_string_value(v);	/* lives in r */
		*n = (size_t)jv_string_length_bytes(jv_copy(v));
	}
	jv_free(v);
	return s;
}

/* The records (consumed) as blocks. */
static void
render(jv recs, struct cdt_buf *b)
{
	jv_array_foreach(recs, i, r) {
		(void)i;
		size_t pn, cn, sn, rn;
		const char *path = field(r, "path", &pn);
		if (!path || cdt_path_check(path, pn, NULL))
			abort();
		bool edit = cdt_record_is(r, "edit");
		cdt_buf_addstr(b, edit ? "EDIT: `" : "FILE: `");
		cdt_buf_add(b, path, pn);
		cdt_buf_addstr(b, "`\n");
		if (!edit) {
			const char *c = field(r, "content", &cn);
			size_t f = longest_run(c, cn) + 1;
			f = f < 3 ? 3 : f;
			fence(b, f);
			cdt_buf_add(b, c, cn);
			fence(b, f);
		} else {
			const char *s = field(r, "search", &sn);
			const char *p = field(r, "replace", &rn);
			if (!s || !sn || !p)
				abort();
			size_t f = longest_run(s, sn) + 1;
			if (longest_run(p, rn) + 1 > f)
				f = longest_run(p, rn) + 1;
			f = f < 3 ? 3 : f;
			fence(b, f);
			cdt_buf_addstr(b, "<<<<<<< SEARCH\n");
			cdt_buf_add(b, s, sn);
			cdt_buf_addstr(b, "=======\n");
			cdt_buf_add(b, p, rn);
			cdt_buf_addstr(b, ">>>>>>> REPLACE\n");
			fence(b, f);
		}
		jv_free(r);
	}
	jv_free(recs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	jv a = jv_invalid(), b = jv_invalid(), c = jv_invalid();
	char why[256];
	struct cdt_extract_opts o = { NULL, "m", jv_null() };
	int ra = cdt_extract(text, size, &o, &a, why, sizeof(why));
	int rb = cdt_extract(text, size, &o, &b, NULL, 0);
	if (ra != rb || (ra != 0 && ra != 1) ||
	    jv_is_valid(a) != (ra == 0) ||
	    (ra == 0 && !jv_equal(jv_copy(a), jv_copy(b))))
		abort();
	if (ra == 1 && strlen(why) == 0)
		abort();
	if (ra == 0) {
		struct cdt_buf back = CDT_BUF_INIT;
		render(jv_copy(a), &back);
		if (cdt_extract(back.buf, back.len, &o, &c, why,
				sizeof(why)) != 0)
			abort();
		if (!jv_equal(jv_copy(a), jv_copy(c)))
			abort();
		cdt_buf_release(&back);
	}
	jv_free(a);
	jv_free(b);
	jv_free(c);
	return 0;
}
