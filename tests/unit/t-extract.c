/*
 * t-extract.c - the --edit block parser: well-formed replies give the
 * records in order; every malformed reply gives 1, no records, and a
 * reason naming the block.
 */
#include "compat.h"
#include "tap.h"
#include "extract.h"
#include "record.h"

static char why[512];

static int
parse(const char *text, const struct cdt_extract_opts *o, jv *out)
{
	return cdt_extract(text, strlen(text), o, out, why, sizeof(why));
}

/* rec[i][key] as a string compared with want. */
static void
field_is(jv recs, int i, const char *key, const char *want, const char *name)
{
	jv r = jv_array_get(jv_copy(recs), i);
	const char *got = jv_is_valid(r) ? cdt_record_str(r, key) : NULL;
	is_str(got, want, "%s", name);
	jv_free(r);
}

static void
has_no(jv recs, int i, const char *key, const char *name)
{
	jv r = jv_array_get(jv_copy(recs), i);
	jv v = jv_is_valid(r) ? jv_object_get(jv_copy(r), jv_string(key)) :
		jv_invalid();
	ok(!jv_is_valid(v), "%s", name);
	jv_free(v);
	jv_free(r);
}

static int
count(jv recs)
{
	return jv_get_kind(recs) == JV_KIND_ARRAY ?
		jv_array_length(jv_copy(recs)) : -1;
}

/* A malformed reply: 1, no records, and why mentions each of needles. */
static void
refused(const char *text, const char *needle, const char *name)
{
	jv out = jv_null();
	int rc = parse(text, NULL, &out);
	is_int(rc, 1, "%s: refused", name);
	ok(!jv_is_valid(out), "%s: no records", name);
	ok(needle == NULL || strstr(why, needle) != NULL,
	   "%s: reason names '%s'", name, needle ? needle : "");
	if (needle && !strstr(why, needle))
		diag("why: %s", why);
	jv_free(out);
}

static void
test_file_block(void)
{
	jv out;
	const char *t =
		"Here is the file.\n"
		"\n"
		"FILE: src/hello.c\n"
		"```c\n"
		"#include <stdio.h>\n"
		"int main(void) { puts(\"hi\"); }\n"
		"```\n"
		"Done.\n";
	is_int(parse(t, NULL, &out), 0, "file block: parsed");
	is_int(count(out), 1, "file block: one record");
	field_is(out, 0, "type", "file", "file block: type file");
	field_is(out, 0, "path", "src/hello.c", "file block: path");
	field_is(out, 0, "node_type", "file", "file block: node_type");
	field_is(out, 0, "content",
		 "#include <stdio.h>\nint main(void) { puts(\"hi\"); }\n",
		 "file block: content, fences excluded, lines whole");
	has_no(out, 0, "message_id", "file block: no message_id unasked");
	has_no(out, 0, "base_sha256", "file block: no base without bases");
	jv_free(out);

	is_int(parse("FILE: empty.txt\n```\n```\n", NULL, &out), 0,
	       "empty file block: parsed");
	field_is(out, 0, "content", "", "empty file block: empty content");
	field_is(out, 0, "sha256",
		 "e3b0c44298fc1c149afbf4c8996fb924"
		 "27ae41e4649b934ca495991b7852b855",
		 "empty file block: sha256 of nothing");
	jv_free(out);
}

static void
test_long_fence(void)
{
	jv out;
	const char *t =
		"FILE: README.md\n"
		"````markdown\n"
		"# Title\n"
		"```sh\n"
		"make\n"
		"```\n"
		"`````\n"
		"````\n"
		"EDIT: doc.md\n"
		"`````\n"
		"<<<<<<< SEARCH\n"
		"````\n"
		"old\n"
		"=======\n"
		"```\n"
		"new\n"
		">>>>>>> REPLACE\n"
		"`````\n";
	is_int(parse(t, NULL, &out), 0, "fence of 4 and 5: parsed");
	is_int(count(out), 2, "fence of 4 and 5: two records");
	field_is(out, 0, "content", "# Title\n```sh\nmake\n```\n`````\n",
		 "fence of 4: ``` and ````` lines are content");
	field_is(out, 1, "search", "````\nold\n",
		 "fence of 5: ```` line in SEARCH is content");
	field_is(out, 1, "replace", "```\nnew\n",
		 "fence of 5: ``` line in REPLACE is content");
	jv_free(out);
}

