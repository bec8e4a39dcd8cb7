"""Which class of CPU this is: what every speed figure ragqa prints is relative to.

    >>> cpu_info().isa_class in ("AMX", "AVX-512 bf16", "AVX-512", "AVX2", "baseline", "unknown")
    True

`describe_cpu()` gives the line printed beside timings, e.g. "AVX2 · 2 cores · AMD EPYC 7R13".

The same prompt prefills about 8x slower on an AVX2-only CPU (most laptops) than on one with
AVX-512 bf16 (CHANGELOG.md, wave 3), so a timing without its CPU class says little. The class is
read from the instruction-set flags the kernel reports (/proc/cpuinfo); elsewhere it is
"unknown". ONEDNN_MAX_CPU_ISA, when set, caps what oneDNN-based runtimes use, and is shown.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from ingest.core.cpu import CPUINFO, classify, cpuinfo_fields


@dataclass(frozen=True)
class CpuInfo:
    isa_class: str  # AMX, AVX-512 bf16, AVX-512, AVX2, baseline, or unknown
    vnni: bool  # int8 dot products (AVX-VNNI or AVX-512 VNNI)
    cores: int  # logical CPUs this process may use
    model: str

    def __str__(self) -> str:
        isa = self.isa_class + (" +VNNI" if self.vnni and self.isa_class == "AVX2" else "")
        capped = os.environ.get("ONEDNN_MAX_CPU_ISA")
        if capped:
            isa += f" (ONEDNN_MAX_CPU_ISA={capped})"
        return f"{isa} · {self.cores} cores · {self.model}"

    def to_json(self) -> dict:
        return {"isa_class": self.isa_class, "vnni": self.vnni, "cores": self.cores,
                "model": self.model, "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA")}


def cpu_info(cpuinfo: Path = CPUINFO) -> CpuInfo:
    fields = cpuinfo_fields(cpuinfo)
    flags = set(fields.get("flags", "").split())
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return CpuInfo(
        isa_class=classify(flags) if flags else "unknown",
        vnni=bool({"avx_vnni", "avx512_vnni"} & flags),
        cores=cores,
        model=fields.get("model name") or platform.processor() or platform.machine())


def describe_cpu() -> str:
    """One line for timings: the class, the cores and the model."""
    return str(cpu_info())
