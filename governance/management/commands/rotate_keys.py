"""Re-wrap every stored file's data key under the current key-encryption key.

    python manage.py rotate_keys [--new-key-id ID] [--dry-run] [--encrypt-plaintext] [--storage ALIAS]

Rotating a KEK:

1. Add the new key as the LAST entry of WARDEN_KEK (or the key file), keeping the old ones, and
   restart the web and worker processes: new uploads are now wrapped under it.
2. Run this command. Only each file's 8 KiB header is rewritten (see governance.crypto.envelope);
   bodies are untouched. It can be interrupted at any point and run again: files already under the
   new key are counted as current and skipped.
3. When it reports that no file uses an old key any more, remove that key and restart.

Values of encrypted database fields (``governance.crypto.fields``) are re-encrypted under the current
key in the same run, also resumably (a value already under it is skipped).

Exits non-zero if any file could not be re-wrapped (it is listed with the reason).
"""

from __future__ import annotations

from collections import Counter

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.utils.functional import LazyObject, empty

from governance.crypto.errors import EncryptedStorageError, NotEncrypted
from governance.crypto.fields import reencrypt_fields
from governance.crypto.storage import EncryptedFileSystemStorage

LISTED = 20
PROGRESS_EVERY = 1000


class Command(BaseCommand):
    help = (
        "Re-wrap every stored file's data key under the current key-encryption key (or --new-key-id), "
        "without rewriting file bodies. Resumable: run it again after an interruption."
    )

    def add_arguments(self, parser):
        parser.add_argument("--new-key-id", help="the configured key to wrap under (default: the last one listed)")
        parser.add_argument("--storage", default="default", help="the storage alias (default: default)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be re-wrapped; change nothing")
        parser.add_argument(
            "--encrypt-plaintext",
            action="store_true",
            help="also encrypt files stored before encryption was switched on (rewrites those files)",
        )

    def handle(self, *args, **options):
        storage = storages[options["storage"]]
        if not isinstance(storage, EncryptedFileSystemStorage):
            raise CommandError(
                f"storage {options['storage']!r} is {type(storage).__name__}, not EncryptedFileSystemStorage: "
                f"nothing to rotate"
            )
        try:
            keyring = storage.keyring
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        target = options["new_key_id"] or keyring.current_id
        if target not in keyring:
            raise CommandError(f"key {target!r} is not configured (configured: {', '.join(keyring.ids)})")
        dry_run, encrypt_plaintext = options["dry_run"], options["encrypt_plaintext"]
        self.dry_run = dry_run
        verbosity = options["verbosity"]

        counts: Counter[str] = Counter()
        errors: list[tuple[str, str]] = []
        plaintext: list[str] = []
        seen = 0
        self.stdout.write(f"Wrapping data keys under key-encryption key {target!r}{' (dry run)' if dry_run else ''}")
        try:
            for name in storage.stored_names():
                seen += 1
                try:
                    if dry_run:
                        status = "current" if storage.key_id(name) == target else "rewrapped"
                    else:
                        status = storage.rewrap(name, target)
                    counts[status] += 1
                    if status == "rewrapped" and verbosity >= 2:
                        self.stdout.write(f"  re-wrapped {name}")
                except FileNotFoundError:
                    continue  # deleted while we walked: nothing left to rotate
                except NotEncrypted:
                    if encrypt_plaintext and not dry_run:
                        storage.encrypt_in_place(name)
                        storage.rewrap(name, target)
                        counts["encrypted"] += 1
                    else:
                        counts["plaintext"] += 1
                        plaintext.append(name)
                except (EncryptedStorageError, OSError) as exc:
                    counts["errors"] += 1
                    errors.append((name, str(exc)))
                if seen % PROGRESS_EVERY == 0:
                    self.stdout.write(f"  … {seen} files")
        except KeyboardInterrupt:
            self._report(target, counts, errors, plaintext, missing=None, interrupted=True)
            raise CommandError(
                f"interrupted after {seen} files; run rotate_keys again to continue (done files are skipped)"
            ) from None

        missing = self._missing_files(storage)
        self._report(target, counts, errors, plaintext, missing=missing, interrupted=False)
        # Encrypted database fields (governance.crypto.fields) are re-encrypted under the current key too.
        fields = reencrypt_fields(keyring=keyring, dry_run=dry_run) if target == keyring.current_id else None
        if fields is not None:
            self.stdout.write(
                f"Database fields: {'would re-encrypt' if dry_run else 're-encrypted'} {fields['reencrypted']}, "
                f"already current {fields['current']}, errors {fields['errors']}"
            )
        if not dry_run and not errors and not plaintext and not (fields and fields["errors"]):
            in_use = {target}
            retired = [key_id for key_id in keyring.ids if key_id not in in_use]
            if retired:
                self.stdout.write(
                    f"No stored file uses {', '.join(repr(k) for k in retired)} any more: "
                    f"remove {'it' if len(retired) == 1 else 'them'} from the configuration once every "
                    f"process runs with {target!r} as the current key."
                )
        if errors:
            raise CommandError(f"{len(errors)} file(s) could not be re-wrapped (listed above)")
        if fields and fields["errors"]:
            raise CommandError(f"{fields['errors']} encrypted database value(s) could not be decrypted: they were "
                               f"altered, or written under a key that is not configured")

    def _missing_files(self, storage) -> list[str]:
        """Files the database refers to that the storage does not hold."""
        missing: list[str] = []
        for model in apps.get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            for field in model._meta.concrete_fields:
                if not isinstance(field, models.FileField) or _resolve(field.storage) is not storage:
                    continue
                names = (
                    model._default_manager.exclude(**{f"{field.attname}__isnull": True})
                    .exclude(**{field.attname: ""})
                    .values_list(field.attname, flat=True)
                )
                for name in names.iterator():
                    if not storage.exists(name):
                        missing.append(f"{name} ({model._meta.label}.{field.name})")
        return missing

    def _report(self, target, counts, errors, plaintext, *, missing, interrupted) -> None:
        verb = "Would re-wrap" if self.dry_run else "Re-wrapped"
        lines = [
            f"{verb}: {counts['rewrapped']}",
            f"Already current: {counts['current']}",
            f"Missing files: {'not checked (interrupted)' if missing is None else len(missing)}",
            f"Errors: {counts['errors']}",
        ]
        if counts["encrypted"]:
            lines.append(f"Encrypted (were plaintext): {counts['encrypted']}")
        if plaintext:
            lines.append(f"Not encrypted (run with --encrypt-plaintext): {len(plaintext)}")
        if interrupted:
            lines.insert(0, "Interrupted.")
        for line in lines:
            self.stdout.write(line)
        for name, reason in errors[:LISTED]:
            self.stderr.write(f"  error: {reason if reason.startswith(name) else f'{name}: {reason}'}")
        for name in (missing or [])[:LISTED]:
            self.stdout.write(f"  missing: {name}")
        for name in plaintext[:LISTED]:
            self.stdout.write(f"  not encrypted: {name}")
        for kind, items in (("errors", errors), ("missing files", missing or []), ("unencrypted files", plaintext)):
            if len(items) > LISTED:
                self.stdout.write(f"  … and {len(items) - LISTED} more {kind}")


def _resolve(storage):
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage
