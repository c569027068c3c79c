from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from assessments.approvals.demo import seed_demo_approvals
from assessments.demo import seed_demo_assessments
from assessments.evaluations.demo import seed_demo_evaluations
from governance.demo import seed_demo
from training.demo import seed_demo_training


class Command(BaseCommand):
    help = "Create the demo organisation, users, models and datasets (idempotent)."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates accounts with published passwords: not in production.")
        # The demo assessments refer to the reference catalogue, so it goes in first.
        call_command("load_catalog", stdout=self.stdout)
        accounts = seed_demo()
        seed_demo_assessments()
        seed_demo_training()
        # A real classifier with a built-in bias, and a fairness and a robustness run on it.
        seed_demo_evaluations()
        # Two versions waiting for review: the approvals queue and the gate have something to show.
        seed_demo_approvals()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in at the address below with one of:"))
        self.stdout.write(f"  {'username':<10} {'role':<14} password")
        for username, role, password in accounts:
            self.stdout.write(f"  {username:<10} {role:<14} {password}")
