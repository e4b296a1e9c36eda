r"""The training loop: Gaussian denoising of synthetic patches, as for DRUNet (Zhang et al.,
*Plug-and-Play Image Restoration with Deep Denoiser Prior*, TPAMI 2021).

Each step draws clean patches :math:`x` and per-image noise levels :math:`\sigma \sim U(a, b)`,
forms :math:`y = x + \sigma z`, and minimises :math:`\|D(y, \sigma) - x\|_1` (or the squared
:math:`\ell_2` norm) with Adam. The learning rate warms up linearly over ``warmup_steps``, then is
halved every ``halve_every`` steps, never below ``lr_min``.

A run folder ``output_dir`` holds ``config.toml`` (the resolved config), ``checkpoint.pt`` and
``model.safetensors`` (:mod:`pnpleaves.training.checkpoint`), ``log.csv`` and ``curves.png``
(:mod:`pnpleaves.training.run_log`). Checkpoints are written every ``checkpoint_every`` steps, at the
end, and on SIGINT / SIGTERM. The folder is created only once the config, the dev set and the start
point have been checked, so a config error leaves nothing behind.

Under ``torchrun`` the same code runs DistributedDataParallel (:mod:`pnpleaves.training.distributed`);
each of the ``W`` processes takes ``batch_size / W`` samples of every global batch and only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from pnpleaves.errors import InputError
from pnpleaves.images import load_testset
from pnpleaves.models import build_model, count_parameters
from pnpleaves.training.checkpoint import (
    StartState,
    atomic_write_text,
    continue_from_weights,
    restore_checkpoint,
    save_checkpoint,
)
from pnpleaves.training.config import DATA_ENV, TrainConfig
from pnpleaves.training.data import make_loader
from pnpleaves.training.distributed import Distributed, cpu_threads, machine_description
from pnpleaves.training.evaluate import evaluate_denoiser
from pnpleaves.training.run_log import RunLog

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "learning_rate", "load_dev_set", "stop_on_signals", "train"]


def learning_rate(step: int, cfg: TrainConfig, warm_start: int = 0) -> float:
    r"""Learning rate at (0-based) ``step``: :math:`\mathrm{lr}\,2^{-\lfloor t / K\rfloor}` floored at
    ``lr_min`` (``K = halve_every``; ``K = 0`` keeps it constant), ramped up linearly over the
    ``warmup_steps`` steps that follow ``warm_start`` (0 for a new run; the start step for a run
    continued from exported weights with a fresh optimizer). With ``optim.restart_schedule`` the
    halvings are counted from ``warm_start`` too: a continued run starts again at the full rate."""
    o = cfg.optim
    counted = step - warm_start if o.restart_schedule else step
    halvings = max(counted, 0) // o.halve_every if o.halve_every else 0
    lr = max(o.lr * 0.5**halvings, o.lr_min)
    if o.warmup_steps and 0 <= step - warm_start < o.warmup_steps:
        return lr * (step - warm_start + 1) / o.warmup_steps
    return lr


@dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    out_dir: Path
    step: int
    interrupted: bool
    wall_time_s: float
    losses: list[float] = field(default_factory=list)  # loss of every step of this call (rank 0, CPU)
    dev_psnr: dict[float, float] = field(default_factory=dict)  # last dev evaluation
    stop_signal: int | None = None  # the signal (SIGINT / SIGTERM) that interrupted the run, if this process got it


def load_dev_set(cfg: TrainConfig) -> list[torch.Tensor]:
    """The dev images of ``cfg`` (centre crops, ``(1, C, H, W)`` tensors), or ``[]`` when the run has no
    dev evaluation; logs why it skips one (see :meth:`TrainConfig.dev_folder`)."""
    folder = cfg.dev_folder()
    if folder is None:
        if not cfg.dev.folder or not cfg.dev.sigmas:
            logger.info("no dev set (dev.folder is empty): the dev evaluation is skipped; give one with --dev DIR")
        else:
            logger.warning(
                "dev set %r not found and $%s is not set: the dev evaluation is skipped; set $%s to the folder "
                "that holds it, or pass --dev DIR", cfg.dev.folder, DATA_ENV, DATA_ENV,
            )
        return []
    channels = int(cfg.model.kwargs.get("in_channels", 3))
    _, images = load_testset(folder, max_images=cfg.dev.n_images or None, crop=cfg.dev.crop, channels=channels)
    return images


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    steps: int | None = None,
    progress: bool = False,
    init_from: str | os.PathLike | None = None,
    widen: bool = False,
) -> TrainResult:
    """Train (or continue training) the denoiser described by ``cfg``.

    :param resume: continue from ``output_dir/checkpoint.pt`` when it exists (exactly: the same
        batches, optimizer state and learning rate as an uninterrupted run); without it an existing
        checkpoint is an error.
    :param steps: total number of steps (overrides ``train.steps``).
    :param progress: show a tqdm bar (rank 0).
    :param init_from: start a new run from exported weights (a ``.safetensors`` file of ours): the
        model and the step counter (and wall time) continue, the optimizer starts afresh with a
        warm-up of ``warmup_steps``. This is how training continues across machines or sessions
        when only the weights were kept; ignored when ``resume`` finds a checkpoint.
    :param widen: with ``init_from``, allow the config's network to be wider (larger channel counts,
        same architecture and depth) than the weights: they are embedded so that the wide network
        computes the same function (:func:`pnpleaves.training.widen.widen_into`).
    :returns: a :class:`TrainResult`; ``interrupted`` is True after SIGINT / SIGTERM.
    """
    if steps is not None:
        cfg = cfg.override(**{"train.steps": int(steps)})
    if not cfg.output_dir:
        raise InputError("output_dir is empty; set output_dir in the config (e.g. 'runs/my-denoiser').")
    ckpt_path = Path(cfg.output_dir) / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise FileExistsError(
            f"{str(ckpt_path)!r} already exists; pass --resume to continue that run, or change output_dir."
        )
    ddp = Distributed(cfg.train.device)
    old_threads = torch.get_num_threads()
    try:
        if ddp.device.type == "cpu":
            torch.set_num_threads(cpu_threads(cfg.train.threads, ddp.local_world))
        run = _Run(cfg, ddp, resume=resume, init_from=init_from, widen=widen)
        return run.train(progress=progress)
    finally:
        torch.set_num_threads(old_threads)
        ddp.close()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[dict[str, int | None]]:
    """Record SIGINT / SIGTERM in ``state['signal']`` (instead of stopping) while the block runs."""
    state: dict[str, int | None] = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, _frame):
        if state["signal"] is None:
            logger.warning("received %s: saving a checkpoint after this step", signal.Signals(signum).name)
            state["signal"] = signum

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class _Run:
    """One call of :func:`train`: the model, its optimizer, the run folder and the step loop."""

    def __init__(self, cfg: TrainConfig, ddp: Distributed, *, resume: bool,
                 init_from: str | os.PathLike | None, widen: bool):
        self.cfg, self.ddp = cfg, ddp
        self.out_dir = Path(cfg.output_dir)
        self.total = int(cfg.train.steps)
        self.dev_images = load_dev_set(cfg) if ddp.main else []
        self.sigmas = list(cfg.dev.sigmas) if self.dev_images else []
        device = ddp.device
        with torch.random.fork_rng(devices=[]):  # deterministic init without touching the global RNG
            torch.manual_seed(cfg.seed)
            self.model = build_model(cfg.model.arch, cfg.model.kwargs)
        self.model.to(device)
        if cfg.train.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
        self.start = self._start_state(resume, init_from, widen)
        self.net = ddp.wrap(self.model)
        if cfg.train.compile:
            self.net = torch.compile(self.net)  # the state dict of ``model`` is unchanged: checkpoints stay portable
        self.log = self._open_run_folder() if ddp.main else None
        self.t0 = time.perf_counter()
        self.result = TrainResult(out_dir=self.out_dir, step=self.start.step, interrupted=False,
                                  wall_time_s=self.start.wall_time_s)

    def _start_state(self, resume: bool, init_from: str | os.PathLike | None, widen: bool) -> StartState:
        cfg, main = self.cfg, self.ddp.main
        ckpt_path = self.out_dir / "checkpoint.pt"
        if resume and ckpt_path.is_file():
            start = restore_checkpoint(ckpt_path, cfg, self.model, self.opt)
            if main:
                logger.info("resuming %s at step %d / %d", self.out_dir, start.step, self.total)
            return start
        if init_from is not None:
            start, widened = continue_from_weights(init_from, cfg, self.model, widen=widen)
            if main and widened:
                logger.info("widened %s into %s(%s): same function, the new channels start untrained",
                            init_from, cfg.model.arch, cfg.model.kwargs)
            if main:
                logger.info("continuing from %s at step %d (fresh optimizer, warm-up over %d steps)",
                            init_from, start.step, cfg.optim.warmup_steps)
            return start
        if resume and main:
            logger.info("no checkpoint in %s: starting from scratch", self.out_dir)
        return StartState()

    def _open_run_folder(self) -> RunLog:
        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out_dir / "config.toml", cfg.to_toml())
        log = RunLog(self.out_dir / "log.csv", self.sigmas, self.start.step)
        logger.info(
            "%s: %s with %d parameters on %s x%d, steps %d -> %d, batch %d of %dx%d patches, data %s",
            cfg.name, cfg.model.arch, count_parameters(self.model), self.ddp.device, self.ddp.world_size,
            self.start.step, self.total, cfg.data.batch_size, cfg.data.patch_size, cfg.data.patch_size,
            cfg.data.source,
        )
        return log

    def wall(self) -> float:
        """Training wall time of the run so far, across resumes (seconds)."""
        return self.start.wall_time_s + time.perf_counter() - self.t0

    def save(self, step: int) -> None:
        """Write the checkpoint and the weights (rank 0)."""
        if not self.ddp.main:
            return
        path = save_checkpoint(self.out_dir, self.model, self.opt, self.cfg, step=step, wall_time_s=self.wall(),
                               machine=machine_description(self.ddp.world_size), world_size=self.ddp.world_size,
                               warm_start=self.start.warm_start)
        logger.info("checkpoint at step %d -> %s", step, path)

    def evaluate(self, step: int) -> None:
        """Dev-set PSNR (rank 0; a collective: every rank must call it)."""
        if self.ddp.main and self.dev_images:
            res = evaluate_denoiser(self.model, self.dev_images, self.sigmas, seed=self.cfg.dev.seed, ssim=False,
                                    device=self.ddp.device)
            self.result.dev_psnr = {s: res.table["denoiser"][s]["psnr"] for s in self.sigmas}
            self.log.add({"step": step, "wall_time_s": f"{self.wall():.1f}",
                          "lr": learning_rate(max(step - 1, 0), self.cfg, self.start.warm_start),
                          **{f"psnr_{s * 255:g}": f"{v:.3f}" for s, v in self.result.dev_psnr.items()}})
            self.log.plot(self.out_dir / "curves.png")
            logger.info("step %d dev PSNR %s", step,
                        ", ".join(f"{s * 255:g}: {v:.2f} dB" for s, v in self.result.dev_psnr.items()))
        self.ddp.barrier()

    def train(self, *, progress: bool) -> TrainResult:
        """Run the steps from the start step to ``train.steps``, then a final dev evaluation."""
        cfg, ddp, result = self.cfg, self.ddp, self.result
        if self.start.step >= self.total:
            if ddp.main:
                logger.info("nothing to do: the checkpoint is at step %d >= %d", self.start.step, self.total)
            return result
        step = self._steps(progress)
        evaluated = bool(cfg.train.eval_every) and step % cfg.train.eval_every == 0
        if step == self.total and not result.interrupted and not evaluated and cfg.dev.folder and cfg.dev.sigmas:
            self.evaluate(step)  # a final dev evaluation (collective: every rank calls it)
        if ddp.main and self.log is not None:
            self.log.plot(self.out_dir / "curves.png")
        result.wall_time_s = self.wall()
        return result

    def _steps(self, progress: bool) -> int:
        """The step loop; returns the last step done."""
        cfg, ddp, result, device = self.cfg, self.ddp, self.result, self.ddp.device
        loss_fn = torch.nn.functional.l1_loss if cfg.optim.loss == "l1" else torch.nn.functional.mse_loss
        amp = cfg.train.amp and device.type == "cuda"
        memory_format = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
        warm_start, total = self.start.warm_start, self.total
        loader = make_loader(cfg, self.start.step, total, rank=ddp.rank, world_size=ddp.world_size,
                             pin_memory=device.type == "cuda")
        bar = tqdm(total=total, initial=self.start.step, unit="step", desc=cfg.name) if progress and ddp.main else None
        interval_loss = torch.zeros((), device=device)
        interval_n, interval_t = 0, time.perf_counter()
        step = self.start.step
        self.net.train()
        with stop_on_signals() as signals:
            try:
                for batch in loader:
                    lr = learning_rate(step, cfg, warm_start)
                    for group in self.opt.param_groups:
                        group["lr"] = lr
                    noisy = batch["noisy"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
                    clean = batch["clean"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
                    sigma = batch["sigma"].to(device, non_blocking=True)
                    with torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
                        out = self.net(noisy, sigma)
                    loss = loss_fn(out.float(), clean)
                    self.opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.optim.grad_clip:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
                    self.opt.step()
                    step += 1
                    result.step = step
                    interval_loss += loss.detach()
                    interval_n += 1
                    if ddp.main and device.type == "cpu":  # (no per-step sync on GPU)
                        result.losses.append(float(loss.detach()))
                    if bar is not None:
                        bar.update(1)
                    stop = ddp.any(signals["signal"] is not None)
                    if (cfg.train.log_every and step % cfg.train.log_every == 0) or step == total or stop:
                        self._log_interval(step, lr, interval_loss, interval_n, interval_t)
                        interval_loss.zero_()
                        interval_n, interval_t = 0, time.perf_counter()
                    t_pause = time.perf_counter()
                    if cfg.train.eval_every and step % cfg.train.eval_every == 0:
                        self.evaluate(step)
                    if stop or step == total or (cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0):
                        self.save(step)
                    interval_t += time.perf_counter() - t_pause  # steps/s counts training time only
                    if stop:
                        result.interrupted = True
                        result.stop_signal = signals["signal"]
                        break
            finally:
                if bar is not None:
                    bar.close()
                del loader
        return step

    def _log_interval(self, step: int, lr: float, interval_loss: torch.Tensor, n: int, t_start: float) -> None:
        """Log the mean loss since the last logged step (over all processes: a collective)."""
        self.ddp.mean_(interval_loss)
        mean_loss = float(interval_loss) / max(n, 1)
        if not math.isfinite(mean_loss):
            raise FloatingPointError(
                f"the training loss is {mean_loss} at step {step}; lower optim.lr or set "
                "optim.grad_clip. The last checkpoint was kept."
            )
        rate = n / max(time.perf_counter() - t_start, 1e-9)
        if self.ddp.main:
            self.log.add({"step": step, "wall_time_s": f"{self.wall():.1f}", "lr": lr,
                          "loss": f"{mean_loss:.6g}", "steps_per_s": f"{rate:.3f}"})
            logger.info("step %d/%d loss %.5f lr %.3g %.2f steps/s", step, self.total, mean_loss, lr, rate)
