/*
 * Unit tests for lib/edit: SEARCH/REPLACE edits (exactly one match, in
 * order, refusals), and unified diffs: exact output against git's for
 * small cases, and a property test on random texts, where applying the
 * diff's hunks to the old text (with a strict applier written here) must
 * give the new text back.
 */
#include "compat.h"
#include "buf.h"
#include "edit.h"
#include "err.h"
#include "tap.h"

static enum cdt_edit_result
apply(struct cdt_buf *b, const char *s, const char *r, size_t *line)
{
	return cdt_edit_apply(b, s, strlen(s), r, strlen(r), line);
}

static void
test_apply(void)
{
	struct cdt_buf b = CDT_BUF_INIT;
	size_t line = 99;

	cdt_buf_addstr(&b, "int main(void)\n{\n\treturn 0;\n}\n");
	is_int(apply(&b, "\treturn 0;\n", "\tputs(\"hi\");\n\treturn 0;\n",
		     &line), CDT_EDIT_OK, "apply: one match is replaced");
	is_str(b.buf, "int main(void)\n{\n\tputs(\"hi\");\n\treturn 0;\n}\n",
	       "apply: the result");
	is_int(line, 3, "apply: the line of the match");
	/* Pairs apply in order, the second to the result of the first. */
	is_int(apply(&b, "puts(\"hi\")", "puts(\"bye\")", NULL), CDT_EDIT_OK,
	       "apply: a second pair sees the first one's result");
	is_str(b.buf, "int main(void)\n{\n\tputs(\"bye\");\n\treturn 0;\n}\n",
	       "apply: both pairs");
	is_int(apply(&b, "return 1;", "x", &line), CDT_EDIT_MISSING,
	       "apply: a missing SEARCH is refused");
	is_int(line, 0, "apply: missing has no line");
	is_str(b.buf, "int main(void)\n{\n\tputs(\"bye\");\n\treturn 0;\n}\n",
	       "apply: a refused pair changes nothing");
	is_int(apply(&b, "\t", "  ", &line), CDT_EDIT_AMBIGUOUS,
	       "apply: two matches are refused");
	is_int(line, 4, "apply: ambiguous names the second match's line");
	is_int(apply(&b, "", "x", NULL), CDT_EDIT_EMPTY,
	       "apply: an empty SEARCH is refused");
	cdt_buf_reset(&b);
	cdt_buf_addstr(&b, "aaa");
	is_int(apply(&b, "aa", "b", NULL), CDT_EDIT_AMBIGUOUS,
	       "apply: overlapping matches count as two");
	cdt_buf_reset(&b);
	cdt_buf_addstr(&b, "x\r\ny\n");
	is_int(apply(&b, "x\ny", "z", NULL), CDT_EDIT_MISSING,
	       "apply: no line-end folding (CRLF is not LF)");
	is_int(apply(&b, "x\r\n", "", NULL), CDT_EDIT_OK,
	       "apply: an empty REPLACE deletes");
	is_str(b.buf, "y\n", "apply: deleted");
	/* Binary-safe: NUL bytes in content and SEARCH. */
	cdt_buf_reset(&b);
	cdt_buf_add(&b, "a\0b\0c", 5);
	is_int(cdt_edit_apply(&b, "\0b", 2, "B", 1, NULL), CDT_EDIT_OK,
	       "apply: NUL bytes match as bytes");
	ok(b.len == 4 && !memcmp(b.buf, "aB\0c", 4), "apply: binary result");
	/* The limit of the buffer holds. */
	cdt_buf_reset(&b);
	b.max = 8;
	cdt_buf_addstr(&b, "abcdef");
	is_int(apply(&b, "c", "0123", NULL), CDT_EDIT_TOO_LARGE,
	       "apply: a result past the buffer's max is refused");
	is_str(b.buf, "abcdef", "apply: and changes nothing");
	ok(strstr(cdt_edit_strerror(CDT_EDIT_AMBIGUOUS), "more than once"),
	   "strerror names ambiguity");
	cdt_buf_release(&b);
}

