"""De-identification of a large table: rows per second, seconds and peak memory.

Usage:  .venv/bin/python bench/deidentify.py [--rows 1000000] [--chunk-rows 100000] [--format csv|parquet]
                                             [--tmp DIR]

Generates a table of --rows people (name, e-mail, SSN, phone, age, postcode, date of birth, income,
label: about 100 bytes a row in CSV) and de-identifies it with the default actions a dataset scan would
suggest (name dropped, e-mail and SSN pseudonymised with HMAC-SHA256, phone masked, age banded,
postcode cut to its outward code, date of birth to its year) and k-anonymity over age and postcode.
Two phases, each in a fresh process so that its peak memory is its own:

- core:       ``governance.deidentify.core`` from a plain file to a plain file (the work itself);
- encrypted:  the same, reading the source from and writing the copy to EncryptedFileSystemStorage
              (AES-256-GCM both ways), as the worker does; the copy is then hashed like an upload.

Prints rows/s, seconds, MB/s of input and the growth of the peak resident set over the process's size
before the phase (ru_maxrss). Everything written is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
os.environ.setdefault("WARDEN_LOG_LEVEL", "WARNING")

RULES = {
    "full_name": ("drop", None), "email": ("pseudonymise", None), "ssn": ("pseudonymise", None),
    "phone": ("mask", 2), "age": ("band", 10), "postcode": ("prefix", 3), "date_of_birth": ("year", None),
}
QUASI = ["age", "postcode"]
FIRST = ["Alice", "Omar", "Priya", "Lars", "Maria", "Kenji", "Grace", "Jean", "Ana", "Ivan"]
LAST = ["Smith", "Okafor", "Novak", "Fischer", "Garcia", "Tanaka", "Brown", "Dubois", "Kowalski", "Rossi"]
POSTCODES = ["SW1A 1AA", "EC1A 1BB", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "94107", "10115", "75008", "02134"]


def make_table(rows: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    index = np.arange(rows)
    first = np.array(FIRST)[rng.integers(0, len(FIRST), rows)]
    last = np.array(LAST)[rng.integers(0, len(LAST), rows)]
    people = pd.Series(index).astype(str)
    return pd.DataFrame({
        "full_name": pd.Series(first) + " " + pd.Series(last),
        "email": "person" + people + "@example.com",
        "ssn": pd.Series(rng.integers(100, 665, rows)).astype(str) + "-" + pd.Series(
            rng.integers(10, 99, rows)).astype(str) + "-" + pd.Series(rng.integers(1000, 9999, rows)).astype(str),
        "phone": "+44 20 " + pd.Series(rng.integers(1000, 9999, rows)).astype(str) + " " + pd.Series(
            rng.integers(1000, 9999, rows)).astype(str),
        "age": rng.integers(18, 90, rows),
        "postcode": np.array(POSTCODES)[rng.integers(0, len(POSTCODES), rows)],
        "date_of_birth": pd.Series(rng.integers(1935, 2006, rows)).astype(str) + "-0" + pd.Series(
            rng.integers(1, 9, rows)).astype(str) + "-1" + pd.Series(rng.integers(0, 9, rows)).astype(str),
        "income": rng.integers(15_000, 150_000, rows),
        "label": rng.integers(0, 2, rows),
    })


def _rules():
    from governance.deidentify.core import ColumnRule

    return {column: ColumnRule(action, param) for column, (action, param) in RULES.items()}


def _pseudonymiser():
    from governance.deidentify.core import Pseudonymiser

    return Pseudonymiser(b"bench-pseudonymisation-key-32byt", "bench")


def phase_core(source: Path, workdir: Path, file_format: str, chunk_rows: int) -> dict:
    from governance.deidentify import core

    stream = core.deidentify_parquet if file_format == "parquet" else core.deidentify_csv
    target = workdir / f"copy.{file_format}"
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with source.open("rb") as handle, target.open("wb") as sink:
        result = stream(handle, sink, rules=_rules(), quasi_identifiers=QUASI, pseudonymiser=_pseudonymiser(),
                        chunk_rows=chunk_rows)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "rows": result.rows, "k": result.k_anonymity["k"],
            "classes": result.k_anonymity["classes"], "out_bytes": target.stat().st_size,
            "rss_growth_mib": (peak - base) / 1024}


def phase_encrypted(source: Path, workdir: Path, file_format: str, chunk_rows: int) -> dict:
    import django

    django.setup()
    from django.core.files import File

    from governance.crypto.keys import KeyRing
    from governance.crypto.storage import EncryptedFileSystemStorage
    from governance.deidentify import core
    from governance.uploads import sha256_of

    keyring = KeyRing((("bench", b"k" * 32),), "bench")
    storage = EncryptedFileSystemStorage(location=str(workdir / "store"), keyring=keyring)
    with source.open("rb") as handle:
        stored = storage.save(f"datasets/source.{file_format}", File(handle, name=source.name))
    stream = core.deidentify_parquet if file_format == "parquet" else core.deidentify_csv
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with storage.open(stored, "rb") as handle, storage.open(f"deidentify/copy.{file_format}", "wb") as sink:
        result = stream(handle, sink, rules=_rules(), quasi_identifiers=QUASI, pseudonymiser=_pseudonymiser(),
                        chunk_rows=chunk_rows)
    deidentified = time.perf_counter() - started
    with storage.open(f"deidentify/copy.{file_format}", "rb") as copy:
        digest = sha256_of(copy)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "deidentify_seconds": deidentified, "rows": result.rows,
            "k": result.k_anonymity["k"], "sha256": digest[:12], "rss_growth_mib": (peak - base) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--tmp", default=None, help="where to write the generated table (default: a temp dir)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        phase = phase_core if args.phase == "core" else phase_encrypted
        print(json.dumps(phase(Path(args.source), Path(args.workdir), args.format, args.chunk_rows)))
        return

    workdir = Path(tempfile.mkdtemp(prefix="warden-bench-deid-", dir=args.tmp))
    try:
        started = time.perf_counter()
        table = make_table(args.rows)
        source = workdir / f"people.{args.format}"
        if args.format == "parquet":
            table.to_parquet(source, index=False, row_group_size=args.chunk_rows)
        else:
            table.to_csv(source, index=False)
        del table
        size = source.stat().st_size
        print(f"Generated {args.rows:,} rows x {len(RULES) + 2} columns ({args.format}, {size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - started:.1f} s; chunks of {args.chunk_rows:,} rows")
        print(f"Actions: {', '.join(f'{c} {a}' for c, (a, _) in RULES.items())}; k-anonymity over "
              f"{', '.join(QUASI)}")
        for phase in ("core", "encrypted"):
            output = subprocess.run(  # noqa: S603 - our own interpreter and script
                [sys.executable, __file__, "--phase", phase, "--source", str(source), "--workdir", str(workdir),
                 "--format", args.format, "--chunk-rows", str(args.chunk_rows)],
                check=True, capture_output=True, text=True, cwd=ROOT,
            ).stdout.strip().splitlines()[-1]
            figures = json.loads(output)
            label = "plain files" if phase == "core" else "encrypted storage (read, write, then SHA-256 of the copy)"
            rate, seconds = figures["rows"] / figures["seconds"], figures["seconds"]
            print(f"{phase:>9}: {rate:,.0f} rows/s, {seconds:.2f} s, {size / 1e6 / seconds:.1f} MB/s of input, "
                  f"peak RSS +{figures['rss_growth_mib']:.0f} MiB, k = {figures['k']}  [{label}]")
            if phase == "encrypted":
                print(f"           of which de-identification {figures['deidentify_seconds']:.2f} s "
                      f"({figures['rows'] / figures['deidentify_seconds']:,.0f} rows/s)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
