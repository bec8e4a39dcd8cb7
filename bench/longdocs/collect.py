"""Re-create the long-document corpus from `sources.json` (standard library only).

    python bench/longdocs/collect.py reports/longdocs/corpus
    python bench/longdocs/collect.py OUT --sources bench/longdocs/sources.json

This is `bench/realdocs/collect.py` run on this folder's sources.json: every file is read
from where it lies on a machine of this project (a Debian or NodeSource package's
/usr/share/doc), its sha256 is checked, and it is written as NAME into the output folder.
Exit status 1, with one "FAIL NAME: why" line per source, when any file is missing or differs.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REALDOCS_COLLECT = HERE.parent / "realdocs" / "collect.py"


def _realdocs_collect():
    """bench/realdocs/collect.py as a module (loaded by path: this file is also collect.py)."""
    spec = importlib.util.spec_from_file_location("realdocs_collect", REALDOCS_COLLECT)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {REALDOCS_COLLECT}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="reports/longdocs/corpus",
                    help="folder to write the documents into (default: %(default)s)")
    ap.add_argument("--sources", type=Path, default=HERE / "sources.json")
    args = ap.parse_args(argv)
    return _realdocs_collect().main([str(args.out), "--sources", str(args.sources)])


if __name__ == "__main__":
    sys.exit(main())
