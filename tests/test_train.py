"""Training is seeded and reproducible; the committed baselines are what the docs say."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from utils import train

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name, minimum", [("digits_cnn", 0.97), ("digits_mlp", 0.97),
                                           ("digits_lstm", 0.97), ("benchmark_cnn", 0.97)])
def test_committed_baseline_accuracy(name, minimum):
    model = train.load_baseline(name)
    _, test_loader = train.baseline_loaders(name)
    accuracy = train.evaluate(model, test_loader)
    assert accuracy >= minimum
    recorded = json.loads(train.checkpoint_path(name).with_suffix(".json").read_text())
    assert accuracy == pytest.approx(recorded["test_accuracy"], abs=1e-6)


# Rebuild digits_cnn as `python -m utils.train digits_cnn` does, in a new process (the kernels
# are chosen when torch loads), and list the tensors that differ from the committed ones.
REBUILD = """
import contextlib, io, json, torch
from utils import train
with contextlib.redirect_stdout(io.StringIO()):
    model, _ = train.build_baseline("digits_cnn")
committed = train.load_baseline("digits_cnn").state_dict()
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "differ": [
    key for key, value in model.state_dict().items()
    if not torch.allclose(value.double(), committed[key].double(), rtol=0, atol=1e-5)]}))
"""


def rebuild_digits_cnn(environment):
    result = subprocess.run([sys.executable, "-c", REBUILD], env=environment, check=True,
                            capture_output=True, text=True, cwd=REPO)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="the checkpoints are built with x86-64's AVX2 kernels")
def test_baseline_checkpoint_is_reproducible():
    """`python -m utils.train digits_cnn` rebuilds the committed weights, on any x86-64 CPU."""
    rebuilt = rebuild_digits_cnn({**os.environ, **train.REPRODUCIBLE_ENV})
    assert rebuilt["capability"] == "AVX2", rebuilt
    assert rebuilt["differ"] == [], f"tensors differ from the committed checkpoint: {rebuilt}"


def test_without_it_avx512_kernels_drift_away():
    """Why the environment is needed: where the CPU has AVX-512, the default kernels' rounding
    differs and training drifts from the committed weights (the check above can fail)."""
    rebuilt = rebuild_digits_cnn({k: v for k, v in os.environ.items()
                                  if k not in train.REPRODUCIBLE_ENV})
    if rebuilt["capability"] != "AVX512":
        pytest.skip(f"this CPU's default kernels are {rebuilt['capability']}, not AVX512")
    assert rebuilt["differ"], "AVX-512 kernels rebuilt the AVX2 checkpoint exactly"


def test_main_restarts_itself_in_the_reproducible_environment():
    assert not train.in_reproducible_env({})
    assert train.in_reproducible_env(dict(train.REPRODUCIBLE_ENV, PATH="/bin"))
    assert not train.in_reproducible_env(dict(train.REPRODUCIBLE_ENV, MKL_CBWR="AUTO"))


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


def test_predict_refuses_a_model_whose_output_is_not_a_tensor():
    """An output equal to everything would otherwise score any accuracy it likes."""
    import pytest
    import torch

    from utils import train

    class Anything:
        def __eq__(self, other):
            return True

        def __getattr__(self, name):
            return lambda *a, **k: self

    class Cheat(torch.nn.Module):
        def forward(self, x):
            return Anything()

    loader = [(torch.zeros(2, 3), torch.tensor([0, 1]))]
    with pytest.raises(TypeError, match="model must return a tensor of logits, got .*Anything"):
        train.evaluate(Cheat(), loader)
