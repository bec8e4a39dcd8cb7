"""Files uploaded in the browser: checked, given a safe name, saved under the index, ingested.

    policy = UploadPolicy(max_bytes=20 * 2**20)
    sanitize_filename("../../etc/报告 2024.pdf")
    # '报告 2024.pdf'
    result = ingest_uploads([Upload("a.md", b"# Hi")], ingestor,
                            uploads_dir_for(Path("indexes/kb")), policy,
                            progress=lambda stage, done, total: print(stage, done, total))
    result.saved, result.failures, result.report.chunks_added
    # ([PosixPath('/…/indexes/kb.uploads/a.md')], [], 1)

A browser-supplied name is untrusted: it may carry folders ('../../etc/passwd', '..\\x.pdf'),
control characters or a name longer than the file system allows. Only the last path
component survives, cleaned, and the saved path is checked to lie inside the uploads folder.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.core.errors import RagqaError
from ingest.core.fileio import atomic_write_bytes
from ingest.core.types import FileFailure, IngestReport
from ingest.loaders import SUPPORTED_SUFFIXES

UPLOADS_SUFFIX = ".uploads"
# The kinds ingestion reads, from its one list (a copy here drifted once).
ALLOWED_SUFFIXES = tuple(sorted(SUPPORTED_SUFFIXES))
# ext4 allows 255 bytes per name; a CJK character takes 3 bytes in UTF-8.
_MAX_NAME_BYTES = 200
# Reserved on Windows or by shells; replaced so a saved name is portable and quotable.
_UNSAFE_CHARS = re.compile(r'[<>:"|?*\x00]')

Progress = Callable[[str, int, int], None]


class UploadRejected(RagqaError):
    """An uploaded file was refused before ingestion (type, size or name); the message says why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class UploadPolicy:
    """What the app accepts. `max_bytes` must match Streamlit's server.maxUploadSize or lower."""

    max_bytes: int = 50 * 2**20
    allowed_suffixes: tuple[str, ...] = ALLOWED_SUFFIXES

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be greater than 0, not {self.max_bytes}")
        if not self.allowed_suffixes or not all(
            s.startswith(".") and s == s.lower() for s in self.allowed_suffixes
        ):
            raise ValueError(
                f"allowed_suffixes must be lower-case suffixes like '.pdf', not "
                f"{self.allowed_suffixes!r}"
            )

    @property
    def types(self) -> list[str]:
        """The suffixes without dots, as `st.file_uploader(type=...)` wants them."""
        return [s[1:] for s in self.allowed_suffixes]


@dataclass(frozen=True)
class Upload:
    """One file as the browser sent it."""

    name: str
    data: bytes


@dataclass
class UploadResult:
    """What happened to a batch of uploads: saved files, refusals and ingest failures."""

    saved: list[Path] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    report: IngestReport | None = None


def sanitize_filename(name: str) -> str:
    """The last path component of `name`, cleaned; raises UploadRejected when nothing is left."""
    original = name
    name = unicodedata.normalize("NFC", name)
    # Browsers on Windows may send either separator; keep only what follows the last one.
    name = re.split(r"[\\/]", name)[-1]
    # Tabs and newlines become spaces; other control and format characters (categories Cc,
    # Cf, ...) can hide or reorder text and are dropped.
    name = re.sub(r"\s+", " ", name)
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _UNSAFE_CHARS.sub("_", name)
    # Leading dots would make a hidden file, or '.'/'..'; trailing dots and spaces are lost
    # on some file systems.
    name = name.strip(" .")
    if not name:
        raise UploadRejected(original, "the file name has no usable characters")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = (dot + suffix) if dot else ""
    while len((stem + suffix).encode("utf-8")) > _MAX_NAME_BYTES and stem:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "upload") + suffix


def check_upload(upload: Upload, policy: UploadPolicy) -> str:
    """The safe name of an acceptable upload; raises UploadRejected naming the file and reason."""
    safe = sanitize_filename(upload.name)
    suffix = Path(safe).suffix.lower()
    if suffix not in policy.allowed_suffixes:
        allowed = ", ".join(policy.types)
        kind = f"type {suffix}" if suffix else "a file without an extension"
        raise UploadRejected(upload.name, f"{kind} is not accepted (allowed: {allowed})")
    size = len(upload.data)
    if size > policy.max_bytes:
        raise UploadRejected(
            upload.name,
            f"{_megabytes(size)} is over the upload limit of {_megabytes(policy.max_bytes)}",
        )
    if size == 0:
        raise UploadRejected(upload.name, "the file is empty")
    return safe


def save_upload(upload: Upload, uploads_dir: Path, policy: UploadPolicy) -> Path:
    """Checks `upload` and writes it atomically as `uploads_dir/<safe name>`.

    A file with the same name is replaced: uploading a new version of a document updates it
    (ingestion notices the changed content hash)."""
    safe = check_upload(upload, policy)
    uploads_dir.mkdir(parents=True, exist_ok=True)
    root = uploads_dir.resolve()
    target = root / safe
    # Belt and braces: sanitising already removed separators, but never write outside root.
    if target.parent != root:
        raise UploadRejected(upload.name, "the file name would leave the uploads folder")
    try:
        atomic_write_bytes(target, upload.data)
    except OSError as exc:
        raise UploadRejected(upload.name, f"cannot save to {root}: {exc}") from exc
    return target


def uploads_dir_for(index_dir: Path) -> Path:
    """Where an index's uploaded files live: `indexes/kb` -> `indexes/kb.uploads`.

    Beside the index rather than inside it: the index folder belongs to the ingester, which
    refuses to create an index in a folder holding anything else."""
    index_dir = Path(index_dir).resolve()
    return index_dir.parent / (index_dir.name + UPLOADS_SUFFIX)


def ingest_uploads(uploads: list[Upload], ingestor, uploads_dir: Path, policy: UploadPolicy,
                   progress: Progress | None = None) -> UploadResult:
    """Saves every acceptable upload in `uploads_dir` and ingests them in one run.

    `ingestor` is an `ingest.pipeline.Ingestor` for the index. Refused uploads and files that
    ingestion could not read are both listed in `result.failures` with their reasons; neither
    stops the others. The saved files stay: the index records where its sources are.
    """
    result = UploadResult()
    for upload in uploads:
        try:
            result.saved.append(save_upload(upload, uploads_dir, policy))
        except UploadRejected as exc:
            result.failures.append(FileFailure(source=upload.name, reason=exc.reason))
    if result.saved:
        result.report = ingestor.ingest(result.saved, progress=progress)
        result.failures.extend(result.report.failed)
    return result


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"
