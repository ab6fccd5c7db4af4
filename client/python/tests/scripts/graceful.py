"""A command job that saves and returns when asked to stop (SIGTERM)."""

import time
from pathlib import Path

from expsvc import run

Path(run.params["started_file"]).write_text("started\n")
step = 0
while not run.should_stop():
    run.log("step", step, step)
    step += 1
    time.sleep(0.05)
Path(run.params["saved_file"]).write_text(f"saved at step {step}\n")
