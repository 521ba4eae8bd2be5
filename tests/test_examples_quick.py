"""The long examples in their short forms, run as a user runs them (a subprocess each): examples/deep_r_classifier.py
--quick and examples/topographic_map.py (60 s simulated, a few seconds of wall time on the compiled path)."""

import json
import os
import re
import subprocess
import sys

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _run(args, cwd, timeout=300):
    result = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_deep_r_classifier_quick(tmp_path):
    """--quick trains the three models of the full run (same network: 64 inputs, 128 hidden, 10 % density)
    for 2 epochs on 320 training and 80 test samples, prints an accuracy per model and writes the JSON and the
    figures."""
    out = tmp_path / "quick"
    stdout = _run([os.path.join(EXAMPLES, "deep_r_classifier.py"), "sparsegpu", "--quick", "--quiet",
                   "--out", str(out)], cwd=tmp_path)
    assert "task digits: 320 training and 80 test samples" in stdout
    printed = {kind: float(acc) for kind, acc in re.findall(r"^(\w+)\s+test accuracy (\d\.\d+)", stdout, re.M)}
    assert set(printed) == {"dense", "static", "deep_r"}
    summary = json.loads((out / "deep_r_classifier.json").read_text())
    assert summary["args"]["epochs"] == 2 and summary["args"]["hidden"] == 128
    results = summary["results"]
    for kind, acc in printed.items():
        r = results[kind]
        assert 0.0 <= r["test_accuracy"] <= 1.0
        assert abs(r["test_accuracy"] - acc) < 1e-4
        assert len(r["history"]["epoch"]) == 2
        assert np.isfinite(r["history"]["loss"]).all()
    assert results["dense"]["synapses_end"] == {"input": 64 * 128, "recurrent": 128 * 128}
    assert results["dense"]["test_accuracy"] > 0.3                   # chance is 0.1
    # the sparse models start from the same draw; DEEP R keeps the number of synapses
    assert results["static"]["synapses_start"] == results["deep_r"]["synapses_start"]
    for kind in ("static", "deep_r"):
        r = results[kind]
        assert r["synapses_end"] == r["synapses_start"]
        for name, possible in (("input", 64 * 128), ("recurrent", 128 * 128)):
            n, mean = r["synapses_end"][name], 0.1 * possible
            assert abs(n - mean) < 5 * np.sqrt(mean * 0.9), (kind, name, n)
    for name in ("accuracy", "rewiring", "connectivity", "synapses_per_pixel"):
        assert (out / f"{name}.png").stat().st_size > 1000


def test_topographic_map_reports_changes_with_their_sign(tmp_path):
    """The default 60 s run at scale 1: the map refines, and the printed change of each metric is negative for
    a decrease, as docs/topographic_map.md writes it, and equals the JSON's change_pct."""
    path = tmp_path / "topographic.json"
    stdout = _run([os.path.join(EXAMPLES, "topographic_map.py"), "sparsegpu", "--no-figures",
                   "--out", str(tmp_path), "--json", str(path)], cwd=tmp_path)
    metrics = json.loads(path.read_text())["map_metrics"]["ff"]
    for key, label in (("centre_error", "mean centre error"), ("sigma_aff", "mean sigma_aff")):
        m = metrics[key]
        assert m["end"] < m["start"]
        assert abs(m["change_pct"] - 100.0 * (m["end"] / m["start"] - 1.0)) < 1e-9
        printed = re.search(rf"{label}\s+\S+ -> \S+\s+\(([+-]\d+\.\d) %\)", stdout)
        assert printed, stdout
        assert float(printed.group(1)) == round(m["change_pct"], 1) < 0
