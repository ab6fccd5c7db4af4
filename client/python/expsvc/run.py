"""expsvc.run: the API of a program running as a `command` job.

    from expsvc import run
    lr = run.params["lr"]
    for step in range(start, steps):
        ...
        run.log("loss", loss, step)          # batched, sent in the background
        if run.should_stop():                # cancelled, or the worker drains
            save_checkpoint(run.outputs_dir / "ckpt.pt"); break
    run.save_artifact(run.outputs_dir / "model.pt")

The worker starts the program with EXPSVC_ADDR and EXPSVC_JOB_TOKEN, a token
valid for this job's current lease only: every write here carries the lease,
and once it is gone (cancelled, taken over, finished) the scheduler refuses
them and should_stop() turns true. Outside a job (no EXPSVC_JOB_TOKEN) log()
prints the metric line a worker would read (`{"step": 3, "loss": 0.5}`) and
save_artifact() only checks the file exists, so a script runs the same by hand.
"""

import atexit
import hashlib
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import grpc

from expsvc._channel import open_channel
from expsvc.errors import ExpsvcError, from_rpc_error

_MAX_KEY = 200
_MAX_BATCH = 1000
_FLUSH_SECONDS = float(os.environ.get("EXPSVC_FLUSH_SECONDS", "0.5"))
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL}


def in_job():
    """True inside a `command` job (the worker set EXPSVC_JOB_TOKEN)."""
    return bool(os.environ.get("EXPSVC_JOB_TOKEN"))


def _load_params():
    path = os.environ.get("EXPSVC_PARAMS_FILE")
    if not path:
        return {}
    with open(path) as handle:
        return json.load(handle)


params = _load_params()
job_id = int(os.environ.get("EXPSVC_JOB_ID", "0"))
sweep_id = int(os.environ.get("EXPSVC_SWEEP_ID", "0"))
attempt = int(os.environ.get("EXPSVC_ATTEMPT", "1"))
outputs_dir = Path(os.environ.get("EXPSVC_OUTPUTS_DIR", "outputs"))


# In a job, SIGTERM (cancel, or the worker draining) becomes should_stop():
# the program has grace_seconds to save and return before SIGKILL.
_stop_signal = threading.Event()


def _on_stop_signal(signum, frame):
    _stop_signal.set()


if in_job() and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_stop_signal)


class LeaseLost(ExpsvcError):
    """The job's lease is gone: nothing more it writes is accepted."""


