"""benchmarks/sample.py (a script outside the package) runs end to end with tiny settings."""

from __future__ import annotations

import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sample.py"


def test_sample_benchmark_smoke(capsys):
    main = runpy.run_path(str(SCRIPT))["main"]
    assert main(["--steps", "2", "--repeat", "1", "--ula-iters", "2", "--skip-256", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "random-init DRUNet" in out and "1 sample 64x64, ancestral 2 steps" in out and "PnP-ULA iteration" in out
    assert main(["--prior", "no-such-prior"]) == 2
    assert "unknown prior" in capsys.readouterr().err
