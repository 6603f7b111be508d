"""TLS: a site with a certificate from a private CA is fetched only when that CA is configured
(DOWNLOAD_CA_BUNDLE) or checking is off (DOWNLOAD_VERIFY=false)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
from pathlib import Path

import pytest
from conftest import TEST_SPIDERS, read_jsonl, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from threaded_server import threaded_server


def _certificate(subject: str, issuer_key, issuer_name, public_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def tls_site(tmp_path):
    """An HTTPS site on 127.0.0.1 whose certificate a private CA signed; yields (url, CA file,
    the paths it served)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test private CA")])
    ca = _certificate("test private CA", ca_key, ca_name, ca_key.public_key(), ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate("127.0.0.1", ca_key, ca_name, key.public_key(), ca=False)
    ca_file, chain = tmp_path / "ca.pem", tmp_path / "server.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    served: list[str] = []

    def page(handler) -> tuple[int, str, bytes]:
        served.append(handler.path)
        return 200, "text/html", b"<html><title>private</title><body>secret page</body></html>"

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    with threaded_server(page, tls=context) as url:
        yield f"{url}/", ca_file, served


def crawl(tmp_path: Path, url: str, *settings: str, status: int = 0):
    args = [str(TEST_SPIDERS / "follow.py"), "-a", f"start_urls={url}"]
    args += ["-O", str(tmp_path / "out.jsonl"), "-s", "RETRY_ENABLED=false"]
    # A handshake that fails makes the host down: waited for briefly here, then given up on.
    args += ["-s", "RETRY_BACKOFF_BASE=0.05", "-s", "HOST_DOWN_TIMEOUT=0.3"]
    # An unverifiable robots.txt would hold the host back (RFC 9309: unreachable): off here.
    args += ["-s", "ROBOTSTXT_OBEY=false"]
    for setting in settings:
        args += ["-s", setting]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == status, result.stderr
    failures = tmp_path / "out.failures.jsonl"
    return read_jsonl(tmp_path / "out.jsonl"), read_jsonl(failures) if failures.exists() else []


def test_a_private_ca_is_trusted_only_when_configured(tmp_path, tls_site):
    url, ca_file, served = tls_site
    items, failures = crawl(tmp_path, url, status=3)
    assert items == [] and served == []  # the handshake failed: nothing was asked
    assert [(f["url"], f["reason"]) for f in failures] == [(url, "host_unreachable")]
    assert "CERTIFICATE_VERIFY_FAILED" in json.dumps(failures)
    items, failures = crawl(tmp_path, url, f"DOWNLOAD_CA_BUNDLE={ca_file}")
    assert [item["title"] for item in items] == ["private"] and failures == []
    assert served == ["/"]


def test_download_verify_false_accepts_any_certificate(tmp_path, tls_site):
    url, _, served = tls_site
    items, failures = crawl(tmp_path, url, "DOWNLOAD_VERIFY=false")
    assert [item["title"] for item in items] == ["private"] and failures == []


def test_a_bad_ca_bundle_is_one_clear_line(tmp_path):
    missing = tmp_path / "nope.pem"
    result = run_cli(
        str(TEST_SPIDERS / "follow.py"), "-s", f"DOWNLOAD_CA_BUNDLE={missing}", cwd=tmp_path
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"crawl: error: DOWNLOAD_CA_BUNDLE {missing}: not a readable PEM")
