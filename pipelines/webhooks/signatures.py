"""Signature checks of GHL webhook deliveries.

GHL signs the raw request body two ways: the newer ``x-ghl-signature`` (base64
Ed25519) and the legacy ``x-wh-signature`` (base64 RSA PKCS#1 v1.5 over SHA-256),
each verified with GHL's published public key. During the move from one to the
other GHL sends both; the Ed25519 header decides when it is present and its key is
configured.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sources.ghl.errors import ConfigurationError

ED25519_HEADER = "x-ghl-signature"
RSA_HEADER = "x-wh-signature"


class SignatureError(Exception):
    """A delivery is unsigned, or its signature does not verify."""


class SignatureVerifier:
    """Checks a body against the configured public keys.

    Args:
        ed25519_public_key: PEM of the key for ``x-ghl-signature``.
        rsa_public_key: PEM of the key for ``x-wh-signature``.

    Raises:
        ConfigurationError: neither key is given, or one is not a PEM public key
            of its kind.
    """

    def __init__(
        self, ed25519_public_key: str | None = None, rsa_public_key: str | None = None
    ) -> None:
        if not ed25519_public_key and not rsa_public_key:
            raise ConfigurationError(
                "no webhook public key: set sources.ghl.webhooks.ed25519_public_key "
                "and/or sources.ghl.webhooks.rsa_public_key (PEM) in .dlt/config.toml"
            )
        self._ed25519 = _load(ed25519_public_key, Ed25519PublicKey, "ed25519")
        self._rsa = _load(rsa_public_key, RSAPublicKey, "rsa")

    def verify(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Return the scheme that verified ``body`` (``ed25519`` or ``rsa``).

        Raises:
            SignatureError: no usable signature header, or a forged one.
        """
        ed25519 = headers.get(ED25519_HEADER)
        rsa = headers.get(RSA_HEADER)
        if ed25519 and self._ed25519 is not None:
            signature = _decode(ed25519, ED25519_HEADER)
            try:
                self._ed25519.verify(signature, body)
            except InvalidSignature:
                raise SignatureError(f"{ED25519_HEADER} does not verify") from None
            return "ed25519"
        if rsa and self._rsa is not None:
            signature = _decode(rsa, RSA_HEADER)
            try:
                self._rsa.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                raise SignatureError(f"{RSA_HEADER} does not verify") from None
            return "rsa"
        if ed25519 or rsa:
            raise SignatureError("signed with a scheme that has no configured key")
        raise SignatureError(f"unsigned: no {ED25519_HEADER} or {RSA_HEADER} header")


def _load(pem: str | None, kind: type, name: str):
    if not pem:
        return None
    try:
        key = load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as error:
        raise ConfigurationError(
            f"sources.ghl.webhooks.{name}_public_key is not a PEM public key "
            f"({error}); paste GHL's published key with its BEGIN/END lines"
        ) from None
    if not isinstance(key, kind):
        raise ConfigurationError(
            f"sources.ghl.webhooks.{name}_public_key holds a "
            f"{type(key).__name__.lstrip('_')}, not an {name} key"
        )
    return key


def _decode(value: str, header: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{header} is not base64") from None
