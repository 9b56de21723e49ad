"""CPU classes (utils.cpu), their emulation, and grading under each (autograder.cpu_classes)."""

import json
import os
import platform
import subprocess
import sys

import pytest

from autograder import cpu_classes, sandbox
from autograder.cpu_classes import LabScores
from utils import cpu

X86 = platform.machine() in ("x86_64", "AMD64")
HARDWARE = cpu.cpu_class(environ={}).hardware


def test_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 fma sse4_2\n\n"
                    "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu.cpu_flags(info) == {"fpu", "avx2", "fma", "sse4_2"}
    assert cpu.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize("flags, expected", [
    ({"sse4_2"}, None),
    ({"avx2", "fma"}, "AVX2"),
    (cpu.CLASSES["AVX-512"] | {"avx512_bf16"}, "AVX-512"),
    (cpu.CLASSES["AVX-512 VNNI"], "AVX-512 VNNI"),
    (cpu.CLASSES["AMX"] | {"amx_bf16"}, "AMX"),
    (cpu.CLASSES["AMX"] - {"avx512_vnni"}, "AVX-512"),     # every flag of a class, or not it
])
def test_the_class_is_the_highest_whose_flags_are_all_there(flags, expected):
    assert cpu._highest_class(frozenset(flags)) == expected


@pytest.mark.parametrize("cap, expected", [
    (None, "AMX"), ("ALL", "AMX"), ("AVX2", "AVX2"), ("avx2_vnni", "AVX2"),
    ("AVX512_CORE", "AVX-512"), ("AVX512_CORE_VNNI", "AVX-512 VNNI"), ("AVX512_CORE_AMX", "AMX"),
])
def test_onednn_cap_lowers_the_effective_class(cap, expected):
    environ = {} if cap is None else {"ONEDNN_MAX_CPU_ISA": cap}
    assert cpu._capped_class("AMX", environ) == expected
    assert cpu._capped_class("AVX2", environ) == "AVX2"        # never above the hardware


def test_emulation_env_names_every_variable_and_rejects_unknown_classes():
    for name in cpu.CLASSES:
        assert set(cpu.emulation_env(name)) == set(cpu.EMULATION_VARIABLES)
    cpu.emulation_env("AVX2")["ATEN_CPU_CAPABILITY"] = "x"       # a copy, not the table
    assert cpu.emulation_env("AVX2")["ATEN_CPU_CAPABILITY"] == "avx2"
    with pytest.raises(ValueError, match=r"name must be one of \['AVX2', 'AVX-512'"):
        cpu.emulation_env("avx2")


def test_the_banner_names_the_class_and_the_emulation():
    line = str(cpu.cpu_class())
    assert line.startswith("CPU class ") and "engines" in line
    if HARDWARE is not None:
        emulated = str(cpu.cpu_class(environ=cpu.emulation_env("AVX2")))
        assert emulated.startswith("CPU class AVX2 ") and "ONEDNN_MAX_CPU_ISA=AVX2" in emulated


# One int8 convolution on each x86 engine, in a process started with the given environment.
INT8_CONV = """
import hashlib, json, torch
import utils
from utils import runtime
torch.manual_seed(0)
conv = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3), torch.nn.ReLU()).eval()
x = torch.rand(8, 16, 20, 20) * 4
out = {"aten": torch.backends.cpu.get_cpu_capability()}
for engine in ("x86", "fbgemm"):
    with runtime.quantized_engine(engine):
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
        prepared = prepare_fx(conv, get_default_qconfig_mapping(engine), (x,))
        prepared(x)
        y = convert_fx(prepared)(x)
        out[engine] = hashlib.sha256(y.numpy().tobytes()).hexdigest()
print(json.dumps(out))
"""


def int8_conv(environment):
    run = subprocess.run([sys.executable, "-c", INT8_CONV], env=environment, capture_output=True,
                         text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(HARDWARE is None, reason="emulation caps x86-64 CPUs with AVX2")
def test_emulating_avx2_caps_aten_and_keeps_fbgemm_identical():
    """The caps take effect, and fbgemm's integers do not depend on the class (the kit's
    claim); where the CPU has AVX-512 VNNI, oneDNN's (the x86 engine's) may."""
    base = {k: v for k, v in os.environ.items() if k not in cpu.EMULATION_VARIABLES}
    own, avx2 = int8_conv(base), int8_conv({**base, **cpu.emulation_env("AVX2")})
    assert avx2["aten"] == "AVX2"
    assert own["fbgemm"] == avx2["fbgemm"], "fbgemm's int8 output depends on the CPU class"


def test_the_sandbox_passes_the_emulation_variables_to_the_kernel():
    kept = sandbox.SandboxedKernelManager().kernel_environment(
        {**cpu.emulation_env("AVX2"), "DNNL_MAX_CPU_ISA": "AVX2", "SECRET": "s"})
    assert {k: kept[k] for k in cpu.EMULATION_VARIABLES} == cpu.emulation_env("AVX2")
    assert kept["DNNL_MAX_CPU_ISA"] == "AVX2" and "SECRET" not in kept


# -- make cpu-classes ----------------------------------------------------------------------------

def test_classes_to_check_stop_at_the_machines_own():
    assert cpu_classes.classes_to_check(None) == []
    assert cpu_classes.classes_to_check("AVX2") == ["AVX2"]
    assert cpu_classes.classes_to_check("AMX") == list(cpu.CLASSES)


def test_the_table_marks_what_is_not_as_expected():
    results = {"AVX2": {"00_orientation": LabScores(8, 8, 0), "05_pipeline": LabScores(22, 25, 0)},
               "AMX": {"00_orientation": LabScores(8, 8, 1)}}
    table = cpu_classes.format_table(results).splitlines()
    assert table[0].split() == ["lab", "AVX2", "AMX"]
    assert table[1].split() == ["00_orientation", "8/8,", "0", "8/8,", "1", "!"]
    assert table[2].split() == ["05_pipeline", "22/25,", "0", "!", "-"]
    assert not cpu_classes.all_as_expected(results)
    assert cpu_classes.all_as_expected({"AVX2": {"00_orientation": LabScores(8, 8, 0)}})


def test_every_class_up_to_the_machines_is_graded():
    asked, lines = [], []

    def grade(name, labs):
        asked.append((name, tuple(labs)))
        return {lab: LabScores(1, 1, 0) for lab in labs}

    results = cpu_classes.check_every_class(["00_orientation"], lines.append, grade)
    assert asked == [(name, ("00_orientation",)) for name in cpu_classes.classes_to_check(HARDWARE)]
    assert list(results) == [name for name, _ in asked]
    assert lines[0].startswith("this machine: CPU class") and lines[-1].startswith("lab ")


@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
@pytest.mark.skipif(HARDWARE is None, reason="emulation caps x86-64 CPUs with AVX2")
def test_lab_00_graded_as_an_avx2_cpu():
    """The real thing for one lab: nbgrader in the sandbox, in a process capped at AVX2."""
    scores = cpu_classes.grade_under("AVX2", ["00_orientation"])
    assert scores == {"00_orientation": LabScores(8, 8, 0)}
