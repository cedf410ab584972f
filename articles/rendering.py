"""Markdown in, sanitized HTML (and, for an email's text part, readable plain text) out. Runs
when an article or a campaign is saved, never on a page view."""

import html
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import nh3
from django.urls import reverse
from django.utils.text import slugify
from markdown_it import MarkdownIt

WORDS_PER_MINUTE = 220
DEPTH_TIERS = ("fundamentals", "intermediate", "academic")

ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre",
    "code", "em", "strong", "del", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
    "div", "span", "dfn",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "loading", "decoding"},
    "h2": {"id", "class"},
    "h3": {"id", "class"},
    "h4": {"id"},
    "ol": {"start"},
    "code": {"class"},
    "div": {"class", "role", "aria-label", "tabindex"},
    "span": {"class"},
    "dfn": {"id"},
}
# A table column's alignment is a class: the Content-Security-Policy refuses inline styles.
ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
ALLOWED_ATTRIBUTE_VALUES = {"th": {"class": ALIGN_CLASSES}, "td": {"class": ALIGN_CLASSES}}
# Text inside these is never turned into a glossary definition.
NO_GLOSSARY_INSIDE = {"a", "h2", "h3", "h4", "h5", "h6", "code", "pre", "dfn", "th"}
# A paragraph reads through with at most one definition spelled out in it; the next terms in
# the same block link to theirs (one tap away).
BLOCKS = {"p", "li", "td", "dd", "blockquote"}


class GlossaryEntry(Protocol):
    slug: str
    definition: str

    @property
    def spellings(self) -> list[str]: ...


@dataclass
class Rendered:
    html: str
    text: str
    toc: list[dict] = field(default_factory=list)


def split_lines(value: str) -> list[str]:
    return [line.strip(" -*\t") for line in value.splitlines() if line.strip(" -*\t")]


def reading_minutes(text: str) -> int:
    return max(1, math.ceil(len(text.split()) / WORDS_PER_MINUTE))


def _table_open(renderer, tokens, idx, options, env) -> str:
    label = html.escape(tokens[idx].meta.get("label", "Table"), quote=True)
    return f'<div class="table-wrap" role="region" aria-label="{label}" tabindex="0">\n<table>\n'


def _table_close(renderer, tokens, idx, options, env) -> str:
    return "</table>\n</div>\n"


def _cell_open(renderer, tokens, idx, options, env) -> str:
    align = tokens[idx].attrs.pop("style", "").removeprefix("text-align:")
    if align:
        tokens[idx].attrSet("class", f"align-{align}")
    return renderer.renderToken(tokens, idx, options, env)


def _image(renderer, tokens, idx, options, env) -> str:
    tokens[idx].attrSet("loading", "lazy")
    tokens[idx].attrSet("decoding", "async")
    return renderer.image(tokens, idx, options, env)


def _markdown(*, breaks: bool = False) -> MarkdownIt:
    # Raw HTML is off: whatever an editor types as a tag is shown as text, never run.
    md = MarkdownIt("commonmark", {"html": False, "typographer": True, "breaks": breaks})
    md.enable(["table", "strikethrough", "replacements", "smartquotes"])
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    md.add_render_rule("th_open", _cell_open)
    md.add_render_rule("td_open", _cell_open)
    md.add_render_rule("image", _image)
    return md


_MD = _markdown()
# For email, where a single line break is meant as one (an address, a sign-off).
_MD_BREAKS = _markdown(breaks=True)


