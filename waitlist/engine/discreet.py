"""Discreet mode: the condition words kept in admin (`DiscreetWord`) may appear in a message's
body, never in what shows before it is opened or what leaves the site around it — the sender's
name, the subject and preheader (a lock screen shows them), the List-Id, Feedback-ID and
Message-ID headers, link paths (an email service's click log, a browser's history), the email
service's tags and metadata, a webhook's payload, a campaign's name. Each check says which word
and where, so an operator can reword it.

A word matches whole ("ED" is not found in "launched"); hyphens, underscores, slashes, dots and
spaces match each other, so "hair loss" finds /hair-loss/. A short word in capitals ("ED",
"TRT") is an abbreviation and matches only in capitals, except in a link's path, which has no
case to go by."""

import re
from collections.abc import Iterable
from email.utils import parseaddr
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from django.conf import settings

from ..models.privacy import DiscreetWord
from . import messages

SEPARATORS = re.compile(r"[\s\-_/+.]+")


def _normal(text: str) -> str:
    return SEPARATORS.sub(" ", unquote(text)).strip()


def _abbreviation(word: str) -> bool:
    letters = word.replace(" ", "")
    return letters.isupper() and len(letters) <= 3


def words(*, using: str = "default") -> list[str]:
    if not settings.DISCREET_MODE:
        return []
    return list(DiscreetWord.objects.using(using).values_list("word", flat=True))


def found(text: str, listed: Iterable[str], *, any_case: bool = False) -> list[str]:
    """The listed words that occur in `text`, each once, as listed."""
    text = _normal(text)
    hits = []
    for word in listed:
        normal = _normal(word)
        if not normal:
            continue
        flags = 0 if _abbreviation(normal) and not any_case else re.IGNORECASE
        pattern = rf"(?<![^\W_]){re.escape(normal)}(?:e?s)?(?![^\W_])"
        if re.search(pattern, text, flags) and word not in hits:
            hits.append(word)
    return hits


def findings(
    fields: dict[str, str | list[str]], *, using: str = "default", listed: list[str] | None = None
) -> list[str]:
    """What in `fields` ({where, as an operator reads it: its text, or link paths}) names a
    listed word: one sentence for each, [] if nothing does."""
    listed = words(using=using) if listed is None else listed
    if not listed:
        return []
    problems = []
    for where, value in fields.items():
        paths = isinstance(value, list)
        for text in value if paths else [value]:
            for word in found(text, listed, any_case=paths):
                shown = f"{where} ({text})" if paths else where
                problems.append(
                    f"“{word}” is in {shown}: discreet mode keeps condition words out of what "
                    "shows before an email is opened or leaves the site around it."
                )
    return problems


def sender_fields() -> dict[str, str]:
    """What travels with every email outside its body, from settings."""
    name = parseaddr(settings.DEFAULT_FROM_EMAIL)[0]
    return {
        "the sender's name (DEFAULT_FROM_EMAIL)": name,
        "the List-Id header (SITE_NAME)": messages.list_id(),
        "the Message-ID and Feedback-ID domain (SITE_URL)": messages.message_id_domain(),
    }


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paths: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href") if tag == "a" else None
        if href and not href.startswith(("mailto:", "tel:", "#")):
            link = urlsplit(href)
            path = link.path + (f"?{link.query}" if link.query else "")
            if path.strip("/") and path not in self.paths:
                self.paths.append(path)


def link_paths(html: str) -> list[str]:
    """The path (and query) of each link in `html`, each once."""
    reader = _Links()
    reader.feed(html)
    reader.close()
    return reader.paths
