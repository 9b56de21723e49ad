"""The helpers hidden tests rely on: per-submission seeds and the from-scratch check."""

import importlib.util
import warnings

import pytest
import torch
import torch.nn.utils.prune as prune
from torch.ao.quantization import MinMaxObserver as AliasedObserver
from torch.nn.utils.prune import l1_unstructured as aliased_l1

from utils import grading
from utils.torch_warnings import ignore_torch_ao_deprecations

FORBIDDEN = ("torch.nn.utils.prune", "utils.pruning")


def scratch_mask(w, amount):
    k = round(amount * w.numel())
    mask = torch.ones_like(w)
    mask.view(-1)[torch.topk(w.abs().view(-1), k, largest=False).indices] = 0
    return mask


def via_module_attribute(w, amount):
    layer = torch.nn.Linear(1, 1)
    layer.weight = torch.nn.Parameter(w.clone())
    prune.l1_unstructured(layer, "weight", amount)
    return layer.weight_mask


def via_alias(w, amount):
    layer = torch.nn.Linear(1, 1)
    layer.weight = torch.nn.Parameter(w.clone())
    aliased_l1(layer, "weight", amount)
    return layer.weight_mask


def via_dotted_path(w, amount):
    layer = torch.nn.Linear(1, 1)
    layer.weight = torch.nn.Parameter(w.clone())
    torch.nn.utils.prune.l1_unstructured(layer, "weight", amount)
    return layer.weight_mask


def via_aliased_class(w, amount):
    observer = AliasedObserver(quant_min=0, quant_max=15)
    observer(w)
    return observer.calculate_qparams()


def via_quantize(w, amount):
    return torch.quantize_per_tensor(w, 0.1, 0, torch.qint8).int_repr()


def test_scratch_answer_passes_and_returns():
    w = torch.randn(4, 4)
    assert grading.assert_does_not_use(scratch_mask, FORBIDDEN, w, 0.5).sum() == 8


@pytest.mark.parametrize("cheat", [via_module_attribute, via_alias, via_dotted_path])
def test_library_calls_are_caught(cheat):
    with pytest.raises(AssertionError, match="must be written from scratch"):
        grading.assert_does_not_use(cheat, FORBIDDEN, torch.randn(4, 4), 0.5)


def test_runtime_tripwire_catches_a_builtin_function():
    with pytest.raises(AssertionError, match="called torch.quantize_per_tensor"):
        grading.assert_does_not_use(via_quantize, ("torch.quantize_per_tensor",),
                                    torch.randn(3), 0.5)
    # and the tripwire is removed afterwards
    assert torch.quantize_per_tensor(torch.ones(1), 1.0, 0, torch.qint8).int_repr().item() == 1


def test_submission_seed_reproducible_and_distinct():
    assert grading.submission_seed(scratch_mask) == grading.submission_seed(scratch_mask)
    assert grading.submission_seed(scratch_mask) != grading.submission_seed(via_alias)
    assert grading.submission_seed(scratch_mask, salt="a") != grading.submission_seed(
        scratch_mask, salt="b")
    assert 0 <= grading.submission_seed(scratch_mask) < 2 ** 31


def test_submission_seed_depends_on_the_student_when_autograding(monkeypatch):
    outside = grading.submission_seed(scratch_mask)
    monkeypatch.setenv(grading.STUDENT_VARIABLE, "alice")
    alice = grading.submission_seed(scratch_mask)
    assert alice == grading.submission_seed(scratch_mask) != outside
    monkeypatch.setenv(grading.STUDENT_VARIABLE, "bob")
    assert grading.submission_seed(scratch_mask) != alice


def test_an_imported_library_class_is_caught():
    with pytest.raises(AssertionError, match="uses AliasedObserver"):
        grading.assert_does_not_use(via_aliased_class, ("torch.ao.quantization",),
                                    torch.randn(4), 0.5)


