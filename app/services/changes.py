"""Changes to an index on someone's behalf: the caller's role is checked (the one check,
`app.services.access`), the change is made, and who made it goes into the trail.

    changes = IndexChanges(grants, Path("indexes/team"), accounts)
    changes.upload([Upload("a.md", b"# Hi")], ingestor, UploadPolicy())  # a reader: AccessDenied
    changes.remove(IngestSettings(), ["/srv/kb/team.uploads/a.md"])

The chat UI and the API both change indexes through this class, so neither can skip the check
or the trail. Without an accounts store (one person on loopback), nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.services.access import Action, Grants, index_name
from app.services.accounts import AccountStore
from app.services.documents import reingest_document, remover
from app.services.uploads import (
    Progress,
    Upload,
    UploadPolicy,
    UploadResult,
    ingest_uploads,
    uploads_dir_for,
)
from ingest.core.types import IngestReport
from ingest.settings import IngestSettings
from ingest.store import Location


class IndexChanges:
    """Args:
        grants: who asks, with their roles now.
        location: the index folder or PostgreSQL URL.
        accounts: the store the trail goes to, or None (nothing recorded).
    """

    def __init__(self, grants: Grants, location: Location,
                 accounts: AccountStore | None) -> None:
        self.grants = grants
        self.location = location
        self.index = index_name(location)
        self.accounts = accounts

    @property
    def allowed(self) -> bool:
        """Whether the caller may change this index (the UI shows its controls only then)."""
        return self.grants.may(self.index, Action.CHANGE)

    def upload(self, uploads: list[Upload], ingestor, policy: UploadPolicy,
               progress: Progress | None = None) -> UploadResult:
        """Saves and ingests `uploads` (`app.services.uploads.ingest_uploads`)."""
        self.grants.require(self.index, Action.CHANGE)
        result = ingest_uploads(uploads, ingestor, uploads_dir_for(Path(self.location)),
                                policy, progress)
        report = result.report
        for source in (report.ingested if report else []):
            self._record("upload", source, "")
        for failure in result.failures:
            self._record("upload", failure.source, f"failed: {failure.reason}")
        return result

    def remove(self, settings: IngestSettings, sources: Sequence[str]) -> IngestReport:
        """Removes the documents of `sources` (their stored paths) in one commit."""
        self.grants.require(self.index, Action.CHANGE)
        report = remover(self.location, settings).remove(list(sources))
        for source in report.removed:
            self._record("delete", source, "")
        return report

    def reingest(self, ingestor, ref: str) -> IngestReport:
        """Loads, chunks and embeds one document again (`documents.reingest_document`)."""
        self.grants.require(self.index, Action.CHANGE)
        report = reingest_document(ingestor, ref)
        for source in report.ingested:
            self._record("reingest", source, "")
        return report

    def _record(self, action: str, source: str, detail: str) -> None:
        if self.accounts is not None:
            self.accounts.record(self.grants.who, action, self.index, source, detail)
