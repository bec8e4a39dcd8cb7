"""Uploads: untrusted names are sanitised, wrong types and oversize files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.services.uploads import (
    Upload,
    UploadPolicy,
    UploadRejected,
    check_upload,
    sanitize_filename,
    save_upload,
)
from ingest.loaders import SUPPORTED_SUFFIXES


@pytest.mark.parametrize("name, safe", [
    ("../../etc/passwd", "passwd"),
    ("..\\x.pdf", "x.pdf"),
    ("C:\\Users\\bob\\Desktop\\notes.md", "notes.md"),
    ("/abs/path/report.txt", "report.txt"),
    ("报告 2024.pdf", "报告 2024.pdf"),
    (".hidden.md", "hidden.md"),
    ("a\x00b\u202e\n.txt", "ab.txt"),
    ('what?<is>"this".html', "what__is__this_.html"),
    ("  lots   of\tspace .md ", "lots of space.md"),
])
def test_sanitize_keeps_only_a_safe_last_component(name, safe):
    assert sanitize_filename(name) == safe


@pytest.mark.parametrize("name", ["..", "../..", "/", "...", "\\\\"])
def test_names_with_nothing_left_are_refused(name):
    with pytest.raises(UploadRejected, match="no usable characters"):
        sanitize_filename(name)


def test_long_unicode_names_are_cut_to_fit_the_file_system_keeping_the_suffix():
    safe = sanitize_filename("报" * 300 + ".pdf")
    assert safe.endswith(".pdf")
    assert len(safe.encode("utf-8")) <= 200


def test_traversal_names_are_saved_inside_the_uploads_folder(tmp_path):
    uploads = tmp_path / "index" / "uploads"
    policy = UploadPolicy()
    saved = save_upload(Upload("../../../evil.md", b"# evil"), uploads, policy)
    assert saved == (uploads / "evil.md").resolve()
    assert saved.read_bytes() == b"# evil"
    assert not (tmp_path / "evil.md").exists()
    saved = save_upload(Upload("..\\..\\x.pdf", b"%PDF-1.4"), uploads, policy)
    assert saved.parent == uploads.resolve()
    assert sorted(p.name for p in uploads.iterdir()) == ["evil.md", "x.pdf"]


def test_unicode_names_are_saved_as_they_are(tmp_path):
    saved = save_upload(Upload("报告 2024.pdf", b"%PDF-1.4"), tmp_path, UploadPolicy())
    assert saved.name == "报告 2024.pdf" and saved.exists()


def test_wrong_type_is_refused_with_the_allowed_list(tmp_path):
    with pytest.raises(UploadRejected) as exc:
        save_upload(Upload("../../etc/passwd", b"root:x:0:0"), tmp_path, UploadPolicy())
    assert "without an extension" in exc.value.reason
    # The one list of kinds ingestion reads, nothing more and nothing less.
    allowed = exc.value.reason.split("(allowed: ")[1].rstrip(")").split(", ")
    assert {"." + kind for kind in allowed} == set(SUPPORTED_SUFFIXES)
    with pytest.raises(UploadRejected, match=r"type \.exe is not accepted"):
        save_upload(Upload("setup.exe", b"MZ"), tmp_path, UploadPolicy())
    assert list(tmp_path.iterdir()) == []


def test_suffix_check_ignores_case():
    assert check_upload(Upload("SCAN.PDF", b"%PDF"), UploadPolicy()) == "SCAN.PDF"


def test_oversize_and_empty_files_are_refused(tmp_path):
    policy = UploadPolicy(max_bytes=1024)
    assert save_upload(Upload("ok.txt", b"x" * 1024), tmp_path, policy).exists()
    with pytest.raises(UploadRejected, match="over the upload limit"):
        save_upload(Upload("big.txt", b"x" * 1025), tmp_path, policy)
    with pytest.raises(UploadRejected, match="empty"):
        save_upload(Upload("empty.txt", b""), tmp_path, policy)
    assert [p.name for p in tmp_path.iterdir()] == ["ok.txt"]


def test_a_new_version_replaces_the_old_file(tmp_path):
    save_upload(Upload("notes.md", b"v1"), tmp_path, UploadPolicy())
    saved = save_upload(Upload("notes.md", b"v2"), tmp_path, UploadPolicy())
    assert saved.read_bytes() == b"v2"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]  # no temp file left behind


def test_policy_settings_are_validated():
    with pytest.raises(ValueError, match="max_bytes"):
        UploadPolicy(max_bytes=0)
    with pytest.raises(ValueError, match="allowed_suffixes"):
        UploadPolicy(allowed_suffixes=("PDF",))


def test_uploads_are_ingested_into_a_new_index_and_failures_listed(tmp_path, embedder):
    from app.services.uploads import ingest_uploads, uploads_dir_for
    from ingest.pipeline import Ingestor
    from ingest.store.local.reader import open_index

    index_dir = tmp_path / "indexes" / "kb"  # does not exist yet: the first upload creates it
    stages = []
    result = ingest_uploads(
        [Upload("../报告 2024.md", "# 年度报告\n\n2024 年的收入增长了百分之十二。\n".encode()),
         Upload("notes.txt", b"The warranty covers water damage for two years."),
         Upload("scan.pdf", b"%PDF-1.4 this is not really a pdf"),
         Upload("setup.exe", b"MZ")],
        Ingestor(index_dir, embedder), uploads_dir_for(index_dir), UploadPolicy(),
        progress=lambda stage, done, total: stages.append((stage, done, total)),
    )
    uploads = uploads_dir_for(index_dir)
    assert uploads == (tmp_path / "indexes" / "kb.uploads").resolve()
    assert sorted(p.name for p in result.saved) == ["notes.txt", "scan.pdf", "报告 2024.md"]
    assert sorted(Path(p).name for p in result.report.ingested) == ["notes.txt", "报告 2024.md"]
    failed = {Path(f.source).name: f.reason for f in result.failures}
    assert set(failed) == {"scan.pdf", "setup.exe"}
    assert "not accepted" in failed["setup.exe"]
    assert failed["scan.pdf"]  # ingestion's own reason for the broken PDF
    assert stages and stages[-1][1] == stages[-1][2]  # progress reached its total
    index = open_index(index_dir)
    assert sorted(Path(f.source).name for f in index.files()) == ["notes.txt", "报告 2024.md"]
    assert all(Path(f.source).parent == uploads for f in index.files())