# -- assert_answer: exact type first, then the value, with a message a student can act on -------
class EqualToEverything:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class IntThatAgrees(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def quantized_ones() -> torch.Tensor:
    """A quint8 tensor made under the kit's warning filter: parameters are built while pytest
    collects, outside the per-test filter of conftest.py, and torch warns it is deprecated."""
    with warnings.catch_warnings():
        ignore_torch_ao_deprecations()
        return torch.quantize_per_tensor(torch.ones(3), 0.1, 2, torch.quint8)


@pytest.mark.parametrize("answer, expected", [
    (3, 3), (2.5, 2.5), (True, True), ("x86", "x86"), (None, None), (float("nan"), float("nan")),
    ((1, [2.0, "a"]), (1, [2.0, "a"])), ({"a": 1, "b": (2, 3)}, {"a": 1, "b": (2, 3)}),
    (torch.arange(6).view(2, 3), torch.arange(6).view(2, 3)),
    (torch.tensor([1.0, float("nan")]), torch.tensor([1.0, float("nan")])),
    (torch.nn.Parameter(torch.ones(2)), torch.ones(2)),
    (torch.ones(3).to_sparse(), torch.ones(3).to_sparse()),
    (quantized_ones(), quantized_ones()),
])
def test_equal_answers_pass(answer, expected):
    grading.assert_answer(answer, expected, name="answer")


@pytest.mark.parametrize("answer, expected, message", [
    (True, 1, "expected type int, got bool"),
    (1, 1.0, "expected type float, got int"),
    (torch.tensor(2.0), 2.0, r"expected type float, got torch.Tensor \(convert with float"),
    (2.0, torch.tensor(2.0), "expected type Tensor, got float"),
    (EqualToEverything(), 5, "expected type int, got .*EqualToEverything"),
    (IntThatAgrees(4), 5, "expected type int, got .*IntThatAgrees"),
    ([EqualToEverything()], [5], r"answer\[0\]: expected type int"),
    ((1, 2), [1, 2], "expected type list, got tuple"),
    ([1, 2], [1, 2, 3], "expected 3 items, got 2"),
    ({"a": 1}, {"b": 1}, "expected the keys"),
    ({"a": 1}, {"a": 2}, r"answer\['a'\]: expected 2, got 1"),
    (torch.ones(2, 3), torch.ones(3, 2), r"expected shape \(3, 2\), got \(2, 3\)"),
    (torch.ones(3, dtype=torch.float64), torch.ones(3), "expected dtype torch.float32, got "
                                                        "torch.float64"),
    (torch.ones(3).to_sparse(), torch.ones(3), "expected layout torch.strided, got "
                                               "torch.sparse_coo"),
    (torch.tensor([[1, 2], [3, 9]]), torch.tensor([[1, 2], [4, 4]]),
     r"2 of 4 entries differ; first at index \(1, 0\): expected 4, got 3; largest \|difference\| "
     r"5"),
    (torch.tensor([True, False]), torch.tensor([True, True]),
     "1 of 2 entries differ; first at index 1: expected True, got False$"),
    (torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]), "largest \\|difference\\| inf"),
    (torch.quantize_per_tensor(torch.ones(3), 0.1, 2, torch.quint8),
     torch.quantize_per_tensor(torch.ones(3), 0.1, 3, torch.quint8), r"q_zero_point\(\): expected "
                                                                     r"3, got 2"),
    (torch.quantize_per_tensor(torch.ones(3), 0.1, 2, torch.quint8), torch.ones(3),
     "expected dtype torch.float32, got torch.quint8"),
    ("fbgemm", "x86", "expected 'x86', got 'fbgemm'"),
])
def test_wrong_answers_fail_with_what_was_expected_and_what_came(answer, expected, message):
    with pytest.raises(AssertionError, match=message):
        grading.assert_answer(answer, expected, name="answer")


def test_tolerance_is_atol_plus_rtol_times_expected():
    grading.assert_answer(1.0005, 1.0, name="x", atol=1e-3)
    grading.assert_answer(torch.tensor([100.5]), torch.tensor([100.0]), name="x", rtol=0.01)
    with pytest.raises(AssertionError, match=r"expected 1.0 \(within 0.001\), got 1.002"):
        grading.assert_answer(1.002, 1.0, name="x", atol=1e-3)
    with pytest.raises(AssertionError, match=r"tolerance 0.001\)"):
        grading.assert_answer(torch.tensor([1.002]), torch.tensor([1.0]), name="x", atol=1e-3)
    with pytest.raises(AssertionError, match="expected type float"):
        grading.assert_answer(1, 1.0, name="x", atol=1.0)     # a tolerance never loosens the type


@pytest.mark.parametrize("atol", [-1.0, "0.1", None, torch.tensor(0.1)])
def test_a_bad_tolerance_is_an_error_naming_it(atol):
    with pytest.raises(ValueError, match="atol must be a number >= 0"):
        grading.assert_answer(1.0, 1.0, name="x", atol=atol)


def test_dataclass_answers_are_compared_field_by_field():
    from utils.benchmark import Speedup
    fields = {f.name: 1 if f.type in (int, "int") else 1.0 for f in
              __import__("dataclasses").fields(Speedup)}
    expected = Speedup(**fields)
    grading.assert_answer(Speedup(**fields), expected, name="s")
    first = next(iter(fields))
    with pytest.raises(AssertionError, match=f"s.{first}: expected"):
        grading.assert_answer(Speedup(**{**fields, first: fields[first] * 2}), expected, name="s")


