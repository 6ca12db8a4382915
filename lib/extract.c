#include "compat.h"
#include <stdarg.h>
#include "buf.h"
#include "codec.h"
#include "extract.h"
#include "hash.h"
#include "path.h"
#include "record.h"

const char cdt_extract_instructions[] =
	"When you change files, answer with blocks in exactly this format, "
	"and write any explanation outside them.\n"
	"To create a file or replace it whole, give its path after FILE: "
	"and its entire new content in a fenced block:\n"
	"\n"
	"FILE: path/to/file.c\n"
	"```c\n"
	"...the whole file...\n"
	"```\n"
	"\n"
	"To change part of an existing file, give its path after EDIT: "
	"and one or more SEARCH/REPLACE pairs in a fenced block; SEARCH "
	"must match lines of the current file exactly, including "
	"white space:\n"
	"\n"
	"EDIT: path/to/file.c\n"
	"```\n"
	"<<<<<<< SEARCH\n"
	"exact old lines\n"
	"=======\n"
	"new lines\n"
	">>>>>>> REPLACE\n"
	"```\n"
	"\n"
	"Paths are relative to the workspace root. A block ends at a line "
	"equal to its opening fence: when the content itself has lines of "
	"three backticks, open and close the block with four or more. "
	"Never put a SEARCH/REPLACE pair outside an EDIT block, and never "
	"leave SEARCH empty: use a FILE block for a new file.\n";

/* One line of the reply, without its LF. */
struct line {
	const char *s;
	size_t len;	/* with a trailing CR, if any */
	size_t tlen;	/* without trailing CR, blanks and tabs */
	long no;	/* 1-based */
};

struct parser {
	const char *text;
	size_t len;
	size_t pos;
	long no;
	const struct cdt_extract_opts *o;
	jv out;
	char *why;
	size_t whylen;
};

static bool
next_line(struct parser *p, struct line *l)
{
	if (p->pos >= p->len)
		return false;
	const char *s = p->text + p->pos;
	const char *nl = memchr(s, '\n', p->len - p->pos);
	size_t n = nl ? (size_t)(nl - s) : p->len - p->pos;
	p->pos += n + (nl ? 1 : 0);
	l->s = s;
	l->len = n;
	while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	l->tlen = n;
	l->no = ++p->no;
	return true;
}

static bool
line_is(const struct line *l, const char *word)
{
	size_t n = strlen(word);
	return l->tlen == n && !memcmp(l->s, word, n);
}

static bool
blank(const struct line *l)
{
	return l->tlen == 0;
}

/* Backticks opening the line (3 or more), else 0. */
static size_t
fence_len(const struct line *l)
{
	size_t n = 0;
	while (n < l->tlen && l->s[n] == '`')
		n++;
	return n >= 3 ? n : 0;
}

/* A closing fence: exactly n backticks and nothing else. */
static bool
closes(const struct line *l, size_t n)
{
	return l->tlen == n && fence_len(l) == n;
}

static bool
is_search(const struct line *l)
{
	return line_is(l, "<<<<<<< SEARCH");
}

static int CDT_PRINTF(2, 3)
fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why, p->whylen, fmt, ap);
	va_end(ap);
	return 1;
}

/* The header's path: blanks trimmed, one pair of `` or "" removed. */
static int
header_path(struct parser *p, const struct line *l, const char *kind,
	    struct cdt_buf *path)
{
	const char *s = l->s + 5;
	size_t n = l->tlen - 5;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (n >= 2 && ((s[0] == '`' && s[n - 1] == '`') ||
		       (s[0] == '"' && s[n - 1] == '"'))) {
		s++;
		n -= 2;
	}
	if (!n)
		return fail(p, "%s block at line %ld: no path after '%s:'",
			    kind, l->no, kind);
	const char *why = NULL;
	if (memchr(s, '\0', n) || cdt_path_check(s, n, &why))
		return fail(p, "%s block at line %ld: bad path '%.*s': %s",
			    kind, l->no, (int)(n > 200 ? 200 : n), s,
			    why ? why : "NUL byte");
	cdt_buf_add(path, s, n);
	return 0;
}

/* Add message_id and base_sha256 when known. */
static jv
common_fields(struct parser *p, jv r, const char *path)
{
	if (p->o && p->o->message_id)
		r = jv_object_set(r, jv_string("message_id"),
				  jv_string(p->o->message_id));
	if (p->o && jv_get_kind(p->o->bases) == JV_KIND_OBJECT) {
		jv b = jv_object_get(jv_copy(p->o->bases), jv_string(path));
		if (jv_get_kind(b) == JV_KIND_STRING)
			r = jv_object_set(r, jv_string("base_sha256"), b);
		else
			jv_free(b);
	}
	return r;
}

