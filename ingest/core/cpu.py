"""The CPU's instruction-set class, from the flags the kernel reports: one definition for the
speed lines ragqa prints (`app.services.cpu`) and for the choices that depend on it (bf16
where the CPU computes in bf16 natively).

    >>> classify({"avx", "avx2", "fma"}), classify({"avx2", "avx512f", "avx512_bf16"})
    ('AVX2', 'AVX-512 bf16')
    >>> native_bf16({"avx2"}), native_bf16({"avx512f", "avx512_bf16"})
    (False, True)
"""

from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# From the fastest matrix instructions down; the first class whose flags are all present wins.
CLASSES = (
    ("AMX", {"amx_tile", "amx_bf16"}),
    ("AVX-512 bf16", {"avx512f", "avx512_bf16"}),
    ("AVX-512", {"avx512f"}),
    ("AVX2", {"avx2"}),
)


def cpuinfo_fields(cpuinfo: Path = CPUINFO) -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (none where there is no such file)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    return set(cpuinfo_fields(cpuinfo).get("flags", "").split())


def classify(flags: set[str]) -> str:
    """The class of a CPU with these /proc/cpuinfo flags."""
    for name, needed in CLASSES:
        if needed <= flags:
            return name
    return "baseline"


def native_bf16(flags: set[str] | None = None) -> bool:
    """Whether bf16 matrix products run natively (AVX-512 bf16, AMX); elsewhere they are
    emulated and slower than float32."""
    return classify(cpu_flags() if flags is None else flags) in ("AMX", "AVX-512 bf16")
