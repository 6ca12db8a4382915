#include "compat.h"
#include "codec.h"
#include "edit.h"
#include "err.h"

/* The Myers search keeps one array per step: about D^2 ints in all. */
#define DIFF_D_MAX 2000
#define CONTEXT 3

enum cdt_edit_result
cdt_edit_apply(struct cdt_buf *content, const char *search, size_t slen,
	       const char *replace, size_t rlen, size_t *line)
{
	size_t dummy;
	if (!line)
		line = &dummy;
	*line = 0;
	if (slen == 0)
		return CDT_EDIT_EMPTY;
	const char *base = content->buf;
	size_t len = content->len;
	const char *hit = memmem(base, len, search, slen);
	if (!hit)
		return CDT_EDIT_MISSING;
	size_t at = (size_t)(hit - base);
	const char *again = memmem(hit + 1, len - at - 1, search, slen);
	const char *where = again ? again : hit;
	*line = 1;
	for (const char *p = base; p < where; p++)
		if (*p == '\n')
			(*line)++;
	if (again)
		return CDT_EDIT_AMBIGUOUS;
	size_t newlen = len - slen + rlen;
	if (newlen > content->max)
		return CDT_EDIT_TOO_LARGE;
	struct cdt_buf out = CDT_BUF_INIT;
	out.max = content->max;
	if (cdt_buf_grow(&out, newlen) ||
	    cdt_buf_add(&out, base, at) ||
	    cdt_buf_add(&out, replace, rlen) ||
	    cdt_buf_add(&out, base + at + slen, len - at - slen)) {
		cdt_buf_release(&out);
		return CDT_EDIT_TOO_LARGE;
	}
	cdt_buf_release(content);
	*content = out;
	return CDT_EDIT_OK;
}

const char *
cdt_edit_strerror(enum cdt_edit_result r)
{
	switch (r) {
	case CDT_EDIT_OK:		return "applied";
	case CDT_EDIT_MISSING:		return "SEARCH text not found";
	case CDT_EDIT_AMBIGUOUS:	return "SEARCH text matches more than "
					       "once";
	case CDT_EDIT_EMPTY:		return "empty SEARCH text";
	case CDT_EDIT_TOO_LARGE:	return "the result is too large";
	}
	return "unknown result";
}

/* ---- unified diff ---------------------------------------------------- */

struct line {
	const char *s;
	size_t len;		/* with its '\n', when it has one */
	uint64_t hash;
};

struct side {
	struct line *v;
	size_t n;
	bool *changed;
};

static uint64_t
fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void
split_lines(const char *s, size_t len, struct side *out)
{
	size_t n = 0, cap = 16;
	struct line *v = cdt_xmalloc(cap * sizeof(*v));
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (s + i)) + 1 : len - i;
		if (n == cap) {
			cap *= 2;
			v = cdt_xrealloc(v, cap * sizeof(*v));
		}
		v[n].s = s + i;
		v[n].len = l;
		v[n].hash = fnv1a(s + i, l);
		n++;
		i += l;
	}
	out->v = v;
	out->n = n;
	out->changed = cdt_xcalloc(n ? n : 1, sizeof(bool));
}

static bool
line_eq(const struct line *a, const struct line *b)
{
	return a->hash == b->hash && a->len == b->len &&
	       !memcmp(a->s, b->s, a->len);
}

/*
 * Myers' greedy O(ND) search on a[0..n) and b[0..m), marking the lines
 * that are not in the common subsequence.  Returns false when the edit
 * script is longer than DIFF_D_MAX (nothing marked then).
 */