static int
add(struct cdt_buf *b, const struct line *l)
{
	if (cdt_buf_add(b, l->s, l->len) || cdt_buf_addch(b, '\n'))
		return 1;
	return 0;
}

static int
file_block(struct parser *p, const char *path, long hno, size_t fence)
{
	struct cdt_buf content = CDT_BUF_INIT;
	struct line l;
	int rc = 1;
	bool closed = false;
	while (next_line(p, &l)) {
		if (closes(&l, fence)) {
			closed = true;
			break;
		}
		if (add(&content, &l)) {
			fail(p, "FILE block '%s' at line %ld: too large", path,
			     hno);
			goto out;
		}
	}
	if (!closed) {
		fail(p, "FILE block '%s' at line %ld: not closed (no line "
		     "'%.*s')", path, hno, (int)fence, "````````````````");
		goto out;
	}
	/* Size and digest of the content as recorded: libjq turns invalid
	   UTF-8 into U+FFFD, and that is what a writer will write. */
	char hex[CDT_SHA256_HEX_LEN + 1];
	jv c = jv_string_sized(content.buf, (int)content.len);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(c));
	cdt_sha256_hex(jv_string_value(c), n, hex);
	jv r = cdt_record_new("file");
	r = jv_object_set(r, jv_string("path"), jv_string(path));
	r = jv_object_set(r, jv_string("node_type"), jv_string("file"));
	r = jv_object_set(r, jv_string("content"), c);
	r = jv_object_set(r, jv_string("size"), jv_number((double)n));
	r = jv_object_set(r, jv_string("sha256"), jv_string(hex));
	r = common_fields(p, r, path);
	p->out = jv_array_append(p->out, r);
	rc = 0;
out:
	cdt_buf_release(&content);
	return rc;
}

enum pair_state { BETWEEN, SEARCH, REPLACE };

static int
edit_block(struct parser *p, const char *path, long hno, size_t fence)
{
	struct cdt_buf search = CDT_BUF_INIT;
	struct cdt_buf replace = CDT_BUF_INIT;
	enum pair_state st = BETWEEN;
	struct line l;
	long pair_no = 0;
	int pairs = 0;
	int rc = 1;
	bool closed = false;
	while (next_line(p, &l)) {
		bool close = closes(&l, fence);
		if (st == BETWEEN) {
			if (close) {
				closed = true;
				break;
			}
			if (blank(&l))
				continue;
			if (!is_search(&l)) {
				fail(p, "EDIT block '%s' at line %ld: line %ld "
				     "is neither a '<<<<<<< SEARCH' marker "
				     "nor the closing fence", path, hno,
				     l.no);
				goto out;
			}
			st = SEARCH;
			pair_no = l.no;
			cdt_buf_reset(&search);
			cdt_buf_reset(&replace);
			continue;
		}
		if (st == SEARCH) {
			if (line_is(&l, "=======")) {
				if (!search.len) {
					fail(p, "EDIT block '%s' at line %ld: "
					     "the SEARCH at line %ld is empty "
					     "(a new file needs a FILE block)",
					     path, hno, pair_no);
					goto out;
				}
				st = REPLACE;
				continue;
			}
			if (close || is_search(&l) ||
			    line_is(&l, ">>>>>>> REPLACE")) {
				fail(p, "EDIT block '%s' at line %ld: the "
				     "SEARCH at line %ld has no '=======' "
				     "divider", path, hno, pair_no);
				goto out;
			}
			if (add(&search, &l))
				goto too_large;
			continue;
		}
		/* REPLACE */
		if (line_is(&l, ">>>>>>> REPLACE")) {
			jv r = cdt_record_new("edit");
			r = jv_object_set(r, jv_string("path"),
					  jv_string(path));
			r = jv_object_set(r, jv_string("search"),
					  jv_string_sized(search.buf,
							  (int)search.len));
			r = jv_object_set(r, jv_string("replace"),
					  jv_string_sized(replace.buf,
							  (int)replace.len));
			r = common_fields(p, r, path);
			p->out = jv_array_append(p->out, r);
			pairs++;
			st = BETWEEN;
			continue;
		}
		if (close || is_search(&l) || line_is(&l, "=======")) {
			fail(p, "EDIT block '%s' at line %ld: the SEARCH at "
			     "line %ld has no '>>>>>>> REPLACE' marker", path,
			     hno, pair_no);
			goto out;
		}
		if (add(&replace, &l))
			goto too_large;
	}
	if (!closed) {
		fail(p, "EDIT block '%s' at line %ld: %s", path, hno,
		     st == SEARCH ? "the SEARCH has no '=======' divider" :
		     st == REPLACE ? "the SEARCH has no '>>>>>>> REPLACE' "
		     "marker" : "not closed");
		goto out;
	}
	if (!pairs) {
		fail(p, "EDIT block '%s' at line %ld: no SEARCH/REPLACE pair",
		     path, hno);
		goto out;
	}
	rc = 0;
	goto out;
too_large:
	fail(p, "EDIT block '%s' at line %ld: too large", path, hno);
out:
	cdt_buf_release(&search);
	cdt_buf_release(&replace);
	return rc;
}

