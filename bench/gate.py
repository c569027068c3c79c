"""Deployment gate and monitoring ingest benchmark, against PostgreSQL over loopback HTTP.

Usage:  .venv/bin/python bench/gate.py [--requests 4000] [--clients 20] [--windows 2000] [--reseed]
        (PostgreSQL at BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/warden_h8_bench)

Seeds 10,000 model versions (2,500 models x 4: retired, approved, deployed, draft) with everything the
gate reads: artifact scans, fairness and robustness runs, signed-off threat models and DPIAs, sign-offs
and lifecycle events, some open high risks, and the owners' training. Then serves Warden on 127.0.0.1
with a small pre-forking WSGI server (two processes of eight threads, persistent database
connections: the shape of ``gunicorn -w 2 --threads 8``, built from the standard library because
gunicorn is not a dependency) and drives it from a separate process:

* gate: ``--clients`` concurrent clients, closed loop, ``--requests`` requests in all, each asking
  ``GET /api/gate/?sha256=`` for a random artifact (40 % deployed or approved, 40 % draft or retired,
  20 % unknown) with an API token; prints the median, 95th and 99th percentile latency seen by the
  clients, the throughput, and the allow/deny split; also the in-process time of a single request;
* ingest: the same number of clients, each reporting ``--windows / clients`` consecutive windows for
  its own deployed version (``POST /api/monitoring/versions/{id}/windows/``, 12 features with drift
  computed against the evaluation data's profile); prints windows per second and their latency.

Tests never assert on these figures; the machine is shared, so read them with its load in mind.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
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
    print(f"seeded {len(versions):,} versions, {len(runs):,} runs", flush=True)


# --- the server -------------------------------------------------------------------------------------------------

def serve(listener: socket.socket, threads: int) -> None:
    """One server process: accepts on the shared socket, handles requests on a fixed pool of threads."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    class PooledServer(WSGIServer):
        pool = ThreadPoolExecutor(max_workers=threads)

        def process_request(self, request, client_address):
            self.pool.submit(self._handle, request, client_address)

        def _handle(self, request, client_address):
            try:
                self.finish_request(request, client_address)
            finally:
                self.shutdown_request(request)

    server = PooledServer(listener.getsockname(), QuietHandler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    # What server_bind() would have set up on its own socket.
    server.server_name, server.server_port = "127.0.0.1", listener.getsockname()[1]
    server.setup_environ()
    server.set_app(application)
    server.serve_forever(poll_interval=0.05)


def start_servers(processes: int, threads: int) -> tuple[int, list[int]]:
    from django.db import connections

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    connections.close_all()  # never share a database connection across fork
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            try:
                serve(listener, threads)
            finally:
                os._exit(0)
        children.append(pid)
    return listener.getsockname()[1], children


# --- the clients ------------------------------------------------------------------------------------------------

def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values))) - 1))]


def drive(port: int, requests: list[urllib.request.Request], clients: int) -> tuple[list[float], list[dict], float]:
    timings: list[float] = []
    answers: list[dict] = []
    lock = threading.Lock()
    queue = list(requests)

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                request = queue.pop()
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                    body = json.loads(response.read())
            except urllib.error.HTTPError as error:
                body = {"status": error.code, "error": error.read()[:200].decode(errors="replace")}
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                timings.append(elapsed)
                answers.append(body)

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(timings), answers, time.perf_counter() - started


def gate_requests(port: int, token: str, count: int) -> list[urllib.request.Request]:
    rng = random.Random(8)
    result = []
    for _ in range(count):
        roll = rng.random()
        model = rng.randrange(MODELS)
        if roll < 0.4:
            sha = _sha(model, rng.choice([1, 2]))
        elif roll < 0.8:
            sha = _sha(model, rng.choice([0, 3]))
        else:
            sha = f"{rng.getrandbits(256):064x}"
        result.append(urllib.request.Request(f"http://127.0.0.1:{port}/api/gate/?sha256={sha}",
                                             headers={"Authorization": f"Token {token}"}))
    return result


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="gate requests in all (bounded)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--windows", type=int, default=2000, help="monitoring windows in all (bounded)")
    parser.add_argument("--processes", type=int, default=2, help="server processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per server process")
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.clients <= 200 or not 0 <= args.windows <= 50_000:
        parser.error("keep --requests ≤ 100,000, --clients ≤ 200 and --windows ≤ 50,000")

    ensure_database()
    import django

    django.setup()
    seed(args.reseed)
    from rest_framework.authtoken.models import Token

    from assessments.models import MonitoringWindow
    from governance.models import ModelVersion

    token = Token.objects.get(user__username="bench-lead").key
    versions = ModelVersion.objects.count()
    median, p95 = in_process_gate(token, [_sha(i, 2) for i in range(0, 2000, 10)])
    print(f"gate, one client in-process ({versions:,} versions): median {median:.2f} ms, p95 {p95:.2f} ms")

    port, children = start_servers(args.processes, args.threads)
    try:
        time.sleep(1.0)
        drive(port, gate_requests(port, token, 200), args.clients)  # warm the workers' connections
        timings, answers, elapsed = drive(port, gate_requests(port, token, args.requests), args.clients)
        decisions = {}
        for answer in answers:
            decision = answer.get("decision", f"HTTP {answer.get('status')}")
            decisions[decision] = decisions.get(decision, 0) + 1
        print(f"gate over HTTP, {args.clients} concurrent clients, {len(timings):,} requests "
              f"({args.processes} server processes x {args.threads} threads): "
              f"median {statistics.median(timings):.1f} ms, "
              f"p95 {_percentile(timings, 0.95):.1f} ms, p99 {_percentile(timings, 0.99):.1f} ms, "
              f"{len(timings) / elapsed:,.0f} requests/s; {decisions}")

        if args.windows:
            # Versions that have reported nothing yet, so that every run starts clean (625 are deployed:
            # about thirty runs before --reseed is needed).
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
    finally:
        for pid in children:
            os.kill(pid, 15)
        for pid in children:
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
