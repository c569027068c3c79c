"""Make the demo CA and evidence-pack signing certificate on first start (development only)."""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from governance.packs.signing import ensure_demo_authority


class Command(BaseCommand):
    help = ("Create a demo certificate authority and an evidence-pack signing certificate under "
            "data/signing/ when they are missing (development only; production uses WARDEN_SIGNING_P12).")

    def handle(self, *args, **options):
        target = Path(settings.WARDEN_SIGNING_P12 or settings.DATA_DIR / "signing" / "signer.p12").parent
        try:
            paths, created = ensure_demo_authority(target)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if created:
            self.stdout.write(self.style.SUCCESS(f"Demo signing certificate created in {target}"))
            self.stdout.write(f"  Trust this CA to verify packs in a PDF reader: {paths['ca']}")
        else:
            self.stdout.write(f"Demo signing certificate already present in {target}")
