"""Client: submit sweeps and query jobs, metrics and artifacts from Python.

    from expsvc import Client
    client = Client()                      # EXPSVC_ADDR and EXPSVC_TOKEN
    sweep = client.submit("sweep.yaml")
    client.watch(sweep.sweep_id)           # progress bar until it ends
    table = client.metrics(sweep.sweep_id, keys=["loss"])   # a DataFrame

Tables come back as pandas DataFrames shaped like `expctl`'s output: one row
per job, its parameters as columns (by default those that differ between
rows), then one column per metric key.
"""

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from expsvc._channel import default_address, open_channel
from expsvc.errors import ExpsvcError, from_rpc_error
from expsvc.v1 import artifacts_pb2, artifacts_pb2_grpc, common_pb2, jobs_pb2, jobs_pb2_grpc
from expsvc.v1 import metrics_pb2, metrics_pb2_grpc, sweeps_pb2, sweeps_pb2_grpc, workers_pb2, workers_pb2_grpc

_STATES = {
    "waiting": common_pb2.JOB_STATE_WAITING,
    "queued": common_pb2.JOB_STATE_QUEUED,
    "running": common_pb2.JOB_STATE_RUNNING,
    "succeeded": common_pb2.JOB_STATE_SUCCEEDED,
    "failed": common_pb2.JOB_STATE_FAILED,
    "cancelled": common_pb2.JOB_STATE_CANCELLED,
}
_STATE_NAMES = {value: name for name, value in _STATES.items()}
_AGGREGATES = {
    "last": metrics_pb2.METRICS_AGGREGATE_LAST,
    "min": metrics_pb2.METRICS_AGGREGATE_MIN,
    "max": metrics_pb2.METRICS_AGGREGATE_MAX,
    "mean": metrics_pb2.METRICS_AGGREGATE_MEAN,
}
_FIXED_COLUMNS = ("job_id", "stage", "state")


@dataclass
class Submitted:
    """What submit() returns. sweep_id is 0 for a dry run."""

    sweep_id: int
    name: str
    already_existed: bool
    jobs: int
    # (stage, kind, jobs, groups) per stage.
    stages: list = field(default_factory=list)


def _pandas():
    try:
        import pandas
    except ImportError as error:  # pragma: no cover - Debian's python3-pandas is a dependency
        raise ImportError("expsvc tables need pandas (Debian: python3-pandas)") from error
    return pandas


