#!/usr/bin/env python3
"""Several hosts on one machine, for real: network namespaces made by this test,
joined by a bridge, each with its own address in 127.20.0.0/24 (loopback range,
so nothing can leak onto a real network):

    db  127.20.0.10  PostgreSQL
    s1  127.20.0.11  scheduler replica      w1..w3  127.20.0.21-23  workers (2 slots)
    s2  127.20.0.12  scheduler replica      client  127.20.0.30     expctl, psql
    wan 127.20.0.40  (only where the kernel has no netem) a relay adding latency

gRPC runs over TLS with certificates made here. Faults, each with its expected
outcome asserted:
  1. a worker's link is cut mid-job: its lease expires, the job is rescued on
     another worker; when the link returns, its late writes are refused by the
     lease epoch and the job completes once, under the rescuer's epoch;
  2. the database host is cut for 10 s: the schedulers answer UNAVAILABLE within
     seconds, recover by themselves, and nothing is lost;
  3. one replica is killed: workers and expctl fail over to the other;
  4. 100 ms more round trip between workers and schedulers (tc netem, or the
     relay where this kernel has no netem): throughput reported beside the
     same sweep without it.

  multihost_netns_test.py REPO BUILD_DIR     exit 0 ok, 1 failure, 77 skipped
"""

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SUBNET = "127.20.0"
HOSTS = {"db": 10, "s1": 11, "s2": 12, "w1": 21, "w2": 22, "w3": 23, "client": 30, "wan": 40}
WORKERS = ("w1", "w2", "w3")
GRPC_PORT = 50051
PG_PORT = 5432
LEASE_TTL_MS = 3000
WORKER_SLOTS = 2
ADDED_RTT_MS = 100


def ip(host):
    return f"{SUBNET}.{HOSTS[host]}"


# --- a delaying TCP relay (used in place of netem) ---------------------------

async def _pump(reader, writer, delay_s):
    """Copies one direction, holding every chunk `delay_s` from its arrival
    (order kept, chunks not serialised behind each other's delay)."""
    queue = asyncio.Queue()

    async def deliver():
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    delivering = asyncio.create_task(deliver())
    loop = asyncio.get_running_loop()
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            queue.put_nowait((loop.time() + delay_s, data))
    except ConnectionError:
        pass
    queue.put_nowait((0, None))
    try:
        await delivering
    except ConnectionError:
        pass


