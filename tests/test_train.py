"""Training is seeded and reproducible; the committed baselines are what the docs say."""

import json

import pytest
import torch

from utils import train


@pytest.mark.parametrize("name, minimum", [("digits_cnn", 0.97), ("digits_mlp", 0.97),
                                           ("digits_lstm", 0.97), ("benchmark_cnn", 0.97)])
def test_committed_baseline_accuracy(name, minimum):
    model = train.load_baseline(name)
    _, test_loader = train.baseline_loaders(name)
    accuracy = train.evaluate(model, test_loader)
    assert accuracy >= minimum
    recorded = json.loads(train.checkpoint_path(name).with_suffix(".json").read_text())
    assert accuracy == pytest.approx(recorded["test_accuracy"], abs=1e-6)


def test_baseline_checkpoint_is_reproducible():
    """`python -m utils.train digits_cnn` rebuilds the committed weights (same machine kind)."""
    threads = torch.get_num_threads()
    try:
        model, info = train.build_baseline("digits_cnn")
    finally:
        torch.set_num_threads(threads)
    committed = train.load_baseline("digits_cnn").state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, committed[key], rtol=0, atol=1e-5, msg=key)


def test_same_seed_same_weights_different_seed_different():
    def one_epoch(seed):
        train.seed_everything(seed)
        model = train.BASELINES["digits_mlp"][0]()
        loader, _ = train.baseline_loaders("digits_mlp", seed=seed)
        train.fit(model, loader, epochs=1, show_progress=False, log=None)
        return torch.cat([p.flatten() for p in model.parameters()])

    assert torch.equal(one_epoch(0), one_epoch(0))
    assert not torch.equal(one_epoch(0), one_epoch(1))


def test_after_step_hook_runs_after_each_step():
    model = train.BASELINES["digits_mlp"][0]()
    loader, _ = train.baseline_loaders("digits_mlp")
    calls = []
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train.train_epoch(model, loader, optimizer, after_step=lambda m: calls.append(m))
    assert len(calls) == len(loader) and calls[0] is model


def test_progress_bar_writes_to_stdout_not_stderr(capsys):
    list(train.progress(range(3), enabled=True, mininterval=0))
    captured = capsys.readouterr()
    assert captured.err == "" and "3/3" in captured.out


def test_unknown_baseline():
    with pytest.raises(ValueError, match="name must be one of"):
        train.load_baseline("resnet50")
