"""The Flesch–Kincaid grade level of an article, a warning for editors: plain English is the
brand, and NIH suggests writing below grade 8.

Standard library only. textstat (0.7.5 and later) counts syllables with NLTK's cmudict, which
it downloads from the internet at first use, impossible in production here, and it installs a
top-level `tests` package; pyphen gives hyphenation points, not syllables ("testosterone" 2).
So syllables are counted by vowel groups, adjusted for English spelling. The count follows the
letters: "every" is 3 (ev-er-y). A number is one word of one syllable, whatever its digits.

The text scored is what a reader reads as prose: tables, glossary definitions (the term
itself stays), code and images are left out, and headings are not sentences. A depth tier
runs from its `<h2 class="tier">` to the next h2 of any kind, the way the page's table of
contents groups sections: an h3 stays inside the tier, another h2 ends it."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import NamedTuple

from articles.rendering import BLOCKS

FUNDAMENTALS_TARGET = 8  # grade

HEADINGS = {"h2", "h3", "h4", "h5", "h6"}
VOID = {"br", "hr", "img"}  # no end tag follows
LEFT_OUT = {"table", "pre", "code"}  # and span.gloss, a glossary definition
ABBREVIATIONS = {"dr.", "mr.", "mrs.", "ms.", "prof.", "vs.", "approx.", "cf.", "al.", "fig."}
_INITIALISM = re.compile(r"(?:[a-z]\.){2,}")  # e.g. i.e. U.S. a.m.
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’-][^\W\d_]+)*")

EXCEPTIONS = {"diabetes": 4, "herpes": 2, "testes": 2, "acne": 2, "fluid": 2, "fluids": 2}
# Spellings that hold one more syllable than their vowel groups show: vowel pairs said apart
# (di-a-betes, sci-ence, sex-u-al, so-di-um, cre-ate, i-de-a, be-ing), and -ism's m.
_EXTRA = re.compile(
    r"(?<![cgst])ia|iu|ie(?=t)|(?<![ct])ie(?=n[ct])|^scie|(?<![gq])ua|(?<![cgtx])iou"
    r"|(?<![gp])eo|bio|(?<=cr)ea(?=t(?!u)|s$)|(?<=\w[dhnrs])ea(?=s?$)|[aeiou]ing"
    r"|(?<=[aeiouy]s)ms?$"
)
# Vowel groups that are no syllable: a silent final e (but not in -le after a consonant),
# -gue, -ed and -es that add nothing, a silent e before a suffix or ending a compound's first
# part (safely, replacement, sometimes, lifestyle).
_SILENT = re.compile(
    r"(?<![aeiouy])(?<![^aeiouyl]l)e$"
    r"|(?<=[gq])ues?$"
    r"|(?<![aeiouytd])(?<![^aeiouyl]l)ed$"
    r"|(?<![aeiouysxzcg])(?<![cs]h)(?<![^aeiouyl]l)es$"
    r"|(?<=[^aeiouyl])e(?=ly$|ful|ness|less|ments?$)"
    r"|^(?:some|life|time|care|home)(?=one|(?!s$)[^aeiouyrd])"
)


@dataclass(frozen=True)
class Score:
    words: int
    sentences: int
    syllables: int

    @property
    def grade(self) -> float | None:
        if not self.words or not self.sentences:
            return None
        return 0.39 * self.words / self.sentences + 11.8 * self.syllables / self.words - 15.59


@dataclass(frozen=True)
class Readability:
    whole: Score
    tiers: list[tuple[str, Score]]  # (tier heading, score), in page order
    longest: list[tuple[int, str]]  # (word count, sentence), most words first, at most 5


class _Sentence(NamedTuple):
    tier: int | None
    text: str
    words: list[str]


def readability(body_html: str, *, lead: Sequence[str] = ()) -> Readability:
    """`body_html` as `render_markdown` gives it; `lead`: plain text above the body (the
    summary, the TL;DR lines), counted in the whole only."""
    prose = _Prose()
    prose.feed(body_html)
    prose.close()
    blocks = [(None, line) for line in lead] + prose.blocks
    sentences = [
        _Sentence(tier, text, words_of(text))
        for tier, block in blocks
        for text in sentences_of(block)
    ]
    return Readability(
        whole=_score(sentences),
        tiers=[
            (name, _score(s for s in sentences if s.tier == index))
            for index, name in enumerate(prose.tiers)
        ],
        longest=[
            (len(s.words), s.text)
            for s in sorted(sentences, key=lambda s: len(s.words), reverse=True)[:5]
        ],
    )


def _score(sentences: Iterable[_Sentence]) -> Score:
    sentences = list(sentences)
    words = [word for sentence in sentences for word in sentence.words]
    return Score(
        words=len(words),
        sentences=len(sentences),
        syllables=sum(count_syllables(word) for word in words),
    )


def sentences_of(text: str) -> list[str]:
    """Sentences end at . ! or ? before a space or the end, except after an abbreviation."""
    sentences, current = [], []
    for token in text.split():
        current.append(token)
        end = token.strip("\"'“”‘’()[]").lower()
        if end.endswith((".", "!", "?")) and not _abbreviation(end):
            sentences.append(" ".join(current))
            current = []
    if current:
        sentences.append(" ".join(current))
    return [sentence for sentence in sentences if words_of(sentence)]


def _abbreviation(token: str) -> bool:
    return token in ABBREVIATIONS or bool(_INITIALISM.fullmatch(token))


def words_of(text: str) -> list[str]:
    """Runs of letters (joined by inner apostrophes or hyphens), and numbers ("2.5", "1,000")."""
    return _WORD.findall(text)


def count_syllables(word: str) -> int:
    if word[:1].isdigit():
        return 1
    return sum(_syllables(part) for part in word.split("-") if part)


def _syllables(word: str) -> int:
    letters = word.replace("'", "").replace("’", "")
    if letters.isupper() and 2 <= len(letters) <= 4:
        return len(letters)  # an initialism, said letter by letter: PSA, TRT, SHBG
    letters = letters.lower()
    if letters in EXCEPTIONS:
        return EXCEPTIONS[letters]
    letters = re.sub(r"y(?=[aeiou])", "_", letters)  # y before a vowel is a consonant: beyond
    groups = len(re.findall(r"[aeiouy]+", letters))
    return max(1, groups + len(_EXTRA.findall(letters)) - len(_SILENT.findall(letters)))


class _Prose(HTMLParser):
    """The prose of rendered article HTML as blocks of text, each with the index of the tier it
    sits in (None outside any tier)."""

    def __init__(self):
        super().__init__()
        self.blocks: list[tuple[int | None, str]] = []
        self.tiers: list[str] = []
        self._open: list[tuple[str, bool]] = []  # (element, whether its text is left out)
        self._text: list[str] = []
        self._heading: list[str] | None = None  # the text of a tier heading being read
        self._tier: int | None = None

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        self._open.append((tag, tag in LEFT_OUT or (tag == "span" and "gloss" in classes)))
        if tag in BLOCKS or tag in HEADINGS:
            self._end_block()
        if tag == "h2":
            self._heading = [] if "tier" in classes else None
            self._tier = None

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            self._open.pop()
        if tag in BLOCKS or tag in HEADINGS:
            self._end_block()
        if tag == "h2" and self._heading is not None:
            self.tiers.append(" ".join("".join(self._heading).split()))
            self._tier, self._heading = len(self.tiers) - 1, None

    def handle_data(self, data):
        if any(left_out for _, left_out in self._open):
            return
        if any(name in HEADINGS for name, _ in self._open):
            if self._heading is not None:
                self._heading.append(data)
        else:
            self._text.append(data)

    def close(self):
        super().close()
        self._end_block()

    def _end_block(self):
        text = " ".join("".join(self._text).split())
        if text:
            self.blocks.append((self._tier, text))
        self._text = []


def basics(result: Readability) -> Score:
    """What the target applies to: the Fundamentals tier, or the whole text when it has none."""
    for name, score in result.tiers:
        if name.lower().startswith("fundamentals"):
            return score
    return result.whole


def over_target(score: Score) -> bool:
    return score.grade is not None and score.grade > FUNDAMENTALS_TARGET
