"""Where the public data sets are: `../shared/data` beside the checkout, or RAGQA_SHARED_DATA.

They are never committed to the project. The gate (`make SHARED_DATA=`), the tests and the
scripts in bench/ and training/ read them from here; an entry point's rule, so it lives in the
app layer (the stages take paths as arguments).
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("RAGQA_SHARED_DATA")
                   or Path(__file__).resolve().parents[3] / "shared" / "data")
