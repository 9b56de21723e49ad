"""CPU classes: which instructions this machine's kernels use, and how to emulate a lower class.

PyTorch's CPU kernels pick their code path when torch loads, from the instructions the CPU has.
For float32 that changes the rounding (a different summation order), and for int8 it can change
the integers: on the ``x86`` and ``onednn`` quantized engines, oneDNN's AVX-512 VNNI and AMX
kernels requantize differently from its AVX2 ones, so an int8 convolution's output can differ by
a unit between a student's laptop and the grading server. ``fbgemm`` and ``qnnpack`` give the
same integers on every x86-64 class. The kit therefore names the class it runs on and states
what equality means where classes differ.

==============  ===================================================================================
class           what the CPU must have
==============  ===================================================================================
``AVX2``        AVX2 and FMA (every x86-64 CPU since about 2015)
``AVX-512``     AVX-512 F/BW/VL/DQ (server CPUs since 2017, AMD Zen 4 and later)
``AVX-512 VNNI`` AVX-512 with int8 dot products (``vpdpbusd``): Intel Cascade Lake+, AMD Zen 4+
``AMX``         Intel's tile matrix unit (Sapphire Rapids and later)
==============  ===================================================================================

Three documented variables cap the kernels below what the CPU has (each is read once, when the
library loads, so they must be set before Python starts; :func:`emulation_env` gives them for a
class):

* ``ONEDNN_MAX_CPU_ISA`` (oneDNN: fp32 convolutions, the ``x86``/``onednn`` int8 kernels),
* ``ATEN_CPU_CAPABILITY`` (ATen's vectorised element-wise kernels: ``avx2`` or ``avx512``),
* ``FBGEMM_ENABLE_INSTRUCTIONS`` (fbgemm's int8 GEMMs: ``AVX2``, ``AVX512``, ``AVX512_E1`` for
  VNNI).

MKL's ``MKL_CBWR`` pins its float code path too, but MKL still blocks its work by the CPU's
cache sizes, so float32 training is not bit-identical between, say, an Intel and an AMD CPU of
the same class (see :mod:`utils.train`).

PyTorch counterpart: ``torch.backends.cpu.get_cpu_capability()`` (ATen's level only).
"""

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["CLASSES", "EMULATION_VARIABLES", "CpuClass", "cpu_flags", "cpu_class", "emulation_env"]

#: The x86-64 classes, lowest first, with the ``/proc/cpuinfo`` flags each needs.
CLASSES: dict[str, frozenset[str]] = {
    "AVX2": frozenset({"avx2", "fma"}),
    "AVX-512": frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    "AVX-512 VNNI": frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                               "avx512_vnni"}),
    "AMX": frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                      "avx512_vnni", "amx_tile", "amx_int8"}),
}

#: For each class, the variables that cap every library's kernels at it.
_EMULATION = {
    "AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
             "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2"},
    "AVX-512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "ATEN_CPU_CAPABILITY": "avx512",
                "FBGEMM_ENABLE_INSTRUCTIONS": "AVX512"},
    "AVX-512 VNNI": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI", "ATEN_CPU_CAPABILITY": "avx512",
                     "FBGEMM_ENABLE_INSTRUCTIONS": "AVX512_E1"},
    "AMX": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX", "ATEN_CPU_CAPABILITY": "avx512",
            "FBGEMM_ENABLE_INSTRUCTIONS": "AVX512_E1"},
}

#: The variables that emulate a lower class (the grading sandbox passes them to the kernel).
EMULATION_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "FBGEMM_ENABLE_INSTRUCTIONS")

