#include "compat.h"
#include <time.h>
#include "buf.h"
#include "caller.h"
#include "conv.h"
#include "err.h"
#include "log.h"
#include "record.h"
#include "store.h"

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static jv
ms_to_rfc3339(double ms)
{
	char s[40];
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return jv_string(s);
}

/* "2026-11-22T05:00:00Z" (a fraction allowed) to ms; -1 if not that. */
static int64_t
rfc3339_to_ms(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end)
		return -1;
	int64_t frac = 0;
	if (*end == '.') {
		int digits = 0;
		for (end++; *end >= '0' && *end <= '9'; end++)
			if (digits++ < 3)
				frac = frac * 10 + (*end - '0');
		while (digits > 0 && digits < 3) {
			frac *= 10;
			digits++;
		}
	}
	if (strcmp(end, "Z"))
		return -1;
	return (int64_t)timegm(&tm) * 1000 + frac;
}

/* Ids and session ids: printable ASCII, no space, 1..127 bytes. */
static bool
id_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n >= CDT_CONV_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static int
check_ids(const struct cdt_conv_pick *pk)
{
	if (pk->session_id && !id_ok(pk->session_id))
		return cdt_err(EX_DATAERR, "bad session id: printable "
			       "characters, at most %d", CDT_CONV_ID_MAX - 1);
	if (pk->id && !id_ok(pk->id))
		return cdt_err(EX_DATAERR, "bad conversation id in a message "
			       "record: printable characters, at most %d",
			       CDT_CONV_ID_MAX - 1);
	if (pk->prefix && !id_ok(pk->prefix))
		return cdt_err(EX_USAGE, "--conversation takes an id or a "
			       "prefix of one");
	return 0;
}

/*
 * A conversation with its session's row, when that exists: s_id is NULL
 * for none (no session, or its row is gone).
 */
#define CONV_SELECT \
	"SELECT c.id, c.session_id, c.org_id, c.team_id, c.user_id, " \
	"s.id AS s_id, s.org_id AS s_org, s.team_id AS s_team, " \
	"s.user_id AS s_user, s.project AS s_project FROM conversations c " \
	"LEFT JOIN sessions s ON s.id = c.session_id "

/* What a row is authorised against: its session's row, else its own. */
static struct cdt_object
row_object(jv row)
{
	struct cdt_object o = { NULL, NULL, NULL, NULL };
	if (cdt_record_str(row, "s_id")) {
		o.org_id = cdt_record_str(row, "s_org");
		o.team_id = cdt_record_str(row, "s_team");
		o.owner_id = cdt_record_str(row, "s_user");
		o.project = cdt_record_str(row, "s_project");
	} else {
		o.org_id = cdt_record_str(row, "org_id");
		o.team_id = cdt_record_str(row, "team_id");
		o.owner_id = cdt_record_str(row, "user_id");
	}
	return o;
}

/* A session's conversation: its read or update; else its owner only. */
static const char *
row_perm(jv row, bool write)
{
	if (cdt_record_str(row, "s_id") && !write)
		return "sessions.read";
	return "sessions.update";
}

static bool
row_can(const struct cdt_conv_pick *pk, jv row)
{
	struct cdt_object o = row_object(row);
	return cdt_caller_can(pk->who, row_perm(row, pk->write), &o);
}

static int
row_authorize(const struct cdt_conv_pick *pk, jv row)
{
	struct cdt_object o = row_object(row);
	return cdt_caller_authorize(pk->who, row_perm(row, pk->write), &o,
				    "conversation", cdt_record_str(row, "id"));
}

