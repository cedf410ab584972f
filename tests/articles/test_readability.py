from dataclasses import dataclass, replace

import pytest

from articles.readability import Score, count_syllables, readability, sentences_of, words_of
from articles.rendering import render_markdown


@dataclass
class Term:
    slug: str
    definition: str
    spellings: list[str]


ED = Term(
    "erectile-dysfunction", "Trouble getting or keeping an erection.", ["erectile dysfunction"]
)
TABLE = """\
| Marker | Meaning |
|---|---|
| cardiovascular | medication |
| dihydrotestosterone | gynecomastia |
"""


def article(*, table: str = TABLE, extra: str = "") -> str:
    return f"""\
Most men never check their levels.

## Fundamentals

Low testosterone is common. It can cause fatigue and low energy

- See a doctor.
- Ask about therapy

{table}

{extra}

### What a doctor checks

A blood test measures hormone levels in the morning.

## Intermediate

Erectile dysfunction is common and treatable. Doctors call it ED.
"""


def rendered(markdown: str, glossary=(ED,)) -> str:
    return render_markdown(markdown, glossary=glossary).html


# Counted by hand, word by word.
# Before the first tier:
#   "Most men never check their levels."                     6 words,  8 syllables
# Fundamentals:
#   "Low testosterone is common."                            4 words,  8 syllables
#   "It can cause fatigue and low energy" (its paragraph)    7 words, 10 syllables
#   "See a doctor." (a list item)                            3 words,  4 syllables
#   "Ask about therapy" (a list item)                        3 words,  6 syllables
#   "A blood test measures hormone levels in the morning."   9 words, 13 syllables
# Intermediate:
#   "Erectile dysfunction is common and treatable."          6 words, 13 syllables
#   "Doctors call it ED." (E-D said letter by letter)        4 words,  6 syllables
WHOLE = Score(words=42, sentences=8, syllables=68)
FUNDAMENTALS = Score(words=26, sentences=5, syllables=41)
INTERMEDIATE = Score(words=10, sentences=2, syllables=19)


def test_counts_match_the_hand_count():
    result = readability(rendered(article()))
    assert result.whole == WHOLE
    assert result.tiers == [("Fundamentals", FUNDAMENTALS), ("Intermediate", INTERMEDIATE)]


def test_grade_is_the_flesch_kincaid_formula_on_the_hand_count():
    result = readability(rendered(article()))
    assert result.whole.grade == pytest.approx(0.39 * 42 / 8 + 11.8 * 68 / 42 - 15.59)
    assert result.tiers[0][1].grade == pytest.approx(0.39 * 26 / 5 + 11.8 * 41 / 26 - 15.59)


def test_a_table_of_long_words_is_left_out():
    with_table, without = rendered(article()), rendered(article(table=""))
    assert "dihydrotestosterone" in with_table
    assert readability(with_table) == readability(without)


def test_a_glossary_definition_is_left_out_and_its_term_kept():
    with_definition, without = rendered(article()), rendered(article(), glossary=())
    assert "(in plain English: Trouble getting or keeping an erection)" in with_definition
    assert readability(with_definition) == readability(without)


@pytest.mark.parametrize(
    "extra",
    [
        "### Cardiovascular medication considerations",
        "```\ncardiovascular medication considerations\n```",
        "    cardiovascular medication considerations",
        "![Cardiovascular medication considerations](/static/img/icon.svg)",
    ],
    ids=["heading", "fenced code", "indented code", "image"],
)
def test_headings_code_and_images_are_not_counted(extra):
    markup = rendered(article(extra=extra))
    assert "ardiovascular medication considerations" in markup
    assert readability(markup) == readability(rendered(article()))


def test_text_before_the_first_tier_counts_only_in_the_whole():
    result = readability(rendered(article()))
    tiers = [score for _, score in result.tiers]
    assert result.whole.words - sum(score.words for score in tiers) == 6
    assert result.whole.sentences - sum(score.sentences for score in tiers) == 1


def test_a_tier_runs_to_the_next_second_level_heading_of_any_kind():
    markup = rendered(
        "## Fundamentals: the basics\n\nSee a doctor.\n\n### Why\n\nLevels fall.\n\n"
        "## Other reading\n\nAsk about therapy.\n\n## Academic\n\nBlood tells.\n"
    )
    result = readability(markup)
    assert result.tiers == [
        ("Fundamentals: the basics", Score(words=5, sentences=2, syllables=7)),
        ("Academic", Score(words=2, sentences=1, syllables=2)),
    ]
    assert result.whole == Score(words=10, sentences=4, syllables=15)


