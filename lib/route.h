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
};

/* The routing section with the defaults; 78 on bad values. */
int cdt_route_cfg_load(const struct cdt_cfg *cfg, struct cdt_route_cfg *rc);
void cdt_route_cfg_release(struct cdt_route_cfg *rc);
/* The effective config as a record {"type":"route_config", ...}. */
jv cdt_route_cfg_record(const struct cdt_route_cfg *rc);

struct cdt_route_opts {
	const char *providers;	/* --provider P[,P...]: only these, in order */
	const char *task;	/* --task, or the request's task */
	const char *strategy;	/* --strategy overrides the config */
	bool force;		/* try open providers too */
};

struct cdt_route_result {
	struct cdt_chat_result chat;	/* the serving (or last) attempt */
	const struct cdt_provider *provider;	/* who served, or NULL */
	jv attempts;		/* [{provider, model, status, class,
				   duration_ms}] */
	long router_overhead_ms;	/* total minus time in provider calls */
	double cost_usd;	/* < 0 when the price is unknown */
};

void cdt_route_result_init(struct cdt_route_result *r);
void cdt_route_result_release(struct cdt_route_result *r);

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

/* One `route` record per provider (DESIGN §2), in priority order. */
int cdt_route_status(struct cdt_store *st, struct cdt_providers *ps,
		     const struct cdt_route_cfg *rc, jv *records);
/* Which provider would serve now and why, without a network call. */
int cdt_route_pick(struct cdt_store *st, struct cdt_providers *ps,
		   const struct cdt_route_cfg *rc,
		   const struct cdt_route_opts *o, jv *record);
/* Close the breaker and clear blocks of one provider (NULL: all). */
int cdt_route_reset(struct cdt_store *st, const char *provider);

#include "banned.h"
#endif
