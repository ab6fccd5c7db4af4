-- Jobs may ask for GPUs with at least this much memory each (GiB); workers
-- lease them only when a free device has it. 0: any GPU.
ALTER TABLE jobs ADD COLUMN gpu_memory_gb integer NOT NULL DEFAULT 0
  CONSTRAINT jobs_gpu_memory_valid CHECK (gpu_memory_gb >= 0);
