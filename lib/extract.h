/*
 * extract.h - file and edit blocks in a model's reply (cdt-chat --edit).
 *
 * The format the model is asked for (cdt_extract_instructions):
 *
 *	FILE: src/hello.c		EDIT: Makefile
 *	```c				```
 *	...the whole file...		<<<<<<< SEARCH
 *	```				exact old lines
 *					=======
 *					new lines
 *					>>>>>>> REPLACE
 *					```
 *
 * A fence is a line of three or more backticks (an info string may follow
 * the opening one); a block closes at the first line equal to its opening
 * fence, so content holding ``` lines uses a longer fence.  Blank lines may
 * sit between a header and its fence and between pairs.  Markers are
 * matched exactly (seven characters, trailing blanks and CR ignored).
 * Text outside blocks is prose and ignored, but a SEARCH marker outside an
 * EDIT block is an error: the model forgot the header.
 *
 * Parsing is all or nothing: any malformed block (no fence, not closed, a
 * missing divider or REPLACE marker, text between pairs, an empty SEARCH,
 * a path the lexical validator rejects), or a reply that stopped at
 * max_tokens, gives 1 and no records, with the first bad block named in
 * why.  Pure: no I/O, nothing printed.
 */
#ifndef CDT_EXTRACT_H
#define CDT_EXTRACT_H

#include "compat.h"
#include <jv.h>

struct cdt_extract_opts {
	const char *stop_reason;	/* "max_tokens" refuses; may be NULL */
	const char *message_id;		/* into each record; or NULL */
	jv bases;			/* object path -> sha256 of the
					   context file; not consumed; any
					   other kind means none */
};

/*
 * Parse text[0..len).  0 with *out an array of `file` and `edit` records
 * in reply order (possibly empty); 1 with *out jv_invalid() and why set
 * (always NUL-terminated, cut to whylen).
 */
int cdt_extract(const char *text, size_t len,
		const struct cdt_extract_opts *o, jv *out,
		char *why, size_t whylen);

/* What --edit appends to the system prompt. */
extern const char cdt_extract_instructions[];

#include "banned.h"
#endif
