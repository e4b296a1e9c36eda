r"""
Training a tiny denoiser on Dead Leaves images
==============================================

The whole training path of pnpleaves in one minute: a :class:`~pnpleaves.training.TrainConfig`
describes the network, the synthetic data (drawn on the fly from the Dead Leaves generator), the
noise range and the optimiser; :func:`~pnpleaves.training.train` writes a run folder (checkpoint,
weights, ``log.csv``); :func:`pnpleaves.load_prior` loads the run as a prior like the shipped ones.
The tiny DRUNet here trains for seconds, so it is far from ``vl-drunet``; the full recipes are
``pnpleaves/configs/*.toml`` (Achddou et al. 2021, 2025).

Run as a script: ``python demos/demo_train_tiny.py``; the figure goes to ``demos/_out/``.
Set ``PNPLEAVES_FAST=1`` for a shorter run.
"""

# %%
# The configuration
# -----------------
# The same fields as a TOML file under ``pnpleaves/configs/`` (``tiny.toml`` is the model). Batch
# ``t`` is a pure function of ``(seed, t)``, so the run is reproducible.
import csv
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from skimage import data  # noqa: E402

import pnpleaves as pl  # noqa: E402
from pnpleaves.metrics import psnr  # noqa: E402
from pnpleaves.training import TrainConfig, train  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
STEPS = 40 if FAST else 400
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = HERE / "_out"
run_dir = Path(tempfile.mkdtemp(prefix="pnpleaves-tiny-"))

cfg = TrainConfig.from_dict({
    "name": "tiny-demo",
    "seed": 0,
    "output_dir": str(run_dir / "run"),
    "model": {"arch": "drunet", "kwargs": {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}},
    "data": {"source": "generate", "generator": "dl", "options": {"alpha": 3.0, "r_min": 1.0, "r_max": 200.0},
             "image_size": 64, "patch_size": 32, "batch_size": 8},
    "noise": {"sigma_range": [0.0, 75 / 255]},
    "optim": {"loss": "l1", "lr": 5e-4, "warmup_steps": 10, "halve_every": 200},
    "train": {"steps": STEPS, "log_every": 10, "checkpoint_every": 0, "eval_every": 0, "device": "cpu",
              "threads": min(2, torch.get_num_threads())},
})
print(cfg.to_toml())

# %%
# Train
# -----
result = train(cfg)
print(f"{result.step} steps in {result.wall_time_s:.1f} s; run folder: {sorted(p.name for p in Path(cfg.output_dir).iterdir())}")

# %%
# The loss curve and a denoised photograph
# ----------------------------------------
# The run folder loads with :func:`pnpleaves.load_prior`. We denoise a photograph at
# :math:`\sigma = 25/255` with the tiny network and with the shipped ``vl-drunet``.
with open(Path(cfg.output_dir) / "log.csv", newline="") as fh:
    log = list(csv.DictReader(fh))
tiny = pl.load_prior(cfg.output_dir)
ref = pl.load_prior("vl-drunet")

clean = data.astronaut()[96:224, 160:288].astype(np.float32) / 255.0
x = torch.from_numpy(clean).permute(2, 0, 1)[None].contiguous()
g = torch.Generator().manual_seed(0)
y = x + 25 / 255 * torch.randn(x.shape, generator=g)
with torch.no_grad():
    out_tiny, out_ref = tiny(y, 25 / 255), ref(y, 25 / 255)

fig, axes = plt.subplots(1, 5, figsize=(15, 3.2))
axes[0].semilogy([int(r["step"]) for r in log], [float(r["loss"]) for r in log])
axes[0].set_xlabel("step")
axes[0].set_title("training loss (L1)", fontsize=9)
for ax, (title, im) in zip(axes[1:], [("clean", x), (f"noisy {psnr(y, x).item():.2f} dB", y),
                                     (f"tiny, {STEPS} steps: {psnr(out_tiny, x).item():.2f} dB", out_tiny),
                                     (f"vl-drunet: {psnr(out_ref, x).item():.2f} dB", out_ref)]):
    ax.imshow(im[0].clamp(0, 1).permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "train_tiny.png", dpi=100)
print(f"figure: {OUT / 'train_tiny.png'}")
shutil.rmtree(run_dir)  # the run was only for this demo

# %%
# References
# ----------
# - R. Achddou, Y. Gousseau, S. Ladjal, "Synthetic images as a regularity prior for image restoration
#   neural networks", SSVM 2021.
# - R. Achddou, Y. Gousseau, S. Ladjal, S. Süsstrunk, "VibrantLeaves: a principled parametric image
#   generator for training deep restoration models", arXiv:2504.10201, 2025.
# - K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-Play image restoration with
#   deep denoiser prior", IEEE TPAMI 44(10), 2022 (DRUNet).