static void
copy_str(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

/* Consumes row. */
static void
set_from_row(struct cdt_conv *c, jv row)
{
	copy_str(c->id, sizeof(c->id), cdt_record_str(row, "id"));
	copy_str(c->session_id, sizeof(c->session_id),
		 cdt_record_str(row, "session_id"));
	copy_str(c->org_id, sizeof(c->org_id), cdt_record_str(row, "org_id"));
	copy_str(c->team_id, sizeof(c->team_id),
		 cdt_record_str(row, "team_id"));
	copy_str(c->user_id, sizeof(c->user_id),
		 cdt_record_str(row, "user_id"));
	c->exists = true;
	jv_free(row);
}

/* Authorise row for pk and take it (consumed). */
static int
take_row(const struct cdt_conv_pick *pk, struct cdt_conv *c, jv row)
{
	int rc = row_authorize(pk, row);
	if (rc) {
		jv_free(row);
		return rc;
	}
	set_from_row(c, row);
	return 0;
}

/*
 * The caller's own org is searched, and only what pk->who may see
 * counts: another org's ids never make a prefix ambiguous.
 */
static int
by_prefix(struct cdt_store *st, const struct cdt_conv_pick *pk,
	  struct cdt_conv *c)
{
	const char *prefix = pk->prefix;
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, CONV_SELECT "WHERE substr(c.id, 1, ?) = "
				"? AND c.org_id = ? ORDER BY c.id",
				JV_ARRAY(jv_number((double)strlen(prefix)),
					 jv_string(prefix),
					 jv_string(pk->who->org_id)), &rows);
	if (rc)
		return rc;
	jv seen = jv_array();
	jv exact = jv_invalid();
	jv_array_foreach(rows, i, row) {
		(void)i;
		const char *id = cdt_record_str(row, "id");
		if (id && !strcmp(id, prefix)) {
			jv_free(exact);
			exact = jv_copy(row);
		}
		if (row_can(pk, row) && jv_array_length(jv_copy(seen)) < 3)
			seen = jv_array_append(seen, row);
		else
			jv_free(row);
	}
	jv_free(rows);
	int n = jv_array_length(jv_copy(seen));
	if (n == 0 && jv_is_valid(exact)) {
		/* The whole id of one the caller may not use: say why. */
		rc = take_row(pk, c, exact);
		exact = jv_invalid();
	} else if (n == 0) {
		rc = cdt_err_class(EX_NOINPUT, "not_found", "no such "
				   "conversation '%s'", prefix);
	} else if (n > 1) {
		jv a = jv_array_get(jv_copy(seen), 0);
		jv b = jv_array_get(jv_copy(seen), 1);
		rc = cdt_err(EX_USAGE, "conversation '%s' is ambiguous: "
			     "it starts %s, %s%s", prefix,
			     cdt_record_str(a, "id"), cdt_record_str(b, "id"),
			     n > 2 ? " and more" : "");
		jv_free(a);
		jv_free(b);
	} else {
		set_from_row(c, jv_array_get(jv_copy(seen), 0));
	}
	jv_free(exact);
	jv_free(seen);
	return rc;
}

/*
 * The session's row, authorised: sessions.update to write into it,
 * sessions.read to read it.  A missing session answers as another
 * org's does.  *row gets the row.
 */
static int
load_session(struct cdt_store *st, const struct cdt_conv_pick *pk,
	     jv *row)
{
	jv rows = jv_invalid();
	*row = jv_invalid();
	int rc = cdt_store_exec(st, "SELECT id, org_id, team_id, user_id, "
				"project FROM sessions WHERE id = ?",
				JV_ARRAY(jv_string(pk->session_id)), &rows);
	if (rc)
		return rc;
	if (jv_array_length(jv_copy(rows)) < 1) {
		jv_free(rows);
		return cdt_err_class(EX_NOINPUT, "not_found", "no such "
				     "session '%s'", pk->session_id);
	}
	*row = jv_array_get(rows, 0);
	struct cdt_object o = {
		cdt_record_str(*row, "org_id"), cdt_record_str(*row, "team_id"),
		cdt_record_str(*row, "user_id"),
		cdt_record_str(*row, "project"),
	};
	return cdt_caller_authorize(pk->who, pk->write ? "sessions.update" :
				    "sessions.read", &o, "session",
				    pk->session_id);
}

/* -c: the latest in the session (srow, authorised), else the caller's. */
static int
latest(struct cdt_store *st, const struct cdt_conv_pick *pk, jv srow,
       struct cdt_conv *c)
{
	jv rows = jv_invalid();
	int rc;
	if (pk->session_id)
		rc = cdt_store_exec(st, CONV_SELECT "WHERE c.session_id = ? "
				    "AND c.org_id = ? ORDER BY c.updated_at "
				    "DESC, c.created_at DESC LIMIT 1",
				    JV_ARRAY(jv_string(pk->session_id),
					     jv_string(cdt_record_str(srow,
							"org_id"))), &rows);
	else
		rc = cdt_store_exec(st, CONV_SELECT "WHERE c.user_id = ? AND "
				    "c.org_id = ? ORDER BY c.updated_at DESC, "
				    "c.created_at DESC LIMIT 1",
				    JV_ARRAY(jv_string(pk->who->user_id),
					     jv_string(pk->who->org_id)),
				    &rows);
	if (rc)
		return rc;
	if (jv_array_length(jv_copy(rows)) == 0)
		rc = pk->session_id ? cdt_err(EX_NOINPUT, "no conversation in "
					      "session '%s'", pk->session_id) :
			cdt_err(EX_NOINPUT, "no conversation yet");
	else
		rc = take_row(pk, c, jv_array_get(jv_copy(rows), 0));
	jv_free(rows);
	return rc;
}

