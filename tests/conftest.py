"""Shared pytest set-up: the kit's one warning filter applies to every test.

pytest restores the warning filters around each test, so the filter installed when ``utils`` is
imported would be lost; re-install the same one (and nothing else) for each test.
"""

import pytest
import torch

from utils.torch_warnings import ignore_torch_ao_deprecations


@pytest.fixture(autouse=True)
def _torch_ao_deprecations_are_not_failures():
    ignore_torch_ao_deprecations()
    yield


@pytest.fixture
def gen():
    """A seeded torch.Generator, so random test cases are reproducible."""
    return torch.Generator().manual_seed(0)