static void
diff_is(const char *a, const char *b, bool ae, bool be, unsigned mode,
	const char *want, const char *name)
{
	struct cdt_buf out = CDT_BUF_INIT;
	int rc = cdt_edit_diff("f.txt", a, strlen(a), ae, b, strlen(b), be,
			       mode, &out);
	is_int(rc, 0, "%s: status", name);
	is_str(out.buf, want, "%s", name);
	cdt_buf_release(&out);
}

static void
test_diff_exact(void)
{
	/* Each expected text is what git diff --no-index printed. */
	diff_is("a\nb\nc\n", "a\nb\nc\n", true, true, 0, "",
		"diff: identical gives nothing");
	diff_is("a\nb\nc\n", "a\nB\nc\n", true, true, 0,
		"diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n"
		"@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
		"diff: one changed line");
	diff_is("", "x\ny\n", false, true, 0,
		"diff --git a/f.txt b/f.txt\nnew file mode 100644\n"
		"--- /dev/null\n+++ b/f.txt\n@@ -0,0 +1,2 @@\n+x\n+y\n",
		"diff: a new file");
	diff_is("x\n", "", true, false, 0,
		"diff --git a/f.txt b/f.txt\ndeleted file mode 100644\n"
		"--- a/f.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n",
		"diff: a deleted file");
	diff_is("a\nb", "a\nc", true, true, 0,
		"diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n"
		"@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
		"+c\n\\ No newline at end of file\n",
		"diff: no newline at the end");
	diff_is("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n",
		"1\nX\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\nY\n15\n",
		true, true, 0,
		"diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n"
		"@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n"
		"@@ -11,5 +11,5 @@\n 11\n 12\n 13\n-14\n+Y\n 15\n",
		"diff: two hunks when the gap is over six lines");
	diff_is("1\n2\n3\n4\n5\n6\n7\n8\n9\n",
		"1\nX\n3\n4\n5\n6\n7\nY\n9\n", true, true, 0,
		"diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n"
		"@@ -1,9 +1,9 @@\n 1\n-2\n+X\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n"
		" 9\n",
		"diff: one hunk when the gap is six lines or fewer");
	diff_is("", "lib", false, true, 0120000,
		"diff --git a/f.txt b/f.txt\nnew file mode 120000\n"
		"--- /dev/null\n+++ b/f.txt\n@@ -0,0 +1 @@\n+lib\n"
		"\\ No newline at end of file\n",
		"diff: a new symlink");
	struct cdt_buf out = CDT_BUF_INIT;
	is_int(cdt_edit_diff("b.bin", "a\0b", 3, true, "a\0c", 3, true, 0,
			     &out), 0, "diff: binary status");
	is_str(out.buf, "diff --git a/b.bin b/b.bin\n"
	       "Binary files a/b.bin and b/b.bin differ\n", "diff: binary");
	cdt_buf_reset(&out);
	out.max = 20;
	is_int(cdt_edit_diff("f", "a\n", 2, true, "b\n", 2, true, 0, &out),
	       EX_DATAERR, "diff: past the buffer's max is 65");
	is_int(out.len, 0, "diff: and leaves nothing half-written");
	cdt_buf_release(&out);
}

/* ---- the property test --------------------------------------------- */

static unsigned long rng = 88172645463325252UL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void
random_text(struct cdt_buf *b, unsigned lines, unsigned alphabet)
{
	for (unsigned i = 0; i < lines; i++) {
		cdt_buf_addf(b, "l%u", rnd(alphabet));
		if (i + 1 < lines || rnd(4))
			cdt_buf_addch(b, '\n');
	}
}

/* Mutate a into b: delete, insert and change a few lines. */
static void
mutate(const struct cdt_buf *a, struct cdt_buf *b, unsigned alphabet)
{
	const char *p = a->buf, *end = a->buf + a->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		unsigned r = rnd(10);
		if (r == 0) {
			/* deleted */
		} else if (r == 1) {
			cdt_buf_addf(b, "new%u\n", rnd(alphabet));
			cdt_buf_add(b, p, n);
		} else if (r == 2) {
			cdt_buf_addf(b, "chg%u\n", rnd(alphabet));
		} else {
			cdt_buf_add(b, p, n);
		}
		p += n;
	}
}

/* Read one diff line into (mark, text without the mark). */
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

/*
 * Apply a unified diff to a, strictly: context and removed lines must
 * match a byte for byte, in place.  Returns false on any mismatch.
 */
