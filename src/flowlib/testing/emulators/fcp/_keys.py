"""SSH key pairs for ``POST /v2/ssh-keys`` without a ``public_key``."""

from __future__ import annotations

import base64
import secrets
import string

__all__ = ["new_api_key", "new_key_pair"]


def new_api_key() -> str:
    """``fkey_`` and 24 letters or digits (clients check ``^fkey_[A-Za-z0-9]{20,}$``)."""
    alphabet = string.ascii_letters + string.digits
    return "fkey_" + "".join(secrets.choice(alphabet) for _ in range(24))


def new_key_pair(comment: str) -> tuple[str, str]:
    """(public key line, private key PEM). A real ed25519 pair when ``cryptography`` is
    installed; otherwise a well-formed placeholder that no sshd would accept."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        blob = base64.b64encode(secrets.token_bytes(51)).decode()
        return (
            f"ssh-ed25519 {blob} {comment}",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n(emulated)\n-----END OPENSSH PRIVATE KEY-----\n",
        )
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{public} {comment}", private
