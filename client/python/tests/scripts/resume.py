"""A command job that is killed mid-run on its first attempt and resumes from
the checkpoint its outputs/ kept."""

import os
import signal

from expsvc import run

checkpoint = run.outputs_dir / "checkpoint.txt"
start = int(checkpoint.read_text()) if checkpoint.exists() else 0
if start:
    run.resume_from(start)
    run.log("resumed_from", start, start)
for step in range(start, 10):
    run.log("step_done", step, step)
    if step == 5 and not checkpoint.exists():
        checkpoint.write_text(str(step))
        run.flush()
        os.kill(os.getpid(), signal.SIGKILL)
