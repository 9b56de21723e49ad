"""environment.yml pins exactly what pyproject.toml pins; the one warning filter is exact."""

import re
import warnings
from pathlib import Path

import tomllib
import torch

from utils.torch_warnings import TORCH_AO_DEPRECATIONS, ignore_torch_ao_deprecations

REPO = Path(__file__).resolve().parent.parent


def pyproject_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return sorted(project["dependencies"])


def environment_pins():
    lines = (REPO / "environment.yml").read_text().splitlines()
    return sorted(m.group(1) for line in lines if (m := re.match(r"\s+- (\S+==\S+)\s*$", line)))


def test_environment_yml_agrees_with_pyproject():
    assert environment_pins() == pyproject_pins()
    assert "torch==2.14.1" in pyproject_pins() and "torchvision==0.29.1" in pyproject_pins()


def test_pinned_torch_is_installed():
    assert torch.__version__.split("+")[0] == "2.14.1"


def test_filter_hides_the_torch_ao_deprecations_and_nothing_else():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ignore_torch_ao_deprecations()
        for category, pattern in TORCH_AO_DEPRECATIONS:
            warnings.warn(pattern.replace("\\", "") + " ...", category)
        warnings.warn("torch.ao.quantization is fine", UserWarning)   # other category
        warnings.warn("something else is deprecated", DeprecationWarning)
    assert [str(w.message) for w in caught] == ["torch.ao.quantization is fine",
                                                "something else is deprecated"]


def test_real_fx_quantization_is_silent_after_import_utils():
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU()).eval()
    x = torch.randn(1, 1, 6, 6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ignore_torch_ao_deprecations()
        prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), (x,))
        prepared(x)
        convert_fx(prepared)(x)
    assert [str(w.message)[:80] for w in caught] == []
