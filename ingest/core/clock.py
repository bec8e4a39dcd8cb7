"""The one clock format of stored timestamps: UTC, ISO 8601, to the second.

    >>> len(utc_now()), utc_now().endswith("+00:00")
    (25, True)
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now, as "2026-12-06T15:41:32+00:00"."""
    return datetime.now(UTC).isoformat(timespec="seconds")