def test_an_answer_whose_repr_fails_still_gets_a_message():
    class Broken:
        def __repr__(self):
            raise RuntimeError("no")
    with pytest.raises(AssertionError, match="whose repr failed"):
        grading.assert_answer(Broken(), 1, name="x")


# -- the from-scratch check, against a forbidden function captured before the check runs ---------
def via_default_argument(w, amount, _l1=prune.l1_unstructured):
    layer = torch.nn.Linear(1, 1)
    layer.weight = torch.nn.Parameter(w.clone())
    _l1(layer, "weight", amount)
    return layer.weight_mask


def _closure_over(function):
    def cheat(w, amount):
        layer = torch.nn.Linear(1, 1)
        layer.weight = torch.nn.Parameter(w.clone())
        function(layer, "weight", amount)
        return layer.weight_mask
    return cheat


def via_importlib(w, amount):
    import importlib
    return importlib.import_module("torch").quantize_per_tensor(w, 0.1, 0, torch.qint8).int_repr()


_held = {"quantize": torch.quantize_per_tensor}


def via_container(w, amount):
    return _held["quantize"](w, 0.1, 0, torch.qint8).int_repr()


def via_thread(w, amount):
    import threading
    out = []
    thread = threading.Thread(target=lambda: out.append(_held["quantize"](w, 0.1, 0, torch.qint8)))
    thread.start()
    thread.join()
    return out[0].int_repr()


def removes_the_recorder(w, amount):
    import sys
    sys.setprofile(None)
    return _held["quantize"](w, 0.1, 0, torch.qint8).int_repr()


@pytest.mark.parametrize("cheat, targets, called", [
    (via_default_argument, FORBIDDEN, "l1_unstructured"),
    (_closure_over(prune.l1_unstructured), FORBIDDEN, "l1_unstructured"),
    (_closure_over(aliased_l1), FORBIDDEN, "l1_unstructured"),
    (via_importlib, ("torch.quantize_per_tensor",), "torch.quantize_per_tensor"),
    (via_container, ("torch.quantize_per_tensor",), "torch.quantize_per_tensor"),
    (via_thread, ("torch.quantize_per_tensor",), "torch.quantize_per_tensor"),
    (removes_the_recorder, ("torch.quantize_per_tensor",), "recorder was removed"),
])
def test_captured_library_functions_are_caught(cheat, targets, called):
    import sys
    profile = sys.getprofile()
    with pytest.raises(AssertionError,
                       match=f"must be written from scratch, but it (uses|called) .*{called}"):
        grading.assert_does_not_use(cheat, targets, torch.randn(4, 4), 0.5)
    assert sys.getprofile() is profile, "the check puts the previous profile function back"


def test_captured_values_lists_defaults_and_closure_cells():
    where = [w for w, _ in grading.captured_values(_closure_over(aliased_l1))]
    assert where == ["closure variable 'function'"]
    assert [w for w, _ in grading.captured_values(via_default_argument)] == ["default argument 0"]


def test_available_drops_only_missing_kit_modules():
    targets = ("torch.quantize_per_tensor", "utils.no_such_module", "utils.pruning",
               "no.such.thing")
    assert grading.available(targets) == ("torch.quantize_per_tensor", "utils.pruning",
                                          "no.such.thing")
    assert grading.available(iter(targets)) == grading.available(targets)


def test_quantization_references_are_what_lab_02_forbade():
    # the tuple lab 02's test cells wrote out nine times, with its filter
    written_out = tuple(t for t in ("torch.quantize_per_tensor", "torch.quantize_per_channel",
                                    "torch.fake_quantize_per_tensor_affine",
                                    "torch.fake_quantize_per_channel_affine",
                                    "torch.ao.quantization", "utils.quantization",
                                    "utils.observers", "utils.quant_error", "utils.integer_ops")
                        if not t.startswith("utils.") or importlib.util.find_spec(t))
    assert grading.available(grading.QUANTIZATION_REFERENCES) == written_out


def test_swapped_answers_binds_then_restores_also_on_exceptions():
    namespace = {"quantize": "student's", "other": 1}
    with grading.swapped_answers(namespace, {"quantize": "reference", "missing": "stand-in"}):
        assert namespace["quantize"] == "reference" and namespace["missing"] == "stand-in"
        namespace["new"] = 2                                 # the block's own bindings stay
    assert namespace == {"quantize": "student's", "other": 1, "new": 2}   # "missing" unbound again
    with pytest.raises(KeyError):
        with grading.swapped_answers(namespace, {"quantize": "reference"}):
            raise KeyError("boom")
    assert namespace["quantize"] == "student's"
