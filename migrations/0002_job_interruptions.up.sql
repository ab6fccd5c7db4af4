-- A lease lost after its attempt stored a checkpoint does not spend an
-- attempt (the job was interrupted, not failing). This counts those free
-- requeues, so that a job that checkpoints and then kills its worker every
-- time still ends (the scheduler's max_free_interruptions).
ALTER TABLE jobs ADD COLUMN interruptions integer NOT NULL DEFAULT 0;
