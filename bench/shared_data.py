"""Where the public data sets live for the scripts in bench/ and training/: `../shared/data`
beside the checkout (RAGQA_SHARED_DATA overrides it). Never committed to the project."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("RAGQA_SHARED_DATA")
                   or Path(__file__).resolve().parents[2] / "shared" / "data")
