"""The data map: every column that looks personal is on it, and staff who may see the dashboard
read it in admin, with the retention figures the jobs use."""

import pkgutil
import re

import pytest
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.test import Client
from django.test.utils import isolate_apps

from tests.waitlist.test_admin import staff_with
from waitlist.people import datamap

URL = "/admin/waitlist/subscriber/data-map/"


def test_every_installed_model_s_personal_columns_are_on_the_map():
    assert datamap.unmapped() == []


@isolate_apps()
def test_a_new_column_that_looks_personal_is_named_until_it_is_mapped():
    class Callback(models.Model):
        name = models.CharField(max_length=200)
        phone = models.CharField(max_length=20)
        contact_email = models.EmailField()
        asked_at = models.DateTimeField()

        class Meta:
            app_label = "tests_only_datamap"

        def __str__(self) -> str:
            return self.name

    assert datamap.unmapped([Callback]) == [
        "tests_only_datamap.Callback.name",
        "tests_only_datamap.Callback.phone",
        "tests_only_datamap.Callback.contact_email",
    ]


def test_the_map_names_only_columns_that_exist_and_jobs_that_do():
    missing = []
    for place in datamap.TABLES:
        for field in place.fields:
            try:
                apps.get_model(place.where)._meta.get_field(field)
            except FieldDoesNotExist:
                missing.append(f"{place.where}.{field}")
    for place in datamap.PLACES:
        for job in place.ended_by:
            try:
                pkgutil.resolve_name(job)
            except (ImportError, AttributeError):
                missing.append(job)
    assert missing == []


def row(page: str, where: str) -> str:
    """The text of the map's row for `where`, tags left out."""
    [found] = [r for r in page.split("<tr>") if f"<code>{where}</code>" in r]
    return " ".join(re.sub(r"<[^>]+>", " ", found).split())


@pytest.mark.django_db
def test_staff_who_may_see_the_dashboard_read_the_map_with_the_site_s_figures(settings):
    settings.RETENTION_OUTBOX_DAYS = 45
    settings.RETENTION_WEBHOOK_DAYS = 12
    settings.RETENTION_UNSUBSCRIBED_DAYS = 400
    client = staff_with("view_dashboard")
    assert URL in client.get("/admin/").content.decode()
    page = client.get(URL).content.decode()
    subscriber = row(page, "waitlist.Subscriber")
    assert "table waitlist_subscriber" in subscriber
    assert "Yes: interests" in subscriber
    assert "400 days after they unsubscribed" in subscriber
    assert "45 days after it was written" in row(page, "waitlist.OutboundEmail")
    assert "12 days after it was delivered" in row(page, "waitlist.WebhookDelivery")
    assert "waitlist.tasks.apply_retention" in row(page, "waitlist.WebhookDelivery")
    assert "<caption" in page and 'scope="col">Health data?' in page


@pytest.mark.django_db
def test_staff_without_the_dashboard_permission_are_refused_the_map():
    assert staff_with("view_subscriber").get(URL).status_code == 403


@pytest.mark.django_db
def test_someone_not_signed_in_is_sent_to_sign_in_for_the_map():
    response = Client(HTTP_HOST="localhost").get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
