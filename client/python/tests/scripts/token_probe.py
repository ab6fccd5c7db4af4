"""A command job that hands its job token to the test (a file the test
names), to check what the token may and may not do."""

import json
import os
from pathlib import Path

from expsvc import run

Path(run.params["out"]).write_text(json.dumps({
    "job_id": run.job_id,
    "epoch": int(os.environ["EXPSVC_LEASE_EPOCH"]),
    "token": os.environ["EXPSVC_JOB_TOKEN"],
    "worker_token_seen": "EXPSVC_TOKEN" in os.environ,
    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
}))
