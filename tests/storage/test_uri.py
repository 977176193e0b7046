"""URI parsing, redaction, and the credential scrubber."""

from __future__ import annotations

import json

import pytest
from glidepath_runtime.storage.errors import FetchUsageError
from glidepath_runtime.storage.redaction import Redactor
from glidepath_runtime.storage.uri import parse_uri, redact_uri


@pytest.mark.parametrize(
    ("uri", "scheme", "bucket", "key", "prefix"),
    [
        ("s3://models/fraud/3/model.onnx", "s3", "models", "fraud/3/model.onnx", False),
        ("s3://models/fraud/3/", "s3", "models", "fraud/3/", True),
        ("s3://models", "s3", "models", "", True),
        ("gs://my-bucket/a b%20c", "gs", "my-bucket", "a b%20c", False),
        ("pvc://claim/fraud/3", "pvc", "claim", "/mnt/pvc/claim/fraud/3", False),
        ("pvc://claim/fraud/3/", "pvc", "claim", "/mnt/pvc/claim/fraud/3/", True),
        ("pvc://claim", "pvc", "claim", "/mnt/pvc/claim/", True),
        ("file:///srv/m%20x.onnx", "file", "", "/srv/m x.onnx", False),
        ("HTTPS://host:8443/a/model.onnx?x=1", "https", "", "/a/model.onnx", False),
    ],
)
def test_parse(uri: str, scheme: str, bucket: str, key: str, prefix: bool) -> None:
    parsed = parse_uri(uri)
    assert (parsed.scheme, parsed.bucket, parsed.key, parsed.is_prefix) == (scheme, bucket, key, prefix)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (
            "https://u:p4ss@host/m.onnx?sig=abc&x=1#frag",
            "https://REDACTED@host/m.onnx?sig=REDACTED&x=REDACTED",
        ),
        ("https://token@host/m.onnx", "https://REDACTED@host/m.onnx"),
        ("s3://bucket/key", "s3://bucket/key"),
        ("http://host/m.onnx?flag", "http://host/m.onnx?REDACTED"),
    ],
)
def test_redact_uri(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_usage_errors_show_the_redacted_uri() -> None:
    with pytest.raises(FetchUsageError) as caught:
        parse_uri("ftp://user:hunter22@host/m.onnx")
    assert "hunter22" not in str(caught.value)
    assert "ftp://REDACTED@host/m.onnx" in str(caught.value)


def test_redactor_scrubs_env_secrets_json_fields_and_uri_parts() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
    env = {
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "GOOGLE_APPLICATION_CREDENTIALS_JSON": json.dumps({"type": "service_account", "private_key": key}),
        "GLIDEPATH_HTTP_HEADERS": json.dumps({"Authorization": "Bearer abcdef123"}),
        "UNRELATED": "wJalrXUtnFEMI-not-secret",
    }
    redact = Redactor.from_env(env, "https://bob:s3cr3tpw@h/m.onnx?token=qwerty123")
    text = "x wJalrXUtnFEMI/K7MDENG MIIEvQIBADANBgkqhkiG9w0BAQEFAASC Bearer abcdef123 s3cr3tpw qwerty123 service_account"
    assert redact(text) == "x *** *** *** *** *** service_account"
