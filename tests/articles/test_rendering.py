import re
from html.parser import HTMLParser

import pytest

from articles.rendering import reading_minutes, render_markdown, render_text, sanitize
from tests.factories import GlossaryTermFactory

XSS_VECTORS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](https://example.org/a.png)',
    '[x](https://example.org/" onmouseover="alert(1))',
    "<svg onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>body{display:none}</style>",
    "<object data=javascript:alert(1)></object>",
    '<form action="https://evil.example"><input name=x></form>',
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    "<base href=https://evil.example/>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<<script>script>alert(1)<</script>/script>",
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "> <script>alert(1)</script>",
    "## <script>alert(1)</script> heading",
    "`<script>` is fine in code\n\n```\n<script>alert(1)</script>\n```",
]

FORBIDDEN_TAGS = {
    "script", "iframe", "object", "embed", "svg", "math", "style", "form", "input", "meta",
    "base", "link", "details",
}  # fmt: skip


SAFE_SCHEMES = {"https", "http", "mailto"}


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def dangers(markup: str) -> list[str]:
    """What a browser would run in this markup: forbidden elements, event handlers, script URLs."""
    parser = _Elements()
    parser.feed(markup)
    problems = []
    for tag, attrs in parser.found:
        if tag in FORBIDDEN_TAGS:
            problems.append(f"<{tag}>")
        for name, value in attrs.items():
            value = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name.startswith("on"):
                problems.append(f"{tag}[{name}]")
            head = value.split("/")[0]
            if name in ("href", "src") and ":" in head and head.split(":")[0] not in SAFE_SCHEMES:
                problems.append(f"{tag}[{name}={value}]")
            if name == "style" and "url(" in value:
                problems.append(f"{tag}[style]")
    return problems


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_rendered_html_never_carries_script_handlers_or_script_urls(vector):
    rendered = render_markdown(f"Before\n\n{vector}\n\nAfter")
    assert dangers(rendered.html) == [], rendered.html
    assert "After" in rendered.html


def test_raw_html_is_shown_as_text_not_dropped_silently():
    rendered = render_markdown("Use <b>bold</b> sparingly.")
    assert "&lt;b&gt;bold&lt;/b&gt;" in rendered.html


def test_safe_links_images_and_tables_survive():
    rendered = render_markdown(
        "[Guideline](https://example.org/g) ![A chart of levels](/static/img/levels.svg)\n\n"
        "| Marker | Range |\n|:--|--:|\n| Total T | 300–1,000 |\n"
    )
    assert (
        '<a href="https://example.org/g" rel="noopener noreferrer">Guideline</a>' in rendered.html
    )
    assert 'alt="A chart of levels"' in rendered.html
    assert 'loading="lazy"' in rendered.html
    assert '<th class="align-right">Range</th>' in rendered.html


def test_an_aligned_table_marks_each_column_with_a_class_not_an_inline_style():
    rendered = render_markdown("| a | b | c | d |\n| :-- | :-: | --: | --- |\n| 1 | 2 | 3 | 4 |\n")
    assert "style=" not in rendered.html
    assert (
        '<th class="align-left">a</th>\n<th class="align-center">b</th>\n'
        '<th class="align-right">c</th>\n<th>d</th>'
    ) in rendered.html
    assert (
        '<td class="align-left">1</td>\n<td class="align-center">2</td>\n'
        '<td class="align-right">3</td>\n<td>4</td>'
    ) in rendered.html


def test_the_sanitizer_keeps_only_an_alignment_class_on_a_table_cell():
    cleaned = sanitize(
        '<table><tr><td style="text-align:right">a</td><td class="align-right">b</td>'
        '<td class="align-right wide">c</td><th class="tier" style="color:red">d</th></tr></table>'
    )
    assert cleaned == (
        '<table><tbody><tr><td>a</td><td class="align-right">b</td><td>c</td><th>d</th></tr>'
        "</tbody></table>"
    )


def test_tables_scroll_inside_a_focusable_labelled_region():
    rendered = render_markdown("## Side by side\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert '<div class="table-wrap" role="region" aria-label="Side by side" tabindex="0">' in (
        rendered.html
    )


def test_headings_get_ids_and_build_the_table_of_contents():
    rendered = render_markdown("## What it is\n\ntext\n\n### How it works\n\n## What it is\n")
    assert rendered.toc == [
        {"level": 2, "text": "What it is", "id": "what-it-is", "tier": False},
        {"level": 3, "text": "How it works", "id": "how-it-works", "tier": False},
        {"level": 2, "text": "What it is", "id": "what-it-is-2", "tier": False},
    ]
    assert '<h2 id="what-it-is-2">' in rendered.html


def test_a_level_one_heading_in_the_body_becomes_h2_under_the_page_title():
    rendered = render_markdown("# Overview\n\n## Detail\n")
    assert '<h2 id="overview">Overview</h2>' in rendered.html
    assert '<h3 id="detail">Detail</h3>' in rendered.html
    assert "<h1" not in rendered.html


