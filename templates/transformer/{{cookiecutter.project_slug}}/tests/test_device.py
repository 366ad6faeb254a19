import random

import pytest
import torch

from {{ cookiecutter.package_name }} import device as dev


def test_auto_on_cpu_is_fp32_and_exact():
    cpu = torch.device("cpu")
    assert dev.resolve_precision("auto", cpu) == "fp32"
    assert not dev.grad_scaler(cpu, "fp32").is_enabled()
    with dev.autocast(cpu, "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with dev.autocast(cpu, "bf16"):
        assert torch.is_autocast_enabled("cpu")


def test_bad_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        dev.resolve_precision("fp8", torch.device("cpu"))


def test_rng_state_round_trip_reproduces_draws():
    dev.seed_everything(3)
    state = dev.rng_state()
    first = (random.random(), torch.rand(3))
    dev.set_rng_state(state)
    second = (random.random(), torch.rand(3))
    assert first[0] == second[0]
    assert torch.equal(first[1], second[1])


def test_peak_table_matches_datasheet_names(monkeypatch):
    # No GPU here: feed device names as torch.cuda.get_device_name() reports them.
    cuda = torch.device("cuda", 0)
    monkeypatch.delenv("PEAK_TFLOPS", raising=False)
    expected = {
        "NVIDIA H200": 989e12,
        "NVIDIA H100 80GB HBM3": 989e12,
        "NVIDIA H100 PCIe": 756e12,
        "NVIDIA A100-SXM4-80GB": 312e12,
        "NVIDIA A100 80GB PCIe": 312e12,
        "NVIDIA GeForce GTX 1080": None,
    }
    for name, peak in expected.items():
        monkeypatch.setattr(dev, "gpu_name", lambda _d, n=name: n)
        assert dev.peak_flops(cuda) == peak, name
    assert dev.peak_flops(torch.device("cpu")) is None
    # The NVL cards are not the SXM parts: H200 NVL has 835 dense bf16 TFLOPS, not 989.
    monkeypatch.setattr(dev, "gpu_name", lambda _d: "NVIDIA H200 NVL")
    assert dev.peak_flops(cuda) == 835e12
    # fp32 runs use TF32 tensor cores (enable_tf32): half the bf16 peak, not the bf16 peak itself.
    monkeypatch.setattr(dev, "gpu_name", lambda _d: "NVIDIA A100-SXM4-80GB")
    assert dev.peak_flops(cuda, "fp32") == 156e12 and dev.peak_flops(cuda, "bf16") == 312e12
    monkeypatch.setenv("PEAK_TFLOPS", "100")
    assert dev.peak_flops(torch.device("cpu")) == 100e12


def test_single_process_needs_no_process_group(monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = dev.init_distributed("cpu")
    assert (info.rank, info.world_size, info.is_main, info.is_distributed) == (0, 1, True, False)
    assert info.device == torch.device("cpu")
    assert dev.peak_memory_bytes(info.device) > 0
