"""Gradual pruning schedules: how sparse the model should be at each training step.

Pruning 90 % of the weights at once hurts more than pruning a little at a time while training
goes on, so that the remaining weights can take over. The Automated Gradual Pruner (AGP) of
Zhu & Gupta, "To prune, or not to prune" (2017), raises the target sparsity along a cubic:
fast at first, when there are many redundant weights, then more and more slowly.

Training loop sketch (prune every ``step_interval`` steps to the scheduled *total* sparsity)::

    for step in range(total_steps):
        train_one_step(...)
        if step in agp_pruning_steps(t0, n, dt):
            s = agp_sparsity(step, 0.0, 0.9, t0, n, dt)
            masks = global_magnitude_masks(weights, s)   # zeros so far rank lowest: cumulative
            ...

PyTorch counterpart: ``torch.ao.pruning.CubicSL``, a scheduler for ``torch.ao.pruning``
sparsifiers whose ``CubicSL.sparsity_compute_fn`` is this formula (the tests check it against
that); TensorFlow Model Optimization's ``PolynomialDecay`` (power 3) is the same curve.
"""

from .checks import as_int, check_fraction


def _check_pruning_steps(start_step, num_steps, step_interval):
    """Raise unless ``t0 >= 0``, ``n >= 1`` and ``dt >= 1`` (ints)."""
    as_int(start_step, "start_step", minimum=0)
    as_int(num_steps, "num_steps", minimum=1)
    as_int(step_interval, "step_interval", minimum=1)


def _check_agp_arguments(initial_sparsity, final_sparsity, start_step, num_steps, step_interval):
    """Raise unless the AGP arguments describe a non-decreasing schedule of >= 1 pruning step."""
    check_fraction(initial_sparsity, "initial_sparsity", "a sparsity")
    check_fraction(final_sparsity, "final_sparsity", "a sparsity")
    if initial_sparsity > final_sparsity:
        raise ValueError(f"initial_sparsity must be <= final_sparsity (pruning only adds zeros), "
                         f"got initial_sparsity={initial_sparsity} > "
                         f"final_sparsity={final_sparsity}")
    _check_pruning_steps(start_step, num_steps, step_interval)


def agp_pruning_steps(start_step: int, num_steps: int, step_interval: int = 1) -> list[int]:
    """The training steps at which AGP prunes: ``t0, t0 + dt, ..., t0 + n*dt`` (n + 1 steps).

    Formula: ``t_j = start_step + j * step_interval`` for ``j = 0, ..., num_steps``.
    """
    _check_pruning_steps(start_step, num_steps, step_interval)
    return [start_step + j * step_interval for j in range(num_steps + 1)]


def agp_sparsity(step: int, initial_sparsity: float, final_sparsity: float, start_step: int,
                 num_steps: int, step_interval: int = 1) -> float:
    """Target sparsity at training step ``t`` of Zhu & Gupta's gradual (cubic) schedule.

    Formula, with ``s_i, s_f, t0, n, dt`` = ``initial_sparsity, final_sparsity, start_step,
    num_steps, step_interval``::

        s_t = s_i                                              for t <= t0
        s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n*dt))**3   for t0 <= t <= t0 + n*dt
        s_t = s_f                                              for t >= t0 + n*dt

    Example: ``s_i=0, s_f=0.8, t0=10, n=4, dt=5`` gives 0, 0.4625, 0.7, 0.7875, 0.8 at steps
    10, 15, 20, 25, 30: half of the final sparsity is reached after a fifth of the schedule.

    Shapes: numbers -> float in [s_i, s_f], non-decreasing in ``t``.

    PyTorch counterpart: ``torch.ao.pruning.CubicSL.sparsity_compute_fn(s_i, s_f, t, t0, dt, n)``
    (which clamps the cubic to [s_i, s_f] instead of branching).
    """
    _check_agp_arguments(initial_sparsity, final_sparsity, start_step, num_steps, step_interval)
    as_int(step, "step", minimum=0)
    end_step = start_step + num_steps * step_interval
    if step <= start_step:
        return float(initial_sparsity)
    if step >= end_step:
        return float(final_sparsity)
    remaining = 1.0 - (step - start_step) / (num_steps * step_interval)
    return final_sparsity + (initial_sparsity - final_sparsity) * remaining ** 3


def agp_schedule(initial_sparsity: float, final_sparsity: float, start_step: int, num_steps: int,
                 step_interval: int = 1) -> list[float]:
    """The AGP target sparsities at the pruning steps :func:`agp_pruning_steps` (n + 1 values).

    Formula: ``[agp_sparsity(t_j, ...) for t_j in t0, t0 + dt, ..., t0 + n*dt]``, which is
    ``s_f + (s_i - s_f) * (1 - j/n)**3`` for ``j = 0, ..., n``: from ``s_i`` to ``s_f``.
    """
    _check_agp_arguments(initial_sparsity, final_sparsity, start_step, num_steps, step_interval)
    return [agp_sparsity(t, initial_sparsity, final_sparsity, start_step, num_steps, step_interval)
            for t in agp_pruning_steps(start_step, num_steps, step_interval)]


__all__ = ["agp_pruning_steps", "agp_sparsity", "agp_schedule"]
