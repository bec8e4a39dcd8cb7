"""Writes the sample knowledge base's PDFs: data/kb/en_alignment.pdf and data/kb/zh_deployment.pdf.

    $ python data/make_pdfs.py            # `make kb` runs this before ingesting data/kb

The PDFs are generated instead of committed so that their text lives in a reviewable file.
Output is deterministic (reportlab's invariant mode fixes the timestamps and document id), and a
file whose bytes would not change is left untouched, so re-running is a no-op for `ragqa ingest`.
Each document has two pages, so that citations can point at page 2.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

KB = Path(__file__).resolve().parent / "kb"

# (title, [pages, each a list of (heading, paragraph)])
EN_ALIGNMENT = ("Aligning Kestrel with human preferences", [
    [
        ("Why alignment", "A fine-tuned model follows instructions, but it does not yet know which "
         "of several possible answers people prefer. Alignment uses human judgements to push the "
         "model towards helpful, honest and harmless answers."),
        ("Preference data", "For version 1.0, 75 annotators compared pairs of answers to the same "
         "prompt and picked the better one. They produced 64,000 comparisons. On a shared subset, "
         "two annotators agreed with each other 73% of the time."),
        ("Reward model and PPO", "A reward model was initialised from the SFT checkpoint and "
         "trained for 1 epoch on the comparisons. The chat model was then optimised against it "
         "with PPO, using a KL penalty coefficient of 0.05 to keep it close to the SFT model."),
    ],
    [
        ("Switch to DPO", "Version 1.1, released on 12 November 2024, replaced PPO with Direct "
         "Preference Optimization (DPO), which learns from the preference pairs directly and needs "
         "no separate reward model. DPO used beta = 0.1 and ran for 2 epochs."),
        ("Results", "In a blind comparison, annotators preferred the DPO model over the SFT model "
         "in 68% of cases. Training cost fell by about 40% because no reward model had to be "
         "served during training."),
        ("Refusals", "A set of 9,500 refusal examples teaches the model to decline clearly harmful "
         "requests while still answering borderline but legitimate questions."),
    ],
])

ZH_DEPLOYMENT = ("Kestrel 私有化部署指南", [
    [
        ("硬件需求", "Kestrel-7B 在 FP16 精度下需要约 15 GB 显存，使用 INT4 量化后约需 5 GB。"
         "单机部署推荐使用 24 GB 显存的 RTX 4090 显卡。"),
        ("纯 CPU 部署", "没有显卡时，可以把模型转换为 GGUF 格式并用 llama.cpp 运行。"
         "采用 Q4_K_M 量化时，在 16 核服务器 CPU 上的生成速度约为每秒 12 个 token。"),
        ("安装步骤", "先下载模型权重并校验 SHA-256，再启动推理服务，"
         "最后用健康检查接口确认服务可用。默认服务端口为 8000。"),
    ],
    [
        ("前缀缓存", "多个请求共享相同的系统提示时，前缀缓存可以复用已计算的键值缓存。"
         "在客服场景的实测中，前缀缓存命中率为 63%，首 token 延迟因此下降了约一半。"),
        ("并发与限流", "单个推理实例的最大并发请求数设为 128，超过后新请求进入队列排队。"
         "每个用户每分钟最多发送 60 次请求。"),
        ("监控", "建议监控首 token 延迟、每秒生成 token 数、显存占用和队列长度四项指标，"
         "并在首 token 延迟超过 2 秒时告警。"),
    ],
])


def _styles(chinese: bool) -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    base = getSampleStyleSheet()
    font = "STSong-Light" if chinese else "Helvetica"
    bold = "STSong-Light" if chinese else "Helvetica-Bold"
    # wordWrap="CJK" lets reportlab break lines between any two Chinese characters.
    wrap = {"wordWrap": "CJK"} if chinese else {}
    title = ParagraphStyle("t", parent=base["Title"], fontName=bold)
    head = ParagraphStyle("h", parent=base["Heading2"], fontName=bold)
    body = ParagraphStyle("b", parent=base["BodyText"], fontName=font, fontSize=11,
                          leading=16, **wrap)
    return title, head, body


def render(doc: tuple[str, list[list[tuple[str, str]]]], chinese: bool) -> bytes:
    """The PDF bytes of one document: a title, then one page per list of sections."""
    if chinese:
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    title_style, head, body = _styles(chinese)
    title, pages = doc
    story: list = [Paragraph(title, title_style), Spacer(1, 12)]
    for i, page in enumerate(pages):
        if i:
            story.append(PageBreak())
        for heading, text in page:
            story += [Paragraph(heading, head), Paragraph(text, body), Spacer(1, 8)]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title=title, author="Halcyon Labs",
                      invariant=True).build(story)
    return buf.getvalue()


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    tmp = path.with_suffix(".pdf.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: an ingest running meanwhile never sees half a PDF
    return True


def main() -> int:
    KB.mkdir(parents=True, exist_ok=True)
    for name, doc, chinese in (("en_alignment.pdf", EN_ALIGNMENT, False),
                               ("zh_deployment.pdf", ZH_DEPLOYMENT, True)):
        changed = write_if_changed(KB / name, render(doc, chinese))
        print(f"{'wrote' if changed else 'unchanged'} {KB / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
