/*
 * t-route.c - the router: config, plans and strategies, every error
 * class's verdict, breakers and their half-open trial, across processes.
 *
 * Attempts are scripted through cdt_route_opts.attempt, so these tests
 * make no connection; tests/t6000-route-*.sh drive the same engine
 * against the fake provider over HTTP.
 */
#include "compat.h"
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "provider.h"
#include "record.h"
#include "route.h"
#include "store.h"
#include "tap.h"

static char root[256];
static char dbpath[300];

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

/* ---- the scripted provider ---- */

struct step {
	const char *cls;	/* NULL: a reply */
	long http;
	double ra;		/* Retry-After, < 0 none */
	bool began;		/* a delta went out before the failure */
	long sleep_ms;
};

struct script {
	const char *name;
	struct step steps[16];
	int n;
	int next;
	struct step dflt;	/* once the steps are used up */
	int hits;
};

static struct script scripts[4];
static const char *hits_file;	/* children append here */

static const struct step OK = { NULL, 200, -1, false, 0 };

static struct step
F(const char *cls, long http)
{
	struct step s = { cls, http, -1, false, 0 };
	return s;
}

static struct step
FRA(const char *cls, long http, double ra)
{
	struct step s = { cls, http, ra, false, 0 };
	return s;
}

static struct script *
script_of(const char *name)
{
	for (size_t i = 0; i < CDT_ARRAY_SIZE(scripts); i++)
		if (scripts[i].name && !strcmp(scripts[i].name, name))
			return &scripts[i];
	return NULL;
}

static void
script_reset(void)
{
	static const char *const names[] = { "a", "b", "c", "d" };
	memset(scripts, 0, sizeof(scripts));
	for (size_t i = 0; i < CDT_ARRAY_SIZE(scripts); i++) {
		scripts[i].name = names[i];
		scripts[i].dflt = OK;
	}
}

static void
script(const char *name, struct step s)
{
	struct script *sc = script_of(name);
	sc->steps[sc->n++] = s;
}

static void
script_default(const char *name, struct step s)
{
	script_of(name)->dflt = s;
}

static int
hits(const char *name)
{
	return script_of(name)->hits;
}

static int
status_of_class(const char *cls, bool began)
{
	if (began)
		return EX_TEMPFAIL;
	if (!strcmp(cls, "bad_request") || !strcmp(cls, "context_window"))
		return EX_DATAERR;
	if (!strcmp(cls, "auth"))
		return EX_NOPERM;
	if (!strcmp(cls, "not_found") || !strcmp(cls, "config"))
		return EX_CONFIG;
	return EX_UNAVAILABLE;
}

static int
fake_attempt(void *actx, const struct cdt_provider *p,
	     const struct cdt_chat_req *req, cdt_delta_cb cb, void *ctx,
	     struct cdt_chat_result *res)
{
	struct script *sc = script_of(p->name);
	struct step s = sc->next < sc->n ? sc->steps[sc->next++] : sc->dflt;
	sc->hits++;
	if (hits_file) {
		int fd = open(hits_file, O_WRONLY | O_APPEND | O_CREAT, 0600);
		char line[64];
		int n = snprintf(line, sizeof(line), "%s %ld\n", p->name,
				 (long)getpid());
		if (fd >= 0) {
			if (write(fd, line, (size_t)n) != n)
				n = -1;
			close(fd);
		}
	}
	if (s.sleep_ms)
		usleep((useconds_t)s.sleep_ms * 1000);
	snprintf(res->model, sizeof(res->model), "%s",
		 req->model ? req->model : p->model);
	res->http_status = s.http;
	if (s.began) {
		cdt_buf_addstr(&res->text, "part");
		res->output_began = true;
		if (cb)
			cb(ctx, "part", 4);
	}
	if (!s.cls) {
		cdt_buf_addf(&res->text, "reply from %s", p->name);
		res->tokens_in = 1000;
		res->tokens_out = 500;
		snprintf(res->stop_reason, sizeof(res->stop_reason),
			 "end_turn");
		return 0;
	}
	res->err_class = s.began ? "stream_broken" : s.cls;
	res->retry_after_s = s.ra;
	res->partial = s.began;
	res->status = status_of_class(s.cls, s.began);
	return res->status;
}

/* ---- fixtures ---- */

static const char cfg_yaml[] =
	"providers:\n"
	"  a: {type: openai, base_url: 'http://127.0.0.1:9/a/v1',\n"
	"      api_key_env: T_KEY_A, model: ma, max_input_tokens: 1000,\n"
	"      price: {input: 3, output: 15}}\n"
	"  b: {type: openai, base_url: 'http://127.0.0.1:9/b/v1',\n"
	"      api_key_env: T_KEY_B, model: mb, max_input_tokens: 100000,\n"
	"      price: {input: 0.15, output: 0.6}}\n"
	"  c: {type: openai, base_url: 'http://127.0.0.1:9/c/v1',\n"
	"      api_key_env: T_KEY_C, model: mc}\n"
	"  d: {type: openai, base_url: 'http://127.0.0.1:9/d/v1',\n"
	"      api_key_env: T_KEY_NONE, model: md}\n"
	"routing:\n"
	"  priority: [a, b, c]\n"
	"  max_retries: 2\n"
	"  max_wait: 2s\n"
	"  timeout: 2s\n"
	"  breaker: {threshold: 3, reset: 1s, max_reset: 4s}\n"
	"  tasks:\n"
	"    code: [c, a]\n";

static struct cdt_cfg cfg;
static struct cdt_providers ps;
static struct cdt_route_cfg rcfg;
static struct cdt_store *st;
static jv msgs;

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static jv
rows(const char *sql, jv params)
{
	jv r = jv_invalid();
	if (cdt_store_exec(st, sql, params, &r))
		return jv_array();
	return r;
}

