import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client

from articles.pagecache import bump_content_version
from tests.factories import StaffFactory
from tests.mailsink import MailSink
from tests.processes import celery_worker
from waitlist.publisher import publisher


@pytest.fixture(autouse=True, scope="session")
def _runs_on_postgresql(django_db_setup, django_db_blocker):
    # The suite proves PostgreSQL behaviour (full-text search, constraints); never let it pass
    # quietly on SQLite.
    assert connection.vendor == "postgresql", "run the tests with DATABASE_URL=postgres://…"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    # Each process also keeps pages in memory; a new content version empties that too.
    bump_content_version()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _outbox_handed_over():
    # What a test queued reaches the broker before the next test empties it.
    yield
    assert publisher.flush(), "the outbox publisher did not hand its ids over in time"


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


def worker_env(smtp_sink: MailSink, **extra: str) -> dict[str, str]:
    """The environment of a process that shares this test session's database and broker."""
    db = connection.settings_dict
    return {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
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
