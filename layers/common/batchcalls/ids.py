"""Identifiers: time-ordered campaign ids, deterministic contact ids, shards."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from batchcalls.clock import to_epoch_ms

# Contacts of one campaign are spread over this many partitions so that neither a large
# import nor a listing hits one partition (1,000 writes/s each).
CONTACT_SHARDS = 16

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 32)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def new_campaign_id(now: datetime) -> str:
    """`batch_` + 10 chars of milliseconds + 8 random chars: sorts by creation time."""
    return "batch_" + _base32(to_epoch_ms(now), 10) + _base32(secrets.randbits(40), 8)


def contact_id_for(campaign_id: str, phone_e164: str) -> str:
    """A contact's id follows from its number, so a number is stored once per campaign."""
    digest = hashlib.sha256(f"{campaign_id}|{phone_e164}".encode()).digest()
    return "ct_" + _base32(int.from_bytes(digest[:10], "big"), 16)


def contact_shard(contact_id: str) -> int:
    return int(hashlib.blake2s(contact_id.encode(), digest_size=4).hexdigest(), 16) % CONTACT_SHARDS


def call_id_for(campaign_id: str, contact_id: str, attempt: int) -> str:
    """Stable per attempt: the provider dedupes on it."""
    digest = hashlib.sha256(f"{campaign_id}|{contact_id}|{attempt}".encode()).hexdigest()
    return f"call_{digest[:24]}"