static void
exec_sql(const char *sql, jv params)
{
	if (cdt_store_exec(st, sql, params, NULL))
		diag("exec failed: %s", sql);
}

/* breakers.<col> of a provider as a number; -1 when null or absent. */
static double
brk_num(const char *provider, const char *col)
{
	jv r = rows("SELECT * FROM breakers WHERE provider = ?",
		    jv_array_append(jv_array(), jv_string(provider)));
	double n = -1;
	if (jv_array_length(jv_copy(r)) > 0) {
		jv v = jv_object_get(jv_array_get(jv_copy(r), 0),
				     jv_string(col));
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			n = jv_number_value(v);
		jv_free(v);
	}
	jv_free(r);
	return n;
}

static char brk_str_buf[64];

static const char *
brk_str(const char *provider, const char *col)
{
	jv r = rows("SELECT * FROM breakers WHERE provider = ?",
		    jv_array_append(jv_array(), jv_string(provider)));
	snprintf(brk_str_buf, sizeof(brk_str_buf), "(none)");
	if (jv_array_length(jv_copy(r)) > 0) {
		jv v = jv_object_get(jv_array_get(jv_copy(r), 0),
				     jv_string(col));
		snprintf(brk_str_buf, sizeof(brk_str_buf), "%s",
			 jv_get_kind(v) == JV_KIND_STRING ?
			 jv_string_value(v) : "(null)");
		jv_free(v);
	}
	jv_free(r);
	return brk_str_buf;
}

static double
usage_count(const char *where)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) AS n FROM usage%s%s",
		 where ? " WHERE " : "", where ? where : "");
	jv r = rows(sql, jv_array());
	double n = -1;
	if (jv_array_length(jv_copy(r)) > 0) {
		jv v = jv_object_get(jv_array_get(jv_copy(r), 0),
				     jv_string("n"));
		n = jv_number_value(v);
		jv_free(v);
	}
	jv_free(r);
	return n;
}

static void
fresh(void)
{
	script_reset();
	cdt_route_reset(st, NULL);
	exec_sql("DELETE FROM usage", jv_array());
	cdt_err_clear();
}

/* One send; *res is released by the caller. */
static int
send_ex(const char *providers, const char *task, const char *strategy,
	bool force, const struct cdt_chat_req *rq,
	struct cdt_route_result *res)
{
	struct cdt_route_opts o = {
		.providers = providers, .task = task, .strategy = strategy,
		.force = force, .attempt = fake_attempt,
	};
	struct cdt_chat_req req = { .messages = msgs, .temperature = -1,
				    .stream = true };
	cdt_route_result_init(res);
	cdt_err_clear();
	return cdt_route_send(st, &ps, &rcfg, &o, rq ? rq : &req, NULL, NULL,
			      res);
}

static int
send1(const char *providers)
{
	struct cdt_route_result res;
	int rc = send_ex(providers, NULL, NULL, false, NULL, &res);
	cdt_route_result_release(&res);
	return rc;
}

static int
nattempts(const struct cdt_route_result *r)
{
	return jv_array_length(jv_copy(r->attempts));
}

static const char *
attempt_str(const struct cdt_route_result *r, int i, const char *key)
{
	static char buf[64];
	jv a = jv_array_get(jv_copy(r->attempts), i);
	jv v = jv_get_kind(a) == JV_KIND_OBJECT ?
		jv_object_get(a, jv_string(key)) : (jv_free(a), jv_invalid());
	snprintf(buf, sizeof(buf), "%s", jv_get_kind(v) == JV_KIND_STRING ?
		 jv_string_value(v) : "(none)");
	jv_free(v);
	return buf;
}

static double
last_retry_after(void)
{
	struct cdt_err_last e;
	cdt_err_get(&e);
	return e.retry_after_s;
}

static int
last_code(void)
{
	struct cdt_err_last e;
	cdt_err_get(&e);
	return e.code;
}

/* ---- config ---- */

static void
test_cfg(void)
{
	struct cdt_cfg c;
	struct cdt_route_cfg r;

	cdt_cfg_init(&c);
	is_int(cdt_route_cfg_load(&c, &r), 0, "an empty config loads");
	jv want = jv_parse("[\"claude\",\"gemini\",\"kimi\",\"codex\"]");
	ok(jv_equal(jv_copy(r.priority), want), "default priority is the "
	   "design's four");
	is_str(r.strategy, "priority", "default strategy");
	is_int(r.timeout_ms, 30000, "default timeout 30 s");
	is_int(r.first_byte_ms, 30000, "first byte deadline defaults to it");
	is_int(r.max_retries, 2, "default max_retries 2");
	is_int(r.max_wait_ms, 60000, "default max_wait 60 s");
	is_int(r.threshold, 5, "default threshold 5");
	is_int(r.reset_ms, 30000, "default reset 30 s");
	is_int(r.max_reset_ms, 300000, "default max_reset 5 m");
	is_int(r.backoff_ms, 500, "backoff starts at 0.5 s");
	ok(r.fallback_on_error && r.fallback_on_timeout, "fallback on");
	jv rec = cdt_route_cfg_record(&r);
	is_str(cdt_record_str(rec, "type"), "route_config", "config record");
	jv_free(rec);
	cdt_route_cfg_release(&r);
	cdt_cfg_release(&c);

	is_int(cdt_route_cfg_load(NULL, &r), 0, "a NULL config loads too");
	cdt_route_cfg_release(&r);

	static const char *const bad[] = {
		"routing: {breaker: {threshold: 0}}\n",
		"routing: {max_retries: 11}\n",
		"routing: {breaker: {reset: 10s, max_reset: 5s}}\n",
		"routing: {max_retries: -1}\n",
	};
	cdt_err_quiet(true);
	for (size_t i = 0; i < CDT_ARRAY_SIZE(bad); i++) {
		cdt_cfg_init(&c);
		if (cdt_cfg_load_string(&c, "t", bad[i], strlen(bad[i])) == 0)
			is_int(cdt_route_cfg_load(&c, &r), EX_CONFIG,
			       "refused: %.*s", (int)strlen(bad[i]) - 1,
			       bad[i]);
		else
			ok(1, "refused by the schema: %s", bad[i]);
		cdt_cfg_release(&c);
	}
	cdt_err_quiet(false);

	/* Config-defined providers join the default list, in order. */
	static const char y[] =
		"providers:\n  zz: {type: openai, model: m}\n"
		"  claude: {model: x}\n  aa: {type: ollama, model: m}\n";
	cdt_cfg_init(&c);
	cdt_cfg_load_string(&c, "t", y, strlen(y));
	cdt_route_cfg_load(&c, &r);
	want = jv_parse("[\"claude\",\"gemini\",\"kimi\",\"codex\","
			"\"zz\",\"aa\"]");
	ok(jv_equal(jv_copy(r.priority), want),
	   "providers from config follow the four");
	cdt_route_cfg_release(&r);
	cdt_cfg_release(&c);

	static const char y2[] = "routing: {timeout: 5s, "
		"first_byte_timeout: 9s, breaker: {threshold: 1}}\n";
	cdt_cfg_init(&c);
	cdt_cfg_load_string(&c, "t", y2, strlen(y2));
	is_int(cdt_route_cfg_load(&c, &r), 0, "threshold 1 is accepted");
	is_int(r.threshold, 1, "threshold 1 kept exactly");
	is_int(r.first_byte_ms, 5000, "first byte never past the timeout");
	cdt_route_cfg_release(&r);
	cdt_cfg_release(&c);
}

