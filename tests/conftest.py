"""Shared pytest set-up: the kit's one warning filter applies to every test, and tests that
need a missing system package are skipped, naming it (never under ``CI=true``).

pytest restores the warning filters around each test, so the filter installed when ``utils`` is
imported would be lost; re-install the same one (and nothing else) for each test.
"""

import pytest
import torch

import system_packages
from utils import runtime
from utils.torch_warnings import ignore_torch_ao_deprecations

MISSING = system_packages.missing()


def pytest_collection_modifyitems(config, items):
    """Skip each test marked ``needs(package)`` whose package is missing here, with the one-line
    advice of ``tests/system_packages.py``; under CI=true such a test runs (and fails)."""
    if not MISSING or system_packages.in_ci():
        return
    for item in items:
        absent = {m.args[0]: MISSING[m.args[0]] for m in item.iter_markers("needs")
                  if m.args[0] in MISSING}
        if absent:
            item.add_marker(pytest.mark.skip(reason=system_packages.advice(absent)))


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
