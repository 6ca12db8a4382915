#include "compat.h"
#include <math.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "hash.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "route.h"

#define DEF_TIMEOUT_MS 30000L
#define DEF_MAX_RETRIES 2
#define DEF_MAX_WAIT_MS 60000L
#define DEF_THRESHOLD 5
#define DEF_RESET_MS 30000L
#define DEF_MAX_RESET_MS 300000L
#define DEF_BACKOFF_MS 500L
#define BACKOFF_CAP_MS 8000L
/* A 429 without Retry-After blocks this long; a spent quota much longer. */
#define RATE_BLOCK_MS 5000L
#define QUOTA_BLOCK_MS 3600000L
/* Nobody is blocked longer than a day on a provider's word. */
#define MAX_BLOCK_MS 86400000L
/* The trial's lease is the attempt's deadline plus this. */
#define LEASE_MARGIN_MS 1000L
/* Replies are sized this way when nothing says (for cost estimates). */
#define EST_OUT_TOKENS 1024L
#define LATENCY_SAMPLES 10
#define STATUS_SAMPLES 100

static const char *const default_priority[] = {
	"claude", "gemini", "kimi", "codex",
};

static int64_t
wall_ms(void)
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

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Seconds until `at`, rounded up as a Retry-After header would be. */
static double
secs_until(int64_t at, int64_t now)
{
	return at > now ? ceil((double)(at - now) / 1000.0) : 0;
}

static void
rfc3339_ms(int64_t ms, char out[40])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%03dZ", (int)(ms % 1000));
}

static jv
time_or_null(int64_t ms)
{
	char s[40];
	if (ms <= 0)
		return jv_null();
	rfc3339_ms(ms, s);
	return jv_string(s);
}

static jv
num_or_null(double v, bool known)
{
	return known ? jv_number(v) : jv_null();
}

static bool
in_list(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static bool
jv_array_has_str(jv a, const char *s)
{
	bool found = false;
	if (jv_get_kind(a) != JV_KIND_ARRAY)
		return false;
	jv_array_foreach(a, i, x) {
		if (jv_get_kind(x) == JV_KIND_STRING &&
		    !strcmp(jv_string_value(x), s))
			found = true;
		jv_free(x);
	}
	return found;
}

/* ---- configuration ---- */

int
cdt_route_cfg_load(const struct cdt_cfg *cfg_in, struct cdt_route_cfg *rc)
{
	struct cdt_cfg empty;
	const struct cdt_cfg *cfg = cfg_in;
	int rc_ = 0;

	cdt_cfg_init(&empty);
	if (!cfg)
		cfg = &empty;
	memset(rc, 0, sizeof(*rc));
	rc->priority = cdt_cfg_get(cfg, "routing.priority");
	if (jv_get_kind(rc->priority) != JV_KIND_ARRAY) {
		jv_free(rc->priority);
		rc->priority = jv_array();
		for (size_t i = 0; i < CDT_ARRAY_SIZE(default_priority); i++)
			rc->priority = jv_array_append(rc->priority,
				jv_string(default_priority[i]));
		/* Then the providers the config defines, in its order. */
		jv defs = cdt_cfg_get(cfg, "providers");
		if (jv_get_kind(defs) == JV_KIND_OBJECT) {
			jv_object_foreach(defs, k, v) {
				const char *n = jv_string_value(k);
				if (!jv_array_has_str(rc->priority, n))
					rc->priority = jv_array_append(
						rc->priority, jv_copy(k));
				jv_free(k);
				jv_free(v);
			}
		}
		jv_free(defs);
	}
	snprintf(rc->strategy, sizeof(rc->strategy), "%s",
		 cdt_cfg_str(cfg, "routing.strategy", "priority"));
	rc->fallback_on_error = cdt_cfg_bool(cfg, "routing.fallback_on_error",
					     true);
	rc->fallback_on_timeout = cdt_cfg_bool(cfg,
					       "routing.fallback_on_timeout",
					       true);
	rc->timeout_ms = cdt_cfg_duration_ms(cfg, "routing.timeout",
					     DEF_TIMEOUT_MS);
	rc->first_byte_ms = cdt_cfg_duration_ms(cfg,
						"routing.first_byte_timeout",
						rc->timeout_ms);
	rc->idle_ms = cdt_cfg_duration_ms(cfg, "routing.idle_timeout",
					  rc->timeout_ms);
	int64_t retries = cdt_cfg_int(cfg, "routing.max_retries",
				      DEF_MAX_RETRIES);
	rc->max_wait_ms = cdt_cfg_duration_ms(cfg, "routing.max_wait",
					      DEF_MAX_WAIT_MS);
	int64_t threshold = cdt_cfg_int(cfg, "routing.breaker.threshold",
					DEF_THRESHOLD);
	rc->reset_ms = cdt_cfg_duration_ms(cfg, "routing.breaker.reset",
					   DEF_RESET_MS);
	rc->max_reset_ms = cdt_cfg_duration_ms(cfg,
					       "routing.breaker.max_reset",
					       DEF_MAX_RESET_MS);
	/* Not in the config schema yet; the default when absent. */
	rc->backoff_ms = cdt_cfg_duration_ms(cfg, "routing.backoff",
					     DEF_BACKOFF_MS);
	rc->tasks = cdt_cfg_get(cfg, "routing.tasks");
	if (jv_get_kind(rc->tasks) != JV_KIND_OBJECT) {
		jv_free(rc->tasks);
		rc->tasks = jv_object();
	}

	if (rc->timeout_ms <= 0)
		rc_ = cdt_cfg_err(cfg, EX_CONFIG, "routing.timeout",
				  "'routing.timeout' must be more than 0");
	else if (retries < 0 || retries > 10)
		rc_ = cdt_cfg_err(cfg, EX_CONFIG, "routing.max_retries",
				  "'routing.max_retries' must be 0 to 10");
	else if (threshold < 1 || threshold > 1000)
		rc_ = cdt_cfg_err(cfg, EX_CONFIG, "routing.breaker.threshold",
				  "'routing.breaker.threshold' must be 1 to "
				  "1000 (1 opens on the first failure)");
	else if (rc->reset_ms <= 0)
		rc_ = cdt_cfg_err(cfg, EX_CONFIG, "routing.breaker.reset",
				  "'routing.breaker.reset' must be more than "
				  "0");
	else if (rc->max_reset_ms < rc->reset_ms)
		rc_ = cdt_cfg_err(cfg, EX_CONFIG, "routing.breaker.max_reset",
				  "'routing.breaker.max_reset' must be at "
				  "least 'routing.breaker.reset'");
	else if (rc->backoff_ms <= 0)
		rc_ = cdt_cfg_err(cfg, EX_CONFIG, "routing.backoff",
				  "'routing.backoff' must be more than 0");
	rc->max_retries = (int)retries;
	rc->threshold = (int)threshold;
	if (rc->first_byte_ms <= 0 || rc->first_byte_ms > rc->timeout_ms)
		rc->first_byte_ms = rc->timeout_ms;
	if (rc->idle_ms <= 0 || rc->idle_ms > rc->timeout_ms)
		rc->idle_ms = rc->timeout_ms;
	cdt_cfg_release(&empty);
	if (rc_)
		cdt_route_cfg_release(rc);
	return rc_;
}

void
cdt_route_cfg_release(struct cdt_route_cfg *rc)
{
	jv_free(rc->priority);
	jv_free(rc->tasks);
	rc->priority = jv_invalid();
	rc->tasks = jv_invalid();
}

jv
cdt_route_cfg_record(const struct cdt_route_cfg *rc)
{
	jv r = cdt_record_new("route_config");
	r = jv_object_set(r, jv_string("priority"), jv_copy(rc->priority));
	r = jv_object_set(r, jv_string("strategy"), jv_string(rc->strategy));
	r = jv_object_set(r, jv_string("fallback_on_error"),
			  jv_bool(rc->fallback_on_error));
	r = jv_object_set(r, jv_string("fallback_on_timeout"),
			  jv_bool(rc->fallback_on_timeout));
	r = jv_object_set(r, jv_string("timeout_ms"),
			  jv_number(rc->timeout_ms));
	r = jv_object_set(r, jv_string("first_byte_timeout_ms"),
			  jv_number(rc->first_byte_ms));
	r = jv_object_set(r, jv_string("idle_timeout_ms"),
			  jv_number(rc->idle_ms));
	r = jv_object_set(r, jv_string("max_retries"),
			  jv_number(rc->max_retries));
	r = jv_object_set(r, jv_string("max_wait_ms"),
			  jv_number(rc->max_wait_ms));
	r = jv_object_set(r, jv_string("backoff_ms"),
			  jv_number(rc->backoff_ms));
	jv b = jv_object();
	b = jv_object_set(b, jv_string("threshold"),
			  jv_number(rc->threshold));
	b = jv_object_set(b, jv_string("reset_ms"), jv_number(rc->reset_ms));
	b = jv_object_set(b, jv_string("max_reset_ms"),
			  jv_number(rc->max_reset_ms));
	r = jv_object_set(r, jv_string("breaker"), b);
	r = jv_object_set(r, jv_string("tasks"), jv_copy(rc->tasks));
	return r;
}

void
cdt_route_result_init(struct cdt_route_result *r)
{
	memset(r, 0, sizeof(*r));
	cdt_chat_result_init(&r->chat);
	r->attempts = jv_array();
	r->cost_usd = -1;
}

void
cdt_route_result_release(struct cdt_route_result *r)
{
	cdt_chat_result_release(&r->chat);
	jv_free(r->attempts);
	r->attempts = jv_invalid();
}

static jv
long_or_null(long v)
{
	return v >= 0 ? jv_number((double)v) : jv_null();
}

jv
cdt_route_reply_metadata(const struct cdt_route_result *res,
			 const char *strategy)
{
	const struct cdt_chat_result *r = &res->chat;
	jv tokens = jv_object();
	tokens = jv_object_set(tokens, jv_string("input"),
			       long_or_null(r->tokens_in));
	tokens = jv_object_set(tokens, jv_string("output"),
			       long_or_null(r->tokens_out));
	jv md = jv_object();
	md = jv_object_set(md, jv_string("tokens"), tokens);
	md = jv_object_set(md, jv_string("ttfb_ms"), long_or_null(r->ttfb_ms));
	md = jv_object_set(md, jv_string("latency_ms"),
			   long_or_null(r->latency_ms));
	md = jv_object_set(md, jv_string("cost_usd"), res->cost_usd >= 0 ?
			   jv_number(res->cost_usd) : jv_null());
	md = jv_object_set(md, jv_string("cost_known"),
			   jv_bool(res->cost_usd >= 0));
	md = jv_object_set(md, jv_string("attempts"),
			   jv_get_kind(res->attempts) == JV_KIND_ARRAY ?
			   jv_copy(res->attempts) : jv_array());
	md = jv_object_set(md, jv_string("router_overhead_ms"),
			   long_or_null(res->router_overhead_ms));
	md = jv_object_set(md, jv_string("wait_ms"),
			   long_or_null(res->wait_ms));
	jv route = jv_object();
	route = jv_object_set(route, jv_string("reason"), res->reason[0] ?
			      jv_string(res->reason) : jv_null());
	route = jv_object_set(route, jv_string("strategy"),
			      strategy && *strategy ? jv_string(strategy) :
			      jv_null());
	return jv_object_set(md, jv_string("route"), route);
}

/* ---- prices and windows ---- */

double
cdt_route_cost(const struct cdt_provider *p, const char *model,
	       long tokens_in, long tokens_out)
{
	double pin, pout;
	if (tokens_in < 0 || tokens_out < 0)
		return -1;
	cdt_provider_price(p, model && *model ? model : NULL, &pin, &pout);
	if (pin < 0 || pout < 0)
		return -1;
	return ((double)tokens_in * pin + (double)tokens_out * pout) / 1e6;
}

/* The known input window for model at p (0: unknown). */
static long
window_of(const struct cdt_provider *p, const char *model)
{
	long w = cdt_provider_context(p, model && *model ? model : NULL);
	return w > 0 ? w : 0;
}

/* Tokens of a request, estimated as its bytes / 4, rounded up. */
static long
estimate_tokens(const struct cdt_chat_req *req)
{
	size_t bytes = 0;
	if (!req)
		return 0;
	if (req->system)
		bytes += strlen(req->system);
	if (jv_get_kind(req->messages) == JV_KIND_ARRAY) {
		jv_array_foreach(req->messages, i, m) {
			const char *c = jv_get_kind(m) == JV_KIND_OBJECT ?
				cdt_record_str(m, "content") : NULL;
			if (c)
				bytes += strlen(c);
			jv_free(m);
		}
	}
	return (long)((bytes + 3) / 4);
}

/* Does p serve model by name (its default, its list, the table)? */
static bool
serves_model(const struct cdt_provider *p, const char *model)
{
	if (p->model && !strcmp(p->model, model))
		return true;
	if (jv_array_has_str(p->models, model))
		return true;
	return cdt_model_lookup(p->name, model) != NULL;
}

/* ---- breakers ---- */

struct brk {
	char state[12];		/* closed | open | half_open */
	int64_t failures;
	int64_t opened_at;	/* 0: null, for every time here */
	int64_t open_until;
	int64_t blocked_until;
	int64_t reset_ms;
	int64_t lease_until;
	char owner[96];
	char last_error[24];
};

enum avail {
	AV_OK,			/* closed, not blocked */
	AV_TRIAL,		/* open and due, or a lapsed trial: take it */
	AV_OPEN,		/* open before open_until */
	AV_BUSY,		/* another process holds the trial */
	AV_BLOCKED,		/* rate-limited or out of quota */
};

enum how {
	H_NORMAL,
	H_TRIAL,		/* we won the half-open trial */
	H_FORCED,		/* --force past an open breaker or a block */
};

static void
brk_closed(struct brk *b)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->state, sizeof(b->state), "closed");
}

