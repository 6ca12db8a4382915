/*
 * t-conv.c - conversations in a scratch store: pick (new, latest, within
 * a session, by prefix, by id), append and read back as message records,
 * log, and the history window; the caller is the store's local identity
 * (made by the caller check), and another org's caller sees nothing.
 */
#include "compat.h"
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>
#include "tap.h"
#include "caller.h"
#include "conv.h"
#include "err.h"
#include "record.h"
#include "store.h"

static jv
msg(const char *role, const char *content)
{
	jv r = cdt_record_new("message");
	r = jv_object_set(r, jv_string("role"), jv_string(role));
	r = jv_object_set(r, jv_string("content"), jv_string(content));
	return r;
}

static int
nrecs(jv a)
{
	return jv_get_kind(a) == JV_KIND_ARRAY ?
		jv_array_length(jv_copy(a)) : -1;
}

static const char *
str_at(jv a, int i, const char *key, char *buf, size_t len)
{
	jv r = jv_array_get(jv_copy(a), i);
	const char *s = jv_is_valid(r) ? cdt_record_str(r, key) : NULL;
	snprintf(buf, len, "%s", s ? s : "(none)");
	jv_free(r);
	return buf;
}

static void
test_window(void)
{
	jv h = jv_array();
	char buf[64];
	/* 4 messages of 40 bytes: 10 + 4 = 14 tokens each. */
	const char *forty = "0123456789012345678901234567890123456789";
	h = jv_array_append(h, msg("user", forty));
	h = jv_array_append(h, msg("assistant", forty));
	h = jv_array_append(h, msg("user", forty));
	h = jv_array_append(h, msg("assistant", forty));
	jv out;
	int left;
	cdt_conv_window(jv_copy(h), 0, 0, &out, &left);
	is_int(left, 0, "window: no budget keeps everything");
	is_int(nrecs(out), 4, "window: all four kept");
	jv_free(out);
	cdt_conv_window(jv_copy(h), 1000, 10, &out, &left);
	is_int(left, 0, "window: a large budget keeps everything");
	jv_free(out);
	cdt_conv_window(jv_copy(h), 10 + 14 * 3, 10, &out, &left);
	/* Three fit, but the oldest kept would be an assistant turn. */
	is_int(left, 2, "window: three fit, the window opens on a user turn");
	is_int(nrecs(out), 2, "window: two kept");
	is_str(str_at(out, 0, "role", buf, sizeof(buf)), "user",
	       "window: first kept is a user turn");
	jv_free(out);
	cdt_conv_window(jv_copy(h), 20, 10, &out, &left);
	is_int(left, 4, "window: nothing fits beside the new turn");
	is_int(nrecs(out), 0, "window: empty history sent");
	jv_free(out);
	jv_free(h);
	is_int(cdt_conv_tokens(0), 0, "tokens: nothing is 0");
	is_int(cdt_conv_tokens(1), 1, "tokens: a byte is 1");
	is_int(cdt_conv_tokens(8), 2, "tokens: 4 bytes a token");
}

/* A session row of who's org and team, as cdt-session would store it. */
static int
add_session(struct cdt_store *st, const struct cdt_caller *who,
	    const char *id)
{
	return cdt_store_exec(st, "INSERT INTO sessions (id, org_id, team_id, "
			      "user_id, status, workspace, created_at, "
			      "updated_at, last_activity_at) VALUES (?, ?, ?, "
			      "?, 'running', '/nonexistent', 1, 1, 1)",
			      JV_ARRAY(jv_string(id), jv_string(who->org_id),
				       jv_string(who->team_id),
				       jv_string(who->user_id)), NULL);
}

/*
 * Another org's org-admin, made by hand: the conversation layer must
 * answer it as if nothing existed.
 */
