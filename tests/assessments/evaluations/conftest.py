"""Fixtures for evaluation runs: a model with a version, a dataset with a version, and file payloads.

Artifacts are made as bytes: the malicious pickle is written opcode by opcode and never loaded.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from assessments.evaluations.demo_classifier import build_demo_classifier
from governance.services import inventory

# GLOBAL 'os system', the argument 'true', TUPLE1, REDUCE, STOP: unpickling it would call os.system.
MALICIOUS_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."

# Test card numbers published by the card networks (Luhn-valid, never issued to anyone).
CARD_NUMBERS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117",
                "4012888888881881", "5105105105105100"]


def clean_pickle() -> bytes:
    return pickle.dumps({"weights": [0.1, 0.2, 0.3], "bias": 0.5}, protocol=4)


def csv_bytes(rows: list[list], header: list[str]) -> bytes:
    out = io.StringIO()
    out.write(",".join(header) + "\n")
    for row in rows:
        out.write(",".join("" if value is None else str(value) for value in row) + "\n")
    return out.getvalue().encode()


def card_csv(rows: int = 60) -> bytes:
    return csv_bytes(
        [[i, f"customer{i}@example.com", CARD_NUMBERS[i % len(CARD_NUMBERS)], 10 + i % 7, i % 2] for i in range(rows)],
        ["id", "email", "card_number", "amount", "label"],
    )


def plain_csv(rows: int = 60, shift: float = 0.0) -> bytes:
    return csv_bytes([[i, round(20 + (i % 30) + shift, 2), f"c{i % 4}", i % 2] for i in range(rows)],
                     ["id", "age", "segment", "label"])


@pytest.fixture
def catalog(db):
    call_command("load_catalog", verbosity=0)


@pytest.fixture
def model(ml_lead, retail):
    return inventory.model_register(actor=ml_lead, business_unit=retail, name="Credit scorer",
                                    purpose="Scores loan applications.")


def upload_model_version(actor, model, content: bytes, version: str = "1.0", name: str = "model.pkl", **extra):
    return inventory.model_version_create(actor=actor, model=model, version=version,
                                          artifact=SimpleUploadedFile(name, content), **extra)


def upload_dataset_version(actor, dataset, content: bytes, version: str = "v1", name: str = "data.csv"):
    return inventory.dataset_version_create(actor=actor, dataset=dataset, version=version,
                                            file=SimpleUploadedFile(name, content))


@pytest.fixture
def malicious_version(ml_lead, model):
    return upload_model_version(ml_lead, model, MALICIOUS_PICKLE)


@pytest.fixture
def clean_version(ml_lead, model):
    return upload_model_version(ml_lead, model, clean_pickle(), version="0.9")


@pytest.fixture
def dataset(ml_lead, retail):
    return inventory.dataset_register(actor=ml_lead, business_unit=retail, name="Payments")


@pytest.fixture
def card_dataset_version(ml_lead, dataset):
    return upload_dataset_version(ml_lead, dataset, card_csv())


# --- the demo classifier for fairness and robustness runs -------------------------------------------------

@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    return build_demo_classifier(tmp_path_factory.mktemp("demo-classifier"), rows=2_000)


def demo_file(demo, name: str) -> bytes:
    return Path(demo["paths"][name]).read_bytes()


@pytest.fixture
def skops_version(ml_lead, model, demo):
    return upload_model_version(ml_lead, model, demo_file(demo, "skops"), version="2.0", name="loan.skops")


@pytest.fixture
def onnx_version(ml_lead, model, demo):
    return upload_model_version(ml_lead, model, demo_file(demo, "onnx"), version="2.0-onnx", name="loan.onnx")


@pytest.fixture
def pickle_version(ml_lead, model):
    return upload_model_version(ml_lead, model, clean_pickle(), version="0.9")


@pytest.fixture
def evaluation_data(ml_lead, dataset, demo):
    return upload_dataset_version(ml_lead, dataset, demo_file(demo, "evaluation_csv"), version="eval", name="eval.csv")
