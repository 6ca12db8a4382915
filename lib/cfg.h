/*
 * cfg.h - configuration: a YAML file, then the environment, then flags.
 *
 * cdt_cfg_load() reads $CDT_CONFIG, else $XDG_CONFIG_HOME/cdt/config.yaml,
 * else $HOME/.config/cdt/config.yaml (a missing default file is an empty
 * config; a missing $CDT_CONFIG is 78), then applies the environment
 * variables of cdt_cfg_env_table().  cdt_cfg_set() applies flags on top.
 * Every value is checked against one schema table (lib/cfg.c) as it
 * comes in: a wrong type or enum value is EX_CONFIG (78) with the message
 * "FILE:LINE:COL: 'routing.timeout' must be a duration (30s, 10m, 24h,
 * 30d)"; an unknown key in the file is only a warning naming FILE:LINE.
 *
 * The tree is a jv object holding typed values: durations as numbers of
 * milliseconds, sizes as numbers of bytes, booleans as true/false, ints
 * and numbers as numbers, lists as arrays of strings, enums in their
 * canonical lower case.  Keys the schema does not know are dropped.  A
 * YAML null (`key:`, `~`) leaves a key unset.  The origin of each key
 * (file, line, column, or environment variable) is kept so that a later
 * check can report it with cdt_cfg_err().
 *
 * Hostile files: at most 1 MiB, 32 levels of nesting and 65536 nodes;
 * YAML aliases are refused (78), so there is no billion-laughs expansion;
 * one document only; duplicate keys are refused (78); names under a map
 * of names (providers.NAME, routing.tasks.NAME) use letters, digits, '-'
 * and '_' only.  Loading never writes stdout and never exits.
 */
#ifndef CDT_CFG_H
#define CDT_CFG_H

#include "compat.h"
#include <jv.h>

#define CDT_CFG_MAX_BYTES ((size_t)1 << 20)
#define CDT_CFG_MAX_DEPTH 32
#define CDT_CFG_MAX_NODES 65536

struct cdt_cfg {
	jv tree;	/* object: the typed values */
	jv where;	/* object: "a.b.c" -> [origin, line, col] */
};

/* One environment override: variable, dotted key, one line of help. */
struct cdt_cfg_env {
	const char *name;
	const char *key;
	const char *help;
};

/* An empty config.  Cannot fail. */
void cdt_cfg_init(struct cdt_cfg *cfg);
void cdt_cfg_release(struct cdt_cfg *cfg);

/*
 * The config file, then the environment.  0 or EX_CONFIG (reported).
 * On failure cfg is left as it was.
 */
int cdt_cfg_load(struct cdt_cfg *cfg);
/*
 * One YAML file or string, merged over what cfg already holds (maps merge
 * key by key, everything else is replaced).  name is used in messages.
 * 0 or EX_CONFIG (reported); on failure cfg is left as it was.
 */
int cdt_cfg_load_file(struct cdt_cfg *cfg, const char *path);
int cdt_cfg_load_string(struct cdt_cfg *cfg, const char *name,
			const char *yaml, size_t len);
/* Apply the overrides of cdt_cfg_env_table() (part of cdt_cfg_load). */
int cdt_cfg_load_env(struct cdt_cfg *cfg);

/*
 * Set one key from text, as a flag or `-c key=value` does: checked with
 * the schema (lists are comma-separated).  An unknown key, a section
 * (a map) or a bad value is EX_CONFIG, reported.
 */
int cdt_cfg_set(struct cdt_cfg *cfg, const char *dotted_key,
		const char *value);

/* The environment overrides, ending with an entry whose name is NULL. */
const struct cdt_cfg_env *cdt_cfg_env_table(void);

/*
 * Getters.  None consumes or changes cfg.  cdt_cfg_get returns a copy of
 * the value at the dotted key, or jv_invalid() when unset.  The typed
 * helpers return def when the key is unset.  cdt_cfg_str's string lives
 * as long as cfg is not changed or released.
 */
jv cdt_cfg_get(const struct cdt_cfg *cfg, const char *dotted);
const char *cdt_cfg_str(const struct cdt_cfg *cfg, const char *dotted,
			const char *def);
bool cdt_cfg_bool(const struct cdt_cfg *cfg, const char *dotted, bool def);
int64_t cdt_cfg_int(const struct cdt_cfg *cfg, const char *dotted,
		    int64_t def);
double cdt_cfg_number(const struct cdt_cfg *cfg, const char *dotted,
		      double def);
int64_t cdt_cfg_duration_ms(const struct cdt_cfg *cfg, const char *dotted,
			    int64_t def);
uint64_t cdt_cfg_size(const struct cdt_cfg *cfg, const char *dotted,
		      uint64_t def);

/*
 * Where the value at dotted came from: *origin is the file name (line and
 * col 1-based) or the environment variable or "command line" (line and
 * col 0).  Returns false when unknown.  Strings live as cdt_cfg_str's.
 */
bool cdt_cfg_where(const struct cdt_cfg *cfg, const char *dotted,
		   const char **origin, int *line, int *col);
/*
 * Report a problem with the value at dotted, as cdt_err does, prefixed by
 * its origin: "FILE:LINE:COL: ", "CDT_PROVIDER: " or nothing.
 */
int cdt_cfg_err(const struct cdt_cfg *cfg, int code, const char *dotted,
		const char *fmt, ...) CDT_PRINTF(4, 5);

/*
 * $CDT_HOME, else $XDG_DATA_HOME/cdt, else $HOME/.local/share/cdt;
 * computed once.  NULL when there is no home directory at all.
 */
const char *cdt_cfg_home(void);
/*
 * The config file cdt_cfg_load reads ($CDT_CONFIG or the default), from
 * the environment now; valid until the next call.  NULL when there is
 * no home directory.
 */
const char *cdt_cfg_path(void);

/*
 * "250ms", "30s", "10m", "24h", "30d", or a bare integer of seconds.
 * 0 or EX_DATAERR (empty, negative, fraction, trailing junk, overflow);
 * prints nothing.
 */
int cdt_parse_duration(const char *s, int64_t *ms);
/*
 * "512", "512K", "512M", "4G", "1T", "1P" in powers of 1024; the unit
 * letter in either case, optionally followed by "B" or "iB" ("4GiB").
 * 0 or EX_DATAERR, as cdt_parse_duration.
 */
int cdt_parse_size(const char *s, uint64_t *bytes);

#include "banned.h"
#endif