static void
test_other_org(struct cdt_store *st, const char *conv_id)
{
	static struct cdt_grant g = { "org-2", "", "", CDT_ROLE_ORG_ADMIN };
	struct cdt_caller x;
	struct cdt_conv e;
	char pre[5];
	jv recs = jv_invalid();
	cdt_caller_init(&x);
	snprintf(x.org_id, sizeof(x.org_id), "org-2");
	snprintf(x.team_id, sizeof(x.team_id), "team-2");
	snprintf(x.user_id, sizeof(x.user_id), "user-2");
	x.grants = &g;
	x.ngrants = 1;
	snprintf(pre, sizeof(pre), "%.4s", conv_id);
	struct cdt_conv_pick pk = { .prefix = pre, .who = &x, .write = true };
	cdt_err_quiet(true);
	is_int(cdt_conv_pick(st, &pk, &e), EX_NOINPUT,
	       "other org: a prefix of ours is 66");
	pk.prefix = conv_id;
	is_int(cdt_conv_pick(st, &pk, &e), EX_NOINPUT,
	       "other org: our whole id is 66");
	pk.prefix = NULL;
	pk.id = conv_id;
	is_int(cdt_conv_pick(st, &pk, &e), EX_NOINPUT,
	       "other org: our id in message records is 66");
	pk.id = NULL;
	pk.latest = true;
	is_int(cdt_conv_pick(st, &pk, &e), EX_NOINPUT,
	       "other org: -c finds nothing of ours");
	pk.latest = false;
	pk.session_id = "sess-1";
	is_int(cdt_conv_pick(st, &pk, &e), EX_NOINPUT,
	       "other org: a new conversation in our session is 66");
	is_int(cdt_conv_log(st, &x, NULL, "sess-1", &recs), EX_NOINPUT,
	       "other org: log of our session is 66");
	cdt_err_quiet(false);
	ok(!jv_is_valid(recs), "other org: no records");
	x.grants = NULL;
	x.ngrants = 0;
	cdt_caller_release(&x);
}

