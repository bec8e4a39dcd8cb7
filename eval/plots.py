"""PNG plots for the report, drawn with matplotlib's object API: a `Figure` renders to PNG on
its own Agg canvas, so no display is needed and no process-wide pyplot backend is switched.

    write_plots(report, Path("reports/ci"))   # -> ['hit_at_k.png', 'latency.png', ...]
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from eval.report import Report


def _hit_curve(report: Report, path: Path) -> bool:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    drawn = False
    for group, g in report.groups.items():
        if not g.hit_at:
            continue
        ks = sorted(g.hit_at)
        ax.plot(ks, [g.hit_at[k] for k in ks], marker="o",
                label=f"{group} (n={g.answerable_count})")
        drawn = True
    ax.set(xlabel="k (passages retrieved)", ylabel="hit@k (%)", ylim=(0, 102),
           title="Gold answer inside a top-k passage")
    ax.set_xticks(range(1, report.curve_k + 1))
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return drawn


def _latency(report: Report, path: Path) -> bool:
    stages = {"retrieve": [r.retrieve_ms for r in report.items]}
    totals = [r.timings_ms["total"] for r in report.items
              if r.timings_ms and r.timings_ms.get("total") is not None]
    if totals:
        stages["answer total"] = totals
    fig = Figure(figsize=(5 * len(stages), 3.5))
    axes = fig.subplots(1, len(stages), squeeze=False)
    for ax, (name, values) in zip(axes[0], stages.items(), strict=True):
        ax.hist(values, bins=20, color="tab:blue", alpha=0.8)
        ax.set(title=f"{name} latency", xlabel="ms", ylabel="questions")
        stats = report.latency.get("retrieve" if name == "retrieve" else "answer_total")
        if stats:
            ax.axvline(stats.p50, color="k", ls="--", label=f"p50 {stats.p50:.0f} ms")
            ax.axvline(stats.p95, color="r", ls=":", label=f"p95 {stats.p95:.0f} ms")
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def _reliability(report: Report, path: Path) -> bool:
    bins = report.groups["all"].reliability
    if not bins:
        return False
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    used = [b for b in bins if b.count]
    ax.bar([(b.low + b.high) / 2 for b in used], [b.accuracy for b in used],
           width=bins[0].high - bins[0].low, edgecolor="k", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    for b in used:
        ax.annotate(str(b.count), ((b.low + b.high) / 2, b.accuracy), ha="center", va="bottom")
    ece = report.groups["all"].ece
    ax.set(xlabel="confidence", ylabel="share correct (F1 >= 0.5)", xlim=(0, 1), ylim=(0, 1.05),
           title=f"Reliability (ECE {ece:.1f}%)" if ece is not None else "Reliability")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def write_plots(report: Report, out_dir: Path) -> list[str]:
    """Writes the plots that have data; returns their file names."""
    written = []
    for name, draw in (("hit_at_k.png", _hit_curve), ("latency.png", _latency),
                       ("reliability.png", _reliability)):
        if draw(report, out_dir / name):
            written.append(name)
        else:
            (out_dir / name).unlink(missing_ok=True)  # a stale plot from an earlier run misleads
    return written
