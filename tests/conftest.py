import json

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test import Client

from tests.factories import StaffFactory
from tests.mailsink import MailSink
from tests.processes import celery_worker
from waitlist.engine import workers
from waitlist.models import Subscriber


def on_sqlite() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def pytest_collection_modifyitems(config, items):
    """On SQLite the suite runs all but what only PostgreSQL does (full-text search ranking)."""
    if not on_sqlite():
        return
    left_out = [item for item in items if item.get_closest_marker("postgresql")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    # A file, not SQLite's in-memory default: worker processes must share the test database.
    if on_sqlite():
        test = settings.DATABASES["default"].setdefault("TEST", {})
        test["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test_halftime.sqlite3")


@pytest.fixture(autouse=True)
def _empty_cache():
    for alias in ("default", "ratelimit"):
        caches[alias].clear()
    yield
    for alias in ("default", "ratelimit"):
        caches[alias].clear()


@pytest.fixture
def client() -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def staff_client(db) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(StaffFactory(is_superuser=True))
    return client


@pytest.fixture(scope="session")
def smtp_sink():
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def mail(smtp_sink, settings):
    """Mail sent by this process goes over SMTP to the sink, which starts each test empty."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    smtp_sink.clear()
    return smtp_sink


def database_url() -> str:
    """The test database, for another process."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def worker_env(smtp_sink: MailSink, **extra: str) -> dict[str, str]:
    """The environment of a process that shares this test session's database and broker."""
    return {
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}",
        "SITE_URL": settings.SITE_URL,
        **extra,
    }


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, smtp_sink):
    """A real Celery worker process on the test database, sending to the SMTP sink. Tests that
    use it need ``transactional_db`` so the worker sees their rows."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    process = celery_worker(worker_env(smtp_sink))
    yield process
    process.stop()


@pytest.fixture
def handed_out(monkeypatch) -> list[tuple]:
    """The tasks handed to the workers, (name, *args) each, kept here instead of the broker: for
    tests that run the tasks' work themselves, with no worker to take it."""
    tasks: list[tuple] = []

    def record(task: str, *args, countdown=None) -> bool:
        tasks.append((task, *args))
        return True

    monkeypatch.setattr(workers, "enqueue", record)
    return tasks


def run_lanes(campaign) -> list:
    """One run of the lane of each provider with mail due, as the workers would take them;
    the runs' results."""
    from waitlist.campaigns import dispatch
    from waitlist.models import Delivery, Provider

    due = Delivery.objects.filter(campaign_id=campaign.pk).due()
    return [
        dispatch.send_batch(campaign.pk, provider)
        for provider in Provider.values
        if due.filter(provider=provider).exists()
    ]


# --- what a visitor does -----------------------------------------------------------------------


def join(client, email="new.person@example.com", *, ip="203.0.113.7", as_json=False,
         headers=None, **fields):  # fmt: skip
    """A visitor joins: the form's POST to /waitlist/, or with `as_json` the JSON API's. The
    response."""
    if as_json:
        body = json.dumps({"email": email, **fields})
        return client.post(
            "/api/waitlist/", body, content_type="application/json", REMOTE_ADDR=ip,
            **(headers or {}),
        )  # fmt: skip
    return client.post("/waitlist/", {"email": email, **fields}, REMOTE_ADDR=ip, **(headers or {}))


def joined(client, email="pat@example.com", **options) -> Subscriber:
    """A visitor joins through the form: the person now on the list."""
    join(client, email, **options)
    return Subscriber.objects.get(email=email)
