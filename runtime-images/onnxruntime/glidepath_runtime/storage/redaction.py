"""Scrub credentials from every line the fetcher prints or writes to the termination message.

Messages are built from redacted URIs and our own wording, so this is a second line of defence against a
library that echoes a secret back in an error: every value of a credential environment variable (and each
string inside the JSON ones) and every secret part of the URI is replaced by ``***``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Final

from glidepath_runtime.storage.uri import uri_secrets

#: Environment variables whose values are credentials (never printed).
SECRET_ENV_VARS: Final = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON",
    "GLIDEPATH_HTTP_HEADERS",
)
_MIN_SECRET: Final = 6
_MASK: Final = "***"


class Redactor:
    """Replaces known secret strings in text by ``***`` (longest first)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {s for s in secrets if len(s) >= _MIN_SECRET}
        self._secrets = sorted(unique, key=len, reverse=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str], uri: str) -> Redactor:
        """A redactor for the credential variables in ``env`` and the secret parts of ``uri``."""
        secrets: list[str] = uri_secrets(uri)
        for name in SECRET_ENV_VARS:
            value = env.get(name, "")
            secrets.append(value)
            secrets.extend(_json_strings(value))
        return cls(secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return text


def _json_strings(value: str) -> list[str]:
    """String values inside a JSON object (header values, a service-account key's fields) and the lines
    of multi-line ones (a PEM private key)."""
    if not value.lstrip().startswith("{"):
        return []
    try:
        data = json.loads(value)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    for key, item in data.items():
        if not isinstance(item, str) or key in ("type", "token_uri", "auth_uri", "universe_domain"):
            continue
        found.append(item)
        found.extend(line for line in item.splitlines() if "-----" not in line)
    return found
