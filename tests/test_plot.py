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


def test_runs_that_logged_bits_per_byte_get_a_third_panel_of_it(tmp_path):
    import struct

    def width(png):  # pixels, from the PNG's IHDR chunk
        return struct.unpack(">I", png.read_bytes()[16:20])[0]

    records = [{"step": s, "loss": 5.0 / s, "tokens": 100 * s} for s in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    plot_runs([tmp_path], tmp_path / "plain.png")
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 5, "val_loss": 1.2, "val_bpb": 0.9}) + "\n")
    plot_runs([tmp_path], tmp_path / "bpb.png")
    assert width(tmp_path / "plain.png") == 13 * 120 and width(tmp_path / "bpb.png") == 19.5 * 120
