"""API keys: created by an admin command, stored hashed, each mapped to one tenant."""

from __future__ import annotations

import hashlib
import secrets

from batchcalls.adapters.tables import ApiKeyRecord
from batchcalls.clock import to_iso, utc_now


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return "bc_" + secrets.token_urlsafe(32)


def register_api_key(tenant_id: str, api_key: str, label: str | None = None) -> None:
    ApiKeyRecord(
        key_hash=hash_key(api_key), tenant_id=tenant_id, created_at=to_iso(utc_now()), label=label
    ).save()


def tenant_for_key(api_key: str) -> str | None:
    if not api_key or len(api_key) > 512:
        return None
    try:
        return ApiKeyRecord.get(hash_key(api_key)).tenant_id
    except ApiKeyRecord.DoesNotExist:
        return None