/* A header line: FILE: or EDIT: at the start of the line. */
static const char *
header_kind(const struct line *l)
{
	if (l->tlen < 5)
		return NULL;
	if (!memcmp(l->s, "FILE:", 5))
		return "FILE";
	if (!memcmp(l->s, "EDIT:", 5))
		return "EDIT";
	return NULL;
}

static int
block(struct parser *p, const struct line *hdr, const char *kind)
{
	struct cdt_buf path = CDT_BUF_INIT;
	struct line l;
	int rc = header_path(p, hdr, kind, &path);
	if (rc)
		goto out;
	size_t fence = 0;
	bool got = false;
	while ((got = next_line(p, &l)) && blank(&l))
		;
	if (got)
		fence = fence_len(&l);
	if (!fence) {
		rc = fail(p, "%s block '%s' at line %ld: no opening fence "
			  "(```) after the header", kind, path.buf, hdr->no);
		goto out;
	}
	if (kind[0] == 'F')
		rc = file_block(p, path.buf, hdr->no, fence);
	else
		rc = edit_block(p, path.buf, hdr->no, fence);
out:
	cdt_buf_release(&path);
	return rc;
}

/* A fenced block in prose: skipped, but it may not hide a pair. */
static int
prose_fence(struct parser *p, const struct line *open, size_t fence)
{
	struct line l;
	while (next_line(p, &l)) {
		if (closes(&l, fence))
			return 0;
		if (is_search(&l))
			return fail(p, "the SEARCH/REPLACE pair at line %ld "
				    "is in a code block with no EDIT: "
				    "header (opened at line %ld)", l.no,
				    open->no);
	}
	return 0;
}

/* The length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < need + 1 || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need + 1;
}

/*
 * Each byte of an invalid sequence as U+FFFD.  libjq would do the same
 * when the text becomes a string, but may swallow the bytes after a bad
 * lead byte, line ends included, and so move a block's end.
 */
static void
clean_utf8(const char *text, size_t len, struct cdt_buf *out)
{
	const unsigned char *s = (const unsigned char *)text;
	cdt_buf_init(out, len * 3 + 16);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len(s + i, len - i);
		if (n) {
			cdt_buf_add(out, s + i, n);
			i += n;
		} else {
			cdt_buf_add(out, "\xef\xbf\xbd", 3);
			i++;
		}
	}
}

int
cdt_extract(const char *text, size_t len, const struct cdt_extract_opts *o,
	    jv *out, char *why, size_t whylen)
{
	char dummy[1];
	struct cdt_buf clean = CDT_BUF_INIT;
	if (!cdt_utf8_valid(text, len)) {
		clean_utf8(text, len, &clean);
		text = clean.buf;
		len = clean.len;
	}
	struct parser p = { text, len, 0, 0, o, jv_array(), why, whylen };
	struct line l;
	int rc = 0;
	if (!why || !whylen) {
		p.why = dummy;
		p.whylen = sizeof(dummy);
	}
	p.why[0] = '\0';
	*out = jv_invalid();
	if (o && o->stop_reason && !strcmp(o->stop_reason, "max_tokens")) {
		rc = fail(&p, "the reply stopped at max_tokens: its blocks "
			  "may be cut short");
		goto out;
	}
	while (!rc && next_line(&p, &l)) {
		const char *kind = header_kind(&l);
		size_t fence;
		if (kind)
			rc = block(&p, &l, kind);
		else if ((fence = fence_len(&l)))
			rc = prose_fence(&p, &l, fence);
		else if (is_search(&l))
			rc = fail(&p, "the SEARCH/REPLACE pair at line %ld is "
				  "outside an EDIT block", l.no);
	}
out:
	cdt_buf_release(&clean);
	if (rc) {
		jv_free(p.out);
		return 1;
	}
	*out = p.out;
	return 0;
}