# oneDNN's ISA names (ONEDNN_MAX_CPU_ISA) that cap at or below each class.
_ONEDNN_CAPS = {
    "AVX2": {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2"},
    "AVX-512": {"AVX512_CORE"},
    "AVX-512 VNNI": {"AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16"},
}


CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_value(keys: tuple[str, ...], cpuinfo: Path = CPUINFO) -> str | None:
    """The value of the first line of ``cpuinfo`` whose key is one of ``keys`` (the first CPU's),
    or None where there is no such line or no such file (macOS, Windows)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value.strip()
    return None


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The instruction-set flags of the first CPU in ``cpuinfo`` (empty where there is none,
    e.g. on macOS or Windows)."""
    return frozenset((_cpuinfo_value(("flags", "Features"), cpuinfo) or "").split())


def _highest_class(flags: frozenset[str]) -> str | None:
    """The highest of :data:`CLASSES` whose flags are all in ``flags`` (None: below AVX2)."""
    best = None
    for name, needed in CLASSES.items():
        if needed <= flags:
            best = name
    return best


def _capped_class(hardware: str | None, environ: Mapping[str, str]) -> str | None:
    """The class oneDNN's kernels run at: the hardware's, lowered by ``ONEDNN_MAX_CPU_ISA``."""
    cap = environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if hardware is None or not cap or cap == "ALL":
        return hardware
    order = list(CLASSES)
    for name, caps in _ONEDNN_CAPS.items():
        if cap in caps:
            return order[min(order.index(name), order.index(hardware))]
    return hardware


@dataclass(frozen=True)
class CpuClass:
    """What a machine's kernels run on: the CPU, its class, and what caps the kernels.

    ``hardware`` is the highest class the CPU has; ``effective`` the one oneDNN runs at once
    ``ONEDNN_MAX_CPU_ISA`` caps it (None on a CPU that is not x86-64 or lacks AVX2);
    ``aten`` is ATen's capability (``torch.backends.cpu.get_cpu_capability()``); ``emulated``
    the capping variables set in this process's environment.
    """

    model: str
    machine: str
    hardware: str | None
    effective: str | None
    aten: str
    engines: tuple[str, ...]
    emulated: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        shown = self.effective or self.machine
        engines = ", ".join(self.engines)
        line = f"CPU class {shown} ({self.model}; ATen {self.aten}; engines {engines})"
        if self.emulated:
            line += (f", emulated on {self.hardware} with "
                     + " ".join(f"{name}={value}" for name, value in self.emulated))
        return line


def _cpu_model(cpuinfo: Path = CPUINFO) -> str:
    return (_cpuinfo_value(("model name",), cpuinfo)
            or platform.processor() or platform.machine())


def cpu_class(environ: Mapping[str, str] | None = None) -> CpuClass:
    """This machine's :class:`CpuClass` (``environ``: the environment torch was started with,
    by default this process's)."""
    environ = os.environ if environ is None else environ
    hardware = _highest_class(cpu_flags()) if platform.machine() in ("x86_64", "AMD64") else None
    return CpuClass(
        model=_cpu_model(), machine=platform.machine(), hardware=hardware,
        effective=_capped_class(hardware, environ),
        aten=torch.backends.cpu.get_cpu_capability(),
        engines=tuple(e for e in torch.backends.quantized.supported_engines if e != "none"),
        emulated=tuple((name, environ[name]) for name in EMULATION_VARIABLES if name in environ))


def emulation_env(name: str) -> dict[str, str]:
    """The environment variables that make every kernel behave as on a CPU of class ``name``.

    Args:
        name: one of :data:`CLASSES` (``"AVX2"``, ``"AVX-512"``, ``"AVX-512 VNNI"``, ``"AMX"``).
    Returns:
        a new dict, e.g. ``{"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
        "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2"}``. Set it before Python starts (a subprocess's
        ``env``): the libraries read it once, when they load. A class above the CPU's own runs
        as the CPU's own.
    Raises:
        ValueError: ``name`` is not one of :data:`CLASSES`.
    """
    if name not in _EMULATION:
        raise ValueError(f"emulation_env: name must be one of {list(CLASSES)}, got {name!r}")
    return dict(_EMULATION[name])
