"""Markdown in, sanitized HTML out. Runs when an article is saved, never on a page view."""

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
    "th": {"style"},
    "td": {"style"},
    "div": {"class", "role", "aria-label", "tabindex"},
    "span": {"class"},
    "dfn": {"id"},
}
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


def _image(renderer, tokens, idx, options, env) -> str:
    tokens[idx].attrSet("loading", "lazy")
    tokens[idx].attrSet("decoding", "async")
    return renderer.image(tokens, idx, options, env)


def _markdown() -> MarkdownIt:
    # Raw HTML is off: whatever an editor types as a tag is shown as text, never run.
    md = MarkdownIt("commonmark", {"html": False, "typographer": True})
    md.enable(["table", "strikethrough", "replacements", "smartquotes"])
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    md.add_render_rule("image", _image)
    return md


_MD = _markdown()


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
        url_schemes={"http", "https", "mailto"},
        filter_style_properties={"text-align"},
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


def render_markdown(source: str, *, glossary: Iterable[GlossaryEntry] = ()) -> Rendered:
    tokens = _MD.parse(source or "")
    toc = _prepare_headings(tokens)
    raw = _MD.renderer.render(tokens, _MD.options, {})
    return Rendered(
        html=sanitize(mark_glossary_terms(raw, glossary)), text=_plain_text(raw), toc=toc
    )
