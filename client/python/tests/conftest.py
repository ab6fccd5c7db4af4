"""A real stack for the client tests: a private PostgreSQL cluster, a
scheduler and a worker allowed to run `command` jobs (deploy/local/stack in a
temporary home), torn down and deleted at the end."""

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(os.environ.get("EXPSVC_SOURCE_DIR", Path(__file__).resolve().parents[3]))
BUILD = Path(os.environ.get("EXPSVC_BUILD_DIR", SOURCE / "build"))
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@dataclass
class Stack:
    home: Path
    addr: str
    token: str
    db: str
    env: dict

    def worker_token(self):
        return (self.home / "worker.token").read_text().strip()

    def stack(self, action, **extra):
        env = dict(self.env, **extra)
        return subprocess.run([str(SOURCE / "deploy/local/stack"), action], env=env, check=True,
                              capture_output=True, text=True)

    def expctl(self, *args):
        env = dict(os.environ, EXPSVC_ADDR=self.addr, EXPSVC_TOKEN=self.token)
        result = subprocess.run([str(BUILD / "client/expctl"), *args], env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"expctl {' '.join(args)} failed: {result.stderr}"
        return result.stdout


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    for binary in ("server/expsvc-scheduler", "worker/expsvc-worker", "client/expctl"):
        if not (BUILD / binary).exists():
            pytest.fail(f"{BUILD / binary} is missing: build first (scripts/build)")
    home = tmp_path_factory.mktemp("stack")
    env = dict(os.environ, EXPSVC_HOME=str(home), EXPSVC_BUILD=str(BUILD), EXPSVC_WORKER_SLOTS="2",
               EXPSVC_LEASE_TTL_MS="6000", EXPSVC_ALLOW_COMMAND_JOBS="1",
               EXPSVC_WORKER_FLAGS="--lease_wait_ms=300 --metric_flush_ms=100 --drain_timeout_ms=5000")
    # The job scripts import expsvc from the build and run on Debian's python3.
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    subprocess.run([str(SOURCE / "deploy/local/stack"), "up"], env=env, check=True)
    values = {}
    for line in (home / "stack.env").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = value.strip("'")
    running = Stack(home, values["EXPSVC_ADDR"], values["EXPSVC_TOKEN"], values["EXPSVC_DB"], env)
    yield running
    subprocess.run([str(SOURCE / "deploy/local/stack"), "reset"], env=env, check=False, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def client(stack):
    from expsvc import Client

    with Client(stack.addr, stack.token) as connected:
        yield connected


def command_sweep(name, script, *, grid=None, params=None, max_attempts=1, grace_seconds=None):
    """A one-stage sweep running a script of tests/scripts with Debian's python3."""
    fixed = {"command": [sys.executable, str(SCRIPTS / script)], **(params or {})}
    if grace_seconds is not None:
        fixed["grace_seconds"] = grace_seconds
    stage = {"name": "run", "kind": "command", "params": fixed, "max_attempts": max_attempts,
             "resources": {"cpu_cores": 0}}
    if grid:
        stage["grid"] = grid
    return {"name": name, "stages": [stage]}


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
