r"""Is a run still improving? The dev-PSNR rate of a run folder, against a stop rule.

The priors are trained "until the dev PSNR stops rising (under 0.05 dB per hour of training)". The
dev evaluations in a run's ``log.csv`` are noisy from one to the next (a few hundredths of a dB), so
the rate is the least-squares slope of dev PSNR against training hours over a window, not the
difference of two points:

.. math:: r = \frac{\sum_i (t_i - \bar t)(p_i - \bar p)}{\sum_i (t_i - \bar t)^2} \quad \text{dB per hour},

with :math:`t_i` the run's cumulative wall time (``wall_time_s``, which continues across resumes)
and :math:`p_i` the dev PSNR at one noise level.

Usage (from a source checkout; this script is not part of the installed package)::

    python research/dev_rate.py runs/vl-drunet --sigma 25 --since-step 52036
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DevRate", "dev_curve", "dev_rate"]


@dataclass(frozen=True)
class DevRate:
    """Least-squares rate of a dev curve over a window."""

    rate_db_per_hour: float
    n_points: int
    first: tuple[int, float, float]  # (step, hours, psnr)
    last: tuple[int, float, float]

    @property
    def hours(self) -> float:
        return self.last[1] - self.first[1]


def dev_curve(run: str | Path, sigma: float = 25) -> list[tuple[int, float, float]]:
    """``(step, training hours, dev PSNR)`` of every evaluation in ``run`` (a run folder or its log.csv).

    :param sigma: noise level on the 0-255 scale, one of the run's dev sigmas.
    """
    path = Path(run)
    path = path / "log.csv" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {str(path)!r}; pass a run folder (with log.csv) or the file.")
    col = f"psnr_{sigma:g}"
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if col not in (reader.fieldnames or []):
            have = [c[5:] for c in reader.fieldnames or [] if c.startswith("psnr_")]
            raise ValueError(f"{str(path)!r} has no dev PSNR at sigma {sigma:g}; it has sigma {', '.join(have)}.")
        points = [(int(r["step"]), float(r["wall_time_s"]) / 3600.0, float(r[col])) for r in reader if r[col]]
    return points


def dev_rate(points: list[tuple[int, float, float]], *, since_step: int | None = None,
             last_hours: float | None = None) -> DevRate:
    """Least-squares dev-PSNR rate (dB per training hour) over the points after ``since_step`` (inclusive)
    or within the last ``last_hours`` hours. Needs at least 3 points in the window."""
    if since_step is not None:
        points = [p for p in points if p[0] >= since_step]
    if last_hours is not None and points:
        end = points[-1][1]
        points = [p for p in points if p[1] >= end - last_hours]
    if len(points) < 3:
        raise ValueError(f"need at least 3 dev evaluations in the window; got {len(points)}. Widen the window.")
    t = np.array([p[1] for p in points])
    y = np.array([p[2] for p in points])
    if np.ptp(t) <= 0:
        raise ValueError("the dev evaluations in the window all have the same wall time; the log has no timing.")
    slope = float(np.polyfit(t, y, 1)[0])
    return DevRate(slope, len(points), points[0], points[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python research/dev_rate.py", description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run folder (or its log.csv)")
    ap.add_argument("--sigma", type=float, default=25, help="dev noise level on the 0-255 scale (default 25)")
    ap.add_argument("--since-step", type=int, default=None, help="window: evaluations from this step on")
    ap.add_argument("--last-hours", type=float, default=None, help="window: the last H training hours")
    ap.add_argument("--threshold", type=float, default=0.05, help="stop rule in dB per hour (default 0.05)")
    args = ap.parse_args(argv)
    try:
        points = dev_curve(args.run, args.sigma)
        rate = dev_rate(points, since_step=args.since_step, last_hours=args.last_hours)
    except (OSError, ValueError) as e:
        ap.exit(2, f"error: {e}\n")
    window = [p for p in points if rate.first[0] <= p[0] <= rate.last[0]]
    print(f"{'step':>8} {'hours':>7} {'PSNR':>7}")
    for step, hours, psnr in window:
        print(f"{step:>8} {hours:>7.2f} {psnr:>7.3f}")
    verdict = "still rising" if rate.rate_db_per_hour >= args.threshold else "below the stop rule"
    print(f"dev PSNR at sigma {args.sigma:g}: {rate.rate_db_per_hour:+.3f} dB per hour (least squares, "
          f"{rate.n_points} evaluations over {rate.hours:.2f} h; {rate.last[2] - rate.first[2]:+.3f} dB end to end): "
          f"{verdict} ({args.threshold:g} dB/h)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