def _prepare_headings(tokens: list) -> list[dict]:
    """Shift headings so the body starts at h2 (the title is the page's h1), give h2/h3 ids,
    mark depth tiers, name each table after the heading it sits under, and collect the table
    of contents."""
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = max(0, 2 - min(levels)) if levels else 0
    toc, seen, current = [], set(), ""
    for index, token in enumerate(tokens):
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + shift)}"
        if token.type == "heading_open":
            text = tokens[index + 1].content.strip()
            current = text
            level = int(token.tag[1])
            if level > 3:
                continue
            base = slugify(text)[:60] or "section"
            anchor, n = base, 2
            while anchor in seen:
                anchor, n = f"{base}-{n}", n + 1
            seen.add(anchor)
            token.attrSet("id", anchor)
            tier = level == 2 and text.lower().split(":")[0].strip() in DEPTH_TIERS
            if tier:
                token.attrSet("class", "tier")
            toc.append({"level": level, "text": text, "id": anchor, "tier": tier})
        elif token.type == "table_open":
            token.meta["label"] = current or "Table"
    return toc


def sanitize(markup: str) -> str:
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        tag_attribute_values=ALLOWED_ATTRIBUTE_VALUES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


_TAG = re.compile(r"(<[^>]*>)")


def mark_glossary_terms(markup: str, glossary: Iterable[GlossaryEntry]) -> str:
    """Wrap the first use of each glossary term in a <dfn> linking to its glossary entry and,
    for the first term of a paragraph, followed by its plain-English definition, inline, so it
    reads aloud and prints without JavaScript. Runs on markdown-it's output, where every
    attribute value is escaped, and before sanitizing."""
    patterns = []
    for entry in glossary:
        spellings = sorted(entry.spellings, key=len, reverse=True)
        words = "|".join(re.escape(html.escape(s)) for s in spellings)
        # Not inside a character reference (&amp;, &#39;): the text here is escaped HTML.
        patterns.append((re.compile(rf"(?<![\w&#-])({words})(?![\w-])", re.IGNORECASE), entry))
    if not patterns:
        return markup
    glossary_url = reverse("articles:glossary")
    pieces, blocked, spelled_out = _TAG.split(markup), [], False
    for i, piece in enumerate(pieces):
        if piece.startswith("<"):
            name = (piece.strip("</>").split() or [""])[0].lower()
            if name in BLOCKS and not piece.startswith("</"):
                spelled_out = False
            if name in NO_GLOSSARY_INSIDE:
                if not piece.startswith("</"):
                    blocked.append(name)
                elif name in blocked:
                    blocked.remove(name)
            continue
        if blocked or not patterns or not piece.strip():
            continue
        found = sorted(
            (m.start(), m.end(), m.group(1), pattern, entry)
            for pattern, entry in patterns
            if (m := pattern.search(piece))
        )
        out, cursor = [], 0
        for start, end, text, pattern, entry in found:
            if start < cursor:
                continue  # overlaps a longer term already marked; may match further on
            definition = html.escape(entry.definition.strip().rstrip("."))
            link = f'<a href="{glossary_url}#{entry.slug}">{text}</a>'
            out.append(piece[cursor:start])
            if spelled_out:
                out.append(f'<dfn id="term-{entry.slug}" title="{definition}">{link}</dfn>')
            else:
                out.append(
                    f'<dfn id="term-{entry.slug}">{link}</dfn>'
                    f'<span class="gloss"> (in plain English: {definition})</span>'
                )
                spelled_out = True
            cursor = end
            patterns.remove((pattern, entry))
        pieces[i] = "".join(out) + piece[cursor:]
    return "".join(pieces)