/* ---- verdicts ---- */

static void
test_success_and_cost(void)
{
	struct cdt_route_result res;
	fresh();
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0, "S01 served");
	is_int(hits("a"), 1, "S01 one hit on a");
	ok(res.provider && !strcmp(res.provider->name, "a"), "S01 a served");
	is_int(nattempts(&res), 1, "S01 one attempt");
	ok(fabs(res.cost_usd - (1000 * 3 + 500 * 15) / 1e6) < 1e-12,
	   "S01 cost = tokens x price (%g)", res.cost_usd);
	is_str(res.reason, "priority", "S01 reason priority");
	ok(res.router_overhead_ms >= 0, "overhead is set");
	is_int(usage_count("provider = 'a' AND ok = 1"), 1,
	       "a usage row for the attempt");
	cdt_route_result_release(&res);

	fresh();
	is_int(send_ex("c", NULL, NULL, false, NULL, &res), 0, "S33 served");
	ok(res.cost_usd < 0, "S33 unknown price: cost unknown, not 0");
	is_int(usage_count("provider = 'c' AND cost_usd IS NULL"), 1,
	       "S33 usage row has a null cost");
	cdt_route_result_release(&res);
}

static void
test_server_retry_fallback(void)
{
	struct cdt_route_result res;
	double t0;

	fresh();
	script_default("a", F("server", 500));
	rcfg.max_retries = 0;
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0, "S02 served");
	is_int(hits("a"), 1, "S02 retries 0: a once");
	is_int(hits("b"), 1, "S02 then b");
	is_str(res.reason, "fallback:server", "S02 reason fallback:server");
	is_str(attempt_str(&res, 0, "class"), "server", "S02 attempt 1");
	cdt_route_result_release(&res);
	rcfg.max_retries = 2;

	fresh();
	script("a", F("overloaded", 503));
	t0 = mono_ms();
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0, "S03 served");
	is_int(hits("a"), 2, "S03 a retried once");
	is_int(hits("b"), 0, "S03 b untouched");
	ok(mono_ms() - t0 >= rcfg.backoff_ms * 0.75 - 1,
	   "S03 the retry waited the first backoff");
	ok(res.wait_ms >= (long)(rcfg.backoff_ms * 0.75) - 1,
	   "S03 wait_ms says so");
	is_int(brk_num("a", "failures"), 0,
	       "S15 failure then success: count back to 0");
	cdt_route_result_release(&res);

	fresh();
	script_default("a", F("server", 500));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0, "S04 served");
	is_int(hits("a"), 3, "S04 a three times (1 + max_retries)");
	is_int(hits("b"), 1, "S04 then b once");
	is_int(nattempts(&res), 4, "S04 four attempts, in order");
	is_str(attempt_str(&res, 3, "provider"), "b", "S04 b last");
	/* 40 ms then 80 ms, each times a factor in [0.75, 1] */
	ok(res.wait_ms >= 89 && res.wait_ms <= 121,
	   "S04 backoff 0.5x2^n with jitter (%ld ms for 40+80)", res.wait_ms);
	cdt_route_result_release(&res);

	fresh();
	script("a", FRA("overloaded", 503, 0.3));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "503 with Retry-After 0.3 s");
	is_int(hits("a"), 2, "retried on a");
	ok(res.wait_ms >= 300 && res.wait_ms < 400,
	   "Retry-After is the backoff's floor (%ld ms)", res.wait_ms);
	cdt_route_result_release(&res);

	fresh();
	script("a", FRA("overloaded", 503, 5));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "503 with Retry-After past max_wait");
	is_int(hits("a"), 1, "not retried");
	is_int(hits("b"), 1, "falls back at once");
	is_int(res.wait_ms, 0, "no wait");
	cdt_route_result_release(&res);

	fresh();
	script("a", F("rate_limited", 429));
	is_int(send1("a"), EX_UNAVAILABLE, "429 alone without Retry-After: "
	       "the 5 s default is past max_wait: 69");
	is_int((long)last_retry_after(), 5, "retry_after_s 5");
}

