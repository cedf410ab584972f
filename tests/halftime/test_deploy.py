import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import database_url
from waitlist.models import WebhookEndpoint

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "p9s!v2k#x7-m4q@w8e1r5t0y3u6i9o2p4a7s1d5f8g0h3j6k9l",
    "SITE_URL": "https://halftimehealth.example",
    "ALLOWED_HOSTS": "halftimehealth.example",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/halftime",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
    "REDIS_CACHE_URL": "redis://cache.internal:6379/0",
    "EMAIL_URL": "smtp+tls://user:secret@smtp.example.com:587",
    "BOUNCE_MAILBOX_URL": "imaps://bounces:secret@mail.example.com/INBOX",
    "DNS_RESOLVER": "system",
}


SECRET = "hook:s3cret"


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        # A production environment: nothing the test session itself set (the browser tests
        # allow Django's async-unsafe calls, which the deploy check rightly rejects).
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}, **env},
        capture_output=True,
        text=True,
    )


def check(env: dict) -> subprocess.CompletedProcess:
    return manage(env, "check", "--deploy", "--fail-level", "WARNING")


def test_deploy_check_passes_with_production_values():
    result = check(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "roles",
    [
        {"REDIS_CACHE_URL": ""},  # REDIS_URL for all three
        {"REDIS_CACHE_URL": "redis://127.0.0.1:6379/3"},  # another database, the same memory
        {
            "REDIS_CACHE_URL": "redis://cache.internal/0",
            "REDIS_RATELIMIT_URL": "redis://cache.internal:6379/1",
        },
    ],
)
def test_a_cache_sharing_a_redis_server_with_what_must_not_be_evicted_is_refused(roles):
    env = {**PRODUCTION, **roles}
    if not roles["REDIS_CACHE_URL"]:
        del env["REDIS_CACHE_URL"]
    result = check(env)
    assert result.returncode != 0
    assert "halftime.W001" in result.stderr and "allkeys-lru" in result.stderr


@pytest.mark.parametrize(
    "bind, trusted, warned",
    [
        ("0.0.0.0", "1", True),
        ("10.0.0.5", "1", True),
        ("127.0.0.1", "1", False),
        ("unix:/run/halftime.sock", "1", False),
        ("0.0.0.0", "0", False),
    ],
)
def test_a_server_reachable_beyond_this_machine_that_trusts_proxies_is_warned(
    bind, trusted, warned
):
    result = check({**PRODUCTION, "BIND": bind, "TRUSTED_PROXIES": trusted})
    assert ("halftime.W002" in result.stderr) == warned
    assert (result.returncode != 0) == warned
    weighed = {**PRODUCTION, "BIND": bind, "TRUSTED_PROXIES": trusted}
    assert check({**weighed, "SILENCED_CHECKS": "halftime.W002"}).returncode == 0


