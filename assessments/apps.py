from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Assessments"

    def ready(self) -> None:
        # System checks of the evaluation settings register themselves on import.
        # (policy: the approval policy and the gate's signing key)
        from assessments.approvals import gate_cache, policy  # noqa: F401
        from assessments.evaluations import threshold_policy  # noqa: F401

        gate_cache.connect_signals()