static void
test_several_pairs(void)
{
	jv out;
	jv bases = jv_object();
	bases = jv_object_set(bases, jv_string("Makefile"),
			      jv_string("abc123"));
	struct cdt_extract_opts o = { NULL, "m-1", bases };
	const char *t =
		"EDIT: Makefile\n"
		"```\n"
		"<<<<<<< SEARCH\n"
		"CC=cc\n"
		"=======\n"
		"CC=gcc\n"
		">>>>>>> REPLACE\n"
		"\n"
		"<<<<<<< SEARCH\n"
		"all: hello\n"
		"\tcc -o hello hello.c\n"
		"=======\n"
		">>>>>>> REPLACE\n"
		"```\n"
		"and\n"
		"FILE: b.txt\n"
		"\n"
		"```\n"
		"b\n"
		"```\n";
	is_int(parse(t, &o, &out), 0, "two pairs and a file: parsed");
	is_int(count(out), 3, "two pairs and a file: three records");
	field_is(out, 0, "type", "edit", "pair 1: edit record");
	field_is(out, 0, "path", "Makefile", "pair 1: path");
	field_is(out, 0, "search", "CC=cc\n", "pair 1: search");
	field_is(out, 0, "replace", "CC=gcc\n", "pair 1: replace");
	field_is(out, 0, "message_id", "m-1", "pair 1: message_id");
	field_is(out, 0, "base_sha256", "abc123",
		 "pair 1: base_sha256 from the context");
	field_is(out, 1, "search", "all: hello\n\tcc -o hello hello.c\n",
		 "pair 2: search, tabs kept");
	field_is(out, 1, "replace", "", "pair 2: empty replace deletes");
	field_is(out, 2, "path", "b.txt",
		 "file after a blank line before its fence");
	field_is(out, 2, "message_id", "m-1", "file: message_id");
	has_no(out, 2, "base_sha256", "file: no base for an unread path");
	jv_free(out);
	jv_free(bases);
}

static void
test_crlf_and_quotes(void)
{
	jv out;
	const char *t =
		"FILE: `a b.txt`  \r\n"
		"```text \r\n"
		"x\r\n"
		"```\r\n"
		"EDIT: \"c.txt\"\r\n"
		"```\r\n"
		"<<<<<<< SEARCH \r\n"
		"y\r\n"
		"=======\r\n"
		"z\r\n"
		">>>>>>> REPLACE\r\n"
		"```";
	is_int(parse(t, NULL, &out), 0, "CRLF, quoted paths: parsed");
	is_int(count(out), 2, "CRLF: two records");
	field_is(out, 0, "path", "a b.txt", "backticks around a path go");
	field_is(out, 0, "content", "x\r\n", "CRLF content kept as sent");
	field_is(out, 1, "path", "c.txt", "quotes around a path go");
	field_is(out, 1, "search", "y\r\n", "CRLF search kept");
	jv_free(out);
}

static void
test_prose(void)
{
	jv out;
	const char *t =
		"No changes needed. Example of a code block:\n"
		"```\n"
		"FILE: not/a/block.c\n"
		"```\n"
		"FILE:s are mentioned in prose.\n";
	/* "FILE:s" is a header whose path "s are..." is fine lexically, so
	   it needs a fence; prose mentioning FILE: in the middle is not a
	   header. */
	is_int(parse("Nothing to change here.\nSee `FILE: x` docs.\n", NULL,
		     &out), 0, "prose only: parsed");
	is_int(count(out), 0, "prose only: no records");
	jv_free(out);
	refused(t, "no opening fence", "a FILE: line in prose needs a fence");
	is_int(parse("```\nFILE: a.c\n```\nok\n", NULL, &out), 0,
	       "FILE: inside a prose code block: not a header");
	is_int(count(out), 0, "FILE: inside a prose code block: no records");
	jv_free(out);
	is_int(parse("", NULL, &out), 0, "empty reply: parsed");
	is_int(count(out), 0, "empty reply: no records");
	jv_free(out);
}

