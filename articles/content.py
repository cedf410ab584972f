"""What a reader of an article reads, as one value: the text a medical reviewer signs off.

`Content` holds the title, summary, TL;DR, body, disclaimer, FAQ and sources, nothing else: not
the publish state, date or slug, not the reviewer. Its `digest` names it exactly; a sign-off
records the digest of what the reviewer read. The article's rows hold the signed text (what the
public page, search, feeds and share image show); a change waiting for review is a `Content`
kept in an `ArticleVersion`, never written to the rows until it is signed off.
"""

import hashlib
import json
from dataclasses import dataclass, field, fields

from .models import FAQ, Article, Source

TEXT_FIELDS = ("title", "summary", "tldr", "body", "disclaimer")
FAQ_FIELDS = ("question", "answer")
SOURCE_FIELDS = ("title", "authors", "publisher", "year", "url", "doi", "kind", "strength")
# A source's evidence grade is part of what a reader reads, so of the digest a sign-off names;
# left out of it while empty, so a text signed off before grades existed keeps its digest.
GRADE_FIELDS = ("kind", "strength")


def _text(value) -> str:
    """Text as a reader sees it: line endings and the blank space around it do not count."""
    return (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _row(data: dict, names: tuple[str, ...]) -> tuple:
    return tuple(data.get(name) if name == "year" else _text(data.get(name)) for name in names)


@dataclass(frozen=True)
class Content:
    title: str = ""
    summary: str = ""
    tldr: str = ""
    body: str = ""
    disclaimer: str = ""
    faqs: tuple[tuple[str, str], ...] = field(default=())
    sources: tuple[tuple, ...] = field(default=())

    def __post_init__(self):
        # However it was made, a text is kept as a reader sees it.
        for name in TEXT_FIELDS:
            object.__setattr__(self, name, _text(getattr(self, name)))
        object.__setattr__(self, "faqs", tuple(tuple(map(_text, faq)) for faq in self.faqs))
        sources = tuple(
            _row(dict(zip(SOURCE_FIELDS, source, strict=True)), SOURCE_FIELDS)
            for source in self.sources
        )
        object.__setattr__(self, "sources", sources)

    @classmethod
    def from_data(cls, data: dict) -> "Content":
        """From a dict such as `as_data` makes (a version's stored JSON), or a form's values;
        FAQ and sources as lists of dicts, in their order on the page."""
        return cls(
            **{name: _text(data.get(name)) for name in TEXT_FIELDS},
            faqs=tuple(_row(faq, FAQ_FIELDS) for faq in data.get("faqs", ())),
            sources=tuple(_row(source, SOURCE_FIELDS) for source in data.get("sources", ())),
        )

    @classmethod
    def of(cls, article) -> "Content":
        """The text in an article's rows, as stored (not as an unsaved instance holds it): the
        signed text once it has been signed off."""
        data = Article.objects.filter(pk=article.pk).values(*TEXT_FIELDS).get()
        data["faqs"] = list(article.faqs.order_by("position", "id").values(*FAQ_FIELDS))
        data["sources"] = list(article.sources.order_by("position", "id").values(*SOURCE_FIELDS))
        return cls.from_data(data)

    def as_data(self) -> dict:
        data = {name: getattr(self, name) for name in TEXT_FIELDS}
        data["faqs"] = [dict(zip(FAQ_FIELDS, faq, strict=True)) for faq in self.faqs]
        data["sources"] = [
            {
                name: value
                for name, value in zip(SOURCE_FIELDS, s, strict=True)
                if value or name not in GRADE_FIELDS
            }
            for s in self.sources
        ]
        return data

    @property
    def digest(self) -> str:
        return digest(self.as_data())

    def differs_in(self, other: "Content") -> list[str]:
        """The names of the parts that differ from `other`, in the page's order."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def digest(data: dict) -> str:
    """SHA-256 of the content's canonical JSON (keys sorted, no spaces): the same text always
    gives the same digest, on any machine. The migration that signs existing articles uses it
    on plain data too."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def write(article, content: Content) -> None:
    """Put `content` in the article's rows (FAQ and sources replaced), rendered. For the
    transitions that make a text public or keep a draft's text; nothing else calls it."""
    for name in TEXT_FIELDS:
        setattr(article, name, getattr(content, name))
    article.save()
    article.faqs.all().delete()
    article.sources.all().delete()
    FAQ.objects.bulk_create(
        FAQ(article=article, question=q, answer=a, position=n)
        for n, (q, a) in enumerate(content.faqs)
    )
    Source.objects.bulk_create(
        Source(article=article, position=n, **dict(zip(SOURCE_FIELDS, row, strict=True)))
        for n, row in enumerate(content.sources)
    )


def shown(article: Article, content: Content) -> tuple[Article, list[FAQ], list[Source]]:
    """An unsaved copy of `article` showing `content`, rendered, with its FAQ and sources, for
    the page a reviewer reads before signing off. Nothing is written."""
    copy = Article.objects.select_related("category", "author", "reviewer").get(pk=article.pk)
    for name in TEXT_FIELDS:
        setattr(copy, name, getattr(content, name))
    copy.render()
    faqs = [FAQ(question=q, answer=a) for q, a in content.faqs]
    sources = [Source(**dict(zip(SOURCE_FIELDS, row, strict=True))) for row in content.sources]
    return copy, faqs, sources
