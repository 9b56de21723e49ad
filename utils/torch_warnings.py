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

Lab 05 adds the PT2E path (``torchao==0.18.0``) and ``torch.compile``, with two more notices:

* importing torchao logs ``<enum 'KernelPreference'> is an Enum subclass and is now natively
  supported by torch.compile as an opaque value type. Calling register_constant() on Enum
  subclasses is deprecated ...`` through the ``torch.utils._pytree`` logger (torchao 0.18 still
  registers its enum the old way): a logging filter drops exactly that record;
* compiling a PT2E int8 model warns ``UserWarning: To copy construct from a tensor, it is
  recommended to use sourceTensor.detach().clone() ...`` from inside inductor
  (``torch/_inductor/mkldnn_lowerings.py`` calls ``torch.tensor`` on a tensor): filtered for that
  module only, so the same warning from the student's own code still shows.

nbgrader scores a test cell 0 when it writes anything to stderr, so these notices would cost
students points for code that is correct. We filter exactly these messages; every other
warning (including other deprecations) still shows. Remove this module when the labs move to
the PT2E/torchao successor.
"""

import logging
import warnings

__all__ = ["TORCH_AO_DEPRECATIONS", "CUDA_HOME_LOGGER", "TORCH_COMPILE_WARNINGS", "PYTREE_LOGGER",
           "PYTREE_ENUM_NOTICE", "ignore_torch_ao_deprecations"]

#: (category, regular expression matched against the start of the message)
TORCH_AO_DEPRECATIONS = (
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other "
                  r"quantized tensor creation functions"),
    (UserWarning, r"Please use quant_min and quant_max to specify the range for observers"),
)


#: logger whose "No CUDA runtime is found" warning a CPU-only machine always gets
CUDA_HOME_LOGGER = "torch.utils.cpp_extension"

#: (category, message regex, module regex) of warnings raised inside torch.compile's inductor
TORCH_COMPILE_WARNINGS = (
    (UserWarning, r"To copy construct from a tensor, it is recommended",
     r"torch\._inductor\.mkldnn_lowerings"),
)

#: logger and start of the one record it logs when torchao is imported
PYTREE_LOGGER = "torch.utils._pytree"
PYTREE_ENUM_NOTICE = "is an Enum subclass and is now natively supported by torch.compile"


class _DropPytreeEnumNotice(logging.Filter):
    """Drops the ``register_constant() on Enum subclasses is deprecated`` record, nothing else."""

    def filter(self, record):
        return PYTREE_ENUM_NOTICE not in record.getMessage()


def ignore_torch_ao_deprecations() -> None:
    """Filter the pinned torch's quantization deprecation notices, its CUDA_HOME log line, and
    the torchao import / inductor int8 notices of lab 05.

    Idempotent; called when ``utils`` is imported, and by ``tests/conftest.py`` for every test
    (pytest restores the warning filters around each test).
    """
    for category, message in TORCH_AO_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for category, message, module in TORCH_COMPILE_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    logging.getLogger(CUDA_HOME_LOGGER).setLevel(logging.ERROR)
    pytree_logger = logging.getLogger(PYTREE_LOGGER)
    if not any(isinstance(f, _DropPytreeEnumNotice) for f in pytree_logger.filters):
        pytree_logger.addFilter(_DropPytreeEnumNotice())
