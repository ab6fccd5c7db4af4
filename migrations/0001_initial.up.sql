-- Initial schema of the experiment service. Forward-only: never edit an
-- applied migration, add a new numbered file instead (the scheduler checks
-- each applied file's checksum at startup).

CREATE TABLE workers (
  id               text PRIMARY KEY,
  name             text NOT NULL,
  hostname         text NOT NULL DEFAULT '',
  capabilities     jsonb NOT NULL DEFAULT '{}'::jsonb,
  registered_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sweeps (
  id               bigserial PRIMARY KEY,
  name             text NOT NULL,
  idempotency_key  text,
  spec_yaml        text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  cancelled_at     timestamptz,
  CONSTRAINT sweeps_idempotency_key_unique UNIQUE (idempotency_key)
);

CREATE TABLE jobs (
  id                bigserial PRIMARY KEY,
  sweep_id          bigint NOT NULL REFERENCES sweeps (id),
  stage             text NOT NULL,
  kind              text NOT NULL,
  params            jsonb NOT NULL DEFAULT '{}'::jsonb,
  state             text NOT NULL,
  priority          integer NOT NULL DEFAULT 0,
  attempt           integer NOT NULL DEFAULT 0,
  max_attempts      integer NOT NULL DEFAULT 3,
  cpu_cores         integer NOT NULL DEFAULT 0,
  memory_mb         bigint NOT NULL DEFAULT 0,
  gpus              integer NOT NULL DEFAULT 0,
  group_key         text,
  -- Parents that have not succeeded yet; the job is WAITING while > 0.
  pending_parents   integer NOT NULL DEFAULT 0,
  -- Fencing token: bumped at every lease, checked on every write.
  lease_epoch       bigint NOT NULL DEFAULT 0,
  lease_expires_at  timestamptz,
  worker_id         text REFERENCES workers (id),
  -- Earliest time a queued job may be leased (retry backoff).
  run_after         timestamptz NOT NULL DEFAULT now(),
  error             text NOT NULL DEFAULT '',
  created_at        timestamptz NOT NULL DEFAULT now(),
  started_at        timestamptz,
  finished_at       timestamptz,
  CONSTRAINT jobs_state_valid CHECK (state IN ('waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
  CONSTRAINT jobs_attempts_valid CHECK (attempt >= 0 AND max_attempts >= 1),
  CONSTRAINT jobs_resources_valid CHECK (cpu_cores >= 0 AND memory_mb >= 0 AND gpus >= 0),
  CONSTRAINT jobs_pending_parents_valid CHECK (pending_parents >= 0),
  CONSTRAINT jobs_running_has_lease CHECK (state <> 'running' OR (worker_id IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- The claim query walks this index: queued jobs by priority, then age.
CREATE INDEX jobs_claimable_idx ON jobs (priority DESC, id) WHERE state = 'queued';
-- Group leasing finds a head job's queued siblings through this one.
CREATE INDEX jobs_group_queued_idx ON jobs (sweep_id, group_key) WHERE state = 'queued' AND group_key IS NOT NULL;
-- The rescuer looks for expired leases.
CREATE INDEX jobs_running_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_sweep_idx ON jobs (sweep_id, id);

CREATE TABLE job_dependencies (
  job_id     bigint NOT NULL REFERENCES jobs (id),
  parent_id  bigint NOT NULL REFERENCES jobs (id),
  PRIMARY KEY (job_id, parent_id),
  CONSTRAINT job_dependencies_no_self CHECK (job_id <> parent_id)
);
CREATE INDEX job_dependencies_parent_idx ON job_dependencies (parent_id);

-- One point per (job, key, step): a retried batch overwrites, never duplicates.
CREATE TABLE metrics (
  job_id   bigint NOT NULL REFERENCES jobs (id),
  key      text NOT NULL,
  step     bigint NOT NULL,
  value    double precision NOT NULL,
  PRIMARY KEY (job_id, key, step)
);

CREATE TABLE job_logs (
  seq      bigserial PRIMARY KEY,
  job_id   bigint NOT NULL REFERENCES jobs (id),
  attempt  integer NOT NULL,
  logged_at timestamptz NOT NULL DEFAULT now(),
  line     text NOT NULL
);
CREATE INDEX job_logs_job_idx ON job_logs (job_id, seq);

CREATE TABLE artifacts (
  id            bigserial PRIMARY KEY,
  job_id        bigint NOT NULL REFERENCES jobs (id),
  name          text NOT NULL,
  attempt       integer NOT NULL,
  size_bytes    bigint NOT NULL,
  sha256        text NOT NULL,
  storage_path  text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT artifacts_job_name_unique UNIQUE (job_id, name),
  CONSTRAINT artifacts_size_valid CHECK (size_bytes >= 0)
);

CREATE TABLE auth_tokens (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL,
  role        text NOT NULL,
  -- SHA-256 of the token; the token itself is never stored.
  token_hash  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  CONSTRAINT auth_tokens_role_valid CHECK (role IN ('admin', 'user', 'worker')),
  CONSTRAINT auth_tokens_hash_unique UNIQUE (token_hash)
);
