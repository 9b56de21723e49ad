"""The helpers hidden tests rely on: per-submission seeds and the from-scratch check."""

import pytest
import torch
import torch.nn.utils.prune as prune
from torch.ao.quantization import MinMaxObserver as AliasedObserver
from torch.nn.utils.prune import l1_unstructured as aliased_l1

from utils import grading

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
