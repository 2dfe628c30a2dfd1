"""The run figures' canvas draws plain text in one pass, close to Matplotlib's own drawing,
and leaves everything else to Matplotlib."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure

from sim.outputs import canvas as C


def _pixels(canvas_class, text: str, **kw) -> np.ndarray:
    fig = Figure(figsize=(3, 3), dpi=150)
    canvas_class(fig)
    fig.text(0.3, 0.3, text, fontsize=9, **kw)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def _ink(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dark = (pixels < 200).any(axis=2)
    rows, cols = np.nonzero(dark)
    return np.array([rows.min(), rows.max(), cols.min(), cols.max()]), dark


@pytest.mark.parametrize(
    "text, kw, pixels, ink",
    [
        ("Movements since 26 Apr: 645,642 by 31 Aug", {}, 1, 0.05),
        ("Ma'arrat an-Nu'man 1.2M", {"weight": "bold"}, 1, 0.05),
        # rotated: the line's image is rotated, where Matplotlib 3.11 rotates each glyph
        # before rendering it (as Matplotlib 3.10 and earlier drew every text)
        ("People (blue, black)", {"rotation": 90}, 2, 0.2),
        ("Kafr Nabl 36.4k", {"rotation": 30}, 2, 0.2),
    ],
)
def test_one_pass_text_is_drawn_where_matplotlib_draws_it(text, kw, pixels, ink):
    assert C.ONE_PASS_TEXT  # the Matplotlib this project requires has the one-pass calls
    ours, theirs = _pixels(C.Canvas, text, **kw), _pixels(FigureCanvasAgg, text, **kw)
    (box_ours, ink_ours), (box_theirs, ink_theirs) = _ink(ours), _ink(theirs)
    # the same glyphs, placed within a pixel or two of each other
    assert np.abs(box_ours - box_theirs).max() <= pixels
    assert abs(int(ink_ours.sum()) - int(ink_theirs.sum())) <= ink * ink_theirs.sum()


def test_plain_text_does_not_take_matplotlibs_per_glyph_path(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("plain text went to RendererAgg.draw_text")

    monkeypatch.setattr(RendererAgg, "draw_text", refuse)
    _pixels(C.Canvas, "Atmeh 120k")  # does not raise


@pytest.mark.parametrize("text", ["حلب 120k", r"$\alpha$ 5 km", "Idlib → Atmeh"])
def test_other_text_is_drawn_by_matplotlib(text):
    """Characters outside Latin-1 (fonts may fall back, scripts may run right to left) and
    mathtext go to Matplotlib's own method: the same pixels as its canvas."""
    assert np.array_equal(_pixels(C.Canvas, text), _pixels(FigureCanvasAgg, text))


def test_without_the_one_pass_calls_matplotlib_draws_everything(monkeypatch):
    monkeypatch.setattr(C, "ONE_PASS_TEXT", False)
    text = "Movements since 26 Apr: 645,642"
    assert np.array_equal(_pixels(C.Canvas, text), _pixels(FigureCanvasAgg, text))


def test_the_canvas_keeps_its_renderer_while_the_size_stays():
    fig = Figure(figsize=(2, 1), dpi=150)
    canvas = C.Canvas(fig)
    first = canvas.get_renderer()
    assert isinstance(first, C.Renderer)
    assert canvas.get_renderer() is first
    fig.set_size_inches(3, 1)
    assert canvas.get_renderer() is not first


@pytest.mark.parametrize("weight", ["normal", "bold"])
@pytest.mark.parametrize(
    "text", ["250k", "Movements since 26 Apr: 645,642 by 31 Aug", "Idlib → Atmeh"]
)
def test_measures_are_matplotlibs(text, weight):
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=8.5, weight=weight)
    ours = C.Canvas(Figure(dpi=150)).get_renderer()
    theirs = FigureCanvasAgg(Figure(dpi=150)).get_renderer()
    assert ours.get_text_width_height_descent(
        text, prop, False
    ) == theirs.get_text_width_height_descent(text, prop, False)


def test_a_line_is_laid_out_once_for_every_figure_of_the_process():
    from matplotlib.font_manager import FontProperties

    C._line.cache_clear()
    prop = FontProperties(size=9)
    for _ in range(3):  # three figures, each with its own renderer
        renderer = C.Canvas(Figure(dpi=150)).get_renderer()
        renderer.get_text_width_height_descent("Sarmada 41.2k", prop, False)
    assert C._line.cache_info().misses == 1
    assert C._line.cache_info().hits == 2
    # another size, or another resolution, is another layout
    C.Canvas(Figure(dpi=100)).get_renderer().get_text_width_height_descent(
        "Sarmada 41.2k", prop, False
    )
    assert C._line.cache_info().misses == 2


def test_a_renderer_that_refuses_the_one_pass_image_falls_back_to_matplotlib():
    """A Matplotlib whose C renderer takes other arguments still gets its text drawn (by
    Matplotlib's own method)."""

    class Refuses:  # the C renderer, refusing the first text image (the one-pass one)
        def __init__(self, inner):
            self.inner, self.refused = inner, False

        def draw_text_image(self, *args):
            if not self.refused:
                self.refused = True
                raise TypeError("draw_text_image(): incompatible function arguments")
            return self.inner.draw_text_image(*args)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    text = "Sarmada 41.2k"
    fig = Figure(figsize=(3, 3), dpi=150)
    canvas = C.Canvas(fig)
    fig.text(0.3, 0.3, text, fontsize=9)
    renderer = canvas.get_renderer()
    renderer._renderer = Refuses(renderer._renderer)
    canvas.draw()
    assert renderer._renderer.refused
    renderer._renderer = renderer._renderer.inner  # the pixels are the C renderer's buffer
    ours = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    assert np.array_equal(ours, _pixels(FigureCanvasAgg, text))


def test_fonts_that_refuse_the_one_pass_calls_leave_the_text_to_matplotlib(monkeypatch):
    def refuse(*a, **k):
        raise TypeError("set_text(): incompatible function arguments")

    monkeypatch.setattr(C, "_line", refuse)
    text = "Movements since 26 Apr: 645,642"
    assert np.array_equal(_pixels(C.Canvas, text), _pixels(FigureCanvasAgg, text))
