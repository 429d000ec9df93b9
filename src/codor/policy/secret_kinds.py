"""The names of the built-in secret detectors and the documented example credentials: what a
policy is validated against, without compiling the detectors themselves (that happens on the
first scan, in :mod:`codor.policy.secret_detectors`)."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_ALLOW", "KINDS"]

#: Every built-in detector kind, in a stable order (the detector tables are checked against
#: this list by the tests).
KINDS: Final[tuple[str, ...]] = (
    "aws_access_key", "gcp_api_key", "github_token", "github_fine_grained", "gitlab_token",
    "slack_token", "stripe_key", "openai_key", "anthropic_key", "huggingface_token", "npm_token",
    "pypi_token", "twilio_api_key", "mailgun_api_key", "jwt", "digitalocean_token",
    "shopify_token", "square_token", "heroku_api_key", "age_secret_key", "linear_api_key",
    "telegram_bot_token", "discord_bot_token", "sendgrid_api_key", "doppler_token",
    "gcp_service_account", "aws_secret_key", "azure_storage_key", "azure_client_secret",
    "datadog_api_key", "private_key", "db_url_password", "basic_auth_url", "slack_webhook",
    "discord_webhook", "generic_high_entropy_assignment",
)

#: Documented example credentials (AWS docs, jwt.io) that are never reported.
DEFAULT_ALLOW: Final[tuple[str, ...]] = (
    "AKIAIOSFODNN7EXAMPLE",
    "AKIAI44QH8DHBEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
    "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
)
