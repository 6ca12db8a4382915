/*
 * fuzz-cfg.c - the config loader on arbitrary bytes.  Besides not
 * crashing or leaking: the status is 0 or 78; a refused load leaves the
 * config empty; a load is deterministic and loading the same text twice
 * changes nothing; every key with a recorded position has a value.  The
 * first line also goes through the parsers and, as key=value, through
 * cdt_cfg_set.  Any broken rule aborts.
 */
#include "compat.h"
#include "cfg.h"
#include "err.h"
#include "log.h"

static void
check_where(const struct cdt_cfg *cfg)
{
	jv w = jv_copy(cfg->where);
	jv_object_foreach(w, k, e) {
		jv v = cdt_cfg_get(cfg, jv_string_value(k));
		if (!jv_is_valid(v))
			abort();
		jv_free(v);
		jv_free(k);
		jv_free(e);
	}
	jv_free(w);
}

static void
first_line(const uint8_t *data, size_t size)
{
	size_t n = 0;
	while (n < size && n < 256 && data[n] != '\n')
		n++;
	char line[257];
	memcpy(line, data, n);
	line[n] = '\0';

	int64_t ms;
	uint64_t bytes;
	if (cdt_parse_duration(line, &ms) == 0 && ms < 0)
		abort();
	(void)cdt_parse_size(line, &bytes);

	char *eq = strchr(line, '=');
	if (!eq)
		return;
	*eq = '\0';
	struct cdt_cfg cfg;
	cdt_cfg_init(&cfg);
	int rc = cdt_cfg_set(&cfg, line, eq + 1);
	if (rc != 0 && rc != EX_CONFIG)
		abort();
	if (rc == 0) {
		jv v = cdt_cfg_get(&cfg, line);
		if (!jv_is_valid(v))
			abort();
		jv_free(v);
	}
	cdt_cfg_release(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdt_cfg a, b;
	const char *text = (const char *)data;

	cdt_err_quiet(true);
	cdt_log_set_level(CDT_LOG_ERROR);
	first_line(data, size);

	cdt_cfg_init(&a);
	cdt_cfg_init(&b);
	int rc = cdt_cfg_load_string(&a, "fuzz.yaml", text, size);
	if (rc != 0 && rc != EX_CONFIG)
		abort();
	if (rc) {
		if (jv_object_length(jv_copy(a.tree)) != 0)
			abort();
		goto out;
	}
	check_where(&a);
	if (cdt_cfg_load_string(&b, "fuzz.yaml", text, size) ||
	    !jv_equal(jv_copy(a.tree), jv_copy(b.tree)))
		abort();
	if (cdt_cfg_load_string(&b, "fuzz.yaml", text, size) ||
	    !jv_equal(jv_copy(a.tree), jv_copy(b.tree)) ||
	    !jv_equal(jv_copy(a.where), jv_copy(b.where)))
		abort();
out:
	cdt_cfg_release(&a);
	cdt_cfg_release(&b);
	return 0;
}
