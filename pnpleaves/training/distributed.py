"""The compute set-up of a training run: one process, or DistributedDataParallel under ``torchrun``.

``torchrun`` starts ``W`` processes and describes each one in its environment (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``). :class:`Distributed` reads these variables, picks
the device (``cuda:LOCAL_RANK`` with one GPU per process, else the CPU) and joins the process group
(nccl on GPU, gloo on CPU). Without ``torchrun`` it describes a single process and starts no group.
Only rank 0 (:attr:`Distributed.main`) writes files and logs.
"""

from __future__ import annotations

import os
import platform

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from pnpleaves.errors import InputError

__all__ = ["Distributed", "cpu_threads", "machine_description"]


class Distributed:
    """This process's place among the ``torchrun`` processes, and its device.

    :param device_pref: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``
        (``train.device``); under ``torchrun`` with CUDA, process ``r`` uses ``cuda:LOCAL_RANK``.
    """

    def __init__(self, device_pref: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world_size)))
        want_cuda = device_pref.startswith("cuda") or (device_pref == "auto" and torch.cuda.is_available())
        if want_cuda and not torch.cuda.is_available():
            raise InputError(f"train.device = {device_pref!r} but CUDA is not available; use 'cpu' or 'auto'.")
        if want_cuda:
            index = self.local_rank if self.world_size > 1 else (
                int(device_pref.split(":")[1]) if ":" in device_pref else 0
            )
            self.device = torch.device("cuda", index)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.owns_group = False
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if want_cuda else "gloo")
            self.owns_group = True

    @property
    def active(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """True on rank 0, the process that writes the run folder."""
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on some rank (a collective: every rank must call it)."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean_(self, t: torch.Tensor) -> torch.Tensor:
        """Replace ``t`` in place by its mean over the processes (a collective) and return it."""
        if self.active:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t /= self.world_size
        return t

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` wrapped in DistributedDataParallel when several processes train, else ``model``."""
        if not self.active:
            return model
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def barrier(self) -> None:
        """Wait for every process."""
        if self.active:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group if this object started it."""
        if self.owns_group:
            dist.destroy_process_group()


def cpu_threads(threads: int, local_world: int) -> int:
    """Torch threads per process: ``threads`` (``train.threads``), or with 0 the machine's cores
    divided among the ``local_world`` processes on this machine (at least 1)."""
    return threads or max(1, (os.cpu_count() or 1) // local_world)


def machine_description(world_size: int = 1) -> str:
    """A short description of the hardware, for training cards."""
    if torch.cuda.is_available():
        hw = f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    else:
        hw = f"CPU {platform.machine()} ({os.cpu_count()} cores)"
    procs = f", {world_size} processes" if world_size > 1 else ""
    return f"{hw}{procs}, {platform.system()}, torch {torch.__version__}"