static int64_t
row_int(jv row, const char *key)
{
	jv v = jv_object_get(jv_copy(row), jv_string(key));
	int64_t n = jv_get_kind(v) == JV_KIND_NUMBER ?
		(int64_t)jv_number_value(v) : 0;
	jv_free(v);
	return n;
}

static void
brk_from_row(jv row, struct brk *b)
{
	brk_closed(b);
	const char *s = cdt_record_str(row, "state");
	if (s && (!strcmp(s, "open") || !strcmp(s, "half_open")))
		snprintf(b->state, sizeof(b->state), "%s", s);
	b->failures = row_int(row, "failures");
	b->opened_at = row_int(row, "opened_at");
	b->open_until = row_int(row, "open_until");
	b->blocked_until = row_int(row, "blocked_until");
	b->reset_ms = row_int(row, "reset_ms");
	b->lease_until = row_int(row, "trial_lease_until");
	s = cdt_record_str(row, "trial_owner");
	snprintf(b->owner, sizeof(b->owner), "%s", s ? s : "");
	s = cdt_record_str(row, "last_error");
	snprintf(b->last_error, sizeof(b->last_error), "%s", s ? s : "");
}

static bool
is_state(const struct brk *b, const char *s)
{
	return !strcmp(b->state, s);
}

/* Can the provider be called now, and when can it be if not? */
static enum avail
brk_avail(const struct brk *b, int64_t now, int64_t *ready_at)
{
	int64_t ready = now;
	enum avail a = AV_OK;
	if (is_state(b, "open")) {
		if (b->open_until > now) {
			a = AV_OPEN;
			ready = b->open_until;
		} else {
			a = AV_TRIAL;
		}
	} else if (is_state(b, "half_open")) {
		if (b->lease_until > now) {
			a = AV_BUSY;
			ready = b->lease_until;
		} else {
			a = AV_TRIAL;
		}
	}
	if (b->blocked_until > now) {
		if (b->blocked_until > ready)
			ready = b->blocked_until;
		if (a != AV_OPEN && a != AV_BUSY)
			a = AV_BLOCKED;
	}
	if (ready_at)
		*ready_at = ready;
	return a;
}

static bool
counts_as_failure(const char *cls)
{
	static const char *const counted[] = {
		"overloaded", "server", "timeout", "connect", "stream_broken",
	};
	return cls && in_list(counted, CDT_ARRAY_SIZE(counted), cls);
}

static void
brk_open(struct brk *b, int64_t reset, int64_t now)
{
	snprintf(b->state, sizeof(b->state), "open");
	b->opened_at = now;
	b->reset_ms = reset;
	/* A new failure never shortens an existing open_until. */
	if (now + reset > b->open_until)
		b->open_until = now + reset;
	b->owner[0] = '\0';
	b->lease_until = 0;
}

static void
brk_close(struct brk *b)
{
	char last[sizeof(b->last_error)];
	int64_t blocked = b->blocked_until;
	memcpy(last, b->last_error, sizeof(last));
	brk_closed(b);
	b->blocked_until = blocked;
	memcpy(b->last_error, last, sizeof(last));
}

static int64_t
cur_reset(const struct brk *b, const struct cdt_route_cfg *rc)
{
	return b->reset_ms > 0 ? b->reset_ms : rc->reset_ms;
}

/*
 * The breaker after one attempt's outcome (cls NULL: success).  `mine`
 * says the trial being settled is ours.  ra_s is the Retry-After, < 0
 * when none came.
 */
static void
brk_apply(struct brk *b, const char *cls, enum how how, bool mine,
	  double ra_s, int64_t now, const struct cdt_route_cfg *rc)
{
	bool half = is_state(b, "half_open");
	bool open = is_state(b, "open");
	/* Our trial, a forced call, or a trial nobody holds any more. */
	bool decides = (half && ((how == H_TRIAL && mine) ||
				 how == H_FORCED || b->lease_until <= now)) ||
		(open && how == H_FORCED);

	if (!cls) {
		/* A reply that started before the breaker opened says
		   nothing about now; every other success closes it. */
		if (open && how != H_FORCED)
			return;
		brk_closed(b);
		return;
	}
	if (!strcmp(cls, "auth")) {
		snprintf(b->last_error, sizeof(b->last_error), "auth");
		b->failures++;
		if (half && decides)
			brk_open(b, cur_reset(b, rc) * 2 > rc->max_reset_ms ?
				 rc->max_reset_ms : cur_reset(b, rc) * 2, now);
		else if (!half)
			brk_open(b, cur_reset(b, rc), now);
		return;
	}
	if (counts_as_failure(cls)) {
		snprintf(b->last_error, sizeof(b->last_error), "%s", cls);
		b->failures++;
		if (half && decides) {
			int64_t r = cur_reset(b, rc) * 2;
			brk_open(b, r > rc->max_reset_ms ? rc->max_reset_ms : r,
				 now);
		} else if (open && how == H_FORCED) {
			brk_open(b, cur_reset(b, rc), now);
		} else if (is_state(b, "closed") &&
			   b->failures >= rc->threshold) {
			brk_open(b, rc->reset_ms, now);
		}
		return;
	}
	if (!strcmp(cls, "rate_limited") || !strcmp(cls, "quota")) {
		int64_t dflt = !strcmp(cls, "quota") ? QUOTA_BLOCK_MS :
			RATE_BLOCK_MS;
		int64_t ms = ra_s >= 0 ? (int64_t)ceil(ra_s * 1000) : dflt;
		if (ms > MAX_BLOCK_MS)
			ms = MAX_BLOCK_MS;
		if (now + ms > b->blocked_until)
			b->blocked_until = now + ms;
		/* The provider answered: a trial or forced call closes. */
		if (decides)
			brk_close(b);
		snprintf(b->last_error, sizeof(b->last_error), "%s", cls);
		return;
	}
	if (!strcmp(cls, "bad_request") || !strcmp(cls, "context_window") ||
	    !strcmp(cls, "not_found")) {
		/* Never counted; but the provider answered. */
		if (decides)
			brk_close(b);
		return;
	}
	/* The call never reached the provider (config): give the trial
	   back so another process can take it. */
	if (half && how == H_TRIAL && mine) {
		snprintf(b->state, sizeof(b->state), "open");
		b->owner[0] = '\0';
		b->lease_until = 0;
	}
}

