/*
 * provider.h - LLM providers: configuration, keys, and one adapter per
 * wire format (anthropic, openai, gemini, ollama; replay serves cassettes).
 *
 * cdt_providers_load() builds the provider list: the built-in ones of
 * DESIGN/issue 3 (claude, codex alias openai, gemini, kimi, ollama,
 * lmstudio), then config's `providers:` entries, which add or override.
 * Keys: the provider's environment variable wins, then api_key_cmd, then
 * $CDT_HOME/credentials.json; a provider that needs a key and has none is
 * `unconfigured` (never an error until someone names it).  Keys live only
 * in struct cdt_provider (wiped on free) and the request headers; never in
 * argv, logs, records or messages.
 *
 * cdt_provider_send() makes one attempt at one provider: it builds the
 * wire request from a struct cdt_chat_req, streams the reply through the
 * SSE/NDJSON parser, calls the delta callback for each piece of text as
 * it arrives, and fills a struct cdt_chat_result.  It never retries or
 * falls back (route.h does); it classifies every failure (DESIGN §6
 * provider classes) and reports nothing on stderr itself: the router
 * decides what the user sees.
 */
#ifndef CDT_PROVIDER_H
#define CDT_PROVIDER_H

#include "compat.h"
#include <jv.h>
#include "buf.h"

struct cdt_cfg;

enum cdt_wire {
	CDT_WIRE_ANTHROPIC = 0,
	CDT_WIRE_OPENAI,	/* also kimi, lmstudio, any compatible server */
	CDT_WIRE_GEMINI,
	CDT_WIRE_OLLAMA,
	CDT_WIRE_REPLAY,	/* answers from a cassette file */
};

struct cdt_provider {
	char *name;		/* "claude" */
	enum cdt_wire wire;
	char *base_url;		/* no trailing slash */
	char *model;		/* default model */
	jv models;		/* array of known model names (strings) */
	char *api_key;		/* NULL when none; wiped on free */
	bool needs_key;		/* local servers (ollama, lmstudio) do not */
	const char *key_source;	/* "env:NAME", "api_key_cmd",
				   "credentials.json" or NULL */
	char *key_vars;		/* the variables that would do, for messages:
				   "ANTHROPIC_API_KEY" or "GEMINI_API_KEY or
				   GOOGLE_API_KEY" */
	double price_in;	/* USD per million tokens; < 0 when unknown */
	double price_out;
	long max_input_tokens;	/* 0 when unknown */
	long max_tokens;	/* default max_tokens for a reply */
	long timeout_ms;	/* per attempt, 0 = the router's */
	char *replay_file;	/* CDT_WIRE_REPLAY: the cassette */
};

struct cdt_providers {
	struct cdt_provider *v;
	size_t n;
};

/* Built-ins, then config (cfg may be NULL); keys resolved.  78 on bad
   config (e.g. api_key_cmd failing is a warning + unconfigured, not 78). */
int cdt_providers_load(const struct cdt_cfg *cfg, struct cdt_providers *out);
void cdt_providers_release(struct cdt_providers *ps);
/* By name or alias ("openai" finds codex); NULL if none. */
struct cdt_provider *cdt_providers_find(struct cdt_providers *ps,
					const char *name);
/* Does the provider have what it needs (a key, when it needs one)? */
bool cdt_provider_configured(const struct cdt_provider *p);

/* One chat request, wire-neutral. */
struct cdt_chat_req {
	jv messages;		/* array of {role, content}; roles user,
				   assistant (system goes in `system`);
				   not consumed */
	const char *system;	/* NULL for none */
	const char *model;	/* NULL: the provider's default */
	long max_tokens;	/* 0: the provider's default */
	double temperature;	/* < 0: unset */
	bool stream;		/* always streamed on the wire when the API
				   can; this only says whether deltas matter */
};

struct cdt_chat_result {
	struct cdt_buf text;	/* the reply, or the part received */
	char model[128];	/* the model that answered */
	char stop_reason[32];	/* end_turn/stop, max_tokens/length, ...
				   normalised: "end_turn", "max_tokens",
				   "stop_sequence", "content_filter",
				   "tool_use", or the provider's word */
	long tokens_in;		/* -1 when unknown */
	long tokens_out;
	long ttfb_ms;
	long latency_ms;
	long http_status;	/* 0 when no response */
	int status;		/* 0, or the exit code this failure maps to */
	const char *err_class;	/* NULL on success, else a DESIGN §6 class:
				   bad_request, context_window, auth,
				   not_found, rate_limited, quota,
				   overloaded, server, timeout, connect,
				   stream_broken, config */
	char err_msg[256];	/* the provider's words, secrets removed */
	double retry_after_s;	/* -1 unknown; Retry-After, retry-after-ms
				   or Gemini's retryDelay */
	bool output_began;	/* a delta went to the callback */
	bool partial;		/* text is incomplete */
	bool replayed;		/* came from a cassette */
};

void cdt_chat_result_init(struct cdt_chat_result *r);
void cdt_chat_result_release(struct cdt_chat_result *r);

/* Text as it arrives; a nonzero return aborts the attempt (status kept). */
typedef int (*cdt_delta_cb)(void *ctx, const char *text, size_t len);

/*
 * One attempt.  Returns res->status: 0 on a complete reply; 65
 * bad_request/context_window, 77 auth, 78 not_found (model) or config,
 * 69 rate_limited/quota/overloaded/server/timeout/connect before output,
 * 75 after output began (stream_broken, or any failure mid-stream).
 */
int cdt_provider_send(const struct cdt_provider *p,
		      const struct cdt_chat_req *req, cdt_delta_cb cb,
		      void *ctx, struct cdt_chat_result *res);

/*
 * The canonical request body for cassettes: the JSON the adapter would
 * send, keys sorted, compact, with stream fields removed; its SHA-256 hex
 * is the cassette key.
 */
int cdt_provider_request_key(const struct cdt_provider *p,
			     const struct cdt_chat_req *req,
			     char key[65]);

/* Dated table of known models: name, provider, context window, prices. */
struct cdt_model_info {
	const char *provider;
	const char *name;
	long context_window;
	double price_in;	/* USD per million tokens; < 0 unknown */
	double price_out;
};
extern const char cdt_models_date[];	/* "2026-11-01" */
const struct cdt_model_info *cdt_models_table(size_t *n);
const struct cdt_model_info *cdt_model_lookup(const char *provider,
					      const char *model);

#include "banned.h"
#endif