static void
test_malformed(void)
{
	refused("FILE: a.c\nint x;\n", "no opening fence",
		"FILE without a fence");
	refused("FILE: a.c\n```c\nint x;\n", "not closed",
		"FILE never closed");
	refused("FILE: a.c\n````\nint x;\n```\n", "not closed",
		"FILE of 4 closed by 3 only");
	refused("FILE:\n```\nx\n```\n", "no path", "FILE without a path");
	refused("FILE: ../etc/passwd\n```\nx\n```\n", "bad path",
		"FILE escaping the root");
	refused("FILE: /etc/passwd\n```\nx\n```\n", "bad path",
		"FILE with an absolute path");
	refused("EDIT: a.c\n```\n<<<<<<< SEARCH\nold\n=======\nnew\n```\n",
		"no '>>>>>>> REPLACE'", "EDIT missing the REPLACE marker");
	refused("EDIT: a.c\n```\n<<<<<<< SEARCH\nold\nnew\n"
		">>>>>>> REPLACE\n```\n", "no '=======' divider",
		"EDIT missing the divider");
	refused("EDIT: a.c\n```\n<<<<<<< SEARCH\nold\n=======\nnew\n"
		"<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n",
		"no '>>>>>>> REPLACE'", "EDIT with a pair cut by the next");
	refused("EDIT: a.c\n```\n<<<<<<< SEARCH\n=======\nnew\n"
		">>>>>>> REPLACE\n```\n", "is empty", "EDIT with empty SEARCH");
	refused("EDIT: a.c\n```\n```\n", "no SEARCH/REPLACE pair",
		"EDIT with no pair");
	refused("EDIT: a.c\n```\nsome text\n<<<<<<< SEARCH\na\n=======\nb\n"
		">>>>>>> REPLACE\n```\n", "neither",
		"EDIT with text before a pair");
	refused("EDIT: a.c\n```\n<<<<<<< SEARCH\na\n=======\nb\n"
		">>>>>>> REPLACE\n", "not closed", "EDIT never closed");
	refused("EDIT: a.c\n```\n<<<<<<< SEARCH\na\n=======\nb\n",
		"no '>>>>>>> REPLACE'", "EDIT cut inside REPLACE");
	refused("a.c\n```\n<<<<<<< SEARCH\na\n=======\nb\n"
		">>>>>>> REPLACE\n```\n", "no EDIT: header",
		"pair in a code block without a header");
	refused("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n",
		"outside an EDIT block", "pair with no block at all");
	refused("FILE: ok.c\n```\nfine\n```\nEDIT: b.c\n```\nnope\n```\n",
		"'b.c'", "one bad block after a good one: nothing at all");
}

static void
test_max_tokens(void)
{
	jv out = jv_null();
	struct cdt_extract_opts o = { "max_tokens", "m", jv_null() };
	int rc = parse("FILE: a.c\n```\nx\n```\n", &o, &out);
	is_int(rc, 1, "stopped at max_tokens: refused");
	ok(!jv_is_valid(out), "stopped at max_tokens: no records");
	ok(strstr(why, "max_tokens") != NULL,
	   "stopped at max_tokens: the reason says so");
	jv_free(out);
	o.stop_reason = "end_turn";
	is_int(parse("FILE: a.c\n```\nx\n```\n", &o, &out), 0,
	       "stopped at end_turn: parsed");
	jv_free(out);
}

static void
test_why_buffer(void)
{
	char small[8];
	jv out;
	int rc = cdt_extract("FILE: a\nx\n", 10, NULL, &out, small,
			     sizeof(small));
	is_int(rc, 1, "small why buffer: refused");
	is_int((long)strlen(small), 7, "small why buffer: cut, terminated");
	rc = cdt_extract("FILE: a\nx\n", 10, NULL, &out, NULL, 0);
	is_int(rc, 1, "no why buffer: refused all the same");
	/* Bytes past len are not read: a NUL-free buffer, exact length. */
	char raw[] = { 'F', 'I', 'L', 'E', ':', ' ', 'a', '\n', '`', '`',
		       '`', '\n', 'x', '\n', '`', '`', '`' };
	rc = cdt_extract(raw, sizeof(raw), NULL, &out, why, sizeof(why));
	is_int(rc, 0, "unterminated buffer: parsed");
	field_is(out, 0, "content", "x\n", "unterminated buffer: content");
	jv_free(out);
}

static void
test_bad_utf8(void)
{
	jv out;
	/* A bad lead byte right before a line end must not eat it. */
	const char t[] = "FILE: a.txt\n```\nx\xf0\n```\n";
	is_int(cdt_extract(t, sizeof(t) - 1, NULL, &out, why, sizeof(why)),
	       0, "bad UTF-8 before a line end: parsed");
	field_is(out, 0, "content", "x\xef\xbf\xbd\n",
		 "bad UTF-8: U+FFFD for the byte, the line end kept");
	field_is(out, 0, "sha256",
		 "e9978a2ddf0afadb7110966cfc68d3d1"
		 "66d183d4b33ad4d0320794cd40cc1337",
		 "bad UTF-8: the digest is of the recorded content");
	jv_free(out);
	refused("FILE: a\xff.txt\n```\nx\n```\n", "U+FFFD",
		"a path that is not UTF-8");
}

int
main(void)
{
	test_file_block();
	test_long_fence();
	test_several_pairs();
	test_crlf_and_quotes();
	test_prose();
	test_malformed();
	test_max_tokens();
	test_why_buffer();
	test_bad_utf8();
	ok(strstr(cdt_extract_instructions, "<<<<<<< SEARCH") != NULL,
	   "the instructions show the format");
	return done_testing();
}
