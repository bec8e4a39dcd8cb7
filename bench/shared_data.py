"""Where the public data sets live for the scripts in bench/ and training/: `../shared/data`
beside the checkout (RAGQA_SHARED_DATA overrides it). Never committed to the project. The
rule is `app.services.shared_data`'s; the scripts put the project root on sys.path first."""

from __future__ import annotations

from app.services.shared_data import SHARED_DATA

__all__ = ["SHARED_DATA"]
