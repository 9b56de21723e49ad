"""autograder.integrity: replacements of guarded functions are found and undone (in-process;
tests/test_autograde.py checks the same through nbgrader, in a student's kernel)."""

import builtins
import copy
import functools
import math
import sys

import pytest
import torch

import utils.benchmark
from autograder import integrity


@pytest.fixture
def sealed():
    integrity.seal()
    yield integrity
    integrity.restore()


def always_true(*args, **kwargs):
    return True


@pytest.mark.parametrize("owner, name, label", [
    (torch, "equal", "torch.equal"),
    (torch, "allclose", "torch.allclose"),
    (math, "isclose", "math.isclose"),
    (utils.benchmark, "speedup", "utils.benchmark.speedup"),
    (builtins, "len", "builtins.len"),
    (torch.Tensor, "__eq__", "torch.Tensor.__eq__"),
])
def test_a_replaced_function_is_found_and_restored(sealed, owner, name, label):
    original = getattr(owner, name)
    setattr(owner, name, always_true)
    try:
        assert sealed.replaced() == [label]
        assert sealed.restore() == [label]
        assert getattr(owner, name) is original
        assert sealed.replaced() == []
    finally:
        setattr(owner, name, original)


def test_a_method_added_to_tensor_is_found_and_removed(sealed):
    torch.Tensor.equal = always_true           # shadows TensorBase.equal
    assert sealed.restore() == ["torch.Tensor.equal"]
    assert "equal" not in vars(torch.Tensor)
    assert not torch.zeros(1).equal(torch.ones(1))


def test_a_replaced_module_is_found_and_restored(sealed):
    original = sys.modules["math"]
    sys.modules["math"] = object()
    assert sealed.restore() == ["math"]
    assert sys.modules["math"] is original


def test_wrappers_pass_only_where_torch_itself_makes_them(sealed):
    manual_seed, allclose = torch.manual_seed, torch.allclose
    try:
        wrapped = functools.wraps(manual_seed)(lambda seed: manual_seed(seed))
        torch.manual_seed = wrapped
        assert sealed.replaced() == [], "torch._dynamo wraps manual_seed like this"
        torch.manual_seed = functools.wraps(print)(lambda seed: None)
        assert sealed.replaced() == ["torch.manual_seed"], "a wrapper of something else"
        torch.manual_seed = wrapped
        torch.allclose = functools.wraps(allclose)(always_true)
        assert sealed.replaced() == ["torch.allclose"]
    finally:
        torch.manual_seed, torch.allclose = manual_seed, allclose
        sealed.seal()                          # the seal had taken the wrapper as the original


def test_pythons_own_class_caches_are_not_replacements(sealed):
    copy.deepcopy(torch.nn.Linear(2, 2))       # may cache __slotnames__ on classes
    assert sealed.replaced() == []


def test_names_bound_by_locked_cells_are_guarded(sealed):
    namespace = {"data": 1}
    sealed.remember(namespace, "before")
    namespace.update(math=math, helper=always_true, model=torch.nn.Linear(2, 2), x=3)
    sealed.remember(namespace, "after")
    namespace.update(math=None, model=None, x=4)     # a student cell rebinds them
    assert sealed.restore() == ["notebook name 'math'"]     # data and objects are not guarded
    assert namespace["math"] is math
    sealed.remember(namespace, "before")
    namespace["helper"] = "now data"                  # a later locked cell rebinds a name
    sealed.remember(namespace, "after")
    assert sealed.replaced() == []
