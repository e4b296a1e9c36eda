"""Re-run the reliability matrix of issue 14: bad or odd inputs, damaged files, interrupted and concurrent jobs.

Each case runs in its own Python process (memory capped at ``--mem-gb``, time at ``--timeout``), so a
case that hangs or runs out of memory is reported rather than taking the machine down. One line per case::

    CASE | OUTCOME | DETAIL

OUTCOME is ``error`` (a clear one-line error: a UserError / file error through the API, exit status 2 with
one line on the CLI), ``ok`` (a valid edge case handled; DETAIL says what came out), ``TRACEBACK`` (a raw
traceback), ``GARBAGE`` (a result that is not what it says, e.g. NaN or 8-bit where 16 was asked for),
``WARNING`` (garbage with only a warning), ``MEMORY``/``TIMEOUT`` (killed). The last line counts them.

Run from the repository root (a few minutes on one CPU core)::

    OMP_NUM_THREADS=1 python benchmarks/reliability_matrix.py            # all cases
    OMP_NUM_THREADS=1 python benchmarks/reliability_matrix.py --case sr_scale_1000

``PYTHONPATH=/path/to/old/checkout python benchmarks/reliability_matrix.py`` runs the same cases against
another version of the package (that is how the "before" column of ``docs/reliability.md`` was made).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

CASES: dict[str, callable] = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# --------------------------------------------------------------------------- helpers (run inside the case process)


def _tiny_weights(path: Path, *, nan: bool = False) -> Path:
    import torch

    from pnpleaves.models import build_model
    from pnpleaves.priors import write_weights

    kw = {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}
    torch.manual_seed(0)
    model = build_model("drunet", kw)
    if nan:
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))
    return write_weights(path, model, "drunet", kw)


def _nan_prior():
    import torch

    from pnpleaves.priors import CallableDenoiser

    return CallableDenoiser(lambda x, s: torch.full_like(x, float("nan")))


def _identity_prior():
    from pnpleaves.priors import CallableDenoiser

    return CallableDenoiser(lambda x, s: x)


def _describe(value) -> str:
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        n_bad = int((~np.isfinite(value)).sum())
        if n_bad:
            return f"GARBAGE: array {value.shape} with {n_bad} NaN/Inf"
        return f"ok: array {value.shape} in [{value.min():.3g}, {value.max():.3g}]"
    return f"ok: {value!r}"[:160]


def _cli(*argv, timeout: float = 300) -> str:
    """Run the CLI in a subprocess; classify its outcome."""
    proc = subprocess.run([sys.executable, "-m", "pnpleaves.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONWARNINGS="default"))
    err = proc.stderr.strip()
    last = err.splitlines()[-1] if err else proc.stdout.strip().splitlines()[-1:] or [""]
    last = last if isinstance(last, str) else last[0]
    if "Traceback (most recent call last)" in err:
        return f"TRACEBACK (exit {proc.returncode}): {last}"
    if proc.returncode == 0:
        warn = [l for l in err.splitlines() if "warning" in l.lower()]
        return f"ok (exit 0){': ' + warn[0] if warn else ''}"
    return f"error (exit {proc.returncode}): {last}"


def _png(path: Path, shape=(32, 32, 3), bit_depth: int = 8) -> Path:
    import numpy as np

    from pnpleaves.io import write_image

    img = np.random.default_rng(0).random(shape) * 0.8 + 0.1
    return write_image(path, img, bit_depth=bit_depth)


# --------------------------------------------------------------------------- item 1: damaged weights


@case
def damaged_weights_by_path(tmp: Path) -> str:
    from pnpleaves import pnp_denoise
    from pnpleaves.priors import load_prior

    path = _tiny_weights(tmp / "w.safetensors")
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 64, len(data)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    load_prior(path)
    import numpy as np

    return _describe(pnp_denoise(np.full((16, 16, 3), 0.5, np.float32), sigma=0.1, prior=str(path)))


@case
def nan_weights_by_path(tmp: Path) -> str:
    import numpy as np

    from pnpleaves import pnp_denoise

    path = _tiny_weights(tmp / "nan.safetensors", nan=True)
    return _describe(pnp_denoise(np.full((16, 16, 3), 0.5, np.float32), sigma=0.1, prior=str(path)))


@case
def nan_prior_pnp_deblur(tmp: Path) -> str:
    import numpy as np

    from pnpleaves import pnp_deblur

    return _describe(pnp_deblur(np.full((16, 16, 3), 0.5), np.ones((3, 3)) / 9, sigma=0.01, n_iter=2,
                                prior=_nan_prior()))


@case
def nan_prior_sample_prior(tmp: Path) -> str:
    from pnpleaves.sampling import sample_prior

    return _describe(sample_prior(_nan_prior(), n=1, size=8, steps=2, init="white", clip=False))


@case
def cli_denoise_damaged_weights(tmp: Path) -> str:
    path = _tiny_weights(tmp / "w.safetensors", nan=True)
    return _cli("denoise", _png(tmp / "in.png"), "--out", tmp / "o.png", "--sigma", "10", "--prior", path)


def _posterior(y):
    from deepinv.physics import Denoising, GaussianNoise

    from pnpleaves.sampling import GaussianDenoiser, GaussianFit, sample_posterior

    mean, _, _ = sample_posterior(y, Denoising(GaussianNoise(sigma=0.05)), GaussianDenoiser(GaussianFit.power_law(8)),
                                  n_samples=1, n_iter=3)
    return mean


@case
def sample_posterior_nan_y(tmp: Path) -> str:
    import torch

    y = torch.full((3, 8, 8), 0.5)
    y[0, 0, 0] = float("nan")
    return _describe(_posterior(y))


@case
def sample_posterior_0_255_y(tmp: Path) -> str:
    import torch

    return _describe(_posterior(torch.full((3, 8, 8), 128.0)))


@case
def sample_posterior_hwc_y(tmp: Path) -> str:
    import torch

    return _describe(_posterior(torch.rand(8, 8, 3)))


@case
def sample_posterior_physics_none(tmp: Path) -> str:
    import torch

    from pnpleaves.sampling import GaussianDenoiser, GaussianFit, sample_posterior

    return _describe(sample_posterior(torch.rand(3, 8, 8), None, GaussianDenoiser(GaussianFit.power_law(8)),
                                      n_samples=1, n_iter=3)[0])


# --------------------------------------------------------------------------- item 2: 16-bit colour PNG


@case
def cli_16bit_colour_png_depth(tmp: Path) -> str:
    src = _png(tmp / "in.png", bit_depth=16)
    out = _cli("denoise", src, "--out", tmp / "o.png", "--sigma", "5", "--prior", _tiny_weights(tmp / "w.safetensors"))
    with open(tmp / "o.png", "rb") as f:
        depth = f.read(25)[24] if out.startswith("ok") else None
    return f"{'ok' if depth == 16 else 'GARBAGE'}: output bit depth {depth} for a 16-bit input ({out})"


@case
def png16_paeth_decode_time_512(tmp: Path) -> str:
    import struct
    import zlib

    import numpy as np

    from pnpleaves.io import read_image

    h = w = 512
    data = np.random.default_rng(0).integers(0, 65536, (h, w, 3)).astype(">u2").view(np.uint8).reshape(h, w, 6)
    orig = data.astype(np.int32)
    pad = np.zeros((h + 1, w + 1, 6), np.int32)
    pad[1:, 1:] = orig
    a, b, c = pad[1:, :-1], pad[:-1, 1:], pad[:-1, :-1]
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    rows = np.concatenate([np.full((h, 1), 4), ((orig - pred) & 0xFF).reshape(h, -1)], 1).astype(np.uint8)

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows.tobytes())) + chunk(b"IEND", b""))
    (tmp / "p.png").write_bytes(png)
    t0 = time.perf_counter()
    img = read_image(tmp / "p.png")
    dt = time.perf_counter() - t0
    exact = np.array_equal(np.round(img * 65535).astype(np.uint16), data.view(">u2").reshape(h, w, 3))
    return f"ok: {dt:.2f} s, exact {exact}"


# --------------------------------------------------------------------------- items 3 and 4: generate


def _generate(folder: Path, n: int, workers: int = 1, size: int = 64) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pnpleaves.cli", "generate", "--model", "dl", "--n", str(n),
                             "--size", str(size), "--workers", str(workers), "--out", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@case
def generate_interrupted_then_listed_and_resumed(tmp: Path) -> str:
    from pnpleaves.io import list_images

    folder = tmp / "ds"
    folder.mkdir()
    # a truncated temp file as an interrupted worker leaves it (SIGKILL between write and rename)
    (folder / ".dl_000000007.png.tmp999.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    proc = _generate(folder, 40, workers=2, size=96)
    while not any(folder.glob("dl_*.png")) and proc.poll() is None:  # interrupt once some images are written
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    try:
        images = list_images(folder)
    except FileNotFoundError:
        images = []
    listed = len(images)
    temps_listed = sum(p.name.startswith(".") for p in images)
    proc = _generate(folder, 40, workers=2, size=96)
    proc.wait(600)
    temps_left = [p.name for p in folder.iterdir() if ".tmp" in p.name]
    lines = (folder / "manifest.jsonl").read_text().splitlines()
    files = [json.loads(line)["file"] for line in lines]
    verdict = "ok" if not temps_left and not temps_listed and len(set(files)) == len(files) == 40 else "GARBAGE"
    return (f"{verdict}: after SIGTERM list_images gave {listed} files ({temps_listed} temp); resume exit "
            f"{proc.returncode}, temp files left {len(temps_left)}, manifest {len(files)} lines / {len(set(files))} files")


@case
def generate_concurrent_same_folder(tmp: Path) -> str:
    folder = tmp / "ds"
    a, b = _generate(folder, 24, size=96), _generate(folder, 24, size=96)
    out_a, err_a = a.communicate(timeout=600)
    out_b, err_b = b.communicate(timeout=600)
    files = [json.loads(line)["file"] for line in (folder / "manifest.jsonl").read_text().splitlines()]
    refused = [e.strip().splitlines()[-1] for e, rc in ((err_a, a.returncode), (err_b, b.returncode)) if rc == 2 and e.strip()]
    verdict = "ok" if len(files) == len(set(files)) else "GARBAGE"
    return (f"{verdict}: exits {a.returncode}/{b.returncode}, manifest {len(files)} lines / {len(set(files))} files"
            + (f"; refusal: {refused[0]}" if refused else ""))


@case
def generate_stale_lock_of_dead_process(tmp: Path) -> str:
    folder = tmp / "ds"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / ".pnpleaves-generate.lock").write_text(f"{dead.pid} {socket.gethostname()}\n")
    proc = _generate(folder, 2, size=32)
    proc.wait(300)
    return f"{'ok' if proc.returncode == 0 else 'error'} (exit {proc.returncode})"


@case
def training_cache_order(tmp: Path) -> str:
    from pnpleaves.generators import make_config, write_dataset
    from pnpleaves.training.data import CacheImages

    write_dataset(tmp, make_config("dl", None), n=3, size=16)
    lines = (tmp / "manifest.jsonl").read_text().splitlines()
    (tmp / "manifest.jsonl").write_text("\n".join([lines[2], lines[0], lines[1], lines[0]]) + "\n")
    names = [p.name for p in CacheImages(tmp, preload=False).files]
    want = [json.loads(line)["file"] for line in lines]
    return f"{'ok' if names == want else 'GARBAGE'}: {len(names)} images, seed order {names == want}"


# --------------------------------------------------------------------------- item 5: output paths


def _written_as(path: Path, outcome: str) -> str:
    if outcome.startswith("ok") and path.is_file():
        head = path.read_bytes()[:4]
        kind = "a TIFF" if head[:2] in (b"II", b"MM") else "a PNG" if head == b"\x89PNG" else f"{head!r}"
        return f"GARBAGE: wrote {kind} named {path.name!r} ({outcome})"
    return outcome


@case
def cli_out_txt(tmp: Path) -> str:
    return _written_as(tmp / "o.txt", _cli("denoise", _png(tmp / "in.png"), "--out", tmp / "o.txt", "--sigma", "5",
                                           "--prior", _tiny_weights(tmp / "w.safetensors")))


@case
def cli_out_no_extension(tmp: Path) -> str:
    return _written_as(tmp / "o", _cli("denoise", _png(tmp / "in.png"), "--out", tmp / "o", "--sigma", "5",
                                       "--prior", _tiny_weights(tmp / "w.safetensors")))


@case
def cli_out_is_a_folder_with_overwrite(tmp: Path) -> str:
    (tmp / "d.png").mkdir()
    return _cli("denoise", _png(tmp / "in.png"), "--out", tmp / "d.png", "--overwrite", "--sigma", "5", "--prior",
                _tiny_weights(tmp / "w.safetensors"))


@case
def cli_sample_existing_out(tmp: Path) -> str:
    (tmp / "s.png").write_bytes(b"x")
    t0 = time.perf_counter()
    out = _cli("sample", "--prior", _tiny_weights(tmp / "w.safetensors"), "--n", "2", "--size", "32",
               "--steps", "200", "--out", tmp / "s.png")
    return f"{out} [{time.perf_counter() - t0:.1f} s]"


@case
def cli_demo_twice(tmp: Path) -> str:
    (tmp / "demo_deblur.png").write_bytes(b"x")
    out = _cli("demo", "--out-dir", tmp, "--size", "48")
    replaced = (tmp / "demo_deblur.png").read_bytes() != b"x"
    return f"GARBAGE: replaced the existing figure silently ({out})" if replaced else out


@case
def cli_eval_csv_txt(tmp: Path) -> str:
    _png(tmp / "a.png")
    return _cli("eval-denoiser", "--prior", _tiny_weights(tmp / "w.safetensors"), "--testset", tmp, "--sigma", "25",
                "--csv", tmp / "out.txt", "--no-ssim")


# --------------------------------------------------------------------------- item 7: JPEG


@case
def jpeg_default_quality(tmp: Path) -> str:
    import numpy as np
    from skimage import data

    from pnpleaves.io import read_image, write_image
    from pnpleaves.metrics import psnr

    img = data.astronaut()[:256, :256].astype(np.float64) / 255
    write_image(tmp / "o.jpg", img)
    return f"ok: PSNR of the JPEG written by default {psnr(read_image(tmp / 'o.jpg'), img.astype(np.float32)):.1f} dB"


# --------------------------------------------------------------------------- item 8: scales and layouts


@case
def float_0_255_image(tmp: Path) -> str:
    import numpy as np

    from pnpleaves import pnp_denoise

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = pnp_denoise(np.full((16, 16, 3), 128.0), sigma=0.05, prior=_identity_prior())
    return ("WARNING: " if caught else "GARBAGE: ") + f"mean {out.mean():.3f} " + (str(caught[0].message)[:80] if caught else "")


@case
def noisy_float_slightly_outside(tmp: Path) -> str:
    import numpy as np

    from pnpleaves.images import to_bchw

    img = np.linspace(-0.3, 1.3, 256, dtype=np.float32).reshape(16, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t, _ = to_bchw(img)
    kept = float(t.min()) < -0.2
    return f"{'ok' if kept and not caught else 'WARNING'}: values kept {kept}, warnings {len(caught)}"


@case
def torch_hwc_tensor(tmp: Path) -> str:
    import torch

    from pnpleaves import pnp_denoise

    return _describe(pnp_denoise(torch.rand(16, 16, 3), sigma=0.05, prior=_identity_prior()))


# --------------------------------------------------------------------------- smaller items


@case
def cli_device_cuda_on_cpu(tmp: Path) -> str:
    import torch

    if torch.cuda.is_available():
        return "ok: skipped (this machine has CUDA)"
    return _cli("denoise", _png(tmp / "in.png"), "--out", tmp / "o.png", "--sigma", "5", "--device", "cuda",
                "--prior", _tiny_weights(tmp / "w.safetensors"))


@case
def cli_device_gpu(tmp: Path) -> str:
    return _cli("denoise", _png(tmp / "in.png"), "--out", tmp / "o.png", "--sigma", "5", "--device", "gpu",
                "--prior", _tiny_weights(tmp / "w.safetensors"))


@case
def sr_scale_1000(tmp: Path) -> str:
    import numpy as np

    from pnpleaves import pnp_super_resolve

    return _describe(pnp_super_resolve(np.full((160, 160), 0.5), 1000, prior=_identity_prior(), n_iter=1))


@case
def vibrant_leaves_20000(tmp: Path) -> str:
    from pnpleaves.generators import vibrant_leaves

    return _describe(vibrant_leaves(20000, seed=0))


@case
def vibrant_leaves_100000(tmp: Path) -> str:
    from pnpleaves.generators import vibrant_leaves

    return _describe(vibrant_leaves(100000, seed=0))


@case
def sample_prior_channels_1(tmp: Path) -> str:
    from pnpleaves.sampling import sample_prior

    return _describe(sample_prior(str(_tiny_weights(tmp / "w.safetensors")), n=1, size=8, steps=2, channels=1,
                                  init="white"))


@case
def leaves_dataset_slice(tmp: Path) -> str:
    from pnpleaves.generators import LeavesDataset

    return _describe(LeavesDataset(3, 16, model="dl")[0:2])


@case
def leaves_dataset_float_index(tmp: Path) -> str:
    from pnpleaves.generators import LeavesDataset

    return _describe(LeavesDataset(3, 16, model="dl")[1.5])


@case
def bogus_schedule_key(tmp: Path) -> str:
    import numpy as np

    from pnpleaves import pnp_deblur

    return _describe(pnp_deblur(np.full((16, 16), 0.5), np.ones((3, 3)) / 9, sigma=0.01, schedule={"bogus": 1},
                                prior=_identity_prior()))


@case
def cli_folder_as_image(tmp: Path) -> str:
    return _cli("denoise", tmp, "--out", tmp / "o.png", "--sigma", "5")


@case
def cli_folder_as_kernel(tmp: Path) -> str:
    return _cli("deblur", _png(tmp / "in.png"), "--kernel", tmp, "--out", tmp / "o.png")


@case
def cli_text_file_named_npy(tmp: Path) -> str:
    (tmp / "k.npy").write_text("not an array")
    return _cli("deblur", _png(tmp / "in.png"), "--kernel", tmp / "k.npy", "--out", tmp / "o.png")


@case
def cli_kernel_lanczos(tmp: Path) -> str:
    return _cli("super-resolve", _png(tmp / "in.png"), "--scale", "2", "--kernel", "lanczos", "--out", tmp / "o.png")


@case
def train_non_utf8_config(tmp: Path) -> str:
    (tmp / "bad.toml").write_bytes(b'name = "\xff\xfe"\n')
    return _cli("train", tmp / "bad.toml")


@case
def empty_prior_name(tmp: Path) -> str:
    from pnpleaves.priors import load_prior

    return _describe(load_prior(""))


@case
def mask_of_0_3(tmp: Path) -> str:
    import numpy as np

    from pnpleaves import pnp_inpaint

    return _describe(pnp_inpaint(np.full((16, 16), 0.5), np.full((16, 16), 0.3), sigma=0.01, prior=_identity_prior()))


@case
def photograph_as_mask(tmp: Path) -> str:
    import numpy as np
    from skimage import data

    from pnpleaves import pnp_inpaint

    photo = data.camera()[:64, :64] / 255.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pnp_inpaint(np.full((64, 64), 0.5), photo, sigma=0.01, prior=_identity_prior(), n_iter=1)
    return f"{'WARNING' if caught else 'GARBAGE'}: accepted{' with: ' + str(caught[0].message)[:90] if caught else ' silently'}"


@case
def photograph_as_kernel(tmp: Path) -> str:
    import numpy as np
    from skimage import data

    from pnpleaves import pnp_deblur

    photo = data.camera()[:150, :150] / 255.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pnp_deblur(np.full((200, 200), 0.5), photo / photo.sum(), sigma=0.01, prior=_identity_prior(), n_iter=1)
    return f"{'WARNING' if caught else 'GARBAGE'}: accepted{' with: ' + str(caught[0].message)[:90] if caught else ' silently'}"


@case
def weights_file_mode(tmp: Path) -> str:
    old = os.umask(0o077)
    try:
        path = _tiny_weights(tmp / "m.safetensors")
    finally:
        os.umask(old)
    mode = oct(path.stat().st_mode & 0o777)
    return f"{'ok' if mode == '0o644' else 'GARBAGE'}: mode {mode} under umask 077"


# --------------------------------------------------------------------------- driver


def _run_case(name: str) -> str:
    """Inside the case process: run one case and classify an exception."""
    from pnpleaves.errors import UserError

    user_errors = (UserError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
                   PermissionError)
    with tempfile.TemporaryDirectory() as d:
        try:
            return CASES[name](Path(d))
        except user_errors as exc:
            return f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        except MemoryError:
            return "MEMORY: MemoryError"
        except Exception as exc:  # a raw exception: what the issue calls a raw traceback
            return f"TRACEBACK: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="run only these cases (default: all)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per case (default 600)")
    ap.add_argument("--mem-gb", type=float, default=6, help="address-space cap per case in GB (default 6)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + _run_case(args.child), flush=True)
        return 0
    names = args.case or list(CASES)
    counts: dict[str, int] = {}
    cap = int(args.mem_gb * 2**30)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    for name in names:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True, text=True,
                                  timeout=args.timeout, preexec_fn=limit)
            line = next((l[7:] for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
                line = f"MEMORY: killed ({tail[:120]})" if "MemoryError" in proc.stderr or proc.returncode < 0 else f"TRACEBACK: {tail[:160]}"
        except subprocess.TimeoutExpired:
            line = f"TIMEOUT: still running after {args.timeout:.0f} s"
        outcome, _, detail = line.partition(":")
        outcome = outcome.split(" ")[0]
        counts[outcome] = counts.get(outcome, 0) + 1
        print(f"{name} | {outcome} | {detail.strip()} [{time.perf_counter() - t0:.0f} s]", flush=True)
    print("total | " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
