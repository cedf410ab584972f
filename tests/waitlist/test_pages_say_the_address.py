"""The pages after joining say which address they are about, a used confirm link says the
person is already on the list, and "Keep reading" goes back to the article they joined from."""

import pytest
from django.test import Client

from tests.conftest import join
from tests.factories import ArticleFactory, SubscriberFactory
from waitlist.models import Subscriber
from waitlist.people import tokens

pytestmark = pytest.mark.django_db


def test_check_your_inbox_names_the_address_and_the_article_to_go_back_to(client):
    article = ArticleFactory(title="Sleep and testosterone")
    response = join(client, "reader@example.com", article=article.pk, placement="inline")
    assert response.status_code == 302
    page = client.get(response["Location"])
    shown = page.content.decode()
    assert '<strong class="address">reader@example.com</strong>' in shown
    assert (
        f'<a href="{article.get_absolute_url()}">Keep reading “Sleep and testosterone”</a>' in shown
    )
    assert "no-store" in page["Cache-Control"] and "private" in page["Cache-Control"]


def test_check_your_inbox_without_a_join_or_with_a_forged_cookie_names_no_one(client):
    assert "your address" in client.get("/waitlist/check-your-inbox/").content.decode()
    client.cookies["joined"] = '{"email": "victim@example.com", "article": null}'
    shown = client.get("/waitlist/check-your-inbox/").content.decode()
    assert "victim@example.com" not in shown and "Keep reading the Learning Center" in shown


def test_a_used_confirm_link_says_already_on_the_list(client):
    join(client, "twice@example.com")
    person = Subscriber.objects.get(email="twice@example.com")
    token = tokens.make_token(
        tokens.CONFIRM, key=person.token_key, consent_id=person.consents.first().pk
    )
    first = client.get(f"/waitlist/confirm/{token}/")
    assert "Confirm" in first.content.decode()
    client.post(f"/waitlist/confirm/{token}/")
    again = client.get(f"/waitlist/confirm/{token}/", follow=True)
    assert "You’re already on the list: this link was used before." in again.content.decode()


def test_preferences_and_unsubscribe_name_the_address():
    person = SubscriberFactory(email="named@example.com")
    client = Client()
    preferences = tokens.make_token(tokens.PREFERENCES, key=person.token_key)
    shown = client.get(f"/waitlist/preferences/{preferences}/").content.decode()
    assert '<strong class="address">named@example.com</strong>' in shown
    unsubscribe = tokens.make_token(tokens.UNSUBSCRIBE, key=person.token_key)
    asked = client.get(f"/u/{unsubscribe}/").content.decode()
    assert 'to <strong class="address">named@example.com</strong>?' in asked
    done = client.post(f"/u/{unsubscribe}/").content.decode()
    assert '<strong class="address">named@example.com</strong> won’t receive' in done