def test_depth_tier_headings_are_marked():
    rendered = render_markdown("## Fundamentals\n\na\n\n## Academic: the evidence\n\nb\n")
    assert [entry["tier"] for entry in rendered.toc] == [True, True]
    assert '<h2 id="fundamentals" class="tier">' in rendered.html


@pytest.mark.django_db
def test_first_use_of_a_glossary_term_gets_an_inline_plain_english_definition():
    term = GlossaryTermFactory(
        term="HPG axis", slug="hpg-axis", definition="The brain-to-testes hormone signal line."
    )
    rendered = render_markdown(
        "## The HPG axis\n\nThe hpg axis adjusts output. Later the HPG axis again.",
        glossary=[term],
    )
    assert rendered.html.count("<dfn") == 1
    assert (
        '<dfn id="term-hpg-axis"><a href="/learn/glossary/#hpg-axis" rel="noopener noreferrer">'
        "hpg axis</a></dfn>"
        '<span class="gloss"> (in plain English: The brain-to-testes hormone signal line)</span>'
    ) in rendered.html
    assert '<h2 id="the-hpg-axis">The HPG axis</h2>' in rendered.html


@pytest.mark.django_db
def test_a_paragraph_spells_out_one_definition_and_links_the_others():
    terms = [
        GlossaryTermFactory(term=name, slug=name.lower(), definition=f"what {name} means")
        for name in ("SHBG", "LH", "FSH", "PSA")
    ]
    rendered = render_markdown(
        "SHBG, LH and FSH all matter here.\n\nPSA is the next paragraph's.", glossary=terms
    )
    first, second = rendered.html.split("</p>")[:2]
    assert first.count("in plain English") == 1 and "(in plain English: what SHBG means)" in first
    for name in ("lh", "fsh"):
        dfn = f'<dfn id="term-{name}" title="what {name.upper()} means">'
        assert f'{dfn}<a href="/learn/glossary/#{name}"' in first
    assert "(in plain English: what PSA means)" in second


@pytest.mark.django_db
def test_glossary_aliases_match_and_terms_inside_links_or_code_are_left_alone():
    term = GlossaryTermFactory(
        term="SHBG",
        slug="shbg",
        definition="A carrier protein.",
        aliases="sex hormone-binding globulin",
    )
    rendered = render_markdown(
        "[SHBG](https://example.org) and `SHBG` then sex hormone-binding globulin.",
        glossary=[term],
    )
    assert ">sex hormone-binding globulin</a></dfn>" in rendered.html
    assert '<a href="https://example.org" rel="noopener noreferrer">SHBG</a>' in rendered.html


@pytest.mark.django_db
def test_a_glossary_definition_cannot_inject_markup():
    term = GlossaryTermFactory(term="IGF-1", slug="igf-1", definition='<img src=x onerror="x()">')
    rendered = render_markdown("IGF-1 rises.", glossary=[term])
    assert dangers(rendered.html) == []
    assert '(in plain English: &lt;img src=x onerror="x()"&gt;)' in rendered.html


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["AMP", "lt", "gt", "quot", "x27"])
def test_a_term_named_like_a_character_reference_leaves_the_text_intact(name):
    term = GlossaryTermFactory(term=name, slug=name.lower(), definition="A word.")
    text = "Tom & Jerry: 3 < 4 > 2, [a link](https://example.org/?a=1&b=2) & more."
    rendered = render_markdown(text, glossary=[term])
    assert rendered.text == "Tom & Jerry: 3 < 4 > 2, a link & more."
    assert "<dfn" not in rendered.html
    assert 'href="https://example.org/?a=1&amp;b=2"' in rendered.html
    marked = render_markdown(f"Tom & Jerry {name} matters.", glossary=[term]).html
    assert marked.count("<dfn") == 1 and "Tom &amp; Jerry" in marked


def test_reading_time_is_words_over_220_per_minute_and_at_least_one():
    assert reading_minutes("word " * 10) == 1
    assert reading_minutes("word " * 221) == 2
    assert reading_minutes("word " * 660) == 3


def test_markdown_as_plain_text_marks_lists_quotes_and_tables_and_notes_each_link_once():
    text = render_text(
        "# Title\n\n### Small\n\n1. one [a](https://a.org)\n2. two\n   still two\n"
        "   - inside [a](https://a.org)\n\n> quoted\n> twice\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "![chart](https://img.org/c.png) and <https://auto.org> and `code`\n\n---\n\n"
        "Write to [us](mailto:hi@example.org) or [hi@example.org](mailto:hi@example.org)."
    )
    assert text == (
        "Title\n=====\n\nSmall\n-----\n\n1. one a [1]\n2. two\n   still two\n   - inside a [1]"
        "\n\n> quoted\n> twice\n\na | b\n1 | 2\n\nchart [2] and https://auto.org and code"
        "\n\n* * *\n\nWrite to us [3] or hi@example.org."
        "\n\n[1] https://a.org\n[2] https://img.org/c.png\n[3] hi@example.org"
    )
    assert render_text("") == ""