static void
test_no_fallback_classes(void)
{
	struct cdt_route_result res;

	fresh();
	script("a", F("bad_request", 400));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), EX_DATAERR,
	       "S05 bad request: 65");
	is_int(hits("a"), 1, "S05 a once");
	is_int(hits("b"), 0, "S05 no fallback");
	ok(brk_num("a", "failures") <= 0, "S05 not counted");
	cdt_route_result_release(&res);

	fresh();
	script("a", F("server", 200));
	script_of("a")->steps[0].began = true;
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), EX_TEMPFAIL,
	       "S31 broken after output: 75");
	is_int(hits("b"), 0, "S31 no fallback after the first byte");
	is_int(brk_num("a", "failures"), 1, "S31 counted as a failure");
	ok(res.chat.output_began && res.chat.text.len,
	   "S31 the part received is kept");
	cdt_route_result_release(&res);

	fresh();
	script("a", F("stream_broken", 200));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "S30 broken before the first byte: falls back");
	is_int(hits("b"), 1, "S30 b served");
	cdt_route_result_release(&res);
}

static void
test_context_window(void)
{
	struct cdt_route_result res;
	struct cdt_buf big = CDT_BUF_INIT;

	fresh();
	script("a", F("context_window", 400));
	script("b", F("context_window", 400));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), EX_DATAERR,
	       "S06 too long for a and b, c's window unknown: 65");
	is_int(hits("a"), 1, "S06 a once, no retry");
	is_int(hits("b"), 1, "S06 b, whose window is larger");
	is_int(hits("c"), 0, "S06 not c, whose window is unknown");
	ok(brk_num("a", "failures") <= 0, "S06 never counted");
	cdt_route_result_release(&res);

	fresh();
	script("a", F("context_window", 400));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "S06 b serves after a's context_window");
	is_str(res.reason, "fallback:context_window", "S06 reason");
	cdt_route_result_release(&res);

	/* S07: about 1500 tokens, over a's 1000: skipped up front. */
	fresh();
	for (int i = 0; i < 6000; i++)
		cdt_buf_addch(&big, 'x');
	jv m = jv_array_append(jv_array(), jv_object_set(jv_object_set(
		jv_object(), jv_string("role"), jv_string("user")),
		jv_string("content"), jv_string(big.buf)));
	struct cdt_chat_req rq = { .messages = m, .temperature = -1 };
	is_int(send_ex(NULL, NULL, NULL, false, &rq, &res), 0,
	       "S07 a request over a's window goes to b");
	is_int(hits("a"), 0, "S07 a skipped with no call");
	is_int(hits("b"), 1, "S07 b served");
	cdt_route_result_release(&res);

	jv rec = jv_invalid();
	struct cdt_route_opts o = { .attempt = fake_attempt };
	is_int(cdt_route_pick(st, &ps, &rcfg, &o, &rq, &rec), 0, "S07 pick");
	is_str(cdt_record_str(rec, "provider"), "b", "S07 pick says b");
	jv sk = jv_object_get(jv_copy(rec), jv_string("skipped"));
	jv s0 = jv_array_get(jv_copy(sk), 0);
	is_str(cdt_record_str(s0, "reason"), "context_window",
	       "S07 a skipped for its window");
	jv_free(s0);
	jv_free(sk);
	jv_free(rec);

	is_int(send_ex("a", NULL, NULL, false, &rq, &res), EX_DATAERR,
	       "only a, too small: 65 without a call");
	is_int(hits("a"), 0, "no call to a");
	cdt_route_result_release(&res);
	jv_free(m);
	cdt_buf_release(&big);
}

static void
test_auth(void)
{
	struct cdt_route_result res;
	fresh();
	script("a", F("auth", 401));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "S08 auth: b serves");
	is_int(hits("a"), 1, "S08 a once");
	is_int(hits("b"), 1, "S08 b once");
	is_str(brk_str("a", "state"), "open", "S08 a's breaker opens at once");
	is_str(brk_str("a", "last_error"), "auth", "S08 because of auth");
	cdt_route_result_release(&res);
	is_int(send1(NULL), 0, "S08 next send");
	is_int(hits("a"), 1, "S08 next send: no call to a");

	jv recs = jv_invalid();
	cdt_route_status(st, &ps, &rcfg, NULL, &recs);
	jv r0 = jv_array_get(jv_copy(recs), 0);
	is_str(cdt_record_str(r0, "health"), "unhealthy", "S08 a unhealthy");
	jv_free(r0);
	jv_free(recs);

	fresh();
	script_default("a", F("auth", 403));
	is_int(send1("a"), EX_NOPERM, "S08 only a, rejected: 77");

	fresh();
	script_default("a", F("auth", 401));
	script_default("b", F("auth", 401));
	script_default("c", F("auth", 401));
	is_int(send1(NULL), EX_NOPERM, "every key rejected: 77");
	is_int(hits("a") + hits("b") + hits("c"), 3, "each tried once");
}

static void
test_not_found_quota(void)
{
	struct cdt_route_result res;
	fresh();
	script("a", F("not_found", 404));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "not_found falls back");
	is_int(hits("a"), 1, "not_found: no retry");
	ok(brk_num("a", "failures") <= 0, "not_found not counted");
	cdt_route_result_release(&res);
	fresh();
	script_default("a", F("not_found", 404));
	is_int(send1("a"), EX_CONFIG, "not_found everywhere: 78");

	fresh();
	script("a", F("quota", 429));
	int64_t t = now_ms();
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "S14 quota: b serves");
	is_int(hits("a"), 1, "S14 quota never retried");
	ok(brk_num("a", "blocked_until") >= t + 3600000 - 1000,
	   "S14 a blocked for an hour");
	ok(brk_num("a", "failures") <= 0, "S14 not counted");
	cdt_route_result_release(&res);
	jv recs = jv_invalid();
	cdt_route_status(st, &ps, &rcfg, NULL, &recs);
	jv r0 = jv_array_get(jv_copy(recs), 0);
	is_str(cdt_record_str(r0, "health"), "unhealthy",
	       "S14 quota: unhealthy");
	jv_free(r0);
	jv_free(recs);
}

