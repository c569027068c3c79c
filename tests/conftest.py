"""Fixtures shared by the whole suite.

Three kinds of test run here:

- ordinary tests (SQLite locally, PostgreSQL in CI): Celery tasks run eagerly in the test process and
  every test gets its own empty upload directory;
- ``@pytest.mark.services`` tests: they need PostgreSQL, Redis and a real Celery worker process
  (``celery_worker_process``). Without those services they are skipped, except under
  ``WARDEN_REQUIRE_SERVICES=1`` (CI), where a missing service stops the run;
- ``@pytest.mark.browser`` tests: Playwright driving Debian's Chromium (see ``tests/browser/conftest.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
WORKER_QUEUES = "default,scans,evaluations,pdf"
WORKER_START_TIMEOUT = 60


def services_required() -> bool:
    """CI sets WARDEN_REQUIRE_SERVICES=1: then nothing that needs a service may be skipped."""
    return os.environ.get("WARDEN_REQUIRE_SERVICES", "") == "1"


# --- service gating --------------------------------------------------------------------------------

_services_problem: str | None = None
_services_checked = False


def _check_services() -> str | None:
    """Why the service tests cannot run here, or None when PostgreSQL and Redis are both usable."""
    from django.conf import settings

    problems = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        problems.append(f"DATABASE_URL is not a PostgreSQL URL (database engine is {engine})")
    redis_url = getattr(settings, "REDIS_URL", "") or ""
    if not redis_url:
        problems.append("REDIS_URL is not set")
    if problems:
        return "; ".join(problems)

    try:
        import psycopg

        db = settings.DATABASES["default"]
        # The maintenance database: the test database does not exist yet, and pytest-django creates
        # it from this connection too.
        psycopg.connect(
            dbname="postgres", user=db.get("USER") or None, password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None, port=db.get("PORT") or None, connect_timeout=5,
        ).close()
    except Exception as exc:  # any failure means "not reachable"
        problems.append(f"PostgreSQL is not reachable ({exc.__class__.__name__}: {exc})".strip())
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5).ping()
    except Exception as exc:
        problems.append(f"Redis at {redis_url} is not reachable ({exc.__class__.__name__}: {exc})")
    return "; ".join(problems) or None


def services_problem() -> str | None:
    global _services_checked, _services_problem
    if not _services_checked:
        _services_problem = _check_services()
        _services_checked = True
    return _services_problem


def pytest_sessionstart(session: pytest.Session) -> None:
    # In CI, find a missing service before running anything, and say so once, loudly.
    if services_required():
        problem = services_problem()
        if problem:
            pytest.exit(f"WARDEN_REQUIRE_SERVICES=1 but the services are not usable: {problem}", returncode=3)
        if not CHROMIUM.exists():
            pytest.exit(f"WARDEN_REQUIRE_SERVICES=1 but {CHROMIUM} is missing (run `make system-deps`)",
                        returncode=3)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("services"):
        problem = services_problem()
        if problem:
            if services_required():
                pytest.fail(f"service test cannot run: {problem}", pytrace=False)
            pytest.skip(f"needs PostgreSQL and Redis: {problem}")
    if item.get_closest_marker("browser") and not CHROMIUM.exists():
        if services_required():
            pytest.fail(f"browser test cannot run: {CHROMIUM} is missing", pytrace=False)
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (make system-deps installs it)")


# --- per-test isolation ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def shared_upload_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The upload directory that the test process and the Celery worker process both use."""
    path = tmp_path_factory.mktemp("worker-uploads")
    return path


def _point_storage_at(settings, upload_root: Path, scratch: Path) -> None:
    upload_root.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    storages = {name: dict(config) for name, config in settings.STORAGES.items()}
    storages["default"]["OPTIONS"] = {**storages["default"].get("OPTIONS", {}), "location": str(upload_root)}
    # A new dict (not an edit in place) so that Django's setting_changed signal resets the storages.
    settings.STORAGES = storages
    settings.MEDIA_ROOT = str(upload_root)
    settings.UPLOAD_ROOT = upload_root
    settings.FILE_UPLOAD_TEMP_DIR = str(scratch)


