"""Verifying a pack offline: the signature (intact, valid, trusted, covering the whole file) and the
manifest (every attached file present with the SHA-256 the manifest names, nothing unlisted).

Used by ``manage.py verify_pack`` and by the public verification page, so the bytes are hostile:
anything that is not a readable signed PDF gives a clear problem, never a traceback. Nothing is
fetched from the network: trust comes from ``WARDEN_SIGNING_TRUST`` only, and revocation is not
checked online (an offline verifier cannot; the certificate's validity dates are).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pyHanko imports cryptography's deprecated DSA module
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

from governance.packs.render import MANIFEST_FORMAT, MANIFEST_NAME
from governance.packs.signing import certificate_fingerprint

logger = logging.getLogger(__name__)
MAX_EMBEDDED_FILES = 20_000
# Attached files are decompressed with these ceilings: a small upload must not inflate into gigabytes
# in the web process (a decompression bomb). A Warden pack stays far below them.
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024
MAX_ATTACHMENTS_TOTAL = 256 * 1024 * 1024


class NotAPack(Exception):
    """The bytes are not a PDF at all (or not one we can read): the message says so in words."""


@dataclass
class FileCheck:
    name: str
    expected: str | None
    actual: str | None

    @property
    def ok(self) -> bool:
        return self.expected is not None and self.expected == self.actual

    @property
    def problem(self) -> str:
        if self.expected is None:
            return "attached but not listed in the manifest"
        if self.actual is None:
            return "listed in the manifest but not attached"
        return "" if self.ok else "its SHA-256 does not match the manifest"


@dataclass
class PackVerification:
    sha256: str
    size: int
    signed: bool = False
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    whole_file: bool = False
    unmodified: bool = False
    signer_subject: str = ""
    signer_fingerprint: str = ""
    signed_at: dt.datetime | None = None
    timestamped: bool = False
    timestamp_ok: bool = True  # no timestamp, or a valid one from a trusted timestamp authority
    manifest: dict | None = None
    files: list[FileCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def signature_ok(self) -> bool:
        return (self.signed and self.intact and self.valid and self.trusted and self.whole_file and self.unmodified
                and self.timestamp_ok)

    @property
    def manifest_ok(self) -> bool:
        return self.manifest is not None and bool(self.files) and all(check.ok for check in self.files)

    @property
    def ok(self) -> bool:
        return self.signature_ok and self.manifest_ok and not self.problems

    @property
    def pack_id(self) -> str:
        return str((self.manifest or {}).get("pack_id", ""))


def trust_roots() -> list:
    path = getattr(settings, "WARDEN_SIGNING_TRUST", "")
    if not path or not Path(path).is_file():
        return []
    data = Path(path).read_bytes()
    roots = []
    if pem.detect(data):
        for _, _, der in pem.unarmor(data, multiple=True):
            roots.append(x509.Certificate.load(der))
    else:
        roots.append(x509.Certificate.load(data))
    return roots


def _name_tree_pairs(node, depth: int = 0):
    """(name, file specification) pairs of a PDF name tree (flat /Names or nested /Kids)."""
    if depth > 32:
        raise NotAPack("The attachment list nests too deep.")
    node = node.get_object() if hasattr(node, "get_object") else node
    if not isinstance(node, DictionaryObject):
        return
    names = node.get("/Names")
    if names is not None:
        names = names.get_object()
        if isinstance(names, ArrayObject):
            for index in range(0, len(names) - 1, 2):
                yield str(names[index]), names[index + 1].get_object()
    kids = node.get("/Kids")
    if kids is not None:
        for kid in kids.get_object():
            yield from _name_tree_pairs(kid, depth + 1)


def _bounded_data(stream, budget: int) -> bytes:
    """The stream's decoded bytes, refusing to inflate past ``budget``. Warden writes attachments
    Flate-compressed or plain; any other encoding is not ours and is refused."""
    filters = stream.get("/Filter")
    if filters is None:
        data = stream.encoded_data
    else:
        names = [str(f) for f in (filters if isinstance(filters, ArrayObject) else [filters])]
        if names != ["/FlateDecode"] or stream.get("/DecodeParms") is not None:
            raise NotAPack("An attached file uses an encoding Warden never writes.")
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(stream.encoded_data, budget + 1)
        except zlib.error:
            raise NotAPack("An attached file is damaged.") from None
    if len(data) > budget:
        raise NotAPack("An attached file is far larger than any evidence pack holds.")
    return data


def embedded_files(reader: PdfFileReader) -> dict[str, bytes]:
    root = reader.root
    names = root.get("/Names")
    if names is None:
        return {}
    tree = names.get_object().get("/EmbeddedFiles")
    if tree is None:
        return {}
    files: dict[str, bytes] = {}
    remaining = MAX_ATTACHMENTS_TOTAL
    for index, (key, spec) in enumerate(_name_tree_pairs(tree)):
        if index >= MAX_EMBEDDED_FILES:
            raise NotAPack("The PDF has too many attached files.")
        if not isinstance(spec, DictionaryObject):
            continue
        name = str(spec.get("/UF") or spec.get("/F") or key)
        stream = spec.get("/EF", DictionaryObject()).get_object().get("/F")
        if stream is None:
            continue
        data = _bounded_data(stream.get_object(), min(MAX_ATTACHMENT_BYTES, remaining))
        remaining -= len(data)
        files[name] = data
    return files


def verify_pack(data: bytes) -> PackVerification:
    """Check a pack's signature and manifest. Raises ``NotAPack`` for bytes that are not a readable PDF."""
    result = PackVerification(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    if b"%PDF-" not in data[:1024]:
        raise NotAPack("This file is not a PDF.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfFileReader(io.BytesIO(data), strict=False)
            signatures = list(reader.embedded_signatures)
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        raise NotAPack("This PDF is damaged or cannot be read, so it cannot be verified.") from exc

    if not signatures:
        result.problems.append("The PDF carries no signature.")
    else:
        if len(signatures) > 1:
            result.problems.append("The PDF carries more than one signature; a Warden pack has exactly one.")
        _check_signature(signatures[-1], result)

    try:
        files = embedded_files(reader)
    except NotAPack as exc:
        result.problems.append(str(exc))
        return result
    except Exception as exc:  # a damaged attachment list: report, do not crash
        logger.info("Unreadable attachments in an uploaded pack: %s", exc)
        result.problems.append("The attached files cannot be read.")
        return result
    _check_manifest(files, result)
    return result


def _check_signature(signature, result: PackVerification) -> None:
    result.signed = True
    try:
        cert = signature.signer_cert
        result.signer_subject = cert.subject.human_friendly
        result.signer_fingerprint = certificate_fingerprint(cert.dump())
    except Exception:  # noqa: S110 - a mangled CMS blob: the validation below says what failed
        pass
    context = ValidationContext(trust_roots=trust_roots(), allow_fetching=False, revocation_mode="soft-fail")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status = validate_pdf_signature(signature, signer_validation_context=context)
    except (SignatureValidationError, ValueError, KeyError, TypeError, PdfReadError) as exc:
        logger.info("Signature validation error: %s", exc)
        result.problems.append("The signature cannot be checked: it is damaged.")
        return
    result.intact, result.valid, result.trusted = status.intact, status.valid, status.trusted
    result.whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    result.unmodified = status.docmdp_ok is not False and (
        status.modification_level is None or status.modification_level.name == "NONE")
    result.signed_at = status.signer_reported_dt
    stamp = status.timestamp_validity
    if stamp is not None:
        result.timestamped = True
        result.signed_at = stamp.timestamp
        result.timestamp_ok = stamp.intact and stamp.valid and stamp.trusted
        if not result.timestamp_ok:
            result.problems.append("The signature's timestamp is not valid or its timestamp authority is not "
                                   "trusted by this installation.")
    if not status.intact:
        result.problems.append("The signed content has changed since it was signed.")
    elif not status.valid:
        result.problems.append("The signature is not valid.")
    if status.intact and status.valid and not status.trusted:
        result.problems.append("The signing certificate is not issued by a certificate authority this "
                               "installation trusts.")
    if not result.whole_file:
        result.problems.append("The signature does not cover the whole file: something was added after signing.")
    elif not result.unmodified:
        result.problems.append("The document was modified after it was signed.")


def _check_manifest(files: dict[str, bytes], result: PackVerification) -> None:
    raw = files.pop(MANIFEST_NAME, None)
    if raw is None:
        result.problems.append("The PDF has no manifest.json: it is not a Warden evidence pack.")
        return
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError("unknown format")
        listed = {entry["name"]: entry["sha256"] for entry in manifest["attachments"]}
        items = manifest["items"]
    except (ValueError, KeyError, TypeError):
        result.problems.append("manifest.json cannot be read as a Warden manifest.")
        return
    result.manifest = manifest
    actual = {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}
    result.files = [FileCheck(name=name, expected=listed.get(name), actual=actual.get(name))
                    for name in sorted(set(listed) | set(actual))]
    for item in items if isinstance(items, list) else []:
        name = item.get("attachment") if isinstance(item, dict) else None
        if name and actual.get(name) != item.get("sha256"):
            result.problems.append(f"Evidence {item.get('ref', '?')}: the attached file does not match the "
                                   "SHA-256 recorded for the evidence.")
    bad = [check for check in result.files if not check.ok]
    for check in bad[:20]:
        result.problems.append(f"{check.name}: {check.problem}.")
    if len(bad) > 20:
        result.problems.append(f"…and {len(bad) - 20} more attached files that do not match the manifest.")