static void
test_rate_limited(void)
{
	struct cdt_route_result res;
	double t0;

	fresh();
	script("a", FRA("rate_limited", 429, 2));
	t0 = mono_ms();
	int64_t t = now_ms();
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "S09 429 with another usable: falls back");
	ok(mono_ms() - t0 < 200, "S09 no sleep");
	is_int(hits("a"), 1, "S09 a once");
	is_int(hits("b"), 1, "S09 b once");
	double bu = brk_num("a", "blocked_until");
	ok(bu >= t + 1900 && bu <= now_ms() + 2100,
	   "S09 a blocked for the Retry-After");
	ok(brk_num("a", "failures") <= 0, "S09 not counted");
	cdt_route_result_release(&res);
	is_int(send1(NULL), 0, "S10 within the block");
	is_int(hits("a"), 1, "S10 a skipped while blocked");

	fresh();
	script("a", FRA("rate_limited", 429, 0.3));
	t0 = mono_ms();
	is_int(send1("a"), 0, "S11 only a: waits its Retry-After");
	is_int(hits("a"), 2, "S11 two calls");
	ok(mono_ms() - t0 >= 290, "S11 waited");

	fresh();
	script("a", FRA("rate_limited", 429, 120));
	t0 = mono_ms();
	is_int(send1("a"), EX_UNAVAILABLE, "S12 past max_wait: 69");
	ok(mono_ms() - t0 < 200, "S12 at once");
	is_int((long)last_retry_after(), 120, "S12 retry_after_s 120");
	is_int(last_code(), EX_UNAVAILABLE, "S12 reported as 69");
	is_int(send1("a"), EX_UNAVAILABLE, "S12 then blocked: 69 again");
	is_int(hits("a"), 1, "S12 with no connection");
	ok(last_retry_after() >= 119, "S12 the block's remaining time");

	/* A later, longer block is kept; a shorter one never shortens. */
	fresh();
	script("a", FRA("rate_limited", 429, 1));
	send1("a,b");
	double first = brk_num("a", "blocked_until");
	exec_sql("UPDATE breakers SET blocked_until = ? WHERE provider = 'a'",
		 jv_array_append(jv_array(), jv_number(now_ms() - 1)));
	script_default("a", FRA("rate_limited", 429, 60));
	send1("a,b");
	ok(brk_num("a", "blocked_until") > first + 50000,
	   "#40130 a re-block extends the deadline");
	script_default("a", FRA("rate_limited", 429, 1));
	exec_sql("UPDATE breakers SET blocked_until = ? WHERE provider = 'a'",
		 jv_array_append(jv_array(), jv_number(now_ms() + 60000)));
	double before = brk_num("a", "blocked_until");
	send_ex("a,b", NULL, NULL, true, NULL, &res);
	cdt_route_result_release(&res);
	ok(brk_num("a", "blocked_until") >= before,
	   "a shorter Retry-After never shortens a block");
}

static void
test_timeout_connect(void)
{
	struct cdt_route_result res;
	fresh();
	script("a", F("timeout", 0));
	is_int(send_ex(NULL, NULL, NULL, false, NULL, &res), 0,
	       "S16 timeout falls back");
	is_int(hits("a"), 1, "S16 no retry");
	is_str(attempt_str(&res, 0, "class"), "timeout", "S16 attempt says");
	is_int(brk_num("a", "failures"), 1, "S16 counted");
	cdt_route_result_release(&res);

	fresh();
	script("a", F("connect", 0));
	is_int(send1(NULL), 0, "S17 connect falls back");
	is_int(hits("a"), 1, "S17 no retry");
	is_int(brk_num("a", "failures"), 1, "S17 counted");

	fresh();
	rcfg.fallback_on_timeout = false;
	script("a", F("timeout", 0));
	is_int(send1(NULL), EX_UNAVAILABLE, "fallback_on_timeout false: 69");
	is_int(hits("b"), 0, "no fallback");
	rcfg.fallback_on_timeout = true;

	fresh();
	rcfg.fallback_on_error = false;
	script_default("a", F("server", 500));
	is_int(send1(NULL), EX_UNAVAILABLE, "fallback_on_error false: 69");
	is_int(hits("a"), 3, "retried");
	is_int(hits("b"), 0, "no fallback");
	rcfg.fallback_on_error = true;
}

/* ---- breakers ---- */

static void
make_open(const char *p, int64_t open_until, int64_t reset_ms)
{
	jv a = jv_array();
	int64_t now = now_ms();
	a = jv_array_append(a, jv_string(p));
	a = jv_array_append(a, jv_number((double)now));
	a = jv_array_append(a, jv_number((double)open_until));
	a = jv_array_append(a, jv_number((double)reset_ms));
	a = jv_array_append(a, jv_number((double)now));
	exec_sql("INSERT INTO breakers (provider, state, failures, opened_at, "
		 "open_until, reset_ms, last_error, updated_at) VALUES (?, "
		 "'open', 3, ?, ?, ?, 'server', ?) ON CONFLICT (provider) DO "
		 "UPDATE SET state = 'open', open_until = excluded.open_until, "
		 "reset_ms = excluded.reset_ms", a);
}

