"""Reading and checking article files (Markdown with YAML front matter, the format is in
DESIGN.md) and the glossary file, before anything is written. A problem is reported as
``file:line: what is wrong``."""

import datetime as dt
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.utils import timezone
from django.utils.text import slugify

from .models import Article, Source

ARTICLE_KEYS = {
    "title", "slug", "category", "label", "summary", "tldr", "faq", "sources", "author",
    "reviewer", "last_reviewed", "next_review_due", "status", "publish_at", "related",
    "disclaimer", "meta_description", "mentions_services", "ai_use",
}  # fmt: skip
FAQ_KEYS = {"q", "a"}
SOURCE_KEYS = {"title", "authors", "publisher", "year", "url", "doi", "kind", "strength"}
STATUSES = {"draft", "scheduled", "published"}
_https_url = URLValidator(schemes=["http", "https"])


class ImportFailed(Exception):
    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass
class ParsedArticle:
    path: str
    line_of: dict[str, int]
    fields: dict
    faqs: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    category: str = ""
    status: str = "draft"


class Problems:
    def __init__(self, path: str):
        self.path, self.found = path, []

    def add(self, line: int, message: str) -> None:
        self.found.append((line, message))

    @property
    def items(self) -> list[str]:
        return [f"{self.path}:{line}: {message}" for line, message in sorted(self.found)]


def _split_front_matter(text: str, problems: Problems) -> tuple[str, str] | None:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        problems.add(1, "missing front matter: the file must start with a line '---'")
        return None
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            return "".join(lines[1 : number - 1]), "".join(lines[number:])
    problems.add(1, "front matter is not closed: add a line '---' after it")
    return None


def _mapping_lines(node: yaml.Node, offset: int) -> dict[str, int]:
    return {k.value: k.start_mark.line + 1 + offset for k, _ in node.value}


def load_yaml(source: str, problems: Problems, offset: int = 0):
    """Parse YAML, returning (data, node) or (None, None) with the error recorded."""
    try:
        node = yaml.compose(source, Loader=yaml.SafeLoader)
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 + offset if mark else 1 + offset
        problems.add(line, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")
        return None, None
    return data, node


def unknown_keys(keys: Iterable[str], allowed: set[str], where: str) -> list[str]:
    messages = []
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            messages.append(f"unknown key '{key}'{where}{hint}")
    return messages


def text_value(
    value, key: str, line: int, problems: Problems, max_length: int | None = None
) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.add(line, f"'{key}' must be text")
        return ""
    value = str(value).strip()
    if max_length and len(value) > max_length:
        problems.add(line, f"'{key}' is {len(value)} characters; the most is {max_length}")
    return value


def _date(value, key: str, line: int, problems: Problems) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        problems.add(line, f"'{key}' must be a date like 2026-03-31, not {value!r}")
        return None


def _review_date(value, line: int, problems: Problems) -> dt.date | None:
    """A review's date, never after today: a review cannot be dated before it happened."""
    day = _date(value, "last_reviewed", line, problems)
    if day is not None and day > timezone.localdate():
        problems.add(
            line, f"'last_reviewed' is {day}, in the future: a review is dated the day it was done"
        )
    return day


def _datetime(value, key: str, line: int, problems: Problems) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(9, 0))
    if not isinstance(value, dt.datetime):
        try:
            value = dt.datetime.fromisoformat(str(value))
        except ValueError:
            problems.add(line, f"'{key}' must be a date and time like 2026-03-31T09:00:00-05:00")
            return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def list_value(value, key: str, line: int, problems: Problems) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(line, f"'{key}' must be a list")
        return []
    return value


def read_source(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed([f"{path}:1: cannot read the file: {exc}"]) from exc
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ImportFailed([f"{path}:{line}: a NUL character (0x00); no text may hold one"])
    return text


def parse_article(path: Path) -> ParsedArticle:
    problems = Problems(str(path))
    text = read_source(path)
    parts = _split_front_matter(text, problems)
    if parts is None:
        raise ImportFailed(problems.items)
    front, body = parts
    data, node = load_yaml(front, problems, offset=1)
    if data is None and not problems.items:
        problems.add(1, "the front matter is empty: at least 'title' is required")
    if problems.items:
        raise ImportFailed(problems.items)
    if not isinstance(data, dict):
        raise ImportFailed([f"{path}:2: the front matter must be 'key: value' lines"])

    lines = _mapping_lines(node, offset=1)
    for message in unknown_keys(data, ARTICLE_KEYS, ""):
        problems.add(lines[message.split("'")[1]], message)

    def line(key: str) -> int:
        return lines.get(key, 1)

    title = text_value(data.get("title"), "title", line("title"), problems, 200)
    if not title:
        problems.add(line("title"), "'title' is required")
    slug = text_value(data.get("slug"), "slug", line("slug"), problems, 200) or slugify(title)
    try:
        validate_slug(slug)
    except ValidationError:
        problems.add(line("slug"), f"'slug' may hold only letters, digits, - and _, not {slug!r}")

    status = text_value(data.get("status"), "status", line("status"), problems) or "draft"
    if status not in STATUSES:
        problems.add(line("status"), "'status' must be one of draft, scheduled, published")
        status = "draft"
    tldr = [
        text_value(item, "tldr", line("tldr"), problems)
        for item in list_value(data.get("tldr"), "tldr", line("tldr"), problems)
    ]
    fields = {
        "title": title,
        "slug": slug,
        "label": text_value(data.get("label"), "label", line("label"), problems, 30),
        "summary": text_value(data.get("summary"), "summary", line("summary"), problems),
        "tldr": "\n".join(item for item in tldr if item),
        "author": text_value(data.get("author"), "author", line("author"), problems, 120),
        "reviewer": text_value(data.get("reviewer"), "reviewer", line("reviewer"), problems, 160),
        "last_reviewed": _review_date(data.get("last_reviewed"), line("last_reviewed"), problems),
        "next_review_due": _date(
            data.get("next_review_due"), "next_review_due", line("next_review_due"), problems
        ),
        "publish_at": _datetime(data.get("publish_at"), "publish_at", line("publish_at"), problems),
        "disclaimer": text_value(
            data.get("disclaimer"), "disclaimer", line("disclaimer"), problems
        ),
        "meta_description": text_value(
            data.get("meta_description"),
            "meta_description",
            line("meta_description"),
            problems,
            300,
        ),
        **_disclosures(data, line, problems),
        "body": body.strip() + "\n",
        "status": Article.Status.DRAFT if status == "draft" else Article.Status.PUBLISHED,
    }
    parsed = ParsedArticle(
        path=str(path),
        line_of=lines,
        fields=fields,
        category=text_value(data.get("category"), "category", line("category"), problems, 80),
        status=status,
    )

    faq_node = _child(node, "faq")
    for index, item in enumerate(list_value(data.get("faq"), "faq", line("faq"), problems)):
        item_line = entry_line(faq_node, index, line("faq"))
        if not isinstance(item, dict):
            problems.add(item_line, "each 'faq' entry needs 'q' and 'a'")
            continue
        for message in unknown_keys(item, FAQ_KEYS, " in a 'faq' entry"):
            problems.add(item_line, message)
        question = text_value(item.get("q"), "q", item_line, problems, 300)
        answer = text_value(item.get("a"), "a", item_line, problems)
        if not question or not answer:
            problems.add(item_line, "each 'faq' entry needs both 'q' and 'a'")
        parsed.faqs.append({"question": question, "answer": answer, "position": index})

    sources_node = _child(node, "sources")
    for index, item in enumerate(
        list_value(data.get("sources"), "sources", line("sources"), problems)
    ):
        item_line = entry_line(sources_node, index, line("sources"))
        if not isinstance(item, dict):
            problems.add(item_line, "each 'sources' entry must be a mapping with at least 'title'")
            continue
        key_lines = _entry_key_lines(sources_node, index)

        def at(key: str, default: int = item_line, lines: dict = key_lines) -> int:
            return lines.get(key, default)

        for message in unknown_keys(item, SOURCE_KEYS, " in a 'sources' entry"):
            problems.add(at(message.split("'")[1]), message)
        source = {
            "title": text_value(item.get("title"), "title", at("title"), problems, 400),
            "authors": text_value(item.get("authors"), "authors", at("authors"), problems, 400),
            "publisher": text_value(
                item.get("publisher"), "publisher", at("publisher"), problems, 200
            ),
            "url": text_value(item.get("url"), "url", at("url"), problems, 500),
            "doi": text_value(item.get("doi"), "doi", at("doi"), problems, 200),
            "year": None,
            "position": index,
        }
        if not source["title"]:
            problems.add(item_line, "each 'sources' entry needs a 'title'")
        for key, choices in (("kind", Source.Kind), ("strength", Source.Strength)):
            value = text_value(item.get(key), key, at(key), problems, 20)
            value = value.upper() if key == "strength" else value.lower()
            if value and value not in choices.values:
                problems.add(at(key), f"a source's '{key}' must be one of "
                             f"{', '.join(choices.values)}, not {item.get(key)!r}")  # fmt: skip
            source[key] = value if value in choices.values else ""
        year = item.get("year")
        if year not in (None, ""):
            if isinstance(year, int) and not isinstance(year, bool) and 1800 <= year <= 2100:
                source["year"] = year
            else:
                problems.add(
                    at("year"), f"a source's 'year' must be a year like 2018, not {year!r}"
                )
        if source["url"]:
            try:
                _https_url(source["url"])
            except ValidationError:
                problems.add(at("url"), f"a source's 'url' must be http(s): {source['url']!r}")
        parsed.sources.append(source)

    for item in list_value(data.get("related"), "related", line("related"), problems):
        if not isinstance(item, str) or not item.strip():
            problems.add(line("related"), "'related' must be a list of article slugs")
        else:
            parsed.related.append(item.strip())

    _check_publish_gate(parsed, problems)
    if problems.items:
        raise ImportFailed(problems.items)
    return parsed


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    for k, v in node.value:
        if k.value == key:
            return v
    return None


def _entry_key_lines(sequence: yaml.Node | None, index: int) -> dict[str, int]:
    if isinstance(sequence, yaml.SequenceNode) and index < len(sequence.value):
        entry = sequence.value[index]
        if isinstance(entry, yaml.MappingNode):
            return _mapping_lines(entry, offset=1)
    return {}


def entry_line(sequence: yaml.Node | None, index: int, default: int) -> int:
    if isinstance(sequence, yaml.SequenceNode) and index < len(sequence.value):
        return sequence.value[index].start_mark.line + 2
    return default


def _disclosures(data: dict, line, problems: Problems) -> dict:
    """`mentions_services` (yes or no) and `ai_use` ("none", or how AI was used)."""
    mentions = data.get("mentions_services")
    if mentions is not None and not isinstance(mentions, bool):
        problems.add(
            line("mentions_services"), f"'mentions_services' must be yes or no, not {mentions!r}"
        )
        mentions = None
    ai_use = text_value(data.get("ai_use"), "ai_use", line("ai_use"), problems, 300)
    ai_used = None if not ai_use else ai_use.casefold() != "none"
    return {"mentions_services": mentions, "ai_used": ai_used, "ai_use": ai_use if ai_used else ""}


def _check_publish_gate(parsed: ParsedArticle, problems: Problems) -> None:
    """A scheduled or published article must pass the medical-review gate; it is refused, never
    quietly imported as a draft."""
    if parsed.status == "draft":
        return
    fields = parsed.fields
    line = parsed.line_of.get("status", 1)
    if parsed.status == "scheduled" and not fields["publish_at"]:
        problems.add(line, "a scheduled article needs 'publish_at'")
    missing = []
    if not fields["reviewer"]:
        missing.append("'reviewer'")
    if not fields["last_reviewed"]:
        missing.append("'last_reviewed'")
    if not parsed.sources:
        missing.append("at least one entry in 'sources'")
    if not parsed.category:
        missing.append("'category'")
    if not fields["summary"]:
        missing.append("'summary'")
    if fields["mentions_services"] is None:
        missing.append("'mentions_services'")
    if fields["ai_used"] is None:
        missing.append("'ai_use'")
    if missing:
        problems.add(
            line,
            f"a {parsed.status} article must pass medical review; it lacks " + ", ".join(missing),
        )
