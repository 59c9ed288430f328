"""A throwaway TLS identity for a loopback server, and making this process's clients trust it.

Some clients cannot be told to speak plain HTTP: the ``openaq`` SDK (1.2.0) pools only
``http.client.HTTPSConnection`` objects, whatever the scheme of its base URL, and verifies the
certificate against OpenSSL's default trust store. A stand-in for such a service serves TLS with
a self-signed certificate, and ``SSL_CERT_FILE`` points OpenSSL at a bundle holding it.
"""

import contextlib
import datetime
import ipaddress
import os
import ssl
from collections.abc import Iterator
from pathlib import Path


def write_self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A new key and a self-signed certificate for ``host`` (an IP address) and ``localhost``,
    written to ``folder`` as PEM files; returns (certificate, key)."""
    # Imported here: only a running server needs it, and it is not cheap to import.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())  # fast to make and to handshake with
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = folder / "certificate.pem", folder / "key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certificate_path, key_path


@contextlib.contextmanager
def trusting(certificate: Path) -> Iterator[Path]:
    """While open, TLS contexts made with OpenSSL's default paths (``ssl.create_default_context``,
    so ``http.client`` and ``urllib``) also trust ``certificate``; yields the bundle file.

    The bundle keeps the CA file trusted before, so other HTTPS clients in the process still
    verify as they did. Contexts made before entering are not affected (each new connection of
    the openaq SDK makes its own). Nested uses must close in reverse order.
    """
    bundle = certificate.with_name(f"{certificate.stem}-bundle.pem")
    previous_cafile = ssl.get_default_verify_paths().cafile  # honours an SSL_CERT_FILE already set
    trusted_before = Path(previous_cafile).read_bytes() if previous_cafile else b""
    bundle.write_bytes(certificate.read_bytes() + b"\n" + trusted_before)
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(bundle)
    try:
        yield bundle
    finally:
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous
