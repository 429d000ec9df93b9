"""Lazy package exports: names load on first use; importing the package loads none of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

import codor.evidence
import codor.ledger.sinks


def test_an_export_loads_on_first_use_and_is_the_modules_own() -> None:
    from codor.evidence.keys import KeyStore
    from codor.ledger.sinks.jsonl import JsonlSink

    assert codor.evidence.KeyStore is KeyStore
    assert codor.ledger.sinks.JsonlSink is JsonlSink


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"'codor\.evidence' has no attribute 'Nope'"):
        _ = codor.evidence.Nope  # type: ignore[attr-defined]


def test_importing_the_packages_loads_neither_signing_nor_http() -> None:
    code = ("import sys, codor.evidence, codor.ledger.sinks; "
            "print(sorted(m for m in ('cryptography', 'http.client', 'ssl') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
