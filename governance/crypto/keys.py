"""Key-encryption keys (KEKs): where they come from, what they are called, which one is current.

A KEK never lives in the database or in a stored file: it comes from the environment or from a key
file named by the environment. Exactly one source is used:

``WARDEN_KEK``
    One or more keys separated by commas or whitespace. Each is ``ID:BASE64`` or just ``BASE64``
    (32 random bytes, standard or URL-safe base64), e.g. ``WARDEN_KEK=2024q1:3q2+7w...=,2024q3:q83v...=``.
``WARDEN_KEK_FILE``
    A file holding one key per line in the same forms (``ID BASE64`` also works); ``#`` starts a
    comment. It must not be readable by group or others.

The LAST key listed is the current one: new files are wrapped under it and ``rotate_keys``
re-wraps older files to it. The keys before it are kept only so that files not yet rotated stay
readable; once ``rotate_keys`` reports that nothing uses them any more they can be removed.

A key without an ``ID:`` gets a stable id derived from the key itself (``k`` + 12 hex digits of a
SHA-256 of it), so the same key always has the same id and a wrong key never matches by accident.

With no key configured, development and test runs generate a key file under ``DATA_DIR`` on first
use (mode 0600) and log a warning; files written with it are unreadable without that file. In
production (``settings.PRODUCTION``) a missing key is a configuration error: Warden refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from governance.crypto.errors import KeyNotConfigured

logger = logging.getLogger("governance.crypto")

KEK_BYTES = 32
KEY_ID_MAX = 32
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
ENV_KEK = "WARDEN_KEK"
ENV_KEK_FILE = "WARDEN_KEK_FILE"
DEV_KEY_FILE_NAME = "warden-dev.kek"


def derived_key_id(key: bytes) -> str:
    """The id of a key listed without one: stable, and different for every key."""
    return "k" + hashlib.sha256(b"warden-kek-id\x00" + key).hexdigest()[:12]


def generate_kek() -> str:
    """A new key as the base64 text that WARDEN_KEK and key files take."""
    return base64.b64encode(secrets.token_bytes(KEK_BYTES)).decode("ascii")


@dataclass(frozen=True)
class KeyRing:
    """The configured KEKs in the order they were listed; the last is current."""

    entries: tuple[tuple[str, bytes], ...]
    source: str

    def __post_init__(self) -> None:
        if not self.entries:
            raise ImproperlyConfigured(f"{self.source} holds no key-encryption key")
        seen: dict[str, bytes] = {}
        for key_id, key in self.entries:
            if key_id in seen and seen[key_id] != key:
                raise ImproperlyConfigured(f"{self.source} lists two different keys under the id {key_id!r}")
            seen[key_id] = key

    @property
    def current_id(self) -> str:
        return self.entries[-1][0]

    @property
    def ids(self) -> list[str]:
        ordered: list[str] = []
        for key_id, _ in self.entries:
            if key_id not in ordered:
                ordered.append(key_id)
        return ordered

    def __contains__(self, key_id: object) -> bool:
        return any(key_id == entry_id for entry_id, _ in self.entries)

    def key(self, key_id: str) -> bytes:
        for entry_id, key in self.entries:
            if entry_id == key_id:
                return key
        raise KeyNotConfigured(
            f"the data key is wrapped under key-encryption key {key_id!r}, which is not configured "
            f"(configured in {self.source}: {', '.join(self.ids)}); add that key back to read the file"
        )

    def __repr__(self) -> str:  # never the key bytes
        return f"KeyRing(ids={self.ids!r}, current={self.current_id!r}, source={self.source!r})"


def parse_entries(text: str, *, source: str) -> list[tuple[str, bytes]]:
    """Keys from WARDEN_KEK text or a key file; a bad entry stops start-up with its position."""
    entries = []
    tokens: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        # "ID BASE64" on one line of a key file is the same as "ID:BASE64".
        parts = line.replace(",", " ").split()
        if len(parts) == 2 and ":" not in parts[0] and KEY_ID_PATTERN.match(parts[0]) and len(parts[1]) > KEY_ID_MAX:
            tokens.append(f"{parts[0]}:{parts[1]}")
        else:
            tokens.extend(parts)
    for position, token in enumerate(tokens, start=1):
        key_id, _, encoded = token.rpartition(":")
        key = _decode_key(encoded, source=source, position=position)
        if key_id:
            if not KEY_ID_PATTERN.match(key_id):
                raise ImproperlyConfigured(
                    f"{source}: key {position} has the id {key_id!r}; ids are 1-32 letters, digits, '.', '_' or '-'"
                )
        else:
            key_id = derived_key_id(key)
        entries.append((key_id, key))
    return entries


def _decode_key(encoded: str, *, source: str, position: int) -> bytes:
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        if "-" in encoded or "_" in encoded:
            key = base64.urlsafe_b64decode(padded)
        else:
            key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{source}: key {position} is not valid base64") from None
    if len(key) != KEK_BYTES:
        raise ImproperlyConfigured(
            f"{source}: key {position} is {len(key)} bytes; a key-encryption key is {KEK_BYTES} random bytes "
            f"in base64 (python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')"
        )
    return key


def _read_key_file(path: Path, *, production: bool, source: str) -> list[tuple[str, bytes]]:
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(f"{source}: cannot read the key file {path}: {exc.strerror or exc}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        message = f"{source}: the key file {path} is readable by group or others; chmod 600 it"
        if production:
            raise ImproperlyConfigured(message)
        logger.warning(message)
    return parse_entries(text, source=source)


_dev_key_lock = threading.Lock()


KEK_FILE_NOTE = (
    "# Warden development key-encryption key, generated because neither WARDEN_KEK nor\n"
    "# WARDEN_KEK_FILE is set. NOT FOR PRODUCTION. Every stored upload under this data\n"
    "# directory is unreadable without this file: keep it with the data, never commit it.\n"
)
KEK_FILE_WARNING = ("No key-encryption key is configured (WARDEN_KEK or WARDEN_KEK_FILE): generated a "
                    "development key at %s. Uploads are encrypted under it; set WARDEN_KEK in production.")


def _development_key_file(data_dir: Path, *, name: str = DEV_KEY_FILE_NAME, note: str = KEK_FILE_NOTE,
                          warning: str = KEK_FILE_WARNING) -> Path:
    """A generated development key, created once with 0600 (atomic with O_EXCL: two processes
    starting together cannot each create a different key)."""
    path = Path(data_dir) / name
    with _dev_key_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = base64.b64decode(generate_kek())
            body = note + f"{derived_key_id(key)} {base64.b64encode(key).decode('ascii')}\n"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(body)
                    handle.flush()
                    os.fsync(handle.fileno())
                logger.warning(warning, path)
    # Another process may have created the file a moment ago and still be writing it.
    for _ in range(50):
        if path.stat().st_size:
            break
        time.sleep(0.02)
    return path


def key_entries_from_environment(
    *, env_key: str, env_file: str, purpose: str, environ: Mapping[str, str] | None = None,
    production: bool | None = None, data_dir: Path | None = None, **development_file,
) -> tuple[list[tuple[str, bytes]], str]:
    """(key entries, where they came from) for a key given inline (``env_key``) or in a file
    (``env_file``), never both; in development, a generated key file under ``data_dir``
    (``development_file``: the ``name``, ``note`` and ``warning`` of ``_development_key_file``).
    ``production`` and ``data_dir`` default to the Django settings; pass them to call this from
    settings.py itself (before settings are ready)."""
    environ = os.environ if environ is None else environ
    if production is None or data_dir is None:
        from django.conf import settings

        production = bool(getattr(settings, "PRODUCTION", False)) if production is None else production
        data_dir = Path(getattr(settings, "DATA_DIR", ".")) if data_dir is None else data_dir
    inline = environ.get(env_key, "").strip()
    key_file = environ.get(env_file, "").strip()
    if inline and key_file:
        raise ImproperlyConfigured(f"set {env_key} or {env_file}, not both")
    if inline:
        return parse_entries(inline, source=env_key), env_key
    if key_file:
        return _read_key_file(Path(key_file), production=production, source=env_file), env_file
    if production:
        raise ImproperlyConfigured(f"{env_key} or {env_file} must hold {purpose} in production")
    path = _development_key_file(Path(data_dir), **development_file)
    source = f"development key file {path}"
    return _read_key_file(path, production=False, source=source), source


def load_keyring(
    *, environ: Mapping[str, str] | None = None, production: bool | None = None, data_dir: Path | None = None
) -> KeyRing:
    """The configured KEKs (see ``key_entries_from_environment``)."""
    entries, source = key_entries_from_environment(
        env_key=ENV_KEK, env_file=ENV_KEK_FILE, purpose="the key-encryption key for stored files",
        environ=environ, production=production, data_dir=data_dir,
    )
    return KeyRing(tuple(entries), source)


_cache: dict[tuple, KeyRing] = {}
_cache_lock = threading.Lock()


def current_keyring() -> KeyRing:
    """``load_keyring()`` for the running process, re-read only when its inputs change (the env
    values, the key file's mtime, the settings), so opening a file does not re-parse keys."""
    from django.conf import settings

    inline = os.environ.get(ENV_KEK, "")
    key_file = os.environ.get(ENV_KEK_FILE, "")
    data_dir = Path(getattr(settings, "DATA_DIR", "."))
    production = bool(getattr(settings, "PRODUCTION", False))
    watched = Path(key_file) if key_file else (None if inline else data_dir / DEV_KEY_FILE_NAME)
    try:
        stamp = watched.stat().st_mtime_ns if watched else None
    except OSError:
        stamp = None
    cache_key = (inline, key_file, str(data_dir), production, stamp)
    with _cache_lock:
        ring = _cache.get(cache_key)
    if ring is None:
        ring = load_keyring(production=production, data_dir=data_dir)
        with _cache_lock:
            _cache.clear()
            _cache[cache_key] = ring
    return ring


def clear_keyring_cache() -> None:
    with _cache_lock:
        _cache.clear()
