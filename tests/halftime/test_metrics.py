import pytest

from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def test_metrics_are_closed_without_the_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="s3cret-token").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_report_signups_confirmations_deliveries_and_queues(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    SubscriberFactory.create_batch(2)
    SubscriberFactory(status="pending", confirmed_at=None)
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'halftime_subscribers{status="confirmed"} 2.0' in body
    assert 'halftime_subscribers{status="pending"} 1.0' in body
    assert "halftime_confirmations 2.0" in body
    assert 'halftime_queue_depth{queue="mail"}' in body
    assert "# TYPE halftime_deliveries gauge" in body