static void
test_breaker(void)
{
	struct cdt_route_result res;
	fresh();
	rcfg.max_retries = 0;
	script_default("a", F("server", 500));
	for (int i = 0; i < 3; i++)
		send1("a,b");
	is_int(hits("a"), 3, "S18 three calls");
	is_str(brk_str("a", "state"), "open", "S18 threshold reached: open");
	is_int(brk_num("a", "failures"), 3, "S18 failures 3");
	ok(brk_num("a", "opened_at") > 0, "S18 opened_at set");
	is_int(send1("a,b"), 0, "S18 next send served by b");
	is_int(hits("a"), 3, "S18 no call to the open provider");
	is_int(send1("a"), EX_UNAVAILABLE, "only a, open: 69");
	ok(last_retry_after() >= 0 && last_retry_after() <= 1,
	   "69 carries the reopening (%g s)", last_retry_after());
	is_int(hits("a"), 3, "still no call");

	fresh();
	script("a", F("server", 500));
	script("a", F("server", 500));
	script("a", OK);
	script("a", F("server", 500));
	script("a", F("server", 500));
	for (int i = 0; i < 5; i++)
		send1("a,b");
	is_str(brk_str("a", "state"), "closed",
	       "S19 a success resets the count");
	is_int(brk_num("a", "failures"), 2, "S19 two since the success");

	fresh();
	script_default("a", F("bad_request", 400));
	for (int i = 0; i < 5; i++)
		send1("a");
	script_default("a", F("context_window", 400));
	for (int i = 0; i < 5; i++)
		send1("a,b");
	ok(brk_num("a", "failures") <= 0, "S20 bad request and window "
	   "errors never count");
	rcfg.max_retries = 2;

	/* Half-open: due, the trial succeeds, closed. */
	fresh();
	make_open("a", now_ms() - 1, 1000);
	is_int(send_ex("a", NULL, NULL, false, NULL, &res), 0,
	       "a due breaker: the trial is sent");
	is_str(attempt_str(&res, 0, "provider"), "a", "the trial went to a");
	is_str(res.reason, "trial", "reason trial");
	is_str(brk_str("a", "state"), "closed", "trial success closes");
	is_int(brk_num("a", "failures"), 0, "and clears the count");
	cdt_route_result_release(&res);

	/* The trial fails: open again for twice as long. */
	fresh();
	make_open("a", now_ms() - 1, 1000);
	script("a", F("server", 500));
	int64_t t = now_ms();
	is_int(send1("a"), EX_UNAVAILABLE, "a failed trial: 69");
	is_int(hits("a"), 1, "one trial call, no retry");
	is_str(brk_str("a", "state"), "open", "trial failure reopens");
	is_int(brk_num("a", "reset_ms"), 2000, "the reset time doubles");
	ok(brk_num("a", "open_until") >= t + 2000 - 5,
	   "open_until = now + 2 s");

	fresh();
	make_open("a", now_ms() - 1, 3000);
	script("a", F("timeout", 0));
	send1("a");
	is_int(brk_num("a", "reset_ms"), 4000, "doubling stops at max_reset");

	/* Another's live trial: skipped; a lapsed lease: taken over. */
	fresh();
	make_open("a", now_ms() - 1, 1000);
	exec_sql("UPDATE breakers SET state = 'half_open', trial_owner = "
		 "'someone', trial_lease_until = ?", jv_array_append(
			 jv_array(), jv_number(now_ms() + 60000)));
	is_int(send1("a,b"), 0, "another's trial: b serves");
	is_int(hits("a"), 0, "no call to a during another's trial");
	exec_sql("UPDATE breakers SET trial_lease_until = ?",
		 jv_array_append(jv_array(), jv_number(now_ms() - 1)));
	is_int(send1("a"), 0, "a lapsed lease is taken over");
	is_int(hits("a"), 1, "the new trial called a");
	is_str(brk_str("a", "state"), "closed", "and closed it");

	/* A new failure never shortens an existing open_until. */
	fresh();
	int64_t far = now_ms() + 100000;
	make_open("a", far, 1000);
	script("a", F("server", 500));
	is_int(send_ex("a", NULL, NULL, true, NULL, &res), EX_UNAVAILABLE,
	       "--force calls an open provider");
	is_int(hits("a"), 1, "forced: one call");
	ok(brk_num("a", "open_until") >= (double)far,
	   "its failure keeps the later open_until");
	cdt_route_result_release(&res);
	is_int(send_ex("a", NULL, NULL, true, NULL, &res), 0,
	       "--force success");
	is_str(brk_str("a", "state"), "closed", "closes the breaker");
	cdt_route_result_release(&res);

	/* Auth on a trial: open again, doubled. */
	fresh();
	make_open("a", now_ms() - 1, 1000);
	script("a", F("auth", 401));
	send1("a");
	is_str(brk_str("a", "state"), "open", "auth on a trial reopens");
	is_int(brk_num("a", "reset_ms"), 2000, "doubled");

	/* All open: 69 at once, soonest reopening. */
	fresh();
	make_open("a", now_ms() + 5000, 1000);
	make_open("b", now_ms() + 9000, 1000);
	make_open("c", now_ms() + 7000, 1000);
	double t0 = mono_ms();
	is_int(send1(NULL), EX_UNAVAILABLE, "all open: 69");
	ok(mono_ms() - t0 < 100, "at once");
	is_int(hits("a") + hits("b") + hits("c"), 0, "no call at all");
	is_int((long)last_retry_after(), 5, "retry_after_s: the soonest");
}

