"""Shared pytest set-up: the kit's one warning filter applies to every test.

pytest restores the warning filters around each test, so the filter installed when ``utils`` is
imported would be lost; re-install the same one (and nothing else) for each test.
"""

import pytest
import torch

from utils import runtime
from utils.torch_warnings import ignore_torch_ao_deprecations


@pytest.fixture(autouse=True)
def _torch_ao_deprecations_are_not_failures():
    ignore_torch_ao_deprecations()
    yield


@pytest.fixture
def gen():
    """A seeded torch.Generator, so random test cases are reproducible."""
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="module")
def one_intra_op_thread():
    """One torch intra-op thread for a test module, restored afterwards.

    Thousands of ATen calls on tiny tensors: with two threads on a busy machine each call waits on
    the thread pool for milliseconds. Use with ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    with runtime.threads(1):
        yield
