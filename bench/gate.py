"""Deployment gate and monitoring ingest benchmark, against PostgreSQL over loopback HTTP.

Usage:  .venv/bin/python bench/gate.py [--clients 20] [--seconds 10] [--paced 20] [--changes 1] [--windows 2000]
        [--reseed]
        (PostgreSQL at BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/warden_h8_bench;
        Redis at BENCH_REDIS_CACHE_URL, default redis://127.0.0.1:6379/5, used when it answers)

Seeds 10,000 model versions (2,500 models x 4: retired, approved, deployed, draft) with everything the
gate reads: artifact scans, fairness and robustness runs, signed-off threat models and DPIAs, sign-offs
and lifecycle events, some open high risks, and the owners' training. Then serves Warden as production
does (gunicorn, two sync workers, persistent database connections, the cache in Redis) and drives it
with ``wrk`` (Debian's package; Python threads where it is missing), ``--clients`` concurrent
clients asking ``GET /api/gate/?sha256=`` with an API token:

* repeated questions: the 2,500 deployed artifacts, asked again and again, as admission controllers
  and deploy jobs do (answered from the gate's decision cache after the first time), while
  ``--changes`` risk edits a second make the answers about their models' artifacts stale;
* every question new: every artifact once, one in five unknown to Warden, closed loop: the worst
  case, bound by how many decisions two cores can work out per second;
* every question new at a steady ``--paced`` requests/s in all (open loop), as pipelines ask;

and prints the median, 95th and 99th percentile latency seen by the clients and the throughput, beside
the same figures for ``GET /health/`` (the floor that the machine and Django set, which moves with
the host's load); also the in-process time of a single new question. Then ingest: the same number of
clients, each reporting ``--windows / clients`` consecutive windows for its own deployed version (``POST
/api/monitoring/versions/{id}/windows/``, 12 features with drift computed against the evaluation data's
profile); prints windows per second and their latency.

Tests never assert on these figures; the machine is shared, so read them with its load in mind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pages import ensure_database  # noqa: E402  (bench/ is the script's own folder)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL",
                                            "postgres://postgres@127.0.0.1:5432/warden_h8_bench")
os.environ.setdefault("WARDEN_LOG_LEVEL", "WARNING")
os.environ["WARDEN_DEBUG"] = "0"
os.environ.setdefault("WARDEN_DB_CONN_MAX_AGE", "300")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# Data in a folder of its own, so the bench's development keys do not mix with `make run`'s.
os.environ.setdefault("WARDEN_DATA_DIR", str(ROOT / "data" / "bench-gate"))
Path(os.environ["WARDEN_DATA_DIR"]).mkdir(parents=True, exist_ok=True)


def _redis_answers(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


# Production keeps the cache (and the gate's cached decisions) in Redis; without it the gate works every
# question out again, and the figures say so.
_redis = os.environ.get("BENCH_REDIS_CACHE_URL", "redis://127.0.0.1:6379/5")
if _redis_answers(_redis):
    os.environ["REDIS_CACHE_URL"] = _redis
WRK = shutil.which("wrk")

MODELS, VERSIONS_PER_MODEL = 2_500, 4
FEATURES = [f"f{i:02d}" for i in range(12)]


def _sha(model_index: int, version_index: int) -> str:
    import hashlib

    return hashlib.sha256(f"bench-artifact-{model_index}-{version_index}".encode()).hexdigest()


def seed(force: bool) -> None:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from assessments.evaluations.dataset_scan import drift
    from assessments.models import (
        Assessment,
        EvaluationRun,
        LifecycleEvent,
        MonitoringAlert,
        MonitoringWindow,
        Risk,
        RiskMatrix,
        SignOff,
    )
    from governance.models import BusinessUnit, DatasetVersion, MLModel, ModelVersion, RoleGrant
    from tests.factories import DatasetFactory

    call_command("migrate", verbosity=0)
    if ModelVersion.objects.count() >= MODELS * VERSIONS_PER_MODEL and not force:
        return
    print("seeding…", flush=True)
    call_command("load_catalog", verbosity=0)
    for model in (MonitoringAlert, MonitoringWindow, LifecycleEvent, SignOff, Risk, Assessment, EvaluationRun):
        model.objects.all().delete()
    ModelVersion.objects.all().delete()
    MLModel.objects.all().delete()
    User = get_user_model()
    users = {name: User.objects.get_or_create(username=f"bench-{name}", defaults={"email": f"{name}@example.com"})[0]
             for name in ("lead", "risk", "dpo")}
    root, _ = BusinessUnit.objects.get_or_create(name="Bench gate", parent=None)
    for name, role in (("lead", "ml_lead"), ("risk", "risk_manager"), ("dpo", "dpo")):
        RoleGrant.objects.get_or_create(user=users[name], role=role, business_unit=root)
    Token.objects.get_or_create(user=users["lead"])
    matrix = RiskMatrix.objects.get(is_default=True)
    now = timezone.now()
    tiers = ["high", "limited", "minimal", "high"]
    models = MLModel.objects.bulk_create(
        [MLModel(name=f"Gate model {i:05d}", purpose="Benchmark", owner=users["lead"], business_unit=root,
                 risk_tier=tiers[i % 4], processes_personal_data=i % 2 == 0) for i in range(MODELS)], batch_size=1000)
    statuses = ["retired", "approved", "deployed", "draft"]
    versions = ModelVersion.objects.bulk_create(
        [ModelVersion(model=m, version=f"1.{v}", artifact=f"bench/{m.pk}-{v}.pkl", artifact_name="m.pkl",
                      artifact_format="pickle", artifact_size=1000, artifact_sha256=_sha(i, v), status=statuses[v],
                      review_cycle=1 if v in (1, 2) else 0, status_changed_at=now, created_by=users["lead"],
                      metrics={"accuracy": 0.9})
         for i, m in enumerate(models) for v in range(VERSIONS_PER_MODEL)], batch_size=2000)
    runs = []
    for version in versions:
        runs.append(EvaluationRun(kind="artifact_scan", model_version=version, status="succeeded", finished_at=now,
                                  progress=100, summary={"verdict": "clean", "blocking": False,
                                                         "sha256": version.artifact_sha256, "integrity_ok": True}))
        for kind in ("fairness", "robustness"):
            runs.append(EvaluationRun(kind=kind, model_version=version, status="succeeded", finished_at=now,
                                      progress=100, summary={"verdict": "pass"}))
    EvaluationRun.objects.bulk_create(runs, batch_size=5000)
    Assessment.objects.bulk_create(
        [Assessment(kind=kind, model=m, title=f"{kind} {m.name}", question_set=f"urn:bench:{kind}",
                    question_set_version=1, status="signed_off", risk_matrix=matrix, created_by=users["risk"],
                    updated_by=users["risk"], signed_off_by=users["risk"], signed_off_at=now)
         for m in models for kind in ("threat_model", "dpia")], batch_size=5000)
    # One model in ten has an open high risk: its approved and deployed versions are denied.
    Risk.objects.bulk_create(
        [Risk(model=m, matrix=matrix, title="Open high risk", inherent_likelihood="likely", inherent_impact="major",
              inherent_level="high", inherent_rank=2, created_by=users["risk"]) for m in models[::10]], batch_size=1000)
    sign_offs, events = [], []
    for version in versions:
        if version.status not in ("approved", "deployed"):
            continue
        tier = version.model.risk_tier
        roles = ["risk_manager", "dpo"] if tier == "high" or version.model.processes_personal_data else ["risk_manager"]
        for role in roles:
            sign_offs.append(SignOff(model_version=version, review_cycle=1, role=role, decision="approve",
                                     signed_by=users["risk" if role == "risk_manager" else "dpo"], signed_at=now))
        events.append(LifecycleEvent(model_version=version, action="approve", from_status="in_review",
                                     to_status="approved", review_cycle=1, actor=users["risk"], at=now))
        if version.status == "deployed":
            events.append(LifecycleEvent(model_version=version, action="deploy", from_status="approved",
                                         to_status="deployed", review_cycle=1, actor=users["lead"], at=now))
    SignOff.objects.bulk_create(sign_offs, batch_size=5000)
    LifecycleEvent.objects.bulk_create(events, batch_size=5000)
    # Evaluation data with a scanned profile for the deployed versions that the ingest benchmark reports on.
    rng = np.random.default_rng(1)
    evaluation = DatasetFactory(name="Gate bench evaluation data", business_unit=root, owner=users["lead"])
    dataset_version = DatasetVersion.objects.create(
        dataset=evaluation, version="v1", file="bench/eval.csv", file_name="eval.csv", file_format="csv",
        file_size=1, sha256="0" * 64, profile_status="ready", created_by=users["lead"])
    profile = {name: drift.numeric_profile(rng.normal(0, 1, 5000), 5000) for name in FEATURES}
    EvaluationRun.objects.create(kind="dataset_scan", dataset_version=dataset_version, status="succeeded",
                                 finished_at=now, progress=100, report={"profile": profile})
    through = ModelVersion.evaluation_datasets.through
    through.objects.bulk_create([through(modelversion_id=v.pk, datasetversion_id=dataset_version.pk)
                                 for v in versions if v.status == "deployed"], batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # statistics, as a database in use has them (the planner picks better indexes)
    print(f"seeded {len(versions):,} versions, {len(runs):,} runs", flush=True)


# --- the server -------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(workers: int) -> tuple[subprocess.Popen, int]:
    """Warden behind gunicorn, as in production: pre-forked sync workers, the app loaded before forking."""
    port = free_port()
    log = open(ROOT / "data" / "bench-gate" / "gunicorn.log", "w")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "gunicorn", "governance.wsgi", "--workers", str(workers), "--preload",
         "--bind", f"127.0.0.1:{port}", "--error-logfile", "-"],
        cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2):  # noqa: S310 - loopback
                return server, port
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"gunicorn did not start: see {log.name}")


# --- the clients ------------------------------------------------------------------------------------------------

def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values))) - 1))]


def _gate_path(sha: str) -> str:
    return f"/api/gate/?sha256={sha}"


def _gate_request(port: int, token: str, sha: str) -> urllib.request.Request:
    return urllib.request.Request(f"http://127.0.0.1:{port}{_gate_path(sha)}",
                                  headers={"Authorization": f"Token {token}"})


WRK_SCRIPT = r"""
local counter, threads = 1, {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  -- "fresh": each thread walks its own slice, so no question is asked twice; "repeat": random picks.
  mode = args[1]
  counter = 1 + id * math.floor(#paths / thread_count)
end
function request()
  local path
  if mode == "fresh" then
    path = paths[counter]
    counter = counter % #paths + 1
  else
    path = paths[math.random(#paths)]
  end
  return wrk.format("GET", path, {["Authorization"] = "Token " .. token})
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %.3f %.3f %.3f %.3f %.3f %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk_run(port: int, token: str, paths: list[str], clients: int, seconds: int, mode: str) -> dict:
    """wrk's own figures: closed loop, ``clients`` connections on two threads, for ``seconds``."""
    threads = 2
    listed = ",\n".join(f'"{path}"' for path in paths)
    script = (f"local token = {json.dumps(token)}\nlocal paths = {{\n{listed}\n}}\n"
              f"thread_count = {threads}\n{WRK_SCRIPT}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(  # noqa: S603 - wrk with our own arguments
            [WRK, f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "-s", handle.name, f"http://127.0.0.1:{port}",
             "--", mode], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(handle.name)
    fields = next(line for line in output.splitlines() if line.startswith("RESULT")).split()[1:]
    requests, elapsed, p50, p95, p99, worst, non2xx, errors = (float(value) for value in fields)
    return {"requests": int(requests), "rate": requests / elapsed, "median": p50, "p95": p95, "p99": p99,
            "max": worst, "errors": int(non2xx + errors)}


def python_run(port: int, token: str, shas: list[str], clients: int, seconds: float, mode: str,
               interval: float = 0.0) -> dict:
    """The same from Python threads (where wrk is missing); ``interval`` paces each client (open loop)."""
    timings, errors, lock = [], [0], threading.Lock()
    stop = time.monotonic() + seconds
    rng = random.Random(8)

    def client(index: int) -> None:
        position = index * (len(shas) // clients)
        # Paced clients are independent (Poisson arrivals), not twenty pipelines firing in step.
        pace = random.Random(index)
        next_start = time.monotonic() + (pace.expovariate(1 / interval) if interval else 0)
        while time.monotonic() < stop:
            if interval:
                time.sleep(max(0.0, next_start - time.monotonic()))
                next_start += pace.expovariate(1 / interval)
            with lock:
                sha = shas[position % len(shas)] if mode == "fresh" else rng.choice(shas)
            position += 1
            request = _gate_request(port, token, sha)
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                    response.read()
            except OSError:
                with lock:
                    errors[0] += 1
            with lock:
                timings.append((time.perf_counter() - start) * 1000)

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    timings.sort()
    return {"requests": len(timings), "rate": len(timings) / (time.monotonic() - started),
            "median": statistics.median(timings), "p95": _percentile(timings, 0.95),
            "p99": _percentile(timings, 0.99), "max": timings[-1], "errors": errors[0]}


def ask_each_once(port: int, token: str, shas: list[str], clients: int) -> None:
    def ask(sha: str) -> None:
        with urllib.request.urlopen(_gate_request(port, token, sha), timeout=30) as response:  # noqa: S310 - loopback only
            response.read()

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(ask, shas))


def report(label: str, figures: dict) -> None:
    print(f"  {label}: median {figures['median']:.1f} ms, p95 {figures['p95']:.1f} ms, p99 {figures['p99']:.1f} ms, "
          f"max {figures['max']:.0f} ms; {figures['rate']:,.0f} requests/s ({figures['requests']:,} requests, "
          f"{figures['errors']} errors)", flush=True)


@contextlib.contextmanager
def changes_meanwhile(per_second: float):
    """Risks saved (unchanged) on random models while the block runs: each makes the cached answers
    about that model's artifacts stale, as the register's daily edits do. Yields [changes made]."""
    from assessments.models import Risk

    risks = list(Risk.objects.all()[:500])
    made, stop = [0], threading.Event()

    def writer() -> None:
        from django.db import connection

        rng = random.Random(13)
        while risks and per_second > 0 and not stop.wait(1 / per_second):
            rng.choice(risks).save(update_fields=["title"])
            made[0] += 1
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        yield made
    finally:
        stop.set()
        thread.join()


def forget_cached_answers() -> None:
    from assessments.approvals import gate_cache

    gate_cache.invalidate()  # every cached decision stale: the next questions are all worked out again


def window_requests(port: int, token: str, version_ids: list[int], per_version: int) -> list[list]:
    import datetime as dt

    import numpy as np

    rng = np.random.default_rng(3)
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=per_version + 1)
    run_tag = int(time.time())
    per_client = []
    for vid in version_ids:
        mine = []
        for hour in range(per_version):
            begin = start + dt.timedelta(hours=hour)
            body = {
                "idempotency_key": f"bench-{run_tag}-{vid}-{hour}", "window_start": begin.isoformat(),
                "window_end": (begin + dt.timedelta(hours=1)).isoformat(), "request_count": 5000, "error_count": 3,
                "predictions": {"counts": {"yes": 2600, "no": 2400}},
                "features": {name: {"quantiles": [float(q) for q in np.quantile(rng.normal(0, 1, 500),
                                                                               np.linspace(0, 1, 21))]}
                             for name in FEATURES},
                "labels": {"labelled_count": 1000, "accuracy": 0.91,
                           "groups": {"sex": {"f": {"count": 500, "selected": 240},
                                              "m": {"count": 500, "selected": 250}}}},
            }
            mine.append(urllib.request.Request(
                f"http://127.0.0.1:{port}/api/monitoring/versions/{vid}/windows/", data=json.dumps(body).encode(),
                method="POST", headers={"Authorization": f"Token {token}", "Content-Type": "application/json"}))
        per_client.append(mine)
    return per_client


def drive_windows(per_client: list[list]) -> tuple[list[float], list[int], float]:
    timings, statuses, lock = [], [], threading.Lock()

    def client(requests: list) -> None:
        for request in requests:  # in order: each client owns one version
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
                    status = response.status
                    response.read()
            except urllib.error.HTTPError as error:
                status = error.code
            with lock:
                timings.append((time.perf_counter() - start) * 1000)
                statuses.append(status)

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(requests,)) for requests in per_client]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(timings), statuses, time.perf_counter() - started


def in_process_gate(token: str, shas: list[str]) -> tuple[float, float]:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    timings = []
    for sha in shas:
        start = time.perf_counter()
        client.get("/api/gate/", {"sha256": sha})
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return statistics.median(timings), _percentile(timings, 0.95)


def gate_scenarios(port: int, token: str, args) -> None:
    from assessments.approvals import gate_cache
    from governance.models import ModelVersion

    deployed = list(ModelVersion.objects.filter(status="deployed").values_list("artifact_sha256", flat=True))
    known = list(ModelVersion.objects.values_list("artifact_sha256", flat=True))
    rng = random.Random(5)
    rng.shuffle(known)
    fresh = []
    for index, sha in enumerate(known):  # every fifth question is about an artifact Warden never saw
        fresh.append(sha)
        if index % 4 == 3:
            fresh.append(f"{rng.getrandbits(256):064x}")

    def run(shas: list[str], mode: str) -> dict:
        if WRK:
            return wrk_run(port, token, [_gate_path(sha) for sha in shas], args.clients, args.seconds, mode)
        return python_run(port, token, shas, args.clients, args.seconds, mode)

    tool = "wrk" if WRK else "Python threads (install wrk for a load generator that does not share the GIL)"
    cache_state = ("on (Redis)" if gate_cache.enabled() else "off (no Redis at REDIS_CACHE_URL: every question is "
                   "worked out again)")
    print(f"gate over HTTP: gunicorn, {args.workers} sync workers; {args.clients} concurrent clients, closed loop, "
          f"{args.seconds} s each, driven by {tool}; decision cache {cache_state}")

    # Admission controllers and deploy jobs: the deployed artifacts, asked again and again.
    started = time.perf_counter()
    ask_each_once(port, token, deployed, args.clients)
    print(f"  (first question about each deployed artifact: {len(deployed) / (time.perf_counter() - started):,.0f} "
          "requests/s, not timed further)")
    if WRK:
        # The floor this machine sets: Django with every middleware, answering without the database or cache.
        report("reference: GET /health/ on the same server", wrk_run(port, token, ["/health/"], args.clients,
                                                                       args.seconds, "repeat"))
    with changes_meanwhile(per_second=args.changes) as changed:
        figures = run(deployed, "repeat")
    report(f"repeated questions about the {len(deployed):,} deployed artifacts, {changed[0]} changes to risks "
           "meanwhile", figures)
    # The worst case: nobody asked about any of these before (new builds, or just after a change).
    forget_cached_answers()
    report(f"every question new ({len(fresh):,} artifacts, 1 in 5 unknown to Warden)", run(fresh, "fresh"))
    # Pipelines at a steady pace: every question new, arriving at --paced requests/s in all.
    if args.paced:
        forget_cached_answers()
        figures = python_run(port, token, fresh[::-1], args.clients, args.seconds, "fresh",
                             interval=args.clients / args.paced)
        report(f"every question new, {args.paced} requests/s in all (open loop, Python clients)", figures)


def ingest(port: int, token: str, args, parser) -> None:
    from assessments.models import MonitoringWindow
    from governance.models import ModelVersion

    # Versions that have reported nothing yet, so that every run starts clean (2,500 are deployed:
    # about a hundred runs before --reseed is needed).
    deployed = list(ModelVersion.objects.filter(status="deployed", monitoring_windows__isnull=True)
                    .order_by("id").values_list("id", flat=True)[: args.clients])
    if not deployed:
        parser.error("every deployed version has reported already: run again with --reseed")
    before = MonitoringWindow.objects.count()
    per_version = max(1, args.windows // len(deployed))
    timings, statuses, elapsed = drive_windows(window_requests(port, token, deployed, per_version))
    created = MonitoringWindow.objects.count() - before
    counts = {code: statuses.count(code) for code in sorted(set(statuses))}
    print(f"monitoring ingest over HTTP, {len(deployed)} clients x {per_version} windows (12 features, "
          f"drift against the evaluation profile): {created / elapsed:,.0f} windows/s, median "
          f"{statistics.median(timings):.1f} ms, p95 {_percentile(timings, 0.95):.1f} ms; statuses {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10, help="length of each gate scenario")
    parser.add_argument("--paced", type=int, default=20,
                        help="requests/s in all of the paced scenario (default: each client once a second; 0: skip)")
    parser.add_argument("--changes", type=float, default=1,
                        help="risk edits per second during the repeated questions (a busy register: a few a minute)")
    parser.add_argument("--windows", type=int, default=2000, help="monitoring windows in all (bounded)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 300 or not 0 <= args.windows <= 50_000 \
            or not 0 <= args.paced <= 5_000:
        parser.error("keep --clients ≤ 200, --seconds ≤ 300, --paced ≤ 5,000 and --windows ≤ 50,000")

    ensure_database()
    import django

    django.setup()
    seed(args.reseed)
    from rest_framework.authtoken.models import Token

    from governance.models import ModelVersion

    token = Token.objects.get(user__username="bench-lead").key
    versions = ModelVersion.objects.count()
    forget_cached_answers()
    median, p95 = in_process_gate(token, [_sha(i, 2) for i in range(0, 2000, 10)])
    print(f"gate, one client in-process, every question new ({versions:,} versions): median {median:.2f} ms, "
          f"p95 {p95:.2f} ms")

    from django.db import connections

    connections.close_all()
    server, port = start_gunicorn(args.workers)
    try:
        gate_scenarios(port, token, args)
        if args.windows:
            ingest(port, token, args, parser)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
