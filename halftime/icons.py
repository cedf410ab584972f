"""The site's icons, drawn here: an "H" of three bars on the brand's rounded square. The same
shape as static/img/icon.svg, in the sizes browsers and phones ask for."""

import functools
import io

from PIL import Image, ImageDraw

ACCENT = (11, 85, 99)  # site.css --accent
PAPER = (255, 255, 255)
SIZES = (180, 192, 512)  # the phone's home-screen icon, the web manifest's two
# In a 64-unit square: the corner radius and the bars of the H (left, top, right, bottom).
RADIUS = 12
BARS = ((16, 14, 26, 50), (38, 14, 48, 50), (26, 28, 38, 36))


def _mark(size: int) -> Image.Image:
    scale = size * 4 / 64  # drawn four times larger, then scaled down: smooth edges
    big = Image.new("RGBA", (size * 4, size * 4), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    draw.rounded_rectangle((0, 0, size * 4 - 1, size * 4 - 1), RADIUS * scale, fill=ACCENT)
    for bar in BARS:
        draw.rectangle(tuple(round(edge * scale) for edge in bar), fill=PAPER)
    return big.resize((size, size), Image.Resampling.LANCZOS)


@functools.cache
def png(size: int) -> bytes:
    out = io.BytesIO()
    _mark(size).save(out, format="PNG", optimize=True)
    return out.getvalue()


@functools.cache
def ico() -> bytes:
    out = io.BytesIO()
    _mark(48).save(out, format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    return out.getvalue()
