import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from tests.factories import StaffFactory


@pytest.fixture(autouse=True, scope="session")
def _runs_on_postgresql(django_db_setup, django_db_blocker):
    # The suite proves PostgreSQL behaviour (full-text search, constraints); never let it pass
    # quietly on SQLite.
    assert connection.vendor == "postgresql", "run the tests with DATABASE_URL=postgres://…"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def client() -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def staff_client(db) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(StaffFactory(is_superuser=True))
    return client
