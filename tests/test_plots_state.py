"""The paper figures leave matplotlib's global state alone (backend, pyplot, open figures).

Run in a fresh interpreter (a real subprocess), because the state checked is process-wide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import requires_plot

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import matplotlib
    matplotlib.use("svg")  # the user's choice, not Agg
    from xbarsim.experiments import kim2024 as k, kim2024_plots as kp, romero_plots as rp

    out = Path(sys.argv[1])
    res = k.run_kim2024(5, 0, voltages=(5.0,), backend="ideal", settings=k.TrainSettings(epochs=60))
    study = k.run_study(5, n_seeds=2, models_per_seed=2, settings=k.TrainSettings(epochs=30))
    rows = [
        dict(dataset="mnist", arch=a, label=f"{a}-{h}", layers=1, conv=1, filters=8, pool=2, hidden=h,
             n_synapses=100 * h, levels=lv, accuracy_float=0.9, accuracy_quantized=0.9 - 0.1 / lv)
        for a in ("mlp", "cnn") for h in (16, 32) for lv in (2, 4)
    ]

    def draw(tag):
        return [
            kp.plot_levels(res, out / f"{tag}3.png"),
            kp.plot_range_vs_q(study, out / f"{tag}4a.png"),
            kp.plot_groups_vs_epoch(study, out / f"{tag}5.png"),
            kp.plot_current_gap(res, out / f"{tag}6b.png"),
            rp.plot_synapses(rows, out / f"{tag}s.png"),
            rp.plot_accuracy_vs_hidden(rows, "mnist", out / f"{tag}h.png"),
            rp.plot_mlp_vs_cnn(rows, out / f"{tag}m.png"),
        ]

    paths = draw("a")
    assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
    assert "matplotlib.pyplot" not in sys.modules, "plotting imported pyplot"
    import matplotlib.pyplot as plt  # a notebook user with an open figure
    plt.figure()
    paths += draw("b")
    assert plt.get_fignums() == [1], plt.get_fignums()
    assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
    for p in paths:
        assert p.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n", p
    print("ok", len(paths))
    """
)


@requires_plot
def test_plots_leave_backend_and_pyplot_alone(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": ""}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ok", "14"]
