"""The memory ceiling around an evaluation in a worker: an allocation past it is a MemoryError (which the
run records as a readable failure), and the process's own limit is restored afterwards. Run in a child
process, so the test process never carries a lowered limit."""

import subprocess
import sys
import textwrap

from assessments.evaluations.limits import memory_ceiling

CHILD = textwrap.dedent("""
    import resource
    from assessments.evaluations.limits import memory_ceiling
    before = resource.getrlimit(resource.RLIMIT_DATA)
    try:
        with memory_ceiling(256):
            block = bytearray(1024 * 1024 * 1024)
        print("allocated")
    except MemoryError:
        print("refused")
    assert resource.getrlimit(resource.RLIMIT_DATA) == before
    block = bytearray(400 * 1024 * 1024)  # fine again once the evaluation is over
    print("restored")
""")


def test_an_allocation_past_the_ceiling_is_refused_and_the_limit_restored():
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60,  # noqa: S603
                            check=False)
    assert result.stdout.split() == ["refused", "restored"], result.stderr


def test_no_ceiling_when_none_is_configured():
    with memory_ceiling(0):
        block = bytearray(64 * 1024 * 1024)
    assert len(block) == 64 * 1024 * 1024