@pytest.fixture(autouse=True)
def _isolated_storage(request: pytest.FixtureRequest, settings, tmp_path: Path) -> None:
    """Uploads go to a fresh directory per test, never to ./data.

    Service tests share one directory with the worker process instead, so the worker can read what
    the test uploaded.
    """
    if request.node.get_closest_marker("services"):
        upload_root = request.getfixturevalue("shared_upload_root")
    else:
        upload_root = tmp_path / "uploads"
    _point_storage_at(settings, upload_root, tmp_path / "upload-tmp")


@pytest.fixture(autouse=True)
def _celery_mode(request: pytest.FixtureRequest, settings):
    """Ordinary tests run tasks eagerly in-process (even in CI, where REDIS_URL is set); service
    tests send them through Redis to the worker process."""
    from governance.celery import app

    eager = request.node.get_closest_marker("services") is None
    previous = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Creating a user with the production hasher costs a few hundred milliseconds of CPU; the suite
    creates thousands. Tests of the hashing policy itself can set PASSWORD_HASHERS back."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_cache(request: pytest.FixtureRequest, settings):
    """Each test starts with an empty cache of its own.

    Ordinary tests use a local-memory cache even where REDIS_URL is set (CI), so that they behave
    the same everywhere and never share state through Redis. A Redis cache is never cleared here:
    that runs FLUSHDB, which would also drop the Celery broker's queues kept in the same database.
    """
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if request.node.get_closest_marker("services") is None and any(
        not config["BACKEND"].endswith("LocMemCache") for config in settings.CACHES.values()
    ):
        settings.CACHES = {
            alias: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"tests-{alias}"}
            for alias in settings.CACHES
        }
    for alias in caches:
        cache = caches[alias]
        if isinstance(cache, LocMemCache):
            cache.clear()


# --- the live server -------------------------------------------------------------------------------

# Uploads have no public URL (MEDIA_URL is None), but Django's live server always mounts a media
# handler and cannot start without a URL for it. Give it a prefix that nothing links to, so that the
# live server, like production, serves uploads only through the permission-checked views.
LIVE_SERVER_MEDIA_URL = "/__uploads-are-not-served__/"


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest):
    """pytest-django's live server (same address rules), started with a harmless MEDIA_URL."""
    from django.test.utils import override_settings
    from pytest_django.live_server_helper import LiveServer

    addr = (
        request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    )
    with override_settings(MEDIA_URL=LIVE_SERVER_MEDIA_URL):
        server = LiveServer(addr)
    yield server
    server.stop()


# --- the Celery worker process ---------------------------------------------------------------------

def _with_database_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@dataclass
class WorkerProcess:
    """A running `celery worker` and where its output goes."""

    process: subprocess.Popen
    hostname: str
    log_path: Path
    env: dict[str, str] = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def assert_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"the Celery worker exited with {self.process.returncode}:\n{self.log()[-4000:]}",
                        pytrace=False)


