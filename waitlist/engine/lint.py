"""What an email must be before it goes to a list: small enough that Gmail shows it whole,
readable by a screen reader, and readable without HTML. Each finding says what to change.

- `size`: the HTML part under CLIP_BYTES (Gmail clips a message's HTML past about 102 KB and
  hides the rest, the unsubscribe link with it).
- `lang`, `dir`: on `<html>`, so a screen reader speaks the right language, the right way.
- `layout-table`: a table without headers is layout: `role="presentation"`, or a screen
  reader announces rows and columns that mean nothing.
- `alt`: every image has an `alt` (empty for one that only decorates).
- `color-scheme`: a `<meta name="color-scheme">`, so a client in dark mode knows what the
  email was made for instead of guessing its colours.
- `link-text`: a link's words say where it goes ("Book your first visit", not "click here").
- `text-part`: a plain-text part, for clients and people who read without HTML."""

from dataclasses import dataclass
from html.parser import HTMLParser

CLIP_BYTES = 102 * 1024
# Link words that say nothing of where the link goes, compared lower-case, trimmed of
# punctuation.
VAGUE_LINKS = {
    "click here", "here", "click", "this", "link", "this link", "read more", "more",
    "learn more", "go", "see more", "details",
}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


class _Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.html_attrs: dict[str, str | None] | None = None
        self.color_scheme = False
        self.tables: list[dict] = []  # open tables: their role and whether a header was seen
        self.layout_tables = 0
        self.images_without_alt: list[str] = []
        self.links: list[dict] = []  # open links: their words and images' alt text
        self.vague_links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html" and self.html_attrs is None:
            self.html_attrs = attributes
        elif tag == "meta" and (attributes.get("name") or "").lower() == "color-scheme":
            self.color_scheme = bool((attributes.get("content") or "").strip())
        elif tag == "table":
            self.tables.append({"role": attributes.get("role"), "headers": False})
        elif tag in ("th", "caption") and self.tables:
            self.tables[-1]["headers"] = True
        elif tag == "img":
            if "alt" not in attributes:
                self.images_without_alt.append(attributes.get("src") or "an image")
            if self.links:
                self.links[-1]["words"].append(attributes.get("alt") or "")
        elif tag == "a" and attributes.get("href"):
            self.links.append({"words": [], "href": attributes["href"]})

    def handle_endtag(self, tag):
        if tag == "table" and self.tables:
            table = self.tables.pop()
            if not table["headers"] and table["role"] != "presentation":
                self.layout_tables += 1
        elif tag == "a" and self.links:
            link = self.links.pop()
            words = " ".join(" ".join(link["words"]).split()).strip(" .,:;!?→»›").lower()
            if not words or words in VAGUE_LINKS:
                self.vague_links.append(words or "(no words)")

    def handle_data(self, data):
        if self.links:
            self.links[-1]["words"].append(data)


def lint(*, html: str, text: str) -> list[Finding]:
    """What is wrong with an email whose parts are `html` and `text`; [] if nothing is."""
    findings = []
    size = len(html.encode())
    if size >= CLIP_BYTES:
        findings.append(Finding("size", (
            f"The HTML is {size / 1024:.0f} KB: Gmail clips it past 102 KB and hides the rest, "
            "the unsubscribe link with it. Shorten it."
        )))  # fmt: skip
    reader = _Reader()
    reader.feed(html)
    reader.close()
    attributes = reader.html_attrs or {}
    for name, words in (("lang", 'lang="en"'), ("dir", 'dir="ltr"')):
        if not (attributes.get(name) or "").strip():
            findings.append(Finding(name, (
                f"<html> has no {name}: add {words}, so a screen reader reads it in the right "
                + ("language." if name == "lang" else "direction.")
            )))  # fmt: skip
    if reader.layout_tables:
        findings.append(Finding("layout-table", (
            f"{reader.layout_tables} table(s) without headers lack role=\"presentation\": a "
            "screen reader would announce their rows and columns."
        )))  # fmt: skip
    for source in reader.images_without_alt:
        findings.append(Finding("alt", (
            f"The image {source} has no alt text: describe it, or alt=\"\" if it only decorates."
        )))  # fmt: skip
    if not reader.color_scheme:
        findings.append(Finding("color-scheme", (
            'No <meta name="color-scheme">: a client in dark mode would guess at its colours.'
        )))  # fmt: skip
    for words in reader.vague_links:
        findings.append(Finding("link-text", (
            f"A link reads “{words}”: say where it goes (“Book your first visit”)."
        )))  # fmt: skip
    if not text.strip():
        findings.append(Finding("text-part", "There is no plain-text part."))
    return findings
