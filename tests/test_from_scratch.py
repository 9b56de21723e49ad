"""autograder.from_scratch: the from-scratch rule read from the answer's text, where no code of
the submission can interfere (issue 22 §3). Each way around the in-kernel tripwire of issue 22's
class 9 is shown to break the rule; the worked solutions break none."""

import nbformat
import pytest

from autograder import cells, from_scratch
from autograder.course import Course
from autograder.labs import manifest
from autograder.mutants import write_submission

LAB = "02_quantization"
HONEST = '''def quantize(x, scale, zero_point, quant_min, quant_max):
    """clamp(round(x / scale) + zero_point)"""
    import math
    q = torch.round(x * (1.0 / torch.as_tensor(scale))) + torch.as_tensor(zero_point)
    return q.clamp(quant_min, quant_max).to(torch.int64)


def dequantize(q, scale, zero_point):
    return (q.to(torch.int64) - zero_point).to(torch.float32) * scale
'''


def source(lab):
    return nbformat.read(Course().source_folder / lab / f"{lab}.ipynb", as_version=4)


def with_answer(nb, grade_id, text):
    edited = nbformat.from_dict(nb)
    next(c for c in edited.cells if cells.grade_id(c) == grade_id).source = text
    return edited


@pytest.mark.parametrize("lab", Course().lab_names())
def test_the_worked_solutions_break_no_rule(lab):
    nb = source(lab)
    assert from_scratch.broken_rules(nb.cells, nb.cells) == {}


def test_the_rules_come_from_the_labs_own_checks():
    rules = from_scratch.rules(source(LAB).cells)
    assert rules["quantize"].tests == ["test_quantize"]
    assert {"torch.quantize_per_tensor", "torch.ao.quantization",
            "utils.quantization"} <= set(rules["quantize"].targets)
    assert from_scratch.rules(source("01_pruning").cells)["csr_bytes"].tests == ["test_storage"]


BYPASSES = {
    "calls the reference": "return torch.quantize_per_tensor(x, scale, zero_point, torch.quint8)",
    "the kit's reference module": "return utils.quantization.quantize(x, scale, zero_point)",
    "an observer class": "obs = torch.ao.quantization.MinMaxObserver()",
    "C-to-C through map": "return list(map(torch.quantize_per_tensor, [x], [scale], [0], [1]))",
    "detects the profile hook": "import sys\nif sys.getprofile() is None: pass",
    "re-creates a reference from its code": "f = type(q)(q.__code__, {})",
    "exec of the module's source": "exec(open('utils/quantization.py').read(), {})",
    "string getattr": "f = getattr(torch, 'quantize_per_' + 'tensor')",
    "__import__": "m = __import__('utils.quantization')",
    "importlib": "import importlib\nm = importlib.import_module('utils.quantization')",
    "ctypes": "import ctypes",
    "a helper from a cell of its own": "return my_own_helper(x)",
    "torch's escape hatches": "return torch.ops.quantized.quantize_per_tensor(x, 1.0, 0, 1)",
    "from-import of a target": "from torch import quantize_per_tensor as q",
}


@pytest.mark.parametrize("how", sorted(BYPASSES))
def test_each_way_around_the_tripwire_breaks_the_rule(how):
    nb = source(LAB)
    body = "\n".join("    " + line for line in BYPASSES[how].splitlines())
    answer = HONEST.replace("    import math\n", body + "\n")
    broken = from_scratch.broken_rules(nb.cells, with_answer(nb, "quantize", answer).cells)
    assert set(broken) == {"test_quantize"}, (how, broken)
    assert "line" in broken["test_quantize"] and "quantize" in broken["test_quantize"]
    honest = from_scratch.broken_rules(nb.cells, with_answer(nb, "quantize", HONEST).cells)
    assert honest == {}


def test_a_broken_rule_costs_the_tests_that_grade_that_answer_only(tmp_path):
    nb = source("01_pruning")
    mutant = manifest("01_pruning").mutant("magnitude_mask/calls-torch-prune")
    path = write_submission(Course().source_folder / "01_pruning" / "01_pruning.ipynb", mutant,
                            tmp_path / "wrong.ipynb")
    broken = from_scratch.broken_rules(nb.cells, nbformat.read(path, as_version=4).cells)
    assert list(broken) == ["test_magnitude_mask"]
    assert "torch.nn.utils.prune" in broken["test_magnitude_mask"]
