"""Shared helpers of the evidence-pack tests."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

from django.test import TestCase
from django.utils import timezone

from governance.models import EvidencePack
from governance.packs.services import pack_request


def period() -> tuple[dt.date, dt.date]:
    today = timezone.localdate()
    return today - dt.timedelta(days=365), today


def build(actor, scope, *, start=None, end=None) -> EvidencePack:
    """Request a pack and run what is queued on commit (the task runs eagerly in tests)."""
    default_start, default_end = period()
    with TestCase.captureOnCommitCallbacks(execute=True):
        pack = pack_request(actor=actor, scope=scope, period_start=start or default_start,
                            period_end=end or default_end)
    pack.refresh_from_db()
    return pack


def read(pack: EvidencePack) -> bytes:
    with pack.file.open("rb") as handle:
        return handle.read()


def nss_db_trusting(ca_pem: Path, directory: Path) -> str | None:
    """An NSS database (for poppler's pdfsig) that trusts ``ca_pem``; None without certutil."""
    certutil = shutil.which("certutil")
    if certutil is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([certutil, "-N", "-d", f"sql:{directory}", "--empty-password"], check=True,  # noqa: S603
                   capture_output=True)
    add = [certutil, "-A", "-d", f"sql:{directory}", "-n", "warden-demo-ca", "-t", "CT,C,C", "-i", str(ca_pem)]
    subprocess.run(add, check=True, capture_output=True)  # noqa: S603 - our own arguments
    return f"sql:{directory}"


def pdfsig(path: Path, nssdir: str | None = None) -> str:
    command = ["pdfsig"] + (["-nssdir", nssdir] if nssdir else []) + [str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)  # noqa: S603 - our own arguments
    return done.stdout + done.stderr
