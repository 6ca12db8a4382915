/*
 * edit.h - SEARCH/REPLACE edits and unified diffs, in memory.
 *
 * An edit replaces the one occurrence of its SEARCH text in a file's
 * content by its REPLACE text.  The match is exact, byte for byte: no
 * white-space or line-end folding.  A SEARCH text that does not occur,
 * or occurs more than once (overlapping occurrences count), is refused,
 * since the edit does not say where it applies; so is an empty one.
 * Several edits of one file apply in order, each to the result of the
 * one before (the caller calls cdt_edit_apply once per pair).
 *
 * cdt_edit_diff writes a unified diff in git's format (a/ and b/
 * prefixes, three lines of context, "\ No newline at end of file"), so
 * `git apply` and `patch -p1` take it.  Content that is not text (DESIGN
 * §6: not UTF-8, or holding NUL) gives git's "Binary files ... differ".
 *
 * Pure: no I/O, nothing printed, never exits (but on out of memory).
 */
#ifndef CDT_EDIT_H
#define CDT_EDIT_H

#include "compat.h"
#include "buf.h"

enum cdt_edit_result {
	CDT_EDIT_OK = 0,
	CDT_EDIT_MISSING,	/* SEARCH does not occur */
	CDT_EDIT_AMBIGUOUS,	/* SEARCH occurs more than once */
	CDT_EDIT_EMPTY,		/* SEARCH is empty */
	CDT_EDIT_TOO_LARGE,	/* the result would pass content->max */
};

/*
 * Apply one pair to content (changed in place only on CDT_EDIT_OK).
 * *line (may be NULL) is the 1-based line of the match, or of the
 * second match when ambiguous; 0 when missing or empty.
 */
enum cdt_edit_result cdt_edit_apply(struct cdt_buf *content,
				    const char *search, size_t slen,
				    const char *replace, size_t rlen,
				    size_t *line);

/* A short reason for a result ("SEARCH text not found", ...). */
const char *cdt_edit_strerror(enum cdt_edit_result r);

/*
 * Append to out the diff that turns a[0..alen) into b[0..blen), both of
 * path.  a_exists false means path is new ("--- /dev/null"), b_exists
 * false that it is deleted.  mode is the git mode of the new side
 * (0100644, or 0120000 for a symlink whose content is its target), 0
 * for the default.  Identical sides append nothing.  When the smallest
 * edit script costs more than a bound (about 2000 changed lines after
 * the common head and tail are cut), the hunk replaces the middle part
 * whole: still a correct diff, just not a minimal one.  Returns 0, or
 * EX_DATAERR when out->max would be passed (out is then cut back).
 */
int cdt_edit_diff(const char *path, const char *a, size_t alen,
		  bool a_exists, const char *b, size_t blen, bool b_exists,
		  unsigned mode, struct cdt_buf *out);

#include "banned.h"
#endif
