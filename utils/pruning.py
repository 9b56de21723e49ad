"""Pruning masks, sparsity measures and mask upkeep, written out so each step can be read.

A *mask* is a float tensor of the weight's shape holding 1 (keep) or 0 (prune); the pruned
weight is ``weight * mask``. Every mask function here returns exactly the mask that the
matching function of :mod:`torch.nn.utils.prune` would store in ``<name>_mask`` for a freshly
pruned tensor (same count, same tie-breaking), so a lab can build a mask by hand and check it
against PyTorch:

==================================  ==============================================================
this module                         ``torch.nn.utils.prune``
==================================  ==============================================================
:func:`num_to_prune`                ``_compute_nparams_toprune`` (+ ``_validate_pruning_amount``)
:func:`magnitude_mask`              ``l1_unstructured`` (``L1Unstructured.compute_mask``)
:func:`random_mask`                 ``random_unstructured``
:func:`ln_structured_mask`          ``ln_structured``
:func:`random_structured_mask`      ``random_structured``
:func:`global_magnitude_masks`      ``global_unstructured(..., pruning_method=L1Unstructured)``
:func:`apply_mask`                  ``custom_from_mask`` (used under the hood)
:func:`remove_masks`                ``remove``, for every pruned tensor of a model
==================================  ==============================================================

The ``amount`` convention is PyTorch's: a ``float`` in [0, 1] is a *fraction* (``1.0`` prunes
everything), an ``int`` is a *count* (``1`` prunes one entry).

Differences from PyTorch, on purpose: an empty weight raises ValueError (PyTorch returns an
empty mask); a weight of any memory layout (transposed, channels-last) gets the mask that
PyTorch computes for ``weight.contiguous()`` (PyTorch's unstructured methods call ``view(-1)``,
which refuses other layouts).

Masks are computed from the values they are given. Zeros already in the weight are the smallest
magnitudes, so pruning an already pruned weight to a larger ``amount`` keeps the old zeros and
``amount`` is the *total* sparsity (what a gradual schedule such as
:func:`utils.schedules.agp_sparsity` asks for). Calling ``prune.l1_unstructured`` a second time
instead prunes ``amount`` of the entries that are *still unpruned*.
"""

import numbers
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .checks import as_int, check_fraction, is_int
from .layers import FLOAT_WEIGHTED_LAYERS

#: The layer types whose ``weight`` the labs prune by default (``utils.layers``' float layers).
PRUNABLE_KINDS = FLOAT_WEIGHTED_LAYERS


# --------------------------------------------------------------------------------------------
# Checking arguments
# --------------------------------------------------------------------------------------------

def _check_amount(amount):
    """Raise unless ``amount`` is a fraction in [0, 1] or a non-negative int count."""
    if not is_int(amount):
        check_fraction(amount, "amount", "a fraction; or a non-negative int count")
    elif amount < 0:
        raise ValueError(f"amount must be a non-negative int count (or a fraction in [0, 1]), "
                         f"got {amount!r}")


def _check_weight(weight, arg="weight"):
    """Raise unless ``weight`` is a non-empty floating-point tensor."""
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{arg} must be a torch.Tensor, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"{arg} must be a floating-point tensor (a weight), "
                        f"got dtype {weight.dtype}")
    if weight.numel() == 0:
        raise ValueError(f"{arg} must not be empty, got shape {tuple(weight.shape)}")


def _check_structured(weight, dim):
    """Raise unless ``weight`` has at least 2 dims and ``dim`` indexes one of them."""
    _check_weight(weight)
    if weight.dim() < 2:
        raise ValueError(f"weight must have at least 2 dims for structured pruning (slices along "
                         f"dim), got shape {tuple(weight.shape)}")
    if not is_int(dim) or not -weight.dim() <= dim < weight.dim():
        raise ValueError(f"dim must be an int in [{-weight.dim()}, {weight.dim() - 1}] for a "
                         f"weight of shape {tuple(weight.shape)}, got {dim!r}")