/* An exact id from message records: *found when the store has it. */
static int
by_id(struct cdt_store *st, const struct cdt_conv_pick *pk,
      struct cdt_conv *c, bool *found)
{
	jv rows = jv_invalid();
	*found = false;
	int rc = cdt_store_exec(st, CONV_SELECT "WHERE c.id = ?",
				JV_ARRAY(jv_string(pk->id)), &rows);
	if (rc)
		return rc;
	if (jv_array_length(jv_copy(rows)) > 0) {
		*found = true;
		rc = take_row(pk, c, jv_array_get(jv_copy(rows), 0));
	}
	jv_free(rows);
	if (rc || *found)
		return rc;
	/* Row level security hides another org's: answer as SQLite does. */
	char taken[CDT_CONV_ID_MAX];
	rc = cdt_store_login_org(st, "conversation", pk->id, NULL, taken,
				 sizeof(taken));
	if (!rc && *taken)
		rc = cdt_err_class(EX_NOINPUT, "not_found", "no such "
				   "conversation '%s'", pk->id);
	return rc;
}

int
cdt_conv_pick(struct cdt_store *st, const struct cdt_conv_pick *pk,
	      struct cdt_conv *c)
{
	memset(c, 0, sizeof(*c));
	int rc = check_ids(pk);
	jv srow = jv_invalid();
	bool found = false;
	if (rc)
		return rc;
	if (pk->prefix)
		return by_prefix(st, pk, c);
	if (pk->id && ((rc = by_id(st, pk, c, &found)) || found))
		return rc;
	if (pk->session_id && (rc = load_session(st, pk, &srow)))
		goto out;
	if (pk->latest) {
		rc = latest(st, pk, srow, c);
		goto out;
	}
	/* A new conversation: the session's tenant, else the caller's. */
	if (pk->id)
		copy_str(c->id, sizeof(c->id), pk->id);
	else if ((rc = cdt_uuid4(c->id)))
		goto out;
	bool in_session = jv_is_valid(srow);
	copy_str(c->session_id, sizeof(c->session_id), pk->session_id);
	copy_str(c->org_id, sizeof(c->org_id), in_session ?
		 cdt_record_str(srow, "org_id") : pk->who->org_id);
	copy_str(c->team_id, sizeof(c->team_id), in_session ?
		 cdt_record_str(srow, "team_id") : pk->who->team_id);
	copy_str(c->user_id, sizeof(c->user_id), pk->who->user_id);
out:
	jv_free(srow);
	return rc;
}

