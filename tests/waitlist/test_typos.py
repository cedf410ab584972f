"""Likely typos of an address's domain are offered a spelling, never forced; a local part over
64 characters is refused; disposable wording is for disposable domains."""

import pytest

from tests.conftest import join
from waitlist.models import Subscriber
from waitlist.people.typos import suggestion

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "typed, offered",
    [
        ("sam@gmial.com", "sam@gmail.com"),
        ("sam@gmail.con", "sam@gmail.com"),
        ("sam@hotmial.com", "sam@hotmail.com"),
        ("sam@yaho.com", "sam@yahoo.com"),
        ("sam@gmal.com", "sam@gmail.com"),
        ("sam@outlok.com", "sam@outlook.com"),
        ("sam@acme.con", "sam@acme.com"),
    ],
)
def test_a_likely_typo_is_offered_the_usual_spelling(typed, offered):
    assert suggestion(typed) == offered


@pytest.mark.parametrize(
    "real",
    ["sam@gmail.com", "sam@mail.com", "sam@gmx.com", "sam@me.com", "sam@uw.edu",
     "sam@halftimehealth.example", "sam@fastmail.fm", "sam@proton.me"],
)  # fmt: skip
def test_a_real_domain_is_offered_nothing(real):
    assert suggestion(real) is None


def test_the_join_offers_the_spelling_and_takes_the_address_as_typed_when_sent_again(client):
    response = join(client, "sam@yaho.com", as_json=True)
    assert response.status_code == 400
    answer = response.json()
    assert answer["suggestion"] == "sam@yahoo.com" and answer["checked"] == "sam@yaho.com"
    assert answer["errors"]["email"][0] == {
        "message": "Did you mean sam@yahoo.com? If sam@yaho.com is right, send it again.",
        "code": "typo",
    }
    assert not Subscriber.objects.exists()
    kept = join(client, "sam@yaho.com", as_json=True, checked_email="sam@yaho.com")
    assert kept.status_code == 202
    assert Subscriber.objects.get().email == "sam@yaho.com"


def test_the_offered_spelling_is_taken_from_the_page_s_button(client):
    page = join(client, "pat@gmial.com")
    html = page.content.decode()
    assert page.status_code == 400
    assert '<button type="submit" name="email_suggested" value="pat@gmail.com"' in html
    assert "Did you mean pat@gmail.com?" in html and "disposable" not in html
    taken = join(
        client, "pat@gmial.com", email_suggested="pat@gmail.com", checked_email="pat@gmial.com"
    )
    assert taken.status_code == 302
    assert Subscriber.objects.get().email == "pat@gmail.com"


def test_a_local_part_over_64_characters_is_refused():
    from waitlist.people.forms import JoinForm

    form = JoinForm({"email": "a" * 65 + "@example.com"})
    assert not form.is_valid()
    assert form.errors["email"] == [
        "The part before the @ has 65 characters; an email address allows 64."
    ]
    assert JoinForm({"email": "a" * 64 + "@example.com"}).is_valid()


def test_a_disposable_domain_is_refused_in_disposable_words(client):
    response = join(client, "sam@mailinator.com", as_json=True)
    assert response.json()["errors"]["email"][0]["code"] == "disposable"
