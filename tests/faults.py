"""Faults a test can cause on this machine's real components."""

import psycopg
from django.db import connection


def cut_database_connection_on_accept(sink):
    """As PostgreSQL restarting would: the sender's database connection dies right after the
    mail server accepted the message, before the sender could record it."""
    backend = connection.connection.info.backend_pid

    def cut():
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [backend])
        sink.on_accept = None

    sink.on_accept = cut