/* A messages row as a DESIGN §2 message record. */
static jv
row_record(jv row, const char *session_id)
{
	jv r = cdt_record_new("message");
	static const char *const keys[] = { "id", "conversation_id" };
	for (size_t i = 0; i < CDT_ARRAY_SIZE(keys); i++)
		r = jv_object_set(r, jv_string(keys[i]),
				  jv_object_get(jv_copy(row),
						jv_string(keys[i])));
	r = jv_object_set(r, jv_string("session_id"),
			  session_id && *session_id ? jv_string(session_id) :
			  jv_null());
	r = jv_object_set(r, jv_string("role"),
			  jv_object_get(jv_copy(row), jv_string("role")));
	r = jv_object_set(r, jv_string("content"),
			  jv_object_get(jv_copy(row), jv_string("content")));
	const char *mtext = cdt_record_str(row, "metadata");
	jv meta = mtext ? jv_parse(mtext) : jv_object();
	if (jv_get_kind(meta) != JV_KIND_OBJECT) {
		jv_free(meta);
		meta = jv_object();
	}
	jv trunc = jv_object_get(jv_copy(meta), jv_string("truncated"));
	jv replayed = jv_object_get(jv_copy(meta), jv_string("replayed"));
	meta = jv_object_delete(meta, jv_string("truncated"));
	meta = jv_object_delete(meta, jv_string("replayed"));
	r = jv_object_set(r, jv_string("truncated"),
			  jv_bool(jv_get_kind(trunc) == JV_KIND_TRUE));
	jv_free(trunc);
	static const char *const more[] = { "provider", "model" };
	for (size_t i = 0; i < CDT_ARRAY_SIZE(more); i++)
		r = jv_object_set(r, jv_string(more[i]),
				  jv_object_get(jv_copy(row),
						jv_string(more[i])));
	jv ts = jv_object_get(jv_copy(row), jv_string("created_at"));
	r = jv_object_set(r, jv_string("timestamp"),
			  jv_get_kind(ts) == JV_KIND_NUMBER ?
			  ms_to_rfc3339(jv_number_value(ts)) : jv_null());
	jv_free(ts);
	r = jv_object_set(r, jv_string("stop_reason"),
			  jv_object_get(jv_copy(row),
					jv_string("stop_reason")));
	jv partial = jv_object_get(jv_copy(row), jv_string("partial"));
	r = jv_object_set(r, jv_string("partial"),
			  jv_bool(jv_get_kind(partial) == JV_KIND_NUMBER &&
				  jv_number_value(partial) != 0));
	jv_free(partial);
	r = jv_object_set(r, jv_string("replayed"),
			  jv_bool(jv_get_kind(replayed) == JV_KIND_TRUE));
	jv_free(replayed);
	r = jv_object_set(r, jv_string("metadata"), meta);
	jv_free(row);
	return r;
}

static int
messages_of(struct cdt_store *st, const char *id, const char *session_id,
	    jv *records)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, "SELECT id, conversation_id, role, "
				"content, provider, model, stop_reason, "
				"partial, metadata, created_at FROM messages "
				"WHERE conversation_id = ? ORDER BY seq",
				JV_ARRAY(jv_string(id)), &rows);
	if (rc)
		return rc;
	jv_array_foreach(rows, i, row) {
		(void)i;
		*records = jv_array_append(*records,
					   row_record(row, session_id));
	}
	jv_free(rows);
	return 0;
}

int
cdt_conv_history(struct cdt_store *st, const struct cdt_conv *c,
		 jv *records)
{
	*records = jv_array();
	if (!c->exists)
		return 0;
	int rc = messages_of(st, c->id, c->session_id, records);
	if (rc) {
		jv_free(*records);
		*records = jv_invalid();
	}
	return rc;
}

/*
 * The conversation's title: the first line of the first user message, at
 * most 80 bytes.  Consumes records.
 */
static jv
title_of(jv records)
{
	jv t = jv_null();
	jv_array_foreach(records, i, r) {
		(void)i;
		const char *role = cdt_record_str(r, "role");
		const char *s = cdt_record_str(r, "content");
		if (jv_get_kind(t) == JV_KIND_NULL && role && s &&
		    !strcmp(role, "user")) {
			size_t n = strcspn(s, "\n");
			if (n > 80)
				n = 80;
			while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
				n--;
			if (n) {
				jv_free(t);
				t = jv_string_sized(s, (int)n);
			}
		}
		jv_free(r);
	}
	jv_free(records);
	return t;
}

/* The stored metadata: the record's, plus truncated and replayed. */
static jv
stored_meta(jv rec)
{
	jv m = jv_object_get(jv_copy(rec), jv_string("metadata"));
	if (jv_get_kind(m) != JV_KIND_OBJECT) {
		jv_free(m);
		m = jv_object();
	}
	static const char *const keys[] = { "truncated", "replayed" };
	for (size_t i = 0; i < CDT_ARRAY_SIZE(keys); i++) {
		jv v = jv_object_get(jv_copy(rec), jv_string(keys[i]));
		if (jv_get_kind(v) == JV_KIND_TRUE)
			m = jv_object_set(m, jv_string(keys[i]), v);
		else
			jv_free(v);
	}
	return jv_dump_string(m, 0);
}

static jv
str_or_null(jv rec, const char *key)
{
	const char *s = cdt_record_str(rec, key);
	return s ? jv_string(s) : jv_null();
}

