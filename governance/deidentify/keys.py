"""The pseudonymisation key: where it comes from (never the database).

Pseudonyms are HMAC-SHA256 of a value under this key, so the same value gets the same pseudonym in
every file de-identified under the same key (records can still be joined across files), and nobody
without the key can recompute them from a guessed value. Exactly one source is used:

``WARDEN_PSEUDONYM_KEY``
    ``ID:BASE64`` or ``BASE64`` of 32 random bytes (the same forms as ``WARDEN_KEK``).
``WARDEN_PSEUDONYM_KEY_FILE``
    A file holding the key (mode 600), in the same forms.

With neither set, development and test runs generate ``DATA_DIR/warden-dev.pseudonym.key`` (0600) on
first use; production refuses to pseudonymise. The key is deliberately not the key-encryption key:
rotating the KEK must not change every pseudonym, and a pseudonym key is never rotated casually
(a new key breaks joins with earlier copies, which is sometimes exactly what is wanted).
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from governance.crypto.keys import derived_key_id, generate_kek, parse_entries

ENV_KEY = "WARDEN_PSEUDONYM_KEY"
ENV_KEY_FILE = "WARDEN_PSEUDONYM_KEY_FILE"
DEV_KEY_FILE_NAME = "warden-dev.pseudonym.key"

_lock = threading.Lock()


@dataclass(frozen=True)
class PseudonymKey:
    key_id: str
    key: bytes = b""

    def __repr__(self) -> str:  # never the key bytes
        return f"PseudonymKey(key_id={self.key_id!r})"


def _from_text(text: str, source: str) -> PseudonymKey:
    entries = parse_entries(text, source=source)
    if len(entries) != 1:
        raise ImproperlyConfigured(f"{source} must hold exactly one pseudonymisation key, not {len(entries)}")
    key_id, key = entries[0]
    return PseudonymKey(key_id=key_id, key=key)


def _dev_key_file(data_dir: Path) -> Path:
    path = data_dir / DEV_KEY_FILE_NAME
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = base64.b64decode(generate_kek())
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return path
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(
                    "# Warden development pseudonymisation key (NOT FOR PRODUCTION; never commit it).\n"
                    f"{derived_key_id(key)} {base64.b64encode(key).decode('ascii')}\n"
                )
    return path


def load_pseudonym_key(*, environ=None, production: bool | None = None, data_dir: Path | None = None) -> PseudonymKey:
    environ = os.environ if environ is None else environ
    if production is None or data_dir is None:
        from django.conf import settings

        production = bool(getattr(settings, "PRODUCTION", False)) if production is None else production
        data_dir = Path(getattr(settings, "DATA_DIR", ".")) if data_dir is None else data_dir
    inline = environ.get(ENV_KEY, "").strip()
    key_file = environ.get(ENV_KEY_FILE, "").strip()
    if inline and key_file:
        raise ImproperlyConfigured(f"set {ENV_KEY} or {ENV_KEY_FILE}, not both")
    if inline:
        return _from_text(inline, ENV_KEY)
    if not key_file:
        if production:
            raise ImproperlyConfigured(
                f"{ENV_KEY} or {ENV_KEY_FILE} must hold the pseudonymisation key in production"
            )
        key_file = str(_dev_key_file(Path(data_dir)))
    path = Path(key_file)
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o077
    except OSError as exc:
        raise ImproperlyConfigured(f"{ENV_KEY_FILE}: cannot read {path}: {exc.strerror or exc}") from None
    if mode and production:
        raise ImproperlyConfigured(f"{ENV_KEY_FILE}: {path} is readable by group or others; chmod 600 it")
    return _from_text(text, f"pseudonymisation key file {path}")
