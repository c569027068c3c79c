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

from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from governance.crypto.keys import key_entries_from_environment

ENV_KEY = "WARDEN_PSEUDONYM_KEY"
ENV_KEY_FILE = "WARDEN_PSEUDONYM_KEY_FILE"
DEV_KEY_FILE_NAME = "warden-dev.pseudonym.key"
DEV_KEY_FILE_NOTE = "# Warden development pseudonymisation key (NOT FOR PRODUCTION; never commit it).\n"
DEV_KEY_FILE_WARNING = ("No pseudonymisation key is configured (WARDEN_PSEUDONYM_KEY or WARDEN_PSEUDONYM_KEY_FILE): "
                        "generated a development key at %s.")


@dataclass(frozen=True)
class PseudonymKey:
    key_id: str
    key: bytes = b""

    def __repr__(self) -> str:  # never the key bytes
        return f"PseudonymKey(key_id={self.key_id!r})"


def load_pseudonym_key(*, environ=None, production: bool | None = None, data_dir: Path | None = None) -> PseudonymKey:
    entries, source = key_entries_from_environment(
        env_key=ENV_KEY, env_file=ENV_KEY_FILE, purpose="the pseudonymisation key", environ=environ,
        production=production, data_dir=data_dir,
        name=DEV_KEY_FILE_NAME, note=DEV_KEY_FILE_NOTE, warning=DEV_KEY_FILE_WARNING,
    )
    if len(entries) != 1:
        raise ImproperlyConfigured(f"{source} must hold exactly one pseudonymisation key, not {len(entries)}")
    key_id, key = entries[0]
    return PseudonymKey(key_id=key_id, key=key)
