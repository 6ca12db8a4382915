#include "compat.h"
#include <time.h>
#include "conv.h"
#include "err.h"
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

/* Consumes row. */
static void
set_from_row(struct cdt_conv *c, jv row)
{
	const char *id = cdt_record_str(row, "id");
	const char *sid = cdt_record_str(row, "session_id");
	snprintf(c->id, sizeof(c->id), "%s", id ? id : "");
	snprintf(c->session_id, sizeof(c->session_id), "%s", sid ? sid : "");
	c->exists = true;
	jv_free(row);
}

static int
by_prefix(struct cdt_store *st, const char *prefix, struct cdt_conv *c)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, "SELECT id, session_id FROM conversations "
				"WHERE substr(id, 1, ?) = ? ORDER BY id "
				"LIMIT 3",
				JV_ARRAY(jv_number((double)strlen(prefix)),
					 jv_string(prefix)), &rows);
	if (rc)
		return rc;
	int n = jv_array_length(jv_copy(rows));
	if (n == 0)
		rc = cdt_err(EX_NOINPUT, "no conversation '%s'", prefix);
	else if (n > 1) {
		jv a = jv_array_get(jv_copy(rows), 0);
		jv b = jv_array_get(jv_copy(rows), 1);
		rc = cdt_err(EX_USAGE, "conversation '%s' is ambiguous: "
			     "it starts %s, %s%s", prefix,
			     cdt_record_str(a, "id"), cdt_record_str(b, "id"),
			     n > 2 ? " and more" : "");
		jv_free(a);
		jv_free(b);
	} else
		set_from_row(c, jv_array_get(jv_copy(rows), 0));
	jv_free(rows);
	return rc;
}

static int
latest(struct cdt_store *st, const char *session, struct cdt_conv *c)
{
	jv rows = jv_invalid();
	int rc;
	if (session)
		rc = cdt_store_exec(st, "SELECT id, session_id FROM "
				    "conversations WHERE session_id = ? "
				    "ORDER BY updated_at DESC, created_at "
				    "DESC LIMIT 1",
				    JV_ARRAY(jv_string(session)), &rows);
	else
		rc = cdt_store_exec(st, "SELECT id, session_id FROM "
				    "conversations ORDER BY updated_at DESC, "
				    "created_at DESC LIMIT 1", jv_array(),
				    &rows);
	if (rc)
		return rc;
	if (jv_array_length(jv_copy(rows)) == 0)
		rc = session ? cdt_err(EX_NOINPUT, "no conversation in "
				       "session '%s'", session) :
			cdt_err(EX_NOINPUT, "no conversation yet");
	else
		set_from_row(c, jv_array_get(jv_copy(rows), 0));
	jv_free(rows);
	return rc;
}

int
cdt_conv_pick(struct cdt_store *st, const struct cdt_conv_pick *pk,
	      struct cdt_conv *c)
{
	memset(c, 0, sizeof(*c));
	int rc = check_ids(pk);
	if (rc)
		return rc;
	if (pk->prefix)
		return by_prefix(st, pk->prefix, c);
	if (pk->latest)
		return latest(st, pk->session_id, c);
	if (pk->session_id)
		snprintf(c->session_id, sizeof(c->session_id), "%s",
			 pk->session_id);
	if (pk->id) {
		jv rows = jv_invalid();
		rc = cdt_store_exec(st, "SELECT id, session_id FROM "
				    "conversations WHERE id = ?",
				    JV_ARRAY(jv_string(pk->id)), &rows);
		if (rc)
			return rc;
		if (jv_array_length(jv_copy(rows)) > 0)
			set_from_row(c, jv_array_get(jv_copy(rows), 0));
		else
			snprintf(c->id, sizeof(c->id), "%s", pk->id);
		jv_free(rows);
		return 0;
	}
	return cdt_uuid4(c->id);
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
			    "updated_at) VALUES (?, ?, '', '', '', ?, ?, ?) "
			    "ON CONFLICT (id) DO NOTHING",
			    JV_ARRAY(jv_string(c->id),
				     *c->session_id ?
				     jv_string(c->session_id) : jv_null(),
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
cdt_conv_log(struct cdt_store *st, const char *prefix,
	     const char *session_id, jv *records)
{
	struct cdt_conv c;
	struct cdt_conv_pick pk = { prefix, !prefix && !session_id, NULL,
				    session_id };
	int rc;
	*records = jv_array();
	if (prefix || !session_id) {
		rc = cdt_conv_pick(st, &pk, &c);
		if (!rc)
			rc = messages_of(st, c.id, c.session_id, records);
		goto out;
	}
	rc = check_ids(&pk);
	jv rows = jv_invalid();
	if (!rc)
		rc = cdt_store_exec(st, "SELECT id FROM conversations WHERE "
				    "session_id = ? ORDER BY created_at, id",
				    JV_ARRAY(jv_string(session_id)), &rows);
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
	jv_free(rows);
out:
	if (rc) {
		jv_free(*records);
		*records = jv_invalid();
	}
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
