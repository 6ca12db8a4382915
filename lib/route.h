/*
 * route.h - which provider serves a request: priority lists, fallback,
 * retries, and circuit breakers shared by every process through the store.
 *
 * The contract is issue 4's "Semantics" list and
 * shared/reference/router-anchors.md §2: the error class of each attempt
 * decides retry (same provider, backoff 0.5 s * 2^n capped at 8 s with
 * jitter, Retry-After honoured within max_wait), fall back (next
 * provider), or fail; each provider is tried at most once per pass;
 * streaming falls back only before the first byte.  Breakers live in the
 * store's `breakers` table with absolute times (epoch ms): consecutive
 * failures reach the threshold -> open until open_until; after it exactly
 * one process wins the half-open trial (compare-and-swap in one BEGIN
 * IMMEDIATE transaction, with a lease so a killed process cannot wedge
 * it).  rate_limited and quota block a provider (blocked_until) instead
 * of counting.  Usage (latency, tokens, cost) goes to the `usage` table.
 *
 * Candidates: --provider's list, else the task's rule (routing.tasks),
 * else routing.priority (default: claude, gemini, kimi, codex, then the
 * providers defined under `providers:` in the config; the built-in local
 * servers ollama and lmstudio join only when a list names them).  A
 * provider without a key is skipped as unconfigured (78 naming its
 * variables when the user named it, or when none is usable).  `-m MODEL`
 * keeps the providers known to serve MODEL (their default, their models
 * list, or the shipped table) when any is; `PROVIDER:MODEL` pins one.
 * The request size is estimated as its bytes / 4 (tokens), so a provider
 * whose known window is smaller is skipped without a call.
 *
 * Store traffic per request: one read of `breakers` to plan; a half-open
 * trial is taken by one conditional UPDATE (its own BEGIN IMMEDIATE);
 * after each attempt one short write transaction updates the breaker and
 * adds the `usage` row.  No transaction is open during a network call.
 */
#ifndef CDT_ROUTE_H
#define CDT_ROUTE_H

#include "compat.h"
#include <jv.h>
#include "provider.h"

struct cdt_cfg;
struct cdt_store;

struct cdt_route_cfg {
	jv priority;		/* array of provider names */
	char strategy[16];	/* priority | cost | latency */
	bool fallback_on_error;
	bool fallback_on_timeout;
	long timeout_ms;	/* per attempt (total) */
	long first_byte_ms;
	long idle_ms;
	int max_retries;
	long max_wait_ms;
	int threshold;
	long reset_ms;
	long max_reset_ms;
	jv tasks;		/* object: task -> array of names */
	long backoff_ms;	/* first retry delay (0.5 s); doubles */
};

/* The routing section with the defaults; 78 on bad values. */
int cdt_route_cfg_load(const struct cdt_cfg *cfg, struct cdt_route_cfg *rc);
void cdt_route_cfg_release(struct cdt_route_cfg *rc);
/* The effective config as a record {"type":"route_config", ...}. */
jv cdt_route_cfg_record(const struct cdt_route_cfg *rc);

/* One attempt at one provider: cdt_provider_send's shape. */
typedef int (*cdt_route_attempt_fn)(void *actx,
				    const struct cdt_provider *p,
				    const struct cdt_chat_req *req,
				    cdt_delta_cb cb, void *ctx,
				    struct cdt_chat_result *res);

struct cdt_route_opts {
	const char *providers;	/* --provider P[,P...]: only these, in order */
	const char *task;	/* --task, or the request's task */
	const char *strategy;	/* --strategy overrides the config */
	bool force;		/* try open and blocked providers too */
	/* NULL: cdt_provider_send.  Unit tests script attempts here. */
	cdt_route_attempt_fn attempt;
	void *attempt_ctx;
};

struct cdt_route_result {
	struct cdt_chat_result chat;	/* the serving (or last) attempt */
	const struct cdt_provider *provider;	/* who served, or NULL */
	jv attempts;		/* [{provider, model, status, class,
				   duration_ms}] */
	long router_overhead_ms;	/* total minus time in provider calls
					   and deliberate waits */
	long wait_ms;		/* backoff and Retry-After waits */
	double cost_usd;	/* < 0 when the price is unknown */
	char reason[64];	/* why this provider: "priority",
				   "fallback:server", "cost", "trial"... */
};

void cdt_route_result_init(struct cdt_route_result *r);
void cdt_route_result_release(struct cdt_route_result *r);
/*
 * The metadata of a reply's message record, the same from cdt-chat and
 * cdt-route send: tokens, ttfb_ms, latency_ms, cost_usd, cost_known,
 * attempts, router_overhead_ms, wait_ms, route {reason, strategy}.
 */
jv cdt_route_reply_metadata(const struct cdt_route_result *res,
			    const char *strategy);

/*
 * Route one request.  Returns 0 when a provider served; otherwise the
 * exit code (65, 69 with retry_after_s, 75, 77, 78), reported once with
 * cdt_err_retry() naming what was tried.
 */
int cdt_route_send(struct cdt_store *st, struct cdt_providers *ps,
		   const struct cdt_route_cfg *rc,
		   const struct cdt_route_opts *o,
		   const struct cdt_chat_req *req, cdt_delta_cb cb, void *ctx,
		   struct cdt_route_result *out);

/*
 * One `route` record per provider (DESIGN §2) named by the priority list
 * or a task rule, in that order (o->providers, when set: those, in its
 * order; o may be NULL).  Each also carries `available` (could serve
 * now) and, when not, `retry_after_s`.
 */
int cdt_route_status(struct cdt_store *st, struct cdt_providers *ps,
		     const struct cdt_route_cfg *rc,
		     const struct cdt_route_opts *o, jv *records);
/*
 * `status --check` over route records (not consumed): 0 when every
 * configured provider is healthy, 1 when any is not, 69 when none is
 * available (reported, with the soonest retry_after_s).
 */
int cdt_route_check(jv records);
/*
 * A tiny real request (max_tokens 1) to each configured provider of
 * `only` (NULL: those of cdt_route_status), never to one that is open
 * before its reopen time, blocked, or in another process's trial; a due
 * open breaker is probed as its half-open trial.  *records: the route
 * records afterwards, each with `probe` {status, class, duration_ms} or
 * {skipped: reason}.
 */
int cdt_route_probe(struct cdt_store *st, struct cdt_providers *ps,
		    const struct cdt_route_cfg *rc,
		    const struct cdt_route_opts *o, const char *only,
		    jv *records);
/*
 * Which provider would serve now and why, without a network call: a
 * `route` record with the ranked candidates and the skipped ones with
 * their reasons.  req (may be NULL) sizes the request.  69 (reported,
 * *record still set) when none can serve now.
 */
int cdt_route_pick(struct cdt_store *st, struct cdt_providers *ps,
		   const struct cdt_route_cfg *rc,
		   const struct cdt_route_opts *o,
		   const struct cdt_chat_req *req, jv *record);
/* Cost in USD of tokens at p's price for model (NULL: its default); < 0
   when the price or a count is unknown. */
double cdt_route_cost(const struct cdt_provider *p, const char *model,
		      long tokens_in, long tokens_out);
/* Close the breaker and clear blocks of one provider (NULL: all). */
int cdt_route_reset(struct cdt_store *st, const char *provider);

#include "banned.h"
#endif
