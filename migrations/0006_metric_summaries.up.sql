-- Summaries of the metrics kept up to date on write, so that reads of a
-- study-sized sweep (1,572 jobs, a million points) need not scan the points:
--   metric_summaries: per (job, key) the count, step range, last value,
--     min, max and sum (the metrics table, CSV, reports);
--   metric_rollups: per (job, key) and step width 16, 64, 256, 1024, one
--     row per bucket of that many steps with its first step, count, min, max
--     and sum (the dashboard's curves: the coarsest width that still fills
--     the chart's pixels is read instead of the points; no width 4: it
--     made writes 25% slower for little).
-- Statement-level triggers maintain both, whoever writes: inserted points
-- are added in; points updated or deleted (a retried write with another
-- value, a resume that drops later steps) make their (job, key) recomputed
-- from the points.

CREATE TABLE metric_summaries (
  job_id     bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  key        text NOT NULL,
  points     bigint NOT NULL,
  first_step bigint NOT NULL,
  last_step  bigint NOT NULL,
  last_value double precision NOT NULL,
  min_value  double precision NOT NULL,
  max_value  double precision NOT NULL,
  sum_value  double precision NOT NULL,
  PRIMARY KEY (job_id, key)
);

CREATE TABLE metric_rollups (
  job_id     bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  key        text NOT NULL,
  width      integer NOT NULL,
  bucket     bigint NOT NULL,
  first_step bigint NOT NULL,
  points     bigint NOT NULL,
  min_value  double precision NOT NULL,
  max_value  double precision NOT NULL,
  sum_value  double precision NOT NULL,
  PRIMARY KEY (job_id, key, width, bucket)
);

CREATE FUNCTION metric_summaries_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM added) THEN RETURN NULL; END IF;
  INSERT INTO metric_summaries AS s (job_id, key, points, first_step, last_step, last_value, min_value, max_value,
                                     sum_value)
  SELECT job_id, key, count(*), min(step), max(step), (array_agg(value ORDER BY step DESC))[1], min(value),
         max(value), sum(value)
  FROM added GROUP BY job_id, key
  ON CONFLICT (job_id, key) DO UPDATE SET
    points = s.points + EXCLUDED.points,
    first_step = least(s.first_step, EXCLUDED.first_step),
    last_step = greatest(s.last_step, EXCLUDED.last_step),
    last_value = CASE WHEN EXCLUDED.last_step >= s.last_step THEN EXCLUDED.last_value ELSE s.last_value END,
    min_value = least(s.min_value, EXCLUDED.min_value),
    max_value = greatest(s.max_value, EXCLUDED.max_value),
    sum_value = s.sum_value + EXCLUDED.sum_value;
  INSERT INTO metric_rollups AS r (job_id, key, width, bucket, first_step, points, min_value, max_value, sum_value)
  SELECT a.job_id, a.key, w.width, floor(a.step::float8 / w.width)::bigint, min(a.step), count(*), min(a.value),
         max(a.value), sum(a.value)
  FROM added a CROSS JOIN (VALUES (16), (64), (256), (1024)) AS w (width)
  GROUP BY 1, 2, 3, 4
  ON CONFLICT (job_id, key, width, bucket) DO UPDATE SET
    first_step = least(r.first_step, EXCLUDED.first_step),
    points = r.points + EXCLUDED.points,
    min_value = least(r.min_value, EXCLUDED.min_value),
    max_value = greatest(r.max_value, EXCLUDED.max_value),
    sum_value = r.sum_value + EXCLUDED.sum_value;
  RETURN NULL;
END $$;

CREATE FUNCTION metric_summaries_recompute() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM changed) THEN RETURN NULL; END IF;
  DELETE FROM metric_summaries s USING (SELECT DISTINCT job_id, key FROM changed) c
    WHERE s.job_id = c.job_id AND s.key = c.key;
  DELETE FROM metric_rollups r USING (SELECT DISTINCT job_id, key FROM changed) c
    WHERE r.job_id = c.job_id AND r.key = c.key;
  INSERT INTO metric_summaries (job_id, key, points, first_step, last_step, last_value, min_value, max_value, sum_value)
  SELECT m.job_id, m.key, count(*), min(m.step), max(m.step), (array_agg(m.value ORDER BY m.step DESC))[1],
         min(m.value), max(m.value), sum(m.value)
  FROM metrics m JOIN (SELECT DISTINCT job_id, key FROM changed) c ON c.job_id = m.job_id AND c.key = m.key
  GROUP BY m.job_id, m.key;
  INSERT INTO metric_rollups (job_id, key, width, bucket, first_step, points, min_value, max_value, sum_value)
  SELECT m.job_id, m.key, w.width, floor(m.step::float8 / w.width)::bigint, min(m.step), count(*), min(m.value),
         max(m.value), sum(m.value)
  FROM metrics m JOIN (SELECT DISTINCT job_id, key FROM changed) c ON c.job_id = m.job_id AND c.key = m.key
       CROSS JOIN (VALUES (16), (64), (256), (1024)) AS w (width)
  GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END $$;

-- INSERT ... ON CONFLICT DO UPDATE would fire the UPDATE trigger (a
-- recompute that already sees the new points) before the INSERT one (which
-- adds them again): writers insert new points with ON CONFLICT DO NOTHING,
-- then update changed ones in a second statement
-- (server/storage/metrics_logs_table.cc).
CREATE TRIGGER metrics_added AFTER INSERT ON metrics REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION metric_summaries_add();
CREATE TRIGGER metrics_updated AFTER UPDATE ON metrics REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metric_summaries_recompute();
CREATE TRIGGER metrics_deleted AFTER DELETE ON metrics REFERENCING OLD TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metric_summaries_recompute();

-- The points already stored.
INSERT INTO metric_summaries (job_id, key, points, first_step, last_step, last_value, min_value, max_value, sum_value)
SELECT job_id, key, count(*), min(step), max(step), (array_agg(value ORDER BY step DESC))[1], min(value), max(value),
       sum(value)
FROM metrics GROUP BY job_id, key;
INSERT INTO metric_rollups (job_id, key, width, bucket, first_step, points, min_value, max_value, sum_value)
SELECT m.job_id, m.key, w.width, floor(m.step::float8 / w.width)::bigint, min(m.step), count(*), min(m.value),
       max(m.value), sum(m.value)
FROM metrics m CROSS JOIN (VALUES (16), (64), (256), (1024)) AS w (width)
GROUP BY 1, 2, 3, 4;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'expsvc_reader') THEN
    GRANT SELECT ON metric_summaries, metric_rollups TO expsvc_reader;
  END IF;
END $$;
