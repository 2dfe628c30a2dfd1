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

Anything else (mathtext, TeX, characters outside Latin-1, text with font features or a
language set, or a Matplotlib whose internals differ from those checked at import) is
drawn by Matplotlib's own method.
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.ft2font import FT2Font

#: Whether this Matplotlib has what the one-pass text needs (3.11's private
#: ``RendererAgg._prepare_font`` and FreeType's whole-string rendering); else every text is
#: drawn by Matplotlib's own method.
ONE_PASS_TEXT = all(
    hasattr(FT2Font, name)
    for name in ("set_text", "draw_glyphs_to_bitmap", "get_image", "get_bitmap_offset")
) and hasattr(RendererAgg, "_prepare_font")


def _plain(s: str) -> bool:
    try:
        s.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class Renderer(RendererAgg):
    """Matplotlib's Agg renderer, with each line of plain text drawn in one pass."""

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
        font = self._prepare_font(prop)
        # angle 0 here: draw_text_image rotates the rendered image
        font.set_text(s, 0, flags=get_hinting_flag())
        font.draw_glyphs_to_bitmap(antialiased=gc.get_antialiased())
        descent = font.get_descent() / 64.0
        xo, yo = font.get_bitmap_offset()
        radians = math.radians(angle)
        x = round(x + xo / 64.0 + descent * math.sin(radians))
        y = round(y + yo / 64.0 + descent * math.cos(radians))
        self._renderer.draw_text_image(font.get_image(), x, y + 1, angle, gc)


class Canvas(FigureCanvasAgg):
    """An Agg canvas that renders with :class:`Renderer` (its PNG is written by
    :func:`sim.outputs.plots.save_png`)."""

    def get_renderer(self) -> RendererAgg:
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = Renderer(w, h, self.figure.dpi)
            self._lastKey = key
        return self.renderer
