#!/usr/bin/env bash
# Workers launched by Slurm on demand, for real: a single-node Slurm cluster
# from Debian's packages (munged, slurmctld, slurmd on free ports in a
# temporary folder), a private expsvc stack without a local worker, and
# deploy/slurm/expsvc-autoscaler submitting deploy/slurm/expsvc-worker.sbatch.
# Asserts: workers appear as Slurm jobs when a sweep is queued; a worker
# scancelled mid-job drains and its job finishes on another worker; every
# job succeeds; the workers are cancelled once the queue stays empty.
#   slurm_e2e_test.sh REPO BUILD_DIR       exit 0 ok, 1 failure, 77 skipped
set -uo pipefail
repo="$(cd "$1" && pwd)"
build="$(cd "$2" && pwd)"
for program in munged slurmctld slurmd sbatch squeue scancel; do
  command -v "$program" > /dev/null || { echo "SKIP: no $program (scripts/install-deps installs slurm-wlm and munge)"; exit 77; }
done
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: a private Slurm cluster runs its daemons as root here"; exit 77; fi

dir="$(mktemp -d /tmp/expsvc-slurm-XXXXXX)"
chmod 755 "$dir"
mkdir -p "$dir"/{munge,state,spool,log,run,home}
failures=0
check() { if eval "$1"; then echo "ok    $2"; else echo "FAIL  $2"; failures=$((failures + 1)); fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() {
  [ -n "${autoscaler:-}" ] && kill "$autoscaler" 2> /dev/null
  scancel --name=expsvc-worker 2> /dev/null
  sleep 1
  for pid_file in "$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2> /dev/null
  done
  EXPSVC_HOME="$dir/home" "$repo/deploy/local/stack" reset > /dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT

# Munge and a one-node cluster (several workers may share the node).
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none && chmod 400 "$dir/munge/munge.key"
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" --pid-file="$dir/munge/munged.pid" \
  --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" || { echo "FAIL  munged did not start"; exit 1; }
host="$(hostname -s)"
cpus="$(nproc)"
cat > "$dir/slurm.conf" <<CONF
ClusterName=expsvc-e2e
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=e2e Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF" && slurmd -f "$SLURM_CONF" || { echo "FAIL  the Slurm daemons did not start"; exit 1; }
for _ in $(seq 60); do sinfo --noheader -o %T 2> /dev/null | grep -q idle && break; sleep 0.5; done
check 'sinfo --noheader -o %T | grep -q idle' "a one-node Slurm cluster is up ($host, $cpus CPUs)"

# The expsvc stack, with no worker of its own.
export EXPSVC_HOME="$dir/home" EXPSVC_BUILD="$build" EXPSVC_WORKER_SLOTS=0
"$repo/deploy/local/stack" up > "$dir/stack.log" 2>&1 || { cat "$dir/stack.log"; echo "FAIL  the stack did not start"; exit 1; }
# shellcheck disable=SC1091
source "$dir/home/stack.env"
expctl="$build/client/expctl"

PYTHONPATH="$build/python" EXPSVC_TOKEN_FILE="$dir/home/worker.token" EXPSVC_WORKER="$build/worker/expsvc-worker" \
  EXPSVC_WORKER_FLAGS="--lease_wait_ms=300 --drain_timeout_ms=1500" \
  /usr/bin/python3 "$repo/deploy/slurm/expsvc-autoscaler" --batch-script "$repo/deploy/slurm/expsvc-worker.sbatch" \
    --max-nodes 2 --idle-timeout 6 --interval 1 \
    --sbatch-arg=--output="$dir/log/worker-%j.log" --sbatch-arg=--cpus-per-task=1 > "$dir/log/autoscaler.log" 2>&1 &
autoscaler=$!
# How many worker jobs Slurm holds, sampled while the test runs.
( while kill -0 "$autoscaler" 2> /dev/null; do
    squeue --noheader --name=expsvc-worker 2> /dev/null | wc -l >> "$dir/worker-counts"; sleep 0.3
  done ) &

cat > "$dir/sweep.yaml" <<'YAML'
name: slurm-e2e
stages:
  - name: train
    kind: sleep
    params: {seconds: 4, steps: 8, checkpoint_every: 2}
    grid: {i: [1, 2, 3, 4, 5, 6]}
    max_attempts: 3
YAML
sweep="$("$expctl" submit "$dir/sweep.yaml" | awk '/^sweep / {print $2; exit}')"
check '[ -n "$sweep" ]' "sweep $sweep submitted (6 jobs of about 4 s)"

# Workers appear as Slurm jobs.
for _ in $(seq 60); do [ "$(squeue --noheader --name=expsvc-worker -t RUNNING | wc -l)" -ge 1 ] && break; sleep 0.5; done
check '[ "$(squeue --noheader --name=expsvc-worker -t RUNNING | wc -l)" -ge 1 ]' \
  "workers run as Slurm jobs: $(squeue --noheader --name=expsvc-worker -o '%i:%T' | tr '\n' ' ')"

# A worker scancelled mid-job: find a running job and the Slurm job of its worker.
victim_job="" victim_slurm=""
for _ in $(seq 60); do
  read -r victim_job victim_slurm < <(/usr/bin/python3 - "$expctl" "$sweep" <<'PY'
import json, subprocess, sys
expctl, sweep = sys.argv[1], sys.argv[2]
jobs = json.loads(subprocess.run([expctl, "ls", "jobs", "--sweep", sweep, "--state", "running", "--output", "json"],
                                 capture_output=True, text=True).stdout or "[]")
workers = json.loads(subprocess.run([expctl, "workers", "--output", "json"], capture_output=True, text=True).stdout or "[]")
jobs = jobs.get("jobs", jobs) if isinstance(jobs, dict) else jobs
workers = workers.get("workers", workers) if isinstance(workers, dict) else workers
names = {w.get("id"): w.get("name", "") for w in workers}
for job in jobs:
    name = names.get(job.get("worker_id"), "")
    if name.startswith("slurm-"):
        print(job["id"], name.split("-")[1])
        break
PY
  )
  [ -n "$victim_slurm" ] && break
  sleep 0.5
done
check '[ -n "$victim_slurm" ]' "job $victim_job runs on the worker of Slurm job $victim_slurm"
if [ -n "$victim_slurm" ]; then scancel "$victim_slurm"; fi

# Every job succeeds, the cancelled worker's job on another worker.
timeout 240 "$expctl" watch "$sweep" > "$dir/watch.log" 2>&1
check '"$expctl" status "$sweep" | grep -q succeeded' "the sweep succeeded: $("$expctl" status "$sweep" 2> /dev/null | head -1)"
succeeded="$("$expctl" ls jobs --sweep "$sweep" --state succeeded | awk '$1 ~ /^[0-9]+$/' | wc -l)"
check '[ "$succeeded" -eq 6 ]' "$succeeded of 6 jobs succeeded"
if [ -n "$victim_job" ]; then
  final_worker="$("$expctl" ls jobs --sweep "$sweep" --output json | /usr/bin/python3 -c '
import json, sys
print(next(j["worker_id"] for j in json.load(sys.stdin) if j["id"] == int(sys.argv[1])))' "$victim_job")"
  victim_worker="$("$expctl" workers --all --output json | /usr/bin/python3 -c '
import json, sys
print(next((w["id"] for w in json.load(sys.stdin) if w["name"].startswith("slurm-" + sys.argv[1] + "-")), ""))' "$victim_slurm")"
  check '[ -n "$final_worker" ] && [ "$final_worker" != "$victim_worker" ]' \
    "job $victim_job finished on another worker ($final_worker, not $victim_worker)"
  check 'grep -q "draining" "$dir/log/worker-$victim_slurm.log" && ! grep -q "second signal" "$dir/log/worker-$victim_slurm.log"' \
    "the cancelled worker drained on one SIGTERM (its Slurm log says so)"
fi

# The queue is empty: after the idle timeout the autoscaler cancels the workers.
for _ in $(seq 60); do [ "$(squeue --noheader --name=expsvc-worker | wc -l)" -eq 0 ] && break; sleep 0.5; done
check '[ "$(squeue --noheader --name=expsvc-worker | wc -l)" -eq 0 ]' "the workers went away once nothing was queued"
check 'grep -q "cancelling worker jobs" "$dir/log/autoscaler.log"' "the autoscaler cancelled them (idle timeout)"
submitted="$(grep -c "submitted worker job" "$dir/log/autoscaler.log")"
most="$(sort -n "$dir/worker-counts" | tail -1)"
check '[ "$submitted" -ge 2 ] && [ "${most:-0}" -ge 1 ] && [ "${most:-0}" -le 2 ]' \
  "the autoscaler submitted $submitted worker job(s); Slurm held at most ${most:-0} at once (--max-nodes 2)"

if [ "$failures" -gt 0 ]; then
  echo "--- autoscaler log"; cat "$dir/log/autoscaler.log"
  echo "--- worker logs"; tail -n 20 "$dir"/log/worker-*.log
  echo "--- slurmctld log"; tail -n 20 "$dir/log/slurmctld.log"
  exit 1
fi
echo "ok: Slurm workers on demand"
