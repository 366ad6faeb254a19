"""Where and how training runs: device, precision, seeding, distributed setup, peak FLOPs.

Every training script uses the same few calls:

    dist = init_distributed("auto")             # reads torchrun's env vars; a no-op for one process
    seed_everything(1337 + dist.rank)
    precision = resolve_precision("auto", dist.device)   # "bf16" | "fp16" | "fp32"
    with autocast(dist.device, precision):
        loss = model(x, y)
    scaler = grad_scaler(dist.device, precision)         # enabled only for fp16
    ...
    teardown_distributed()
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from dataclasses import dataclass
from typing import Any

import torch

PRECISIONS = ("auto", "bf16", "fp16", "fp32")

# Dense (no 2:4 sparsity) bf16/fp16 tensor-core peak per GPU, in TFLOPS, from vendor datasheets.
# Matched against torch.cuda.get_device_name(), most specific first (so "H200 NVL" before "H200").
# Datasheets quote 2x these figures "with sparsity"; using those would halve the reported MFU.
# fp32 runs use TF32 tensor cores on CUDA (enable_tf32), whose dense peak is half of these on every
# GPU listed (A100 156, H100 SXM 495 TFLOPS): see peak_flops.
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("GH200", 989.0),
    ("H200 NVL", 835.0),  # 600 W PCIe card: 1,671 TFLOPS with sparsity
    ("H200", 989.0),  # SXM
    ("H100 PCIE", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H800", 989.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
)


@dataclass(frozen=True)
class DistInfo:
    """Who this process is. For a plain `python -m ...` run: rank 0 of 1."""

    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA (this process's local GPU), then Apple MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available; use --device=cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def resolve_precision(requested: str, device: torch.device) -> str:
    """Turn ``auto`` into what the hardware does best: bf16 on CUDA when supported, else fp16 with a
    GradScaler; fp32 on CPU and MPS (bf16 there is opt-in: faster on CPUs with AMX, less exact)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested != "auto":
        if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("this GPU has no bf16 support; use --precision=fp16")
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Mixed-precision context for the forward pass (and loss); a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A GradScaler that is active only for fp16 (bf16 has fp32's range and needs none).

    Always returning one, enabled or not, keeps the training loop and checkpoints uniform."""
    return torch.amp.GradScaler(device.type, enabled=(precision == "fp16" and device.type == "cuda"))


def enable_tf32(device: torch.device) -> None:
    """Let fp32 matmuls/convolutions use TF32 tensor cores on Ampere+ (CUDA only: leaves CPU exact).

    Uses the legacy switch on purpose: mixing it with the newer ``fp32_precision`` attributes makes
    ``torch.get_float32_matmul_precision()`` raise, and torch.compile still calls that getter."""
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy is a dependency, but keep seeding usable without it
        pass
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict[str, Any]:
    """All RNG states a resumed run needs to continue bit-for-bit (stored in checkpoints).

    Only tensors and plain Python values, so checkpoints load with ``torch.load(weights_only=True)``."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        name, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)
    except ImportError:  # pragma: no cover
        pass
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        import numpy as np

        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (RANK/WORLD_SIZE set), else run alone.

    NCCL on GPUs, gloo on CPU. Works for multi-node launches too: torchrun sets the env vars and
    MASTER_ADDR/MASTER_PORT; each process drives the GPU numbered by its LOCAL_RANK."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world_size > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            if dev.type == "cuda":
                torch.cuda.set_device(dev)
                dist.init_process_group(backend="nccl", device_id=dev)
            else:
                dist.init_process_group(backend="gloo")
    return DistInfo(device=dev, rank=rank, local_rank=local_rank, world_size=world_size)


def teardown_distributed() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def gpu_name(device: torch.device) -> str:
    if device.type != "cuda":
        return device.type
    return torch.cuda.get_device_name(device)


def peak_flops(device: torch.device, precision: str = "bf16") -> float | None:
    """Dense peak FLOP/s of one device for a run in ``precision``, or None when unknown (MFU is then
    reported as "n/a"): the bf16/fp16 tensor-core figure, and half of it for fp32 (TF32 tensor cores).

    Set PEAK_TFLOPS=<number> to supply it (for the run's precision) for a GPU missing from the table."""
    override = os.environ.get("PEAK_TFLOPS")
    if override:
        return float(override) * 1e12
    if device.type != "cuda":
        return None
    name = gpu_name(device).upper()
    for key, tflops in PEAK_TFLOPS:
        if key in name:
            return tflops * 1e12 / (2 if precision == "fp32" else 1)
    return None


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timings measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory: allocated tensor memory on CUDA; the process's peak resident set elsewhere."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource

        rss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB on Linux
    except (ImportError, OSError):  # pragma: no cover - Windows
        return 0
