"""The ``label-pipeline`` console script: the command line (``label_pipeline.demo.cli``), imported
with the garbage collector held off (``label_pipeline.loading``: ~0.5 s of a cold command's
imports)."""

from __future__ import annotations

import sys

from label_pipeline.loading import loading


def main() -> int:
    with loading():
        from label_pipeline.demo.cli import main as cli_main
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