static void
test_plans(void)
{
	struct cdt_route_result res;
	jv rec = jv_invalid();
	struct cdt_route_opts o = { .attempt = fake_attempt };

	fresh();
	is_int(send1("a,a,b,a"), 0, "S32 duplicates");
	script_default("a", F("server", 500));
	script_default("b", F("server", 500));
	rcfg.max_retries = 1;
	is_int(send1("a,b,a,b"), EX_UNAVAILABLE, "S32 all failing: 69");
	is_int(hits("a"), 3, "S32 a at most 1 + retries in the pass");
	is_int(hits("b"), 2, "S32 b at most 1 + retries in the pass");
	rcfg.max_retries = 2;

	fresh();
	o.task = "code";
	is_int(cdt_route_pick(st, &ps, &rcfg, &o, NULL, &rec), 0, "S29 pick");
	is_str(cdt_record_str(rec, "provider"), "c", "S29 task code: c");
	jv_free(rec);
	o.task = "nosuch";
	cdt_route_pick(st, &ps, &rcfg, &o, NULL, &rec);
	is_str(cdt_record_str(rec, "provider"), "a", "S29 no rule: priority");
	jv_free(rec);
	o.task = NULL;
	is_int(send_ex(NULL, "code", NULL, false, NULL, &res), 0,
	       "send by task");
	is_str(res.provider ? res.provider->name : "", "c", "c served");
	cdt_route_result_release(&res);

	fresh();
	o.strategy = "cost";
	is_int(cdt_route_pick(st, &ps, &rcfg, &o, NULL, &rec), 0, "S27 pick");
	is_str(cdt_record_str(rec, "provider"), "b", "S27 cheapest: b");
	jv cands = jv_object_get(jv_copy(rec), jv_string("candidates"));
	jv last = jv_array_get(jv_copy(cands), 2);
	is_str(cdt_record_str(last, "provider"), "c",
	       "S27 unknown price last");
	jv_free(last);
	jv_free(cands);
	jv_free(rec);
	make_open("b", now_ms() + 60000, 1000);
	cdt_route_pick(st, &ps, &rcfg, &o, NULL, &rec);
	is_str(cdt_record_str(rec, "provider"), "a", "S27 b open: a");
	jv_free(rec);

	fresh();
	o.strategy = "latency";
	for (int i = 0; i < 10; i++) {
		jv p = jv_array();
		p = jv_array_append(p, jv_string(i % 2 ? "a" : "b"));
		p = jv_array_append(p, jv_number((double)now_ms() + i));
		p = jv_array_append(p, jv_number(i % 2 ? 300 : 50));
		exec_sql("INSERT INTO usage (provider, ts, latency_ms, ok) "
			 "VALUES (?, ?, ?, 1)", p);
	}
	cdt_route_pick(st, &ps, &rcfg, &o, NULL, &rec);
	is_str(cdt_record_str(rec, "provider"), "b", "S28 fastest: b");
	jv_free(rec);
	for (int i = 0; i < 10; i++) {
		jv p = jv_array();
		p = jv_array_append(p, jv_string("b"));
		p = jv_array_append(p, jv_number((double)now_ms() + 100 + i));
		p = jv_array_append(p, jv_number(600));
		exec_sql("INSERT INTO usage (provider, ts, latency_ms, ok) "
			 "VALUES (?, ?, ?, 1)", p);
	}
	cdt_route_pick(st, &ps, &rcfg, &o, NULL, &rec);
	is_str(cdt_record_str(rec, "provider"), "a", "S28 b slowed: a");
	jv_free(rec);
	o.strategy = "bogus";
	cdt_err_quiet(true);
	is_int(cdt_route_pick(st, &ps, &rcfg, &o, NULL, &rec), EX_USAGE,
	       "unknown strategy: 64");
	cdt_err_quiet(false);
	jv_free(rec);

	/* Keys: named unconfigured is 78; a list's is skipped. */
	fresh();
	is_int(send1("d"), EX_CONFIG, "a named provider without a key: 78");
	is_int(send1("d,a"), EX_CONFIG, "named among others: 78 too");
	is_int(send1("nosuch"), EX_CONFIG, "a name that is no provider: 78");
	is_int(send1("openai"), EX_CONFIG, "alias of codex, no key: 78");
	struct cdt_route_cfg only_d = rcfg;
	only_d.priority = jv_parse("[\"d\"]");
	struct cdt_route_opts od = { .attempt = fake_attempt };
	struct cdt_chat_req rq = { .messages = msgs, .temperature = -1 };
	cdt_route_result_init(&res);
	is_int(cdt_route_send(st, &ps, &only_d, &od, &rq, NULL, NULL, &res),
	       EX_CONFIG, "none usable: 78");
	cdt_route_result_release(&res);
	jv_free(only_d.priority);

	/* -m P:M pins a provider and its model. */
	fresh();
	struct cdt_chat_req rm = { .messages = msgs, .temperature = -1,
				   .model = "b:special" };
	is_int(send_ex(NULL, NULL, NULL, false, &rm, &res), 0, "-m b:special");
	is_str(attempt_str(&res, 0, "provider"), "b", "pinned to b");
	is_str(attempt_str(&res, 0, "model"), "special", "with its model");
	cdt_route_result_release(&res);
	rm.model = "mc";
	is_int(send_ex(NULL, NULL, NULL, false, &rm, &res), 0, "-m mc");
	is_str(attempt_str(&res, 0, "provider"), "c",
	       "a plain model keeps the providers that serve it");
	cdt_route_result_release(&res);
}

static void
test_status_check(void)
{
	jv recs = jv_invalid();
	fresh();
	is_int(cdt_route_status(st, &ps, &rcfg, NULL, &recs), 0, "status");
	is_int(jv_array_length(jv_copy(recs)), 3, "priority a b c (c also "
	       "in a task)");
	is_int(cdt_route_check(recs), 0, "all healthy: 0");
	jv_free(recs);

	fresh();
	script("a", F("server", 500));
	rcfg.max_retries = 0;
	send1(NULL);
	rcfg.max_retries = 2;
	cdt_route_status(st, &ps, &rcfg, NULL, &recs);
	jv r0 = jv_array_get(jv_copy(recs), 0);
	is_str(cdt_record_str(r0, "health"), "degraded",
	       "S35 a failure counting: degraded");
	jv_free(r0);
	is_int(cdt_route_check(recs), 1, "degraded: 1");
	jv_free(recs);

	fresh();
	make_open("a", now_ms() + 5000, 1000);
	make_open("b", now_ms() + 5000, 1000);
	make_open("c", now_ms() + 3000, 1000);
	cdt_route_status(st, &ps, &rcfg, NULL, &recs);
	cdt_err_quiet(true);
	is_int(cdt_route_check(recs), EX_UNAVAILABLE, "none can serve: 69");
	cdt_err_quiet(false);
	is_int((long)last_retry_after(), 3, "with the soonest reopening");
	r0 = jv_array_get(jv_copy(recs), 0);
	is_str(cdt_record_str(r0, "state"), "open", "S26 a open");
	ok(cdt_record_str(r0, "open_until") != NULL, "open_until in RFC 3339");
	jv_free(r0);
	jv_free(recs);
	is_int(cdt_route_reset(st, "a"), 0, "S26 reset a");
	cdt_route_status(st, &ps, &rcfg, NULL, &recs);
	r0 = jv_array_get(jv_copy(recs), 0);
	is_str(cdt_record_str(r0, "state"), "closed", "S26 a closed");
	is_str(cdt_record_str(r0, "health"), "healthy", "S26 a healthy");
	jv_free(r0);
	jv_free(recs);

	struct cdt_route_opts o = { .providers = "c,a" };
	cdt_route_status(st, &ps, &rcfg, &o, &recs);
	is_int(jv_array_length(jv_copy(recs)), 2, "--provider c,a: two");
	r0 = jv_array_get(jv_copy(recs), 0);
	is_str(cdt_record_str(r0, "provider"), "c", "in that order");
	jv_free(r0);
	jv_free(recs);
}

