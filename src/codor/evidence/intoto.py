"""in-toto attestations: Statement v1, the link v0.3 and test-result v0.1 predicates, bundles.

* Statement v1 (in-toto/attestation spec/v1/statement.md): ``{"_type":
  "https://in-toto.io/Statement/v1", "subject": [ResourceDescriptor], "predicateType": URI,
  "predicate": {...}}``; every subject has a ``digest``.
* link v0.3 (spec/predicates/link.md): predicate ``{name, command, materials, byproducts,
  environment}``; ``materials`` is a list of ResourceDescriptors (each with ``name`` and
  ``digest``). A link has **no** ``products`` field: the products are the Statement's
  ``subject`` — :func:`link_statement` builds that shape.
* test-result v0.1 (spec/predicates/test-result.md): ``{result: PASSED|WARNED|FAILED,
  configuration: [ResourceDescriptor], passedTests, warnedTests, failedTests, url?}``.
* Envelopes are DSSE with payload type ``application/vnd.in-toto+json`` and the canonical
  JSON (RFC 8785) of the Statement as payload; bundles are JSON Lines (``.intoto.jsonl``), one
  envelope per line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from codor.canonical import canonical_json
from codor.errors import InputError
from codor.evidence.dsse import sign_envelope, verify_envelope
from codor.evidence.errors import SignatureError
from codor.evidence.keys import LogKey, Verifier

__all__ = [
    "LINK_PREDICATE_TYPE",
    "PAYLOAD_TYPE",
    "STATEMENT_TYPE",
    "TEST_RESULTS",
    "TEST_RESULT_PREDICATE_TYPE",
    "bundle_lines",
    "link_predicate",
    "link_statement",
    "parse_bundle",
    "resource_descriptors",
    "sign_statement",
    "statement",
    "test_result_predicate",
    "verify_statement",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
LINK_PREDICATE_TYPE = "https://in-toto.io/attestation/link/v0.3"
TEST_RESULT_PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
TEST_RESULTS = ("PASSED", "WARNED", "FAILED")

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

Descriptors = Mapping[str, str] | Sequence[Mapping[str, Any]]


def resource_descriptors(digests: Mapping[str, str]) -> list[dict[str, Any]]:
    """``{name: sha256 hex}`` as ResourceDescriptors ``{"name", "digest": {"sha256"}}``, sorted
    by name so the same input always gives the same bytes."""
    if not isinstance(digests, Mapping):
        raise InputError("expected a mapping of name to sha256 hex digest")
    out: list[dict[str, Any]] = []
    for name in sorted(digests):
        value = digests[name]
        if not isinstance(name, str) or not name:
            raise InputError("a resource name must be a non-empty string")
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            raise InputError(f"digest of {name!r} is not a sha256 hex digest", location=name)
        out.append({"name": name, "digest": {"sha256": value.lower()}})
    return out


def _descriptors(value: Descriptors | None, what: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return resource_descriptors(value)
    out = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("digest"), Mapping):
            raise InputError(f"each {what} entry must be a ResourceDescriptor with a digest")
        out.append(dict(item))
    return out


def _strings(values: Iterable[str] | None, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        raise InputError(f"{what} must be a list of strings, not a string")
    out = list(values)
    if not all(isinstance(v, str) for v in out):
        raise InputError(f"{what} must be a list of strings")
    return out


def statement(
    subjects: Mapping[str, str], predicate_type: str, predicate: Mapping[str, Any]
) -> dict[str, Any]:
    """An in-toto Statement v1 about ``subjects`` (``{name: sha256 hex}``, at least one)."""
    subject = resource_descriptors(subjects)
    if not subject:
        raise InputError("an in-toto statement needs at least one subject")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise InputError("predicateType must be a non-empty URI")
    if not isinstance(predicate, Mapping):
        raise InputError("predicate must be an object")
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def link_predicate(
    command: Sequence[str],
    materials: Descriptors,
    byproducts: Mapping[str, Any] | None = None,
    *,
    name: str,
    environment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A link v0.3 predicate for step ``name`` (products go in the Statement subject)."""
    if not isinstance(name, str) or not name:
        raise InputError("a link needs a non-empty step name")
    mats = _descriptors(materials, "materials")
    names = [m.get("name") for m in mats]
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise InputError("link materials need unique, non-empty names")
    return {
        "name": name,
        "command": _strings(command, "command"),
        "materials": mats,
        "byproducts": dict(byproducts or {}),
        "environment": dict(environment or {}),
    }


def link_statement(
    name: str,
    command: Sequence[str],
    materials: Descriptors,
    products: Mapping[str, str],
    byproducts: Mapping[str, Any] | None = None,
    environment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Statement v1 whose subject is ``products`` and whose predicate is a link v0.3."""
    predicate = link_predicate(command, materials, byproducts, name=name, environment=environment)
    return statement(products, LINK_PREDICATE_TYPE, predicate)


def test_result_predicate(
    result: str,
    passed: Iterable[str],
    failed: Iterable[str],
    configuration: Descriptors | None = None,
    *,
    warned: Iterable[str] | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """A test-result v0.1 predicate. ``configuration`` is required by the spec; it is an empty
    list when not given. A ``PASSED`` result with failed tests is refused."""
    if result not in TEST_RESULTS:
        raise InputError(f"test result must be one of {', '.join(TEST_RESULTS)}, not {result!r}")
    failed_tests = _strings(failed, "failedTests")
    if result == "PASSED" and failed_tests:
        raise InputError("a PASSED test result cannot list failed tests")
    predicate: dict[str, Any] = {
        "result": result,
        "configuration": _descriptors(configuration, "configuration"),
        "passedTests": _strings(passed, "passedTests"),
        "warnedTests": _strings(warned, "warnedTests"),
        "failedTests": failed_tests,
    }
    if url is not None:
        predicate["url"] = url
    return predicate


def sign_statement(stmt: Mapping[str, Any], key: LogKey | Sequence[LogKey]) -> dict[str, Any]:
    """DSSE-sign the canonical JSON of an in-toto Statement."""
    if stmt.get("_type") != STATEMENT_TYPE:
        raise InputError(f"not an in-toto Statement v1 (_type must be {STATEMENT_TYPE})")
    return sign_envelope(canonical_json(stmt), PAYLOAD_TYPE, key)


def verify_statement(
    envelope: Mapping[str, Any], verifiers: Iterable[Verifier], *, threshold: int = 1
) -> dict[str, Any]:
    """Verify an in-toto DSSE envelope and return its Statement."""
    payload = verify_envelope(envelope, verifiers, payload_type=PAYLOAD_TYPE, threshold=threshold)
    try:
        stmt = json.loads(payload)
    except ValueError:
        raise SignatureError("signed in-toto payload is not JSON") from None
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        raise SignatureError("signed in-toto payload is not a Statement v1")
    return stmt


def bundle_lines(envelopes: Iterable[Mapping[str, Any]]) -> str:
    """Envelopes as JSON Lines (``.intoto.jsonl``): one canonical JSON envelope per line."""
    return "".join(canonical_json(env).decode("utf-8") + "\n" for env in envelopes)


def parse_bundle(text: str) -> list[dict[str, Any]]:
    """The envelopes of a JSON Lines bundle (blank lines are skipped); nothing is verified.

    Lines are split on ``\\n`` only: canonical JSON may hold a raw U+2028 inside a string.
    """
    out: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise InputError("bundle line is not JSON", location=f"line {number}") from None
        if not isinstance(value, dict):
            raise InputError("bundle line is not a JSON object", location=f"line {number}")
        out.append(value)
    return out