def _plain_text(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", _TAG.sub(" ", markup))).strip()


def render_markdown(
    source: str, *, glossary: Iterable[GlossaryEntry] = (), breaks: bool = False
) -> Rendered:
    """`breaks`: a single line break is a <br>, as in an email, not a space."""
    md = _MD_BREAKS if breaks else _MD
    tokens = md.parse(source or "")
    toc = _prepare_headings(tokens)
    raw = md.renderer.render(tokens, md.options, {})
    return Rendered(
        html=sanitize(mark_glossary_terms(raw, glossary)), text=_plain_text(raw), toc=toc
    )


# --- plain text ------------------------------------------------------------------------------


def render_text(source: str) -> str:
    """Markdown as an email's plain-text part reads: headings underlined, list items marked,
    emphasis dropped, each link a numbered note listed at the end, line breaks as written."""
    writer = _TextWriter()
    for token in _MD.parse(source or ""):
        writer.take(token)
    return writer.text()


class _TextWriter:
    INDENT = "   "

    def __init__(self):
        self.blocks: list[tuple[str, bool]] = []  # (text, joined to the one before by one line)
        self.notes: list[str] = []
        self.lists: list[dict] = []
        self.marker = ""
        self.heading = 0
        self.quote = 0
        self.tight = False
        self.row: list[str] | None = None
        self.fresh = False  # a list or table begins: its first line stands apart

    def take(self, token) -> None:
        kind = token.type
        if kind == "heading_open":
            self.heading = int(token.tag[1])
        elif kind == "heading_close":
            self.heading = 0
        elif kind == "paragraph_open":
            self.tight = token.hidden  # a paragraph of a tight list: items one line apart
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1)
            self.lists.append({"ordered": kind == "ordered_list_open", "next": start})
            self.fresh = len(self.lists) == 1  # a nested list follows its item directly
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            current = self.lists[-1]
            self.marker = f"{current['next']}. " if current["ordered"] else "- "
            current["next"] += 1
        elif kind == "blockquote_open":
            self.quote += 1
        elif kind == "blockquote_close":
            self.quote -= 1
        elif kind == "table_open":
            self.fresh = True
        elif kind == "tr_open":
            self.row = []
        elif kind == "tr_close":
            self.add(" | ".join(self.row or []), item=True)
            self.row = None
        elif kind == "hr":
            self.add("* * *")
        elif kind in ("fence", "code_block"):
            self.add("\n".join(self.INDENT + line for line in token.content.rstrip().split("\n")))
        elif kind == "inline":
            self.inline(token.children or [])

    def inline(self, children) -> None:
        text = _inline_text(children, self.notes)
        if self.row is not None:
            self.row.append(" ".join(text.split()))
        elif self.heading:
            self.add(f"{text}\n{('=' if self.heading <= 2 else '-') * len(text)}")
        else:
            self.add(text, item=bool(self.marker) or self.tight)

    def add(self, text: str, *, item: bool = False) -> None:
        """A block; a list item's first line carries its marker, the rest line up under it."""
        indent = self.INDENT * max(0, len(self.lists) - 1)
        lines = text.split("\n")
        if self.lists:
            first = indent + self.marker if self.marker else indent + " " * 2
            lines = [first + lines[0], *(indent + "  " + line for line in lines[1:])]
            if self.marker and self.lists[-1]["ordered"]:
                lines[1:] = [" " + line for line in lines[1:]]
        self.marker = ""
        if self.quote:
            lines = [("> " * self.quote + line).rstrip() for line in lines]
        text = "\n".join(lines)
        if item and not self.fresh and self.blocks and self.blocks[-1][1]:
            previous, _ = self.blocks.pop()
            text = previous + "\n" + text
        self.blocks.append((text, item and (self.tight or self.row is not None)))
        self.fresh = False

    def text(self) -> str:
        body = "\n\n".join(block for block, _ in self.blocks)
        if self.notes:
            body += "\n\n" + "\n".join(f"[{n}] {url}" for n, url in enumerate(self.notes, 1))
        return body


def _inline_text(children, notes: list[str]) -> str:
    parts: list[str] = []
    href, start = None, 0
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "link_open":
            href, start = child.attrGet("href"), len(parts)
        elif child.type == "link_close":
            label = "".join(parts[start:]).strip()
            if href and label not in (href, href.removeprefix("mailto:")):
                parts.append(f" [{_note(notes, href.removeprefix('mailto:'))}]")
            href = None
        elif child.type == "image":
            source = child.attrGet("src")
            parts.append(f"{child.content} [{_note(notes, source)}]" if source else child.content)
    return "".join(parts)


def _note(notes: list[str], url: str) -> int:
    if url not in notes:
        notes.append(url)
    return notes.index(url) + 1
