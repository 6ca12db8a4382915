/*
 * fuzz-edit.c - SEARCH/REPLACE and unified diffs on arbitrary bytes.
 * The input is OLD, SEARCH and REPLACE separated by the two bytes
 * 0x00 0x01.  An edit must do exactly what it says (one match replaced,
 * or a refusal that is true: no match, two matches, empty SEARCH), and
 * the diff from OLD to the result, applied to OLD by a strict patcher
 * written here, must give the result back.  Any difference aborts.
 */
#include "compat.h"
#include "buf.h"
#include "codec.h"
#include "edit.h"
#include "err.h"

static bool
next_line(const char **p, const char *end, const char **s, size_t *n)
{
	if (*p >= end)
		return false;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	*s = *p;
	*n = nl ? (size_t)(nl - *p) + 1 : (size_t)(end - *p);
	*p += *n;
	return true;
}

/* Apply a unified diff to a strictly; false on any mismatch. */
static bool
patch(const char *a, size_t alen, const char *d, size_t dlen,
      struct cdt_buf *out)
{
	const char *p = d, *end = d + dlen, *s;
	size_t n;
	const char *ap = a, *aend = a + alen;
	size_t aline = 0;
	while (next_line(&p, end, &s, &n)) {
		if (n < 4 || strncmp(s, "@@ -", 4))
			continue;
		unsigned long as = strtoul(s + 4, NULL, 10);
		size_t start = as ? as - 1 : 0;
		const char *comma = memchr(s, ',', n);
		const char *space = memchr(s + 4, ' ', n - 4);
		if (comma && space && comma < space &&
		    strtoul(comma + 1, NULL, 10) == 0)
			start = as;
		while (aline < start) {
			const char *nl = memchr(ap, '\n', (size_t)(aend - ap));
			if (!nl)
				return false;
			cdt_buf_add(out, ap, (size_t)(nl - ap) + 1);
			ap = nl + 1;
			aline++;
		}
		const char *q = p, *ls;
		size_t ln;
		while (next_line(&q, end, &ls, &ln)) {
			if (ls[0] == '@' || ls[0] == 'd')
				break;
			p = q;
			bool nonl = false;
			const char *peek = q, *ps;
			size_t pn;
			if (next_line(&peek, end, &ps, &pn) && ps[0] == '\\') {
				nonl = true;
				q = p = peek;
			}
			size_t tl = ln - 1 - (nonl ? 1 : 0);
			if (ls[0] == ' ' || ls[0] == '-') {
				if ((size_t)(aend - ap) < tl ||
				    memcmp(ap, ls + 1, tl))
					return false;
				if (ls[0] == ' ')
					cdt_buf_add(out, ap, tl);
				ap += tl;
				aline++;
			} else if (ls[0] == '+') {
				cdt_buf_add(out, ls + 1, tl);
			} else {
				return false;
			}
		}
	}
	cdt_buf_add(out, ap, (size_t)(aend - ap));
	return true;
}

static const char *
split(const char **p, const char *end, size_t *n)
{
	const char *s = *p;
	const char *sep = memmem(s, (size_t)(end - s), "\0\1", 2);
	*n = sep ? (size_t)(sep - s) : (size_t)(end - s);
	*p = sep ? sep + 2 : end;
	return s;
}

static void
check_diff(const char *a, size_t alen, const char *b, size_t blen)
{
	struct cdt_buf d = CDT_BUF_INIT, back = CDT_BUF_INIT;
	if (cdt_edit_diff("f", a, alen, true, b, blen, true, 0, &d))
		abort();
	bool same = alen == blen && (!alen || !memcmp(a, b, alen));
	if (same != (d.len == 0))
		abort();
	if (!same && cdt_is_text(a, alen) && cdt_is_text(b, blen)) {
		if (!patch(a, alen, d.buf, d.len, &back) || back.len != blen ||
		    (blen && memcmp(back.buf, b, blen)))
			abort();
	}
	cdt_buf_release(&d);
	cdt_buf_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	size_t alen, slen, rlen;
	const char *a = split(&p, end, &alen);
	const char *s = split(&p, end, &slen);
	const char *r = split(&p, end, &rlen);
	struct cdt_buf b = CDT_BUF_INIT;
	size_t line = 0;

	cdt_buf_add(&b, a, alen);
	enum cdt_edit_result er = cdt_edit_apply(&b, s, slen, r, rlen, &line);
	const char *hit = slen ? memmem(a, alen, s, slen) : NULL;
	const char *again = hit ? memmem(hit + 1, alen - (size_t)(hit - a) - 1,
					 s, slen) : NULL;
	switch (er) {
	case CDT_EDIT_OK: {
		if (!hit || again || b.len != alen - slen + rlen)
			abort();
		size_t at = (size_t)(hit - a);
		if (memcmp(b.buf, a, at) || memcmp(b.buf + at, r, rlen) ||
		    memcmp(b.buf + at + rlen, a + at + slen, alen - at - slen))
			abort();
		check_diff(a, alen, b.buf, b.len);
		break;
	}
	case CDT_EDIT_MISSING:
		if (hit || !slen || b.len != alen)
			abort();
		break;
	case CDT_EDIT_AMBIGUOUS:
		if (!again || b.len != alen)
			abort();
		break;
	case CDT_EDIT_EMPTY:
		if (slen)
			abort();
		break;
	default:
		abort();
	}
	check_diff(s, slen, r, rlen);
	cdt_buf_release(&b);
	return 0;
}