def _param_cell(value):
    """A parameter as a table cell: scalars as they are, lists and objects as compact JSON."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return value


def _check_id(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


class Client:
    """A connection to the scheduler with a user token.

    addr: "host:port" or a replica list "host:port,host:port" (default
    $EXPSVC_ADDR, else 127.0.0.1:50051). token: default $EXPSVC_TOKEN.
    tls_ca: CA bundle for a TLS scheduler (default $EXPSVC_TLS_CA).
    timeout: seconds per call (streams excepted).
    """

    def __init__(self, addr=None, token=None, *, tls_ca=None, timeout=60.0):
        self.address = addr or default_address()
        token = token or os.environ.get("EXPSVC_TOKEN", "")
        if not token:
            raise ValueError("no token: pass token= or set EXPSVC_TOKEN (expsvc-scheduler create-token --role=user)")
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout
        self._channel = open_channel(self.address, tls_ca or os.environ.get("EXPSVC_TLS_CA") or None)
        self._sweeps = sweeps_pb2_grpc.SweepServiceStub(self._channel)
        self._jobs = jobs_pb2_grpc.JobServiceStub(self._channel)
        self._metrics = metrics_pb2_grpc.MetricsServiceStub(self._channel)
        self._artifacts = artifacts_pb2_grpc.ArtifactServiceStub(self._channel)
        self._workers = workers_pb2_grpc.WorkerServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, name):
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error, name) from None

    # Sweeps -----------------------------------------------------------------

    def submit(self, sweep, *, dry_run=False, idempotency_key=""):
        """Submits a sweep: a path to its YAML file, YAML text, or a dict.

        In a file, "{sweep_dir}" is replaced by the file's absolute folder, so
        a sweep can name scripts beside it. dry_run: the scheduler checks and
        expands the sweep and stores nothing.
        """
        file_name = "sweep.yaml"
        if isinstance(sweep, dict):
            # JSON is YAML.
            spec = json.dumps(sweep)
        elif isinstance(sweep, Path) or (isinstance(sweep, str) and "\n" not in sweep
                                         and (sweep.endswith((".yaml", ".yml")) or os.path.isfile(sweep))):
            path = Path(sweep)
            try:
                spec = path.read_text()
            except OSError as error:
                raise ExpsvcError(grpc.StatusCode.INVALID_ARGUMENT, f"cannot read sweep file {path}: {error}") from None
            spec = spec.replace("{sweep_dir}", str(path.resolve().parent))
            file_name = path.name
        elif isinstance(sweep, str):
            spec = sweep
        else:
            raise TypeError(f"submit() takes a path, YAML text or a dict, not {type(sweep).__name__}")
        request = sweeps_pb2.SubmitSweepRequest(
            spec_yaml=spec, file_name=file_name, idempotency_key=idempotency_key, dry_run=dry_run)
        response = self._call(self._sweeps.SubmitSweep, request, "SubmitSweep")
        return Submitted(
            sweep_id=response.sweep.id,
            name=response.sweep.name,
            already_existed=response.already_existed,
            jobs=sum(stage.jobs for stage in response.stages),
            stages=[(s.stage, s.kind, s.jobs, s.groups) for s in response.stages],
        )

    def sweep(self, sweep_id):
        """One sweep as a dict (counts per state included)."""
        _check_id(sweep_id, "sweep id")
        response = self._call(self._sweeps.GetSweep, sweeps_pb2.GetSweepRequest(sweep_id=sweep_id), "GetSweep")
        return self._sweep_dict(response.sweep)

    def sweeps(self, limit=50):
        """The newest sweeps, one row each, with job counts per state."""
        response = self._call(self._sweeps.ListSweeps, sweeps_pb2.ListSweepsRequest(limit=limit), "ListSweeps")
        return _pandas().DataFrame(
            [self._sweep_dict(s) for s in response.sweeps],
            columns=["sweep_id", "name", "state", "total", "waiting", "queued", "running", "succeeded", "failed",
                     "cancelled", "groups", "created_at_ms", "finished_at_ms"])

    @staticmethod
    def _sweep_dict(sweep):
        counts = sweep.counts
        return {
            "sweep_id": sweep.id, "name": sweep.name, "state": sweep.state, "total": counts.total,
            "waiting": counts.waiting, "queued": counts.queued, "running": counts.running,
            "succeeded": counts.succeeded, "failed": counts.failed, "cancelled": counts.cancelled,
            "groups": sweep.groups, "created_at_ms": sweep.created_at_ms, "finished_at_ms": sweep.finished_at_ms,
        }

    def cancel(self, sweep_id, reason=""):
        """Cancels every unfinished job of the sweep; returns how many."""
        _check_id(sweep_id, "sweep id")
        request = sweeps_pb2.CancelSweepRequest(sweep_id=sweep_id, reason=reason)
        return self._call(self._sweeps.CancelSweep, request, "CancelSweep").cancelled_jobs

    def watch(self, sweep_id, *, progress=True, poll_interval_ms=500):
        """Follows the sweep until it ends and returns its final dict.

        progress: a tqdm bar of finished jobs (on stderr); False for none.
        """
        _check_id(sweep_id, "sweep id")
        bar = None
        last = None
        request = sweeps_pb2.WatchSweepRequest(sweep_id=sweep_id, poll_interval_ms=poll_interval_ms)
        try:
            for update in self._sweeps.WatchSweep(request, metadata=self._metadata):
                last = self._sweep_dict(update.sweep)
                done = last["succeeded"] + last["failed"] + last["cancelled"]
                if progress and bar is None:
                    from tqdm import tqdm
                    bar = tqdm(total=last["total"], desc=f"sweep {sweep_id}", unit="job")
                if bar is not None:
                    bar.n = done
                    bar.set_postfix(running=last["running"], failed=last["failed"], refresh=False)
                    bar.refresh()
        except grpc.RpcError as error:
            raise from_rpc_error(error, "WatchSweep") from None
        finally:
            if bar is not None:
                bar.close()
        return last if last is not None else self.sweep(sweep_id)

    # Jobs -------------------------------------------------------------------

    def jobs(self, sweep_id, *, state=None, kind=None, params=None, all_params=False):
        """The sweep's jobs, one row each: id, stage, kind, state, attempt,
        worker, error, then their parameters as columns.

        state: a name or list of names (queued, running, ...); params: a dict
        the jobs' parameters must contain.
        """
        _check_id(sweep_id, "sweep id")
        states = [state] if isinstance(state, str) else list(state or [])
        unknown = [s for s in states if s not in _STATES]
        if unknown:
            raise ValueError(f"unknown job state {unknown[0]!r}; one of {', '.join(_STATES)}")
        rows, after_id = [], 0
        while True:
            request = jobs_pb2.ListJobsRequest(
                sweep_id=sweep_id, states=[_STATES[s] for s in states], kind=kind or "",
                params_filter_json=json.dumps(params) if params else "", limit=1000, after_id=after_id)
            page = self._call(self._jobs.ListJobs, request, "ListJobs").jobs
            for job in page:
                rows.append({
                    "job_id": job.id, "stage": job.stage, "kind": job.kind, "state": _STATE_NAMES.get(job.state, "?"),
                    "attempt": job.attempt, "max_attempts": job.max_attempts, "worker_id": job.worker_id,
                    "group_key": job.group_key, "error": job.error, "parents": list(job.parent_ids),
                    "params": json.loads(job.params_json) if job.params_json else {},
                })
            if len(page) < 1000:
                break
            after_id = page[-1].id
        for row in rows:
            row["values"] = {}
        return self._with_param_columns(rows, ["job_id", "stage", "kind", "state", "attempt", "max_attempts",
                                               "worker_id", "group_key", "error", "parents"], [], all_params)

    def job(self, job_id):
        """One job as a dict: its fields, params (a dict) and times in ms."""
        _check_id(job_id, "job id")
        job = self._call(self._jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job_id), "GetJob").job
        return {
            "job_id": job.id, "sweep_id": job.sweep_id, "stage": job.stage, "kind": job.kind,
            "state": _STATE_NAMES.get(job.state, "?"), "attempt": job.attempt, "max_attempts": job.max_attempts,
            "worker_id": job.worker_id, "group_key": job.group_key, "error": job.error,
            "params": json.loads(job.params_json) if job.params_json else {}, "parents": list(job.parent_ids),
            "created_at_ms": job.created_at_ms, "started_at_ms": job.started_at_ms,
            "finished_at_ms": job.finished_at_ms,
        }

    def logs(self, job_id, *, after_seq=0, limit=1000):
        """A job's log lines (all attempts) as (seq, attempt, time_ms, line) tuples."""
        _check_id(job_id, "job id")
        request = jobs_pb2.GetJobLogsRequest(job_id=job_id, after_seq=after_seq, limit=limit)
        return [(l.seq, l.attempt, l.time_ms, l.line) for l in self._call(self._jobs.GetJobLogs, request, "GetJobLogs").lines]

    # Metrics ----------------------------------------------------------------

    def metrics(self, sweep_id=None, *, keys=None, series=False, params=None, aggregate="last", jobs=None,
                all_params=False):
        """Metrics as a DataFrame.

        Table (default): one row per job, as `expctl metrics --format csv`:
        job_id, stage, state, the parameters that differ between rows (all
        with all_params=True), then one column per key reduced by
        `aggregate` (last, min, max or mean).
        series=True: every point, columns job_id, key, step, value.
        """
        if sweep_id is None and not jobs:
            raise ValueError("metrics(): give a sweep id or jobs=[...]")
        if aggregate not in _AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(_AGGREGATES)}, got {aggregate!r}")
        keys = [keys] if isinstance(keys, str) else list(keys or [])
        request = metrics_pb2.QueryMetricsRequest(
            sweep_id=_check_id(sweep_id, "sweep id") if sweep_id is not None else 0,
            job_ids=list(jobs or []), keys=keys, params_filter_json=json.dumps(params) if params else "",
            shape=metrics_pb2.METRICS_SHAPE_SERIES if series else metrics_pb2.METRICS_SHAPE_TABLE,
            aggregate=_AGGREGATES[aggregate])
        response = self._call(self._metrics.QueryMetrics, request, "QueryMetrics")
        pandas = _pandas()
        if series:
            points = [(s.job_id, s.key, p.step, p.value) for s in response.series for p in s.points]
            points.sort(key=lambda point: point[:3])
            return pandas.DataFrame(points, columns=["job_id", "key", "step", "value"])
        key_columns = keys or list(response.keys) or sorted({k for row in response.rows for k in row.values})
        rows = []
        for row in response.rows:
            values = {key: (row.values[key] if key in row.values else None) for key in key_columns}
            rows.append({"job_id": row.job_id, "stage": row.stage, "state": row.state,
                         "params": json.loads(row.params_json) if row.params_json else {}, "values": values})
        rows.sort(key=lambda r: r["job_id"])
        frame = self._with_param_columns(rows, list(_FIXED_COLUMNS), key_columns, all_params)
        first_key = len(frame.columns) - len(key_columns)
        for position in range(first_key, len(frame.columns)):
            frame.isetitem(position, pandas.to_numeric(frame.iloc[:, position]))
        return frame

    @staticmethod
    def _with_param_columns(rows, fixed, key_columns, all_params):
        """Rows with a "params" dict (and "values") as a DataFrame with one
        column per parameter: those that differ between rows unless
        all_params (all of them when there is a single row). A parameter
        named like a fixed or key column is shown as "param.NAME"."""
        all_names = sorted({name for row in rows for name in row["params"]})
        if all_params or len(rows) <= 1:
            shown = all_names
        else:
            absent = object()
            shown = [name for name in all_names
                     if len({json.dumps(row["params"].get(name, absent), sort_keys=True, default=str)
                             for row in rows}) > 1]
        header = {name: (f"param.{name}" if name in fixed or name in _FIXED_COLUMNS or name in key_columns else name)
                  for name in shown}
        # Lists, not dicts: a metric key may be named like a fixed column
        # ("state"), and then both columns are kept, as in expctl's CSV.
        records = []
        for row in rows:
            record = [row[column] for column in fixed]
            record += [_param_cell(row["params"][name]) if name in row["params"] else None for name in shown]
            record += [row["values"][key] for key in key_columns]
            records.append(record)
        columns = list(fixed) + [header[name] for name in shown] + list(key_columns)
        return _pandas().DataFrame(records, columns=columns)

    # Artifacts ---------------------------------------------------------------

    def artifacts(self, sweep_id=None, *, job=None):
        """Artifacts of a sweep or of one job: id, job_id, name, size_bytes, sha256, attempt, created_at_ms."""
        if sweep_id is None and job is None:
            raise ValueError("artifacts(): give a sweep id or job=")
        request = artifacts_pb2.ListArtifactsRequest(
            sweep_id=_check_id(sweep_id, "sweep id") if sweep_id is not None else 0,
            job_id=_check_id(job, "job id") if job is not None else 0)
        response = self._call(self._artifacts.ListArtifacts, request, "ListArtifacts")
        return _pandas().DataFrame(
            [(a.id, a.job_id, a.name, a.size_bytes, a.sha256, a.attempt, a.created_at_ms) for a in response.artifacts],
            columns=["artifact_id", "job_id", "name", "size_bytes", "sha256", "attempt", "created_at_ms"])

    def download(self, artifact_id, destination="."):
        """Downloads an artifact into a folder (named as the artifact) or to a
        file path; the SHA-256 is checked, and a partial file never stays."""
        artifact_id = _check_id(int(artifact_id), "artifact id")
        as_folder = str(destination).endswith(os.sep) or Path(destination).is_dir()
        destination = Path(destination)
        if as_folder:
            destination.mkdir(parents=True, exist_ok=True)
        elif not destination.parent.is_dir():
            raise ExpsvcError(grpc.StatusCode.INVALID_ARGUMENT, f"download: folder {destination.parent} does not exist")
        request = artifacts_pb2.DownloadArtifactRequest(artifact_id=artifact_id)
        header, digest, temporary = None, hashlib.sha256(), None
        try:
            for part in self._artifacts.DownloadArtifact(request, metadata=self._metadata):
                if part.HasField("artifact"):
                    header = part.artifact
                    target = destination / header.name if as_folder else destination
                    temporary = target.with_name(target.name + ".part")
                    handle = open(temporary, "wb")
                else:
                    if header is None:
                        raise ExpsvcError(grpc.StatusCode.DATA_LOSS, "download began without its header")
                    digest.update(part.chunk)
                    handle.write(part.chunk)
            if header is None:
                raise ExpsvcError(grpc.StatusCode.DATA_LOSS, f"artifact {artifact_id}: empty download")
            handle.close()
            if digest.hexdigest() != header.sha256:
                raise ExpsvcError(grpc.StatusCode.DATA_LOSS,
                                  f"artifact {header.name}: checksum mismatch ({digest.hexdigest()} != {header.sha256})")
            os.replace(temporary, target)
            temporary = None
            return target
        except grpc.RpcError as error:
            raise from_rpc_error(error, "DownloadArtifact") from None
        finally:
            if temporary is not None:
                try:
                    handle.close()
                except Exception:
                    pass
                temporary.unlink(missing_ok=True)

    # Workers ----------------------------------------------------------------

    def workers(self, include_offline=False):
        """Registered workers: id, name, hostname, online, running_jobs, kinds, slots."""
        request = workers_pb2.ListWorkersRequest(include_offline=include_offline)
        response = self._call(self._workers.ListWorkers, request, "ListWorkers")
        return _pandas().DataFrame(
            [(w.worker_id, w.name, w.hostname, w.online, w.running_jobs, list(w.capabilities.kinds),
              w.capabilities.slots, w.last_seen_at_ms) for w in response.workers],
            columns=["worker_id", "name", "hostname", "online", "running_jobs", "kinds", "slots", "last_seen_at_ms"])
