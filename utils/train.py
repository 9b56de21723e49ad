"""Seeded training and evaluation loops, and the kit's baseline checkpoints.

Determinism: :func:`seed_everything` fixes Python's, NumPy's and torch's generators, and the
loaders shuffle with their own seeded generator (:func:`utils.data.get_dataloaders`). On one
machine with the same thread count and environment, the same seed gives bit-identical weights.
Across machines the CPU matters too. ATen, MKL and oneDNN pick AVX-512 kernels where the CPU
has them, whose float rounding differs from their AVX2 kernels', and 30 epochs of training grow
that into weights 0.03 apart (at the same accuracy); the checkpoints are therefore built with
the AVX2 kernels (:data:`REPRODUCIBLE_ENV`), which made AMD CPUs with and without AVX-512 agree
bit for bit. The cap does not make every CPU agree: MKL and oneDNN also size their blocks by the
CPU's caches, so on an Intel Xeon (AVX-512 VNNI, AMX) the rebuild differs from the committed
weights by up to 0.031, with the same test accuracy and the same 359 test predictions
(``tests/test_train.py`` checks both, with margins). The labs load the committed checkpoints,
so they do not depend on this.

Progress bars (tqdm) write to stdout, not stderr: nbgrader scores a test cell 0 when it writes
to stderr.

The baseline checkpoints in ``data/checkpoints/`` are made by one documented command::

    python -m utils.train            # or: make checkpoints

which trains every entry of :data:`BASELINES` from seed 0 on the embedded digits with one
thread, in :data:`REPRODUCIBLE_ENV` (it restarts itself in it), and writes
``data/checkpoints/<name>.pt`` plus ``<name>.json`` (test accuracy, epochs, seed, torch version).
"""

import json
import os
import random
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from . import models
from .data import DATA_DIR, get_dataloaders

__all__ = [
    "CHECKPOINT_DIR",
    "REPRODUCIBLE_ENV",
    "BASELINES",
    "seed_everything",
    "progress",
    "train_epoch",
    "predict",
    "evaluate",
    "fit",
    "checkpoint_path",
    "load_baseline",
    "baseline_loaders",
    "build_baseline",
    "main",
    "in_reproducible_env",
]

# tqdm's monitor is a background thread; the autograder stops every thread a submission started
# before each test cell (autograder/integrity.py), so the kit's progress bars start none.
tqdm.monitor_interval = 0

CHECKPOINT_DIR = DATA_DIR / "checkpoints"

#: The environment the checkpoints are built in: the AVX2 code paths of ATen's vectorized
#: kernels, MKL (conditional numerical reproducibility) and oneDNN, whatever newer instructions
#: the CPU has. torch reads these when it loads, so they must be set before the process starts.
REPRODUCIBLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def seed_everything(seed: int = 0) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def progress(iterable: Iterable, enabled: bool = True, **kwargs) -> Iterable:
    """A tqdm progress bar on stdout (or the plain iterable when ``enabled`` is False)."""
    if not enabled:
        return iterable
    return tqdm(iterable, **{"file": sys.stdout, "leave": False, "mininterval": 0.5, **kwargs})