async def _relay(listen_host, routes, delay_s):
    async def serve(target, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer, delay_s), _pump(up_reader, writer, delay_s))

    servers = []
    for listen_port, target in routes:
        servers.append(await asyncio.start_server(
            lambda r, w, target=target: serve(target, r, w), listen_host, listen_port))
    print("relay ready", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def run_relay(argv):
    # --relay LISTEN_HOST DELAY_MS PORT=HOST:PORT ...
    listen_host, delay_ms = argv[0], float(argv[1])
    routes = []
    for route in argv[2:]:
        port, target = route.split("=")
        host, target_port = target.rsplit(":", 1)
        routes.append((int(port), (host, int(target_port))))
    asyncio.run(_relay(listen_host, routes, delay_ms / 2000.0))


# --- the test -----------------------------------------------------------------

class Failures:
    def __init__(self):
        self.count = 0

    def check(self, condition, what):
        print(("ok    " if condition else "FAIL  ") + what, flush=True)
        if not condition:
            self.count += 1
        return condition


class Net:
    """The namespaces, the bridge and the links."""

    def __init__(self):
        self.tag = secrets.token_hex(2)
        self.switch = f"exh{self.tag}-sw"
        self.made = []

    def ns(self, host):
        return f"exh{self.tag}-{host}"

    def port(self, host):
        return f"x{self.tag}{host}"  # the switch's side of the host's link (<= 15 characters)

    def run(self, *argv, check=True):
        return subprocess.run(list(argv), check=check, capture_output=True, text=True)

    def create(self):
        self.run("ip", "netns", "add", self.switch)
        self.made.append(self.switch)
        self.run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        self.run("ip", "-n", self.switch, "link", "set", "br0", "up")
        for host in HOSTS:
            ns = self.ns(host)
            self.run("ip", "netns", "add", ns)
            self.made.append(ns)
            peer = f"y{self.tag}{host}"
            self.run("ip", "link", "add", peer, "type", "veth", "peer", "name", self.port(host))
            self.run("ip", "link", "set", peer, "netns", ns)
            self.run("ip", "link", "set", self.port(host), "netns", self.switch)
            self.run("ip", "-n", ns, "link", "set", peer, "name", "eth0")
            self.run("ip", "-n", self.switch, "link", "set", self.port(host), "master", "br0", "up")
            # 127/8 on a real link is "martian" unless route_localnet allows it.
            for key in ("all", "eth0"):
                self.run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv4.conf.{key}.route_localnet=1")
            self.run("ip", "-n", ns, "addr", "add", f"{ip(host)}/24", "dev", "eth0")
            self.run("ip", "-n", ns, "link", "set", "lo", "up")
            self.run("ip", "-n", ns, "link", "set", "eth0", "up")

    def cut(self, host):
        self.run("ip", "-n", self.switch, "link", "set", self.port(host), "down")

    def restore(self, host):
        self.run("ip", "-n", self.switch, "link", "set", self.port(host), "up")

    def exec_argv(self, host, argv):
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def destroy(self):
        for ns in self.made:
            pids = self.run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        time.sleep(0.2)
        for ns in reversed(self.made):
            self.run("ip", "netns", "del", ns, check=False)


def can_reach(net, host, target_ip, port, timeout=1.0):
    probe = ("import socket,sys\n"
             f"s=socket.socket(); s.settimeout({timeout})\n"
             f"sys.exit(0 if s.connect_ex(('{target_ip}', {port})) == 0 else 1)\n")
    return subprocess.run(net.exec_argv(host, [sys.executable, "-c", probe]), capture_output=True).returncode == 0


class Cluster:
    def __init__(self, repo, build, net, directory):
        self.repo, self.build, self.net, self.dir = repo, build, net, directory
        self.processes = {}
        self.pg_bin = next((f"/usr/lib/postgresql/{v}/bin" for v in sorted(os.listdir("/usr/lib/postgresql"), reverse=True)
                            if os.path.exists(f"/usr/lib/postgresql/{v}/bin/initdb")), None)
        self.conninfo = f"host={ip('db')} port={PG_PORT} user=postgres dbname=expsvc"
        self.user_token = self.worker_token = ""
        self.scheduler_addresses = f"{ip('s1')}:{GRPC_PORT},{ip('s2')}:{GRPC_PORT}"
        self.worker_addresses = self.scheduler_addresses

    # PostgreSQL on its own host.
    def start_postgres(self):
        # Everything PostgreSQL writes lives in a folder its user owns.
        root = os.path.join(self.dir, "pg")
        os.makedirs(root)
        shutil.chown(root, "postgres")
        data = os.path.join(root, "data")
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.pg_bin}/initdb", "-D", data, "-A", "trust",
                        "-U", "postgres", "-E", "UTF8"], check=True, capture_output=True)
        with open(os.path.join(data, "pg_hba.conf"), "a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 trust\n")
        subprocess.run(self.net.exec_argv("db", [
            "runuser", "-u", "postgres", "--", f"{self.pg_bin}/pg_ctl", "-D", data, "-w", "-l",
            os.path.join(root, "postgres.log"), "-o",
            f"-p {PG_PORT} -k {root} -c listen_addresses={ip('db')}", "start"]), check=True, capture_output=True)
        self.psql("CREATE DATABASE expsvc", database="postgres")

    def psql(self, sql, database="expsvc"):
        out = subprocess.run(self.net.exec_argv("client", [
            "psql", "-X", "-q", "-tA", f"host={ip('db')} port={PG_PORT} user=postgres dbname={database}", "-c", sql]),
            capture_output=True, text=True, check=True, timeout=30)
        return out.stdout.strip()

    def scalar(self, sql):
        return int(self.psql(sql) or 0)

    def certificates(self):
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        subprocess.run(["openssl", "req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "2",
                        "-subj", "/CN=expsvc multi-host test CA"], check=True, capture_output=True)
        subprocess.run(["openssl", "req", *ec, "-keyout", f"{d}/scheduler.key", "-out", f"{d}/scheduler.csr",
                        "-subj", "/CN=expsvc-scheduler"], check=True, capture_output=True)
        with open(f"{d}/scheduler.ext", "w") as ext:
            names = ",".join(f"IP:{ip(h)}" for h in ("s1", "s2", "wan"))
            ext.write(f"subjectAltName={names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        subprocess.run(["openssl", "x509", "-req", "-in", f"{d}/scheduler.csr", "-CA", f"{d}/ca.pem", "-CAkey",
                        f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/scheduler.pem", "-days", "2", "-extfile",
                        f"{d}/scheduler.ext"], check=True, capture_output=True)

    def spawn(self, name, host, argv, env=None):
        log = open(os.path.join(self.dir, f"{name}.log"), "a")
        environment = dict(os.environ, **(env or {}))
        self.processes[name] = subprocess.Popen(self.net.exec_argv(host, argv), stdout=log, stderr=subprocess.STDOUT,
                                                env=environment, start_new_session=True)

    def stop(self, name, sig=signal.SIGTERM, wait_s=40):
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log(self, name):
        with open(os.path.join(self.dir, f"{name}.log"), errors="replace") as f:
            return f.read()

    def tokens(self):
        def create(role):
            out = subprocess.run(self.net.exec_argv("s1", [
                f"{self.build}/server/expsvc-scheduler", "create-token", f"--db={self.conninfo}", f"--role={role}",
                f"--name=multihost-{role}", f"--migrations_dir={self.repo}/migrations"]),
                capture_output=True, text=True, check=True)
            return out.stdout.strip().splitlines()[-1]
        self.user_token = create("user")
        self.worker_token = create("worker")

    def start_scheduler(self, host):
        self.spawn(host, host, [
            f"{self.build}/server/expsvc-scheduler", "serve", f"--db={self.conninfo}", f"--listen={ip(host)}:{GRPC_PORT}",
            f"--artifact_root={self.dir}/artifacts", f"--migrations_dir={self.repo}/migrations",
            f"--lease_ttl_ms={LEASE_TTL_MS}", "--retry_backoff_ms=100",
            f"--tls_cert={self.dir}/scheduler.pem", f"--tls_key={self.dir}/scheduler.key"])

    def start_worker(self, host):
        self.spawn(host, host, [
            f"{self.build}/worker/expsvc-worker", f"--scheduler={self.worker_addresses}", f"--tls_ca={self.dir}/ca.pem",
            f"--name={host}", f"--slots={WORKER_SLOTS}", f"--scratch_dir={self.dir}/scratch-{host}",
            "--drain_timeout_ms=5000"], env={"EXPSVC_TOKEN": self.worker_token})

    def expctl(self, *args, tls=True, timeout_s=10):
        argv = [f"{self.build}/client/expctl", "--addr", self.scheduler_addresses,
                "--timeout", str(timeout_s)]
        if tls:
            argv += ["--tls-ca", f"{self.dir}/ca.pem"]
        started = time.monotonic()
        out = subprocess.run(self.net.exec_argv("client", [*argv, *args]), capture_output=True, text=True,
                             env=dict(os.environ, EXPSVC_TOKEN=self.user_token), timeout=timeout_s * 4 + 30)
        return out.returncode, out.stdout + out.stderr, time.monotonic() - started

    def submit(self, name, stage_yaml):
        path = os.path.join(self.dir, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(f"name: {name}\nstages:\n{stage_yaml}")
        code, out, _ = self.expctl("submit", path)
        match = re.search(r"sweep (\d+) submitted", out)
        if code != 0 or match is None:
            raise RuntimeError(f"submit {name} failed: {out}")
        return int(match.group(1))

    def wait_sweep(self, sweep, deadline_s):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            left = self.scalar(f"SELECT count(*) FROM jobs WHERE sweep_id = {sweep} "
                               "AND state NOT IN ('succeeded', 'failed', 'cancelled')")
            if left == 0:
                return True
            time.sleep(0.1)
        return False

    def sweep_counts(self, sweep):
        rows = self.psql(f"SELECT state, count(*) FROM jobs WHERE sweep_id = {sweep} GROUP BY state")
        return dict((state, int(n)) for state, n in (line.split("|") for line in rows.splitlines() if line))


def sleep_stage(count, seconds, steps):
    return (f"  - name: work\n    kind: sleep\n    params: {{seconds: {seconds}, steps: {steps}}}\n"
            f"    grids:\n      - {{index: [{', '.join(str(i) for i in range(count))}]}}\n")


def noop_stage(count):
    return (f"  - name: work\n    kind: noop\n"
            f"    grids:\n      - {{index: [{', '.join(str(i) for i in range(count))}]}}\n")


def throughput(cluster, name, jobs):
    started = time.monotonic()
    sweep = cluster.submit(name, noop_stage(jobs))
    done = cluster.wait_sweep(sweep, 300)
    seconds = time.monotonic() - started
    return sweep, done, seconds


def has_netem(net):
    probe = net.run("ip", "netns", "exec", net.ns("client"), "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                    "delay", "1ms", check=False)
    if probe.returncode == 0:
        net.run("ip", "netns", "exec", net.ns("client"), "tc", "qdisc", "del", "dev", "lo", "root", check=False)
        return True
    return False


def main(repo, build):
    for program in ("ip", "openssl", "psql", "runuser"):
        if shutil.which(program) is None:
            print(f"SKIP: {program} is not installed (scripts/install-deps installs what this test needs)")
            return 77
    if os.geteuid() != 0:
        print("SKIP: making network namespaces needs root")
        return 77
    for binary in ("server/expsvc-scheduler", "worker/expsvc-worker", "client/expctl"):
        if not os.access(os.path.join(build, binary), os.X_OK):
            print(f"FAIL  {build}/{binary} is missing (build first)")
            return 1
    probe = subprocess.run(["ip", "netns", "add", f"exh-probe-{os.getpid()}"], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"SKIP: this machine does not allow network namespaces: {probe.stderr.strip()}")
        return 77
    subprocess.run(["ip", "netns", "del", f"exh-probe-{os.getpid()}"], capture_output=True)

    # ctest's timeout and ^C: leave through `finally`, which removes the namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    f = Failures()
    directory = tempfile.mkdtemp(prefix="expsvc-multihost-")
    os.chmod(directory, 0o755)
    net = Net()
    cluster = Cluster(repo, build, net, directory)
    results = {}
    try:
        net.create()
        cluster.certificates()
        cluster.start_postgres()
        cluster.tokens()
        for host in ("s1", "s2"):
            cluster.start_scheduler(host)
        for host in ("s1", "s2"):
            for _ in range(100):
                if can_reach(net, "client", ip(host), GRPC_PORT):
                    break
                time.sleep(0.1)
        for host in WORKERS:
            cluster.start_worker(host)
        registered = lambda: cluster.scalar("SELECT count(*) FROM workers") >= len(WORKERS)
        for _ in range(200):
            if registered():
                break
            time.sleep(0.1)
        f.check(registered(), f"7 hosts up: PostgreSQL on {ip('db')}, replicas on {ip('s1')} and {ip('s2')}, "
                              f"{len(WORKERS)} workers registered over TLS")
        code, out, _ = cluster.expctl("workers")
        f.check(code == 0 and all(w in out for w in WORKERS), "expctl lists the workers over TLS (CA made by the test)")
        code, out, _ = cluster.expctl("ls", tls=False, timeout_s=3)
        f.check(code != 0, f"a client without TLS is refused (exit {code})")
        f.check(not can_reach(net, "client", ip("s1"), GRPC_PORT + 1), "hosts reach only what listens (sanity)")

        # --- throughput, no fault: the baseline for the latency fault --------------
        jobs = 120
        sweep, done, seconds = throughput(cluster, "baseline", jobs)
        results["baseline"] = (jobs, seconds)
        f.check(done and cluster.sweep_counts(sweep).get("succeeded") == jobs,
                f"baseline: {jobs} noop jobs in {seconds:.2f} s ({jobs / seconds:.1f} jobs/s)")

        # --- fault 1: a worker's link cut mid-job ---------------------------------
        sweep = cluster.submit("cut-link", sleep_stage(3, 8, 16))
        victim, job = None, None
        for _ in range(100):
            rows = cluster.psql(f"SELECT j.id, w.name, j.lease_epoch FROM jobs j JOIN workers w ON w.id = j.worker_id "
                                f"WHERE j.sweep_id = {sweep} AND j.state = 'running' ORDER BY j.id")
            if rows:
                job_id, victim, epoch = rows.splitlines()[0].split("|")
                job, victim_epoch = int(job_id), int(epoch)
                if len(rows.splitlines()) == 3:
                    break
            time.sleep(0.1)
        if not f.check(victim is not None, "cut link: the sweep's jobs started"):
            raise RuntimeError("no running job")
        time.sleep(1.0)
        cut_at = time.monotonic()
        net.cut(victim)
        f.check(not can_reach(net, victim, ip("s1"), GRPC_PORT), f"cut link: {victim} can no longer reach the schedulers")
        rescued_by, rescue_s = None, None
        while time.monotonic() - cut_at < 20:
            row = cluster.psql(f"SELECT w.name, j.lease_epoch FROM jobs j JOIN workers w ON w.id = j.worker_id "
                               f"WHERE j.id = {job} AND j.lease_epoch > {victim_epoch}")
            if row:
                rescued_by = row.split("|")[0]
                rescue_s = time.monotonic() - cut_at
                break
            time.sleep(0.1)
        f.check(rescued_by is not None and rescued_by != victim,
                f"cut link: job {job} (leased by {victim}, epoch {victim_epoch}) rescued by {rescued_by} "
                f"{(rescue_s or 0):.1f} s after the cut (lease ttl {LEASE_TTL_MS / 1000:g} s)")
        time.sleep(max(0.0, 12 - (time.monotonic() - cut_at)))
        net.restore(victim)
        restored_at = time.monotonic()
        f.check(cluster.wait_sweep(sweep, 90) and cluster.sweep_counts(sweep).get("succeeded") == 3,
                "cut link: every job of the sweep succeeded")
        refused = re.compile(rf"job {job}(: lease lost| ended after [0-9.]+ s but its lease is gone)")
        while time.monotonic() - restored_at < 40 and not refused.search(cluster.log(victim)):
            time.sleep(0.2)
        late = refused.search(cluster.log(victim))
        f.check(late is not None, f"cut link: back online, {victim}'s late writes for job {job} were refused by the "
                                  f"epoch ({late.group(0) if late else 'no such line in its log'})")
        final_epoch = cluster.scalar(f"SELECT lease_epoch FROM jobs WHERE id = {job}")
        successes = [(w, int(e)) for w in WORKERS
                     for e in re.findall(rf"job {job} succeeded in [0-9.]+ s \(epoch (\d+)\)", cluster.log(w))]
        f.check(len(successes) == 1 and successes[0][1] == final_epoch and successes[0][0] != victim,
                f"cut link: job {job} completed once, under the final epoch {final_epoch}: {successes}")
        steps = cluster.scalar(f"SELECT count(*) FROM metrics WHERE job_id = {job} AND key = 'progress'")
        f.check(steps == 16, f"cut link: job {job} has its 16 progress points, once each ({steps})")

        # --- fault 2: the database host cut for 10 s -------------------------------
        sweep = cluster.submit("db-outage", sleep_stage(6, 4, 8))
        for _ in range(100):
            if cluster.scalar(f"SELECT count(*) FROM jobs WHERE sweep_id = {sweep} AND state = 'running'") > 0:
                break
            time.sleep(0.1)
        jobs_before = cluster.scalar("SELECT count(*) FROM jobs")
        cut_at = time.monotonic()
        net.cut("db")
        time.sleep(1.0)
        code, out, took = cluster.expctl("ls", timeout_s=15)
        said = next((line for line in out.splitlines() if "UNAVAILABLE" in line), out.strip()[:200])
        f.check(code != 0 and "UNAVAILABLE" in out and took < 9,
                f"database cut: a scheduler answers UNAVAILABLE in {took:.1f} s (exit {code}: {said[:160]})")
        time.sleep(max(0.0, 10 - (time.monotonic() - cut_at)))
        net.restore("db")
        restored_at = time.monotonic()
        recovered = None
        while time.monotonic() - restored_at < 60:
            code, _, _ = cluster.expctl("ls", timeout_s=5)
            if code == 0:
                recovered = time.monotonic() - restored_at
                break
            time.sleep(0.2)
        f.check(recovered is not None, f"database cut: the schedulers answer again {(recovered or -1):.1f} s after "
                                       "the link is back, with no restart")
        results["db_recovery_s"] = recovered
        f.check(cluster.wait_sweep(sweep, 120) and cluster.sweep_counts(sweep).get("succeeded") == 6,
                "database cut: every job of the sweep running through it succeeded")
        points = cluster.scalar("SELECT count(*) FROM metrics m JOIN jobs j ON j.id = m.job_id "
                                f"WHERE j.sweep_id = {sweep} AND m.key = 'progress'")
        f.check(points == 6 * 8 and cluster.scalar("SELECT count(*) FROM jobs") == jobs_before,
                f"database cut: nothing lost or doubled ({points} of 48 progress points, {jobs_before} jobs)")

        # --- fault 3: one replica killed -------------------------------------------
        cluster.stop("s1", signal.SIGKILL)
        killed_at = time.monotonic()
        sweep = cluster.submit("failover", sleep_stage(12, 1, 4))
        f.check(cluster.wait_sweep(sweep, 120) and cluster.sweep_counts(sweep).get("succeeded") == 12,
                f"replica killed: expctl submitted through {ip('s2')} and all 12 jobs succeeded "
                f"{time.monotonic() - killed_at:.1f} s after the kill")
        workers_used = cluster.scalar(f"SELECT count(DISTINCT worker_id) FROM jobs WHERE sweep_id = {sweep}")
        f.check(workers_used == len(WORKERS), f"replica killed: all {len(WORKERS)} workers failed over and ran jobs "
                                              f"({workers_used})")
        cluster.start_scheduler("s1")
        for _ in range(100):
            if can_reach(net, "client", ip("s1"), GRPC_PORT):
                break
            time.sleep(0.1)

        # --- fault 4: 100 ms more round trip ---------------------------------------
        if has_netem(net):
            how = f"tc netem delay {ADDED_RTT_MS}ms on each worker's link"
            for host in WORKERS:
                net.run("ip", "netns", "exec", net.ns(host), "tc", "qdisc", "add", "dev", "eth0", "root", "netem",
                        "delay", f"{ADDED_RTT_MS}ms")
        else:
            how = (f"this kernel has no sch_netem: workers reach the replicas through a relay on {ip('wan')} that "
                   f"holds each chunk {ADDED_RTT_MS // 2} ms each way")
            cluster.spawn("relay", "wan", [sys.executable, os.path.abspath(__file__), "--relay", ip("wan"),
                                           str(ADDED_RTT_MS), f"{GRPC_PORT}={ip('s1')}:{GRPC_PORT}",
                                           f"{GRPC_PORT + 1}={ip('s2')}:{GRPC_PORT}"])
            for _ in range(100):
                if "relay ready" in cluster.log("relay"):
                    break
                time.sleep(0.1)
            cluster.worker_addresses = f"{ip('wan')}:{GRPC_PORT},{ip('wan')}:{GRPC_PORT + 1}"
            for host in WORKERS:
                cluster.stop(host)
                cluster.start_worker(host)
        # A TLS handshake from w1 to the first replica as the workers now reach
        # it: at least one full round trip.
        host = cluster.worker_addresses.split(",")[0].split(":")[0]
        probe = ("import socket,ssl,time\n"
                 f"c=ssl.create_default_context(cafile='{directory}/ca.pem')\n"
                 f"s=socket.create_connection(('{host}', {GRPC_PORT}), timeout=5)\n"
                 f"t=time.monotonic();c.wrap_socket(s, server_hostname='{host}')\n"
                 "print(round((time.monotonic()-t)*1000,1))")
        handshake = subprocess.run(net.exec_argv("w1", [sys.executable, "-c", probe]), capture_output=True, text=True)
        handshake_ms = float(handshake.stdout.strip() or "nan")
        print(f"info  latency: {how}; a TLS handshake from w1 to a replica takes {handshake_ms} ms "
              f"{handshake.stderr.strip()[-200:]}", flush=True)
        sweep, done, seconds = throughput(cluster, "latency", jobs)
        results["latency"] = (jobs, seconds)
        f.check(done and cluster.sweep_counts(sweep).get("succeeded") == jobs,
                f"latency +{ADDED_RTT_MS} ms: {jobs} noop jobs in {seconds:.2f} s ({jobs / seconds:.1f} jobs/s)")
        f.check(handshake_ms >= ADDED_RTT_MS * 0.9,
                f"latency: the added round trip is real (a TLS handshake takes {handshake_ms} ms)")

        base_jobs, base_s = results["baseline"]
        slow_jobs, slow_s = results["latency"]
        print(f"multihost: baseline_jobs_per_s={base_jobs / base_s:.1f} latency_{ADDED_RTT_MS}ms_jobs_per_s="
              f"{slow_jobs / slow_s:.1f} ratio={(slow_jobs / slow_s) / (base_jobs / base_s):.2f} "
              f"db_recovery_s={results.get('db_recovery_s') or -1:.1f} failures={f.count}", flush=True)
    except Exception as error:  # a setup step failed: say which, keep the logs
        f.check(False, f"{type(error).__name__}: {error}")
    finally:
        if f.count:
            for name in ("s1", "s2", *WORKERS):
                path = os.path.join(directory, f"{name}.log")
                if os.path.exists(path):
                    print(f"--- last lines of {name}.log ---")
                    print("\n".join(cluster.log(name).splitlines()[-15:]))
        for name in list(cluster.processes):
            cluster.stop(name, signal.SIGKILL)
        if cluster.pg_bin:
            subprocess.run(net.exec_argv("db", ["runuser", "-u", "postgres", "--", f"{cluster.pg_bin}/pg_ctl", "-D",
                                                os.path.join(directory, "pg", "data"), "-m", "immediate", "stop"]),
                           capture_output=True)
        net.destroy()
        shutil.rmtree(directory, ignore_errors=True)
    return 1 if f.count else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--relay":
        run_relay(sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])))
