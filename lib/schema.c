#include "compat.h"
#include "schema.h"

/*
 * Version 1.  Times are BIGINT milliseconds since the epoch (UTC),
 * booleans INTEGER 0/1, JSON documents TEXT (see store.h).
 *
 * Tenant columns: a team belongs to one org, and rows that name both an
 * org and a team reference teams (org_id, id), so no row can pair a team
 * with another org's id.  Conversations and messages reference no
 * identity table: chat history must work before any identity exists and
 * a conversation never depends on a session existing (issue 3); the
 * caller check authorises them by their org/team/user columns.
 *
 * users.email is unique per store as given: the caller stores it
 * normalised (lower case).  Nullable team_id/project in memberships mean
 * "the whole org" and "every project"; the unique index folds NULLs so
 * the same grant cannot be made twice.
 *
 * SQLite-only: audit.id INTEGER PRIMARY KEY (an auto-assigned rowid);
 * PostgreSQL spells it BIGINT GENERATED ALWAYS AS IDENTITY.
 */
static const char v1_initial[] =
	"CREATE TABLE schema_migrations (\n"
	"  version INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL,\n"
	"  applied_at BIGINT NOT NULL\n"
	");\n"
	/* Key fingerprints and other store-wide settings. */
	"CREATE TABLE meta (\n"
	"  key TEXT PRIMARY KEY,\n"
	"  value TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE orgs (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  name TEXT NOT NULL UNIQUE,\n"
	"  created_at BIGINT NOT NULL\n"
	");\n"
	"CREATE TABLE teams (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  created_at BIGINT NOT NULL,\n"
	"  UNIQUE (org_id, name),\n"
	"  UNIQUE (org_id, id)\n"
	");\n"
	"CREATE TABLE users (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  email TEXT NOT NULL UNIQUE,\n"
	"  name TEXT,\n"
	/* PHC string; NULL until the first `cdt-auth passwd`. */
	"  password_hash TEXT,\n"
	"  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),\n"
	"  failed_logins INTEGER NOT NULL DEFAULT 0,\n"
	"  locked_until BIGINT,\n"
	"  created_at BIGINT NOT NULL,\n"
	"  updated_at BIGINT NOT NULL\n"
	");\n"
	"CREATE TABLE memberships (\n"
	"  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"
	"  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,\n"
	"  team_id TEXT,\n"
	"  project TEXT,\n"
	"  role TEXT NOT NULL,\n"
	"  created_at BIGINT NOT NULL,\n"
	"  FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)\n"
	"    ON DELETE CASCADE\n"
	");\n"
	"CREATE UNIQUE INDEX memberships_grant ON memberships (user_id,\n"
	"  org_id, coalesce(team_id, ''), coalesce(project, ''), role);\n"
	"CREATE INDEX memberships_team ON memberships (org_id, team_id);\n"
	/* id is the public part of the key; hmac is hex HMAC-SHA256. */
	"CREATE TABLE api_keys (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  name TEXT NOT NULL,\n"
	"  role TEXT NOT NULL,\n"
	"  hmac TEXT NOT NULL,\n"
	"  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"
	"  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,\n"
	"  team_id TEXT,\n"
	"  project TEXT,\n"
	"  created_at BIGINT NOT NULL,\n"
	"  expires_at BIGINT,\n"
	"  revoked_at BIGINT,\n"
	"  last_used_at BIGINT,\n"
	"  FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)\n"
	"    ON DELETE CASCADE\n"
	");\n"
	"CREATE INDEX api_keys_user ON api_keys (user_id);\n"
	/* Only the SHA-256 (hex) of a refresh token is kept. */
	"CREATE TABLE refresh_tokens (\n"
	"  token_sha256 TEXT PRIMARY KEY,\n"
	"  family TEXT NOT NULL,\n"
	"  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"
	"  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,\n"
	"  team_id TEXT,\n"
	"  created_at BIGINT NOT NULL,\n"
	"  expires_at BIGINT NOT NULL,\n"
	"  used_at BIGINT,\n"
	"  revoked_at BIGINT,\n"
	"  FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)\n"
	"    ON DELETE CASCADE\n"
	");\n"
	"CREATE INDEX refresh_tokens_family ON refresh_tokens (family);\n"
	"CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);\n"
	/* Sessions are history: deleting their org or user is refused. */
	"CREATE TABLE sessions (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  org_id TEXT NOT NULL REFERENCES orgs (id),\n"
	"  team_id TEXT NOT NULL,\n"
	"  user_id TEXT NOT NULL REFERENCES users (id),\n"
	"  project TEXT,\n"
	"  parent_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,\n"
	"  status TEXT NOT NULL CHECK (status IN ('creating', 'running',\n"
	"    'paused', 'terminating', 'terminated', 'error')),\n"
	"  sandbox TEXT NOT NULL DEFAULT '{}',\n"
	"  workspace TEXT NOT NULL,\n"
	"  created_at BIGINT NOT NULL,\n"
	"  updated_at BIGINT NOT NULL,\n"
	"  expires_at BIGINT,\n"
	"  last_activity_at BIGINT NOT NULL,\n"
	"  FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)\n"
	");\n"
	"CREATE INDEX sessions_user ON sessions (user_id, status);\n"
	"CREATE INDEX sessions_team ON sessions (org_id, team_id, status);\n"
	"CREATE INDEX sessions_activity ON sessions (status,\n"
	"  last_activity_at);\n"
	"CREATE INDEX sessions_parent ON sessions (parent_id);\n"
	"CREATE TABLE conversations (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  session_id TEXT,\n"
	"  org_id TEXT NOT NULL,\n"
	"  team_id TEXT NOT NULL,\n"
	"  user_id TEXT NOT NULL,\n"
	"  title TEXT,\n"
	"  created_at BIGINT NOT NULL,\n"
	"  updated_at BIGINT NOT NULL\n"
	");\n"
	"CREATE INDEX conversations_user ON conversations (user_id,\n"
	"  updated_at);\n"
	"CREATE INDEX conversations_session ON conversations (session_id,\n"
	"  updated_at);\n"
	/* seq orders a conversation's messages: 1, 2, 3, ... */
	"CREATE TABLE messages (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  conversation_id TEXT NOT NULL REFERENCES conversations (id)\n"
	"    ON DELETE CASCADE,\n"
	"  seq INTEGER NOT NULL,\n"
	"  role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system',\n"
	"    'tool')),\n"
	"  content TEXT NOT NULL,\n"
	"  provider TEXT,\n"
	"  model TEXT,\n"
	"  stop_reason TEXT,\n"
	"  partial INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1)),\n"
	"  metadata TEXT NOT NULL DEFAULT '{}',\n"
	"  created_at BIGINT NOT NULL,\n"
	"  UNIQUE (conversation_id, seq)\n"
	");\n"
	/*
	 * One row per provider, shared by every process.  reset_ms is the
	 * current open period (doubled after a failed trial); NULL means the
	 * configured reset.  trial_owner holds the half-open trial until
	 * trial_lease_until, so a killed owner cannot wedge the breaker.
	 */
	"CREATE TABLE breakers (\n"
	"  provider TEXT PRIMARY KEY,\n"
	"  state TEXT NOT NULL DEFAULT 'closed' CHECK (state IN ('closed',\n"
	"    'open', 'half_open')),\n"
	"  failures INTEGER NOT NULL DEFAULT 0,\n"
	"  opened_at BIGINT,\n"
	"  open_until BIGINT,\n"
	"  blocked_until BIGINT,\n"
	"  reset_ms BIGINT,\n"
	"  trial_owner TEXT,\n"
	"  trial_lease_until BIGINT,\n"
	"  last_error TEXT,\n"
	"  updated_at BIGINT NOT NULL\n"
	");\n"
	/* One row per provider call; cost_usd NULL: price unknown. */
	"CREATE TABLE usage (\n"
	"  provider TEXT NOT NULL,\n"
	"  model TEXT,\n"
	"  ts BIGINT NOT NULL,\n"
	"  latency_ms BIGINT,\n"
	"  tokens_in BIGINT,\n"
	"  tokens_out BIGINT,\n"
	"  cost_usd DOUBLE PRECISION,\n"
	"  ok INTEGER NOT NULL CHECK (ok IN (0, 1)),\n"
	"  error_class TEXT,\n"
	"  org_id TEXT\n"
	");\n"
	"CREATE INDEX usage_provider_ts ON usage (provider, ts);\n"
	"CREATE TABLE audit (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  ts BIGINT NOT NULL,\n"
	"  actor TEXT,\n"
	"  org_id TEXT,\n"
	"  event TEXT NOT NULL,\n"
	"  detail TEXT NOT NULL DEFAULT '{}'\n"
	");\n"
	"CREATE INDEX audit_ts ON audit (ts);\n"
	"CREATE INDEX audit_org_ts ON audit (org_id, ts);\n";

