"""Who may see what in admin: anonymous visitors nothing, Editors articles only, Operators
subscribers and campaigns, and exports and personal data only with their own permissions."""

import time

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories import StaffFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

ARTICLES = ["/admin/articles/article/", "/admin/articles/glossaryterm/"]
WAITLIST = ["/admin/waitlist/subscriber/", "/admin/waitlist/campaign/", "/admin/waitlist/delivery/"]
USERS = ["/admin/auth/user/", "/admin/auth/group/"]


@pytest.fixture
def one_window():
    """Sign-in attempts count in fixed 15-minute windows: a test's attempts all go in one."""
    if (left := 900 - time.time() % 900) < 20:
        time.sleep(left + 0.1)


def member_of(group: str) -> Client:
    user = StaffFactory()
    user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", ARTICLES + WAITLIST + USERS + ["/admin/"])
def test_anonymous_visitors_see_nothing_of_admin(url):
    response = Client(HTTP_HOST="localhost").get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_editors_see_articles_only():
    editor = member_of("Editors")
    assert all(editor.get(url).status_code == 200 for url in ARTICLES)
    assert all(editor.get(url).status_code == 403 for url in WAITLIST + USERS)


def test_operators_see_subscribers_and_campaigns_but_not_articles_or_users():
    operator = member_of("Operators")
    assert all(operator.get(url).status_code == 200 for url in WAITLIST)
    assert all(operator.get(url).status_code == 403 for url in ARTICLES + USERS)
    assert operator.get("/admin/waitlist/subscriber/dashboard/").status_code == 200


def test_operators_need_their_own_permissions_to_export_or_erase_personal_data():
    subscriber = SubscriberFactory()
    operator = member_of("Operators")
    page = operator.get("/admin/waitlist/subscriber/").content.decode()
    assert 'value="export_csv"' not in page and 'value="erase"' not in page
    response = operator.post(
        "/admin/waitlist/subscriber/", {"action": "export_csv", "_selected_action": [subscriber.pk]}
    )
    assert response.get("Content-Type", "").startswith("text/html")


def test_admin_login_is_rate_limited(settings, one_window):
    settings.ADMIN_LOGIN_ATTEMPTS = 3
    StaffFactory(username="boss")
    client = Client(HTTP_HOST="localhost")
    codes = [
        client.post("/admin/login/", {"username": "boss", "password": f"guess{i}"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    page = client.post("/admin/login/", {"username": "boss", "password": "x"}).content.decode()
    assert "Too many sign-in attempts" in page


@pytest.mark.parametrize("spelling", [" boss", "boss ", "\tboss", "boss\n", "BOSS", "ｂｏｓｓ"])
def test_a_locked_out_username_stays_locked_out_however_it_is_spelled(
    settings, spelling, one_window
):
    settings.ADMIN_LOGIN_ATTEMPTS = 3
    StaffFactory(username="boss", password="the-right-one")
    for i in range(3):
        Client(HTTP_HOST="localhost", REMOTE_ADDR=f"10.0.0.{i}").post(
            "/admin/login/", {"username": "boss", "password": f"guess{i}"}
        )
    fresh = Client(HTTP_HOST="localhost", REMOTE_ADDR="10.0.1.1")
    answer = fresh.post("/admin/login/", {"username": spelling, "password": "the-right-one"})
    assert answer.status_code == 429
    assert "_auth_user_id" not in fresh.session


def test_the_admin_path_comes_from_the_environment():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import django; django.setup();"
        "from django.test import Client; c = Client(HTTP_HOST='localhost');"
        "print(c.get('/staff-area/').status_code, c.get('/admin/').status_code)"
    )
    env = {**os.environ, "ADMIN_PATH": "staff-area/", "DJANGO_SETTINGS_MODULE": "halftime.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "302 404", result.stderr[-1500:]