static void
test_probe(void)
{
	jv recs = jv_invalid();
	struct cdt_route_opts o = { .attempt = fake_attempt };
	fresh();
	make_open("b", now_ms() + 60000, 1000);
	make_open("c", now_ms() - 1, 1000);
	is_int(cdt_route_probe(st, &ps, &rcfg, &o, NULL, &recs), 0, "probe");
	is_int(hits("a"), 1, "a probed");
	is_int(hits("b"), 0, "b open: not contacted");
	is_int(hits("c"), 1, "c due: probed as its trial");
	is_str(brk_str("c", "state"), "closed", "c's trial closed it");
	jv r1 = jv_array_get(jv_copy(recs), 1);
	jv pr = jv_object_get(r1, jv_string("probe"));
	is_str(cdt_record_str(pr, "skipped"), "breaker_open",
	       "b's probe says why not");
	jv_free(pr);
	jv_free(recs);
}

/* ---- many processes ---- */

static int
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;
	if (!f)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void
test_one_trial(void)
{
	char hf[320];
	int go[2];
	const int N = 16;
	pid_t kids[16];

	fresh();
	snprintf(hf, sizeof(hf), "%s/trial-hits", root);
	make_open("a", now_ms() - 1, 1000);
	if (pipe(go) < 0) {
		ok(0, "pipe");
		return;
	}
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct cdt_store *s2 = NULL;
			struct cdt_route_result res;
			char b;
			close(go[1]);
			if (read(go[0], &b, 1) < 0)
				_exit(99);
			if (cdt_store_open(&s2, dbpath, 0))
				_exit(98);
			hits_file = hf;
			script_reset();
			script("a", (struct step){ NULL, 200, -1, false,
						   300 });
			struct cdt_route_opts o = { .providers = "a",
						    .attempt = fake_attempt };
			struct cdt_chat_req rq = { .messages = msgs,
						   .temperature = -1 };
			cdt_route_result_init(&res);
			int rc = cdt_route_send(s2, &ps, &rcfg, &o, &rq, NULL,
						NULL, &res);
			cdt_route_result_release(&res);
			cdt_store_close(s2);
			_exit(rc);
		}
	}
	close(go[0]);
	close(go[1]);	/* everyone goes at once */
	int served = 0, refused = 0;
	for (int i = 0; i < N; i++) {
		int wst;
		waitpid(kids[i], &wst, 0);
		if (WIFEXITED(wst) && WEXITSTATUS(wst) == 0)
			served++;
		else if (WIFEXITED(wst) && WEXITSTATUS(wst) == EX_UNAVAILABLE)
			refused++;
	}
	is_int(count_lines(hf), 1, "16 processes at a due breaker: exactly "
	       "one trial call");
	is_int(served, 1, "one served");
	is_int(refused, N - 1, "the others: 69 at once");
	is_str(brk_str("a", "state"), "closed", "the trial closed it");
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	char home[300];

	cdt_err_setname("t-route");
	snprintf(root, sizeof(root), "%s/t-route-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(home, sizeof(home), "%s/home", root);
	setenv("CDT_HOME", home, 1);
	setenv("T_KEY_A", "ka", 1);
	setenv("T_KEY_B", "kb", 1);
	setenv("T_KEY_C", "kc", 1);
	unsetenv("T_KEY_NONE");
	unsetenv("OPENAI_API_KEY");
	snprintf(dbpath, sizeof(dbpath), "%s/cdt.db", root);

	test_cfg();

	cdt_cfg_init(&cfg);
	if (cdt_cfg_load_string(&cfg, "t", cfg_yaml, strlen(cfg_yaml)) ||
	    cdt_providers_load(&cfg, &ps) ||
	    cdt_route_cfg_load(&cfg, &rcfg) ||
	    cdt_store_open(&st, dbpath, 0)) {
		printf("Bail out! fixtures\n");
		return 1;
	}
	rcfg.backoff_ms = 40;	/* keep the retries quick */
	msgs = jv_parse("[{\"role\":\"user\",\"content\":\"hi\"}]");

	cdt_err_quiet(true);	/* the verdicts are checked, not shown */
	test_success_and_cost();
	test_server_retry_fallback();
	test_no_fallback_classes();
	test_context_window();
	test_auth();
	test_not_found_quota();
	test_rate_limited();
	test_timeout_connect();
	test_breaker();
	test_plans();
	test_status_check();
	test_probe();
	test_one_trial();
	cdt_err_quiet(false);

	jv_free(msgs);
	cdt_store_close(st);
	cdt_route_cfg_release(&rcfg);
	cdt_providers_release(&ps);
	cdt_cfg_release(&cfg);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
