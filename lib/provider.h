/*
 * provider.h - LLM providers: configuration, keys, and one adapter per
 * wire format (anthropic, openai, gemini, ollama; replay serves cassettes).
 *
 * cdt_providers_load() builds the provider list: the built-in ones of
 * DESIGN/issue 3 (claude, codex alias openai, gemini, kimi, ollama,
 * lmstudio), then config's `providers:` entries, which add or override.
 * Base URLs: the provider's environment variable (ANTHROPIC_BASE_URL,
 * OLLAMA_HOST, ...) wins over config; a bare OLLAMA_HOST gets http://
 * and port 11434.  Keys: the environment variable wins, then api_key_cmd
 * (/bin/sh -c, stdin /dev/null, 10 s, first line; a failure is a warning
 * and leaves the provider unconfigured), then $CDT_HOME/credentials.json
 * under the provider's name or alias, read only when a provider that
 * needs a key still lacks one (group- or world-accessible, or not ours:
 * 78).  A provider that needs a key and has none is `unconfigured` (never
 * an error until someone names it).  Keys live only in struct
 * cdt_provider (wiped on free) and the request headers; never in argv,
 * logs, records or messages (a provider's message quoting the key gets
 * "[redacted]").
 *
 * cdt_provider_send() makes one attempt at one provider: it builds the
 * wire request from a struct cdt_chat_req, streams the reply through the
 * SSE/NDJSON parser, calls the delta callback for each piece of text as
 * it arrives, and fills a struct cdt_chat_result.  It never retries or
 * falls back (route.h does); it classifies every failure (DESIGN §6
 * provider classes) and reports nothing on stderr itself: the router
 * decides what the user sees.  A stream is complete only with its
 * terminator (Anthropic message_stop, OpenAI [DONE], Ollama done:true,
 * Gemini a finishReason or a blocked prompt's blockReason: Gemini has no
 * terminator, and an EOF before a finishReason is a cut stream even when
 * candidates arrived); otherwise it is stream_broken.  A 200 with an
 * empty, HTML or non-stream JSON body is server, or the class of the
 * error it carries.
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
	/* Added by the provider module; the rest is private to it. */
	const char *alias;	/* "openai" for codex, else NULL */
	char *api_key_cmd;	/* from config, or NULL */
	bool price_set;		/* price_in/out come from config: they
				   apply to every model of the provider */
	bool builtin;
	char *key_source_buf;	/* storage behind key_source */
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
/*
 * Add (or replace) a provider named "replay" serving the cassette file,
 * as `--replay FILE` does; returns it.  Cannot fail.  Adding may move
 * ps->v: pointers from cdt_providers_find taken before are stale.
 */
struct cdt_provider *cdt_providers_add_replay(struct cdt_providers *ps,
					      const char *file);
/*
 * Prices (USD per million tokens, < 0 unknown) and context window (0
 * unknown) of one model of the provider (NULL: its default): config's
 * price applies to all its models, else the models table.
 */
void cdt_provider_price(const struct cdt_provider *p, const char *model,
			double *in, double *out);
long cdt_provider_context(const struct cdt_provider *p, const char *model);

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
	/* Deadlines of this attempt in ms (see http.h); 0 takes the
	 * provider's timeout_ms (first byte, idle and total), and when that
	 * is 0 too there is none.  connect_ms 0: the first-byte one. */
	long connect_ms;
	long first_byte_ms;
	long idle_ms;
	long total_ms;
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
	long ttfb_ms;		/* to the first text delta, else to the
				   first response byte; -1 when none */
	long latency_ms;	/* the whole attempt */
	long http_status;	/* 0 when no response */
	int status;		/* 0, or the exit code this failure maps to */
	const char *err_class;	/* NULL on success, else a DESIGN §6 class:
				   bad_request, context_window, auth,
				   not_found, rate_limited, quota,
				   overloaded, server, timeout, connect,
				   stream_broken, config; or "cancelled"
				   when the delta callback stopped it */
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
 * The cassette key: SHA-256 hex of a canonical request body, keys
 * sorted, compact, without stream fields.  So that a reply recorded from
 * any provider replays through a replay provider, the body is the same
 * for every provider: the OpenAI-wire body of the request (system as the
 * first message; model only when req->model names one; max_tokens and
 * temperature only when the request sets them).  p may be NULL.  65 when
 * the messages are malformed.
 */
int cdt_provider_request_key(const struct cdt_provider *p,
			     const struct cdt_chat_req *req,
			     char key[65]);

/*
 * Append one cassette line {"key","provider","model","text",
 * "stop_reason","tokens_in","tokens_out"} to file with one write(2) in
 * O_APPEND mode (so concurrent recorders never interleave), creating the
 * file 0644.  0, or 73/74 reported.
 */
int cdt_cassette_append(const char *file, const char *key,
			const char *provider,
			const struct cdt_chat_result *res);

/*
 * For tests and tools.  cdt_provider_wire_request builds what
 * cdt_provider_send would send: the URL in *url and the JSON body in
 * *body (the caller frees it); 0, or 65/78 with res->err_class and
 * err_msg set.  cdt_provider_parse_test feeds a 200 response body to the
 * wire's parser in pieces of split bytes (0: whole) and fills res as
 * cdt_provider_send would (content_type NULL: the wire's usual one).
 * cdt_provider_classify_test classifies a response of another status
 * (retry_after_s: the header's figure, -1 none).  Both return
 * res->status.
 */
int cdt_provider_wire_request(const struct cdt_provider *p,
			      const struct cdt_chat_req *req,
			      struct cdt_buf *url, jv *body,
			      struct cdt_chat_result *res);
int cdt_provider_parse_test(enum cdt_wire wire, const char *content_type,
			    const char *body, size_t len, size_t split,
			    struct cdt_chat_result *res);
int cdt_provider_classify_test(enum cdt_wire wire, long status,
			       const char *content_type, const char *body,
			       size_t len, double retry_after_s,
			       struct cdt_chat_result *res);

/*
 * Dated table of known models: name, provider, context window, prices.
 * The first entry of each provider is its default model.  Lookup takes
 * an exact name, or a dated variant of one ("claude-sonnet-4-5-20250929").
 */
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