def _check_norm_order(n):
    """Raise unless ``n`` is a valid p of an Lp norm: a positive number or ``math.inf``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not float(n) > 0:
        raise ValueError(f"n must be a positive number or math.inf (the p of the Lp norm), "
                         f"got {n!r}")


def _check_generator(generator):
    """Raise unless ``generator`` is None (the global RNG) or a ``torch.Generator``."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be None or a torch.Generator, "
                        f"got {type(generator).__name__}")


def _check_kinds(kinds):
    """Raise unless ``kinds`` is a tuple of module classes (what ``isinstance`` accepts)."""
    if not (isinstance(kinds, tuple) and kinds
            and all(isinstance(k, type) and issubclass(k, nn.Module) for k in kinds)):
        raise TypeError(f"kinds must be a non-empty tuple of nn.Module classes, got {kinds!r}")


# --------------------------------------------------------------------------------------------
# How many to prune
# --------------------------------------------------------------------------------------------

def num_to_prune(amount: float | int, numel: int) -> int:
    """Number of entries (or slices) to prune out of ``numel``.

    Formula: ``k = round(amount * numel)`` for a float fraction ``amount`` in [0, 1]
    (Python's ``round``, halves go to the even integer: ``round(0.5 * 5) == 2``);
    ``k = amount`` for an int count, which must not exceed ``numel``.

    Note ``1.0`` (everything) and ``1`` (one entry) differ. A ``bool`` is refused (PyTorch
    counts ``True`` as 1); NumPy integers count like ints.

    PyTorch counterpart: ``torch.nn.utils.prune._compute_nparams_toprune`` with the checks of
    ``_validate_pruning_amount_init`` and ``_validate_pruning_amount``.

    Raises:
        TypeError: ``amount`` is not a real number, or ``numel`` is not an int.
        ValueError: ``amount`` is outside [0, 1] or a negative int, an int ``amount`` exceeds
            ``numel``, or ``numel`` is negative.
    """
    _check_amount(amount)
    numel = as_int(numel, "numel")   # TypeError: "numel must be an int, got ..."
    if numel < 0:
        raise ValueError(f"numel must be non-negative, got {numel}")
    if is_int(amount):
        if int(amount) > numel:
            raise ValueError(f"amount={amount} (an int count) must not exceed the {numel} "
                             f"entries that can be pruned")
        return int(amount)
    return round(amount * numel)


# --------------------------------------------------------------------------------------------
# Unstructured masks: prune single entries
# --------------------------------------------------------------------------------------------

def _mask_pruning_ranked(weight, scores, amount, prune_largest):
    """Mask of ``weight``'s shape with 0 at the ``k`` entries of ``scores`` ranked first.

    The entries are chosen *by index* with ``torch.topk`` on the flattened scores, so exactly
    ``k = num_to_prune(amount, weight.numel())`` entries are zeroed even when scores tie.
    """
    k = num_to_prune(amount, weight.numel())
    pruned = torch.topk(scores.reshape(-1), k, largest=prune_largest).indices
    mask = torch.ones(weight.numel(), dtype=weight.dtype, device=weight.device)
    mask[pruned] = 0
    return mask.view(weight.shape)


def magnitude_mask(weight: torch.Tensor, amount: float | int) -> torch.Tensor:
    """Unstructured magnitude pruning: zero the ``k`` entries with the smallest ``|w|``.

    Formula: ``mask[i] = 0`` for the ``k = num_to_prune(amount, weight.numel())`` indices ``i``
    of ``torch.topk(|w|.flatten(), k, largest=False)``, ``mask[i] = 1`` elsewhere.

    Selecting by index (not by a threshold ``|w| <= kth smallest``) prunes exactly ``k``
    entries even when magnitudes tie; which of the tied entries go is decided by ``topk``,
    exactly as in PyTorch.

    Shapes: ``weight`` any shape, e.g. (C_out, C_in, kH, kW) or (out, in) -> mask, same shape
    and dtype.

    PyTorch counterpart: ``prune.l1_unstructured(module, name, amount)`` stores this mask in
    ``module.<name>_mask`` (``L1Unstructured.compute_mask``).
    """
    _check_weight(weight)
    return _mask_pruning_ranked(weight, weight.detach().abs(), amount, prune_largest=False)


