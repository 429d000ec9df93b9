"""Structured JSON claims: parsing, strict errors with locations, the JSON Schema (which must
accept exactly what the parser accepts) and telling JSON reports from prose."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims.claim import CLAIM_KINDS, SCOPES, Claim
from codor.claims.structured import (
    CLAIMS_JSON_SCHEMA,
    FIELDS,
    REQUIRED,
    looks_like_claims_json,
    parse_claims_json,
)
from codor.errors import InputError

EXAMPLE: dict[str, Any] = {"claims": [
    {"kind": "tests.pass", "count": 42, "scope": "all", "runner": "pytest",
     "text": "All 42 tests pass"},
    {"kind": "tests.fail", "count": 2, "runner": "jest"},
    {"kind": "tests.not_run"},
    {"kind": "tests.added", "count": 3, "paths": ["tests/test_parser.py"]},
    {"kind": "file.created", "paths": ["docs/api.md"]},
    {"kind": "file.modified", "paths": ["README.md", "setup.cfg"]},
    {"kind": "file.deleted", "paths": ["old_api.py"]},
    {"kind": "command.ran", "command": "npm run build"},
    {"kind": "git.commit", "commit": "ABC1234"},
    {"kind": "build.pass", "command": "npm run build"},
    {"kind": "lint.pass", "command": "ruff check ."},
    {"kind": "typecheck.pass"},
    {"kind": "browser.verified"},
    {"kind": "vague", "text": "thoroughly tested"},
    {"kind": "attribution", "text": "the team finished the modal"},
]}

VALID: list[Any] = [
    EXAMPLE,
    EXAMPLE["claims"],
    {"claims": []},
    [],
    [{"kind": "tests.pass", "count": 3.0}],
    [{"kind": "tests.pass", "scope": "subset", "command": "pytest tests/test_a.py",
      "paths": ["tests/test_a.py"]}],
]

INVALID: list[tuple[Any, str]] = [
    ("tests pass", 'claims: must be {"claims": [...]} or a list of claim objects'),
    (42, 'claims: must be {"claims": [...]} or a list of claim objects'),
    ({}, 'claims: is required: {"claims": [...]}'),
    ({"claims": {}}, "claims: must be a list of claim objects"),
    ({"claims": [], "version": 1}, 'version: unknown key; a claims document has only "claims"'),
    ([1], "claims[0]: must be a claim object"),
    ([{}], "claims[0].kind: is required"),
    ([{"kind": "tests.passed"}], "claims[0].kind: unknown claim kind 'tests.passed'; known: "
                                 + ", ".join(CLAIM_KINDS)),
    ([{"kind": 3}], "claims[0].kind: unknown claim kind 3; known: " + ", ".join(CLAIM_KINDS)),
    ([{"kind": "tests.pass"}, {"kind": "tests.pass", "cuont": 1}],
     "claims[1].cuont: unknown key; known: kind, text, paths, command, count, scope, runner, "
     "commit"),
    ([{"kind": "tests.pass"}, {"kind": "tests.pass"}, {"kind": "tests.pass", "count": -1}],
     "claims[2].count: must be a non-negative integer"),
    ([{"kind": "tests.pass", "count": "42"}], "claims[0].count: must be a non-negative integer"),
    ([{"kind": "tests.pass", "count": True}], "claims[0].count: must be a non-negative integer"),
    ([{"kind": "tests.pass", "count": 1.5}], "claims[0].count: must be a non-negative integer"),
    ([{"kind": "tests.pass", "scope": "most"}], "claims[0].scope: must be one of all, subset"),
    ([{"kind": "tests.pass", "runner": ""}], "claims[0].runner: must be a non-empty string"),
    ([{"kind": "tests.pass", "commit": "abc1234"}],
     "claims[0].commit: not used by kind tests.pass (it takes: command, count, paths, runner, "
     "scope)"),
    ([{"kind": "vague", "count": 1, "text": "works"}],
     "claims[0].count: not used by kind vague (it takes: only text)"),
    ([{"kind": "file.created"}], "claims[0].paths: is required for kind file.created"),
    ([{"kind": "file.created", "paths": []}], "claims[0].paths: must be a non-empty list of paths"),
    ([{"kind": "file.created", "paths": "a.py"}],
     "claims[0].paths: must be a non-empty list of paths"),
    ([{"kind": "file.created", "paths": ["a.py", ""]}],
     "claims[0].paths[1]: must be a non-empty string"),
    ([{"kind": "command.ran"}], "claims[0].command: is required for kind command.ran"),
    ([{"kind": "command.ran", "command": ["npm", "test"]}],
     "claims[0].command: must be a non-empty string"),
    ([{"kind": "git.commit", "commit": "abc12"}],
     "claims[0].commit: must be 7 to 40 hexadecimal digits"),
    ([{"kind": "git.commit", "commit": "xyz1234"}],
     "claims[0].commit: must be 7 to 40 hexadecimal digits"),
    ([{"kind": "attribution"}], "claims[0].text: is required for kind attribution"),
    ([{"kind": "tests.pass", "text": ""}], "claims[0].text: must be a non-empty string"),
]


def test_the_example_parses_into_the_claims_it_describes() -> None:
    claims = parse_claims_json(EXAMPLE)
    assert [c.kind for c in claims] == [item["kind"] for item in EXAMPLE["claims"]]
    assert all(c.source == "json" and c.span is None for c in claims)
    assert claims[0] == Claim(kind="tests.pass", text="All 42 tests pass", count=42,
                              scope="all", runner="pytest", source="json")
    assert claims[3].paths == ("tests/test_parser.py",) and claims[3].count == 3
    assert claims[5].paths == ("README.md", "setup.cfg")
    assert claims[7].command == "npm run build"
    assert claims[8].commit == "abc1234"   # normalised to lower case
    assert parse_claims_json(EXAMPLE["claims"]) == claims


@pytest.mark.parametrize(("item", "text"), [
    ({"kind": "tests.pass", "count": 42, "scope": "all", "runner": "pytest"},
     "all 42 tests pass (pytest)"),
    ({"kind": "tests.pass"}, "tests pass"),
    ({"kind": "tests.fail", "count": 2, "command": "npm test"}, "2 tests fail (`npm test`)"),
    ({"kind": "tests.not_run"}, "tests were not run"),
    ({"kind": "tests.added", "count": 3, "paths": ["t.py"]}, "added 3 tests in t.py"),
    ({"kind": "file.modified", "paths": ["a.py", "b.py"]}, "modified a.py, b.py"),
    ({"kind": "file.deleted", "paths": ["old.py"]}, "deleted old.py"),
    ({"kind": "command.ran", "command": "make lint"}, "ran `make lint`"),
    ({"kind": "git.commit", "commit": "abc1234"}, "committed abc1234"),
    ({"kind": "build.pass"}, "the build passes"),
    ({"kind": "lint.pass", "command": "ruff check ."}, "lint passes (`ruff check .`)"),
    ({"kind": "typecheck.pass"}, "type checks pass"),
    ({"kind": "browser.verified"}, "verified in the browser"),
])
def test_a_claim_without_text_gets_a_rendering(item: dict[str, Any], text: str) -> None:
    assert parse_claims_json([item])[0].text == text


def test_an_integral_float_count_is_an_integer() -> None:
    claim = parse_claims_json([{"kind": "tests.pass", "count": 3.0}])[0]
    assert claim.count == 3 and type(claim.count) is int


@pytest.mark.parametrize(("data", "message"), INVALID)
def test_malformed_claims_are_input_errors_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_claims_json(data)
    assert f"{info.value.location}: {info.value.message}" == message
    assert str(info.value) == f"{message} [E_INPUT]"
    assert "\n" not in str(info.value)


def test_the_location_names_the_list() -> None:
    with pytest.raises(InputError) as info:
        parse_claims_json([{"kind": "tests.pass", "count": -3}], location="report.json#claims")
    assert info.value.location == "report.json#claims[0].count"


# -- the schema ----------------------------------------------------------------------------


def test_the_schema_has_the_documented_shape() -> None:
    schema = CLAIMS_JSON_SCHEMA
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert [alt.get("type") for alt in schema["oneOf"]] == ["object", "array"]
    claim = schema["$defs"]["claim"]
    assert claim["additionalProperties"] is False and claim["required"] == ["kind"]
    assert list(claim["properties"]) == ["kind", "text", "paths", "command", "count", "scope",
                                         "runner", "commit"]
    assert claim["properties"]["kind"]["enum"] == list(CLAIM_KINDS)
    assert claim["properties"]["scope"]["enum"] == list(SCOPES)
    rules = {rule["if"]["properties"]["kind"]["const"]: rule["then"] for rule in claim["allOf"]}
    assert list(rules) == list(CLAIM_KINDS)
    for kind, then in rules.items():
        forbidden = {f for f, sub in then["properties"].items() if sub is False}
        assert forbidden == {"paths", "command", "count", "scope", "runner", "commit"} - FIELDS[
            kind]
        assert then.get("required", []) == list(REQUIRED.get(kind, ()))
    json.dumps(schema)  # plain JSON, printable in the README


def _schema_valid(data: Any) -> bool:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(CLAIMS_JSON_SCHEMA)
    return bool(validator.is_valid(data))


def _parses(data: Any) -> bool:
    try:
        parse_claims_json(data)
    except InputError:
        return False
    return True


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(CLAIMS_JSON_SCHEMA)


@pytest.mark.parametrize("data", VALID)
def test_valid_examples_satisfy_the_schema(data: Any) -> None:
    assert _parses(data)
    assert _schema_valid(data)


@pytest.mark.parametrize(("data", "message"), INVALID)
def test_the_schema_rejects_what_the_parser_rejects(data: Any, message: str) -> None:
    assert not _schema_valid(data), message


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 50), st.sampled_from([0.0, 2.0, 2.5, -1.0]),
    st.sampled_from(["", "pytest", "abc1234", "ABCDEF0123", "abc12", "xyz1234", "all",
                     "subset", "some", "a.py"]),
    st.lists(st.sampled_from(["a.py", "", "docs/x.md"]), max_size=2),
)
_CLAIMS = st.dictionaries(
    st.sampled_from(["kind", "kind", "text", "paths", "command", "count", "scope", "runner",
                     "commit", "extra"]),
    _VALUES, max_size=4,
).map(lambda d: d) | st.builds(
    lambda kind, rest: {"kind": kind, **rest},
    st.sampled_from([*CLAIM_KINDS, "tests"]),
    st.dictionaries(st.sampled_from(["text", "paths", "command", "count", "scope", "runner",
                                     "commit"]), _VALUES, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CLAIMS, max_size=3), st.booleans())
def test_the_schema_and_the_parser_agree(items: list[dict[str, Any]], wrapped: bool) -> None:
    data: Any = {"claims": items} if wrapped else items
    assert _schema_valid(data) == _parses(data)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) |
                    st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10))
def test_any_json_value_either_parses_or_is_an_input_error(data: Any) -> None:
    try:
        claims = parse_claims_json(data)
    except InputError as error:
        assert error.location
    else:
        assert all(isinstance(c, Claim) for c in claims)


# -- telling JSON from prose ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (json.dumps(EXAMPLE), True),
    (json.dumps(EXAMPLE, indent=2), True),
    ('\n  {"claims": []}\n', True),
    ('[{"kind": "tests.pass"}]', True),
    ('[{"kind": "nonsense"}]', True),        # a claims document, if an invalid one
    ('{"claims": 3}', True),
    ("[]", False),
    ('{"summary": "done"}', False),
    ('[1, 2]', False),
    ('[{"text": "x"}]', False),
    ("All 42 tests pass.", False),
    ("[link](https://example.com) to the PR", False),
    ('{"claims": [', False),
    ("[" * 100_000, False),
    ("", False),
])
def test_claims_json_is_told_from_prose(text: str, expected: bool) -> None:
    assert looks_like_claims_json(text) is expected
    if expected:
        json.loads(text)  # a caller may parse what this accepts