static bool
myers(const struct line *a, size_t n, bool *ac, const struct line *b,
      size_t m, bool *bc)
{
	long N = (long)n, M = (long)m;
	long max = N + M;
	long dmax = max < DIFF_D_MAX ? max : DIFF_D_MAX;
	long off = max + 1;
	int *v = cdt_xcalloc((size_t)(2 * max + 3), sizeof(int));
	int **trace = cdt_xcalloc((size_t)dmax + 1, sizeof(int *));
	long found = -1;
	bool ok = false;

	for (long d = 0; d <= dmax && found < 0; d++) {
		for (long k = -d; k <= d; k += 2) {
			long x;
			if (k == -d || (k != d && v[off + k - 1] <
					  v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			long y = x - k;
			while (x < N && y < M && line_eq(&a[x], &b[y])) {
				x++;
				y++;
			}
			v[off + k] = (int)x;
			if (x >= N && y >= M) {
				found = d;
				break;
			}
		}
		/* V after step d, for the indices -d..d. */
		trace[d] = cdt_xmalloc((size_t)(2 * d + 1) * sizeof(int));
		memcpy(trace[d], v + off - d, (size_t)(2 * d + 1) *
		       sizeof(int));
	}
	if (found >= 0) {
		long x = N, y = M;
		for (long d = found; d > 0; d--) {
			const int *pv = trace[d - 1];	/* indices -(d-1).. */
			long k = x - y;
			long pk;
			if (k == -d || (k != d && pv[k - 1 + (d - 1)] <
					  pv[k + 1 + (d - 1)]))
				pk = k + 1;
			else
				pk = k - 1;
			long px = pv[pk + (d - 1)];
			long py = px - pk;
			/* The move, then a snake of equal lines to (x, y):
			 * only the move is a change. */
			if (pk == k + 1)
				bc[py] = true;		/* an insertion */
			else
				ac[px] = true;		/* a deletion */
			x = px;
			y = py;
		}
		ok = true;
	}
	for (long d = 0; d <= dmax; d++)
		free(trace[d]);
	free(trace);
	free(v);
	return ok;
}

/* git's hunk range: "start,len", ",len" left out when it is 1. */
static int
add_range(struct cdt_buf *out, size_t start, size_t len)
{
	if (len == 1)
		return cdt_buf_addf(out, "%zu", start + 1);
	return cdt_buf_addf(out, "%zu,%zu", len ? start + 1 : start, len);
}

static int
add_line(struct cdt_buf *out, char mark, const struct line *l)
{
	int rc = cdt_buf_addch(out, mark);
	if (!rc)
		rc = cdt_buf_add(out, l->s, l->len);
	if (!rc && (l->len == 0 || l->s[l->len - 1] != '\n'))
		rc = cdt_buf_addstr(out, "\n\\ No newline at end of file\n");
	return rc;
}

struct change {
	size_t a0, a1, b0, b1;
};

static int
add_hunks(struct cdt_buf *out, const struct side *A, const struct side *B)
{
	struct change *ch = NULL;
	size_t nch = 0, cap = 0;
	size_t i = 0, j = 0;
	int rc = 0;

	while (i < A->n || j < B->n) {
		if (i < A->n && j < B->n && !A->changed[i] && !B->changed[j]) {
			i++;
			j++;
			continue;
		}
		struct change c = { i, i, j, j };
		while (i < A->n && A->changed[i])
			i++;
		while (j < B->n && B->changed[j])
			j++;
		c.a1 = i;
		c.b1 = j;
		if (c.a0 == c.a1 && c.b0 == c.b1) {
			/* Cannot happen with a consistent marking; never
			 * loop on it. */
			rc = cdt_err(EX_SOFTWARE, "diff: inconsistent line "
				     "marks");
			goto out;
		}
		if (nch == cap) {
			cap = cap ? cap * 2 : 16;
			ch = cdt_xrealloc(ch, cap * sizeof(*ch));
		}
		ch[nch++] = c;
	}
	for (size_t h = 0; h < nch && !rc;) {
		size_t last = h;
		while (last + 1 < nch &&
		       ch[last + 1].a0 - ch[last].a1 <= 2 * CONTEXT)
			last++;
		size_t pre = ch[h].a0 < CONTEXT ? ch[h].a0 : CONTEXT;
		size_t as = ch[h].a0 - pre, bs = ch[h].b0 - pre;
		size_t post = A->n - ch[last].a1 < CONTEXT ?
			A->n - ch[last].a1 : CONTEXT;
		size_t ae = ch[last].a1 + post, be = ch[last].b1 + post;
		rc = cdt_buf_addstr(out, "@@ -");
		if (!rc)
			rc = add_range(out, as, ae - as);
		if (!rc)
			rc = cdt_buf_addstr(out, " +");
		if (!rc)
			rc = add_range(out, bs, be - bs);
		if (!rc)
			rc = cdt_buf_addstr(out, " @@\n");
		size_t a = as, b = bs;
		for (size_t c = h; c <= last && !rc; c++) {
			for (; a < ch[c].a0 && !rc; a++, b++)
				rc = add_line(out, ' ', &A->v[a]);
			for (; a < ch[c].a1 && !rc; a++)
				rc = add_line(out, '-', &A->v[a]);
			for (; b < ch[c].b1 && !rc; b++)
				rc = add_line(out, '+', &B->v[b]);
		}
		for (; a < ae && !rc; a++)
			rc = add_line(out, ' ', &A->v[a]);
		h = last + 1;
	}
out:
	free(ch);
	return rc;
}

static int
add_header(struct cdt_buf *out, const char *path, bool a_exists,
	   bool b_exists, unsigned mode)
{
	unsigned m = mode ? mode : 0100644;
	int rc = cdt_buf_addf(out, "diff --git a/%s b/%s\n", path, path);
	if (!rc && !a_exists)
		rc = cdt_buf_addf(out, "new file mode %06o\n", m);
	if (!rc && !b_exists)
		rc = cdt_buf_addf(out, "deleted file mode %06o\n", m);
	return rc;
}

int
cdt_edit_diff(const char *path, const char *a, size_t alen, bool a_exists,
	      const char *b, size_t blen, bool b_exists, unsigned mode,
	      struct cdt_buf *out)
{
	struct side A = { NULL, 0, NULL }, B = { NULL, 0, NULL };
	size_t start = out->len;
	int rc;

	if (!a_exists)
		alen = 0;
	if (!b_exists)
		blen = 0;
	if (a_exists == b_exists && alen == blen &&
	    (alen == 0 || !memcmp(a, b, alen)))
		return 0;
	rc = add_header(out, path, a_exists, b_exists, mode);
	if (rc)
		goto out;
	if (!cdt_is_text(a, alen) || !cdt_is_text(b, blen)) {
		rc = cdt_buf_addf(out, "Binary files %s%s and %s%s differ\n",
				  a_exists ? "a/" : "/dev/null",
				  a_exists ? path : "",
				  b_exists ? "b/" : "/dev/null",
				  b_exists ? path : "");
		goto out;
	}
	if (a_exists)
		rc = cdt_buf_addf(out, "--- a/%s\n", path);
	else
		rc = cdt_buf_addstr(out, "--- /dev/null\n");
	if (!rc && b_exists)
		rc = cdt_buf_addf(out, "+++ b/%s\n", path);
	else if (!rc)
		rc = cdt_buf_addstr(out, "+++ /dev/null\n");
	if (rc)
		goto out;
	split_lines(a, alen, &A);
	split_lines(b, blen, &B);
	/* The common head and tail need no search. */
	size_t head = 0;
	while (head < A.n && head < B.n && line_eq(&A.v[head], &B.v[head]))
		head++;
	size_t tail = 0;
	while (tail < A.n - head && tail < B.n - head &&
	       line_eq(&A.v[A.n - 1 - tail], &B.v[B.n - 1 - tail]))
		tail++;
	size_t an = A.n - head - tail, bn = B.n - head - tail;
	if (!myers(A.v + head, an, A.changed + head, B.v + head, bn,
		   B.changed + head)) {
		for (size_t i = 0; i < an; i++)
			A.changed[head + i] = true;
		for (size_t i = 0; i < bn; i++)
			B.changed[head + i] = true;
	}
	rc = add_hunks(out, &A, &B);
out:
	free(A.v);
	free(A.changed);
	free(B.v);
	free(B.changed);
	if (rc)
		cdt_buf_setlen(out, start);
	return rc;
}