static jv
brk_params(const char *provider, const struct brk *b, int64_t now)
{
#define T(x) ((x) > 0 ? jv_number((double)(x)) : jv_null())
	jv p = jv_array();
	p = jv_array_append(p, jv_string(provider));
	p = jv_array_append(p, jv_string(b->state));
	p = jv_array_append(p, jv_number((double)b->failures));
	p = jv_array_append(p, T(b->opened_at));
	p = jv_array_append(p, T(b->open_until));
	p = jv_array_append(p, T(b->blocked_until));
	p = jv_array_append(p, T(b->reset_ms));
	p = jv_array_append(p, b->owner[0] ? jv_string(b->owner) : jv_null());
	p = jv_array_append(p, T(b->lease_until));
	p = jv_array_append(p, b->last_error[0] ? jv_string(b->last_error) :
			    jv_null());
	p = jv_array_append(p, jv_number((double)now));
	return p;
#undef T
}

static const char brk_upsert_sql[] =
	"INSERT INTO breakers (provider, state, failures, opened_at, "
	"open_until, blocked_until, reset_ms, trial_owner, "
	"trial_lease_until, last_error, updated_at) "
	"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	"ON CONFLICT (provider) DO UPDATE SET state = excluded.state, "
	"failures = excluded.failures, opened_at = excluded.opened_at, "
	"open_until = excluded.open_until, "
	"blocked_until = excluded.blocked_until, "
	"reset_ms = excluded.reset_ms, trial_owner = excluded.trial_owner, "
	"trial_lease_until = excluded.trial_lease_until, "
	"last_error = excluded.last_error, updated_at = excluded.updated_at";

static int
brk_read(struct cdt_store *st, const char *provider, struct brk *b)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, "SELECT * FROM breakers WHERE provider = ?",
				jv_array_append(jv_array(),
						jv_string(provider)), &rows);
	brk_closed(b);
	if (rc)
		return rc;
	if (jv_array_length(jv_copy(rows)) > 0) {
		jv row = jv_array_get(jv_copy(rows), 0);
		brk_from_row(row, b);
		jv_free(row);
	}
	jv_free(rows);
	return 0;
}

/* All breaker rows as an object provider -> row (one read). */
static int
brk_read_all(struct cdt_store *st, jv *out)
{
	jv rows = jv_invalid();
	int rc = cdt_store_exec(st, "SELECT * FROM breakers", jv_array(),
				&rows);
	*out = jv_object();
	if (rc)
		return rc;
	jv_array_foreach(rows, i, row) {
		const char *p = cdt_record_str(row, "provider");
		if (p)
			*out = jv_object_set(*out, jv_string(p), jv_copy(row));
		jv_free(row);
	}
	jv_free(rows);
	return 0;
}

static void
brk_lookup(jv all, const char *provider, struct brk *b)
{
	jv row = jv_object_get(jv_copy(all), jv_string(provider));
	if (jv_get_kind(row) == JV_KIND_OBJECT)
		brk_from_row(row, b);
	else
		brk_closed(b);
	jv_free(row);
}

/* "pid-uuid": unique per process and run, for the trial's owner. */
static void
owner_id(char out[96])
{
	char u[CDT_UUID_LEN + 1];
	if (cdt_uuid4(u))
		u[0] = '\0';
	snprintf(out, 96, "%ld-%s", (long)getpid(), u);
}

/*
 * Try to take the half-open trial: one conditional UPDATE, which the
 * store runs in its own BEGIN IMMEDIATE, so exactly one process sees a
 * change.  An expired lease (a killed owner) can be taken over.
 */
static int
take_trial(struct cdt_store *st, const char *provider, const char *owner,
	   long lease_ms, bool *won)
{
	int64_t now = wall_ms();
	jv p = jv_array();
	p = jv_array_append(p, jv_string(owner));
	p = jv_array_append(p, jv_number((double)(now + lease_ms)));
	p = jv_array_append(p, jv_number((double)now));
	p = jv_array_append(p, jv_string(provider));
	p = jv_array_append(p, jv_number((double)now));
	p = jv_array_append(p, jv_number((double)now));
	p = jv_array_append(p, jv_number((double)now));
	int rc = cdt_store_exec(st,
		"UPDATE breakers SET state = 'half_open', trial_owner = ?, "
		"trial_lease_until = ?, updated_at = ? WHERE provider = ? "
		"AND ((state = 'open' AND open_until <= ?) OR "
		"(state = 'half_open' AND (trial_lease_until IS NULL OR "
		"trial_lease_until <= ?))) AND (blocked_until IS NULL OR "
		"blocked_until <= ?)", p, NULL);
	*won = !rc && cdt_store_changes(st) == 1;
	return rc;
}

/* ---- plans: the candidates, in order, with their verdicts ---- */

struct cand {
	struct cdt_provider *p;
	const char *model;	/* NULL: the provider's default */
	struct brk b;
	enum avail av;
	int64_t ready_at;
	const char *skip;	/* why it is not tried, or NULL */
	double est_cost;	/* < 0 unknown */
	double p50;		/* < 0 unknown */
	bool tried;
	bool served;
	long window;		/* 0 unknown */
	int nattempts;
	char last[64];		/* what the last attempt ran into */
	double last_ra;		/* its Retry-After, < 0 none */
	const char *last_cls;
};

struct plan {
	struct cand *v;
	size_t n;
	char source[80];	/* where the list came from */
	char strategy[16];
	long est_tokens;
	long est_out;
	char *pinned_model;	/* -m P:M, the M part */
};

static void
plan_release(struct plan *pl)
{
	free(pl->v);
	free(pl->pinned_model);
	memset(pl, 0, sizeof(*pl));
}

static int
add_cand(struct plan *pl, struct cdt_provider *p)
{
	for (size_t i = 0; i < pl->n; i++)
		if (pl->v[i].p == p)
			return 0;	/* each provider once per pass */
	pl->v = cdt_xrealloc(pl->v, (pl->n + 1) * sizeof(*pl->v));
	struct cand *c = &pl->v[pl->n++];
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->est_cost = -1;
	c->p50 = -1;
	c->last_ra = -1;
	brk_closed(&c->b);
	return 0;
}

/* Names from a comma-separated list, a jv array, or nothing. */
static int
add_names(struct plan *pl, struct cdt_providers *ps, jv names,
	  const char *from)
{
	int rc = 0;
	jv_array_foreach(names, i, n) {
		if (rc || jv_get_kind(n) != JV_KIND_STRING) {
			jv_free(n);
			continue;
		}
		struct cdt_provider *p = cdt_providers_find(ps,
							    jv_string_value(n));
		if (!p)
			rc = cdt_err_class(EX_CONFIG, "config",
					   "%s names '%s', which is no "
					   "provider", from,
					   jv_string_value(n));
		else
			add_cand(pl, p);
		jv_free(n);
	}
	jv_free(names);
	return rc;
}

static jv
split_commas(const char *s)
{
	jv a = jv_array();
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		while (n && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n)
			a = jv_array_append(a, jv_string_sized(s, (int)n));
		s = e ? e + 1 : NULL;
	}
	return a;
}

/* The names of every variable that would configure the candidates. */
static void
key_vars(const struct plan *pl, struct cdt_buf *b)
{
	for (size_t i = 0; i < pl->n; i++) {
		const struct cdt_provider *p = pl->v[i].p;
		if (cdt_provider_configured(p))
			continue;
		cdt_buf_addf(b, "%s%s (%s)", b->len ? ", " : "", p->key_vars ?
			     p->key_vars : "a key", p->name);
	}
}

static int
cmp_cost(const struct cand *a, const struct cand *b)
{
	if ((a->est_cost < 0) != (b->est_cost < 0))
		return a->est_cost < 0 ? 1 : -1;	/* unknown last */
	if (a->est_cost < b->est_cost)
		return -1;
	return a->est_cost > b->est_cost;
}

static int
cmp_latency(const struct cand *a, const struct cand *b)
{
	if ((a->p50 < 0) != (b->p50 < 0))
		return a->p50 < 0 ? 1 : -1;
	if (a->p50 < b->p50)
		return -1;
	return a->p50 > b->p50;
}

