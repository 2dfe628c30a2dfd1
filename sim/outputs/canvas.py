"""The Agg canvas of the run's figures: Matplotlib's, with each line of plain text drawn in
one pass.

Matplotlib 3.11 draws text on Agg one glyph at a time from Python (the price of its new
text layout, which serves font features, languages and scripts laid out right to left). A
run's nine figures hold about 10,000 glyphs, and that loop was a third of their CPU time
(0.6-0.7 s of about 2.9 s, 2019 scenario at full scale). Our labels are plain Latin text in
one font, so :class:`Canvas` draws each line of it as Matplotlib 3.10 and earlier did:
FreeType lays out and renders the whole string in C (the same call Matplotlib uses to
measure the text, so the drawn text matches the measured extents), and the renderer
blends that one image. The glyphs are the same; only their sub-pixel placement differs, by
less than a pixel.

Measuring a line (FreeType lays it out: about 20 microseconds a character) is the other
half of the text's cost, and Matplotlib keeps its measures per renderer, so each new figure
measured its tick labels, titles and legends again (about 700 layouts for the nine figures).
:class:`Renderer` keeps a line's measures and its rendered image for the life of the
process (:func:`_line`, the most recent few thousand): what the figure worker measured while
it prepared the figures, and what one figure measured, serve every later figure, in the
worker and in the helper it forks.

Anything else (mathtext, TeX, characters outside Latin-1, text with font features or a
language set, text drawn without antialiasing, or a Matplotlib whose internals differ from
those checked at import) is measured and drawn by Matplotlib's own methods.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.font_manager import fontManager, get_font
from matplotlib.ft2font import FT2Font

#: Whether this Matplotlib has what the one-pass text needs (FreeType's whole-string layout
#: and rendering, and the font manager's private ``_find_fonts_by_props``, which Matplotlib's
#: renderer calls for the same fonts); else all text is Matplotlib's.
ONE_PASS_TEXT = all(
    hasattr(FT2Font, name)
    for name in ("set_text", "draw_glyphs_to_bitmap", "get_image", "get_bitmap_offset")
) and hasattr(fontManager, "_find_fonts_by_props")


def _plain(s: str) -> bool:
    try:
        s.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class _Line(NamedTuple):
    """A line of text as FreeType lays it out and renders it (pixels)."""

    width: float
    height: float
    descent: float
    #: where the image's top left corner lies from the line's origin, 1/64 pixel
    offset: tuple[int, int]
    #: the glyphs' coverage, rows x columns, 0-255 (antialiased)
    image: np.ndarray


@functools.lru_cache(maxsize=4096)
def _line(s: str, fonts: tuple[Any, ...], size: float, dpi: float, flags: Any) -> _Line:
    """Lay out and render ``s`` in ``fonts`` (the first, with the rest as fallbacks) at
    ``size`` points and ``dpi``."""
    font = get_font(list(fonts))
    font.clear()
    font.set_size(size, dpi)
    font.set_text(s, 0.0, flags=flags)
    width, height = font.get_width_height()
    descent = font.get_descent()
    font.draw_glyphs_to_bitmap(antialiased=True)
    image = np.array(font.get_image(), dtype=np.uint8)  # a copy: the font's buffer is reused
    return _Line(width / 64.0, height / 64.0, descent / 64.0, font.get_bitmap_offset(), image)


class Renderer(RendererAgg):
    """Matplotlib's Agg renderer, with each line of plain text measured once per process
    and drawn in one pass."""

    def _one_pass(self, s: str, prop: Any) -> _Line:
        fonts = tuple(fontManager._find_fonts_by_props(prop))
        return _line(s, fonts, prop.get_size_in_points(), self.dpi, get_hinting_flag())

    def get_text_width_height_descent(
        self, s: str, prop: Any, ismath: Any
    ) -> tuple[float, float, float]:
        if ismath or not ONE_PASS_TEXT or not _plain(s):
            return super().get_text_width_height_descent(s, prop, ismath)
        try:
            line = self._one_pass(s, prop)
        except (TypeError, AttributeError):  # a Matplotlib whose fonts take other arguments
            return super().get_text_width_height_descent(s, prop, ismath)
        return line.width, line.height, line.descent

    def draw_text(
        self,
        gc: Any,
        x: float,
        y: float,
        s: str,
        prop: Any,
        angle: float,
        ismath: Any = False,
        mtext: Any = None,
    ) -> None:
        if (
            ismath
            or not ONE_PASS_TEXT
            or not gc.get_antialiased()
            or not _plain(s)
            or (
                mtext is not None
                and (
                    getattr(mtext, "get_fontfeatures", lambda: None)()
                    or getattr(mtext, "get_language", lambda: None)()
                )
            )
        ):
            super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
            return
        try:
            line = self._one_pass(s, prop)  # laid out at angle 0: the image is rotated
            xo, yo = line.offset
            radians = math.radians(angle)
            ix = round(x + xo / 64.0 + line.descent * math.sin(radians))
            iy = round(y + yo / 64.0 + line.descent * math.cos(radians))
            self._renderer.draw_text_image(line.image, ix, iy + 1, angle, gc)
        except (TypeError, AttributeError):  # a Matplotlib whose internals take other arguments
            super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)


class Canvas(FigureCanvasAgg):
    """An Agg canvas that renders with :class:`Renderer` (its PNG is written by
    :func:`sim.outputs.plots.save_png`)."""

    def get_renderer(self) -> RendererAgg:
        # FigureCanvasAgg.get_renderer with our renderer (a renderer per size and dpi)
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if getattr(self, "_lastKey", None) != key or not isinstance(
            getattr(self, "renderer", None), Renderer
        ):
            self.renderer = Renderer(w, h, self.figure.dpi)
            self._lastKey = key
        return self.renderer
