"""The production profile: it passes Django's deployment checks with no warnings, and it refuses to
start on a missing secret, debug mode or a bad value, saying which setting is wrong.

Each case starts `manage.py` in a fresh process, because settings are read once, at start-up.
"""

from __future__ import annotations

import base64
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def random_secret(length: int = 60) -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(length))


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    """A complete production environment, built from nothing so that the caller's shell (or CI's
    DATABASE_URL and REDIS_URL) cannot leak in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "WARDEN_ENV": "production",
        "SECRET_KEY": random_secret(),
        "ALLOWED_HOSTS": "warden.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'warden.sqlite3'}",
        "WARDEN_DATA_DIR": str(tmp_path / "data"),
        "WARDEN_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
        "WARDEN_GATE_KEY_FILE": str(_gate_key(tmp_path)),
    }


def _gate_key(tmp_path: Path) -> Path:
    """The organisation's key that signs deployment-gate answers (issue 8), as production needs one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    path = tmp_path / "gate-signing.pem"
    path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    """The last line of the traceback: the exception and its message."""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_production_profile_passes_check_deploy_with_no_warnings(production_env):
    result = manage(production_env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"SECRET_KEY": None}, "SECRET_KEY", id="no-secret-key"),
        pytest.param({"SECRET_KEY": ""}, "SECRET_KEY", id="empty-secret-key"),
        pytest.param({"SECRET_KEY": "too-short-0123456789"}, "SECRET_KEY", id="short-secret-key"),
        pytest.param({"SECRET_KEY": "a" * 60}, "SECRET_KEY", id="repetitive-secret-key"),
        pytest.param({"WARDEN_DEBUG": "1"}, "WARDEN_DEBUG", id="debug-on"),
        pytest.param({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS", id="no-allowed-hosts"),
        pytest.param({"WARDEN_KEK": None}, "WARDEN_KEK", id="no-key-encryption-key"),
        pytest.param({"WARDEN_GATE_KEY_FILE": None}, "WARDEN_GATE_KEY_FILE", id="no-gate-signing-key"),
        pytest.param({"WARDEN_APPROVAL_POLICY": "{not json"}, "WARDEN_APPROVAL_POLICY", id="approval-policy-not-json"),
        pytest.param({"WARDEN_ALERT_WEBHOOK_URL": "https://hooks.example.com/x"}, "WARDEN_ALERT_WEBHOOK_SECRET",
                     id="webhook-without-secret"),
        pytest.param({"WARDEN_DEBUG": "maybe"}, "WARDEN_DEBUG", id="debug-not-a-boolean"),
    ],
)
def test_production_refuses_to_start(production_env, change, named):
    for key, value in change.items():
        if value is None:
            production_env.pop(key, None)
        else:
            production_env[key] = value

    result = manage(production_env, "check")

    assert result.returncode != 0, result.stdout + result.stderr
    assert "ImproperlyConfigured" in error_line(result), result.stderr
    assert named in error_line(result), result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WARDEN_ENV", "bogus"),
        ("WARDEN_MAX_UPLOAD_MB", "abc"),
    ],
)
def test_a_bad_value_fails_loudly_and_names_the_variable(production_env, variable, value):
    production_env[variable] = value

    result = manage(production_env, "check")

    assert result.returncode != 0, result.stdout + result.stderr
    # The message itself must say what is wrong, not only a line of the traceback.
    assert variable in error_line(result), result.stderr
