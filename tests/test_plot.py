import json

import pytest

from gptkit.errors import UserError
from plot import main, moving_average, plot_runs


def test_moving_average():
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert moving_average([1.0, 2.0], 1) == [1.0, 2.0]


def test_a_run_without_metrics_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="no metrics.jsonl in"):
        plot_runs([tmp_path], tmp_path / "loss.png")


def test_plot_writes_the_png_into_the_first_run(tmp_path, capsys):
    records = [{"step": s, "loss": 5.0 / s, "tokens": 100 * s} for s in range(1, 6)] + [{"step": 5, "val_loss": 1.2}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    main([str(tmp_path), "--smooth", "2"])
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'loss.png'}"
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
