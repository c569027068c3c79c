"""A memory ceiling around one evaluation in a worker process.

Celery's ``--max-memory-per-child`` only replaces a worker *after* a task has finished, which is too
late for a model or data set that grows without bound. Here the process's data-segment limit
(RLIMIT_DATA, which on Linux counts heap and anonymous mappings) is lowered for the duration of the
evaluation, so an allocation past it raises MemoryError, which ``runs.run_execute`` records as a
readable failure; the limit is restored afterwards. Only in worker processes: in the embedded
default tasks run inside the web server, whose other threads must not inherit the ceiling.
"""

from __future__ import annotations

import contextlib
import logging

logger = logging.getLogger(__name__)

try:
    import resource
except ImportError:  # not on this platform: no ceiling
    resource = None


@contextlib.contextmanager
def memory_ceiling(megabytes: int):
    if not megabytes or resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    wanted = megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (wanted, hard))
    except (ValueError, OSError) as exc:
        logger.warning("Could not set the evaluation memory ceiling: %s", exc)
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
