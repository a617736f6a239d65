"""``tubelet explain --fps``: the overlay video is written at the rate asked for, fractional rates included (they were
rounded to a whole number), and a rate that is not a positive number is a usage error."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from tests.test_explain import small_run  # noqa: F401  (the fixture of the small model, its checkpoint and a clip)
import tubelet
from tubelet import cli
from tubelet.errors import UsageError
from tubelet.tasks.explain import write_overlay


def _rate_and_duration(path) -> tuple[Fraction, float]:
    """The stream's frame rate and its length in seconds, as the container states them."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return Fraction(s.average_rate), float(s.duration * s.time_base)


@pytest.mark.parametrize("fps,rate", [(2.5, Fraction(5, 2)), (29.97, Fraction(2997, 100)), (0.5, Fraction(1, 2)),
                                      (12, Fraction(12))])
def test_write_overlay_keeps_a_fractional_rate(tmp_path, fps, rate):
    frames = np.full((6, 24, 30, 3), 90, np.uint8)
    sal = np.random.default_rng(0).random((6, 12, 15)).astype(np.float32)
    files = write_overlay(frames, sal, tmp_path / "x.explain", fps=fps)
    got, seconds = _rate_and_duration(files["video"])
    assert got == rate
    assert seconds == pytest.approx(6 / fps, rel=1e-3)  # 6 frames at 2.5 fps last 2.4 s, not 3 s
    assert tubelet.read_video(files["video"]).shape[0] == 6


@pytest.mark.parametrize("fps", [0, -1.0, float("nan"), float("inf"), "4"])
def test_write_overlay_refuses_a_rate_that_is_no_positive_number(tmp_path, fps):
    with pytest.raises(UsageError, match="frame rate must be a positive number"):
        write_overlay(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8), np.float32), tmp_path / "x", fps=fps)
    assert list(tmp_path.iterdir()) == []



def test_cli_explain_fps_is_fractional(small_run):
    root, ckpt, video = small_run
    out = root / "out"
    assert cli.main(["explain", str(video), "--checkpoint", str(ckpt), "--fps", "2.5", "-o", str(out)]) == 0
    rate, seconds = _rate_and_duration(out / "clip.explain.mp4")
    assert rate == Fraction(5, 2) and seconds == pytest.approx(8 / 2.5, rel=1e-3)  # 8 sampled frames


@pytest.mark.parametrize("fps", ["0", "-3", "nan", "inf", "fast"])
def test_cli_explain_fps_must_be_a_positive_number(small_run, capsys, fps):
    root, ckpt, video = small_run
    with pytest.raises(SystemExit) as e:
        cli.main(["explain", str(video), "--checkpoint", str(ckpt), "--fps", fps, "-o", str(root / "bad")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--fps" in err and "frames per second" in err
    assert not (root / "bad").exists()
