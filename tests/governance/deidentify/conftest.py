"""The officers and the dataset full of personal data of the retention tests, shared here."""

from tests.governance.retention.conftest import dpo, people_version, research_dpo  # noqa: F401 - fixtures
