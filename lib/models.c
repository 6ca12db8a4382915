/*
 * models.c - the shipped table of models: context windows and list
 * prices in USD per million tokens (input, output), as published by each
 * provider on the date below.  Prices change every few months: config's
 * providers.NAME.price wins, and an unknown price is -1 (cost null),
 * never 0.  Local servers cost nothing, which is a known 0.  The first
 * row of each provider is its default model.
 */
#include "compat.h"

#include "provider.h"

const char cdt_models_date[] = "2025-11-01";

static const struct cdt_model_info models[] = {
	/* Anthropic: 1M-token context is a beta for some; 200k listed. */
	{ "claude", "claude-sonnet-4-5", 200000, 3.00, 15.00 },
	{ "claude", "claude-haiku-4-5", 200000, 1.00, 5.00 },
	{ "claude", "claude-opus-4-1", 200000, 15.00, 75.00 },
	{ "claude", "claude-sonnet-4-0", 200000, 3.00, 15.00 },
	{ "claude", "claude-3-5-haiku-latest", 200000, 0.80, 4.00 },
	/* OpenAI. */
	{ "codex", "gpt-4o-mini", 128000, 0.15, 0.60 },
	{ "codex", "gpt-4o", 128000, 2.50, 10.00 },
	{ "codex", "gpt-4.1", 1047576, 2.00, 8.00 },
	{ "codex", "gpt-4.1-mini", 1047576, 0.40, 1.60 },
	{ "codex", "gpt-5", 400000, 1.25, 10.00 },
	{ "codex", "gpt-5-mini", 400000, 0.25, 2.00 },
	{ "codex", "gpt-5-codex", 400000, 1.25, 10.00 },
	{ "codex", "o4-mini", 200000, 1.10, 4.40 },
	/* Google: prices for prompts up to 200k tokens. */
	{ "gemini", "gemini-2.5-flash", 1048576, 0.30, 2.50 },
	{ "gemini", "gemini-2.5-pro", 1048576, 1.25, 10.00 },
	{ "gemini", "gemini-2.5-flash-lite", 1048576, 0.10, 0.40 },
	{ "gemini", "gemini-2.0-flash", 1048576, 0.10, 0.40 },
	/* Moonshot: cache-miss input price. */
	{ "kimi", "kimi-k2-0905-preview", 262144, 0.60, 2.50 },
	{ "kimi", "kimi-k2-0711-preview", 131072, 0.60, 2.50 },
	{ "kimi", "kimi-k2-turbo-preview", 262144, -1, -1 },
	{ "kimi", "kimi-latest", 131072, -1, -1 },
	/* Local servers: whatever is pulled or loaded. */
	{ "ollama", "llama3.2", 131072, 0, 0 },
	{ "ollama", "llama3.1", 131072, 0, 0 },
	{ "ollama", "qwen2.5-coder", 32768, 0, 0 },
	{ "ollama", "gpt-oss:20b", 131072, 0, 0 },
	{ "lmstudio", "qwen2.5-7b-instruct", 32768, 0, 0 },
	{ "lmstudio", "openai/gpt-oss-20b", 131072, 0, 0 },
};

const struct cdt_model_info *
cdt_models_table(size_t *n)
{
	*n = CDT_ARRAY_SIZE(models);
	return models;
}

/* "claude-sonnet-4-5-20250929" is a dated snapshot of the row's model. */
static bool
dated_variant(const char *name, const char *row)
{
	size_t n = strlen(row);
	if (strncmp(name, row, n) || name[n] != '-')
		return false;
	const char *d = name + n + 1;
	size_t digits = 0;
	while (d[digits] >= '0' && d[digits] <= '9')
		digits++;
	/* 20250929, or 2024-08-06 */
	return (digits == 8 && !d[8]) ||
	       (digits == 4 && d[4] == '-' && strlen(d) == 10);
}

const struct cdt_model_info *
cdt_model_lookup(const char *provider, const char *model)
{
	if (!model)
		return NULL;
	/* "ollama" tags: llama3.2:latest is llama3.2. */
	size_t mlen = strlen(model);
	if (mlen > 7 && !strcmp(model + mlen - 7, ":latest"))
		mlen -= 7;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < CDT_ARRAY_SIZE(models); i++) {
			const struct cdt_model_info *m = &models[i];
			if (provider && strcmp(provider, m->provider))
				continue;
			if (pass == 0 ? strlen(m->name) == mlen &&
					!strncmp(m->name, model, mlen)
				      : dated_variant(model, m->name))
				return m;
		}
	return NULL;
}