/*
 * Version 2: a session's history and its detached processes (issue 7).
 *
 * session_events keeps every lifecycle transition with its time: seq
 * numbers a session's events 1, 2, 3, ... (the order within one
 * millisecond); from_status is NULL for the first.  session_processes
 * records each process `exec --detach` left running: its pid and start
 * time (field 22 of /proc/PID/stat, clock ticks since boot) together
 * identify it, so a recycled pid is never taken for it; cgroups is a
 * JSON array of the cgroup directories made for it; ended_at and
 * end_reason are set when it was killed or found gone.
 * sessions.pruned_at is when `gc --prune` removed the session's branch
 * (and, when no other session used it, its workspace).
 */
static const char v2_session_history[] =
	"CREATE TABLE session_events (\n"
	"  session_id TEXT NOT NULL REFERENCES sessions (id)\n"
	"    ON DELETE CASCADE,\n"
	"  seq INTEGER NOT NULL,\n"
	"  ts BIGINT NOT NULL,\n"
	"  from_status TEXT,\n"
	"  to_status TEXT NOT NULL,\n"
	"  reason TEXT,\n"
	"  PRIMARY KEY (session_id, seq)\n"
	");\n"
	"CREATE TABLE session_processes (\n"
	"  session_id TEXT NOT NULL REFERENCES sessions (id)\n"
	"    ON DELETE CASCADE,\n"
	"  pid BIGINT NOT NULL,\n"
	"  start_time BIGINT NOT NULL,\n"
	"  argv TEXT NOT NULL,\n"
	"  log TEXT,\n"
	"  cgroups TEXT NOT NULL DEFAULT '[]',\n"
	"  started_at BIGINT NOT NULL,\n"
	"  ended_at BIGINT,\n"
	"  end_reason TEXT,\n"
	"  PRIMARY KEY (session_id, pid, start_time)\n"
	");\n"
	"CREATE INDEX session_processes_live ON session_processes\n"
	"  (ended_at, session_id);\n"
	"ALTER TABLE sessions ADD COLUMN pruned_at BIGINT;\n";

/* Append new migrations at the end; never edit or reorder shipped ones. */
const struct cdt_schema_migration cdt_schema_migrations[] = {
	{ "initial", v1_initial },
	{ "session history", v2_session_history },
};

const int cdt_schema_count = (int)CDT_ARRAY_SIZE(cdt_schema_migrations);
