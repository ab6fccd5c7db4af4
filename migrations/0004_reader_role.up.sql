-- expsvc_reader: the role the dashboard connects as. It may read every table
-- (and every table later migrations add), write none, and never read the key
-- that signs job tokens. Roles are per cluster, so another expsvc database in
-- the same cluster may have created it already. A scheduler whose database
-- role may not create roles skips this with a notice; an administrator then
-- runs these statements (docs/operations.md).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'expsvc_reader') THEN
    BEGIN
      CREATE ROLE expsvc_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'cannot create role expsvc_reader (no CREATEROLE): the dashboard needs an administrator to create it';
      RETURN;
    END;
  END IF;
  GRANT USAGE ON SCHEMA public TO expsvc_reader;
  GRANT SELECT ON ALL TABLES IN SCHEMA public TO expsvc_reader;
  REVOKE ALL ON job_token_key FROM expsvc_reader;
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO expsvc_reader;
END $$;
