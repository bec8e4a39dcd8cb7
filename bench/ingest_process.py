"""Ingest as a user waits for it: whole processes, start-up included, ragqa against LangChain.

    $ .venv/bin/python bench/ingest_process.py                       # the default embedder
    $ .venv/bin/python bench/ingest_process.py --embedding builtin:minilm --repeat 5

Three timings, each the median of `--repeat` fresh processes (wall clock, from exec to exit):
  * start-up: `ragqa ingest` of a folder of 5 short Markdown files into a new index: what every
    `ragqa` command costs before its work (imports, model load, the cached compiled encoder);
  * corpus: `ragqa ingest` of 5 Wikipedia articles (the 4 of the SQuAD 2.0 tune file and the
    first of CMRC 2018's, as text files: English and Chinese) into a new index;
  * LangChain: the same articles through its textbook pipeline in a fresh `python`
    (RecursiveCharacterTextSplitter with the same chunk size and overlap, HuggingFaceEmbeddings
    of the same embedding model folder, FAISS.from_documents, save_local).
The model caches are warm on both sides (a user's second command); nothing else may run on the
machine meanwhile. The ratio is LangChain's seconds over ragqa's (higher: ragqa faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package

from shared_data import SHARED_DATA  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from eval.public_sets import load_bench, write_corpus  # noqa: E402
from ingest.embedder import resolve_embedder_path  # noqa: E402
from ingest.settings import DEFAULT_EMBEDDER, IngestSettings  # noqa: E402

CACHE_DIR = Path(os.environ.get("RAGQA_CACHE_DIR") or "~/.cache/ragqa").expanduser()
RAGQA = Path(sys.executable).with_name("ragqa")
LANGCHAIN = """
import sys
from pathlib import Path
from langchain_community.vectorstores import FAISS
from langchain_core.documents import Document
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter
corpus, model, out, size, overlap = sys.argv[1:6]
docs = [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": str(p)})
        for p in sorted(Path(corpus).rglob("*.txt"))]
chunks = RecursiveCharacterTextSplitter(chunk_size=int(size),
                                        chunk_overlap=int(overlap)).split_documents(docs)
emb = HuggingFaceEmbeddings(model_name=model, model_kwargs={"device": "cpu"},
                            encode_kwargs={"normalize_embeddings": True})
FAISS.from_documents(chunks, emb).save_local(out)
print(len(chunks), "chunks")
"""


def articles(root: Path) -> Path:
    """Writes the 5 articles as text files under `root`; returns their folder."""
    folder = root / "articles"
    squad = load_bench(SHARED_DATA / "squad2_tune_en.json", "all")
    cmrc = load_bench(SHARED_DATA / "cmrc2018_dev_tune.json", "all")
    write_corpus(squad, folder / "en")  # a folder each: write_corpus prunes other files
    write_corpus(type(cmrc)(qa=cmrc.qa, corpus=cmrc.corpus[:1], split="all", absent=[],
                            sha256=cmrc.sha256), folder / "zh")
    return folder


def small_folder(root: Path) -> Path:
    folder = root / "small"
    folder.mkdir()
    for i in range(5):
        (folder / f"note-{i}.md").write_text(
            f"# Note {i}\n\nThe build server number {i} restarts every night at 0{i}:30. "
            f"构建服务器 {i} 号每晚 0{i}:30 重启。\n", encoding="utf-8")
    return folder


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout + done.stderr


def median_run(label: str, repeat: int, make_cmd, env) -> float:
    times = []
    for i in range(repeat):
        seconds, _ = timed(make_cmd(i), env)
        times.append(seconds)
    med = statistics.median(times)
    print(f"{label:<28} {med:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})",
          flush=True)
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", default=DEFAULT_EMBEDDER)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-langchain", action="store_true")
    args = parser.parse_args()
    settings = IngestSettings()
    size, overlap = settings.chunk_size, settings.chunk_overlap
    print(f"CPU: {describe_cpu()}; embedder {args.embedding}; chunks {size}/{overlap}",
          flush=True)
    env = {**os.environ, "RAGQA_CACHE_DIR": str(CACHE_DIR), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus, small = articles(root), small_folder(root)

        def ingest(folder: Path, name: str):
            def cmd(i: int) -> list[str]:
                out = root / f"{name}-{i}"
                shutil.rmtree(out, ignore_errors=True)
                return [str(RAGQA), "ingest", str(folder), "--index", str(out),
                        "--embedding", args.embedding]
            return cmd

        # One warm-up: converts and compiles the models into the cache once.
        timed(ingest(small, "warm")(0), env)
        median_run("ragqa start-up (5 notes)", args.repeat, ingest(small, "small"), env)
        ours = median_run(f"ragqa ingest ({len(list(corpus.rglob('*.txt')))} articles)",
                          args.repeat, ingest(corpus, "ours"), env)
        _, out = timed([str(RAGQA), "info", "--index", str(root / "ours-0")], env)
        chunks = next((line.strip() for line in out.splitlines() if "num_chunks" in line), "")
        print(f"  index: {chunks}")
        if args.skip_langchain:
            return
        model = resolve_embedder_path(args.embedding, CACHE_DIR)
        theirs = median_run("LangChain textbook pipeline", args.repeat, lambda i: [
            sys.executable, "-c", LANGCHAIN, str(corpus), model, str(root / f"lc-{i}"),
            str(size), str(overlap)], env)
        print(f"ratio LangChain / ragqa: {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
