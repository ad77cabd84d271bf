"""The tool's RSA key pair: made once in the service's data folder, readable by its owner only.

Platforms verify what the tool signs (its requests for an access token to post
grades) with the public half, which they read from the tool's JWKS URL
(``/lti/jwks``). The file is written whole under a temporary name and linked
into place, so API processes starting together all end up with the same key.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_FILE = "lti-tool-key.pem"
PRIVATE = 0o600


@dataclass(frozen=True)
class ToolKey:
    private_pem: str

    @cached_property
    def public_pem(self) -> str:
        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return public.decode()

    @cached_property
    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK (``kid``: its RFC 7638 thumbprint, ``alg`` RS256)."""
        from pylti1p3.registration import Registration

        return dict(Registration.get_jwk(self.public_pem))

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [self.jwk]}


def load_or_create(folder: Path) -> ToolKey:
    """The key pair in ``folder`` (made now if there is none), its file 0600."""
    path = folder / KEY_FILE
    if not path.exists():
        _create(path)
    path.chmod(PRIVATE)
    return ToolKey(path.read_text())


def _create(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE)
    try:
        os.fchmod(descriptor, PRIVATE)
        os.write(descriptor, pem)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs
            os.link(temporary, path)
    finally:
        temporary.unlink()