static int
insert_message(struct cdt_store *st, const char *conv_id, jv rec,
	       int64_t now)
{
	const char *role = cdt_record_str(rec, "role");
	const char *content = cdt_record_str(rec, "content");
	if (!role || !content)
		return cdt_err(EX_DATAERR, "message record without a role "
			       "or content");
	char id[CDT_UUID_LEN + 1];
	const char *rid = cdt_record_str(rec, "id");
	if (!rid || !id_ok(rid)) {
		int rc = cdt_uuid4(id);
		if (rc)
			return rc;
		rid = id;
	}
	int64_t ts = rfc3339_to_ms(cdt_record_str(rec, "timestamp"));
	jv partial = jv_object_get(jv_copy(rec), jv_string("partial"));
	bool is_partial = jv_get_kind(partial) == JV_KIND_TRUE;
	jv_free(partial);
	jv content_v = jv_object_get(jv_copy(rec), jv_string("content"));
	jv params = JV_ARRAY(jv_string(rid), jv_string(conv_id),
			     jv_string(conv_id), jv_string(role), content_v,
			     str_or_null(rec, "provider"),
			     str_or_null(rec, "model"));
	params = jv_array_append(params, str_or_null(rec, "stop_reason"));
	params = jv_array_append(params, jv_number(is_partial));
	params = jv_array_append(params, stored_meta(rec));
	params = jv_array_append(params, jv_number((double)(ts >= 0 ? ts :
							    now)));
	return cdt_store_exec(st, "INSERT INTO messages (id, "
			      "conversation_id, seq, role, content, provider, "
			      "model, stop_reason, partial, metadata, "
			      "created_at) VALUES (?, ?, (SELECT "
			      "coalesce(max(seq), 0) + 1 FROM messages WHERE "
			      "conversation_id = ?), ?, ?, ?, ?, ?, ?, ?, ?)",
			      params, NULL);
}

int
cdt_conv_append(struct cdt_store *st, struct cdt_conv *c, jv records)
{
	int64_t now = now_ms();
	int rc = cdt_store_begin(st, CDT_TXN_WRITE);
	if (rc) {
		jv_free(records);
		return rc;
	}
	rc = cdt_store_exec(st, "INSERT INTO conversations (id, session_id, "
			    "org_id, team_id, user_id, title, created_at, "
			    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
			    "ON CONFLICT (id) DO NOTHING",
			    JV_ARRAY(jv_string(c->id),
				     *c->session_id ?
				     jv_string(c->session_id) : jv_null(),
				     jv_string(c->org_id),
				     jv_string(c->team_id),
				     jv_string(c->user_id),
				     title_of(jv_copy(records)),
				     jv_number((double)now),
				     jv_number((double)now)), NULL);
	jv_array_foreach(records, i, rec) {
		(void)i;
		if (!rc)
			rc = insert_message(st, c->id, rec, now);
		jv_free(rec);
	}
	if (!rc)
		rc = cdt_store_exec(st, "UPDATE conversations SET updated_at "
				    "= ? WHERE id = ?",
				    JV_ARRAY(jv_number((double)now),
					     jv_string(c->id)), NULL);
	if (!rc)
		rc = cdt_store_commit(st);
	else
		cdt_store_rollback(st);
	if (!rc)
		c->exists = true;
	jv_free(records);
	return rc;
}

int
cdt_conv_log(struct cdt_store *st, const struct cdt_caller *who,
	     const char *prefix, const char *session_id, jv *records)
{
	struct cdt_conv c;
	struct cdt_conv_pick pk = {
		.prefix = prefix,
		.latest = !prefix && !session_id,
		.session_id = session_id,
		.who = who,
	};
	jv srow = jv_invalid();
	jv rows = jv_invalid();
	int rc;
	*records = jv_array();
	if (prefix || !session_id) {
		rc = cdt_conv_pick(st, &pk, &c);
		if (!rc)
			rc = messages_of(st, c.id, c.session_id, records);
		goto out;
	}
	rc = check_ids(&pk);
	if (!rc)
		rc = load_session(st, &pk, &srow);
	if (!rc)
		rc = cdt_store_exec(st, "SELECT id FROM conversations WHERE "
				    "session_id = ? AND org_id = ? ORDER BY "
				    "created_at, id",
				    JV_ARRAY(jv_string(session_id),
					     jv_string(cdt_record_str(srow,
							"org_id"))), &rows);
	if (rc)
		goto out;
	if (jv_array_length(jv_copy(rows)) == 0)
		rc = cdt_err(EX_NOINPUT, "no conversation in session '%s'",
			     session_id);
	jv_array_foreach(rows, i, row) {
		(void)i;
		if (!rc)
			rc = messages_of(st, cdt_record_str(row, "id"),
					 session_id, records);
		jv_free(row);
	}
out:
	jv_free(rows);
	jv_free(srow);
	if (rc) {
		jv_free(*records);
		*records = jv_invalid();
	}
	return rc;
}

