"""A command job: logs through the client and by printing, leaves outputs."""

import json
import os
import sys

from expsvc import run

lr = run.params["lr"]
assert sys.argv[1:] == ["--lr", str(lr)], sys.argv
assert os.environ["EXPSVC_PARAM_LR"] == str(lr)
for step in range(5):
    run.log("loss", lr * (5 - step), step)
    print(json.dumps({"step": step, "printed": step * 10}))
print(f"hello from job {run.job_id} attempt {run.attempt}")
(run.outputs_dir / "result.json").write_text(json.dumps({"lr": lr, "final": lr}))
run.flush()
