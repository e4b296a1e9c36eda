"""Bring back what ``research/gpu_frontier.sh`` packed: ``python research/gpu_unpack.py FILES_AT [--tag DATE]``.

``FILES_AT`` holds ``pack.tar.NN`` (``research/gpu_pack.py``). Each run's fp32 weights go to
``research/gpu_state/NAME.safetensors`` (where the next GPU call resumes; ``pnpleaves export``-style shipping is a
separate, measured step), its logs, configs and ``summary.csv`` to ``docs/results/gpu_frontier/TAG/``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files_at", type=Path)
    ap.add_argument("--tag", default=time.strftime("%Y-%m-%d-%H%M"))
    args = ap.parse_args(argv)
    parts = sorted(args.files_at.rglob("pack.tar.*"))
    if not parts:
        print(f"no pack.tar.* under {args.files_at}", file=sys.stderr)
        return 2
    data = b"".join(p.read_bytes() for p in parts)
    state = ROOT / "research" / "gpu_state"
    logs = ROOT / "docs" / "results" / "gpu_frontier" / args.tag
    state.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if not member.isfile() or ".." in Path(member.name).parts:
                continue
            rel = Path(member.name).relative_to("retrain") if member.name.startswith("retrain/") else Path(member.name)
            src = tar.extractfile(member)
            if rel.suffix == ".safetensors" and len(rel.parts) == 1:
                dest = state / rel.name
            elif rel.suffix == ".safetensors" or rel.name.endswith(".pt"):
                continue  # checkpoints inside run folders: the state file above is what the next call needs
            else:
                dest = logs / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with dest.open("wb") as f:
                shutil.copyfileobj(src, f)
            print(f"{member.name} -> {dest.relative_to(ROOT)}")
    summary = logs / "summary.csv"
    if summary.is_file():
        print(summary.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
