"""The one place where the kit silences warnings, and only these.

PyTorch 2.14.1 (the version pinned in ``pyproject.toml``) deprecates the whole
``torch.ao.quantization`` stack that labs 02-04 teach. It still works, but it warns on
*every* call:

* ``DeprecationWarning: torch.ao.quantization is deprecated and will be removed ...``
  (eager and FX entry points: ``prepare_fx``, ``convert_fx``, ``quantize_dynamic``, ...);
* ``UserWarning: torch.quantize_per_tensor, torch.quantize_per_channel and other quantized
  tensor creation functions ... are deprecated`` (every quantized tensor that is created);
* ``UserWarning: Please use quant_min and quant_max to specify the range for observers.
  reduce_range will be deprecated ...`` (every observer of the fbgemm/x86 default qconfigs,
  which themselves use ``reduce_range=True``).

One log line is silenced too: the pinned torch wheel on x86_64 is a CUDA build, and on a
machine without a GPU (every machine this kit targets) importing ``torch.utils.cpp_extension``
(which ``torch.utils.benchmark`` does) logs ``No CUDA runtime is found, using CUDA_HOME=...``
to stderr through the ``torch.utils.cpp_extension`` logger. Only that logger's warnings are
raised to ERROR level.

nbgrader scores a test cell 0 when it writes anything to stderr, so these notices would cost
students points for code that is correct. We filter exactly these three messages; every other
warning (including other deprecations) still shows. Remove this module when the labs move to
the PT2E/torchao successor.
"""

import logging
import warnings

#: (category, regular expression matched against the start of the message)
TORCH_AO_DEPRECATIONS = (
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other "
                  r"quantized tensor creation functions"),
    (UserWarning, r"Please use quant_min and quant_max to specify the range for observers"),
)


#: logger whose "No CUDA runtime is found" warning a CPU-only machine always gets
CUDA_HOME_LOGGER = "torch.utils.cpp_extension"


def ignore_torch_ao_deprecations():
    """Filter the pinned torch's quantization deprecation notices and its CUDA_HOME log line.

    Idempotent; called when ``utils`` is imported, and by ``tests/conftest.py`` for every test
    (pytest restores the warning filters around each test).
    """
    for category, message in TORCH_AO_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=category)
    logging.getLogger(CUDA_HOME_LOGGER).setLevel(logging.ERROR)
