"""The one settings module. Every value comes from the environment (see .env.example).

With no environment at all the project runs on embedded defaults: SQLite, a Celery broker kept
in files, mail written to var/outbox. Production sets DATABASE_URL, REDIS_URL, EMAIL_URL,
SECRET_KEY, ALLOWED_HOSTS and SITE_URL.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file's.
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# The embedded default's files (SQLite, broker, outbox, cache). Nothing here creates them:
# `manage.py create_local_dirs` does, and `dev.py run` calls it.
VAR_DIR = BASE_DIR / (env("VAR_DIR", default="") or "var")

# --- Core --------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-only-never-use-in-production")
SITE_URL = env("SITE_URL", default="http://localhost:8000").rstrip("/")
SITE_NAME = env("SITE_NAME", default="Halftime Health")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", urlsplit(SITE_URL).hostname]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "halftime.adminsite.HalftimeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.postgres",
    "anymail",
    "csp",
    "reversion",
    "django_fsm_log",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "halftime",
    "articles",
    "waitlist",
]

MIDDLEWARE = [
    "halftime.middleware.ClientAddressMiddleware",
    "halftime.logs.RequestIdMiddleware",
    "halftime.middleware.BodySizeLimitMiddleware",
    "halftime.middleware.FormEncodingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "halftime.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "halftime.urls"
# Reverse proxies in front of gunicorn that append to X-Forwarded-For (halftime/middleware.py):
# 0 when gunicorn faces the internet, 1 behind one load balancer or nginx.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
# The address gunicorn listens on (the Procfile's BIND, read here too so that `check --deploy`
# can warn when a server reachable beyond this machine trusts X-Forwarded-For).
BIND = env("BIND", default="0.0.0.0")
# Checks an operator has weighed and silenced, comma-separated (e.g. halftime.W002 behind a load
# balancer only it can reach).
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_CHECKS", default=[])
# Bodies larger than this, files included, are refused with a 400 before anything reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# The largest list an operator can upload in admin (waitlist/people/importing.py); the command
# line reads any size.
LIST_UPLOAD_MAX_BYTES = env.int("LIST_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
WSGI_APPLICATION = "halftime.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "halftime.context_processors.site",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL and immediate transactions avoid lock errors.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters bound by the server, not quoted into the SQL by Python, and statements that
    # run often prepared once per connection: a third less CPU per signup in the web process.
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
    # Through a pooler in transaction mode (PgBouncer's pool_mode = transaction) a connection is
    # another server session from one transaction to the next: a server-side cursor, which
    # lives in its session, would be lost. Prepared statements survive with PgBouncer 1.21+
    # (max_prepared_statements). deploy/README.md says how the pooler is set up.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DATABASE_TRANSACTION_POOLING", default=False
    )

# --- Redis: three roles ------------------------------------------------------------------------
# The cache (pages, short-lived marks) may lose any key at any time and should evict
# (maxmemory-policy allkeys-lru). The rate-limit counters and the Celery broker must keep
# every key (noeviction). REDIS_URL is all three on one server; each role's own URL moves it
# to a server of its own, as production should.

REDIS_URL = env("REDIS_URL", default="")
REDIS_CACHE_URL = env("REDIS_CACHE_URL", default=REDIS_URL)
REDIS_RATELIMIT_URL = env("REDIS_RATELIMIT_URL", default=REDIS_URL)
_redis_options = {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1}
_cache_prefix = env("CACHE_KEY_PREFIX", default="halftime")
CACHES = {
    "default": (
        {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_CACHE_URL,
            "KEY_PREFIX": _cache_prefix,
            "OPTIONS": _redis_options,
        }
        if REDIS_CACHE_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    ),
    # The counters of every limit: signups, admin sign-ins, the campaigns' sending rate.
    "ratelimit": (
        {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_RATELIMIT_URL,
            "KEY_PREFIX": _cache_prefix + "-rl",
            "OPTIONS": _redis_options,
        }
        if REDIS_RATELIMIT_URL
        else {
            # Counters have no lifetime here (each window has a key of its own): the file
            # cache's incr would give every counter the default 5 minutes again. None is culled;
            # the daily retention run deletes those a day old (ratelimit.prune_counter_files).
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "ratelimit"),
            "TIMEOUT": None,
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    ),
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any countdown a task uses, so Redis never re-delivers a task still waiting.
        "visibility_timeout": 3600,
        "socket_connect_timeout": 1,
        "socket_timeout": 5,
        # A publish with the broker down fails on the first refused connection, instead of
        # kombu sleeping 2 s to try again inside the web request (a worker's own reconnecting
        # follows broker_connection_retry, not this).
        "max_retries": 0,
    }
# A web request never waits on a broker that is down: the outbox row is already written.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Workers log through LOGGING (below), whose filter keeps addresses and link tokens out of every
# line, rather than through a root handler of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# Transactional mail has a queue of its own, so it never waits behind a campaign.
CELERY_TASK_ROUTES = {
    "waitlist.tasks.send_outbox": {"queue": "mail"},
    "waitlist.tasks.sweep_outbox": {"queue": "mail"},
    "articles.tasks.send_review_emails": {"queue": "mail"},
    "articles.tasks.sweep_review_emails": {"queue": "mail"},
    # Not behind the batches it hands out: a dispatch waiting in that queue would be late.
    "waitlist.tasks.dispatch_campaigns": {"queue": "default"},
    "waitlist.tasks.send_campaign_lane": {"queue": "campaigns"},
}
OUTBOX_SWEEP_SECONDS = env.float("OUTBOX_SWEEP_SECONDS", default=30.0)
CAMPAIGN_DISPATCH_SECONDS = env.float("CAMPAIGN_DISPATCH_SECONDS", default=30.0)
# A started campaign's page asks a worker to count its figures again once they are this old
# (waitlist/campaigns/figures.py).
CAMPAIGN_FIGURES_SECONDS = env.float("CAMPAIGN_FIGURES_SECONDS", default=10.0)
# How often journeys hand the people now due to the engine (waitlist/campaigns/journeys.py).
JOURNEY_SECONDS = env.float("JOURNEY_SECONDS", default=30.0)
# The waitlist dashboard's figures are counted again this often (waitlist/people/dashboard.py).
DASHBOARD_RECOUNT_SECONDS = env.int("DASHBOARD_RECOUNT_SECONDS", default=300)
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {"task": "waitlist.tasks.sweep_outbox", "schedule": OUTBOX_SWEEP_SECONDS},
    "dispatch-campaigns": {
        "task": "waitlist.tasks.dispatch_campaigns",
        "schedule": CAMPAIGN_DISPATCH_SECONDS,
        # A dispatch that could not run before the next one is due is dropped, not piled up.
        "options": {"expires": CAMPAIGN_DISPATCH_SECONDS},
    },
    "tend-pending": {"task": "waitlist.tasks.tend_pending", "schedule": 3600},
    "import-lists": {
        "task": "waitlist.tasks.import_lists",
        "schedule": 60,
        "options": {"expires": 60},
    },
    "sweep-review-emails": {"task": "articles.tasks.sweep_review_emails", "schedule": 60},
    "sweep-webhooks": {"task": "waitlist.tasks.sweep_webhooks", "schedule": 30},
    "sweep-erasures": {"task": "waitlist.tasks.sweep_erasures", "schedule": 60},
    "run-journeys": {
        "task": "waitlist.tasks.run_journeys",
        "schedule": JOURNEY_SECONDS,
        "options": {"expires": JOURNEY_SECONDS},
    },
    "tend-invitations": {
        "task": "waitlist.tasks.tend_invitations",
        "schedule": 60,
        "options": {"expires": 60},
    },
    "recount-dashboard": {
        "task": "waitlist.tasks.recount_dashboard",
        "schedule": DASHBOARD_RECOUNT_SECONDS,
        "options": {"expires": DASHBOARD_RECOUNT_SECONDS},
    },
    "check-citations": {
        "task": "articles.tasks.check_citations",
        "schedule": 7 * 24 * 3600,
        "options": {"expires": 24 * 3600},
    },
    "apply-retention": {
        "task": "waitlist.tasks.apply_retention",
        "schedule": 24 * 3600,
        "options": {"expires": 24 * 3600},
    },
}
# Mailbox providers by MX (waitlist/engine/providers.py): the DNS resolver to ask, "system" for
# the machine's own, or host[:port]; empty, nothing is looked up and every domain is paced as
# "other". The domains of everyone who may be mailed are looked up every MX_LOOKUP_SECONDS.
DNS_RESOLVER = env("DNS_RESOLVER", default="")
MX_LOOKUP_SECONDS = env.int("MX_LOOKUP_SECONDS", default=600)
if DNS_RESOLVER:
    CELERY_BEAT_SCHEDULE["look-up-domains"] = {
        "task": "waitlist.tasks.look_up_domains",
        "schedule": MX_LOOKUP_SECONDS,
        "options": {"expires": MX_LOOKUP_SECONDS},
    }
# The From domain's checks before a campaign leaves (waitlist/engine/senderdomain.py): the SPF
# term the sending service asks for (default: the email service's own, from EMAIL_ESP), the
# DKIM selector it signs with and the domain it signs as (default: the From domain), and the
# envelope sender's domain (default: the From domain over SMTP; unknown with an email service).
SENDER_SPF = env("SENDER_SPF", default="")
SENDER_DKIM_SELECTOR = env("SENDER_DKIM_SELECTOR", default="")
SENDER_DKIM_DOMAIN = env("SENDER_DKIM_DOMAIN", default="")
SENDER_RETURN_PATH_DOMAIN = env("SENDER_RETURN_PATH_DOMAIN", default="")
# Bounces for mail sent over SMTP: the mailbox they arrive in, read every BOUNCE_CHECK_SECONDS
# (waitlist/bounces.py): imaps://user:password@host/INBOX, or pop3s://user:password@host.
BOUNCE_MAILBOX_URL = env("BOUNCE_MAILBOX_URL", default="")
BOUNCE_CHECK_SECONDS = env.int("BOUNCE_CHECK_SECONDS", default=300)
if BOUNCE_MAILBOX_URL:
    CELERY_BEAT_SCHEDULE["read-bounces"] = {
        "task": "waitlist.tasks.read_bounces",
        "schedule": BOUNCE_CHECK_SECONDS,
        "options": {"expires": BOUNCE_CHECK_SECONDS},
    }

# --- Mail --------------------------------------------------------------------------------------

if env("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "outbox")
# Seconds an SMTP connection may wait on the server; a send never blocks without end.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
# An email service instead of SMTP, through django-anymail: EMAIL_ESP=postmark (or amazon_ses,
# mailgun, sendgrid, …) and its settings as ANYMAIL_* variables, e.g. ANYMAIL_POSTMARK_SERVER_TOKEN.
# ANYMAIL_WEBHOOK_SECRET ("user:password") guards the bounce and complaint webhook at
# /anymail/<esp>/tracking/.
EMAIL_ESP = env("EMAIL_ESP", default="")
# Discreet mode (waitlist/engine/discreet.py): the condition words listed in admin never appear
# in a sender's name, subject, preheader, header, link path or anything sent to the email service
# or a webhook receiver; campaigns and system emails that would carry one are refused.
DISCREET_MODE = env.bool("DISCREET_MODE", default=True)
# Postmark's message streams an erasure is passed to (waitlist/engine/processors.py).
POSTMARK_MESSAGE_STREAMS = env.list("POSTMARK_MESSAGE_STREAMS", default=["outbound"])
if EMAIL_ESP:
    EMAIL_BACKEND = f"anymail.backends.{EMAIL_ESP}.EmailBackend"
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Halftime Health <hello@localhost>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
POSTAL_ADDRESS = env("POSTAL_ADDRESS", default="Halftime Health, 100 Example Street, Austin, TX")

# --- Auth, sessions, security ------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

HTTPS = env.bool("HTTPS", default=SITE_URL.startswith("https://"))
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere, no third-party origin: every page's assets are our own.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "https:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# --- Internationalisation ----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="America/Chicago")
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed, compressed names once collectstatic has run (every deploy and `dev.py run` do); before
# that (the test suite) plain names served from the app folders.
_collected = env.bool("STATIC_MANIFEST", default=(STATIC_ROOT / "staticfiles.json").is_file())
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _collected and not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not _collected

# --- Logging -----------------------------------------------------------------------------------

# /metrics answers only requests with `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
LOG_FORMAT = env("LOG_FORMAT", default="json" if HTTPS else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "halftime.logs.ContextFilter"}},
    "formatters": {
        "plain": {
            "()": "halftime.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "halftime.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Admin ------------------------------------------------------------------------------------

# Where admin lives; set something not guessable in production, e.g. "staff-7f3a/".
ADMIN_PATH = env("ADMIN_PATH", default="admin/").strip("/") + "/"
ADMIN_LOGIN_ATTEMPTS = env.int("ADMIN_LOGIN_ATTEMPTS", default=10)
# Two-factor sign-in for staff: a code from an authenticator app (TOTP) on top of the password.
# Enrol each person first (`manage.py totp_device USERNAME`), then turn it on.
ADMIN_OTP_REQUIRED = env.bool("ADMIN_OTP_REQUIRED", default=False)
OTP_TOTP_ISSUER = "Halftime Health"
# Admin never shows an authenticator's secret or its QR code: one staff member must not copy
# another's second factor. Enrolling is the command above.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Waitlist ---------------------------------------------------------------------------------

# A confirmation claimed by a worker that died is sent again after this long (Message-ID
# unchanged); campaigns have their own, CAMPAIGN_LEASE_SECONDS. A live sender renews its claim
# every quarter lease, so a lease must outlast one send (EMAIL_TIMEOUT) plus the minute a sent
# email may take to be recorded through a database outage, by a third: `check` refuses less.
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=120)
# Signup attempts allowed per IP address per 10 minutes, and per email address per hour.
WAITLIST_IP_LIMIT = env.int("WAITLIST_IP_LIMIT", default=20)
WAITLIST_EMAIL_LIMIT = env.int("WAITLIST_EMAIL_LIMIT", default=5)
# A signup not confirmed gets one reminder after this many hours, and is erased (down to the
# address's hash) after this many days without a confirmation or a new request.
CONFIRM_REMINDER_HOURS = env.int("CONFIRM_REMINDER_HOURS", default=48)
PENDING_EXPIRY_DAYS = env.int("PENDING_EXPIRY_DAYS", default=30)
# Retention (waitlist/people/retention.py, run by beat daily; the data map in admin shows the
# schedule): transactional emails that are not consent evidence are deleted RETENTION_OUTBOX_DAYS
# after they were written; webhook deliveries (their bodies carry the address) once delivered,
# after RETENTION_WEBHOOK_DAYS; a person unsubscribed for RETENTION_UNSUBSCRIBED_DAYS is erased
# down to the address's hash, their consent records reduced to what proves consent (wording,
# version, times; no IP address or browser).
RETENTION_OUTBOX_DAYS = env.int("RETENTION_OUTBOX_DAYS", default=90)
RETENTION_WEBHOOK_DAYS = env.int("RETENTION_WEBHOOK_DAYS", default=30)
# A reader's comment under an article, once an editor resolved it, is deleted after this long.
RETENTION_READER_COMMENT_DAYS = env.int("RETENTION_READER_COMMENT_DAYS", default=180)
RETENTION_UNSUBSCRIBED_DAYS = env.int("RETENTION_UNSUBSCRIBED_DAYS", default=730)
# Places a person moves up the list for each referral that counted.
REFERRAL_PLACES = env.int("REFERRAL_PLACES", default=3)
# Sites of your own whose pages may join people through the JSON API from the browser
# (https://www.example.com, comma-separated); a plain form posts from anywhere.
WAITLIST_ALLOWED_ORIGINS = env.list("WAITLIST_ALLOWED_ORIGINS", default=[])
# The home page says how many people are waiting once this many have confirmed (0: never).
WAITLIST_COUNT_FROM = env.int("WAITLIST_COUNT_FROM", default=500)

# From waitlist to patient (waitlist/invites/): where /start/<code>/ sends a person once they
# accept their invitation (the clinic's sign-up; it gets ?ref=<the activation event's id>);
# empty: the start page itself says what happens next. Webhooks to the clinic's systems
# (waitlist/engine/hooks.py) wait WEBHOOK_RETRY_SECONDS after a first failure, doubling each
# time, and give up on a receiver after WEBHOOK_TIMEOUT_SECONDS.
CLINIC_SIGNUP_URL = env("CLINIC_SIGNUP_URL", default="")
WEBHOOK_RETRY_SECONDS = env.float("WEBHOOK_RETRY_SECONDS", default=30.0)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)

# The frequency cap (waitlist/campaigns/cap.py): at most FREQUENCY_CAP_EMAILS campaign and
# journey emails to a person in any FREQUENCY_CAP_DAYS; 0 emails: no cap.
FREQUENCY_CAP_EMAILS = env.int("FREQUENCY_CAP_EMAILS", default=2)
FREQUENCY_CAP_DAYS = env.int("FREQUENCY_CAP_DAYS", default=7)

# Launch updates: sending rate shared by all workers, and the failure share that pauses a
# campaign (once at least CAMPAIGN_ERROR_MIN_SAMPLE messages were tried).
CAMPAIGN_RATE_PER_SECOND = env.int("CAMPAIGN_RATE_PER_SECOND", default=50)
CAMPAIGN_RATE_PER_HOUR = env.int("CAMPAIGN_RATE_PER_HOUR", default=100_000)
CAMPAIGN_ERROR_THRESHOLD = env.float("CAMPAIGN_ERROR_THRESHOLD", default=0.10)
CAMPAIGN_ERROR_MIN_SAMPLE = env.int("CAMPAIGN_ERROR_MIN_SAMPLE", default=50)
# A row claimed by a worker that died is sent again after this long (Message-ID unchanged).
CAMPAIGN_LEASE_SECONDS = env.int("CAMPAIGN_LEASE_SECONDS", default=300)
# The canary (waitlist/campaigns/waves.py): a campaign to at least CAMPAIGN_CANARY_FROM people
# first goes to CAMPAIGN_CANARY_SHARE of them (at most CAMPAIGN_CANARY_MOST); the rest waits
# CAMPAIGN_CANARY_MINUTES and leaves only if the canary's hard bounces stay at or under
# CAMPAIGN_BOUNCE_LIMIT and its spam complaints at or under CAMPAIGN_COMPLAINT_LIMIT (Gmail
# refuses bulk senders above 0.3%). While it sends, the same limits over the messages of the
# last CAMPAIGN_WATCH_MINUTES (once there are CAMPAIGN_WATCH_MIN_SAMPLE) pause it.
# CAMPAIGN_CANARY_FROM=0: no canary.
CAMPAIGN_CANARY_FROM = env.int("CAMPAIGN_CANARY_FROM", default=5000)
CAMPAIGN_CANARY_SHARE = env.float("CAMPAIGN_CANARY_SHARE", default=0.01)
CAMPAIGN_CANARY_MOST = env.int("CAMPAIGN_CANARY_MOST", default=500)
CAMPAIGN_CANARY_MINUTES = env.float("CAMPAIGN_CANARY_MINUTES", default=30)
CAMPAIGN_BOUNCE_LIMIT = env.float("CAMPAIGN_BOUNCE_LIMIT", default=0.02)
CAMPAIGN_COMPLAINT_LIMIT = env.float("CAMPAIGN_COMPLAINT_LIMIT", default=0.001)
CAMPAIGN_WATCH_MINUTES = env.float("CAMPAIGN_WATCH_MINUTES", default=30)
CAMPAIGN_WATCH_MIN_SAMPLE = env.int("CAMPAIGN_WATCH_MIN_SAMPLE", default=500)


# --- Learning Center ---------------------------------------------------------------------------

# Seconds the page cache keeps a Learning Center page for anonymous visitors; an edit, a deploy
# or a new consent wording makes it stale at once (articles/pagecache.py). 0 turns it off.
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=300)
# The site's part of a cached page's version: the deploy and the consent wording.
PAGE_CACHE_VERSION = "halftime.pages.page_version"
# Cache-Control max-age of those pages, for browsers and a CDN in front; an edit reaches readers
# behind a CDN within this many seconds.
PAGE_MAX_AGE = env.int("PAGE_MAX_AGE", default=60)
# How often a published article is read again by a medical reviewer: the editorial policy page
# says it, and a review sets the next one due this many months on.
ARTICLE_REVIEW_MONTHS = env.int("ARTICLE_REVIEW_MONTHS", default=12)
# The citation monitor (articles/citations.py): Crossref's REST API, the address its polite pool
# may write to about our requests, and how each address is asked for.
CROSSREF_URL = env("CROSSREF_URL", default="https://api.crossref.org")
CROSSREF_MAILTO = env("CROSSREF_MAILTO", default="")
CITATION_CHECK_TIMEOUT = env.float("CITATION_CHECK_TIMEOUT", default=10.0)
CITATION_CHECK_PAUSE = env.float("CITATION_CHECK_PAUSE", default=1.0)
# A run that could not reach Crossref is run again this much later.
CITATION_RETRY_SECONDS = env.int("CITATION_RETRY_SECONDS", default=3600)
ARTICLE_DISCLAIMER = env(
    "ARTICLE_DISCLAIMER",
    default=(
        "This article is for education only and is not medical advice. Talk with a licensed "
        "clinician about your own situation before starting, stopping or changing any treatment. "
        "Compounded medications are not FDA-approved, and individual results vary."
    ),
)
