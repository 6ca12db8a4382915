/*
 * conv.h - conversations and their messages in the store.
 *
 * A conversation is picked before a turn: a new one (the default), the
 * most recently used one (within a session when one is given), one whose
 * id starts with a unique prefix, or an exact id carried by `message`
 * records (created here if this store has never seen it).  Picking writes
 * nothing; cdt_conv_append() creates the conversation row on first use
 * and appends messages at the next seq, in one write transaction, so a
 * turn whose request never went out leaves no trace.
 *
 * Messages go in and come out as DESIGN §2 `message` records.  The v1
 * messages table has no columns for `truncated` and `replayed`: they are
 * kept inside the stored metadata document and lifted back out on the
 * way to a record.  Conversations reference no session or identity table
 * (issue 3): session_id is any string, and the tenant columns hold ""
 * until the caller check exists.  TODO(chat): scope conversations by the
 * verified caller's org/team/user once cdt-auth's check lands.
 *
 * History windowing is pure: cdt_conv_window() keeps the newest turns
 * that fit a token budget, estimating 4 bytes a token plus 4 a message
 * (no tokenizer is shipped; the estimate errs on the side of sending
 * less).
 */
#ifndef CDT_CONV_H
#define CDT_CONV_H

#include "compat.h"
#include <jv.h>
#include "hash.h"

struct cdt_store;

#define CDT_CONV_ID_MAX 128

struct cdt_conv {
	char id[CDT_CONV_ID_MAX];
	char session_id[CDT_CONV_ID_MAX];	/* "" for none */
	bool exists;		/* the store has its row */
};

struct cdt_conv_pick {
	const char *prefix;	/* --conversation: a unique id prefix */
	bool latest;		/* -c: the most recently used one */
	const char *id;		/* exact id from message records */
	const char *session_id;	/* NULL for none */
};

/*
 * Pick a conversation as above (a new id when nothing asks otherwise).
 * 66 when none matches, 64 for an ambiguous prefix, 65 for an id or
 * session that is not printable ASCII of at most 127 bytes; reported.
 */
int cdt_conv_pick(struct cdt_store *st, const struct cdt_conv_pick *pk,
		  struct cdt_conv *c);

/* The stored messages of c, oldest first, as message records. */
int cdt_conv_history(struct cdt_store *st, const struct cdt_conv *c,
		     jv *records);

/*
 * Append message records (an array, consumed) to c: each gets the next
 * seq; the conversation row is created first when needed (its title: the
 * first line of the first user message, cut to 80 bytes).  Sets
 * c->exists.
 */
int cdt_conv_append(struct cdt_store *st, struct cdt_conv *c, jv records);

/*
 * `cdt-chat log`: the messages of the conversation named by prefix, else
 * of every conversation of session_id (oldest conversation first), else
 * of the most recently used conversation.  66 when there is none.
 */
int cdt_conv_log(struct cdt_store *st, const char *prefix,
		 const char *session_id, jv *records);

/* Estimated tokens of len bytes of text. */
long cdt_conv_tokens(size_t len);

/*
 * Keep the newest messages of history (an array of {role, content},
 * consumed) that fit in budget tokens, after `reserved` tokens for the
 * system prompt and the new turn; the kept part starts with a user
 * message.  *out gets the kept array, *left_out how many were dropped.
 * budget <= 0 keeps everything.
 */
void cdt_conv_window(jv history, long budget, long reserved, jv *out,
		     int *left_out);

#include "banned.h"
#endif
