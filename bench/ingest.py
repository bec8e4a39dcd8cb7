"""Ingestion throughput and memory: ragqa's Ingestor against LangChain's textbook pipeline.

    .venv/bin/python bench/ingest.py                      # 0.5 MB corpus, both pipelines
    .venv/bin/python bench/ingest.py --size-mb 200 --skip-langchain   # the 200 MB memory claim
    .venv/bin/python bench/ingest.py --size-mb 200 --skip-langchain --max-seq-length 8
        # the same on a CPU-only box: the model reads 8 tokens per chunk, so the run takes
        # minutes instead of hours; the pipeline's memory does not depend on it

Both pipelines get the same generated corpus (English and Chinese .txt/.md files), the same
embedded model (all-MiniLM-L6-v2 from ingest.embedder.resolve_embedder_path), the same chunk
size and overlap, on the same device, in the same process; ragqa runs its default embedder
backend (OpenVINO on a CPU, --embed-backend torch for the torch one). Model loading is outside both
timings. LangChain's is the pipeline its tutorials show: RecursiveCharacterTextSplitter +
HuggingFaceEmbeddings + FAISS.from_documents. ragqa does more (hashing, cleaning, BM25,
SQLite, an atomic commit) and should still be faster.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import psutil

from app.services.cpu import describe_cpu
from ingest.settings import IngestSettings  # after the project root is on the path

EN_TEXT = (
    "model retrieval index vector chunk answer question document search embedding token "
    "latency throughput memory batch query source page citation context window training "
    "dataset evaluation metric score rank hybrid dense sparse lexical attention layer weight "
    "gradient optimizer learning rate inference server cache prompt template language system "
    "user team report policy budget storage network cluster node replica shard backup"
)
ZH_CHARS = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"
            "也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物"
            "现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全"
            "表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系"
            "检索增强生成模型向量索引文本块嵌入语义搜索排序召回评估指标训练推理部署服务延迟吞吐")


def make_corpus(root: Path, size_mb: float, file_kb: int = 32, seed: int = 0) -> int:
    """Writes about `size_mb` MB of text files (3 English : 1 Chinese); returns the count."""
    rng = random.Random(seed)
    en_words = EN_TEXT.split()
    target = int(size_mb * 1e6)
    written = n = 0
    while written < target:
        chinese = n % 4 == 3
        paragraphs = []
        size = 0
        while size < file_kb * 1000:
            if chinese:
                sentences = ["".join(rng.choices(ZH_CHARS, k=rng.randint(8, 30)))
                             + rng.choice("。。。！？；") for _ in range(rng.randint(3, 8))]
                para = "".join(sentences)
                size += len(para.encode())
            else:
                sentences = [" ".join(rng.choices(en_words, k=rng.randint(6, 22))).capitalize()
                             + rng.choice("...!?") for _ in range(rng.randint(3, 8))]
                para = " ".join(sentences)
                size += len(para)
            paragraphs.append(para)
        suffix = ".md" if n % 2 else ".txt"
        path = root / f"d{n // 1000:03d}" / f"doc{n:06d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(paragraphs), encoding="utf-8")
        written += path.stat().st_size
        n += 1
    return n


class PeakRSS:
    """Samples this process's resident memory every 50 ms (psutil) and keeps the peak."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


