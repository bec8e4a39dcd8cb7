"""The messy ("web-copied") rendering of the public sets: seeded, every gold answer kept."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from app.services.shared_data import SHARED_DATA
from eval.messy import KINDS, Mess, Paragraph, Span, render_messy
from eval.public_sets import article_text, gold_spans, load_bench, write_corpus

ROOT = Path(__file__).resolve().parents[1]
HAN = "\u4e00-\u9fff"
EMOJI_BULLETS = ("👉 ", "✅ ")

ZH_TITLE = "大语言模型"
ZH_PARAGRAPHS = [
    "大语言模型（LLM）是一种以海量文本训练的神经网络，通常采用Transformer架构。它的训练分为"
    "预训练、监督微调（SFT）和基于人类反馈的强化学习（RLHF）三个阶段。预训练阶段使用数万亿个"
    "词元，模型学会预测下一个词元：这一步最耗费算力。",
    "为什么需要微调？因为预训练得到的模型只会续写文本，并不会按照指令回答问题。监督微调用人工"
    "编写的问答对训练模型，让它学会遵循指令；强化学习则让回答更符合人类偏好。",
    "LoRA是一种参数高效的微调方法：它冻结原有权重，只训练两个低秩矩阵（秩通常为8或16），"
    "因此显存占用大大降低。量化则把权重从16位浮点数压缩为8位或4位整数，推理速度随之提高。",
    "解码时，模型可以使用贪心搜索、束搜索或者核采样（top-p）。温度越高，输出越多样；温度为0时"
    "等同于贪心搜索。检索增强生成（RAG）先从文档库中检索相关段落，再把它们放进提示词里。",
    "评估大语言模型的常用指标包括困惑度、精确匹配（EM）和F1值。对于阅读理解任务，CMRC 2018"
    "使用字符级别的F1值，而SQuAD使用词级别的F1值！人工评估依然不可替代。",
    "模型的上下文长度决定了一次能读入多少词元，长上下文需要更多显存（KV缓存）。常见的做法是"
    "把长文档切成几百字的片段，再分别建立索引，检索时只取最相关的几个片段。",
    "部署时，开发者往往在延迟、成本与质量之间权衡：在只有两个核心的笔记本电脑上，一个五亿参数"
    "的模型生成一个回答大约需要十秒，而在有AVX-512指令集的处理器上快得多。",
    "总之，大语言模型的能力来自数据、算力和算法三者的结合（缺一不可），而它的局限——幻觉、"
    "过时的知识和高昂的成本——也同样来自这三者。",
]
EN_TITLE = "Steam engine"
EN_PARAGRAPHS = [
    "A steam engine is a heat engine that performs mechanical work using steam as its working "
    "fluid. The steam engine uses the force produced by steam pressure to push a piston back "
    "and forth inside a cylinder. This pushing force is transformed, by a connecting rod and "
    "flywheel, into rotational force for work.",
    "Steam-driven devices such as the aeolipile were known in the first century AD, and there "
    "were a few other uses recorded in the 16th century. In 1606 Jerónimo de Ayanz y Beaumont "
    "patented his invention of the first steam-powered water pump for draining mines.",
    "Thomas Savery is considered the inventor of the first commercially used steam powered "
    "device, a steam pump that used steam pressure operating directly on the water. The first "
    "commercially successful engine that could transmit continuous power to a machine was "
    "developed in 1712 by Thomas Newcomen.",
    "James Watt made a critical improvement in 1764, by removing spent steam to a separate "
    "vessel for condensation, greatly improving the amount of work obtained per unit of fuel "
    "consumed. By the 19th century, stationary steam engines powered the factories of the "
    "Industrial Revolution.",
    "Steam engines replaced sail for ships, and steam locomotives operated on the railways. "
    "Reciprocating piston type steam engines were the dominant source of power until the early "
    "20th century, when advances in the design of electric motors and internal combustion "
    "engines gradually resulted in the replacement of reciprocating steam engines.",
]
ZH_ANSWERS = ["监督微调（SFT）", "低秩矩阵（秩通常为8或16）", "核采样（top-p）", "字符级别的F1值",
              "大约需要十秒，而在有AVX-512指令集的处理器上快得多", "数据、算力和算法"]
EN_ANSWERS = ["Jerónimo de Ayanz y Beaumont", "1712 by Thomas Newcomen", "James Watt",
              "stationary steam engines powered the factories of the Industrial Revolution"]


def _paragraphs(texts: list[str], answers: list[str]) -> list[Paragraph]:
    return [Paragraph(t, tuple(Span(t.index(a), t.index(a) + len(a)) for a in answers if a in t))
            for t in texts]


def _zh(seed: int = 0, mess: Mess = Mess()) -> str:
    return render_messy(ZH_TITLE, _paragraphs(ZH_PARAGRAPHS, ZH_ANSWERS), seed=seed, mess=mess)


def _en(seed: int = 0, mess: Mess = Mess()) -> str:
    return render_messy(EN_TITLE, _paragraphs(EN_PARAGRAPHS, EN_ANSWERS), seed=seed, mess=mess)


def _columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def _clean(title: str, paragraphs: list[str]) -> str:
    return title + "\n\n" + "\n\n".join(paragraphs) + "\n"


# --- determinism ----------------------------------------------------------------------------

def test_the_same_article_and_seed_give_the_same_bytes_and_another_seed_other_bytes():
    assert _zh(seed=7) == _zh(seed=7) and _en(seed=7) == _en(seed=7)
    assert _zh(seed=7) != _zh(seed=8)
    other = render_messy("小语言模型", _paragraphs(ZH_PARAGRAPHS, ZH_ANSWERS), seed=7)
    assert other.replace("小语言模型", ZH_TITLE) != _zh(seed=7)  # the title seeds it too


def test_the_rendering_does_not_depend_on_pythons_salted_hash():
    script = ("import sys, hashlib; sys.path.insert(0, sys.argv[1]); "
              "from tests.test_eval_messy import _zh, _en; "
              "print(hashlib.sha256((_zh(3) + _en(3)).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True,
                              text=True, check=True, env={"PYTHONHASHSEED": salt},
                              cwd=ROOT).stdout.strip()
               for salt in ("1", "2")}
    assert digests == {hashlib.sha256((_zh(3) + _en(3)).encode()).hexdigest()}


# --- the answers stay -----------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_protected_spans_keep_their_characters_and_no_line_break(seed):
    text = _zh(seed) + _en(seed)
    for answer in ZH_ANSWERS + EN_ANSWERS:
        assert answer in text  # full-width （） and "，" inside answers not converted, no "\n"


def test_a_protected_span_longer_than_a_line_is_kept_whole():
    long_answer = ZH_PARAGRAPHS[0][:90]  # 90 CJK characters: more than twice the line width
    para = Paragraph(ZH_PARAGRAPHS[0], (Span(0, 90),))
    for seed in range(5):
        text = render_messy(ZH_TITLE, [para], seed=seed, mess=Mess(kinds=("wraps",)))
        assert long_answer in text


def _public_file(name: str) -> Path:
    path = SHARED_DATA / name
    assert path.is_file(), f"{path} is missing: put ../shared/data beside the checkout or set " \
        "RAGQA_SHARED_DATA"
    return path


@pytest.mark.parametrize("name", ["cmrc2018_dev_tune.json", "squad2_tune_en.json",
                                  "drcd_dev_tune.json", "cmrc2018_trial.json"])
def test_every_gold_answer_of_a_public_set_is_verbatim_in_its_messy_article(name):
    bench = load_bench(_public_file(name), "all")
    answers = {it.id: it.answers for it in bench.items}
    checked, lost = 0, []
    for article in bench.corpus:
        clean, messy = article_text(article), article_text(article, "messy")
        assert messy != clean
        for qid in article.question_ids:
            for answer in answers[qid]:
                if answer in clean:  # 68 CMRC dev answers are in no context (annotation slips)
                    checked += 1
                    if answer not in messy:
                        lost.append((article.title, qid, answer))
    assert lost == []
    assert checked >= 0.98 * sum(len(a) for a in answers.values())


def test_gold_spans_take_the_annotated_offset_or_the_nearest_occurrence():
    context = "1889年灭绝。后来，1889年的记录……"
    at = context.index("1889年", 3)
    assert gold_spans(context, [{"text": "1889年", "answer_start": at}]) == (Span(at, at + 5),)
    # Off by one: the nearest occurrence, and the annotated characters too.
    assert gold_spans(context, [{"text": "1889年", "answer_start": at + 1}]) == (
        Span(at, at + 5), Span(at + 1, at + 6))
    # Not in the context at all: what the annotation points at is still protected.
    assert gold_spans(context, [{"text": "1900.0", "answer_start": 0}]) == (Span(0, 6),)
    assert gold_spans(context, [{"text": "", "answer_start": 0}]) == ()


# --- each kind of mess ----------------------------------------------------------------------

def _kinds(*kinds) -> Mess:
    return Mess(kinds=kinds)


def test_halfwidth_punctuation_replaces_full_width_inside_chinese_text_but_not_in_answers():
    text = _zh(mess=_kinds("halfwidth"))
    assert re.search(f"[{HAN}][,:?()][{HAN}]?", text)
    back = text.translate(str.maketrans(",:()?!;", "，：（）？！；"))
    assert back == _clean(ZH_TITLE, ZH_PARAGRAPHS)  # only punctuation changed
    assert "监督微调（SFT）" in text and "核采样（top-p）" in text


@pytest.mark.parametrize("seed", range(3))
def test_hard_wraps_break_lines_mid_sentence_at_the_line_width(seed):
    zh = _zh(seed, _kinds("wraps")).split("\n\n")
    # A line break goes between two characters, or takes the place of a space ("CMRC 2018").
    assert [re.sub(r"\s", "", block) for block in zh] == \
        [re.sub(r"\s", "", p) for p in (ZH_TITLE, *ZH_PARAGRAPHS)]
    wrapped = [block.split("\n") for block in zh[1:] if "\n" in block]
    assert len(wrapped) >= len(ZH_PARAGRAPHS) // 2
    lines = [line for block in wrapped for line in block]
    assert any(re.search(f"[{HAN}]$", line) for line in lines)  # a line ends mid-sentence
    # 70-80 columns (35-40 CJK characters), more only where a protected answer spans the break.
    assert sum(_columns(line) > 81 for line in lines) <= 1
    en = _en(seed, _kinds("wraps")).rstrip("\n").split("\n\n")
    assert [block.replace("\n", " ") for block in en] == [EN_TITLE, *EN_PARAGRAPHS]
    en_lines = [line for block in en[1:] for line in block.split("\n")]
    assert any(re.search(r"[a-z,]$", line) for line in en_lines)
    # 70-80 Latin characters, longer only where a protected answer spans the break.
    assert sum(len(line) > 81 for line in en_lines) <= 1


def test_navigation_and_contents_lines_frame_the_article():
    for text, contents, first in ((_zh(mess=_kinds("nav")), "目录", "简介"),
                                  (_en(mess=_kinds("nav")), "Contents", "Introduction")):
        lines = text.splitlines()
        assert contents in lines
        assert any(re.fullmatch(rf"1[.、)]? ?{first}", line) for line in lines)
        assert any(" > " in line or " » " in line or " › " in line or " / " in line
                   for line in lines[:2])
        assert text.index(contents) < text.index(first) < text.index(
            (ZH_PARAGRAPHS if contents == "目录" else EN_PARAGRAPHS)[0][:10])
    assert any("分享" in _zh(seed, _kinds("nav")) for seed in range(5))


def test_bullets_and_emoji_bullets_start_paragraphs_or_their_sentences():
    texts = [_zh(seed, _kinds("bullets")) + _en(seed, _kinds("bullets")) for seed in range(8)]
    starts = [line for text in texts for line in text.splitlines()]
    assert any(line.startswith(EMOJI_BULLETS) for line in starts)
    assert any(line.startswith("• ") for line in starts)
    assert any(re.match(r"2[）)] ?\S", line) for line in starts)  # a numbered list of sentences
    quoted = render_messy("引语", [Paragraph("他说：「我明白了。」然后走了。她说：「好。」")] * 30,
                          mess=_kinds("bullets"))
    assert re.search("^.{0,3}然后", quoted, re.M)  # a quote's sentences were split
    assert not re.search("^[^\n他她]{0,3}」", quoted, re.M)  # not before its closing mark


def test_a_table_is_flattened_to_one_cell_per_line():
    lines = _zh(mess=_kinds("table")).splitlines()
    at = lines.index("项目")
    assert lines[at + 1] == "内容"
    rest = [line for line in lines[at + 2:] if line != "---"]
    assert rest[:2] == ["标题", ZH_TITLE] and rest[2] == "分类" and rest[6] == "阅读量"
    assert rest[7].isdigit()
    en = _en(mess=_kinds("table")).splitlines()
    assert en[en.index("Field") + 1] == "Value"


def test_the_title_repeats_as_a_heading_and_a_related_reading_footer_ends_the_page():
    text = _zh(mess=_kinds("headings"))
    lines = text.splitlines()
    headings = [line for line in lines if ZH_TITLE in line and len(line) < len(ZH_TITLE) + 8]
    assert len(headings) >= 3  # the title, then at least twice more among 8 paragraphs
    assert "相关阅读" in lines and lines.index("相关阅读") > lines.index(headings[-1]) - 4
    assert "Related reading" in _en(mess=_kinds("headings")).splitlines()


def test_one_long_paragraph_becomes_a_pages_short_ones_with_the_title_between():
    whole = "".join(ZH_PARAGRAPHS)  # one long paragraph, as every CMRC 2018 article is
    para = _paragraphs([whole], ZH_ANSWERS)
    split = titled = 0
    for seed in range(6):
        text = render_messy(ZH_TITLE, para, seed=seed, mess=_kinds("headings"))
        blocks = text.split("\n\n")
        headings = [b for b in blocks[1:] if ZH_TITLE in b and len(b) < len(ZH_TITLE) + 8]
        body = [b for b in blocks[1:] if b not in headings and not b.startswith("相关阅读")]
        assert "".join(body) == whole  # cut between sentences, nothing else changed
        assert all(b[-1] in "。！？；" for b in body)
        split += len(body) >= 3
        titled += bool(headings)
        assert all(answer in text for answer in ZH_ANSWERS)
    assert split >= 3 and titled >= 2


def test_spacing_adds_blank_lines_trailing_spaces_and_indents():
    texts = [_zh(seed, _kinds("spacing")) for seed in range(4)]
    joined = "".join(texts)
    assert "\n\n\n" in joined
    assert re.search(r"[^\s][ \t]+\n", joined)
    assert "\n\u3000\u3000" in joined
    for text in texts:  # only whitespace changes
        assert re.sub(r"\s+", "", text) == re.sub(r"\s+", "", _clean(ZH_TITLE, ZH_PARAGRAPHS))


def test_all_kinds_together_on_both_languages():
    zh, en = _zh(), _en()
    assert re.search(f"[{HAN}][,:?)]", zh)
    assert re.search(f"[{HAN}]\n[{HAN}]", zh)
    lines = [line.strip() for line in zh.splitlines()]  # spacing may add trailing spaces
    assert "目录" in lines and "相关阅读" in lines
    assert re.search(r"[a-z]\n[a-z]", en)
    for answer in ZH_ANSWERS:
        assert answer in zh
    for answer in EN_ANSWERS:
        assert answer in en


# --- settings -------------------------------------------------------------------------------

def test_strength_zero_is_the_clean_rendering_and_strength_scales_the_mess():
    paragraphs = _paragraphs(ZH_PARAGRAPHS, ZH_ANSWERS)
    assert render_messy(ZH_TITLE, paragraphs, mess=Mess(strength=0.0)) == \
        _clean(ZH_TITLE, ZH_PARAGRAPHS)
    changed = [sum(render_messy(ZH_TITLE, paragraphs, seed=s, mess=Mess(strength=x)).count(",")
                   for s in range(6)) for x in (0.2, 1.0)]
    assert changed[0] < changed[1]


def test_mess_settings_are_validated():
    with pytest.raises(ValueError, match="strength"):
        Mess(strength=1.5)
    with pytest.raises(ValueError, match="unknown kinds"):
        Mess(kinds=("emoji",))  # type: ignore[arg-type]
    assert set(Mess().kinds) == set(KINDS)


# --- the corpus -----------------------------------------------------------------------------

# sha256 over (file name, NUL, bytes) of write_corpus's files, recorded before renderings existed.
CLEAN_CORPUS = {
    "cmrc2018_dev_tune.json": "d8ae16326452b85d1f511dfd1a8b707408bf172d5dd125be800738eeb1f68758",
    "squad2_tune_en.json": "1bc61f24c88d58223ca2a6ca030f226ff996090072b4ea1ebc4feac91a30171a",
}


@pytest.mark.parametrize("name", sorted(CLEAN_CORPUS))
def test_the_clean_corpus_is_byte_identical_to_before(tmp_path, name):
    bench = load_bench(_public_file(name), "all", absent=0.2)
    digest = hashlib.sha256()
    for path in write_corpus(bench, tmp_path / "corpus"):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    assert digest.hexdigest() == CLEAN_CORPUS[name]


def test_write_corpus_writes_the_messy_rendering_under_the_same_names(tmp_path):
    path = tmp_path / "s.json"
    context = "Paris is the capital of France, and its largest city by far."
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "Paris", "paragraphs": [
        {"context": context, "qas": [{"id": "q", "question": "Capital of?", "answers": [
            {"text": "France", "answer_start": context.index("France")}]}]}]}]}),
        encoding="utf-8")
    bench = load_bench(path, "all")
    clean = write_corpus(bench, tmp_path / "clean")
    messy = write_corpus(bench, tmp_path / "messy", rendering="messy", seed=1)
    assert [p.name for p in clean] == [p.name for p in messy]
    text = messy[0].read_text(encoding="utf-8")
    assert text != clean[0].read_text(encoding="utf-8") and "France" in text
    assert write_corpus(bench, tmp_path / "messy", rendering="messy", seed=1) == messy
    assert messy[0].read_text(encoding="utf-8") == text
    with pytest.raises(ValueError, match="rendering"):
        write_corpus(bench, tmp_path / "x", rendering="dirty")  # type: ignore[arg-type]


def test_bench_keeps_clean_and_messy_corpora_and_indexes_apart(tmp_path):
    from app.commands.bench import _bench_home, _rendering_name
    from app.config import load_settings

    s = load_settings(None, {}, environ={})
    bench = load_bench(_public_file("squad2_tune_en.json"), "test")
    homes = {_bench_home(s, bench, _rendering_name(r, x))
             for r, x in (("clean", 1.0), ("messy", 1.0), ("messy", 0.5))}
    assert len(homes) == 3
    assert _bench_home(s, bench, "clean") == _bench_home(s, bench)  # the key it always had
    assert _rendering_name("messy", 0.5) == "messy0.5" and _rendering_name("messy", 1.0) == "messy"


def test_ragqa_bench_refuses_an_unknown_rendering_in_one_line(tmp_path, monkeypatch, capsys):
    from cli_helpers import ragqa

    gold = _public_file("squad2_tune_en.json")
    code, _, err = ragqa(monkeypatch, capsys, "bench", gold, "--render", "dirty")
    assert code == 2 and "--render" in err and "Traceback" not in err


def test_the_report_and_the_printed_table_name_the_rendering(tmp_path):
    from app.commands.eval import summary_table
    from eval.qa_io import QAItem, QASet
    from eval.report import build_report
    from eval.report_files import render_markdown
    from eval.runner import QuestionRecord, RunResult
    from generation.types import Answer, Timings
    from ingest.core.types import Chunk
    from retrieval.types import Hit

    item = QAItem("q", "Capital of?", ("France",), "en", True)
    hit = Hit(Chunk("p", "Paris is in France.", "/kb/p.txt", None, 0), 1.0)
    answer = Answer(question=item.question, text="France", abstained=False, citations=[],
                    confidence=0.9, timings=Timings(5.0, 10.0, 20.0))
    run = RunResult([QuestionRecord(item, [hit], 7.0, answer)], curve_k=3,
                    retrieval_seconds=0.1, generation_seconds=1.0)
    report = build_report(run, QASet(tmp_path / "q.json", "squad2.0", [item]), k=1,
                          config={"rendering": "messy"})
    assert "messy rendering" in render_markdown(report)
    assert "(messy rendering)" in str(summary_table(report).title)