static bool
patch(const char *a, size_t alen, const char *d, size_t dlen,
      struct cdt_buf *out)
{
	const char *p = d, *end = d + dlen, *s;
	size_t n;
	const char *ap = a, *aend = a + alen;
	size_t aline = 0;	/* lines of a consumed */
	while (next_line(&p, end, &s, &n)) {
		if (strncmp(s, "@@ -", 4))
			continue;
		unsigned long as = strtoul(s + 4, NULL, 10);
		size_t start = as ? as - 1 : 0;
		const char *comma = memchr(s, ',', n);
		const char *space = memchr(s + 4, ' ', n - 4);
		if (comma && comma < space &&
		    strtoul(comma + 1, NULL, 10) == 0)
			start = as;	/* "-N,0": after line N */
		/* Copy the lines of a before the hunk. */
		while (aline < start) {
			const char *nl = memchr(ap, '\n', (size_t)(aend - ap));
			if (!nl)
				return false;
			cdt_buf_add(out, ap, (size_t)(nl - ap) + 1);
			ap = nl + 1;
			aline++;
		}
		const char *q = p;
		const char *ls;
		size_t ln;
		while (next_line(&q, end, &ls, &ln)) {
			if (ls[0] == '@' || ls[0] == 'd')
				break;
			p = q;
			/* A "\ No newline" line drops the '\n' before it. */
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

static void
test_diff_random(void)
{
	int bad = 0;
	const int rounds = 400;
	for (int i = 0; i < rounds; i++) {
		struct cdt_buf a = CDT_BUF_INIT, b = CDT_BUF_INIT;
		struct cdt_buf d = CDT_BUF_INIT, back = CDT_BUF_INIT;
		unsigned alphabet = 2 + rnd(40);
		random_text(&a, rnd(60), alphabet);
		if (rnd(8) == 0)
			random_text(&b, rnd(60), alphabet);
		else
			mutate(&a, &b, alphabet);
		if (cdt_edit_diff("r", a.buf, a.len, true, b.buf, b.len,
				  true, 0, &d) ||
		    !patch(a.buf, a.len, d.buf, d.len, &back) ||
		    back.len != b.len || memcmp(back.buf, b.buf, b.len)) {
			if (!bad++)
				diag("round %d: a='%s' b='%s' diff='%s'", i,
				     a.buf, b.buf, d.buf);
		}
		cdt_buf_release(&a);
		cdt_buf_release(&b);
		cdt_buf_release(&d);
		cdt_buf_release(&back);
	}
	is_int(bad, 0, "diff: %d random pairs round-trip through a strict "
	       "patch", rounds);
}

/* Past the search bound the middle is replaced whole, still correct. */
static void
test_diff_bound(void)
{
	struct cdt_buf a = CDT_BUF_INIT, b = CDT_BUF_INIT;
	struct cdt_buf d = CDT_BUF_INIT, back = CDT_BUF_INIT;
	a.max = b.max = (size_t)1 << 30;
	d.max = back.max = (size_t)1 << 30;
	cdt_buf_addstr(&a, "head\n");
	cdt_buf_addstr(&b, "head\n");
	for (int i = 0; i < 3000; i++) {
		cdt_buf_addf(&a, "a%d\n", i);
		cdt_buf_addf(&b, "b%d\n", i);
	}
	cdt_buf_addstr(&a, "tail\n");
	cdt_buf_addstr(&b, "tail\n");
	is_int(cdt_edit_diff("big", a.buf, a.len, true, b.buf, b.len, true,
			     0, &d), 0, "diff: 6000 changed lines");
	ok(strstr(d.buf, "@@ -1,3002 +1,3002 @@\n head\n-a0\n"),
	   "diff: one hunk replacing the middle");
	ok(patch(a.buf, a.len, d.buf, d.len, &back) && back.len == b.len &&
	   !memcmp(back.buf, b.buf, b.len), "diff: and it applies");
	cdt_buf_release(&a);
	cdt_buf_release(&b);
	cdt_buf_release(&d);
	cdt_buf_release(&back);
}

int
main(void)
{
	cdt_err_setname("t-edit");
	test_apply();
	test_diff_exact();
	test_diff_random();
	test_diff_bound();
	return done_testing();
}
