"""A small real index for the retrieval tests: English and Chinese files and a 2-page PDF,
ingested with the real Ingestor and the embedded all-MiniLM-L6-v2."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.settings import IngestSettings

DOCS = {
    "kb/en_cooking.md": (
        "# Bread\n\nTo bake sourdough bread, feed the starter the night before. Knead the dough "
        "for ten minutes, let it rise for four hours, then bake it at 230 degrees Celsius for "
        "forty minutes until the crust is dark brown.\n"
    ),
    "kb/en_bikes.txt": (
        "Bicycle maintenance: keep the chain clean and lubricated every 300 kilometres. "
        "Check the tyre pressure weekly; road tyres need about 6 bar. Replace brake pads "
        "when the groove is worn away.\n"
    ),
    "kb/zh_tea.txt": (
        "乌龙茶是一种半发酵茶，主要产于福建和台湾。冲泡乌龙茶的水温应在九十五度左右，"
        "第一泡大约需要一分钟。铁观音是最有名的乌龙茶之一。\n"
    ),
    "kb/zh_trains.md": (
        "# 高速铁路\n\n中国的高速铁路总里程超过四万公里。京沪高铁全长一千三百一十八公里，"
        "最高运营速度为每小时三百五十公里，连接北京和上海。\n"
    ),
}
PDF_PAGES = [
    "Warranty terms. The solar panel warranty covers manufacturing defects for twelve years.",
    "Returns. Unused panels may be returned within thirty days for a full refund.",
]


def write_corpus(root: Path) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    for name, text in DOCS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    pdf = canvas.Canvas(str(root / "kb" / "manual.pdf"), pagesize=A4)
    for page in PDF_PAGES:
        pdf.drawString(72, 750, page)
        pdf.showPage()
    pdf.save()
    return root / "kb"


TINY_CE_WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "paris", "is",
                 "capital", "of", "france", "what", "where", "did", "go", "猫", "狗"]


def save_tiny_cross_encoder(folder: Path) -> Path:
    """A 1-layer BERT with one output label (random weights), saved like any Hugging Face
    cross-encoder folder, so the real loading and scoring code runs in a second."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_CE_WORDS])
                     + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(TINY_CE_WORDS) + 5, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        num_labels=1)
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embedder) -> Path:
    """The index directory of the corpus above (small chunks, so files have several)."""
    from ingest.pipeline import Ingestor

    root = tmp_path_factory.mktemp("retrieval-kb")
    kb = write_corpus(root)
    index_dir = root / "index"
    settings = IngestSettings(chunk_size=120, chunk_overlap=30)
    report = Ingestor(index_dir, embedder, settings).ingest([kb])
    assert not report.failed, report.failed
    return index_dir
