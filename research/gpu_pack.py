"""Pack what a GPU session made into at most 7 files of < 16 MB (the device tool's return limits).

Collected from ``--retrain DIR`` (``research/gpu_retrain.py``): each run's final weights as fp32
safetensors (``--half`` for fp16, where room is short), ``summary.csv`` and the logs and configs. From ``--experiments DIR``
(``research/gpu_experiments.py``): the tables, figures, ``results.csv``, logs and run configs, and,
when some run did not finish or the tables are missing, the runs' checkpoints (unfinished ones whole; finished ones without
the optimizer moments, which a finished run never reads again) so that the same experiment command
continues them on another machine. Everything goes into one tar, split into ``pack.tar.NN`` parts;
reassemble with ``cat pack.tar.* | tar -x``.

    python research/gpu_pack.py --retrain /tmp/run --experiments /tmp/exp --out "$OUT"
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as save_bytes

from pnpleaves.priors.files import tensors_sha256

SMALL = (".log", ".csv", ".toml", ".png", ".json", ".txt")
PART = 15 * 2**20
MAX_TOTAL = 60 * 2**20


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _weights(path: Path, dtype: torch.dtype) -> bytes:
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        state = {}
        for k in f.keys():
            t = f.get_tensor(k)
            state[k] = t.to(dtype) if t.is_floating_point() else t
    if "tensors_sha256" in meta:  # the checksum of the tensors as stored
        meta["tensors_sha256"] = tensors_sha256(state)
    return save_bytes(state, metadata=meta)


def pack_retrain(tar: tarfile.TarFile, run: Path, dtype: torch.dtype = torch.float32) -> int:
    size = 0
    for p1 in sorted(run.glob("*-p1")):
        name = p1.name[:-3]
        src = run / f"{name}-p2" / "model.safetensors"
        src = src if src.is_file() else p1 / "model.safetensors"
        if src.is_file():
            data = _weights(src, dtype)
            _add_bytes(tar, f"retrain/{name}.safetensors", data)
            size += len(data)
    for p in sorted(run.rglob("*")):
        if p.is_file() and p.suffix in SMALL and not p.parts[len(run.parts)].startswith("data"):
            tar.add(p, arcname=f"retrain/{p.relative_to(run)}")
    return size


def _checkpoint_bytes(path: Path, keep_moments: bool) -> bytes:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not keep_moments:
        ckpt["optimizer"] = {**ckpt["optimizer"], "state": {}}
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return buf.getvalue()


def pack_experiments(tar: tarfile.TarFile, exp: Path, room: int) -> None:
    for p in sorted(exp.rglob("*")):
        rel = p.relative_to(exp)
        if p.is_file() and p.suffix in SMALL and rel.parts[0] != "data":
            tar.add(p, arcname=f"experiments/{rel}")
    state_path = exp / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    tables = all((exp / f"{e}.csv").is_file() for e in ("ablation", "convergence"))
    if not state or (all(state.values()) and tables):
        return
    # a run is unfinished or not evaluated: bring every checkpoint back, unfinished runs first, as room allows
    for name in sorted(state, key=lambda n: state[n]):
        ckpt = exp / "runs" / name / "checkpoint.pt"
        if not ckpt.is_file():
            continue
        data = _checkpoint_bytes(ckpt, keep_moments=not state[name])
        if len(data) > room:
            print(f"no room for {ckpt}")
            continue
        _add_bytes(tar, f"experiments/runs/{name}/checkpoint.pt", data)
        room -= len(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--retrain", default="")
    ap.add_argument("--experiments", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--half", action="store_true", help="store the weights as fp16 (default fp32)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        used = pack_retrain(tar, Path(args.retrain), torch.float16 if args.half else torch.float32) if args.retrain and Path(args.retrain).is_dir() else 0
        if args.experiments and Path(args.experiments).is_dir():
            pack_experiments(tar, Path(args.experiments), MAX_TOTAL - used - 4 * 2**20)
    data = buf.getvalue()
    for i in range(0, min(len(data), 7 * PART), PART):
        (out / f"pack.tar.{i // PART:02d}").write_bytes(data[i:i + PART])
    print(f"packed {len(data) / 2**20:.1f} MB into {-(-len(data) // PART)} part(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
