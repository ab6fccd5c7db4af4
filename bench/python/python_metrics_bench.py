#!/usr/bin/env python3
"""Metrics logged from Python per second, against the C++ worker's rate.

Starts a private stack (deploy/local/stack in a temporary home) and runs, one
at a time, three jobs that each report STEPS steps of two metrics:
  - baseline: the C++ `sleep` kind (seconds 0) through the worker's batched
    metric buffer;
  - client: a `command` job calling expsvc.run.log (batched, background thread);
  - printed: a `command` job printing one JSON metric line per step (the
    worker parses and batches them).
A job's rate is its points over its run time (started to finished, as the
scheduler recorded them: process start-up and the final flush included).
Every job's points are counted in the database first: a rate of points that
did not arrive would mean nothing.

    bench/python/python_metrics_bench.py [--steps 50000] [--build build]

Last line: key=value pairs, with client_vs_cpp and printed_vs_cpp ratios.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50000)
    parser.add_argument("--build", default=str(SOURCE / "build"))
    args = parser.parse_args()
    build = Path(args.build).resolve()
    sys.path.insert(0, str(build / "python"))
    from expsvc import Client

    home = Path(tempfile.mkdtemp(prefix="expsvc-pybench-"))
    env = dict(os.environ, EXPSVC_HOME=str(home), EXPSVC_BUILD=str(build), EXPSVC_WORKER_SLOTS="1",
               EXPSVC_ALLOW_COMMAND_JOBS="1", EXPSVC_WORKER_FLAGS="--lease_wait_ms=200")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    stack = str(SOURCE / "deploy/local/stack")
    subprocess.run([stack, "up"], env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        values = dict(line.removeprefix("export ").split("=", 1) for line in (home / "stack.env").read_text().split("\n") if line)
        client = Client(values["EXPSVC_ADDR"], values["EXPSVC_TOKEN"])
        script = str(Path(__file__).resolve().parent / "log_points.py")
        cases = {
            "cpp": {"kind": "sleep", "params": {"seconds": 0, "steps": args.steps}},
            "client": {"kind": "command", "params": {"command": [sys.executable, script], "mode": "client",
                                                     "steps": args.steps}},
            "printed": {"kind": "command", "params": {"command": [sys.executable, script], "mode": "printed",
                                                      "steps": args.steps}},
        }
        rates = {}
        for name, case in cases.items():
            sweep = {"name": f"pybench-{name}", "stages": [{"name": name, "kind": case["kind"],
                                                            "params": case["params"], "max_attempts": 1}]}
            submitted = client.submit(sweep)
            final = client.watch(submitted.sweep_id, progress=False)
            if final["succeeded"] != 1:
                raise SystemExit(f"{name}: the job did not succeed: {list(client.jobs(submitted.sweep_id)['error'])}")
            points = client.metrics(submitted.sweep_id, series=True)
            expected = 2 * args.steps
            if len(points) != expected:
                raise SystemExit(f"{name}: {len(points)} points stored, expected {expected}")
            job = client.job(int(client.jobs(submitted.sweep_id)["job_id"].iloc[0]))
            seconds = (job["finished_at_ms"] - job["started_at_ms"]) / 1000.0
            rates[name] = expected / seconds
            print(f"{name:8s} {expected} points in {seconds:.2f} s: {rates[name]:,.0f} points/s", flush=True)
        client.close()
    finally:
        subprocess.run([stack, "reset"], env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
    print(f"steps={args.steps} cpp_points_per_s={rates['cpp']:.0f} client_points_per_s={rates['client']:.0f} "
          f"printed_points_per_s={rates['printed']:.0f} client_vs_cpp={rates['client'] / rates['cpp']:.3f} "
          f"printed_vs_cpp={rates['printed'] / rates['cpp']:.3f}")


if __name__ == "__main__":
    main()
