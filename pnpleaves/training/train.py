r"""The training loop: Gaussian denoising of synthetic patches, as for DRUNet (Zhang et al.,
*Plug-and-Play Image Restoration with Deep Denoiser Prior*, TPAMI 2021).

Each step draws clean patches :math:`x` and per-image noise levels :math:`\sigma \sim U(a, b)`,
forms :math:`y = x + \sigma z`, and minimises :math:`\|D(y, \sigma) - x\|_1` (or the squared
:math:`\ell_2` norm) with Adam. The learning rate warms up linearly over ``warmup_steps``, then is
halved every ``halve_every`` steps, never below ``lr_min``.

A run folder ``output_dir`` holds ``config.toml`` (the resolved config), ``checkpoint.pt`` (model,
optimizer, step, wall time: everything ``--resume`` needs), ``model.safetensors`` (the weights, loadable
by :func:`pnpleaves.load_prior`), ``log.csv`` and ``curves.png``. Checkpoints are written atomically
(temporary file, then rename) every ``checkpoint_every`` steps, at the end, and on SIGINT / SIGTERM.

Under ``torchrun`` the same code runs DistributedDataParallel (gloo on CPU, nccl on GPU); each of the
``W`` processes takes ``batch_size / W`` samples of every global batch and only rank 0 writes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import math
import os
import platform
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from pnpleaves.models import build_model, count_parameters
from pnpleaves.training.config import TrainConfig

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "learning_rate", "machine_description", "train"]

CHECKPOINT_FORMAT = "pnpleaves-train/1"
_WIDTH_KEYS = ("nc", "nf")  # the arguments that set channel counts (DRUNet, DnCNN)


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


def machine_description(world_size: int = 1) -> str:
    """A short description of the hardware, for training cards."""
    if torch.cuda.is_available():
        hw = f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    else:
        hw = f"CPU {platform.machine()} ({os.cpu_count()} cores)"
    procs = f", {world_size} processes" if world_size > 1 else ""
    return f"{hw}{procs}, {platform.system()}, torch {torch.__version__}"


@dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    out_dir: Path
    step: int
    interrupted: bool
    wall_time_s: float
    losses: list[float] = field(default_factory=list)  # loss of every step of this call (rank 0)
    dev_psnr: dict[float, float] = field(default_factory=dict)  # last dev evaluation


# --------------------------------------------------------------------------- helpers


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class _Dist:
    """Process-group bookkeeping (a single process when WORLD_SIZE is unset or 1)."""

    def __init__(self, device_pref: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world_size)))
        want_cuda = device_pref.startswith("cuda") or (device_pref == "auto" and torch.cuda.is_available())
        if want_cuda and not torch.cuda.is_available():
            raise ValueError(f"train.device = {device_pref!r} but CUDA is not available; use 'cpu' or 'auto'.")
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
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on some rank."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()


@contextlib.contextmanager
def _stop_on_signals():
    """Turn SIGINT / SIGTERM into a flag (``state['stop']``) while the block runs."""
    state = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, _frame):
        if not state["stop"]:
            logger.warning("received %s: saving a checkpoint after this step", signal.Signals(signum).name)
        state["stop"] = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class _CsvLog:
    """``log.csv`` with one row per logged / evaluated step; rows past a resumed step are dropped."""

    def __init__(self, path: Path, sigmas: list[float], start_step: int):
        self.path = path
        self.columns = ["step", "wall_time_s", "lr", "loss", "steps_per_s"] + [
            f"psnr_{s * 255:g}" for s in sigmas
        ]
        rows = []
        if path.is_file() and start_step > 0:
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            w.writerows({k: r.get(k, "") for k in self.columns} for r in rows)
        self.rows = rows

    def add(self, row: dict[str, Any]) -> None:
        row = {k: row.get(k, "") for k in self.columns}
        self.rows.append({k: str(v) for k, v in row.items()})
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        def series(col):
            pts = [(int(r["step"]), float(r[col])) for r in self.rows if r.get(col, "") not in ("", None)]
            return [p[0] for p in pts], [p[1] for p in pts]

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        steps, loss = series("loss")
        axes[0].plot(steps, loss)
        if loss and min(loss) > 0:
            axes[0].set_yscale("log")
        axes[0].set(xlabel="step", ylabel="training loss", title="loss")
        for col in self.columns[5:]:
            s, v = series(col)
            if v:
                axes[1].plot(s, v, marker="o", ms=3, label=f"sigma = {col[5:]}/255")
        axes[1].set(xlabel="step", ylabel="PSNR (dB)", title="dev set")
        if axes[1].lines:
            axes[1].legend()
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, path)


def _load_dev_set(cfg: TrainConfig) -> list[torch.Tensor]:
    from pnpleaves.io import load_testset

    if not cfg.dev.folder or not cfg.dev.sigmas:
        return []
    folder = cfg.resolve_path(cfg.dev.folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"dev set folder {str(folder)!r} (dev.folder) does not exist; point it to a folder of test "
            "images or set dev.folder = \"\" to train without evaluation."
        )
    channels = int(cfg.model.kwargs.get("in_channels", 3))
    _, images = load_testset(folder, max_images=cfg.dev.n_images or None, crop=cfg.dev.crop, channels=channels)
    return images


# --------------------------------------------------------------------------- train


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
        raise ValueError("output_dir is empty; set output_dir in the config (e.g. 'runs/my-denoiser').")
    out_dir = Path(cfg.output_dir)
    ckpt_path = out_dir / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise FileExistsError(
            f"{str(ckpt_path)!r} already exists; pass --resume to continue that run, or change output_dir."
        )
    ddp = _Dist(cfg.train.device)
    old_threads = torch.get_num_threads()
    try:
        if ddp.device.type == "cpu":
            threads = cfg.train.threads or max(1, (os.cpu_count() or 1) // ddp.local_world)
            torch.set_num_threads(threads)
        return _train(cfg, ddp, resume=resume, progress=progress, init_from=init_from, widen=widen)
    finally:
        torch.set_num_threads(old_threads)
        ddp.close()


def _train(cfg: TrainConfig, ddp: _Dist, *, resume: bool, progress: bool,
           init_from: str | os.PathLike | None = None, widen: bool = False) -> TrainResult:
    from pnpleaves.priors import write_weights
    from pnpleaves.training.data import make_loader
    from pnpleaves.training.evaluate import evaluate_denoiser

    out_dir = Path(cfg.output_dir)
    ckpt_path = out_dir / "checkpoint.pt"
    device = ddp.device
    total = int(cfg.train.steps)

    with torch.random.fork_rng(devices=[]):  # deterministic init without touching the global RNG
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model.arch, cfg.model.kwargs)
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))

    start, wall_before, warm_start = 0, 0.0, 0
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{str(ckpt_path)!r} is not a pnpleaves training checkpoint.")
        if ckpt["arch"] != cfg.model.arch or dict(ckpt["arch_kwargs"]) != dict(cfg.model.kwargs):
            raise ValueError(
                f"the checkpoint was trained as {ckpt['arch']}({ckpt['arch_kwargs']}) but the config asks for "
                f"{cfg.model.arch}({cfg.model.kwargs}); resume with the run's own config.toml."
            )
        model.load_state_dict(ckpt["model"], strict=True)
        opt.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["step"])
        wall_before = float(ckpt.get("wall_time_s", 0.0))
        warm_start = int(ckpt.get("warm_start", 0))
        saved = ckpt.get("config", {})
        for section in ("data", "noise", "optim"):
            if saved.get(section) != cfg.to_dict()[section]:
                logger.warning("[%s] differs from the checkpoint's config; the run will not be exact", section)
        if ddp.main:
            logger.info("resuming %s at step %d / %d", out_dir, start, total)
    elif init_from is not None:
        from pnpleaves.priors import read_weights

        state, info = read_weights(init_from)
        theirs, ours = dict(info.get("arch_kwargs", {})), dict(cfg.model.kwargs)
        same_but_width = info.get("arch") == cfg.model.arch and (
            {k: v for k, v in theirs.items() if k not in _WIDTH_KEYS}
            == {k: v for k, v in ours.items() if k not in _WIDTH_KEYS})
        if not (theirs == ours and info.get("arch") == cfg.model.arch or widen and same_but_width):
            hint = (" To continue with wider layers, pass widen=True (CLI: --widen)." if same_but_width
                    else " Continue with the config the weights were trained with.")
            raise ValueError(
                f"{str(init_from)!r} holds {info.get('arch')}({theirs}) but the config asks for "
                f"{cfg.model.arch}({ours}).{hint}"
            )
        if theirs != ours:
            from pnpleaves.training.widen import widen_into

            widen_into(model, state)
            if ddp.main:
                logger.info("widened %s(%s) into %s: same function, the new channels start untrained",
                            cfg.model.arch, theirs, ours)
        else:
            model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        start = warm_start = int(info.get("step", 0))
        wall_before = float(info.get("wall_time_s", 0.0))
        if ddp.main:
            logger.info("continuing from %s at step %d (fresh optimizer, warm-up over %d steps)",
                        init_from, start, cfg.optim.warmup_steps)
    elif resume and ddp.main:
        logger.info("no checkpoint in %s: starting from scratch", out_dir)

    net: torch.nn.Module = model
    if ddp.active:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.train.compile:
        net = torch.compile(net)  # the state dict of ``model`` is unchanged: checkpoints stay portable

    dev_images = _load_dev_set(cfg) if ddp.main else []
    sigmas = list(cfg.dev.sigmas) if dev_images else []
    log = None
    if ddp.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(out_dir / "config.toml", cfg.to_toml())
        log = _CsvLog(out_dir / "log.csv", sigmas, start)
        logger.info(
            "%s: %s with %d parameters on %s x%d, steps %d -> %d, batch %d of %dx%d patches, data %s",
            cfg.name, cfg.model.arch, count_parameters(model), device, ddp.world_size, start, total,
            cfg.data.batch_size, cfg.data.patch_size, cfg.data.patch_size, cfg.data.source,
        )

    loss_fn = torch.nn.functional.l1_loss if cfg.optim.loss == "l1" else torch.nn.functional.mse_loss
    amp = cfg.train.amp and device.type == "cuda"
    memory_format = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    t0 = time.perf_counter()
    result = TrainResult(out_dir=out_dir, step=start, interrupted=False, wall_time_s=wall_before)

    def wall() -> float:
        return wall_before + time.perf_counter() - t0

    def save(step: int) -> None:
        if not ddp.main:
            return
        meta = {
            "format": CHECKPOINT_FORMAT,
            "step": step,
            "arch": cfg.model.arch,
            "arch_kwargs": dict(cfg.model.kwargs),
            "sigma_range": [float(v) for v in cfg.noise.sigma_range],
            "wall_time_s": wall(),
            "machine": machine_description(ddp.world_size),
            "world_size": ddp.world_size,
            "num_params": count_parameters(model),
            "config": cfg.to_dict(),
            # batches are a pure function of (seed, step): the data stream needs no other RNG state
            "data_stream": {"seed": cfg.seed, "next_batch": step},
            "warm_start": warm_start,
        }
        state = dict(meta, model={k: v.detach().cpu() for k, v in model.state_dict().items()},
                     optimizer=opt.state_dict())
        _atomic_torch_save(state, ckpt_path)
        write_weights(out_dir / "model.safetensors", model, cfg.model.arch, dict(cfg.model.kwargs),
                      sigma_range=tuple(cfg.noise.sigma_range),
                      extra={"step": step, "wall_time_s": meta["wall_time_s"], "machine": meta["machine"],
                             "config": meta["config"]})
        logger.info("checkpoint at step %d -> %s", step, ckpt_path)

    def evaluate(step: int) -> None:
        if ddp.main and dev_images:
            res = evaluate_denoiser(model, dev_images, sigmas, seed=cfg.dev.seed, ssim=False, device=device)
            result.dev_psnr = {s: res.table["denoiser"][s]["psnr"] for s in sigmas}
            log.add({"step": step, "wall_time_s": f"{wall():.1f}", "lr": learning_rate(max(step - 1, 0), cfg, warm_start),
                     **{f"psnr_{s * 255:g}": f"{v:.3f}" for s, v in result.dev_psnr.items()}})
            log.plot(out_dir / "curves.png")
            logger.info("step %d dev PSNR %s", step,
                        ", ".join(f"{s * 255:g}: {v:.2f} dB" for s, v in result.dev_psnr.items()))
        ddp.barrier()

    if start >= total:
        if ddp.main:
            logger.info("nothing to do: the checkpoint is at step %d >= %d", start, total)
        return result

    loader = make_loader(cfg, start, total, rank=ddp.rank, world_size=ddp.world_size,
                         pin_memory=device.type == "cuda")
    bar = None
    if progress and ddp.main:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start, unit="step", desc=cfg.name)
    interval_loss = torch.zeros((), device=device)
    interval_n, interval_t = 0, time.perf_counter()
    step = start
    net.train()
    with _stop_on_signals() as signals:
        try:
            for batch in loader:
                lr = learning_rate(step, cfg, warm_start)
                for group in opt.param_groups:
                    group["lr"] = lr
                noisy = batch["noisy"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
                clean = batch["clean"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
                sigma = batch["sigma"].to(device, non_blocking=True)
                with torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
                    out = net(noisy, sigma)
                loss = loss_fn(out.float(), clean)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.optim.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
                opt.step()
                step += 1
                result.step = step
                interval_loss += loss.detach()
                interval_n += 1
                if ddp.main and device.type == "cpu":  # (no per-step sync on GPU)
                    result.losses.append(float(loss.detach()))
                if bar is not None:
                    bar.update(1)
                stop = ddp.any(signals["stop"])
                if (cfg.train.log_every and step % cfg.train.log_every == 0) or step == total or stop:
                    if ddp.active:  # the mean over all processes (a collective: every rank logs here)
                        dist.all_reduce(interval_loss, op=dist.ReduceOp.SUM)
                        interval_loss /= ddp.world_size
                    mean_loss = float(interval_loss) / max(interval_n, 1)
                    if not math.isfinite(mean_loss):
                        raise FloatingPointError(
                            f"the training loss is {mean_loss} at step {step}; lower optim.lr or set "
                            "optim.grad_clip. The last checkpoint was kept."
                        )
                    rate = interval_n / max(time.perf_counter() - interval_t, 1e-9)
                    if ddp.main:
                        log.add({"step": step, "wall_time_s": f"{wall():.1f}", "lr": lr,
                                 "loss": f"{mean_loss:.6g}", "steps_per_s": f"{rate:.3f}"})
                        logger.info("step %d/%d loss %.5f lr %.3g %.2f steps/s", step, total, mean_loss, lr, rate)
                    interval_loss.zero_()
                    interval_n, interval_t = 0, time.perf_counter()
                t_pause = time.perf_counter()
                if cfg.train.eval_every and step % cfg.train.eval_every == 0:
                    evaluate(step)
                if stop or step == total or (cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0):
                    save(step)
                interval_t += time.perf_counter() - t_pause  # steps/s counts training time only
                if stop:
                    result.interrupted = True
                    break
        finally:
            if bar is not None:
                bar.close()
            del loader
    evaluated = bool(cfg.train.eval_every) and step % cfg.train.eval_every == 0
    if step == total and not result.interrupted and not evaluated and cfg.dev.folder and cfg.dev.sigmas:
        evaluate(step)  # a final dev evaluation (collective: every rank calls it)
    if ddp.main and log is not None:
        log.plot(out_dir / "curves.png")
    result.wall_time_s = wall()
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m pnpleaves.training.train CONFIG [--resume] [--steps N]`` (the torchrun entry point)."""
    parser = argparse.ArgumentParser(prog="python -m pnpleaves.training.train", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="TOML training config")
    parser.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoint.pt if present")
    parser.add_argument("--steps", type=int, default=None, help="total number of steps (overrides train.steps)")
    parser.add_argument("--output-dir", default=None, help="override output_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = TrainConfig.from_toml(args.config)
    if args.output_dir:
        cfg = cfg.override(output_dir=args.output_dir)
    result = train(cfg, resume=args.resume, steps=args.steps)
    return 130 if result.interrupted else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
