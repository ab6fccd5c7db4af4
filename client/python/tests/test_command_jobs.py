"""`command` jobs end to end: a researcher's script run by a real worker."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from conftest import BUILD, command_sweep, wait_for
from expsvc import Client
from expsvc._channel import open_channel
from expsvc.v1 import sweeps_pb2, sweeps_pb2_grpc, workers_pb2, workers_pb2_grpc


def logs_of(client, job_id):
    return [line for _, _, _, line in client.logs(job_id)]


def test_parameters_metrics_and_outputs(client):
    sweep = command_sweep("cmd-report", "report.py", grid={"lr": [0.5, 2]})
    sweep["stages"][0]["params"]["command"] += ["--lr", "{lr}"]
    submitted = client.submit(sweep)
    final = client.watch(submitted.sweep_id, progress=False)
    jobs = client.jobs(submitted.sweep_id)
    assert final["succeeded"] == 2, (final, list(jobs["error"]))
    table = client.metrics(submitted.sweep_id)
    assert list(table.columns) == ["job_id", "stage", "state", "lr", "loss", "printed"]
    for _, row in table.iterrows():
        assert row["loss"] == pytest.approx(row["lr"] * 1)   # last step: lr * (5 - 4)
        assert row["printed"] == 40
    series = client.metrics(submitted.sweep_id, keys=["loss"], series=True)
    assert len(series) == 10
    artifacts = client.artifacts(submitted.sweep_id)
    assert sorted(artifacts["name"]) == ["result.json", "result.json"]
    job_id = int(jobs["job_id"].iloc[0])
    lines = logs_of(client, job_id)
    assert any(f"hello from job {job_id} attempt 1" in line for line in lines)
    assert not any('"printed"' in line for line in lines)   # metric lines are metrics


def test_failure_reports_the_last_stderr_lines(client):
    sweep = command_sweep("cmd-fail", "report.py")   # no 'lr' parameter: KeyError
    submitted = client.submit(sweep)
    final = client.watch(submitted.sweep_id, progress=False)
    assert final["failed"] == 1
    error = client.jobs(submitted.sweep_id)["error"].iloc[0]
    assert "exit code 1" in error and "KeyError: 'lr'" in error


def test_a_job_killed_mid_run_resumes_from_its_outputs(client):
    submitted = client.submit(command_sweep("cmd-resume", "resume.py", max_attempts=2))
    final = client.watch(submitted.sweep_id, progress=False)
    jobs = client.jobs(submitted.sweep_id)
    assert final["succeeded"] == 1, list(jobs["error"])
    assert jobs["attempt"].iloc[0] == 2
    table = client.metrics(submitted.sweep_id)
    assert table["resumed_from"].iloc[0] == 5
    series = client.metrics(submitted.sweep_id, keys=["step_done"], series=True)
    assert list(series["step"]) == list(range(10))


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_cancel_ends_the_whole_process_tree(client, tmp_path):
    pid_file = tmp_path / "pids"
    submitted = client.submit(command_sweep("cmd-cancel", "tree.py", params={"pid_file": str(pid_file)},
                                            grace_seconds=1))
    wait_for(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), 60, "the job to start")
    script_pid, child_pid = map(int, pid_file.read_text().split())
    assert _alive(script_pid) and _alive(child_pid)
    client.cancel(submitted.sweep_id, reason="test")
    wait_for(lambda: not _alive(script_pid) and not _alive(child_pid), 30, "the process tree to end")
    final = client.watch(submitted.sweep_id, progress=False)
    assert final["cancelled"] == 1


def test_a_stopped_python_job_gets_its_grace_to_save(client, tmp_path):
    started, saved = tmp_path / "started", tmp_path / "saved"
    submitted = client.submit(command_sweep("cmd-graceful", "graceful.py", grace_seconds=20,
                                            params={"started_file": str(started), "saved_file": str(saved)}))
    wait_for(started.exists, 60, "the job to start")
    client.cancel(submitted.sweep_id, reason="test")
    # SIGTERM became should_stop(): the script saved and returned (well inside
    # the grace period, so it was not SIGKILLed).
    wait_for(saved.exists, 15, "the job to save")
    assert saved.read_text().startswith("saved at step")
    final = client.watch(submitted.sweep_id, progress=False)
    assert final["cancelled"] == 1


def _report(addr, token, job_id, epoch):
    channel = open_channel(addr)
    stub = workers_pb2_grpc.WorkerServiceStub(channel)
    request = workers_pb2.ReportMetricsRequest(
        lease=workers_pb2.JobLease(job_id=job_id, epoch=epoch),
        points=[workers_pb2.MetricPoint(key="forged", step=0, value=1.0)])
    try:
        stub.ReportMetrics(request, metadata=(("authorization", f"Bearer {token}"),), timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()
    finally:
        channel.close()


def test_a_job_token_is_scoped_to_its_job_and_lease(client, stack, tmp_path):
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    sweep = command_sweep("cmd-token", "token_probe.py", grid={"out": [str(p) for p in outs]})
    submitted = client.submit(sweep)
    final = client.watch(submitted.sweep_id, progress=False)
    assert final["succeeded"] == 2
    a, b = (json.loads(p.read_text()) for p in outs)
    assert not a["worker_token_seen"] and not b["worker_token_seen"]
    assert a["cuda_visible_devices"] == ""     # the jobs asked for no GPU
    # Another job's lease: refused outright.
    assert _report(stack.addr, a["token"], b["job_id"], b["epoch"]) == grpc.StatusCode.PERMISSION_DENIED
    # Its own job, but the lease ended with the job.
    assert _report(stack.addr, a["token"], a["job_id"], a["epoch"]) == grpc.StatusCode.FAILED_PRECONDITION
    # A forged epoch does not match the signature.
    forged = a["token"].replace(f"_{a['epoch']}_", f"_{a['epoch'] + 1}_")
    assert _report(stack.addr, forged, a["job_id"], a["epoch"] + 1) == grpc.StatusCode.UNAUTHENTICATED
    # No user calls.
    channel = open_channel(stack.addr)
    with pytest.raises(grpc.RpcError) as refused:
        sweeps_pb2_grpc.SweepServiceStub(channel).ListSweeps(
            sweeps_pb2.ListSweepsRequest(), metadata=(("authorization", f"Bearer {a['token']}"),), timeout=10)
    channel.close()
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "forged" not in client.metrics(submitted.sweep_id).columns


def test_a_worker_without_the_flag_refuses_command_jobs(client, stack, tmp_path):
    # Only a worker started without --allow_command_jobs is up.
    pid = int((stack.home / "worker.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not _alive(pid), 30, "the stack's worker to stop")
    plain = subprocess.Popen(
        [str(BUILD / "worker/expsvc-worker"), f"--scheduler={stack.addr}", "--name=plain-worker",
         f"--scratch_dir={tmp_path}/scratch", "--lease_wait_ms=300"],
        env=dict(os.environ, EXPSVC_TOKEN=stack.worker_token()), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (client.workers().query("name == 'plain-worker' and online")).shape[0] == 1, 30,
                 "the plain worker to register")
        kinds = client.workers().query("name == 'plain-worker'")["kinds"].iloc[0]
        assert "command" not in kinds and "sleep" in kinds
        submitted = client.submit(command_sweep("cmd-refused", "token_probe.py", params={"out": str(tmp_path / "x")}))
        time.sleep(3)
        assert client.sweep(submitted.sweep_id)["queued"] == 1
    finally:
        plain.terminate()
        plain.wait(timeout=30)
        stack.stack("up")   # the stack's worker again
    final = client.watch(submitted.sweep_id, progress=False)
    assert final["succeeded"] == 1
