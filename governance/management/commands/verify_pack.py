"""Verify an evidence pack offline. Exit status 0 only when everything checks out."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.packs.verify import NotAPack, verify_pack

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


class Command(BaseCommand):
    help = ("Check an evidence pack: the signature is intact, valid, trusted (WARDEN_SIGNING_TRUST) and covers "
            "the whole file, and every attached file matches manifest.json. Exit 0 when all hold, 1 when any "
            "check fails, 2 when the file cannot be read as a PDF.")

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        try:
            result = verify_pack(data)
        except NotAPack as exc:
            self.stderr.write(f"NOT VERIFIED: {exc}")
            sys.exit(EXIT_UNREADABLE)
        yes = {True: "yes", False: "NO"}
        lines = [
            f"File:           {path} ({result.size:,} bytes, SHA-256 {result.sha256})",
            f"Pack id:        {result.pack_id or '-'}",
            f"Signer:         {result.signer_subject or '-'}",
            f"Certificate:    SHA-256 {result.signer_fingerprint or '-'}",
            f"Signed at:      {result.signed_at.isoformat() if result.signed_at else '-'}"
            + (" (timestamp)" if result.timestamped else " (signer's clock)"),
            f"Intact:         {yes[result.intact]}",
            f"Valid:          {yes[result.valid]}",
            f"Trusted:        {yes[result.trusted]} (CA: {settings.WARDEN_SIGNING_TRUST or 'none configured'})",
            f"Whole file:     {yes[result.whole_file and result.unmodified]}",
            f"Manifest:       {yes[result.manifest_ok]} ({sum(c.ok for c in result.files)} of {len(result.files)} "
            "attached files match)",
        ]
        for line in lines:
            self.stdout.write(line)
        if result.ok:
            self.stdout.write(self.style.SUCCESS("VERIFIED"))
            return
        for problem in result.problems:
            self.stderr.write(f"- {problem}")
        self.stderr.write("NOT VERIFIED")
        sys.exit(EXIT_FAILED)
