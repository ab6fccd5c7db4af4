-- The key that signs job tokens (scoped to one job and lease epoch, handed to
-- a `command` job so that its own client can log metrics and store
-- artifacts). One row, shared by every scheduler replica; created by the
-- first scheduler that needs it.
CREATE TABLE job_token_key (
  id integer PRIMARY KEY CHECK (id = 1),
  secret text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
