"""Share images (og:image): the brand's card with a kicker and a title, 1200 × 630 PNG, drawn
here with Pillow's own font, so no font file or outside service is needed."""

import io

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1200, 630
MARGIN = 80
ACCENT = (11, 85, 99)  # site.css --accent
PAPER = (255, 255, 255)
WASH = (191, 221, 226)


def _lines(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Words wrapped to `width` pixels; a word longer than that stands on its own line."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def card(*, title: str, kicker: str, footer: str) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), ACCENT)
    draw = ImageDraw.Draw(image)
    room, top, bottom = WIDTH - 2 * MARGIN, MARGIN + 70, HEIGHT - 150
    for size in (76, 68, 60, 52, 46, 40):  # the largest that fits the title above the footer
        font, step = ImageFont.load_default(size=size), int(size * 1.22)
        lines = _lines(draw, title, font, room)
        if top + len(lines) * step <= bottom:
            break
    else:
        fit = (bottom - top) // step
        lines = lines[: fit - 1] + [lines[fit - 1] + " …"]
    draw.text((MARGIN, MARGIN), kicker.upper(), font=ImageFont.load_default(size=30), fill=WASH)
    for line in lines:
        draw.text((MARGIN, top), line, font=font, fill=PAPER)
        top += step
    draw.rectangle((MARGIN, HEIGHT - 130, MARGIN + 120, HEIGHT - 124), fill=WASH)
    draw.text((MARGIN, HEIGHT - 105), footer, font=ImageFont.load_default(size=34), fill=PAPER)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
