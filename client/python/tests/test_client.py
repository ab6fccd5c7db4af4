"""The client against a real scheduler: submit, query, metrics DataFrames
equal to expctl's CSV, downloads, and errors."""

import io
import os

import grpc
import pandas
import pytest

from expsvc import Client, ExpsvcError

SLEEP_SWEEP = {
    "name": "client-sleep",
    "stages": [{
        "name": "train", "kind": "sleep",
        "params": {"seconds": 0.3, "steps": 4, "checkpoint_every": 2},
        "grid": {"lr": [0.1, 0.01], "model": ["small", "large"]},
        "resources": {"cpu_cores": 0},
    }],
}


@pytest.fixture(scope="module")
def finished_sweep(stack):
    with Client(stack.addr, stack.token) as client:
        submitted = client.submit(SLEEP_SWEEP)
        final = client.watch(submitted.sweep_id, progress=False)
        assert final["succeeded"] == 4, final
        return submitted.sweep_id


def test_dry_run_plans_and_stores_nothing(client):
    before = len(client.sweeps(limit=1000))
    plan = client.submit(SLEEP_SWEEP, dry_run=True)
    assert plan.sweep_id == 0
    assert plan.name == "client-sleep"
    assert plan.jobs == 4
    assert plan.stages == [("train", "sleep", 4, 0)]
    assert len(client.sweeps(limit=1000)) == before


def test_submit_from_a_file_fills_sweep_dir(client, tmp_path):
    path = tmp_path / "file-sweep.yaml"
    path.write_text("name: from-file\nstages:\n  - name: s\n    kind: noop\n    params: {note: '{sweep_dir}'}\n")
    submitted = client.submit(path)
    client.watch(submitted.sweep_id, progress=False)
    jobs = client.jobs(submitted.sweep_id, all_params=True)
    assert list(jobs["note"]) == [str(tmp_path)]


def test_metrics_table_equals_expctl_csv(client, stack, finished_sweep):
    frame = client.metrics(finished_sweep)
    expected = pandas.read_csv(io.StringIO(stack.expctl("metrics", str(finished_sweep), "--format", "csv")))
    assert list(frame.columns) == list(expected.columns)
    assert list(frame.columns)[:5] == ["job_id", "stage", "state", "lr", "model"]
    pandas.testing.assert_frame_equal(frame.reset_index(drop=True), expected, check_dtype=False)

    by_min = client.metrics(finished_sweep, keys=["progress"], aggregate="min", params={"model": "small"})
    expected_min = pandas.read_csv(io.StringIO(stack.expctl(
        "metrics", str(finished_sweep), "--keys", "progress", "--agg", "min", "--param", "model=small",
        "--format", "csv")))
    pandas.testing.assert_frame_equal(by_min, expected_min, check_dtype=False)
    assert len(by_min) == 2


def test_metrics_series_equals_expctl_csv(client, stack, finished_sweep):
    series = client.metrics(finished_sweep, keys=["progress"], series=True)
    expected = pandas.read_csv(io.StringIO(stack.expctl(
        "metrics", str(finished_sweep), "--keys", "progress", "--series", "--format", "csv")))
    pandas.testing.assert_frame_equal(series, expected, check_dtype=False)
    assert len(series) == 4 * 4


def test_jobs_filters_and_parameters_as_columns(client, finished_sweep):
    jobs = client.jobs(finished_sweep)
    assert len(jobs) == 4
    assert set(jobs["state"]) == {"succeeded"}
    assert {"lr", "model"} <= set(jobs.columns)
    assert len(client.jobs(finished_sweep, params={"lr": 0.1})) == 2
    one = client.job(int(jobs["job_id"].iloc[0]))
    assert one["state"] == "succeeded" and one["kind"] == "sleep" and one["params"]["steps"] == 4
    assert one["finished_at_ms"] >= one["started_at_ms"] > 0
    assert len(client.jobs(finished_sweep, state="failed")) == 0
    assert len(client.jobs(finished_sweep, kind="sleep", state=["succeeded", "failed"])) == 4
    with pytest.raises(ValueError, match="unknown job state"):
        client.jobs(finished_sweep, state="finished")


def test_artifacts_download_with_checksum(client, finished_sweep, tmp_path):
    artifacts = client.artifacts(finished_sweep)
    assert len(artifacts) >= 4
    first = artifacts.iloc[0]
    path = client.download(first["artifact_id"], tmp_path)
    assert path.name == first["name"]
    assert path.stat().st_size == first["size_bytes"]
    assert not list(tmp_path.glob("*.part"))
    into_new_folder = client.download(first["artifact_id"], f"{tmp_path}/new/")
    assert into_new_folder == tmp_path / "new" / first["name"]
    per_job = client.artifacts(job=int(first["job_id"]))
    assert set(per_job["job_id"]) == {first["job_id"]}


def test_errors_carry_the_grpc_status_and_the_servers_message(client, stack):
    with pytest.raises(ExpsvcError) as malformed:
        client.submit("name: x\nstages: [")
    assert malformed.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ExpsvcError) as unknown_kind:
        client.submit({"name": "x", "stages": [{"name": "s", "kind": "no-such-kind"}]})
    assert unknown_kind.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "no-such-kind" in unknown_kind.value.message
    with pytest.raises(ExpsvcError) as missing:
        client.sweep(987654)
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ExpsvcError) as no_command:
        client.submit({"name": "x", "stages": [{"name": "s", "kind": "command", "params": {"lr": 1}}]})
    assert "missing required parameter 'command'" in no_command.value.message
    with pytest.raises(ExpsvcError) as unreadable:
        client.submit("/nonexistent/sweep.yaml")
    assert unreadable.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot read sweep file /nonexistent/sweep.yaml" in unreadable.value.message
    with Client(stack.addr, "expsvc_not_a_real_token") as bad:
        with pytest.raises(ExpsvcError) as refused:
            bad.sweeps()
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(ValueError):
        client.sweep(0)
    with pytest.raises(ValueError):
        client.metrics(1, aggregate="median")


def test_workers_lists_the_stack_worker(client):
    workers = client.workers()
    assert len(workers) >= 1
    assert any("command" in kinds for kinds in workers["kinds"])
