"""Signed tokens for links in messages (unsubscribe, tracked click, open pixel).

itsdangerous signs a JSON payload with HMAC-SHA256 and the workspace secret; the kind is the
salt, so an open-pixel token cannot be replayed as an unsubscribe token. A tampered or foreign
token verifies to None: callers answer 404 and change nothing.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

KINDS = ("open", "click", "unsubscribe")


def _serializer(secret: str, kind: str) -> URLSafeSerializer:
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    return URLSafeSerializer(secret, salt=f"tenure.{kind}", signer_kwargs={"digest_method": _sha256()})


def _sha256():
    import hashlib

    return hashlib.sha256


def sign(secret: str, kind: str, data: dict) -> str:
    return _serializer(secret, kind).dumps(data)


def verify(secret: str, kind: str, token: str) -> dict | None:
    try:
        data = _serializer(secret, kind).loads(token)
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None