class TimedEmbedder:
    """The embedder, timing its calls: how much of a run is the model's forward pass."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self.batch_size = inner.batch_size
        self.seconds = 0.0

    def embed(self, texts):
        start = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - start


def mb(n: float) -> str:
    return f"{n / 2**20:.0f} MB"


def run_ragqa(corpus: Path, work: Path, embedder, chunk_size: int, chunk_overlap: int,
              num_files: int) -> float:
    from ingest.pipeline import Ingestor

    timed = TimedEmbedder(embedder)
    ingestor = Ingestor(work / "ragqa-index", timed,
                        IngestSettings(chunk_size=chunk_size, chunk_overlap=chunk_overlap))
    with PeakRSS() as rss:
        start = time.perf_counter()
        report = ingestor.ingest([corpus])
        seconds = time.perf_counter() - start
    chunks = report.chunks_added
    print(f"ragqa     : {len(report.ingested)} files, {chunks} chunks in {seconds:.1f} s = "
          f"{len(report.ingested) / seconds:.2f} files/s, {chunks / seconds:.1f} chunks/s; "
          f"peak RSS {mb(rss.peak)}; {timed.seconds / seconds:.0%} of the time in the model")
    assert len(report.ingested) == num_files and not report.failed, report.failed[:3]
    start = time.perf_counter()
    again = ingestor.ingest([corpus])
    print(f"ragqa     : re-ingest of the unchanged corpus {time.perf_counter() - start:.2f} s "
          f"({len(again.unchanged)} files unchanged, nothing re-embedded)")
    return seconds


def run_langchain(corpus: Path, device: str, chunk_size: int, chunk_overlap: int,
                  num_files: int, max_seq_length: int | None) -> float:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ingest.embedder import resolve_embedder_path

    embeddings = HuggingFaceEmbeddings(
        model_name=resolve_embedder_path("builtin:minilm"), model_kwargs={"device": device},
        encode_kwargs={"normalize_embeddings": True})
    if max_seq_length:
        embeddings._client.max_seq_length = max_seq_length  # the same truncation as ragqa's
    embeddings.embed_documents(["warm up"])
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    with PeakRSS() as rss:
        start = time.perf_counter()
        docs = [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": str(p)})
                for p in sorted(corpus.rglob("*")) if p.is_file()]
        chunks = splitter.split_documents(docs)
        store = FAISS.from_documents(chunks, embeddings)
        seconds = time.perf_counter() - start
    print(f"langchain : {len(docs)} files, {len(chunks)} chunks in {seconds:.1f} s = "
          f"{len(docs) / seconds:.2f} files/s, {len(chunks) / seconds:.1f} chunks/s; "
          f"peak RSS {mb(rss.peak)}")
    assert len(docs) == num_files and store.index.ntotal == len(chunks)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=0.5, help="corpus size (default 0.5)")
    parser.add_argument("--chunk-size", type=int, default=800)
    parser.add_argument("--chunk-overlap", type=int, default=120)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--skip-langchain", action="store_true",
                        help="only ragqa (for the memory check on a large corpus)")
    parser.add_argument("--max-seq-length", type=int, default=None,
                        help="truncate the embedder's input to N tokens (memory runs on a CPU)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice, one per core)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="alternate the two pipelines N times and report the medians")
    parser.add_argument("--embed-backend", default="auto", choices=["auto", "openvino", "torch"],
                        help="ragqa's embedder backend (default auto: OpenVINO on a CPU, as "
                        "ragqa ingest runs it); LangChain's pipeline always runs torch")
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/ragqa").expanduser(),
                        help="where the OpenVINO encoder is converted once")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the corpus and index go (default: a temporary folder)")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it

    import torch

    from ingest.embedder import Embedder

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="ragqa-bench-", dir=args.work_dir))
    try:
        corpus = work / "corpus"
        start = time.perf_counter()
        num_files = make_corpus(corpus, args.size_mb)
        size = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())
        print(f"corpus    : {num_files} files, {size / 1e6:.1f} MB (generated in "
              f"{time.perf_counter() - start:.1f} s); chunk size {args.chunk_size}, overlap "
              f"{args.chunk_overlap}; device {args.device}; torch threads "
              f"{torch.get_num_threads()}")
        embedder = Embedder("builtin:minilm", device=args.device, backend=args.embed_backend,
                            cache_dir=args.cache_dir)
        print(f"embedder  : {embedder.backend} backend")
        if args.max_seq_length:  # bench-only shortcut
            embedder._model.max_seq_length = embedder.max_seq_length = args.max_seq_length
        embedder.embed(["warm up"])
        model_rss = psutil.Process().memory_info().rss
        print(f"model     : RSS after loading the embedder {mb(model_rss)}")
        ours, theirs = [], []
        for i in range(args.repeat):
            ours.append(run_ragqa(corpus, work / f"run{i}", embedder, args.chunk_size,
                                  args.chunk_overlap, num_files))
            if i == 0:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                print(f"memory    : ragqa peak RSS {mb(peak)} = model {mb(model_rss)} + "
                      f"{mb(peak - model_rss)} for ingesting {size / 1e6:.1f} MB")
            if not args.skip_langchain:
                theirs.append(run_langchain(corpus, args.device, args.chunk_size,
                                            args.chunk_overlap, num_files, args.max_seq_length))
        if theirs:
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"ratio     : ragqa is {b / a:.2f}x the speed of the LangChain pipeline "
                  f"(median of {args.repeat}: {a:.1f} s vs {b:.1f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
