"""Where a run executes: device, precision, torchrun/DDP, compilation, peak FLOPs.

Launched by ``torchrun``, a run reads RANK / LOCAL_RANK / WORLD_SIZE from the
environment (the same convention as nanoGPT and llama2.c), joins the process
group, and only rank 0 writes files or prints.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from tsdiag.errors import InputError

# Dense bf16 tensor-core peak by GPU name, FLOP/s (vendor datasheets, without sparsity).
_PEAK_BF16 = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("H800", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
)


def peak_bf16_flops(device_name: str) -> float | None:
    """Peak dense bf16 FLOP/s of a known GPU, ``None`` for anything else (MFU is then not reported)."""
    for marker, flops in _PEAK_BF16:
        if marker in device_name:
            return flops
    return None


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device_name: str = "cpu"
    autocast_dtype: torch.dtype | None = None   # None: plain float32
    peak_flops: float | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def precision(self) -> str:
        return "bfloat16 autocast" if self.autocast_dtype is torch.bfloat16 else "float32"

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)


def check_device(device: str) -> None:
    """A --device this machine can use (checked before any work is done, not after a corpus is written)."""
    if device == "auto":
        return
    try:
        torch.device(device)
    except RuntimeError:
        raise InputError("--device", f"{device!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device", f"{device} requested but CUDA is not available")


def setup_runtime(device: str = "auto") -> Runtime:
    """Pick the device, join torchrun's process group if launched by it, switch on TF32."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    check_device(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" or (device.startswith("cuda") and world_size > 1):
        device = f"cuda:{local_rank}"
    dev = torch.device(device)
    if world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend, device_id=dev if dev.type == "cuda" else None)
    runtime = Runtime(device=dev, rank=rank, local_rank=local_rank, world_size=world_size)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        runtime.device_name = torch.cuda.get_device_name(dev)
        runtime.peak_flops = peak_bf16_flops(runtime.device_name)
        if torch.cuda.is_bf16_supported():
            runtime.autocast_dtype = torch.bfloat16
    return runtime


def all_reduce_sum(tensor: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    if runtime.distributed:
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
    return tensor


def shutdown(runtime: Runtime) -> None:
    if runtime.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
