"""utils.pt2e reads PT2E and FX int8 graphs as PyTorch's own observers computed them; torchao's
import and inductor's int8 lowering write nothing to stderr after `import utils`."""

import copy
import logging
import subprocess
import sys

import pytest
import torch

import utils  # noqa: F401  (the warning filter)
from utils import models, pt2e


def calibrated_pt2e(model, batches):
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    exported = torch.export.export(copy.deepcopy(model), (batches[0],)).module()
    config = xiq.get_default_x86_inductor_quantization_config()
    quantizer = xiq.X86InductorQuantizer().set_global(config)
    prepared = prepare_pt2e(exported, quantizer)
    for batch in batches:
        prepared(batch)
    return prepared, convert_pt2e(copy.deepcopy(prepared))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return models.DigitsCNN().eval()


@pytest.mark.parametrize("seed", [0, 1])
def test_pt2e_qparams_are_the_observers_qparams(model, seed):
    gen = torch.Generator().manual_seed(seed)
    batches = [torch.rand(8, 1, 8, 8, generator=gen) * (1 + seed) for _ in range(3)]
    prepared, converted = calibrated_pt2e(model, batches)
    found = pt2e.pt2e_layer_qparams(converted)
    assert list(found) == ["conv1.0", "conv2.0", "conv3.0", "fc"]
    # the input observer of conv1 is the first module the placeholder feeds
    [x] = [n for n in prepared.graph.nodes if n.op == "placeholder"]
    observer = next(m for u in x.users if u.op == "call_module"
                    and hasattr(m := prepared.get_submodule(u.target), "calculate_qparams"))
    scale, zero_point = observer.calculate_qparams()
    assert found["conv1.0"].input_scale == float(scale)
    assert found["conv1.0"].input_zero_point == int(zero_point)
    assert found["conv1.0"].input_quant_max == 255
    for q in found.values():
        assert q.weight_scales.dim() == 1 and torch.all(q.weight_zero_points == 0)


def test_fx_qparams_are_the_quantized_inputs(model):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    x = torch.rand(16, 1, 8, 8)
    prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping("x86"), (x,))
    prepared(x)
    quantized = convert_fx(prepared)
    found = pt2e.fx_layer_qparams(quantized, x)
    assert list(found) == ["conv1.0", "conv2.0", "conv3.0", "fc"]
    q_input = torch.quantize_per_tensor(x, found["conv1.0"].input_scale,
                                        found["conv1.0"].input_zero_point, torch.quint8)
    assert torch.equal(q_input.int_repr(), torch.quantize_per_tensor(
        x, quantized.conv1_0_input_scale_0, quantized.conv1_0_input_zero_point_0,
        torch.quint8).int_repr())
    assert torch.equal(found["conv2.0"].weight_scales,
                       getattr(quantized.conv2, "0").weight().q_per_channel_scales())
    assert found["conv2.0"].input_scale == getattr(quantized.conv1, "0").scale


def test_readers_reject_other_models(model):
    with pytest.raises(TypeError, match="converted"):
        pt2e.pt2e_layer_qparams(model)
    with pytest.raises(ValueError, match="quantized"):
        pt2e.fx_layer_qparams(model, torch.rand(1, 1, 8, 8))


def test_compile_support_reasons(monkeypatch):
    monkeypatch.delenv("AUTOGRADER_STUDENT", raising=False)
    assert pt2e.compile_support() is None or isinstance(pt2e.compile_support(), str)
    monkeypatch.setenv("AUTOGRADER_STUDENT", "alice")
    assert "autograding" in pt2e.compile_support()
    monkeypatch.delenv("AUTOGRADER_STUDENT")
    monkeypatch.setattr(pt2e.platform, "machine", lambda: "aarch64")
    assert "x86-64" in pt2e.compile_support()
    monkeypatch.setattr(pt2e.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(pt2e.shutil, "which", lambda name: None)
    if "x86" in torch.backends.quantized.supported_engines:
        assert "compiler" in pt2e.compile_support()
        with pytest.raises(RuntimeError, match="compiler"):
            pt2e.compile_int8(None)


def test_torchao_import_and_int8_compile_write_nothing_to_stderr(tmp_path):
    script = tmp_path / "compile.py"
    script.write_text(
        "import utils, copy, torch\n"
        "from utils import models, pt2e\n"
        "from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, convert_pt2e\n"
        "import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq\n"
        "torch.manual_seed(0)\n"
        "m = models.DigitsCNN().eval(); x = torch.rand(4, 1, 8, 8)\n"
        "e = torch.export.export(m, (x,)).module()\n"
        "p = prepare_pt2e(e, xiq.X86InductorQuantizer().set_global(\n"
        "    xiq.get_default_x86_inductor_quantization_config()))\n"
        "p(x); c = convert_pt2e(p)\n"
        "if pt2e.compile_support() is None:\n"
        "    f = pt2e.compile_int8(c, x)\n"
        "    with torch.inference_mode():\n"
        "        assert torch.equal(f(x).argmax(1), c(x).argmax(1))\n"
        "print('done')\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                         cwd=str(__import__('pathlib').Path(utils.__file__).parents[1]))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("done") and run.stderr == "", run.stderr


def test_pytree_filter_drops_only_the_enum_notice(caplog):
    logger = logging.getLogger("torch.utils._pytree")
    with caplog.at_level(logging.WARNING, logger="torch.utils._pytree"):
        logger.warning("<enum 'X'> is an Enum subclass and is now natively supported by "
                       "torch.compile as ...")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]
