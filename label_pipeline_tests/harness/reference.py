"""Access to the original label builder in ../shared/reference, for parity tests.

The reference is optional: tests that need it skip when it is absent, while the committed golden
fixtures keep parity covered on their own."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from label_pipeline.settings import REPO_ROOT

REFERENCE_DIR = Path(os.environ.get("LABEL_PIPELINE_REFERENCE", REPO_ROOT.parent / "shared" / "reference"))


def reference_available() -> bool:
    return (REFERENCE_DIR / "trader_training" / "labels.py").is_file()


def reference_labels() -> ModuleType:
    """Import the reference's ``trader_training.labels`` (raises if it is absent)."""
    if not reference_available():
        raise FileNotFoundError(f"reference label builder not found under {REFERENCE_DIR}")
    if str(REFERENCE_DIR) not in sys.path:
        sys.path.insert(0, str(REFERENCE_DIR))
    from trader_training import labels

    return labels