def _uniform_scores(shape, like, generator):
    """Uniform [0, 1) random numbers of ``shape`` with ``like``'s dtype and device."""
    _check_generator(generator)
    return torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)


def random_mask(weight: torch.Tensor, amount: float | int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Unstructured random pruning: zero ``k`` entries chosen uniformly at random.

    Formula: draw ``u ~ U[0, 1)`` of ``weight``'s shape, zero the ``k = num_to_prune(amount,
    weight.numel())`` entries with the *largest* ``u`` (``torch.topk(u.flatten(), k)``).

    Shapes: ``weight`` any shape -> mask, same shape and dtype (``weight``'s values are unused).

    PyTorch counterpart: ``prune.random_unstructured`` draws ``u = torch.rand_like(weight)``
    from the global RNG and ranks the same way, so after the same ``torch.manual_seed`` both
    give the same mask. With ``generator``, ``u`` comes from that generator instead, and a
    generator seeded with ``s`` gives the same mask as ``torch.manual_seed(s)``. When nothing is
    pruned (``k = 0``) neither draws a random number, so the random stream stays in step.
    """
    _check_weight(weight)
    _check_generator(generator)
    if num_to_prune(amount, weight.numel()) == 0:   # PyTorch draws nothing then
        return torch.ones_like(weight, memory_format=torch.contiguous_format)
    scores = _uniform_scores(weight.shape, weight, generator)
    return _mask_pruning_ranked(weight, scores, amount, prune_largest=True)


# --------------------------------------------------------------------------------------------
# Structured masks: prune whole slices (output channels, rows, columns)
# --------------------------------------------------------------------------------------------

def slice_norms(weight: torch.Tensor, n: float, dim: int) -> torch.Tensor:
    """Ln norm of every slice of ``weight`` along ``dim``: one number per channel.

    Formula: ``norms[c] = (sum over all other dims of |w[..., c, ...]|^n)^(1/n)``, and
    ``max |w[..., c, ...]|`` for ``n = math.inf``.

    Shapes: ``weight`` (d_0, ..., d_dim, ..., d_last) -> norms (d_dim,); e.g. a conv weight
    (C_out, C_in, kH, kW) with ``dim=0`` -> (C_out,).

    PyTorch counterpart: ``prune._compute_norm`` (``torch.linalg.vector_norm(weight, ord=n,
    dim=<all other dims>)``), the ranking used by ``prune.ln_structured``.
    """
    _check_structured(weight, dim)
    _check_norm_order(n)
    other_dims = [d for d in range(weight.dim()) if d != dim % weight.dim()]
    return torch.linalg.vector_norm(weight.detach(), ord=n, dim=other_dims)


def _mask_keeping_largest_slices(weight, scores, amount, dim):
    """Mask of ``weight``'s shape keeping the slices along ``dim`` with the largest ``scores``.

    ``k = num_to_prune(amount, weight.shape[dim])`` slices are pruned; the kept ones are
    ``torch.topk(scores, weight.shape[dim] - k).indices`` (chosen by index, exact under ties).
    """
    num_slices = weight.shape[dim]
    num_kept = num_slices - num_to_prune(amount, num_slices)
    kept = torch.topk(scores, num_kept, largest=True).indices
    mask = torch.zeros(weight.shape, dtype=weight.dtype, device=weight.device)
    return mask.index_fill_(dim, kept.to(weight.device), 1)


def ln_structured_mask(weight: torch.Tensor, amount: float | int, n: float,
                       dim: int) -> torch.Tensor:
    """Structured pruning: zero the whole slices along ``dim`` with the smallest Ln norm.

    Formula: ``norms = slice_norms(weight, n, dim)``; keep the ``d - k`` slices with the
    largest norms (``torch.topk(norms, d - k)``), where ``d = weight.shape[dim]`` and
    ``k = num_to_prune(amount, d)``; ``mask`` is 1 on kept slices, 0 on the others.

    Shapes: ``weight`` (..., d, ...) -> mask, same shape and dtype. For a conv weight
    (C_out, C_in, kH, kW), ``dim=0`` prunes output channels (filters), ``dim=1`` input channels.

    PyTorch counterpart: ``prune.ln_structured(module, name, amount, n, dim)``; the norms are
    computed with the same ``torch.linalg.vector_norm`` call and ranked with the same ``topk``,
    so the mask is identical, ties included. PyTorch also accepts ``n`` in {0, -inf, 'fro',
    'nuc'}; this kit restricts ``n`` to the Lp norms (``n > 0`` or ``math.inf``).
    """
    norms = slice_norms(weight, n, dim)
    return _mask_keeping_largest_slices(weight, norms, amount, dim)


def random_structured_mask(weight: torch.Tensor, amount: float | int, dim: int,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Structured random pruning: zero ``k`` whole slices along ``dim`` chosen at random.

    Formula: draw ``u ~ U[0, 1)`` of shape (d,), ``d = weight.shape[dim]``; keep the
    ``d - k`` slices with the largest ``u``, ``k = num_to_prune(amount, d)``.

    Shapes: ``weight`` (..., d, ...) -> mask, same shape and dtype.

    PyTorch counterpart: ``prune.random_structured`` draws ``u = torch.rand(d)`` from the global
    RNG and keeps ``u > kthvalue(u, k)``, the same slices (random numbers do not tie in
    practice), so after the same ``torch.manual_seed`` the masks agree. With ``generator``,
    ``u`` comes from that generator (float32 like PyTorch's draw, whatever ``weight``'s dtype).
    When nothing is pruned (``k = 0``) neither draws a random number.
    """
    _check_structured(weight, dim)
    _check_generator(generator)
    if num_to_prune(amount, weight.shape[dim]) == 0:   # PyTorch draws nothing then
        return torch.ones_like(weight, memory_format=torch.contiguous_format)
    scores = torch.rand(weight.shape[dim], generator=generator)
    return _mask_keeping_largest_slices(weight, scores, amount, dim)


# --------------------------------------------------------------------------------------------
# Global magnitude pruning: one ranking over many tensors
# --------------------------------------------------------------------------------------------

def global_magnitude_masks(weights: Iterable[torch.Tensor],
                           amount: float | int) -> list[torch.Tensor]:
    """Magnitude pruning with one ranking across all ``weights`` (global unstructured).

    Formula: concatenate the flattened tensors into one vector ``v`` (in the given order),
    ``mask_v = magnitude_mask(v, amount)`` (so ``k = num_to_prune(amount, len(v))``), then cut
    ``mask_v`` back into pieces of each tensor's shape. Layers with many small weights lose
    more than others; each layer's sparsity is whatever the global threshold gives it.

    Shapes: list (or tuple, or any iterable except a tensor) of tensors of any shapes -> list
    of masks, same shapes, each in its own tensor's dtype (the ranking runs on the promoted
    dtype, as ``parameters_to_vector`` does). A single tensor is refused: iterating it would
    treat each row as a separate weight; pass ``[w]``.

    PyTorch counterpart: ``prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured,
    amount=amount)`` builds ``v`` with ``parameters_to_vector`` in the same order and ranks it
    with the same ``topk``, so on unpruned weights the masks are identical.
    For a model: ``global_magnitude_masks([getattr(m, n) for m, n in prunable_weights(model)],
    amount)``.
    """
    if isinstance(weights, torch.Tensor):
        raise TypeError(f"weights must be a list of tensors, got a single tensor of shape "
                        f"{tuple(weights.shape)}; pass [weight] to prune it alone")
    weights = list(weights)
    if not weights:
        raise ValueError("weights must be a non-empty sequence of tensors, got an empty one")
    for i, weight in enumerate(weights):
        _check_weight(weight, arg=f"weights[{i}]")
    flat = torch.cat([weight.detach().reshape(-1) for weight in weights])
    pieces = magnitude_mask(flat, amount).split([weight.numel() for weight in weights])
    return [piece.view(weight.shape).to(weight.dtype) for piece, weight in zip(pieces, weights)]


# --------------------------------------------------------------------------------------------
# Which weights to prune
# --------------------------------------------------------------------------------------------

def _named_prunable_modules(model, kinds):
    """(name, module) of every submodule of one of ``kinds``, in registration order."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    _check_kinds(kinds)
    return [(name, module) for name, module in model.named_modules() if isinstance(module, kinds)]


def prunable_weights(model: nn.Module, kinds: tuple[type[nn.Module], ...] = PRUNABLE_KINDS
                     ) -> list[tuple[nn.Module, str]]:
    """The ``(module, "weight")`` pairs of every ``kinds`` layer, in registration order.

    Shapes: a model -> list of pairs, e.g. for ``DigitsCNN`` the three convs and ``fc``.

    PyTorch counterpart: the ``parameters_to_prune`` tuple passed to
    ``prune.global_unstructured`` in the PyTorch pruning tutorial.
    """
    return [(module, "weight") for _, module in _named_prunable_modules(model, kinds)]


def prunable_weight_names(model: nn.Module,
                          kinds: tuple[type[nn.Module], ...] = PRUNABLE_KINDS) -> list[str]:
    """Qualified names (``"conv1.0.weight"``, ``"fc.weight"``) of :func:`prunable_weights`.

    Same order as :func:`prunable_weights`, and the keys :func:`apply_masks` and
    :func:`keep_masks_applied` expect: ``dict(zip(prunable_weight_names(model), masks))``.
    PyTorch counterpart: the keys of ``model.named_parameters()`` (and of ``state_dict``).
    """
    return [f"{name}.weight" if name else "weight"
            for name, _ in _named_prunable_modules(model, kinds)]


# --------------------------------------------------------------------------------------------
# Applying masks: torch's reparametrisation, or plain zeroed weights kept at zero
# --------------------------------------------------------------------------------------------

def _check_mask(mask, target, arg="mask"):
    """Raise unless ``mask`` is a tensor of ``target``'s shape holding only 0 and 1."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{arg} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.shape != target.shape:
        raise ValueError(f"{arg} must have the shape of the tensor it masks, "
                         f"{tuple(target.shape)}, got {tuple(mask.shape)}")
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError(f"{arg} must contain only 0 (prune) and 1 (keep)")


def _is_reparametrised(module, name):
    """True when ``torch.nn.utils.prune`` has split ``module.<name>`` into orig and mask."""
    return hasattr(module, name + "_orig") and hasattr(module, name + "_mask")


def apply_mask(module: nn.Module, name: str, mask: torch.Tensor) -> nn.Module:
    """Prune ``module.<name>`` with a given mask, reparametrised the way PyTorch does it.

    Effect (in place, returns ``module``): the parameter moves to ``module.<name>_orig``, the
    mask is stored as buffer ``module.<name>_mask``, and a forward pre-hook recomputes
    ``module.<name> = <name>_orig * <name>_mask`` before every forward, so gradients reach
    only the kept entries and pruned entries stay zero whatever the optimizer does. Applying a
    second mask multiplies it into the first.

    Shapes: ``mask`` has the shape of ``module.<name>``.

    PyTorch counterpart: this *is* ``prune.custom_from_mask(module, name, mask)`` (called under
    the hood), after checking the arguments; undo with :func:`remove_masks` / ``prune.remove``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    if not (isinstance(name, str) and (name in module._parameters
                                       or _is_reparametrised(module, name))):
        raise ValueError(f"name must name a parameter of the module, one of "
                         f"{list(module._parameters)}, got {name!r}")
    _check_mask(mask, getattr(module, name))
    return prune.custom_from_mask(module, name, mask)


def _resolve_parameter(model, qualified_name):
    """``(module, name)`` for a qualified name such as ``"conv1.0.weight"``."""
    module_path, _, name = qualified_name.rpartition(".")
    try:
        module = model.get_submodule(module_path)
    except AttributeError:
        module = None
    if module is None or not (name in module._parameters or _is_reparametrised(module, name)):
        raise ValueError(f"masks key {qualified_name!r} is not a parameter name of the model "
                         f"(keys look like 'conv1.0.weight')")
    return module, name


def _targets_and_masks(model_or_pairs, masks):
    """Normalise (model, {name: mask}) or (pairs, [mask, ...]) to [((module, name), mask)]."""
    if isinstance(model_or_pairs, nn.Module):
        if not isinstance(masks, Mapping):
            raise TypeError("masks must be a dict {parameter name: mask} when a model is given, "
                            f"got {type(masks).__name__}")
        return [(_resolve_parameter(model_or_pairs, key), mask) for key, mask in masks.items()]
    pairs, masks = list(model_or_pairs), list(masks)
    if len(pairs) != len(masks):
        raise ValueError(f"masks must hold one mask per (module, name) pair: got {len(masks)} "
                         f"masks for {len(pairs)} pairs")
    return list(zip(pairs, masks))


def apply_masks(model_or_pairs: nn.Module | Sequence[tuple[nn.Module, str]],
                masks: Mapping[str, torch.Tensor] | Sequence[torch.Tensor]
                ) -> nn.Module | Sequence[tuple[nn.Module, str]]:
    """:func:`apply_mask` for many tensors at once.

    Either ``apply_masks(model, {"conv1.0.weight": mask, ...})`` (keys are parameter names as
    in ``model.named_parameters()``) or ``apply_masks(pairs, [mask, ...])`` with ``pairs`` as
    returned by :func:`prunable_weights` (e.g. with :func:`global_magnitude_masks`).
    Returns ``model_or_pairs``.

    PyTorch counterpart: one ``prune.custom_from_mask`` per tensor (what
    ``prune.global_unstructured`` does after computing its global mask).
    """
    for (module, name), mask in _targets_and_masks(model_or_pairs, masks):
        apply_mask(module, name, mask)
    return model_or_pairs


def _pruned_tensors(model):
    """(module, name) of every tensor of ``model`` reparametrised by ``torch.nn.utils.prune``."""
    return [(module, hook._tensor_name)
            for module in model.modules()
            for hook in module._forward_pre_hooks.values()
            if isinstance(hook, prune.BasePruningMethod)]


@torch.no_grad()
def _zero_pruned_entries(module, name, mask):
    """In place: ``module.<name> *= mask`` (a plain parameter keeps its pruned entries at 0)."""
    parameter = getattr(module, name)
    _check_mask(mask, parameter, arg=f"the mask of {name!r}")
    parameter.mul_(mask.to(dtype=parameter.dtype, device=parameter.device))


def _recompute_pruned(module, name):
    """``module.<name> = <name>_orig * <name>_mask``: what torch's pre-hook does before forward."""
    setattr(module, name, getattr(module, name + "_orig") * getattr(module, name + "_mask"))


def keep_masks_applied(model: nn.Module,
                       masks: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """Call after every ``optimizer.step()`` so that pruned weights stay pruned.

    Two ways of holding a pruned model, two effects:

    * plain parameters with zeros written in, and ``masks = {"conv1.0.weight": mask, ...}``:
      the step can revive the zeros (the gradient at a zero weight is not zero, and momentum
      keeps pushing), so this re-zeroes them in place, ``w <- w * mask``.
    * tensors reparametrised by :func:`apply_mask` / ``torch.nn.utils.prune`` (found
      automatically): nothing can revive them, since ``<name> = <name>_orig * <name>_mask`` is
      recomputed before every forward and ``<name>_orig`` receives zero gradient at pruned
      entries (weight decay and momentum may still change ``<name>_orig`` there, harmlessly).
      Only the cached ``module.<name>``, stale after the step, is recomputed now, so code that
      reads it before the next forward sees the current values. ``<name>_orig`` is left as is,
      as PyTorch leaves it.

    Returns ``model``.

    PyTorch counterpart: none for plain parameters (the usual hand-written ``w.mul_(mask)``);
    for reparametrised ones, the forward pre-hook ``BasePruningMethod.__call__``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for (module, name), mask in _targets_and_masks(model, masks or {}):
        if _is_reparametrised(module, name):
            raise ValueError(f"masks must only hold plain parameters; {name!r} of "
                             f"{type(module).__name__} is reparametrised by torch.nn.utils.prune "
                             f"and its mask is already in {name}_mask")
        _zero_pruned_entries(module, name, mask)
    for module, name in _pruned_tensors(model):
        _recompute_pruned(module, name)
    return model


def remove_masks(model: nn.Module) -> nn.Module:
    """Make every pruning of ``model`` permanent: ``<name> = <name>_orig * <name>_mask``.

    After this the model has ordinary parameters again (with zeros where pruned), no
    ``_orig`` parameters, no ``_mask`` buffers and no pruning hooks: it saves, loads, fuses and
    quantizes like any other model. The zeros are no longer protected during training (use
    :func:`keep_masks_applied` with masks for that). In place; returns ``model``.

    PyTorch counterpart: ``prune.remove(module, name)`` for every pruned tensor of the model.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for module, name in _pruned_tensors(model):
        prune.remove(module, name)
    return model


# --------------------------------------------------------------------------------------------
# Measuring sparsity
# --------------------------------------------------------------------------------------------

def _count_zeros(tensor):
    """Number of entries exactly equal to zero."""
    return int((tensor == 0).sum())


def sparsity(tensor: torch.Tensor) -> float:
    """Fraction of exact zeros: ``#{i : t_i == 0} / numel``, a float in [0, 1].

    Shapes: any non-empty tensor (any dtype) -> float.
    PyTorch counterpart: ``float((t == 0).sum()) / t.nelement()`` as in the pruning tutorial.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.numel() == 0:
        raise ValueError("tensor must not be empty (the sparsity of nothing is undefined)")
    return _count_zeros(tensor) / tensor.numel()


def layer_sparsity(model: nn.Module,
                   kinds: tuple[type[nn.Module], ...] = PRUNABLE_KINDS) -> dict[str, float]:
    """``{module name: sparsity(module.weight)}`` for every ``kinds`` layer, in order.

    Works for plain and for reparametrised (``torch.nn.utils.prune``) weights: ``module.weight``
    is the masked weight in both cases.
    """
    return {name: sparsity(module.weight) for name, module in _named_prunable_modules(model, kinds)}


def overall_sparsity(model: nn.Module,
                     kinds: tuple[type[nn.Module], ...] = PRUNABLE_KINDS) -> float:
    """Zeros over all ``kinds`` weights divided by their total size (not a mean of layers).

    Formula: ``sum_l #zeros(W_l) / sum_l numel(W_l)``, so big layers weigh more; this is the
    "global sparsity" of the PyTorch pruning tutorial.
    """
    weights = [module.weight for _, module in _named_prunable_modules(model, kinds)]
    if not weights:
        raise ValueError(f"model has no layers of kinds {kinds}")
    total = sum(weight.numel() for weight in weights)
    return sum(_count_zeros(weight) for weight in weights) / total


__all__ = [
    "PRUNABLE_KINDS", "num_to_prune", "magnitude_mask", "random_mask", "slice_norms",
    "ln_structured_mask", "random_structured_mask", "global_magnitude_masks",
    "prunable_weights", "prunable_weight_names", "apply_mask", "apply_masks",
    "keep_masks_applied", "remove_masks", "sparsity", "layer_sparsity", "overall_sparsity",
]
