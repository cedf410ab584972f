"""Random and adversarial input (Hypothesis) at the doors strangers can knock on: the signup
endpoint (form and JSON), the signed-link URLs and the article import. The answer is always a
clear 4xx or a success, never a 500, and nothing is half-written."""

import json
import tempfile
from pathlib import Path

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from articles.importer import ImportFailed, import_articles
from articles.models import Article
from waitlist.models import ConsentRecord, OutboundEmail, Subscriber

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(max_size=300)
field_values = st.one_of(text, st.integers(), st.none(), st.booleans(), st.lists(text, max_size=3))
emailish = st.one_of(
    text,
    st.emails(),
    st.builds(lambda a, b: f"{a}@{b}", text, text),
)


def consistent() -> None:
    """Every subscriber that exists is whole: a consent record and a confirmation row each."""
    for subscriber in Subscriber.objects.all():
        assert ConsentRecord.objects.filter(subscriber=subscriber).exists()
        assert OutboundEmail.objects.filter(subscriber=subscriber).exists()


def client() -> Client:
    return Client(HTTP_HOST="localhost", REMOTE_ADDR="198.51.100.200")


@FUZZ
@given(
    email=emailish,
    extra=st.dictionaries(
        st.sampled_from(
            ["interests", "state", "article", "placement", "ref", "referrer", "website",
             "utm_source", "utm_campaign", "zzz"]
        ),
        field_values,
        max_size=6,
    ),
)  # fmt: skip
def test_the_signup_form_never_answers_500(email, extra, settings):
    settings.WAITLIST_IP_LIMIT = 10**9
    data = {"email": email}
    for key, value in extra.items():
        data[key] = "" if value is None else value
    try:
        response = client().post("/waitlist/", data)
    except ValueError:
        # Django's test client itself refuses some values (NUL in a form field); a browser
        # could not send them either.
        return
    assert response.status_code in (302, 400, 429), response.status_code
    consistent()


@FUZZ
@given(payload=st.one_of(
    st.dictionaries(st.text(max_size=20), field_values, max_size=6),
    st.builds(lambda e, x: {"email": e, **x}, emailish,
              st.dictionaries(st.sampled_from(["interests", "state", "article"]), field_values)),
    st.lists(field_values, max_size=3),
    field_values,
))  # fmt: skip
def test_the_json_signup_never_answers_500(payload, settings):
    settings.WAITLIST_IP_LIMIT = 10**9
    response = client().post("/api/waitlist/", json.dumps(payload), content_type="application/json")
    assert response.status_code in (202, 400, 429), response.status_code
    assert response["Content-Type"] == "application/json"
    consistent()


@FUZZ
@given(body=st.binary(max_size=500))
def test_raw_bytes_to_the_json_signup_are_a_400(body, settings):
    response = client().post("/api/waitlist/", body, content_type="application/json")
    assert response.status_code in (202, 400)


@FUZZ
@given(token=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=200))
def test_signed_link_urls_answer_4xx_to_anything_forged(token):
    from urllib.parse import quote

    safe = quote(token, safe="")
    for url in (
        f"/waitlist/confirm/{safe}/",
        f"/u/{safe}/",
        f"/waitlist/preferences/{safe}/",
        f"/waitlist/welcome/{safe}/",
    ):
        for method in ("get", "post"):
            response = getattr(client(), method)(url)
            assert 400 <= response.status_code < 500, (url, method, response.status_code)


front_matter_values = st.one_of(
    text, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
    st.lists(text, max_size=3), st.dictionaries(text, text, max_size=2),
)  # fmt: skip


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["title", "slug", "category", "summary", "tldr", "faq", "sources", "reviewer",
             "last_reviewed", "status", "publish_at", "related", "unknown"]
        ),
        front_matter_values,
        max_size=8,
    ),
    body=text,
)  # fmt: skip
def test_article_import_reports_or_imports_never_crashes(fields, body):
    import yaml

    before = Article.objects.count()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.md"
        path.write_text("---\n" + yaml.safe_dump(fields) + "---\n" + body, encoding="utf-8")
        try:
            import_articles([path])
        except ImportFailed as failure:
            assert failure.problems
            assert all(p.startswith(f"{path}:") for p in failure.problems), failure.problems
            assert Article.objects.count() == before
            return
    assert Article.objects.count() in (before, before + 1)


@FUZZ
@given(raw=st.text(max_size=400))
def test_article_import_survives_any_file_content(raw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "raw.md"
        path.write_text(raw, encoding="utf-8")
        try:
            import_articles([path])
        except ImportFailed as failure:
            assert all(p.startswith(f"{path}:") for p in failure.problems)