def _keep_worker_log(log_path: Path) -> Path:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS_DIR / "celery-worker.log"
    shutil.copyfile(log_path, kept)
    return kept


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # warm shutdown: finish the current task, then exit
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_for_other_sessions_to_end(connection, database: str, timeout: float = 15.0) -> None:
    query = (
        "SELECT pid, application_name, state, left(query, 80) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(query, [database])
            others = cursor.fetchall()
        if not others or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if others:
        sys.stderr.write(f"\nStill connected to {database} after the worker stopped: {others}\n")


@pytest.fixture(scope="session")
def celery_worker_process(
    request: pytest.FixtureRequest,
    django_db_setup,
    django_db_blocker,
    shared_upload_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    """A real `celery worker` process, consuming every queue from Redis and writing to the test database.

    It gets the test process's environment, except that DATABASE_URL names pytest-django's test
    database (``test_<name>``) and WARDEN_UPLOAD_ROOT is ``shared_upload_root``. Tests that use it
    need ``@pytest.mark.django_db(transaction=True)``: the worker only sees committed rows.
    """
    problem = services_problem()
    if problem:
        if services_required():
            pytest.fail(f"cannot start the Celery worker: {problem}", pytrace=False)
        pytest.skip(f"needs PostgreSQL and Redis: {problem}")

    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        # Workers started by parallel pytest processes would all consume the same Redis queues and
        # pick up each other's tasks, which point at another test database.
        pytest.fail("service tests must run in one pytest process (no `-n`)", pytrace=False)

    from django.conf import settings
    from django.db import connection

    from governance.celery import app

    test_database = connection.settings_dict["NAME"]
    scratch = tmp_path_factory.mktemp("worker")
    log_path = scratch / "celery-worker.log"
    hostname = f"warden-test-{uuid.uuid4().hex[:8]}@pytest"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "governance.settings"),
        "DATABASE_URL": _with_database_name(os.environ["DATABASE_URL"], test_database),
        "WARDEN_DATA_DIR": str(scratch / "data"),
        "WARDEN_UPLOAD_ROOT": str(shared_upload_root),
        "PYTHONUNBUFFERED": "1",
        "PGAPPNAME": "warden-test-celery-worker",
    }
    if not (os.environ.get("WARDEN_KEK") or os.environ.get("WARDEN_KEK_FILE")):
        # The worker has its own data directory: point it at the test process's development key so
        # that it can decrypt what the tests upload.
        env["WARDEN_KEK_FILE"] = str(Path(settings.DATA_DIR) / "warden-dev.kek")
    if not (os.environ.get("WARDEN_PSEUDONYM_KEY") or os.environ.get("WARDEN_PSEUDONYM_KEY_FILE")):
        # The same for pseudonyms: a copy made by the worker must match what this process would make.
        from governance.deidentify.keys import DEV_KEY_FILE_NAME, load_pseudonym_key

        load_pseudonym_key()  # creates the development key file if it is not there yet
        env["WARDEN_PSEUDONYM_KEY_FILE"] = str(Path(settings.DATA_DIR) / DEV_KEY_FILE_NAME)
    (scratch / "data" / "tmp").mkdir(parents=True)

    # Messages left in the queues by an interrupted earlier run would point at rows that are gone.
    app.control.purge()

    command = [
        sys.executable, "-m", "celery", "-A", "governance", "worker",
        "-Q", WORKER_QUEUES, "--pool=solo", "--concurrency=1", "-l", "info", "-n", hostname,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    log_file = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    worker = WorkerProcess(process=process, hostname=hostname, log_path=log_path, env=env)

    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {process.returncode} while starting")
            if app.control.ping(destination=[hostname], timeout=1.0):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not answer a ping within {WORKER_START_TIMEOUT}s")
    except Exception as exc:
        _stop(process)
        log_file.close()
        kept = _keep_worker_log(log_path)
        pytest.fail(f"{exc}; its log ({kept}):\n{worker.log()[-4000:]}", pytrace=False)

    yield worker

    # Stopped before pytest-django drops the test database, which refuses to go while the worker's
    # session is open; PostgreSQL ends that session a moment after the process exits.
    _stop(process)
    log_file.close()
    with django_db_blocker.unblock():
        _wait_for_other_sessions_to_end(connection, test_database)
    if request.session.testsfailed:
        kept = _keep_worker_log(log_path)
        sys.stderr.write(f"\nCelery worker log kept at {kept}\n")


# Named users for the permission ladder (admin_user, risk_manager, ml_lead, auditor, staff, outsider).
# Imported here rather than listed in pytest_plugins so that they override pytest-django's own
# ``admin_user``.
from tests.people import *  # noqa: E402,F401,F403


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
