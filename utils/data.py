"""Datasets: the embedded UCI digits (works offline) and torchvision datasets as an option.

The default everywhere is the 8x8 handwritten digits shipped in ``data/digits/`` (1,797 images,
10 classes, CC BY 4.0, see ``data/digits/LICENSE.md``). Loading it needs no network and no
scikit-learn. Images are returned as float32 tensors of shape (N, 1, 8, 8) scaled to [0, 1]
(pixel / 16), labels as int64 of shape (N,).

MNIST, Fashion-MNIST and CIFAR-10 are available through torchvision when a network is there;
offline they raise :class:`DatasetUnavailableError` with the reason, never a hang or a silent
fallback.
"""

import gzip
from collections.abc import Sized
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

__all__ = [
    "DATA_DIR",
    "DIGITS_FILE",
    "DIGITS_PIXEL_MAX",
    "TORCHVISION_DATASETS",
    "DatasetUnavailableError",
    "load_digits",
    "train_test_indices",
    "resize_images",
    "digits_datasets",
    "torchvision_datasets",
    "get_datasets",
    "get_dataloaders",
    "calibration_subset",
    "stack_dataset",
]

#: The repository's ``data/`` folder (embedded dataset and the kit's checkpoints).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DIGITS_FILE = DATA_DIR / "digits" / "digits.csv.gz"
DIGITS_PIXEL_MAX = 16.0

TORCHVISION_DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}


class DatasetUnavailableError(RuntimeError):
    """An optional dataset could not be loaded (typically: no network to download it)."""


def load_digits(path: str | Path = DIGITS_FILE) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the embedded digits: images (1797, 1, 8, 8) float32 in [0, 1], labels (1797,) int64.

    Counterpart: ``sklearn.datasets.load_digits`` (same file, same order), without sklearn.
    """
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = torch.from_numpy(table[:, :64]).reshape(-1, 1, 8, 8) / DIGITS_PIXEL_MAX
    labels = torch.from_numpy(table[:, 64]).to(torch.int64)
    return images, labels


def train_test_indices(num_samples: int, test_fraction: float = 0.2,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic random split of ``range(num_samples)`` into (train, test) index tensors.

    The permutation comes from ``torch.Generator().manual_seed(seed)``, so the split is the same
    on every machine and run. ``test_fraction`` must be in (0, 1).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))
    num_test = round(num_samples * test_fraction)
    return order[num_test:].sort().values, order[:num_test].sort().values


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of (N, C, H, W) images to (N, C, size, size) (e.g. 8x8 digits -> 32x32)."""
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def digits_datasets(image_size: int = 8, test_fraction: float = 0.2,
                    seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """(train, test) ``TensorDataset`` of the embedded digits: 1,438 / 359 images by default.

    ``image_size=32`` upsamples the images for :class:`utils.models.BenchmarkCNN`.
    """
    images, labels = load_digits()
    if image_size != 8:
        images = resize_images(images, image_size)
    train_idx, test_idx = train_test_indices(len(labels), test_fraction, seed)
    return (TensorDataset(images[train_idx], labels[train_idx]),
            TensorDataset(images[test_idx], labels[test_idx]))


def torchvision_datasets(name: str, root: str | Path = DATA_DIR / "torchvision",
                         download: bool = True) -> tuple[Dataset, Dataset]:
    """(train, test) datasets of MNIST, Fashion-MNIST or CIFAR-10 from torchvision (online option).

    Images become float tensors in [0, 1] ((1, 28, 28) or (3, 32, 32)). Raises
    :class:`DatasetUnavailableError` naming the dataset and the cause when the files are not on
    disk and cannot be downloaded (no network).
    """
    if name not in TORCHVISION_DATASETS:
        raise ValueError(f"name must be one of {sorted(TORCHVISION_DATASETS)}, got {name!r}")
    import torchvision
    from torchvision.transforms import ToTensor

    cls = getattr(torchvision.datasets, TORCHVISION_DATASETS[name])
    try:
        return tuple(cls(root=str(root), train=train, download=download, transform=ToTensor())
                     for train in (True, False))
    except Exception as error:  # URLError, RuntimeError("Dataset not found"), socket errors...
        raise DatasetUnavailableError(
            f"{name} is not in {root} and could not be downloaded ({type(error).__name__}: "
            f"{error}). It needs a network connection the first time; the embedded digits "
            f"(name='digits') work offline.") from error


def get_datasets(name: str = "digits", **kwargs) -> tuple[Dataset, Dataset]:
    """(train, test) datasets by name: ``'digits'`` (embedded, default) or a torchvision one."""
    if name == "digits":
        return digits_datasets(**kwargs)
    return torchvision_datasets(name, **kwargs)


def get_dataloaders(name: str = "digits", batch_size: int = 64, seed: int = 0,
                    **kwargs) -> tuple[DataLoader, DataLoader]:
    """(train_loader, test_loader); the train loader shuffles with a generator seeded by
    ``seed``."""
    train, test = get_datasets(name, **kwargs)
    shuffle_gen = torch.Generator().manual_seed(seed)
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=shuffle_gen),
            DataLoader(test, batch_size=256, shuffle=False))


def _len(dataset: Dataset) -> int:
    """The number of samples of a map-style dataset (torch's ``Dataset`` does not declare
    ``__len__``, every dataset of the kit has one)."""
    return len(cast(Sized, dataset))


def calibration_subset(dataset: Dataset, num_samples: int = 256, seed: int = 0) -> Subset:
    """A fixed random subset of ``dataset`` (for calibrating observers), as a ``Subset``.

    PTQ calibrates on a few hundred representative inputs, drawn from the *training* data so the
    test set stays unseen.
    """
    if not 0 < num_samples <= _len(dataset):
        raise ValueError(f"num_samples must be in 1..{_len(dataset)}, got {num_samples!r}")
    order = torch.randperm(_len(dataset), generator=torch.Generator().manual_seed(seed))
    return Subset(dataset, order[:num_samples].sort().values.tolist())


def stack_dataset(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All of a (small) dataset as two tensors ``(inputs, labels)``."""
    inputs, labels = zip(*(dataset[i] for i in range(_len(dataset))))
    return torch.stack(inputs), torch.as_tensor(labels)
