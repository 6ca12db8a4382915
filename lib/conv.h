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
 * way to a record.
 *
 * Tenancy (caller.h): a conversation attached to a session follows that
 * session's row: reading needs sessions.read, a new turn sessions.update,
 * and a new conversation in a session takes the session's org and team.
 * A conversation outside any session is private to its owner: reading
 * and continuing it both need sessions.update on its own row (its org,
 * team and user as stored; only its owner, still holding a role there).
 * Another org's conversation answers like a missing one, and prefixes,
 * -c and log only ever see what the caller may read (or write).  A new
 * --session must name a session of the store; a stored conversation
 * whose session row is gone falls back to its own row.  Rows written
 * before the caller check have empty tenant columns: on a SQLite store
 * cdt_conv_adopt() gives them to the store's first org.
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
struct cdt_caller;

#define CDT_CONV_ID_MAX 128

struct cdt_conv {
	char id[CDT_CONV_ID_MAX];
	char session_id[CDT_CONV_ID_MAX];	/* "" for none */
	/* The row's tenant, or the one a new row gets: the session's org
	   and team (else the caller's) and the caller as its user. */
	char org_id[CDT_CONV_ID_MAX];
	char team_id[CDT_CONV_ID_MAX];
	char user_id[CDT_CONV_ID_MAX];
	bool exists;		/* the store has its row */
};

struct cdt_conv_pick {
	const char *prefix;	/* --conversation: a unique id prefix */
	bool latest;		/* -c: the most recently used one */
	const char *id;		/* exact id from message records */
	const char *session_id;	/* NULL for none */
	const struct cdt_caller *who;	/* resolved; required */
	bool write;		/* authorise a new turn, not only reading */
};

/*
 * Pick a conversation as above (a new id when nothing asks otherwise),
 * authorised for who.  66 when none matches (or it is another org's, or
 * the session is missing or another org's), 77 for no permission in the
 * caller's own org, 64 for an ambiguous prefix, 65 for an id or session
 * that is not printable ASCII of at most 127 bytes; reported.
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
 * of the caller's most recently used conversation; as who may read them.
 * 66 when there is none, 77 as cdt_conv_pick.
 */
int cdt_conv_log(struct cdt_store *st, const struct cdt_caller *who,
		 const char *prefix, const char *session_id, jv *records);

/*
 * On a SQLite store (the local-first one), give the conversations stored
 * before the caller check (empty tenant columns) to their session's
 * tenant, else to the store's first org: its first team and org-admin.
 * Says so once on stderr.  A no-op (one indexed read) when there are
 * none, and on PostgreSQL, where such rows stay unreachable.
 */
int cdt_conv_adopt(struct cdt_store *st);

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
