"""The secrets guard: detectors, redaction, configuration and the actions it scans."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.errors import PolicyPatternError, PolicySchemaError
from codor.policy.guards import secrets
from codor.policy.guards.base import Finding
from codor.policy.guards.secrets import DEFAULT_ALLOW, KINDS, SecretsGuard
from codor.policy.secret_scanner import (
    SecretScanner,
    default_scanner,
    redacted_form,
    shannon_entropy,
)
from tests.policy.guards.helpers import build, judge


def make(text: str = "{}") -> SecretsGuard:
    return build(secrets, text)


def run(guard: SecretsGuard, kind: str, **fields: Any) -> Sequence[Finding]:
    return judge(guard, kind, **fields)


def kinds_in(text: str, scanner: SecretScanner | None = None) -> list[str]:
    return [m.kind for m in (scanner or default_scanner()).scan(text)]


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


JWT = (_b64url({"alg": "HS256", "typ": "JWT"}) + "." + _b64url({"sub": "agent-7", "iat": 1})
       + "." + "Xq3vR8k2LmN5pT7wZ0yB4cF6hJ9sD1gA")
PEM_BODY = "MIIEowIBAAKCAQEA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4Y5z6"
B64_86 = ("a1B2c3D4e5F6g7H8i9J0" * 5)[:86]
SA_JSON = json.dumps({
    "type": "service_account",
    "project_id": "demo",
    "private_key": f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n",
})

# One (kind, text, secret) per built-in detector: ``secret`` is what must be found.
SAMPLES: list[tuple[str, str, str]] = [
    ("aws_access_key", "token=AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
    ("aws_secret_key", 'aws_secret_access_key = "Zx9kLm2Qw8Er5Ty7Ui0Op3As6Df1Gh4Jk7Lz0Xc9"',
     "Zx9kLm2Qw8Er5Ty7Ui0Op3As6Df1Gh4Jk7Lz0Xc9"),
    ("gcp_service_account", SA_JSON, "-----BEGIN PRIVATE KEY-----"),
    ("gcp_api_key", "maps key AIza" + "Sy" + "A1b2C3d4" * 4 + "x", "AIzaSyA1b2C3d4"),
    ("azure_storage_key", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey="
     + B64_86 + "==;EndpointSuffix=core.windows.net", B64_86),
    ("azure_client_secret", 'AZURE_CLIENT_SECRET="abc8Q~' + "a1B2c3D4e5" * 3 + 'fG~h"',
     "abc8Q~a1B2"),
    ("github_token", "GH=ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8", "ghp_A1b2C3d4E5"),
    ("github_fine_grained", "github_pat_11AAAAAAA0" + "abcdefghijkl_" + "x1" * 30,
     "github_pat_11AAAAAAA0"),
    ("gitlab_token", "glpat-xY9zW8vU7tS6rQ5pO4nM", "glpat-xY9zW8vU7tS6rQ5pO4nM"),
    ("slack_token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-1234"),
    ("slack_webhook", "post to https://hooks.slack.com/services/T00000000/B00000000/"
     "XXXXXXXXXXXXXXXXXXXXXXXX now", "T00000000/B00000000/XXXX"),
    ("stripe_key", "stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'", "sk_live_4eC39"),
    ("stripe_key", "rk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_live_4eC39"),
    ("openai_key", "Here is a leaked key: sk-123456789012345678901234567890123456789012345678",
     "sk-123456789012345678901234567890123456789012345678"),
    ("openai_key", "OPENAI_API_KEY=sk-proj-abcDEF123_ghiJKL456-mnoPQR789stuVWX", "sk-proj-abc"),
    ("anthropic_key", "x-api-key: sk-ant-api03-" + "a1B2c3D4e5" * 9, "sk-ant-api03-a1B2"),
    ("huggingface_token", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH", "hf_aBcDeF"),
    ("npm_token", "//registry.npmjs.org/:_authToken=npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
     "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    ("pypi_token", "password = pypi-AgEIcHlwaS5vcmcCJDA1ZjE2MzQ0LWI4YjEtNGRkMC1iYjRlLTk3ZjY4",
     "pypi-AgEIcHlwaS5vcmc"),
    ("twilio_api_key", "TWILIO=SK" + "0123456789abcdef" * 2, "SK0123456789abcdef"),
    ("sendgrid_api_key", "SG.abcdefghijABCDEFGHIJ12." + "a1B2c3D4e5" * 4 + "xyz", "SG.abcdef"),
    ("mailgun_api_key", "api: key-" + "0123456789abcdef" * 2, "key-0123456789abcdef"),
    ("private_key", f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
     PEM_BODY),
    ("private_key", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n", PEM_BODY),
    ("private_key", f"-----BEGIN EC PRIVATE KEY-----\n{PEM_BODY}\n-----END EC PRIVATE KEY-----",
     PEM_BODY),
    ("private_key", f"-----BEGIN DSA PRIVATE KEY-----\n{PEM_BODY}\n-----END DSA PRIVATE KEY-----",
     PEM_BODY),
    ("private_key", f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{PEM_BODY}\n"
     "-----END PGP PRIVATE KEY BLOCK-----", PEM_BODY),
    ("jwt", f"Authorization: Bearer {JWT}", JWT),
    ("db_url_password", "DATABASE_URL=postgres://admin:s3cr3tP4ss@db.internal:5432/app",
     "s3cr3tP4ss"),
    ("db_url_password", "mysql://root:hunter2@localhost/shop", "hunter2"),
    ("db_url_password", "mongodb+srv://app:Sup3rS3cret@cluster0.example.net/db", "Sup3rS3cret"),
    ("db_url_password", "REDIS_URL=redis://:r3d1sPass@cache:6379/0", "r3d1sPass"),
    ("db_url_password", "amqp://guest:rabbitPw9@mq.internal:5672/", "rabbitPw9"),
    ("basic_auth_url", "git clone https://deploy:Zr8pQ2xk@git.example.com/repo.git", "Zr8pQ2xk"),
    ("digitalocean_token", "dop_v1_" + "0123456789abcdef" * 4, "dop_v1_0123"),
    ("shopify_token", "shpat_" + "0123456789abcdef" * 2, "shpat_0123"),
    ("square_token", "sq0atp-a1B2c3D4e5F6g7H8i9J0kL", "sq0atp-a1B2"),
    ("square_token", "EAAA" + "a1B2c3D4e5" * 6, "EAAAa1B2"),
    ("discord_bot_token",
     "client.run('MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs')",
     "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ"),
    ("discord_webhook", "https://discord.com/api/webhooks/123456789012345678/"
     + "a1B2c3D4e5" * 7, "123456789012345678/a1B2"),
    ("telegram_bot_token", "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
     "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"),
    ("heroku_api_key", 'HEROKU_API_KEY="01234567-89ab-cdef-0123-456789abcdef"',
     "01234567-89ab-cdef-0123-456789abcdef"),
    ("heroku_api_key", "HRKU-" + "a1B2c3D4e5" * 3, "HRKU-a1B2"),
    ("datadog_api_key", "DD_API_KEY=0123456789abcdef0123456789abcdef",
     "0123456789abcdef0123456789abcdef"),
    ("doppler_token", "DOPPLER=dp.pt." + "a1B2c3D4e5" * 4 + "F6g7", "dp.pt.a1B2"),
    ("age_secret_key", "AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE",
     "AGE-SECRET-KEY-1QPZ"),
    ("linear_api_key", "lin_api_" + "a1B2c3D4e5" * 4, "lin_api_a1B2"),
    ("generic_high_entropy_assignment", 'password = "Tr0ub4dor&3xK!9zQ#mP2vLw"',
     "Tr0ub4dor&3xK!9zQ#mP2vLw"),
    ("generic_high_entropy_assignment", "export SERVICE_TOKEN=q8ZxW3vN7mK2pL9rT4yB6cH1",
     "q8ZxW3vN7mK2pL9rT4yB6cH1"),
    ("generic_high_entropy_assignment", '{"client_key": "Vb7Nm2Qx9Lk4Jh8Gf3Ds6Pa1"}',
     "Vb7Nm2Qx9Lk4Jh8Gf3Ds6Pa1"),
]

BENIGN = [
    "Please add a unit test for the parser and fix the off-by-one in line 40.",
    "ignore whitespace in the diff and keep the key order stable",
    'api_key = os.environ["OPENAI_API_KEY"]',
    "token = get_token(request)",
    "password = getpass.getpass()",
    "SECRET_KEY = settings.SECRET_KEY",
    'cache_key = "user_profile_settings_cache_key"',
    'tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")',
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "token = 3f786850e387550fdab836ed7e6dc881de23001b",
    "id: 123e4567-e89b-12d3-a456-426614174000",
    "pip install scikit-learn; see task-runner-configuration-helper",
    "https://user@example.com/path and postgres://localhost:5432/db",
    "DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app",
    "http://localhost:8080@internal.example/",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG\n-----END CERTIFICATE-----",
    "if line.startswith('-----BEGIN RSA PRIVATE KEY-----'):",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    _b64url({"foo": "bar", "baz": 12345}) + "." + _b64url({"x": 1}) + ".signature",
    'password: "<your-password-here>"',
    'password = "xxxxxxxxxxxxxxxxxxxxxxxx"',
    "api_key: ${API_KEY}",
    "token_path = /var/lib/app/tokens/current",
    '"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+nFTdjEq+Q1Jv"',
    "the monkey: ran_around_the_garden_all_day_long",
    "sk-" + "learn",
    "key_handler = self.make_key_handler_for_the_request_object",
    "x" * 5000,
    "日本語のテキストです。キーはありません。" * 20,
]


@pytest.mark.parametrize(("kind", "text", "secret"), SAMPLES,
                         ids=[f"{k}-{i}" for i, (k, _t, _s) in enumerate(SAMPLES)])
def test_each_builtin_detector_finds_its_secret(kind: str, text: str, secret: str) -> None:
    matches = default_scanner().scan(text)
    assert kind in [m.kind for m in matches], matches
    m = next(m for m in matches if m.kind == kind)
    assert secret in text[m.start:m.end] or text[m.start:m.end] in secret


def test_every_builtin_kind_has_a_sample_and_there_are_at_least_30() -> None:
    assert len(KINDS) >= 30
    assert set(KINDS) == {k for k, _t, _s in SAMPLES}


def test_the_listed_kinds_are_exactly_the_detector_tables() -> None:
    from codor.policy.secret_detectors import DERIVED_KINDS

    assert KINDS == DERIVED_KINDS


def test_loading_a_policy_compiles_no_detector() -> None:
    code = ("import sys; from codor.policy import load_engine; "
            "e = load_engine('codor:default', workspace='/tmp', env={}); "
            "print('codor.policy.secret_detectors' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("text", BENIGN, ids=range(len(BENIGN)))
def test_ordinary_text_has_no_secret(text: str) -> None:
    assert default_scanner().scan(text) == []


def test_anthropic_key_is_not_also_an_openai_key() -> None:
    assert kinds_in("sk-ant-api03-" + "a1B2c3D4e5" * 9) == ["anthropic_key"]


def test_specific_kind_wins_over_generic_assignment() -> None:
    text = "GITHUB_TOKEN=ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8"
    assert kinds_in(text) == ["github_token"]


def test_token_glued_to_a_word_is_not_a_token() -> None:
    assert kinds_in("xAKIAABCDEFGHIJKLMNOP") == []
    assert kinds_in("AKIAABCDEFGHIJKLMNOPQ") == []  # one character too long


def test_secret_in_json_escaped_private_key_is_found() -> None:
    pem = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"
    text = json.dumps({"key": pem})
    assert "private_key" in kinds_in(text)


def test_several_secrets_are_all_found_in_order() -> None:
    text = ("a=AKIAABCDEFGHIJKLMNOP\nb=glpat-xY9zW8vU7tS6rQ5pO4nM\n"
            "c=postgres://u:pw12345@h/db\n")
    assert kinds_in(text) == ["aws_access_key", "gitlab_token", "db_url_password"]


def test_non_ascii_text_keeps_offsets_right() -> None:
    text = "é" * 7 + " clé=AKIAABCDEFGHIJKLMNOP ü"
    (m,) = default_scanner().scan(text)
    assert text[m.start:m.end] == "AKIAABCDEFGHIJKLMNOP"


def test_dotted_lowercase_changes_length_without_breaking_offsets() -> None:
    text = "İ" * 5 + ' password = "Tr0ub4dor&3xK!9zQ#mP2vLw"'
    (m,) = default_scanner().scan(text)
    assert text[m.start:m.end] == "Tr0ub4dor&3xK!9zQ#mP2vLw"


def test_shannon_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)


# -- redaction --------------------------------------------------------------------------------
def test_redact_replaces_each_secret_with_its_kind() -> None:
    text = "key AKIAABCDEFGHIJKLMNOP and postgres://u:s3cr3tP4ss@db/app"
    assert default_scanner().redact(text) == (
        "key [REDACTED:aws_access_key] and postgres://u:[REDACTED:db_url_password]@db/app")


def test_redact_leaves_clean_text_alone() -> None:
    text = "nothing to see here, just a key: value"
    assert default_scanner().redact(text) == text


def test_redacted_form_shows_at_most_four_characters_and_the_length() -> None:
    assert redacted_form("AKIAABCDEFGHIJKLMNOP") == "AKIA…(20 chars)"
    assert redacted_form("hunter2") == "…(7 chars)"


def test_default_scanner_is_cached() -> None:
    assert default_scanner() is default_scanner()


_PIECES = [s for _k, s, _x in SAMPLES] + ["=", ":", " ", "\n", '"', "key", "token=", "://", "@",
                                          "-----BEGIN ", ".", "é", "_", "-"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(_PIECES)), max_size=8)
       .map("".join))
def test_redacted_text_contains_no_secret(text: str) -> None:
    scanner = default_scanner()
    redacted = scanner.redact(text)
    assert scanner.scan(redacted) == []
    for m in scanner.scan(text):
        assert 0 <= m.start < m.end <= len(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_redact_never_raises_on_any_text(text: str) -> None:
    out = default_scanner().redact(text)
    assert isinstance(out, str)
    assert default_scanner().scan(out) == []


# -- the guard: what it scans ----------------------------------------------------------------
def test_guard_name_and_kinds() -> None:
    g = make()
    assert g.name == "secrets"
    assert g.kinds == frozenset({"file.write", "patch.apply", "command.exec",
                                 "content.outbound", "network.request", "tool.call"})


def test_secret_in_file_write_is_denied_without_showing_it() -> None:
    content = "Here is a leaked key: sk-123456789012345678901234567890123456789012345678"
    (f,) = run(make(), "file.write", path="/workspace/output/leak.txt", content=content)
    assert (f.effect, f.rule, f.guard, f.severity) == ("deny", "secrets.openai_key", "secrets",
                                                       "critical")
    assert "openai_key" in f.message and "/workspace/output/leak.txt" in f.message
    assert "123456789012345678901234567890" not in f.message
    assert "sk-1…(51 chars)" in f.message


@pytest.mark.parametrize(("kind", "text", "secret"), SAMPLES,
                         ids=[f"{k}-{i}" for i, (k, _t, _s) in enumerate(SAMPLES)])
def test_messages_never_contain_the_secret(kind: str, text: str, secret: str) -> None:
    findings = run(make(), "content.outbound", text=text)
    assert f"secrets.{kind}" in {f.rule for f in findings}
    scanner = default_scanner()
    for f in findings:
        for m in scanner.scan(text):
            value = text[m.start:m.end]
            assert value not in f.message
            assert value[4:] not in f.message


def test_clean_write_says_nothing() -> None:
    assert run(make(), "file.write", path="/workspace/a.py", content="print('hello')\n") == []


def test_write_by_digest_only_says_nothing() -> None:
    assert run(make(), "file.write", path="/workspace/a.py", content_sha256="0" * 64) == []


def test_patch_added_lines_are_scanned_but_removed_lines_are_not() -> None:
    removed = ("--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n"
               "-KEY = 'AKIAABCDEFGHIJKLMNOP'\n+KEY = os.environ['KEY']\n")
    assert run(make(), "patch.apply", patch=removed) == []
    added = ("--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n"
             "-KEY = os.environ['KEY']\n+KEY = 'AKIAABCDEFGHIJKLMNOP'\n")
    (f,) = run(make(), "patch.apply", patch=added)
    assert f.rule == "secrets.aws_access_key" and "app.py" in f.message


def test_patch_context_lines_are_not_scanned() -> None:
    patch = ("--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,3 @@\n KEY = 'AKIAABCDEFGHIJKLMNOP'\n"
             "+print(KEY)\n")
    assert run(make(), "patch.apply", patch=patch) == []


def test_patch_with_literal_backslash_n_has_no_added_lines() -> None:
    patch = r"--- a/x\n+++ b/x\n@@ -1 +1 @@\n+AKIAABCDEFGHIJKLMNOP\n"
    assert run(make(), "patch.apply", patch=patch) == []


def test_secret_in_command_is_denied() -> None:
    (f,) = run(make(), "command.exec",
               command="curl -H 'Authorization: token ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8' x")
    assert f.rule == "secrets.github_token" and "command" in f.message


def test_secret_in_argv_is_denied() -> None:
    (f,) = run(make(), "command.exec", argv=["psql", "postgres://u:s3cr3tP4ss@db/app"])
    assert f.rule == "secrets.db_url_password" and "arguments" in f.message


def test_secret_in_url_is_denied() -> None:
    (f,) = run(make(), "network.request",
               url="https://api.example.com/v1?key=AIzaSyA1b2C3d4A1b2C3d4A1b2C3d4A1b2C3d4x")
    assert f.rule == "secrets.gcp_api_key" and "URL" in f.message


def test_secret_in_tool_arguments_is_denied() -> None:
    (f,) = run(make(), "tool.call", tool="http_post",
               arguments={"headers": {"x-api-key": "sk-ant-api03-" + "a1B2c3D4e5" * 9}})
    assert f.rule == "secrets.anthropic_key" and "http_post" in f.message


def test_private_key_in_tool_arguments_is_found_through_json_escaping() -> None:
    pem = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
    findings = run(make(), "tool.call", tool="write_file", arguments={"content": pem})
    assert [f.rule for f in findings] == ["secrets.private_key"]


def test_same_kind_twice_gives_one_finding_that_counts_them() -> None:
    text = "a=AKIAABCDEFGHIJKLMNOP b=AKIAZZZZZZZZZZZZZZZZ c=AKIAYYYYYYYYYYYYYYYY"
    (f,) = run(make(), "content.outbound", text=text)
    assert "and 2 more" in f.message


def test_inbound_content_is_not_scanned() -> None:
    assert "content.inbound" not in make().kinds


# -- configuration -----------------------------------------------------------------------------
def test_effect_ask_asks() -> None:
    (f,) = run(make("effect: ask"), "content.outbound", text="AKIAABCDEFGHIJKLMNOP")
    assert f.effect == "ask" and "needs approval" in f.message


def test_bad_effect_is_a_schema_error() -> None:
    with pytest.raises(PolicySchemaError):
        make("effect: allow")


def test_unknown_key_is_a_schema_error_with_location() -> None:
    with pytest.raises(PolicySchemaError) as exc:
        make("effect: deny\nallowlist: [x]\n")
    assert exc.value.location == "policy.yaml:2"


def test_inherit_key_is_accepted() -> None:
    assert make("inherit: false").name == "secrets"


def test_disable_turns_a_kind_off() -> None:
    g = make("disable: [aws_access_key]")
    assert run(g, "content.outbound", text="AKIAABCDEFGHIJKLMNOP") == []
    assert run(g, "content.outbound", text="glpat-xY9zW8vU7tS6rQ5pO4nM") != []


def test_disable_unknown_kind_is_a_schema_error_with_location() -> None:
    with pytest.raises(PolicySchemaError) as exc:
        make("disable:\n  - aws_access_key\n  - aws_acces_key\n")
    assert exc.value.location == "policy.yaml:3"
    assert "aws_acces_key" in exc.value.message


def test_custom_pattern_is_a_new_kind() -> None:
    g = make("patterns:\n  - {name: acme_token, regex: 'acme_[0-9a-f]{32}', severity: critical}")
    (f,) = run(g, "content.outbound", text="use acme_" + "0123456789abcdef" * 2)
    assert (f.rule, f.severity) == ("secrets.acme_token", "critical")


def test_custom_pattern_group_one_is_the_secret() -> None:
    scanner = SecretScanner(extra=[("pin", re.compile(r"PIN=(\d{6})"), "low")])
    text = "PIN=123456"
    (m,) = scanner.scan(text)
    assert text[m.start:m.end] == "123456"
    assert scanner.redact(text) == "PIN=[REDACTED:pin]"


def test_custom_pattern_can_be_disabled_by_name() -> None:
    g = make("patterns: [{name: acme_token, regex: 'acme_[0-9]+'}]\ndisable: [acme_token]")
    assert run(g, "content.outbound", text="acme_123") == []


def test_custom_pattern_with_bad_regex_is_a_pattern_error_with_location() -> None:
    with pytest.raises(PolicyPatternError) as exc:
        make("patterns:\n  - name: broken\n    regex: 'acme_[0-9'\n")
    assert exc.value.location == "policy.yaml:3"


@pytest.mark.parametrize("body", [
    "patterns: [{name: Bad-Name, regex: x}]",
    "patterns: [{name: jwt, regex: x}]",
    "patterns: [{name: a, regex: x}, {name: a, regex: y}]",
    "patterns: [{regex: x}]",
    "patterns: [{name: a, regex: x, severity: extreme}]",
    "patterns: [{name: a, regex: x, effect: deny}]",
])
def test_bad_custom_patterns_are_schema_errors(body: str) -> None:
    with pytest.raises(PolicySchemaError):
        make(body)


def test_builtin_allow_list_holds_documented_examples() -> None:
    assert "AKIAIOSFODNN7EXAMPLE" in DEFAULT_ALLOW
    assert run(make(), "content.outbound", text="AKIAIOSFODNN7EXAMPLE") == []


def test_allow_literal_suppresses_that_value_only() -> None:
    g = make("allow: [AKIAABCDEFGHIJKLMNOP]")
    assert run(g, "content.outbound", text="k=AKIAABCDEFGHIJKLMNOP") == []
    assert run(g, "content.outbound", text="k=AKIAABCDEFGHIJKLMNOQ") != []
    assert run(g, "content.outbound", text="AKIAIOSFODNN7EXAMPLE") == []  # defaults kept


def test_allow_regex_suppresses_matching_values() -> None:
    g = make("allow: ['re:^AKIAFIXTURE']")
    assert run(g, "content.outbound", text="AKIAFIXTURE000000000") == []
    assert run(g, "content.outbound", text="AKIAABCDEFGHIJKLMNOP") != []


def test_allow_bad_regex_is_a_pattern_error_with_location() -> None:
    with pytest.raises(PolicyPatternError) as exc:
        make("allow:\n  - 're:(unclosed'\n")
    assert exc.value.location == "policy.yaml:2"


def test_skip_paths_are_not_scanned() -> None:
    g = make("skip_paths: ['tests/fixtures/**']")
    text = "AKIAABCDEFGHIJKLMNOP"
    assert run(g, "file.write", path="/workspace/tests/fixtures/creds.txt", content=text) == []
    assert run(g, "file.write", path="tests/fixtures/creds.txt", content=text) == []
    assert run(g, "file.write", path="/workspace/src/creds.txt", content=text) != []
    assert run(g, "file.write", path="/workspace/tests/fixtures/../../src/x", content=text) != []


def test_skip_paths_apply_per_file_of_a_patch() -> None:
    g = make("skip_paths: ['tests/fixtures/**']")
    patch = ("--- a/tests/fixtures/k.txt\n+++ b/tests/fixtures/k.txt\n@@ -0,0 +1 @@\n"
             "+AKIAABCDEFGHIJKLMNOP\n"
             "--- a/src/k.py\n+++ b/src/k.py\n@@ -0,0 +1 @@\n+K = 'glpat-xY9zW8vU7tS6rQ5pO4nM'\n")
    assert [f.rule for f in run(g, "patch.apply", patch=patch)] == ["secrets.gitlab_token"]


def test_skip_paths_do_not_apply_to_commands() -> None:
    g = make("skip_paths: ['**']")
    assert run(g, "command.exec", command="echo AKIAABCDEFGHIJKLMNOP") != []


def test_entropy_can_be_disabled() -> None:
    text = 'password = "Tr0ub4dor&3xK!9zQ#mP2vLw"'
    assert run(make(), "content.outbound", text=text) != []
    assert run(make("entropy: {enabled: false}"), "content.outbound", text=text) == []


def test_entropy_threshold_and_min_length_are_configurable() -> None:
    text = 'secret = "aB3dE5gH7j"'  # 10 characters, entropy log2(10)
    assert run(make(), "content.outbound", text=text) == []
    loose = make("entropy: {min_length: 8, threshold: 3.0}")
    (f,) = run(loose, "content.outbound", text=text)
    assert f.rule == "secrets.generic_high_entropy_assignment"
    strict = make("entropy: {min_length: 8, threshold: 3.5}")
    assert run(strict, "content.outbound", text=text) == []


@pytest.mark.parametrize("body", [
    "entropy: {threshold: 0}",
    "entropy: {threshold: 9}",
    "entropy: {min_length: 0}",
    "entropy: {enabled: maybe}",
    "entropy: {bits: 4}",
    "max_scan_bytes: 0",
    "disable: aws",
])
def test_bad_settings_are_schema_errors(body: str) -> None:
    with pytest.raises(PolicySchemaError):
        make(body)


def test_text_over_max_scan_bytes_asks_and_says_so() -> None:
    g = make("max_scan_bytes: 64")
    text = "x " * 40 + "AKIAABCDEFGHIJKLMNOP"
    (f,) = run(g, "file.write", path="/workspace/big.txt", content=text)
    assert (f.effect, f.rule) == ("ask", "secrets.unscanned")
    assert "max_scan_bytes" in f.message and "100 bytes" in f.message


def test_text_over_max_scan_bytes_still_reports_what_was_scanned() -> None:
    g = make("max_scan_bytes: 64")
    text = "AKIAABCDEFGHIJKLMNOP " + "x " * 40
    assert {f.rule for f in run(g, "content.outbound", text=text)} == {
        "secrets.aws_access_key", "secrets.unscanned"}


def test_multibyte_text_is_measured_in_bytes() -> None:
    g = make("max_scan_bytes: 64")
    assert run(g, "content.outbound", text="é" * 30) == []  # 60 bytes
    (f,) = run(g, "content.outbound", text="é" * 40)  # 80 bytes
    assert f.rule == "secrets.unscanned"


@pytest.mark.parametrize("text", ["\x00" * 10, "\ud800abc", "token=\udfff" * 10, "=" * 10000,
                                  "key=" * 3000, "-----BEGIN " * 2000, "://@" * 3000])
def test_odd_input_never_raises(text: str) -> None:
    g = make()
    run(g, "content.outbound", text=text)
    default_scanner().redact(text)


def test_each_query_parameter_is_its_own_assignment() -> None:
    text = "https://x.example/cb?key=abc&token=q8ZxW3vN7mK2pL9rT4yB6cH1"
    assert kinds_in(text) == ["generic_high_entropy_assignment"]


@pytest.mark.parametrize("text", [
    "key=" * 16384,
    "-----BEGIN PRIVATE KEY-----" * 2500,
    "://@" * 16384,
    "password: " * 6500,
])
def test_pathological_input_is_scanned_in_linear_time(text: str) -> None:
    import time

    start = time.perf_counter()
    default_scanner().scan(text)
    assert time.perf_counter() - start < 5.0  # quadratic behaviour would take minutes