static void
test_store(const char *dir)
{
	struct cdt_store *st = NULL;
	struct cdt_conv c, d, e;
	struct cdt_caller who;
	char buf[256];
	jv recs = jv_invalid();
	cdt_caller_init(&who);
	int rc = cdt_store_open_default(&st, dir);
	is_int(rc, 0, "store opens");
	if (rc)
		return;
	struct cdt_caller_src src = { NULL, jv_invalid(), false };
	cdt_err_quiet(true);
	rc = cdt_caller_resolve(st, NULL, &src, &who);
	cdt_err_quiet(false);
	is_int(rc, 0, "the caller check makes the local identity");
	ok(who.created && who.org_id[0], "the local identity: created");
	is_int(add_session(st, &who, "sess-1"), 0, "a session row");

	struct cdt_conv_pick pk = { .who = &who, .write = true };
	cdt_err_quiet(true);
	is_int(cdt_conv_pick(st, &(struct cdt_conv_pick){ .latest = true,
							   .who = &who }, &c),
	       EX_NOINPUT, "latest with no conversation: 66");
	cdt_err_quiet(false);
	is_int(cdt_conv_pick(st, &pk, &c), 0, "new conversation picked");
	ok(!c.exists && strlen(c.id) == 36, "new: a fresh uuid, not stored");
	ok(!strcmp(c.org_id, who.org_id) && !strcmp(c.team_id, who.team_id) &&
	   !strcmp(c.user_id, who.user_id), "new: the caller's tenant");
	is_int(cdt_conv_history(st, &c, &recs), 0, "new: history reads");
	is_int(nrecs(recs), 0, "new: no history");
	jv_free(recs);

	jv two = jv_array();
	jv a = msg("user", "first question\nsecond line");
	a = jv_object_set(a, jv_string("timestamp"),
			  jv_string("2026-11-22T05:00:00Z"));
	jv b = msg("assistant", "an answer");
	b = jv_object_set(b, jv_string("id"), jv_string("reply-1"));
	b = jv_object_set(b, jv_string("partial"), jv_true());
	b = jv_object_set(b, jv_string("replayed"), jv_true());
	b = jv_object_set(b, jv_string("provider"), jv_string("claude"));
	b = jv_object_set(b, jv_string("stop_reason"), jv_string("end_turn"));
	b = jv_object_set(b, jv_string("metadata"),
			  jv_parse("{\"tokens\":{\"input\":3,\"output\":2}}"));
	two = jv_array_append(jv_array_append(two, a), b);
	is_int(cdt_conv_append(st, &c, two), 0, "append two messages");
	ok(c.exists, "append: the conversation exists now");
	is_int(cdt_conv_history(st, &c, &recs), 0, "history reads back");
	is_int(nrecs(recs), 2, "history: two messages");
	is_str(str_at(recs, 0, "content", buf, sizeof(buf)),
	       "first question\nsecond line", "history: user content");
	is_str(str_at(recs, 0, "timestamp", buf, sizeof(buf)),
	       "2026-11-22T05:00:00Z", "history: the record's timestamp");
	is_str(str_at(recs, 1, "id", buf, sizeof(buf)), "reply-1",
	       "history: the record's id kept");
	is_str(str_at(recs, 1, "conversation_id", buf, sizeof(buf)), c.id,
	       "history: conversation_id");
	jv r1 = jv_array_get(jv_copy(recs), 1);
	jv p = jv_object_get(jv_copy(r1), jv_string("partial"));
	ok(jv_get_kind(p) == JV_KIND_TRUE, "history: partial kept");
	jv_free(p);
	p = jv_object_get(jv_copy(r1), jv_string("replayed"));
	ok(jv_get_kind(p) == JV_KIND_TRUE, "history: replayed lifted back");
	jv_free(p);
	p = jv_object_get(jv_copy(r1), jv_string("metadata"));
	jv s = jv_dump_string(p, JV_PRINT_SORTED);
	is_str(jv_string_value(s), "{\"tokens\":{\"input\":3,\"output\":2}}",
	       "history: metadata as given, nothing extra");
	jv_free(s);
	jv_free(r1);
	jv_free(recs);

	/* A second conversation in a session, then -c within it. */
	struct cdt_conv_pick ps = { .session_id = "sess-1", .who = &who,
				    .write = true };
	is_int(cdt_conv_pick(st, &ps, &d), 0, "new conversation in a session");
	is_int(cdt_conv_append(st, &d, JV_ARRAY(msg("user", "in session"))),
	       0, "append in session");
	usleep(3000);
	is_int(cdt_conv_append(st, &c, JV_ARRAY(msg("user", "again"))), 0,
	       "append to the first: now the most recent");
	ps.latest = true;
	is_int(cdt_conv_pick(st, &ps, &e), 0, "latest within the session");
	is_str(e.id, d.id, "latest within the session is the session's");
	is_str(e.session_id, "sess-1", "latest: its session id");
	pk.latest = true;
	is_int(cdt_conv_pick(st, &pk, &e), 0, "latest overall");
	is_str(e.id, c.id, "latest overall is the most recently used");
	pk.latest = false;

	/* Prefixes. */
	char pre[9];
	snprintf(pre, sizeof(pre), "%.8s", d.id);
	pk.prefix = pre;
	is_int(cdt_conv_pick(st, &pk, &e), 0, "unique prefix");
	is_str(e.id, d.id, "unique prefix finds it");
	cdt_err_quiet(true);
	pk.prefix = "zzzz";
	is_int(cdt_conv_pick(st, &pk, &e), EX_NOINPUT, "unknown prefix: 66");
	pk.prefix = "bad id";
	is_int(cdt_conv_pick(st, &pk, &e), EX_USAGE, "prefix with a space: 64");
	cdt_err_quiet(false);
	pk.prefix = NULL;

	/* An exact id from message records: new to this store. */
	pk.id = "imported-conv";
	is_int(cdt_conv_pick(st, &pk, &e), 0, "exact id, unknown: picked");
	ok(!e.exists && !strcmp(e.id, "imported-conv"),
	   "exact id, unknown: kept, not stored yet");
	pk.id = c.id;
	is_int(cdt_conv_pick(st, &pk, &e), 0, "exact id, known");
	ok(e.exists, "exact id, known: exists");
	pk.id = NULL;
	cdt_err_quiet(true);
	ps.latest = false;
	ps.session_id = "no-such-session";
	is_int(cdt_conv_pick(st, &ps, &e), EX_NOINPUT,
	       "a session not in the store: 66");
	cdt_err_quiet(false);

	/* log */
	is_int(cdt_conv_log(st, &who, NULL, NULL, &recs), 0, "log: latest");
	is_int(nrecs(recs), 3, "log: the latest conversation's messages");
	jv_free(recs);
	is_int(cdt_conv_log(st, &who, NULL, "sess-1", &recs), 0,
	       "log: session");
	is_int(nrecs(recs), 1, "log: the session's messages");
	is_str(str_at(recs, 0, "session_id", buf, sizeof(buf)), "sess-1",
	       "log: session_id in the record");
	jv_free(recs);
	cdt_err_quiet(true);
	is_int(add_session(st, &who, "sess-empty"), 0, "an empty session");
	is_int(cdt_conv_log(st, &who, NULL, "sess-empty", &recs), EX_NOINPUT,
	       "log: an empty session is 66");
	cdt_err_quiet(false);
	ok(!jv_is_valid(recs), "log: no records on failure");
	test_other_org(st, c.id);
	cdt_caller_release(&who);
	cdt_store_close(st);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int
main(void)
{
	char dir[] = "/tmp/t-conv.XXXXXX";
	test_window();
	if (!mkdtemp(dir))
		return 1;
	/* The caller check keeps its keys and the login in CDT_HOME. */
	setenv("CDT_HOME", dir, 1);
	unsetenv("CDT_TOKEN");
	test_store(dir);
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS))
		diag("could not remove %s", dir);
	return done_testing();
}
