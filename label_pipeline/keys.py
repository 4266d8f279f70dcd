"""Partition keys: which are acceptable to Dagster, and how they map to storage path segments.

Dagster does not validate dynamic partition keys, yet ``|`` and ``,`` break multi-partition
addressing and the UI's backfill dialog. Symbols such as ``BTC/USDT`` are common, so a key is
never used raw in a path: it is percent-encoded into one safe, reversible segment.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

MAX_KEY_LENGTH = 200
_FORBIDDEN = {"|": "pipe", ",": "comma", "\x00": "NUL", "\n": "newline", "\r": "carriage return", "\t": "tab"}


class PartitionKeyError(ValueError):
    """A run id or symbol that cannot be a Dagster partition key."""


def validate_key(key: str, dimension: str) -> str:
    """Refuse keys that Dagster or the UI cannot address; return the key unchanged otherwise."""
    if not isinstance(key, str):
        raise PartitionKeyError(f"{dimension} key must be a string, got {type(key).__name__}: {key!r}")
    if key == "" or key.strip() == "":
        raise PartitionKeyError(f"{dimension} key is empty; every {dimension} needs a non-blank name")
    if key != key.strip():
        raise PartitionKeyError(f"{dimension} key {key!r} has leading or trailing white space; strip it")
    if len(key) > MAX_KEY_LENGTH:
        raise PartitionKeyError(
            f"{dimension} key is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}"
        )
    for char, name in _FORBIDDEN.items():
        if char in key:
            raise PartitionKeyError(
                f"{dimension} key {key!r} contains a {name} ({char!r}), which Dagster multi-partition keys "
                "cannot carry; rename the run directory or symbol"
            )
    return key


def encode_segment(key: str) -> str:
    """One path segment for ``key``: percent-encoding of everything but ``[A-Za-z0-9_.-]``.

    A leading dot is encoded too, so ``.`` and ``..`` can never walk out of the storage root and
    no partition becomes a hidden file.
    """
    segment = quote(key, safe="-_.")
    return "%2E" + segment[1:] if segment.startswith(".") else segment


def decode_segment(segment: str) -> str:
    return unquote(segment)