int
cdt_conv_adopt(struct cdt_store *st)
{
	if (strcmp(cdt_store_backend_name(st), "sqlite"))
		return 0;
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, "SELECT 1 AS x FROM conversations WHERE "
				"user_id = '' LIMIT 1", jv_array(), &rows);
	bool any = !rc && jv_array_length(jv_copy(rows)) > 0;
	jv_free(rows);
	if (rc || !any)
		return rc;
	/* The first org's first team and org-admin: the machine's own. */
	rc = cdt_store_exec(st, "SELECT o.id AS org_id, o.name AS org, t.id "
			    "AS team_id, m.user_id FROM orgs o JOIN teams t "
			    "ON t.org_id = o.id JOIN memberships m ON "
			    "m.org_id = o.id AND m.role = 'org-admin' AND "
			    "m.team_id IS NULL ORDER BY o.created_at, o.id, "
			    "t.created_at, t.id, m.created_at, m.user_id "
			    "LIMIT 1", jv_array(), &rows);
	if (rc)
		return rc;
	jv to = jv_array_get(jv_copy(rows), 0);
	jv_free(rows);
	if (!jv_is_valid(to))
		return 0;	/* no identity yet: nobody to give them to */
	static const char *const cols[] = { "org_id", "team_id", "user_id" };
	struct cdt_buf sql = CDT_BUF_INIT;
	jv params = jv_array();
	cdt_buf_addstr(&sql, "UPDATE conversations SET ");
	for (size_t i = 0; i < CDT_ARRAY_SIZE(cols); i++) {
		cdt_buf_addf(&sql, "%s%s = coalesce((SELECT s.%s FROM "
			     "sessions s WHERE s.id = "
			     "conversations.session_id), ?)", i ? ", " : "",
			     cols[i], cols[i]);
		params = jv_array_append(params,
					 jv_string(cdt_record_str(to,
								  cols[i])));
	}
	cdt_buf_addstr(&sql, " WHERE user_id = ''");
	int64_t n = 0;
	rc = cdt_store_begin(st, CDT_TXN_WRITE);
	if (!rc) {
		rc = cdt_store_exec(st, sql.buf, params, NULL);
		n = rc ? 0 : cdt_store_changes(st);
		if (!rc)
			rc = cdt_store_commit(st);
		else
			cdt_store_rollback(st);
	} else {
		jv_free(params);
	}
	if (!rc && n > 0)
		cdt_warn("%lld conversation%s from before sign-in now belong "
			 "to org '%s' (or to their session's org)",
			 (long long)n, n == 1 ? "" : "s",
			 cdt_record_str(to, "org"));
	jv_free(to);
	cdt_buf_release(&sql);
	return rc;
}

long
cdt_conv_tokens(size_t len)
{
	return (long)((len + 3) / 4);
}

static long
message_tokens(jv m)
{
	jv c = jv_object_get(jv_copy(m), jv_string("content"));
	long n = 4;
	if (jv_get_kind(c) == JV_KIND_STRING)
		n += cdt_conv_tokens((size_t)jv_string_length_bytes(
					     jv_copy(c)));
	jv_free(c);
	return n;
}

void
cdt_conv_window(jv history, long budget, long reserved, jv *out,
		int *left_out)
{
	int n = jv_array_length(jv_copy(history));
	int first = 0;
	if (budget > 0) {
		long used = reserved;
		first = n;
		while (first > 0) {
			jv m = jv_array_get(jv_copy(history), first - 1);
			long t = message_tokens(m);
			jv_free(m);
			if (used + t > budget)
				break;
			used += t;
			first--;
		}
		/* Providers want the history to open with a user turn. */
		while (first < n) {
			jv m = jv_array_get(jv_copy(history), first);
			const char *role = cdt_record_str(m, "role");
			bool user = role && !strcmp(role, "user");
			jv_free(m);
			if (user)
				break;
			first++;
		}
	}
	*left_out = first;
	if (first == 0) {
		*out = history;
		return;
	}
	*out = jv_array_slice(history, first, n);
}
