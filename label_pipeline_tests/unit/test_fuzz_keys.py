"""No file is ever written outside the storage root, whatever the key (hypothesis).

Keys here are not validated first: the storage layer must be safe on its own, because a partition
can be added behind ``register_partitions``' back. Every write lands at
``{root}/{asset}/{encoded run}/{encoded symbol}.parquet`` (or ``{root}/{asset}/{encoded run}.parquet``),
the key decodes back, and nothing else appears anywhere.
"""

from __future__ import annotations

import errno
import os
import uuid

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from label_pipeline.keys import decode_segment
from label_pipeline.storage import storage_path, write_parquet_atomic

NASTY = st.sampled_from(
    [
        "..",
        ".",
        "/",
        "\\",
        "../..",
        "..\\..",
        "/etc/passwd",
        "~",
        "%2F",
        "%2e%2e",
        ".hidden",
        "a/../../b",
        "\x00",
        " ",
        "",
    ]
)
KEYS = st.one_of(NASTY, st.text(max_size=40), st.lists(NASTY, min_size=1, max_size=4).map("".join))
FRAME = pd.DataFrame({"x": [1, 2]})


@given(run_id=KEYS, symbol=st.one_of(st.none(), KEYS))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_writes_stay_inside_the_storage_root(tmp_path, run_id: str, symbol: str | None) -> None:
    sandbox = tmp_path / uuid.uuid4().hex
    root = sandbox / "store"
    if run_id == "" or symbol == "":
        with pytest.raises(ValueError, match="empty partition key"):
            storage_path(root, "entry_labels", run_id, symbol)
        return
    path = storage_path(root, "entry_labels", run_id, symbol)
    try:
        write_parquet_atomic(FRAME, path)
    except OSError as exc:  # an unvalidated key may encode to a too-long file name: refused, not escaped
        assert exc.errno == errno.ENAMETOOLONG
    written = [os.path.join(d, f) for d, _, files in os.walk(sandbox) for f in files]
    assert all(os.path.realpath(f).startswith(str(root.resolve()) + os.sep) for f in written)
    assert all(not os.path.basename(f).startswith(".") for f in written)  # no temp file left behind
    if written:
        [file] = written
        rel = os.path.relpath(file, root).split(os.sep)
        assert rel[0] == "entry_labels"
        if symbol is None:
            assert len(rel) == 2 and decode_segment(rel[1].removesuffix(".parquet")) == run_id
        else:
            assert len(rel) == 3 and decode_segment(rel[1]) == run_id
            assert decode_segment(rel[2].removesuffix(".parquet")) == symbol