def test_lead_counts_in_the_whole_and_in_no_tier():
    result = readability(rendered(article()), lead=["Low testosterone is common.", "See a doctor"])
    assert result.whole == Score(words=42 + 4 + 3, sentences=8 + 2, syllables=68 + 8 + 4)
    assert result.tiers == [("Fundamentals", FUNDAMENTALS), ("Intermediate", INTERMEDIATE)]


def test_longest_sentences_come_most_words_first_at_most_five():
    assert readability(rendered(article())).longest == [
        (9, "A blood test measures hormone levels in the morning."),
        (7, "It can cause fatigue and low energy"),
        (6, "Most men never check their levels."),
        (6, "Erectile dysfunction is common and treatable."),
        (4, "Low testosterone is common."),
    ]


def test_sentences_end_at_final_punctuation_not_after_abbreviations_or_in_decimals():
    text = "Dr. Lee, e.g. in the U.S., vs. i.e. prescribed 2.5 mg. Is it enough? Yes! “Ask.” Then"
    assert sentences_of(text) == [
        "Dr. Lee, e.g. in the U.S., vs. i.e. prescribed 2.5 mg.",
        "Is it enough?",
        "Yes!",
        "“Ask.”",
        "Then",
    ]


def test_words_are_letter_runs_and_numbers_each_a_word_of_one_syllable():
    words = words_of("Don’t skip a 2.5 mg dose — 1,000 men’s well-being (50%) matters.")
    assert words == [
        "Don’t", "skip", "a", "2.5", "mg", "dose", "1,000", "men’s", "well-being", "50", "matters",
    ]  # fmt: skip
    assert [count_syllables(word) for word in ("2.5", "1,000", "50")] == [1, 1, 1]


@pytest.mark.parametrize(
    ("word", "syllables"),
    [
        ("testosterone", 4), ("medication", 4), ("cardiovascular", 5), ("fatigue", 2),
        ("therapy", 3), ("every", 3), ("hormone", 2), ("prescribed", 2), ("create", 2),
        ("idea", 3), ("area", 3), ("people", 2), ("science", 2), ("levels", 2),
        ("naturally", 4), ("reduced", 2), ("blood", 1), ("the", 1), ("doctor", 2),
        ("energy", 3), ("diabetes", 4), ("prostate", 2), ("erectile", 3), ("dysfunction", 3),
        ("Testosterone", 4), ("well-being", 3), ("PSA", 3),
    ],
)  # fmt: skip
def test_count_syllables(word, syllables):
    assert count_syllables(word) == syllables


def test_no_words_means_no_grade():
    assert readability("").whole == Score(words=0, sentences=0, syllables=0)
    assert readability(rendered(TABLE)).whole.grade is None
    assert readability(rendered("## Fundamentals\n")).tiers == [
        ("Fundamentals", Score(words=0, sentences=0, syllables=0))
    ]


@pytest.mark.django_db
def test_the_admin_shows_the_grades_with_the_target_and_warns_without_blocking(admin_client):
    from articles import workflow
    from articles.content import Content
    from tests.factories import ArticleFactory

    article = ArticleFactory(
        body="## Fundamentals\n\nNotwithstanding considerable epidemiological heterogeneity, "
        "investigators characterised testosterone supplementation as physiologically "
        "advantageous.\n\n## Intermediate\n\nIt is fine.\n"
    )
    page = admin_client.get(f"/admin/articles/article/{article.pk}/change/").content.decode()
    assert "Flesch–Kincaid grade of the whole article" in page
    assert "Fundamentals: <strong>" in page and "(target: grade 8 or below)" in page
    assert "Harder to read than the target of grade 8." in page
    assert "The longest sentences" in page and "Notwithstanding considerable" in page
    easier = replace(Content.of(article), body="## Fundamentals\n\nIt is fine. We can help.\n")
    workflow.save_text(article, easier, note="Simpler words")
    page = admin_client.get(f"/admin/articles/article/{article.pk}/change/").content.decode()
    assert "Harder to read" not in page and "The basics read at grade 8 or below" in page


@pytest.mark.django_db
def test_the_live_preview_says_the_reading_grade_as_the_editor_types(admin_client):
    hard = (
        "## Fundamentals\n\nNotwithstanding considerable epidemiological heterogeneity, "
        "investigators characterised testosterone supplementation as physiologically "
        "advantageous.\n"
    )
    answer = admin_client.post("/admin/articles/article/preview/", {"source": hard}).json()
    assert answer["note"].startswith("Body reading grade ")
    assert "; Fundamentals " in answer["note"]
    assert answer["note"].endswith("above the target of grade 8 (a warning only).")
    easy = admin_client.post(
        "/admin/articles/article/preview/", {"source": "It is fine. We can help."}
    ).json()
    assert easy["note"].endswith("within the target of grade 8.")
    assert (
        admin_client.post("/admin/articles/article/preview/", {"source": ""}).json()["note"] == ""
    )
