"""Partition keys: which are acceptable to Dagster, and how they map to storage path segments.

Dagster does not validate dynamic partition keys, yet ``|`` and ``,`` break multi-partition
addressing and the UI's backfill dialog. Symbols such as ``BTC/USDT`` are common, so a key is
never used raw in a path: it is percent-encoded into one safe, reversible segment. A run id also
names the run's folder under the runs root, so it must be a plain folder name.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote

# The partition dimensions' names (label_pipeline.partitions builds the definitions on them).
RUN_DIM = "run_id"
SYMBOL_DIM = "symbol"
MAX_KEY_LENGTH = 200
# The encoded key is a file name ({segment}.parquet, and its temporary .{segment}.parquet.*.tmp
# sibling): 200 keeps both below the 255-byte limit of common file systems.
MAX_SEGMENT_LENGTH = 200
_FORBIDDEN = {"|": "pipe", ",": "comma", "\x00": "NUL", "\n": "newline", "\r": "carriage return", "\t": "tab"}
_RUN_ID_FORBIDDEN = {"/": "slash", "\\": "backslash"}


class PartitionKeyError(ValueError):
    """A run id or symbol that cannot be a Dagster partition key."""


def validate_key(key: str, dimension: str) -> str:
    """Refuse keys that Dagster, the UI or the file layout cannot address; return the key unchanged."""
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
    controls = sorted({c for c in key if unicodedata.category(c) == "Cc"})
    if controls:
        raise PartitionKeyError(
            f"{dimension} key {key!r} contains control characters {controls}; rename the run directory or symbol"
        )
    if key in (".", ".."):
        raise PartitionKeyError(
            f"{dimension} key {key!r} is a relative path name, not a name; rename the run directory or symbol"
        )
    if dimension == RUN_DIM:
        for char, name in _RUN_ID_FORBIDDEN.items():
            if char in key:
                raise PartitionKeyError(
                    f"{dimension} key {key!r} contains a {name} ({char!r}); a run id is the name of one folder "
                    "under the runs root: rename the run directory"
                )
    try:
        segment_length = len(encode_segment(key))
    except UnicodeEncodeError as exc:
        raise PartitionKeyError(f"{dimension} key {key!r} is not valid Unicode text ({exc.reason})") from exc
    if segment_length > MAX_SEGMENT_LENGTH:
        raise PartitionKeyError(
            f"{dimension} key {key!r} encodes to a {segment_length}-character file name (characters other "
            f"than A-Z a-z 0-9 _ . -, and a leading _ or ., take 3 or more each); the limit is "
            f"{MAX_SEGMENT_LENGTH}: use a shorter name"
        )
    return key


# A segment's first character, when it is one of these, is percent-encoded too (see encode_segment).
_LEADING_ENCODED = {".": "%2E", "_": "%5F"}


def encode_segment(key: str) -> str:
    """One path segment for ``key``: percent-encoding of everything but ``[A-Za-z0-9_.-]``.

    A leading dot is encoded too, so ``.`` and ``..`` can never walk out of the storage root and
    no partition becomes a hidden file (hidden names are reserved for temporary files). A leading
    underscore is encoded as well: generic readers (pyarrow datasets, ``pd.read_parquet`` of a
    folder) silently skip files and folders whose names start with ``_`` or ``.``, so no stored
    name may start with either. ``unquote`` (``decode_segment``) reverses both.
    """
    segment = quote(key, safe="-_.")
    if segment[:1] in _LEADING_ENCODED:
        return _LEADING_ENCODED[segment[0]] + segment[1:]
    return segment


def decode_segment(segment: str) -> str:
    return unquote(segment)
