"""benchmarks/denoiser.py (a script outside the package) runs end to end on a tiny set-up."""

from __future__ import annotations

import runpy

from training_fixtures import REPO, make_cache, tiny_config

SCRIPT = REPO / "benchmarks" / "denoiser.py"


def test_denoiser_benchmark_smoke(tmp_path, capsys):
    main = runpy.run_path(str(SCRIPT))["main"]
    cache = make_cache(tmp_path / "cache", n=2, size=48)
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(tiny_config(tmp_path).to_toml(), encoding="utf-8")
    assert main(["--size", "48", "--nets", "8,16,32,64:1", "--threads", "1", "--repeats", "1",
                 "--config", str(cfg_path), "--cache", str(cache), "--train-steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "random tensors" in out and "cached images" in out and "8,16,32,64" in out
    assert main(["--skip-train", "--nets", "8,16:1"]) == 2
    assert "--nets entries look like" in capsys.readouterr().err
