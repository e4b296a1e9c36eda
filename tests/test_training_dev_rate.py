"""research/dev_rate.py (the stop rule's dev-PSNR rate; a script outside the package)."""

from __future__ import annotations

import runpy

import numpy as np
import pytest

from training_fixtures import REPO

DEV_RATE = runpy.run_path(str(REPO / "research" / "dev_rate.py"))


def _write_log(path, rows):
    cols = ["step", "wall_time_s", "lr", "loss", "steps_per_s", "psnr_15", "psnr_25", "psnr_50"]
    lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_dev_rate_is_the_least_squares_slope_per_hour(tmp_path, capsys):
    dev_curve, dev_rate, main = DEV_RATE["dev_curve"], DEV_RATE["dev_rate"], DEV_RATE["main"]
    rows = [{"step": 100 * k, "wall_time_s": 60.0 * k, "loss": 0.1} for k in range(1, 40)]  # loss-only rows
    wobble = [0.02, -0.02, 0.02, -0.02, 0.02, -0.02]
    for k, w in enumerate(wobble):  # 30.0 dB at 0 h, +0.04 dB per hour, +-0.02 wobble, one eval per 30 min
        rows.append({"step": 1000 * (k + 1), "wall_time_s": 1800.0 * k, "psnr_25": 30.0 + 0.02 * k + w})
    _write_log(tmp_path / "log.csv", rows)
    pts = dev_curve(tmp_path, 25)
    assert [p[0] for p in pts] == [1000, 2000, 3000, 4000, 5000, 6000] and pts[1][1] == 0.5
    t = np.array([p[1] for p in pts])
    ref = np.sum((t - t.mean()) * (np.array([p[2] for p in pts]) - np.mean([p[2] for p in pts]))) / np.sum(
        (t - t.mean()) ** 2)
    r = dev_rate(pts)
    assert abs(r.rate_db_per_hour - ref) < 1e-9 and r.n_points == 6 and abs(r.hours - 2.5) < 1e-12
    assert dev_rate(pts, since_step=3000).first[0] == 3000
    assert dev_rate(pts, last_hours=1.0).n_points == 3
    assert main([str(tmp_path), "--threshold", "0.05"]) == 0
    out = capsys.readouterr().out
    assert f"{ref:+.3f} dB per hour" in out and "below the stop rule" in out
    with pytest.raises(ValueError, match="at least 3 dev evaluations"):
        dev_rate(pts, since_step=5000)
    with pytest.raises(ValueError, match="no dev PSNR at sigma 30; it has sigma 15, 25, 50"):
        dev_curve(tmp_path, 30)
    with pytest.raises(FileNotFoundError, match="no training log"):
        dev_curve(tmp_path / "missing")