def test_the_example_environment_binds_the_loopback_address():
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    )
    assert example["BIND"] == "127.0.0.1" and example["TRUSTED_PROXIES"] == "1"
    result = check({**PRODUCTION, "BIND": example["BIND"], "TRUSTED_PROXIES": "1"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_fails_with_the_embedded_development_key():
    result = check({**PRODUCTION, "SECRET_KEY": ""} | {"SECRET_KEY": "django-insecure-x"})
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["OUTBOX_LEASE_SECONDS", "CAMPAIGN_LEASE_SECONDS"])
def test_a_lease_a_live_send_could_outlast_is_refused(name):
    # 20 s to send and 60 s to record between two renewals, each a quarter lease apart.
    result = manage({**PRODUCTION, name: "106", "EMAIL_TIMEOUT": "20"}, "check")
    assert result.returncode != 0
    assert "waitlist.E002" in result.stderr and f"Set {name} to 107 or more" in result.stderr
    assert manage({**PRODUCTION, name: "107", "EMAIL_TIMEOUT": "20"}, "check").returncode == 0


def test_collected_static_files_outside_the_project_start_fine(tmp_path):
    (tmp_path / "staticfiles.json").write_text('{"paths": {}, "version": "1.1"}')
    result = manage({**PRODUCTION, "STATIC_ROOT": str(tmp_path)}, "check")
    assert result.returncode == 0, result.stderr


def test_an_email_service_without_a_webhook_secret_is_refused():
    service = {**PRODUCTION, "EMAIL_ESP": "postmark", "ANYMAIL_POSTMARK_SERVER_TOKEN": "t0ken"}
    result = check(service)
    assert result.returncode != 0
    assert "waitlist.E004" in result.stderr and "ANYMAIL_WEBHOOK_SECRET" in result.stderr
    assert check({**service, "ANYMAIL_WEBHOOK_SECRET": SECRET}).returncode == 0


def test_an_email_service_s_own_webhook_key_is_asked_for():
    postal = {
        **PRODUCTION,
        "EMAIL_ESP": "postal",
        "ANYMAIL_POSTAL_API_KEY": "key",
        "ANYMAIL_POSTAL_API_URL": "https://postal.example",
        "ANYMAIL_WEBHOOK_SECRET": SECRET,
    }
    result = check(postal)
    assert result.returncode != 0
    assert "waitlist.E005" in result.stderr and "POSTAL_WEBHOOK_KEY" in result.stderr
    keyed = check({**postal, "ANYMAIL_POSTAL_WEBHOOK_KEY": "a-public-key"})
    assert "waitlist.E005" not in keyed.stderr
    # Postal has no suppression API here: an erased address would stay in its lists.
    assert keyed.returncode != 0 and "waitlist.E010" in keyed.stderr


def test_an_email_service_that_hears_erasures_passes():
    postmark = {
        **PRODUCTION,
        "EMAIL_ESP": "postmark",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "token",
        "ANYMAIL_WEBHOOK_SECRET": SECRET,
    }
    result = check(postmark)
    assert result.returncode == 0, result.stderr


def test_smtp_without_a_bounce_mailbox_is_refused():
    env = {k: v for k, v in PRODUCTION.items() if k != "BOUNCE_MAILBOX_URL"}
    result = check(env)
    assert result.returncode == 1 and "waitlist.W006" in result.stderr


def test_a_bounce_mailbox_read_without_tls_is_refused():
    result = check({**PRODUCTION, "BOUNCE_MAILBOX_URL": "imap://u:p@mail.example.com/INBOX"})
    assert result.returncode == 1 and "waitlist.E007" in result.stderr
    assert check({**PRODUCTION, "BOUNCE_MAILBOX_URL": "pop3://u:p@127.0.0.1"}).returncode == 0


def test_no_resolver_for_the_recipients_mailbox_providers_is_warned():
    env = {k: v for k, v in PRODUCTION.items() if k != "DNS_RESOLVER"}
    result = check(env)
    assert result.returncode == 1 and "waitlist.W008" in result.stderr
    assert "DNS_RESOLVER=system" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_a_webhook_endpoint_that_is_not_https_is_refused():
    env = {**PRODUCTION, "DATABASE_URL": database_url()}
    plain = WebhookEndpoint.objects.create(
        url="http://clinic.example.org/hooks", secret="s", events=["subscriber.confirmed"]
    )
    result = manage(env, "check", "--deploy", "--database", "default")
    assert result.returncode == 1 and "waitlist.E008" in result.stderr
    assert "http://clinic.example.org/hooks" in result.stderr
    plain.url = "https://clinic.example.org/hooks"
    plain.save()
    result = manage(env, "check", "--deploy", "--database", "default", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("pooling", "off"), [("", "False"), ("true", "True")])
def test_a_pooler_in_transaction_mode_turns_server_side_cursors_off(pooling, off):
    asked = "from django.conf import settings as s; print(s.DATABASES['default']"
    result = manage(
        {**PRODUCTION, "DATABASE_TRANSACTION_POOLING": pooling},
        "shell", "-c", asked + "['DISABLE_SERVER_SIDE_CURSORS'])",
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == off, result.stderr
