"""Build a signed evidence pack from the command line (scheduled packs)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.models import PackStatus
from governance.packs.scope import check_period, parse_scope
from governance.packs.services import pack_build, pack_request


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{name} must be a date written YYYY-MM-DD, not {value!r}") from None


class Command(BaseCommand):
    help = ("Build, sign and store an evidence pack and write it to a file. "
            "Scope: model:ID, framework:CODE (or framework:CODE@unit:ID) or org. Period: the last year by default.")

    def add_arguments(self, parser):
        parser.add_argument("--scope", required=True, help="model:ID | framework:CODE[@unit:ID] | org")
        parser.add_argument("--from", dest="date_from", help="first day of the period (YYYY-MM-DD)")
        parser.add_argument("--to", dest="date_to", help="last day of the period (YYYY-MM-DD), default today")
        parser.add_argument("--out", required=True, help="where to write the signed PDF")

    def handle(self, *args, scope, date_from, date_to, out, **options):
        try:
            pack_scope = parse_scope(scope)
        except ValueError as exc:
            raise CommandError(f"Bad --scope: {exc}") from None
        end = _date(date_to, "--to") if date_to else timezone.localdate()
        start = _date(date_from, "--from") if date_from else end - dt.timedelta(days=365)
        try:
            check_period(start, end)
        except Exception as exc:
            raise CommandError("; ".join(sum(getattr(exc, "message_dict", {}).values(), [])) or str(exc)) from None
        target = Path(out)
        if not target.parent.is_dir():
            raise CommandError(f"The directory {target.parent} does not exist.")
        # A system-built pack: built here and now rather than on a worker, so the command can write the file.
        pack = pack_request(actor=None, scope=pack_scope, period_start=start, period_end=end, dispatch=False)
        pack = pack_build(pack_pk=pack.pk) or pack
        pack.refresh_from_db()
        if pack.status != PackStatus.SUCCEEDED:
            raise CommandError(f"The pack was not built: {pack.error or pack.get_status_display()}")
        with pack.file.open("rb") as source:
            target.write_bytes(source.read())
        self.stdout.write(self.style.SUCCESS(
            f"Evidence pack {pack.pack_id}: {pack.page_count} pages, {pack.size:,} bytes, SHA-256 {pack.sha256}"))
        self.stdout.write(f"Signed by {pack.signer_subject} (certificate SHA-256 {pack.signer_fingerprint})")
        self.stdout.write(f"Written to {target}")