/* Stable insertion sort: ties keep the list's order. */
static void
sort_cands(struct plan *pl, int (*cmp)(const struct cand *,
				       const struct cand *))
{
	for (size_t i = 1; i < pl->n; i++) {
		struct cand x = pl->v[i];
		size_t j = i;
		while (j > 0 && cmp(&pl->v[j - 1], &x) > 0) {
			pl->v[j] = pl->v[j - 1];
			j--;
		}
		pl->v[j] = x;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Recent latencies of successful (or timed-out) calls, newest first. */
static int
recent_latency(struct cdt_store *st, const char *provider, int limit,
	       bool with_timeouts, double *v, int *n)
{
	jv rows = jv_invalid();
	jv p = jv_array();
	p = jv_array_append(p, jv_string(provider));
	p = jv_array_append(p, jv_number(limit));
	int rc = cdt_store_exec(st, with_timeouts ?
		"SELECT latency_ms FROM usage WHERE provider = ? AND "
		"latency_ms IS NOT NULL AND (ok = 1 OR error_class = "
		"'timeout') ORDER BY ts DESC LIMIT ?" :
		"SELECT latency_ms FROM usage WHERE provider = ? AND "
		"latency_ms IS NOT NULL AND ok = 1 ORDER BY ts DESC LIMIT ?",
		p, &rows);
	*n = 0;
	if (rc)
		return rc;
	jv_array_foreach(rows, i, row) {
		if (*n < limit)
			v[(*n)++] = (double)row_int(row, "latency_ms");
		jv_free(row);
	}
	jv_free(rows);
	qsort(v, (size_t)*n, sizeof(*v), cmp_double);
	return 0;
}

/* Nearest-rank percentile of sorted v. */
static double
percentile(const double *v, int n, double q)
{
	if (n <= 0)
		return -1;
	int k = (int)ceil(q * n) - 1;
	if (k < 0)
		k = 0;
	return v[k < n ? k : n - 1];
}

static const char *
skip_reason(enum avail av)
{
	switch (av) {
	case AV_OPEN:
		return "breaker_open";
	case AV_BUSY:
		return "breaker_half_open";
	case AV_BLOCKED:
		return "blocked";
	default:
		return NULL;
	}
}

/*
 * Build the plan: the list, each provider's breaker and verdict, and the
 * strategy's order.  A name that is no provider, or a named provider
 * without a key, is 78 (reported).
 */
static int
plan_build(struct cdt_store *st, struct cdt_providers *ps,
	   const struct cdt_route_cfg *rc, const struct cdt_route_opts *o,
	   const struct cdt_chat_req *req, int64_t now, struct plan *pl)
{
	jv all = jv_invalid();
	const char *model = req && req->model && *req->model ? req->model :
		NULL;
	bool named = false;
	int rcode = 0;

	memset(pl, 0, sizeof(*pl));
	snprintf(pl->strategy, sizeof(pl->strategy), "%s",
		 o && o->strategy && *o->strategy ? o->strategy :
		 rc->strategy);
	if (strcmp(pl->strategy, "priority") && strcmp(pl->strategy, "cost") &&
	    strcmp(pl->strategy, "latency"))
		return cdt_err_class(EX_USAGE, "usage", "unknown strategy '%s' "
				     "(priority, cost or latency)",
				     pl->strategy);

	/* -m PROVIDER:MODEL, when PROVIDER names one, pins that provider. */
	struct cdt_provider *pin = NULL;
	if (model) {
		const char *colon = strchr(model, ':');
		if (colon) {
			char *pn = cdt_xstrndup(model, (size_t)(colon - model));
			pin = cdt_providers_find(ps, pn);
			free(pn);
			if (pin)
				pl->pinned_model = cdt_xstrdup(colon + 1);
		}
	}

	if (pin) {
		add_cand(pl, pin);
		snprintf(pl->source, sizeof(pl->source), "-m %s", model);
		named = true;
	} else if (o && o->providers && *o->providers) {
		rcode = add_names(pl, ps, split_commas(o->providers),
				  "--provider");
		snprintf(pl->source, sizeof(pl->source), "--provider");
		named = true;
		if (!rcode && !pl->n)
			rcode = cdt_err_class(EX_USAGE, "usage",
					      "--provider names no provider");
	} else {
		jv rule = jv_invalid();
		if (o && o->task && *o->task)
			rule = jv_object_get(jv_copy(rc->tasks),
					     jv_string(o->task));
		if (jv_get_kind(rule) == JV_KIND_ARRAY) {
			snprintf(pl->source, sizeof(pl->source),
				 "routing.tasks.%s", o->task);
			rcode = add_names(pl, ps, rule, pl->source);
		} else {
			jv_free(rule);
			if (o && o->task && *o->task)
				cdt_info("task '%s' has no rule: using "
					 "routing.priority", o->task);
			snprintf(pl->source, sizeof(pl->source),
				 "routing.priority");
			rcode = add_names(pl, ps, jv_copy(rc->priority),
					  "routing.priority");
		}
	}
	if (rcode)
		goto out;

	/* A plain -m MODEL keeps the providers known to serve it. */
	if (model && !pin) {
		size_t k = 0;
		for (size_t i = 0; i < pl->n; i++)
			if (serves_model(pl->v[i].p, model))
				k++;
		if (k > 0 && k < pl->n) {
			size_t j = 0;
			for (size_t i = 0; i < pl->n; i++)
				if (serves_model(pl->v[i].p, model))
					pl->v[j++] = pl->v[i];
			pl->n = j;
		}
	}

	pl->est_tokens = estimate_tokens(req);
	rcode = brk_read_all(st, &all);
	if (rcode)
		goto out;
	for (size_t i = 0; i < pl->n; i++) {
		struct cand *c = &pl->v[i];
		c->model = pin ? pl->pinned_model : model;
		c->window = window_of(c->p, c->model);
		if (!cdt_provider_configured(c->p)) {
			if (named) {
				rcode = cdt_err_class(EX_CONFIG, "config",
					"provider '%s' has no key: set %s",
					c->p->name, c->p->key_vars ?
					c->p->key_vars : "its key");
				goto out;
			}
			c->skip = "unconfigured";
			continue;
		}
		brk_lookup(all, c->p->name, &c->b);
		c->av = brk_avail(&c->b, now, &c->ready_at);
		if (c->window > 0 && pl->est_tokens > c->window) {
			c->skip = "context_window";
			continue;
		}
		if (!(o && o->force))
			c->skip = skip_reason(c->av);
		long out_tok = req && req->max_tokens > 0 ? req->max_tokens :
			c->p->max_tokens > 0 ? c->p->max_tokens :
			EST_OUT_TOKENS;
		c->est_cost = cdt_route_cost(c->p, c->model, pl->est_tokens,
					     out_tok);
	}
	pl->est_out = req && req->max_tokens > 0 ? req->max_tokens :
		EST_OUT_TOKENS;

	if (!strcmp(pl->strategy, "cost")) {
		sort_cands(pl, cmp_cost);
	} else if (!strcmp(pl->strategy, "latency")) {
		for (size_t i = 0; i < pl->n; i++) {
			double v[LATENCY_SAMPLES];
			int n = 0;
			if (pl->v[i].skip &&
			    !strcmp(pl->v[i].skip, "unconfigured"))
				continue;
			rcode = recent_latency(st, pl->v[i].p->name,
					       LATENCY_SAMPLES, true, v, &n);
			if (rcode)
				goto out;
			pl->v[i].p50 = percentile(v, n, 0.5);
		}
		sort_cands(pl, cmp_latency);
	}
out:
	jv_free(all);
	return rcode;
}

static bool
plan_has_usable(const struct plan *pl, size_t from)
{
	for (size_t i = from; i < pl->n; i++)
		if (!pl->v[i].skip && !pl->v[i].tried)
			return true;
	return false;
}

/* When the soonest candidate that could ever serve can serve again. */
static bool
plan_ready_at(const struct plan *pl, int64_t now, int64_t backoff,
	      int64_t *at)
{
	bool any = false;
	for (size_t i = 0; i < pl->n; i++) {
		const struct cand *c = &pl->v[i];
		int64_t r;
		if (c->skip && (!strcmp(c->skip, "unconfigured") ||
				!strcmp(c->skip, "context_window")))
			continue;
		enum avail av = brk_avail(&c->b, now, &r);
		if (av == AV_OK || av == AV_TRIAL) {
			/* Failed just now but not shut: after a backoff,
			   or its own Retry-After. */
			r = now + (c->last_ra >= 0 ?
				   (int64_t)ceil(c->last_ra * 1000) : backoff);
		}
		if (!any || r < *at)
			*at = r;
		any = true;
	}
	return any;
}

/* One line naming what each candidate ran into. */
static void
plan_story(const struct plan *pl, int64_t now, struct cdt_buf *b)
{
	for (size_t i = 0; i < pl->n; i++) {
		const struct cand *c = &pl->v[i];
		const char *sep = b->len ? "; " : "";
		if (c->tried) {
			cdt_buf_addf(b, "%s%s: %s", sep, c->p->name, c->last);
			if (c->nattempts > 1)
				cdt_buf_addf(b, " (%d attempts)", c->nattempts);
		} else if (c->skip && !strcmp(c->skip, "breaker_open")) {
			cdt_buf_addf(b, "%s%s: breaker open for %.0f s", sep,
				     c->p->name, secs_until(c->b.open_until,
							    now));
		} else if (c->skip && !strcmp(c->skip, "blocked")) {
			cdt_buf_addf(b, "%s%s: %s for %.0f s", sep, c->p->name,
				     c->b.last_error[0] ? c->b.last_error :
				     "blocked", secs_until(c->b.blocked_until,
							   now));
		} else if (c->skip) {
			cdt_buf_addf(b, "%s%s: %s", sep, c->p->name, c->skip);
		}
	}
}

/*
 * Nobody can be tried now: say why.  69 with the soonest reopening when
 * some provider will serve later; 65 when every window is too small; 78
 * when none has a key.
 */
static int
plan_refuse(const struct plan *pl, const struct cdt_route_cfg *rc)
{
	struct cdt_buf story = CDT_BUF_INIT;
	int64_t now = wall_ms(), at = 0;
	int code;
	bool unconf = false, ctxw = false;

	for (size_t i = 0; i < pl->n; i++) {
		if (pl->v[i].skip && !strcmp(pl->v[i].skip, "unconfigured"))
			unconf = true;
		if (pl->v[i].skip && !strcmp(pl->v[i].skip, "context_window"))
			ctxw = true;
	}
	plan_story(pl, now, &story);
	if (plan_ready_at(pl, now, rc->backoff_ms, &at)) {
		double s = secs_until(at, now);
		code = cdt_err_retry(EX_UNAVAILABLE, "unavailable", s,
				     "no provider can serve now (%s); retry "
				     "in %.0f s", story.buf, s);
	} else if (ctxw) {
		code = cdt_err_class(EX_DATAERR, "context_window",
				     "the request (about %ld tokens) fits no "
				     "provider's window (%s)", pl->est_tokens,
				     story.buf);
	} else if (unconf || !pl->n) {
		struct cdt_buf vars = CDT_BUF_INIT;
		key_vars(pl, &vars);
		code = cdt_err_class(EX_CONFIG, "config",
				     "no provider is configured: set %s",
				     vars.len ? vars.buf : "a provider key");
		cdt_buf_release(&vars);
	} else {
		code = cdt_err_retry(EX_UNAVAILABLE, "unavailable", 0,
				     "no provider can serve now (%s)",
				     story.buf);
	}
	cdt_buf_release(&story);
	return code;
}

/* ---- sending ---- */

static int
default_attempt(void *actx, const struct cdt_provider *p,
		const struct cdt_chat_req *req, cdt_delta_cb cb, void *ctx,
		struct cdt_chat_result *res)
{
	return cdt_provider_send(p, req, cb, ctx, res);
}

/*
 * This attempt's deadlines: a provider's own timeout bounds the whole
 * attempt; routing's first-byte and idle deadlines never exceed it.
 */
static void
attempt_deadlines(const struct cdt_provider *p,
		  const struct cdt_route_cfg *rc, struct cdt_chat_req *rq)
{
	long total = p->timeout_ms > 0 ? p->timeout_ms : rc->timeout_ms;
	rq->total_ms = total;
	rq->first_byte_ms = rc->first_byte_ms < total ? rc->first_byte_ms :
		total;
	rq->idle_ms = rc->idle_ms < total ? rc->idle_ms : total;
	rq->connect_ms = 0;
}

/*
 * After an attempt: one short write transaction updates the breaker from
 * the row as it is now (other processes may have moved it) and adds the
 * usage row.  A store failure is a warning: the reply is not lost for it.
 */
static void
settle(struct cdt_store *st, const struct cdt_route_cfg *rc, struct cand *c,
       enum how how, const char *owner, const struct cdt_chat_result *res,
       const char *cls, long dur_ms, double cost)
{
	struct brk b;
	int64_t now = wall_ms();
	int s = cdt_store_begin(st, CDT_TXN_WRITE);
	if (!s)
		s = brk_read(st, c->p->name, &b);
	if (!s) {
		bool mine = how == H_TRIAL && !strcmp(b.owner, owner);
		brk_apply(&b, cls, how, mine, res->retry_after_s, now, rc);
		s = cdt_store_exec(st, brk_upsert_sql,
				   brk_params(c->p->name, &b, now), NULL);
	}
	if (!s) {
		const char *model = res->model[0] ? res->model :
			c->model ? c->model : c->p->model;
		jv p = jv_array();
		p = jv_array_append(p, jv_string(c->p->name));
		p = jv_array_append(p, model ? jv_string(model) : jv_null());
		p = jv_array_append(p, jv_number((double)now));
		p = jv_array_append(p, jv_number(dur_ms));
		p = jv_array_append(p, num_or_null(res->tokens_in,
						   res->tokens_in >= 0));
		p = jv_array_append(p, num_or_null(res->tokens_out,
						   res->tokens_out >= 0));
		p = jv_array_append(p, num_or_null(cost, cost >= 0));
		p = jv_array_append(p, jv_number(cls ? 0 : 1));
		p = jv_array_append(p, cls ? jv_string(cls) : jv_null());
		s = cdt_store_exec(st, "INSERT INTO usage (provider, model, "
				   "ts, latency_ms, tokens_in, tokens_out, "
				   "cost_usd, ok, error_class) VALUES (?, ?, "
				   "?, ?, ?, ?, ?, ?, ?)", p, NULL);
	}
	if (!s)
		s = cdt_store_commit(st);
	if (s) {
		cdt_store_rollback(st);
		cdt_warn("could not record the attempt at '%s' in the store",
			 c->p->name);
		return;
	}
	c->b = b;
}

/* The class of a failed attempt, whatever the adapter filled in. */
static const char *
class_of(const struct cdt_chat_result *res, int status)
{
	if (res->err_class)
		return res->err_class;
	if (!status)
		return NULL;
	switch (status) {
	case EX_DATAERR:
		return "bad_request";
	case EX_NOPERM:
		return "auth";
	case EX_TEMPFAIL:
		return "stream_broken";
	case EX_CONFIG:
		return "config";
	default:
		return "server";
	}
}

static long
backoff_delay(const struct cdt_route_cfg *rc, int n)
{
	double d = (double)rc->backoff_ms;
	for (int i = 0; i < n && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	uint32_t r = 0;
	if (cdt_random_bytes(&r, sizeof(r)))
		r = (uint32_t)getpid() * 2654435761u;
	/* jitter x [0.75, 1] */
	return (long)(d * (0.75 + 0.25 * ((double)r / 4294967295.0)));
}

static jv
attempt_record(const struct cand *c, const struct cdt_chat_result *res,
	       const char *cls, long dur, enum how how)
{
	const char *model = res->model[0] ? res->model :
		c->model ? c->model : c->p->model;
	jv a = jv_object();
	a = jv_object_set(a, jv_string("provider"), jv_string(c->p->name));
	a = jv_object_set(a, jv_string("model"),
			  model ? jv_string(model) : jv_null());
	a = jv_object_set(a, jv_string("status"),
			  num_or_null(res->http_status, res->http_status > 0));
	a = jv_object_set(a, jv_string("class"),
			  cls ? jv_string(cls) : jv_null());
	a = jv_object_set(a, jv_string("duration_ms"), jv_number(dur));
	if (how == H_TRIAL)
		a = jv_object_set(a, jv_string("trial"), jv_true());
	if (res->retry_after_s >= 0)
		a = jv_object_set(a, jv_string("retry_after_s"),
				  jv_number(res->retry_after_s));
	return a;
}

/* What went wrong, for the story: "HTTP 500 (server)". */
static void
describe(struct cand *c, const struct cdt_chat_result *res, const char *cls)
{
	if (res->http_status > 0)
		snprintf(c->last, sizeof(c->last), "HTTP %ld (%s)",
			 res->http_status, cls);
	else
		snprintf(c->last, sizeof(c->last), "%s", cls);
	c->last_cls = cls;
	c->last_ra = res->retry_after_s;
}

static void
set_reason(struct cdt_route_result *out, const struct plan *pl,
	   const char *fell_back, enum how how)
{
	if (how == H_TRIAL)
		snprintf(out->reason, sizeof(out->reason), "trial%s%s",
			 fell_back ? ":fallback:" : "",
			 fell_back ? fell_back : "");
	else if (fell_back)
		snprintf(out->reason, sizeof(out->reason), "fallback:%s",
			 fell_back);
	else if (how == H_FORCED)
		snprintf(out->reason, sizeof(out->reason), "forced");
	else
		snprintf(out->reason, sizeof(out->reason), "%s", pl->strategy);
}

/* One routing of one request. */
struct run {
	struct cdt_store *st;
	const struct cdt_route_cfg *rc;
	const struct cdt_route_opts *o;
	struct plan pl;
	char owner[96];
	cdt_route_attempt_fn attempt;
	void *actx;
	double in_calls;	/* ms inside provider calls */
	double waited;		/* ms of backoff and Retry-After waits */
	double waited_ra;	/* the part spent on Retry-After (max_wait) */
	const char *fell_back;	/* the class that made us move on */
	long ctx_need;		/* after a context_window failure: more */
	int stop;		/* a verdict that ends the routing */
	const char *last_tried;
};

/*
 * Is the candidate still callable now, and how?  Takes the half-open
 * trial when it is due.  false: skip it (c->skip says why).
 */
static bool
admit(struct run *r, struct cand *c, bool fresh, enum how *how)
{
	bool force = r->o && r->o->force;
	*how = H_NORMAL;
	if (!fresh) {
		/* Time has passed since the plan: look again. */
		if (brk_read(r->st, c->p->name, &c->b))
			return false;
		c->av = brk_avail(&c->b, wall_ms(), &c->ready_at);
		if (!force && skip_reason(c->av)) {
			c->skip = skip_reason(c->av);
			return false;
		}
	}
	if (c->av == AV_TRIAL) {
		bool won = false;
		long to = c->p->timeout_ms > 0 ? c->p->timeout_ms :
			r->rc->timeout_ms;
		if (take_trial(r->st, c->p->name, r->owner,
			       to + LEASE_MARGIN_MS, &won))
			return false;
		if (won) {
			*how = H_TRIAL;
		} else if (force) {
			*how = H_FORCED;
		} else {
			brk_read(r->st, c->p->name, &c->b);
			c->av = brk_avail(&c->b, wall_ms(), &c->ready_at);
			c->skip = "breaker_half_open";
			return false;
		}
	} else if (c->av != AV_OK) {
		*how = H_FORCED;
	}
	return true;
}

/*
 * After a failed attempt at candidate i: how long to wait before trying
 * it again, or -1 to move on (r->stop set when nothing else may be
 * tried).
 */
static long
next_step(struct run *r, size_t i, const struct cdt_chat_result *res,
	  const char *cls, int status, enum how how, int n)
{
	const struct cdt_route_cfg *rc = r->rc;
	struct cand *c = &r->pl.v[i];

	if (!strcmp(cls, "cancelled")) {
		/* The reader stopped it: its status. */
		r->stop = status ? status : EX_SOFTWARE;
		return -1;
	}
	if (res->output_began) {
		/* Bytes went downstream: nothing can be spliced after. */
		r->stop = EX_TEMPFAIL;
		return -1;
	}
	if (!strcmp(cls, "bad_request")) {
		r->stop = EX_DATAERR;
		return -1;
	}
	if (!strcmp(cls, "context_window")) {
		r->ctx_need = c->window > 0 ? c->window : r->pl.est_tokens;
		if (!rc->fallback_on_error)
			r->stop = EX_DATAERR;
		return -1;
	}
	if (!strcmp(cls, "auth") || !strcmp(cls, "not_found") ||
	    !strcmp(cls, "quota")) {
		if (!rc->fallback_on_error)
			r->stop = !strcmp(cls, "auth") ? EX_NOPERM :
				!strcmp(cls, "quota") ? EX_UNAVAILABLE :
				EX_CONFIG;
		return -1;
	}
	if (!strcmp(cls, "timeout") || !strcmp(cls, "connect") ||
	    !strcmp(cls, "stream_broken")) {
		/* A cut before the first byte is a dead connection too:
		   the next provider, at once. */
		if (!rc->fallback_on_timeout)
			r->stop = EX_UNAVAILABLE;
		return -1;
	}
	if (!strcmp(cls, "rate_limited")) {
		if (how == H_TRIAL || plan_has_usable(&r->pl, i + 1))
			return -1;
		double ra = res->retry_after_s >= 0 ? res->retry_after_s :
			RATE_BLOCK_MS / 1000.0;
		long w = (long)ceil(ra * 1000);
		if (n >= rc->max_retries || r->waited_ra + w > rc->max_wait_ms)
			return -1;
		r->waited_ra += w;
		return w;
	}
	if (!strcmp(cls, "overloaded") || !strcmp(cls, "server")) {
		/* Retried while the breaker stays closed. */
		if (how != H_TRIAL && n < rc->max_retries &&
		    is_state(&c->b, "closed")) {
			long w = backoff_delay(rc, n);
			if (res->retry_after_s < 0)
				return w;
			long ra = (long)ceil(res->retry_after_s * 1000);
			if (ra <= w)
				return w;
			if (r->waited_ra + ra - w <= rc->max_wait_ms) {
				r->waited_ra += ra - w;
				return ra;
			}
		}
		if (!rc->fallback_on_error)
			r->stop = EX_UNAVAILABLE;
		return -1;
	}
	/* config, internal: nothing another provider fixes */
	r->stop = status ? status : EX_SOFTWARE;
	return -1;
}

/* Candidate i, with its retries; true when it served. */
static bool
try_cand(struct run *r, size_t i, const struct cdt_chat_req *req,
	 cdt_delta_cb cb, void *ctx, struct cdt_route_result *out)
{
	struct cand *c = &r->pl.v[i];
	struct cdt_chat_req rq = *req;
	enum how how;

	if (!admit(r, c, r->last_tried == NULL, &how))
		return false;
	attempt_deadlines(c->p, r->rc, &rq);
	rq.model = c->model;
	c->tried = true;
	r->last_tried = c->p->name;
	for (int n = 0;; n++) {
		struct cdt_chat_result *res = &out->chat;
		cdt_chat_result_release(res);
		cdt_chat_result_init(res);
		double a0 = mono_ms();
		/* The adapter reports nothing; the router does. */
		cdt_err_quiet(true);
		int s = r->attempt(r->actx, c->p, &rq, cb, ctx, res);
		cdt_err_quiet(false);
		double spent = mono_ms() - a0;
		long dur = (long)(spent + 0.5);
		r->in_calls += spent;
		c->nattempts++;
		const char *cls = class_of(res, s);
		double cost = cls ? -1 : cdt_route_cost(c->p, res->model[0] ?
							res->model : c->model,
							res->tokens_in,
							res->tokens_out);
		out->attempts = jv_array_append(out->attempts,
			attempt_record(c, res, cls, dur, how));
		settle(r->st, r->rc, c, how, r->owner, res, cls, dur, cost);
		if (!cls) {
			c->served = true;
			out->provider = c->p;
			out->cost_usd = cost;
			set_reason(out, &r->pl, r->fell_back, how);
			return true;
		}
		describe(c, res, cls);
		long w = next_step(r, i, res, cls, s, how, n);
		if (w < 0)
			break;
		sleep_ms(w);
		r->waited += w;
	}
	r->fell_back = c->last_cls;
	return false;
}

/* A DESIGN class for "no provider could serve": what stood in the way. */
static const char *
unavailable_class(const struct run *r, const struct cdt_route_result *out)
{
	static const char *const provider_classes[] = {
		"rate_limited", "quota", "overloaded", "server", "timeout",
		"connect", "stream_broken", "auth",
	};
	const char *k = out->chat.err_class;
	if (r->last_tried && k &&
	    in_list(provider_classes, CDT_ARRAY_SIZE(provider_classes), k))
		return k;
	for (size_t i = 0; i < r->pl.n; i++) {
		k = r->pl.v[i].b.last_error;
		if (r->pl.v[i].skip && *k &&
		    in_list(provider_classes, CDT_ARRAY_SIZE(provider_classes),
			    k))
			return k;
	}
	return "overloaded";
}

/* Nobody served: say why, once, naming what was tried. */
static int
verdict(struct run *r, const struct cdt_route_result *out)
{
	struct cdt_buf story = CDT_BUF_INIT;
	const struct plan *pl = &r->pl;
	int64_t now = wall_ms(), at = 0;
	int tried = 0, auth = 0, temp = 0, ctxw = 0, nf = 0, code;
	const char *cls = out->chat.err_class ? out->chat.err_class :
		"internal";

	for (size_t i = 0; i < pl->n; i++) {
		const char *k = pl->v[i].last_cls;
		if (!pl->v[i].tried || !k)
			continue;
		tried++;
		if (!strcmp(k, "auth"))
			auth++;
		else if (!strcmp(k, "context_window"))
			ctxw++;
		else if (!strcmp(k, "not_found"))
			nf++;
		else if (counts_as_failure(k) || !strcmp(k, "rate_limited") ||
			 !strcmp(k, "quota"))
			temp++;
	}
	if (!tried)
		return plan_refuse(pl, r->rc);
	plan_story(pl, now, &story);
	if (r->stop == EX_TEMPFAIL)
		code = cdt_err_class(EX_TEMPFAIL, "stream_broken", "the reply "
				     "broke after output began (%s)",
				     story.buf);
	else if (r->stop == EX_DATAERR)
		code = cdt_err_class(EX_DATAERR, cls, "%s rejected the "
				     "request: %s", r->last_tried,
				     out->chat.err_msg[0] ?
				     out->chat.err_msg : story.buf);
	else if (r->stop && r->stop != EX_UNAVAILABLE &&
		 r->stop != EX_NOPERM)
		code = cdt_err_class(r->stop, cls, "%s", story.buf);
	else if (auth == tried)
		code = cdt_err_class(EX_NOPERM, "auth", "every provider tried "
				     "rejected its key (%s)", story.buf);
	else if (!temp && ctxw && !nf)
		code = cdt_err_class(EX_DATAERR, "context_window", "the "
				     "request is too long for every provider "
				     "left (%s)", story.buf);
	else if (!temp && nf)
		code = cdt_err_class(EX_CONFIG, "not_found", "no provider has "
				     "the model (%s)", story.buf);
	else {
		if (!plan_ready_at(pl, now, r->rc->backoff_ms, &at))
			at = now;
		code = cdt_err_retry(EX_UNAVAILABLE, unavailable_class(r, out),
				     secs_until(at, now), "no provider could "
				     "serve (%s); retry in %.0f s", story.buf,
				     secs_until(at, now));
	}
	cdt_buf_release(&story);
	return code;
}

int
cdt_route_send(struct cdt_store *st, struct cdt_providers *ps,
	       const struct cdt_route_cfg *rc, const struct cdt_route_opts *o,
	       const struct cdt_chat_req *req, cdt_delta_cb cb, void *ctx,
	       struct cdt_route_result *out)
{
	struct run r = {
		.st = st, .rc = rc, .o = o, .ctx_need = -1,
		.attempt = o && o->attempt ? o->attempt : default_attempt,
		.actx = o ? o->attempt_ctx : NULL,
	};
	double t0 = mono_ms();
	bool served = false;

	int code = plan_build(st, ps, rc, o, req, wall_ms(), &r.pl);
	if (code)
		goto out;
	if (!plan_has_usable(&r.pl, 0)) {
		code = plan_refuse(&r.pl, rc);
		goto out;
	}
	owner_id(r.owner);
	for (size_t i = 0; i < r.pl.n && !served && !r.stop; i++) {
		struct cand *c = &r.pl.v[i];
		if (c->skip)
			continue;
		if (r.ctx_need >= 0 && !(c->window > r.ctx_need)) {
			c->skip = "context_window";
			continue;
		}
		served = try_cand(&r, i, req, cb, ctx, out);
	}
	if (!served)
		code = verdict(&r, out);
out:
	{
		double over = mono_ms() - t0 - r.in_calls - r.waited;
		out->router_overhead_ms = over > 0 ? (long)(over + 0.5) : 0;
		out->wait_ms = (long)r.waited;
	}
	plan_release(&r.pl);
	return code;
}

/* ---- status, check, pick, probe, reset ---- */

static const char *
health_of(const struct cdt_provider *p, const struct brk *b, int64_t now,
	  char *reason, size_t rlen)
{
	if (!cdt_provider_configured(p)) {
		snprintf(reason, rlen, "no key: set %s", p->key_vars ?
			 p->key_vars : "its key");
		return "unconfigured";
	}
	bool blocked = b->blocked_until > now;
	if (is_state(b, "open")) {
		if (b->open_until > now)
			snprintf(reason, rlen, "breaker open (%s) for %.0f s",
				 b->last_error[0] ? b->last_error : "failures",
				 secs_until(b->open_until, now));
		else
			snprintf(reason, rlen, "breaker open (%s), due for a "
				 "trial", b->last_error[0] ? b->last_error :
				 "failures");
		return "unhealthy";
	}
	if (blocked && !strcmp(b->last_error, "quota")) {
		snprintf(reason, rlen, "quota spent; blocked for %.0f s",
			 secs_until(b->blocked_until, now));
		return "unhealthy";
	}
	if (is_state(b, "half_open")) {
		snprintf(reason, rlen, "half-open: trial %s",
			 b->lease_until > now ? "in progress" : "lapsed");
		return "degraded";
	}
	if (blocked) {
		snprintf(reason, rlen, "%s; blocked for %.0f s",
			 b->last_error[0] ? b->last_error : "rate_limited",
			 secs_until(b->blocked_until, now));
		return "degraded";
	}
	if (b->failures > 0) {
		snprintf(reason, rlen, "%lld consecutive failure%s (%s)",
			 (long long)b->failures, b->failures > 1 ? "s" : "",
			 b->last_error[0] ? b->last_error : "error");
		return "degraded";
	}
	snprintf(reason, rlen, "ok");
	return "healthy";
}

/* The providers status reports: the priority list, then task lists. */
static void
status_list(struct cdt_providers *ps, const struct cdt_route_cfg *rc,
	    struct plan *pl)
{
	memset(pl, 0, sizeof(*pl));
	jv names = jv_copy(rc->priority);
	jv_object_foreach(rc->tasks, k, v) {
		if (jv_get_kind(v) == JV_KIND_ARRAY) {
			jv_array_foreach(v, i, n)
				names = jv_array_append(names, n);
		}
		jv_free(k);
		jv_free(v);
	}
	jv_array_foreach(names, i, n) {
		struct cdt_provider *p = jv_get_kind(n) == JV_KIND_STRING ?
			cdt_providers_find(ps, jv_string_value(n)) : NULL;
		if (p)
			add_cand(pl, p);
		jv_free(n);
	}
	jv_free(names);
}

static jv
route_record(struct cdt_store *st, const struct cdt_provider *p,
	     const struct brk *b, jv figures, int64_t now, int *rcode)
{
	char reason[160];
	int64_t ready;
	const char *health = health_of(p, b, now, reason, sizeof(reason));
	enum avail av = brk_avail(b, now, &ready);
	bool configured = cdt_provider_configured(p);
	jv r = cdt_record_new("route");
	r = jv_object_set(r, jv_string("provider"), jv_string(p->name));
	r = jv_object_set(r, jv_string("model"),
			  p->model ? jv_string(p->model) : jv_null());
	r = jv_object_set(r, jv_string("state"), jv_string(b->state));
	r = jv_object_set(r, jv_string("failures"),
			  jv_number((double)b->failures));
	r = jv_object_set(r, jv_string("opened_at"),
			  time_or_null(b->opened_at));
	r = jv_object_set(r, jv_string("open_until"),
			  time_or_null(is_state(b, "closed") ? 0 :
				       b->open_until));
	r = jv_object_set(r, jv_string("blocked_until"),
			  time_or_null(b->blocked_until > now ?
				       b->blocked_until : 0));
	r = jv_object_set(r, jv_string("health"), jv_string(health));
	r = jv_object_set(r, jv_string("reason"), jv_string(reason));
	r = jv_object_set(r, jv_string("last_error"),
			  b->last_error[0] ? jv_string(b->last_error) :
			  jv_null());
	bool avail = configured && (av == AV_OK || av == AV_TRIAL);
	r = jv_object_set(r, jv_string("available"), jv_bool(avail));
	if (configured && !avail)
		r = jv_object_set(r, jv_string("retry_after_s"),
				  jv_number(secs_until(ready, now)));

	jv f = jv_object_get(jv_copy(figures), jv_string(p->name));
	bool have = jv_get_kind(f) == JV_KIND_OBJECT;
	r = jv_object_set(r, jv_string("requests"),
			  jv_number(have ? (double)row_int(f, "requests") : 0));
	r = jv_object_set(r, jv_string("errors"),
			  jv_number(have ? (double)row_int(f, "errors") : 0));
	double lat[STATUS_SAMPLES];
	int n = 0;
	if (!*rcode)
		*rcode = recent_latency(st, p->name, STATUS_SAMPLES, false,
					lat, &n);
	jv l = jv_object();
	l = jv_object_set(l, jv_string("p50"),
			  num_or_null(percentile(lat, n, 0.5), n > 0));
	l = jv_object_set(l, jv_string("p95"),
			  num_or_null(percentile(lat, n, 0.95), n > 0));
	r = jv_object_set(r, jv_string("latency_ms"), l);
	jv t = jv_object();
	t = jv_object_set(t, jv_string("input"),
			  jv_number(have ? (double)row_int(f, "tin") : 0));
	t = jv_object_set(t, jv_string("output"),
			  jv_number(have ? (double)row_int(f, "tout") : 0));
	r = jv_object_set(r, jv_string("tokens"), t);
	jv cost = have ? jv_object_get(jv_copy(f), jv_string("cost")) :
		jv_null();
	if (jv_get_kind(cost) != JV_KIND_NUMBER) {
		jv_free(cost);
		cost = jv_null();
	}
	r = jv_object_set(r, jv_string("cost_usd"), cost);
	jv_free(f);
	return r;
}

static int
usage_figures(struct cdt_store *st, jv *out)
{
	jv rows = jv_invalid();
	*out = jv_object();
	int rc = cdt_store_exec(st,
		"SELECT provider, count(*) AS requests, "
		"sum(CASE WHEN ok = 1 THEN 0 ELSE 1 END) AS errors, "
		"sum(tokens_in) AS tin, sum(tokens_out) AS tout, "
		"sum(cost_usd) AS cost FROM usage GROUP BY provider",
		jv_array(), &rows);
	if (rc)
		return rc;
	jv_array_foreach(rows, i, row) {
		const char *p = cdt_record_str(row, "provider");
		if (p)
			*out = jv_object_set(*out, jv_string(p), jv_copy(row));
		jv_free(row);
	}
	jv_free(rows);
	return 0;
}

static int
status_of(struct cdt_store *st, struct plan *pl, jv *records)
{
	jv all = jv_invalid(), figures = jv_invalid();
	int64_t now = wall_ms();
	int rc = brk_read_all(st, &all);
	if (!rc)
		rc = usage_figures(st, &figures);
	*records = jv_array();
	for (size_t i = 0; !rc && i < pl->n; i++) {
		struct brk b;
		brk_lookup(all, pl->v[i].p->name, &b);
		jv r = route_record(st, pl->v[i].p, &b, figures, now, &rc);
		*records = jv_array_append(*records, r);
	}
	jv_free(all);
	jv_free(figures);
	if (rc) {
		jv_free(*records);
		*records = jv_array();
	}
	return rc;
}

int
cdt_route_status(struct cdt_store *st, struct cdt_providers *ps,
		 const struct cdt_route_cfg *rc, const struct cdt_route_opts *o,
		 jv *records)
{
	struct plan pl;
	int code = 0;
	*records = jv_array();
	if (o && o->providers && *o->providers) {
		memset(&pl, 0, sizeof(pl));
		code = add_names(&pl, ps, split_commas(o->providers),
				 "--provider");
	} else {
		status_list(ps, rc, &pl);
	}
	if (!code) {
		jv_free(*records);
		code = status_of(st, &pl, records);
	}
	plan_release(&pl);
	return code;
}

int
cdt_route_check(jv records)
{
	int configured = 0, avail = 0, unhealthy = 0;
	double soonest = -1;
	jv_array_foreach(records, i, r) {
		const char *h = cdt_record_str(r, "health");
		if (h && strcmp(h, "unconfigured")) {
			configured++;
			jv a = jv_object_get(jv_copy(r),
					     jv_string("available"));
			if (jv_get_kind(a) == JV_KIND_TRUE)
				avail++;
			jv_free(a);
			jv ra = jv_object_get(jv_copy(r),
					      jv_string("retry_after_s"));
			if (jv_get_kind(ra) == JV_KIND_NUMBER &&
			    (soonest < 0 || jv_number_value(ra) < soonest))
				soonest = jv_number_value(ra);
			jv_free(ra);
			if (strcmp(h, "healthy"))
				unhealthy++;
		}
		jv_free(r);
	}
	if (!configured)
		return cdt_err_class(EX_UNAVAILABLE, "unavailable",
				     "no provider is configured");
	if (!avail)
		return cdt_err_retry(EX_UNAVAILABLE, "unavailable", soonest,
				     "no provider can serve now; retry in "
				     "%.0f s", soonest);
	return unhealthy ? 1 : 0;
}

int
cdt_route_pick(struct cdt_store *st, struct cdt_providers *ps,
	       const struct cdt_route_cfg *rc, const struct cdt_route_opts *o,
	       const struct cdt_chat_req *req, jv *record)
{
	struct plan pl;
	int64_t now = wall_ms();
	*record = jv_invalid();
	int code = plan_build(st, ps, rc, o, req, now, &pl);
	if (code) {
		plan_release(&pl);
		return code;
	}
	const struct cand *best = NULL;
	jv ranked = jv_array(), skipped = jv_array();
	for (size_t i = 0; i < pl.n; i++) {
		const struct cand *c = &pl.v[i];
		const char *model = c->model ? c->model : c->p->model;
		jv e = jv_object();
		e = jv_object_set(e, jv_string("provider"),
				  jv_string(c->p->name));
		e = jv_object_set(e, jv_string("model"),
				  model ? jv_string(model) : jv_null());
		if (c->skip) {
			e = jv_object_set(e, jv_string("reason"),
					  jv_string(c->skip));
			if (c->ready_at > now && strcmp(c->skip,
						       "context_window"))
				e = jv_object_set(e,
						  jv_string("retry_after_s"),
						  jv_number(secs_until(
							c->ready_at, now)));
			if (!strcmp(c->skip, "context_window"))
				e = jv_object_set(e,
					jv_string("max_input_tokens"),
					jv_number(c->window));
			skipped = jv_array_append(skipped, e);
			continue;
		}
		if (!best)
			best = c;
		e = jv_object_set(e, jv_string("state"), jv_string(c->b.state));
		e = jv_object_set(e, jv_string("cost_usd_estimate"),
				  num_or_null(c->est_cost, c->est_cost >= 0));
		if (!strcmp(pl.strategy, "latency"))
			e = jv_object_set(e, jv_string("latency_ms_p50"),
					  num_or_null(c->p50, c->p50 >= 0));
		if (c->av == AV_TRIAL)
			e = jv_object_set(e, jv_string("trial"), jv_true());
		ranked = jv_array_append(ranked, e);
	}
	jv r = cdt_record_new("route");
	if (best) {
		char why[160];
		const char *model = best->model ? best->model :
			best->p->model;
		if (best->av == AV_TRIAL)
			snprintf(why, sizeof(why), "half-open trial (%s)",
				 pl.source);
		else if (!strcmp(pl.strategy, "cost"))
			snprintf(why, sizeof(why), best->est_cost >= 0 ?
				 "cost: cheapest estimate" :
				 "cost: no price known, list order");
		else if (!strcmp(pl.strategy, "latency"))
			snprintf(why, sizeof(why), best->p50 >= 0 ?
				 "latency: lowest recent p50" :
				 "latency: no figures yet, list order");
		else
			snprintf(why, sizeof(why), "priority: first usable in "
				 "%s", pl.source);
		r = jv_object_set(r, jv_string("provider"),
				  jv_string(best->p->name));
		r = jv_object_set(r, jv_string("model"),
				  model ? jv_string(model) : jv_null());
		r = jv_object_set(r, jv_string("state"),
				  jv_string(best->b.state));
		r = jv_object_set(r, jv_string("reason"), jv_string(why));
	} else {
		r = jv_object_set(r, jv_string("provider"), jv_null());
		r = jv_object_set(r, jv_string("reason"),
				  jv_string("no provider can serve now"));
	}
	r = jv_object_set(r, jv_string("strategy"), jv_string(pl.strategy));
	r = jv_object_set(r, jv_string("list"), jv_string(pl.source));
	if (o && o->task)
		r = jv_object_set(r, jv_string("task"), jv_string(o->task));
	r = jv_object_set(r, jv_string("estimate"),
		jv_object_set(jv_object_set(jv_object(),
			jv_string("input_tokens"), jv_number(pl.est_tokens)),
			jv_string("output_tokens"), jv_number(pl.est_out)));
	r = jv_object_set(r, jv_string("candidates"), ranked);
	r = jv_object_set(r, jv_string("skipped"), skipped);
	*record = r;
	if (!best)
		code = plan_refuse(&pl, rc);
	plan_release(&pl);
	return code;
}

int
cdt_route_probe(struct cdt_store *st, struct cdt_providers *ps,
		const struct cdt_route_cfg *rc, const struct cdt_route_opts *o,
		const char *only, jv *records)
{
	struct plan pl;
	char owner[96];
	int code = 0;
	jv probes = jv_object();
	cdt_route_attempt_fn attempt = o && o->attempt ? o->attempt :
		default_attempt;
	jv msgs = jv_array_append(jv_array(), jv_object_set(jv_object_set(
		jv_object(), jv_string("role"), jv_string("user")),
		jv_string("content"), jv_string("ping")));
	struct cdt_chat_req req = { .messages = msgs, .max_tokens = 1,
				    .temperature = -1 };

	*records = jv_array();
	if (only) {
		struct cdt_provider *p = cdt_providers_find(ps, only);
		memset(&pl, 0, sizeof(pl));
		if (!p) {
			jv_free(msgs);
			jv_free(probes);
			return cdt_err_class(EX_CONFIG, "config",
					     "no provider '%s'", only);
		}
		add_cand(&pl, p);
	} else if (o && o->providers && *o->providers) {
		memset(&pl, 0, sizeof(pl));
		code = add_names(&pl, ps, split_commas(o->providers),
				 "--provider");
	} else {
		status_list(ps, rc, &pl);
	}
	owner_id(owner);
	for (size_t i = 0; !code && i < pl.n; i++) {
		struct cand *c = &pl.v[i];
		enum how how = H_NORMAL;
		jv pr = jv_object();
		if (!cdt_provider_configured(c->p))
			goto skip_unconf;
		if ((code = brk_read(st, c->p->name, &c->b)))
			break;
		c->av = brk_avail(&c->b, wall_ms(), &c->ready_at);
		if (c->av == AV_TRIAL) {
			bool won = false;
			long to = c->p->timeout_ms > 0 ? c->p->timeout_ms :
				rc->timeout_ms;
			if ((code = take_trial(st, c->p->name, owner,
					       to + LEASE_MARGIN_MS, &won)))
				break;
			if (!won)
				c->av = AV_BUSY;
			how = H_TRIAL;
		}
		if (skip_reason(c->av)) {
			pr = jv_object_set(pr, jv_string("skipped"),
					   jv_string(skip_reason(c->av)));
			goto done;
		}
		struct cdt_chat_result res;
		struct cdt_chat_req rq = req;
		attempt_deadlines(c->p, rc, &rq);
		cdt_chat_result_init(&res);
		double a0 = mono_ms();
		cdt_err_quiet(true);
		int s = attempt(o ? o->attempt_ctx : NULL, c->p, &rq, NULL,
				NULL, &res);
		cdt_err_quiet(false);
		long dur = (long)(mono_ms() - a0 + 0.5);
		const char *cls = class_of(&res, s);
		settle(st, rc, c, how, owner, &res, cls, dur,
		       cls ? -1 : cdt_route_cost(c->p, res.model[0] ?
						 res.model : NULL,
						 res.tokens_in,
						 res.tokens_out));
		pr = jv_object_set(pr, jv_string("status"),
				   num_or_null(res.http_status,
					       res.http_status > 0));
		pr = jv_object_set(pr, jv_string("class"),
				   cls ? jv_string(cls) : jv_null());
		pr = jv_object_set(pr, jv_string("duration_ms"),
				   jv_number(dur));
		if (how == H_TRIAL)
			pr = jv_object_set(pr, jv_string("trial"), jv_true());
		cdt_chat_result_release(&res);
		goto done;
skip_unconf:
		pr = jv_object_set(pr, jv_string("skipped"),
				   jv_string("unconfigured"));
done:
		probes = jv_object_set(probes, jv_string(c->p->name), pr);
	}
	if (!code) {
		jv_free(*records);
		code = status_of(st, &pl, records);
	}
	if (!code) {
		jv out = jv_array();
		jv_array_foreach(*records, i, r) {
			const char *n = cdt_record_str(r, "provider");
			jv pr = jv_object_get(jv_copy(probes), jv_string(n));
			r = jv_object_set(r, jv_string("probe"), pr);
			out = jv_array_append(out, r);
		}
		jv_free(*records);
		*records = out;
	}
	jv_free(probes);
	jv_free(msgs);
	plan_release(&pl);
	return code;
}

int
cdt_route_reset(struct cdt_store *st, const char *provider)
{
	if (provider)
		return cdt_store_exec(st, "DELETE FROM breakers WHERE "
				      "provider = ?",
				      jv_array_append(jv_array(),
						      jv_string(provider)),
				      NULL);
	return cdt_store_exec(st, "DELETE FROM breakers", jv_array(), NULL);
}
