"""Lab 00's manifest (see :mod:`autograder.labs`): the wrong answers its tests must reject,
those graded as whole submissions, and the constants its prose may quote."""

from ..mutants import Mutant, equal_to_everything_mutants
from . import WrongVersion

__all__ = ["MUTANTS", "EQUAL_TO_EVERYTHING", "WRONG_VERSIONS", "CLAIM_CONSTANTS"]

MUTANTS = [
    Mutant(id="pick_engine/prefers-fbgemm", caught_by="test_pick_engine",
           why="prefers fbgemm over x86", source='''
def pick_engine(supported):
    return "fbgemm" if "fbgemm" in supported else "qnnpack"
'''),
    Mutant(id="pick_engine/falls-back-silently", caught_by="test_pick_engine",
           why="falls back silently instead of raising", source='''
def pick_engine(supported):
    for engine in ("x86", "fbgemm", "qnnpack"):
        if engine in supported:
            return engine
    return "qnnpack"
'''),
    Mutant(id="count_parameters/conv-linear-weights-only", caught_by="test_count_parameters",
           why="counts conv/linear weights only (no biases, no BatchNorm)", source='''
def count_parameters(model):
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
'''),
    Mutant(id="count_parameters/counts-tensors", caught_by="test_count_parameters",
           why="counts tensors instead of scalars", source='''
def count_parameters(model):
    return len(list(model.parameters()))
'''),
    Mutant(id="state_dict_bytes/four-bytes-per-element", caught_by="test_state_dict_bytes",
           why="assumes 4 bytes for every dtype (int64 counter, float64)", source='''
def state_dict_bytes(model):
    return 4 * sum(t.numel() for t in model.state_dict().values())
'''),
    Mutant(id="state_dict_bytes/forgets-buffers", caught_by="test_state_dict_bytes",
           why="forgets the buffers (BatchNorm running statistics)", source='''
def state_dict_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())
'''),
    Mutant(id="macs/ignores-groups", caught_by="test_macs", why="ignores groups", source='''
def conv2d_macs(conv, output_shape):
    n, c_out, h_out, w_out = output_shape
    kh, kw = conv.kernel_size
    return n * c_out * h_out * w_out * conv.in_channels * kh * kw


def linear_macs(linear, output_shape):
    return output_shape[0] * linear.out_features * linear.in_features
'''),
    Mutant(id="macs/no-batch-square-kernels", caught_by="test_macs",
           why="forgets the batch size and assumes square kernels", source='''
def conv2d_macs(conv, output_shape):
    n, c_out, h_out, w_out = output_shape
    return c_out * h_out * w_out * (conv.in_channels // conv.groups) * conv.kernel_size[0] ** 2


def linear_macs(linear, output_shape):
    return linear.out_features * linear.in_features
'''),
    Mutant(id="median_ratio/mean", caught_by="test_median_ratio", why="mean instead of median",
           source='''
def median_ratio(baseline_times, candidate_times):
    return ((sum(baseline_times) / len(baseline_times))
            / (sum(candidate_times) / len(candidate_times)))
'''),
    Mutant(id="median_ratio/inverted", caught_by="test_median_ratio", why="inverted ratio",
           source='''
def median_ratio(baseline_times, candidate_times):
    return (torch.tensor(candidate_times).median().item()
            / torch.tensor(baseline_times).median().item())
'''),
    Mutant(id="median_ratio/torch-median-lower-middle", caught_by="test_median_ratio",
           why="torch.median's lower middle value for even counts", source='''
def median_ratio(baseline_times, candidate_times):
    return (torch.tensor(baseline_times).median().item()
            / torch.tensor(candidate_times).median().item())
'''),
    Mutant(id="width_speedup/swapped", caught_by="test_width_speedup",
           why="baseline and candidate swapped", source='''
def width_speedup(x):
    wide = models.BenchmarkCNN(width=32).eval()
    narrow = models.BenchmarkCNN(width=16).eval()
    return benchmark.speedup(narrow, wide, x, threads=1, rounds=5)
'''),
    Mutant(id="width_speedup/default-threads", caught_by="test_width_speedup",
           why="thread count left at the default", source='''
def width_speedup(x):
    wide = models.BenchmarkCNN(width=32).eval()
    narrow = models.BenchmarkCNN(width=16).eval()
    return benchmark.speedup(wide, narrow, x, rounds=5)
'''),
]

# Answers that do no work and return an object equal to everything (a plain object, and a
# subclass of the type the test expects): the strict checks reject them on type.
EQUAL_TO_EVERYTHING = [
    ("pick_engine", "pick_engine", "test_pick_engine", "str"),
    ("count_parameters", "count_parameters", "test_count_parameters", "int"),
    ("state_dict_bytes", "state_dict_bytes", "test_state_dict_bytes", "int"),
    ("macs", "conv2d_macs", "test_macs", "int"),
    ("macs", "linear_macs", "test_macs", "int"),
    ("median_ratio", "median_ratio", "test_median_ratio", "float"),
    ("width_speedup", "width_speedup", "test_width_speedup", "float"),
]
MUTANTS += equal_to_everything_mutants("00_orientation", EQUAL_TO_EVERYTHING)
MUTANTS.append(Mutant(id="width_speedup/hand-built-agreeing-speedup",
                      caught_by="test_width_speedup",
                      why="a Speedup built by hand whose ratio, threads and labels agree with "
                          "everything",
                      source='''
class _AgreeingFloat(float):
    def __eq__(self, other):
        return True

    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = float.__hash__


class _AgreeingInt(int):
    __eq__ = _AgreeingFloat.__eq__
    __hash__ = int.__hash__


class _AgreeingStr(str):
    __eq__ = _AgreeingFloat.__eq__
    __hash__ = str.__hash__


def width_speedup(x):
    return benchmark.Speedup(ratio=_AgreeingFloat(9.0), baseline_seconds=1.0, candidate_seconds=1.0,
                             baseline_times=(1.0,), candidate_times=(1.0,), threads=_AgreeingInt(2),
                             baseline_label=_AgreeingStr("wide"),
                             candidate_label=_AgreeingStr("narrow"))
'''))

# Graded as whole submissions (tests/test_autograde_labs.py): each with every test cell it loses.
WRONG_VERSIONS = [
    WrongVersion("pick_engine/prefers-fbgemm", {"test_pick_engine"}),
    WrongVersion("median_ratio/mean", {"test_median_ratio"}),
    WrongVersion("count_parameters/equal-to-everything-int", {"test_count_parameters"}),
]

# Numbers of the prose that are constants of the method or the task, not results of the run
# (tests/test_claims.py). Keep this short: a result never belongs here.
CLAIM_CONSTANTS = {
    "1": "an int8 element takes 1 byte (a dtype's size, section 3)",
}
