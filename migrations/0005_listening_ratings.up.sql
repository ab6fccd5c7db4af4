-- The music study's listening test: one row per (piece, rater), the piece
-- being a generated MIDI artifact. A rater who rates a piece again replaces
-- the row (the scheduler upserts), so means count each listener once.
CREATE TABLE listening_ratings (
  id          bigserial PRIMARY KEY,
  artifact_id bigint NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
  rater       text NOT NULL CHECK (length(rater) BETWEEN 1 AND 100),
  coherence   smallint NOT NULL CHECK (coherence BETWEEN 1 AND 5),
  musicality  smallint NOT NULL CHECK (musicality BETWEEN 1 AND 5),
  overall     smallint NOT NULL CHECK (overall BETWEEN 1 AND 5),
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (artifact_id, rater)
);

-- The dashboard reads them (0004's default privileges cover tables made by
-- the role that ran it; this covers a cluster where another role runs this).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'expsvc_reader') THEN
    GRANT SELECT ON listening_ratings TO expsvc_reader;
  END IF;
END $$;
