"""The registry's Ed25519 log signing key and its signed tree heads (STH).

The key is `LOG_SIGNING_KEY`: base64 of the raw 32-byte private key, or a PKCS#8 PEM. On
SQLite it lives in ``instance/log-signing-key.pem`` (0600), written by `registry init` or
the first start; with a shared PostgreSQL every host must sign with the same key, so it
comes from ``REGISTRY_LOG_SIGNING_KEY`` (registry/config.py refuses to start without it).

What is signed is RFC 9162's TreeHeadDataV2 in TLS encoding: timestamp (uint64, ms),
tree_size (uint64), root_hash (1-byte length 32, then the 32 bytes), extensions (2-byte
length 0). The key id is the SHA-256 of the public key's DER SubjectPublicKeyInfo, as in
Certificate Transparency. No Flask here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "log-signing-key.pem"


class SigningKeyError(ValueError):
    """The configured key cannot be read as an Ed25519 private key."""


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from base64 of its 32 raw bytes or from PKCS#8 PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise SigningKeyError(f"not a readable PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the PEM key is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError("neither PEM nor base64") from None
    if len(raw) != 32:
        raise SigningKeyError(f"base64 must decode to 32 bytes, not {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def new_key_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def ensure_key_file(instance_path: Path) -> bool:
    """Write a new key to the instance folder unless one is there (atomically: several
    workers may start at once). True if written."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(new_key_pem())
    return True


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def load_public_pem(text: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SigningKeyError(f"not a readable PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("the public key is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    timestamp: int  # ms since the epoch
    root_hash: bytes

    def signed_bytes(self) -> bytes:
        """TreeHeadDataV2 (RFC 9162 section 4.10), TLS-encoded."""
        return (
            struct.pack(">QQB", self.timestamp, self.tree_size, len(self.root_hash))
            + self.root_hash
            + b"\x00\x00"
        )


def sign(key: Ed25519PrivateKey, head: TreeHead) -> dict[str, Any]:
    """The STH as `/log/sth.json` publishes it. Ed25519 is deterministic: the same head and
    key give the same signature on every host."""
    return {
        "tree_size": head.tree_size,
        "timestamp": head.timestamp,
        "root_hash": head.root_hash.hex(),
        "signature": base64.b64encode(key.sign(head.signed_bytes())).decode("ascii"),
        "key_id": key_id(key.public_key()),
    }


def read_sth(document: Any) -> tuple[TreeHead, bytes, str]:
    """(head, signature, key id) from an STH document; ValueError when malformed."""
    if not isinstance(document, dict):
        raise ValueError("the tree head is not a JSON object")
    try:
        size, timestamp = document["tree_size"], document["timestamp"]
        root_hash = bytes.fromhex(document["root_hash"])
        signature = base64.b64decode(document["signature"], validate=True)
        kid = str(document["key_id"])
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ValueError(f"malformed tree head: {exc!r}") from None
    if not isinstance(size, int) or not isinstance(timestamp, int) or size < 0:
        raise ValueError("malformed tree head: tree_size and timestamp must be integers")
    if len(root_hash) != 32:
        raise ValueError("malformed tree head: root_hash must be 32 bytes")
    return TreeHead(size, timestamp, root_hash), signature, kid


def verify(public: Ed25519PublicKey, document: Any) -> TreeHead:
    """The head of a signed STH document; ValueError when the signature does not verify."""
    head, signature, kid = read_sth(document)
    if kid != key_id(public):
        raise ValueError("the tree head names another key")
    try:
        public.verify(signature, head.signed_bytes())
    except InvalidSignature:
        raise ValueError("the tree head's signature does not verify") from None
    return head
