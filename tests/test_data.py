"""The embedded digits load offline, split deterministically; online datasets fail clearly."""

import hashlib

import pytest
import torch

from utils import data


def test_digits_shape_range_and_classes():
    images, labels = data.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert images.min() == 0 and images.max() == 1
    # pixel counts are integers 0..16, so images * 16 must be whole numbers
    assert torch.equal(images * 16, (images * 16).round())
    assert labels.bincount().tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_file_is_sklearns_copy_with_license_beside_it():
    digest = hashlib.sha256(data.DIGITS_FILE.read_bytes()).hexdigest()
    assert digest == DIGITS_SHA256
    assert "CC BY 4.0" in (data.DIGITS_FILE.parent / "LICENSE.md").read_text()


# sha256 of sklearn 1.9.1's sklearn/datasets/data/digits.csv.gz
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def test_split_is_deterministic_disjoint_and_complete():
    train_a, test_a = data.train_test_indices(1797, 0.2, seed=0)
    train_b, test_b = data.train_test_indices(1797, 0.2, seed=0)
    assert torch.equal(train_a, train_b) and torch.equal(test_a, test_b)
    assert len(test_a) == 359 and len(train_a) == 1438
    assert torch.equal(torch.cat([train_a, test_a]).sort().values, torch.arange(1797))
    _, test_c = data.train_test_indices(1797, 0.2, seed=1)
    assert not torch.equal(test_a, test_c)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        data.train_test_indices(10, fraction)


def test_datasets_and_upsampling():
    train, test = data.digits_datasets()
    assert (len(train), len(test)) == (1438, 359)
    train32, _ = data.digits_datasets(image_size=32)
    assert train32[0][0].shape == (1, 32, 32)
    assert train32[0][1] == train[0][1]


def test_loaders_are_seeded():
    first = [y for _, y in data.get_dataloaders(seed=3)[0]]
    again = [y for _, y in data.get_dataloaders(seed=3)[0]]
    other = [y for _, y in data.get_dataloaders(seed=4)[0]]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_calibration_subset():
    train, _ = data.digits_datasets()
    subset = data.calibration_subset(train, 100, seed=0)
    assert len(subset) == 100 and len(set(subset.indices)) == 100
    assert subset.indices == data.calibration_subset(train, 100, seed=0).indices
    with pytest.raises(ValueError, match="num_samples"):
        data.calibration_subset(train, 0)
    with pytest.raises(ValueError, match="num_samples"):
        data.calibration_subset(train, len(train) + 1)
    inputs, labels = data.stack_dataset(subset)
    assert inputs.shape == (100, 1, 8, 8) and labels.shape == (100,)


def test_online_dataset_fails_clearly_offline(tmp_path, monkeypatch):
    import torchvision

    def no_network(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "__init__", no_network)
    with pytest.raises(data.DatasetUnavailableError, match="mnist.*could not be downloaded"):
        data.get_datasets("mnist", root=tmp_path)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="name must be one of"):
        data.get_datasets("imagenet")