def train_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                loss_fn: Callable | None = None,
                after_step: Callable[[nn.Module], object] | None = None,
                show_progress: bool = False) -> float:
    """One pass over ``loader`` in train mode; returns the mean training loss.

    ``after_step(model)`` runs after every ``optimizer.step()``: the hook pruning uses to keep
    pruned weights at zero (:func:`utils.pruning.keep_masks_applied`).
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.train()
    total, count = 0.0, 0
    for inputs, labels in progress(loader, show_progress, desc="train"):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step(model)
        total += loss.item() * len(labels)
        count += len(labels)
    return total / count


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable) -> torch.Tensor:
    """Predicted classes (argmax of the logits) for every input of ``loader``, in order.

    The model must return a plain tensor of logits (a quantized model's output is one): an
    object that only looks like one (equal to everything) would make any accuracy up.
    """
    model.eval()
    predictions = []
    for inputs, _ in loader:
        logits = model(inputs)
        if type(logits) not in (torch.Tensor, torch.nn.Parameter):
            raise TypeError(f"model must return a tensor of logits, "
                            f"got {type(logits).__qualname__}")
        predictions.append(logits.argmax(dim=1))
    return torch.cat(predictions)


def evaluate(model: nn.Module, loader: Iterable) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` (put in eval mode) on ``loader``."""
    labels = torch.cat([labels for _, labels in loader])
    return (predict(model, loader) == labels).float().mean().item()


def fit(model: nn.Module, train_loader: Iterable, test_loader: Iterable | None = None,
        epochs: int = 10, lr: float = 0.01, weight_decay: float = 5e-4,
        after_step: Callable[[nn.Module], object] | None = None, show_progress: bool = True,
        log: Callable[[str], object] | None = print) -> list[dict]:
    """Train with SGD (momentum 0.9) and a cosine learning-rate schedule; return history.

    ``history`` is a list of dicts ``{"epoch", "loss", "test_accuracy"}`` (accuracy only when a
    ``test_loader`` is given). ``log`` receives one line per epoch (``None`` for silence).
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    history = []
    for epoch in range(1, epochs + 1):
        loss = train_epoch(model, train_loader, optimizer, after_step=after_step,
                           show_progress=show_progress)
        scheduler.step()
        record = {"epoch": epoch, "loss": loss}
        if test_loader is not None:
            record["test_accuracy"] = evaluate(model, test_loader)
        history.append(record)
        if log is not None:
            log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in record.items()))
    return history


#: name -> (model class, image size, epochs, learning rate) of the kit's baseline checkpoints
BASELINES = {
    "digits_cnn": (models.DigitsCNN, 8, 30, 0.05),
    "digits_mlp": (models.DigitsMLP, 8, 30, 0.05),
    "digits_lstm": (models.DigitsLSTM, 8, 40, 0.1),
    "benchmark_cnn": (models.BenchmarkCNN, 32, 6, 0.05),
}


def checkpoint_path(name: str) -> Path:
    """``data/checkpoints/<name>.pt``."""
    return CHECKPOINT_DIR / f"{name}.pt"


def load_baseline(name: str = "digits_cnn") -> nn.Module:
    """A fresh model of baseline ``name`` with its trained weights, in eval mode."""
    if name not in BASELINES:
        raise ValueError(f"name must be one of {sorted(BASELINES)}, got {name!r}")
    model = BASELINES[name][0]()
    model.load_state_dict(torch.load(checkpoint_path(name), weights_only=True))
    return model.eval()


def baseline_loaders(name: str = "digits_cnn", batch_size: int = 64,
                     seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """The (train, test) loaders baseline ``name`` was trained and evaluated with."""
    return get_dataloaders("digits", batch_size=batch_size, seed=seed,
                           image_size=BASELINES[name][1])


def build_baseline(name: str, seed: int = 0) -> tuple[nn.Module, dict]:
    """Train baseline ``name`` from ``seed`` (one thread, for reproducibility); return
    (model, info)."""
    cls, _, epochs, lr = BASELINES[name]
    torch.set_num_threads(1)
    seed_everything(seed)
    model = cls()
    train_loader, test_loader = baseline_loaders(name, seed=seed)
    history = fit(model, train_loader, test_loader, epochs=epochs, lr=lr, show_progress=False,
                  log=lambda line: print(f"[{name}] {line}"))
    info = {"model": cls.__name__, "seed": seed, "epochs": epochs, "lr": lr,
            "test_accuracy": history[-1]["test_accuracy"], "torch": torch.__version__}
    return model.eval(), info


def main(names: Iterable[str] | None = None) -> None:
    """Rebuild the baseline checkpoints (``python -m utils.train [name ...]``)."""
    CHECKPOINT_DIR.mkdir(parents=True, exist_ok=True)
    for name in names or BASELINES:
        model, info = build_baseline(name)
        torch.save(model.state_dict(), checkpoint_path(name))
        checkpoint_path(name).with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
        print(f"wrote {checkpoint_path(name)}: test accuracy {info['test_accuracy']:.4f}")


def in_reproducible_env(environ: Mapping[str, str] = os.environ) -> bool:
    """True when every variable of :data:`REPRODUCIBLE_ENV` is set as it says."""
    return all(environ.get(name) == value for name, value in REPRODUCIBLE_ENV.items())


if __name__ == "__main__":
    if not in_reproducible_env():     # start again with the kernels the checkpoints are built on
        os.execve(sys.executable, [sys.executable, "-m", "utils.train", *sys.argv[1:]],
                  {**os.environ, **REPRODUCIBLE_ENV})
    main(sys.argv[1:])
