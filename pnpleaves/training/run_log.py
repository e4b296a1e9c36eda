"""A run's ``log.csv`` (one row per logged or evaluated step) and its plot ``curves.png``.

Columns: ``step, wall_time_s, lr, loss, steps_per_s`` and one ``psnr_<sigma*255>`` per dev noise
level. A resumed run keeps the rows up to its start step and drops the later ones, so the log of a
resumed run has the rows an uninterrupted run would have.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

__all__ = ["RunLog"]


class RunLog:
    """``log.csv`` of a run starting at ``start_step``, with a PSNR column per dev ``sigmas`` value."""

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
        """Append a row (missing columns are left empty)."""
        row = {k: row.get(k, "") for k in self.columns}
        self.rows.append({k: str(v) for k, v in row.items()})
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)

    def plot(self, path: Path) -> None:
        """Write the training loss and the dev PSNR curves to ``path`` (PNG, atomically)."""
        import matplotlib  # optional heavy dependency: only needed to draw the curves

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