class _Session:
    """The job's connection: a buffer of points and the thread that sends them."""

    def __init__(self):
        from expsvc.v1 import workers_pb2, workers_pb2_grpc

        self._pb = workers_pb2
        self._channel = open_channel(os.environ["EXPSVC_ADDR"], os.environ.get("EXPSVC_TLS_CA") or None)
        self._stub = workers_pb2_grpc.WorkerServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {os.environ['EXPSVC_JOB_TOKEN']}"),)
        self._lease = workers_pb2.JobLease(job_id=job_id, epoch=int(os.environ.get("EXPSVC_LEASE_EPOCH", "0")))
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._points = {}
        self._wake = threading.Event()
        self._closed = False
        self.lost = None
        self.sent = 0
        # A replace_after_step whose request failed: sent with the next batch.
        self._pending_replace = None
        self._thread = threading.Thread(target=self._loop, name="expsvc-metrics", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def add(self, key, step, value):
        if self.lost is not None:
            raise self.lost
        with self._lock:
            self._points[(key, step)] = value
            full = len(self._points) >= _MAX_BATCH
        if self._closed:
            # Logged by an atexit handler after ours: no background thread any more.
            self.flush()
        elif full:
            self._wake.set()

    def _loop(self):
        while not self._closed:
            self._wake.wait(_FLUSH_SECONDS)
            self._wake.clear()
            try:
                self.flush()
            except ExpsvcError as error:
                if self.lost is None:
                    print(f"expsvc: sending metrics failed: {error}", file=sys.stderr)

    def _code_unless_lease_lost(self, error, name):
        """The call's status code; raises LeaseLost (and drops the buffer)
        when the scheduler says the lease is gone or not this token's."""
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
            self.lost = LeaseLost(code, error.details() or "", name)
            with self._lock:
                self._points.clear()
            raise self.lost from None
        return code

    def _rpc(self, method, request, name):
        """Calls with retries on transient errors (about a minute in all)."""
        delay = 0.1
        deadline = time.monotonic() + 60
        while True:
            try:
                return method(request, metadata=self._metadata, timeout=30)
            except grpc.RpcError as error:
                code = self._code_unless_lease_lost(error, name)
                if code not in _RETRYABLE or time.monotonic() > deadline:
                    raise from_rpc_error(error, name) from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def flush(self, replace_after_step=None):
        with self._send_lock:
            if self.lost is not None:
                raise self.lost
            if replace_after_step is None and self._pending_replace is not None:
                replace_after_step = self._pending_replace
            self._pending_replace = None
            while True:
                with self._lock:
                    # The oldest points first (dicts keep insertion order);
                    # islice, not a copy of the whole buffer per batch.
                    batch = list(itertools.islice(self._points.items(), _MAX_BATCH))
                    for item_key, _ in batch:
                        del self._points[item_key]
                if not batch and replace_after_step is None:
                    return
                request = self._pb.ReportMetricsRequest(lease=self._lease)
                add = request.points.add
                for (key, step), value in batch:
                    add(key=key, step=step, value=value)
                if replace_after_step is not None:
                    request.has_replace_after_step = True
                    request.replace_after_step = replace_after_step
                    replace_after_step = None
                try:
                    self._rpc(self._stub.ReportMetrics, request, "ReportMetrics")
                except ExpsvcError:
                    if self.lost is None:
                        # Not sent: keep the points (newer values of a key win)
                        # and the replace for the next try.
                        with self._lock:
                            for item_key, value in batch:
                                self._points.setdefault(item_key, value)
                        if request.has_replace_after_step:
                            self._pending_replace = request.replace_after_step
                    raise
                self.sent += len(batch)

    def upload(self, path, name):
        self.flush()
        size = path.stat().st_size
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        header = self._pb.ArtifactHeader(lease=self._lease, name=name, size_bytes=size, sha256=digest.hexdigest())

        def messages():
            yield self._pb.UploadArtifactRequest(header=header)
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    yield self._pb.UploadArtifactRequest(chunk=block)

        # A stream cannot be replayed by _rpc, so it is retried whole here.
        delay = 0.1
        for _ in range(8):
            try:
                return self._stub.UploadArtifact(messages(), metadata=self._metadata, timeout=600).artifact
            except grpc.RpcError as error:
                code = self._code_unless_lease_lost(error, "UploadArtifact")
                if code not in _RETRYABLE:
                    raise from_rpc_error(error, "UploadArtifact") from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise ExpsvcError(grpc.StatusCode.UNAVAILABLE, f"uploading {name} failed after 8 tries", "UploadArtifact")

    def close(self):
        if self._closed:
            return
        try:
            self.flush()
        except ExpsvcError as error:
            if self.lost is None:
                print(f"expsvc: the last metrics were not sent: {error}", file=sys.stderr)
        self._closed = True
        self._wake.set()


_session = None
_session_lock = threading.Lock()


def _get_session():
    global _session
    with _session_lock:
        if _session is None:
            _session = _Session()
        return _session


def _check_point(key, value, step):
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
        raise ValueError(f"metric key must be a non-empty string of at most {_MAX_KEY} characters, got {key!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"metric step must be a non-negative integer, got {step!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"metric {key!r} at step {step}: value {value} is not finite")
    return value


def log(key, value, step):
    """Records metric `key` = `value` at `step` (later values of the same key
    and step replace earlier ones). Sent in batches in the background."""
    value = _check_point(key, value, step)
    if not in_job():
        print(json.dumps({"step": step, key: value}), flush=True)
        return
    _get_session().add(key, step, value)


def log_dict(values, step):
    """log() for every key of a dict, at one step."""
    checked = {key: _check_point(key, value, step) for key, value in values.items()}
    if not in_job():
        print(json.dumps({"step": step, **checked}), flush=True)
        return
    session = _get_session()
    for key, value in checked.items():
        session.add(key, step, value)


def flush():
    """Sends what log() buffered now; raises ExpsvcError if it cannot."""
    if in_job():
        _get_session().flush()


def resume_from(step):
    """After resuming from a checkpoint taken at `step`: drops this job's
    points after it (they are about to be logged again)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    if in_job():
        _get_session().flush(replace_after_step=step)


def should_stop():
    """True once the job was cancelled, its worker is draining (a new lease
    will resume it from outputs/), or its lease is gone: save and return."""
    if _stop_signal.is_set():
        return True
    stop_file = os.environ.get("EXPSVC_STOP_FILE")
    if stop_file and os.path.exists(stop_file):
        return True
    return _session is not None and _session.lost is not None


def save_artifact(path, name=None):
    """Stores a file as an artifact of this job now (name: its file name),
    after sending the metrics logged before it. Files left in outputs/ are
    stored anyway when the program ends; this is for checkpoints that must
    survive the worker itself dying."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"save_artifact: {path} is not a file")
    name = name or path.name
    if not in_job():
        return None
    return _get_session().upload(path, name)
