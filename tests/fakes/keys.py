"""Throw-away GitHub App keys and JWTs for tests."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@functools.cache
def make_app_key() -> tuple[bytes, bytes]:
    """(private key PEM, public key PEM) of an RSA 2048 key, generated once per process."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # "BEGIN RSA PRIVATE KEY", like GitHub's
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


@functools.cache
def make_other_key() -> tuple[bytes, bytes]:
    """A second, unrelated key pair (for "signed with the wrong key" tests)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def make_app_jwt(
    private_pem: bytes,
    app_id: int | str,
    *,
    iat: int | None = None,
    exp: int | None = None,
    algorithm: str = "RS256",
    **extra_claims: Any,
) -> str:
    """An App JWT the way GitHub documents it: iat 60 s in the past, exp 9 minutes later."""
    now = int(time.time())
    iat = now - 60 if iat is None else iat
    exp = iat + 540 if exp is None else exp
    claims = {"iat": iat, "exp": exp, "iss": app_id, **extra_claims}
    return encode_jwt(claims, private_pem, algorithm=algorithm)


def encode_jwt(claims: dict[str, Any], key: bytes | str, *, algorithm: str = "RS256") -> str:
    """Sign arbitrary claims as they are (pyjwt's `jwt.encode` refuses e.g. an int `iss`,
    which GitHub accepts)."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return jwt.PyJWS().encode(payload, key, algorithm=algorithm, headers={"typ": "JWT"})
