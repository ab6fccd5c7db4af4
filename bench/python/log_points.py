"""The Python side of python_metrics_bench: a command job logging
`steps` steps of two metrics, through the client or as printed lines."""

import json
import sys

from expsvc import run

steps = int(run.params["steps"])
mode = run.params["mode"]
if mode == "client":
    for step in range(1, steps + 1):
        run.log("progress", step / steps, step)
        run.log("attempt", run.attempt, step)
    run.flush()
elif mode == "printed":
    write = sys.stdout.write
    for step in range(1, steps + 1):
        write(json.dumps({"step": step, "progress": step / steps, "attempt": run.attempt}) + "\n")
else:
    sys.exit(f"unknown mode {mode!r}")
