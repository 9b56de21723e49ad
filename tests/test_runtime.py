"""Tests for utils.runtime: thread count and quantized engine set for a block, then restored."""

import pytest
import torch

from utils import runtime

SUPPORTED = list(torch.backends.quantized.supported_engines)


class Boom(Exception):
    pass


def test_threads_sets_and_restores():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with runtime.threads(target) as n:
        assert n == target
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before


def test_threads_restores_when_the_block_raises():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with pytest.raises(Boom):
        with runtime.threads(target):
            raise Boom
    assert torch.get_num_threads() == before


def test_threads_nests():
    before = torch.get_num_threads()
    with runtime.threads(2):
        with runtime.threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.0, "2", True, None])
def test_threads_rejects_a_non_positive_int(bad):
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match=r"threads: n must be a positive int, got"):
        with runtime.threads(bad):
            pass
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("engine", SUPPORTED)
def test_quantized_engine_sets_and_restores(engine):
    before = torch.backends.quantized.engine
    with runtime.quantized_engine(engine) as chosen:
        assert chosen == engine
        assert torch.backends.quantized.engine == engine
    assert torch.backends.quantized.engine == before


def test_quantized_engine_restores_when_the_block_raises():
    before = torch.backends.quantized.engine
    other = next(e for e in SUPPORTED if e != before)
    with pytest.raises(Boom):
        with runtime.quantized_engine(other):
            assert torch.backends.quantized.engine == other
            raise Boom
    assert torch.backends.quantized.engine == before


@pytest.mark.parametrize("bad", ["no_such_engine", "", None, 3, ["x86"]])
def test_quantized_engine_names_the_argument_and_the_supported_engines(bad):
    before = torch.backends.quantized.engine
    with pytest.raises(ValueError) as error:
        with runtime.quantized_engine(bad):
            pass
    message = str(error.value)
    assert "engine must be one of the supported engines" in message
    assert str(SUPPORTED) in message and repr(bad) in message
    assert torch.backends.quantized.engine == before


def test_preferred_engine_is_the_first_supported():
    preference = ("no_such_engine", SUPPORTED[-1], SUPPORTED[0])
    assert runtime.preferred_engine(preference) == SUPPORTED[-1]
    assert runtime.preferred_engine([SUPPORTED[0]]) == SUPPORTED[0]


def test_preferred_engine_default_matches_the_labs_former_rule():
    """Labs 03 and 05 used to write: next(e for e in ("x86", "fbgemm", "qnnpack") if supported)."""
    expected = next(e for e in ("x86", "fbgemm", "qnnpack") if e in SUPPORTED)
    assert runtime.preferred_engine() == expected
    assert runtime.DEFAULT_ENGINE_PREFERENCE == ("x86", "fbgemm", "qnnpack")


def test_preferred_engine_with_fbgemm_first_matches_lab_02s_rule():
    """Lab 02 used to write: "fbgemm" if "fbgemm" in supported_engines else "qnnpack"."""
    expected = "fbgemm" if "fbgemm" in SUPPORTED else "qnnpack"
    assert runtime.preferred_engine(("fbgemm", "qnnpack")) == expected


def test_preferred_engine_error_when_none_is_supported():
    with pytest.raises(ValueError, match=r"none of the preference \('a', 'b'\) is supported; "
                                         r"this torch supports \["):
        runtime.preferred_engine(("a", "b"))


@pytest.mark.parametrize("bad", ["x86", (), [], None, 3])
def test_preferred_engine_rejects_a_bad_preference(bad):
    with pytest.raises(ValueError, match=r"preference must be a non-empty sequence of engine"):
        runtime.preferred_engine(bad)
