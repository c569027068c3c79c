"""What scans, evaluations and copies ask before they read a dataset version's file."""

from __future__ import annotations


def erased_reason(version) -> str | None:
    """Why the version's file cannot be read because it was erased, or None (also for model versions)."""
    erased_at = getattr(version, "erased_at", None)
    if erased_at is None:
        return None
    return (f"Version {version.version} of {version.dataset.name} was erased on {erased_at:%d %b %Y}: its file was "
            f"destroyed, so it cannot be scanned, evaluated or copied.")
