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
# are chosen when torch loads), and compare it with the committed checkpoint: its weights (a
# hash, the largest difference) and what it predicts on the test set.
REBUILD = """
import contextlib, hashlib, io, json, torch
from utils import train
with contextlib.redirect_stdout(io.StringIO()):
    model, info = train.build_baseline("digits_cnn")
committed = train.load_baseline("digits_cnn")
_, test_loader = train.baseline_loaders("digits_cnn")
with torch.no_grad():
    ours = torch.cat([model(x).argmax(1) for x, _ in test_loader])
    theirs = torch.cat([committed(x).argmax(1) for x, _ in test_loader])
weights = committed.state_dict()
print(json.dumps({
    "capability": torch.backends.cpu.get_cpu_capability(),
    "hash": hashlib.sha256(b"".join(v.numpy().tobytes()
                                    for v in model.state_dict().values())).hexdigest(),
    "largest_difference": max((v.double() - weights[k].double()).abs().max().item()
                              for k, v in model.state_dict().items()),
    "test_accuracy": info["test_accuracy"],
    "committed_accuracy": train.evaluate(committed, test_loader),
    "same_predictions": int((ours == theirs).sum()), "images": len(ours)}))
"""


def rebuild_digits_cnn(environments):
    """One rebuild per environment, side by side (each trains on one thread)."""
    runs = [subprocess.Popen([sys.executable, "-c", REBUILD], env=env, cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for env in environments]
    results = []
    for run in runs:
        out, err = run.communicate()
        assert run.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.fixture(scope="module")
def rebuilds():
    """Two rebuilds in REPRODUCIBLE_ENV and one with the CPU's own kernels."""
    default = {k: v for k, v in os.environ.items() if k not in train.REPRODUCIBLE_ENV}
    capped = {**os.environ, **train.REPRODUCIBLE_ENV}
    first, second, own = rebuild_digits_cnn([capped, capped, default])
    return {"capped": (first, second), "own": own}


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="REPRODUCIBLE_ENV caps x86-64 kernels")
def test_rebuild_is_bit_identical_on_one_machine(rebuilds):
    """The same seed in the same environment gives the same bits, run after run."""
    first, second = rebuilds["capped"]
    assert first["capability"] == "AVX2", first
    assert first["hash"] == second["hash"], (first, second)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="REPRODUCIBLE_ENV caps x86-64 kernels")
def test_rebuild_on_another_cpu_is_the_same_model_not_the_same_bits(rebuilds):
    """What holds on every x86-64 CPU. The committed weights were rebuilt bit for bit on AMD
    EPYC CPUs with and without AVX-512, but not on an Intel Xeon (AVX-512 VNNI, AMX), where MKL
    and oneDNN block their sums by the CPU's caches whatever the ISA cap: 17 of 17 tensors
    differed, by at most 0.031, and all 359 test predictions and the test accuracy were the
    same. The margins: at most 0.1 per weight and 2 of 359 predictions."""
    rebuilt, _ = rebuilds["capped"]
    assert rebuilt["largest_difference"] <= 0.1, rebuilt
    assert rebuilt["same_predictions"] >= rebuilt["images"] - 2, rebuilt
    assert abs(rebuilt["test_accuracy"] - rebuilt["committed_accuracy"]) \
        <= 2 / rebuilt["images"], rebuilt


def test_the_cap_changes_the_kernels_where_the_cpu_has_avx512(rebuilds):
    """Why REPRODUCIBLE_ENV exists: where the CPU has AVX-512, its own kernels round
    differently, and 30 epochs grow that into other weights."""
    own, (capped, _) = rebuilds["own"], rebuilds["capped"]
    if own["capability"] != "AVX512":
        pytest.skip(f"this CPU's default kernels are {own['capability']}, not AVX512")
    assert own["hash"] != capped["hash"], "AVX-512 kernels rebuilt the AVX2 weights exactly"


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
