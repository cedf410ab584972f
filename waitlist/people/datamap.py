"""Where personal and health data is kept: each table and its personal columns, and each place
outside the tables (logs, mail, the clinic's receivers, Redis, backups); what it is, why it is
kept, for how long, and what ends it. Operators read it in admin (Data map); retention words
are computed from the same settings the jobs read.

`unmapped()` names every column that looks personal and that the map does not: the test suite
runs it over every installed model, so a personal column cannot arrive without a line here.
A column looks personal when
- it is an EmailField or an IP address field;
- one of the words of its name (split at "_") is in PERSONAL_WORDS: an address, an IP, a
  phone, a US state, interests, a referrer, campaign tags (utm_*), a browser (user agent), a
  person's name, or the contents of a message or a copy of a row (body, data, *_repr);
- it points at a person (a subscriber, or a staff member's user).
NOT_PERSONAL lists, with why, the columns that rule flags and that hold nothing about a person.

Models are named by label, never imported: the map covers every room, and people may not
import campaigns or invitations."""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db.models import EmailField, Field, GenericIPAddressField, Model

PERSONAL_WORDS = frozenset({
    "email", "ip", "phone", "mobile", "address", "postcode", "zip", "state", "interests",
    "referrer", "utm", "agent", "name", "username", "operator", "birth", "gender",
    "body", "data", "repr",
})  # fmt: skip
PERSONAL_CLASSES = (EmailField, GenericIPAddressField)
PEOPLE = ("waitlist.Subscriber", settings.AUTH_USER_MODEL)

NOT_PERSONAL = {
    "the name of a thing, not of a person": (
        "auth.Group.name", "auth.Permission.name", "articles.Category.name",
        "waitlist.Campaign.name", "waitlist.Journey.name", "waitlist.Counter.name",
    ),
    "words written once for every reader (articles, updates, email wordings)": (
        "articles.Article.body", "articles.Article.body_html", "articles.Article.body_text",
        "articles.ArticleVersion.data", "waitlist.Campaign.body", "waitlist.Campaign.body_html",
        "waitlist.EmailWording.body",
    ),
    "a lifecycle's status (draft, invited…), not a US state": (
        "django_fsm_log.StateLog.state", "django_fsm_log.StateLog.source_state",
    ),
    "a US state the clinic opened, not where a person lives": ("waitlist.OpenState.state",),
    "the interests a campaign is sent to, chosen by operators": (
        "waitlist.Campaign.audience_interests",
    ),
}  # fmt: skip


class _Setting:
    """A setting's value in a place's words: "{NAME}" as it is, "{NAME:days}" for a number of
    seconds, in days."""

    def __init__(self, name: str):
        self.value = getattr(settings, name)

    def __format__(self, spec: str) -> str:
        return f"{self.value // 86400}" if spec == "days" else format(self.value, spec)


class _Settings(dict):
    def __missing__(self, name: str) -> _Setting:
        return _Setting(name)


@dataclass(frozen=True)
class Place:
    """One place personal data is kept. `where` is a model's label for a table, else the
    place's name; `fields` its personal columns (of a table) or what it holds; `health` those of
    `fields` that are health data; `kept_for` words in which "{SETTING}" is that setting's
    value; `ended_by` the dotted names of the jobs and functions that end it."""

    where: str
    fields: tuple[str, ...]
    what: str
    why: str
    kept_for: str
    ended_by: tuple[str, ...] = ()
    health: tuple[str, ...] = ()

    def kept(self) -> str:
        return self.kept_for.format_map(_Settings())

    def table(self) -> str:
        """The database table of a table's place."""
        return apps.get_model(self.where)._meta.db_table


ON_REQUEST = "waitlist.people.privacy.erase"
RETENTION = "waitlist.tasks.apply_retention"
WHILE_ON_THE_LIST = (
    "Until the person is erased: when they ask, {PENDING_EXPIRY_DAYS} days after signing up if "
    "never confirmed, {RETENTION_UNSUBSCRIBED_DAYS} days after they unsubscribed"
)
STAFF_WHY = "To know who did what in admin."
UNTIL_DELETED = "Until a superuser deletes it; no job ends it"

TABLES = (
    Place(
        "waitlist.Subscriber",
        (
            "email",
            "email_hash",
            "canonical_email_hash",
            "interests",
            "state",
            "signup_ip",
            "source_article",
            "referrer_url",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "referred_by",
        ),
        "A person on the waitlist: their address, the interests and US state they chose, where "
        "they joined from (the article they read, the page that sent them, campaign tags), the "
        "IP address they joined from, who referred them. The article's subject can say what "
        "concerns them, as the interests do.",
        "To send the launch updates they asked for, in their state, about what interests them; "
        "to count referrals; to see which articles and campaigns bring people. After erasure "
        "the address's hash stays, so it is never mailed again.",
        f"{WHILE_ON_THE_LIST}; then only the address's hash and the reason stay",
        (ON_REQUEST, "waitlist.tasks.tend_pending", RETENTION),
        health=("interests", "source_article"),
    ),
    Place(
        "waitlist.ConsentRecord",
        ("subscriber", "signup_ip", "signup_user_agent", "confirm_ip"),
        "Proof of each consent: the wording and version shown, when and from which IP address "
        "and browser the person agreed, when they confirmed and withdrew.",
        "To prove the person asked for the emails.",
        f"{WHILE_ON_THE_LIST}; a retention erasure keeps the wording, version and times as "
        "proof of consent, without IP addresses or browser",
        (ON_REQUEST, "waitlist.tasks.tend_pending", RETENTION),
    ),
    Place(
        "waitlist.OutboundEmail",
        ("subscriber",),
        "Each transactional email to a person (confirmation, welcome, reminder…): its kind, "
        "wording version, when it was sent, the mail server's answer (which may repeat the "
        "address).",
        "To send each email once and retry it; the confirmation request is consent evidence.",
        "{RETENTION_OUTBOX_DAYS} days after it was written, once sent, failed or skipped; one a "
        "consent record points to stays with that record",
        (RETENTION, ON_REQUEST),
    ),
    Place(
        "waitlist.WebhookDelivery",
        ("subscriber", "body"),
        "Each event sent to the clinic's systems, as sent: the person's id, address, US state "
        "and times (never interests).",
        "To deliver each event until the receiver takes it, and to replay it.",
        "{RETENTION_WEBHOOK_DAYS} days after it was delivered; one not delivered until it is, "
        "or until the person is erased",
        (RETENTION, ON_REQUEST),
    ),
    Place(
        "waitlist.ProcessorErasure",
        ("subscriber", "email"),
        "An erasure to pass to the email service, which keeps addresses in lists of its own: the "
        "address, until the service confirms it suppressed it.",
        "So the email service never mails an erased address again.",
        "The address until the service confirms (retried for about two days, then an operator "
        "retries it); the row, without the address, stays as the record that it was told",
        ("waitlist.tasks.tell_processors",),
    ),
    Place(
        "waitlist.Delivery",
        ("subscriber", "campaign"),
        "Which launch updates went to the person, and when. A campaign sent to an interest says "
        "the person has it.",
        "To send each update once, and count what was sent, bounced and complained of.",
        WHILE_ON_THE_LIST + " (a campaign's figures then count the people still on the list)",
        (ON_REQUEST, "waitlist.tasks.tend_pending", RETENTION),
        health=("campaign",),
    ),
    Place(
        "waitlist.MilestoneReached",
        ("subscriber",),
        "The referral rewards the person reached, and when.",
        "To give the reward and announce it once.",
        WHILE_ON_THE_LIST,
        (ON_REQUEST, "waitlist.tasks.tend_pending", RETENTION),
    ),
    Place(
        "waitlist.Invitation",
        ("subscriber",),
        "The person's invitation to the clinic: its status and times.",
        "To invite people in order and let them in once.",
        "As long as the person's row, the hash of an erased person's included; no job ends it",
    ),
    Place(
        "waitlist.ListUpload",
        ("name", "data", "uploaded_by"),
        "A list of people uploaded in admin: the file (addresses, interests, states) until it "
        "is imported; the import's result, whose problems can quote lines.",
        "To import the list a worker reads, after the operator saw its preview.",
        "The file until it is imported or refused; a preview or refused import is deleted at "
        "the next upload after a day; the record stays",
        ("waitlist.tasks.import_lists",),
        health=("data",),
    ),
    Place(
        "django_fsm_log.StateLog",
        ("by",),
        "Each step of an article's review, a campaign's and a person's invitation: who (staff) "
        "or which job took it, when, why. An invitation's steps are about the person.",
        "To show who did what, and a person's invitation history.",
        UNTIL_DELETED,
    ),
    Place(
        "admin.LogEntry",
        ("user", "object_repr"),
        "Admin's history of changes: who changed which row, and the row as it read (a "
        "subscriber reads as their address until they are erased, then as their number).",
        STAFF_WHY,
        UNTIL_DELETED,
    ),
    Place(
        "auth.User",
        ("username", "first_name", "last_name", "email"),
        "Staff accounts: name, address, password hash, last sign-in.",
        "To let staff sign in to admin.",
        UNTIL_DELETED,
    ),
    Place(
        "sessions.Session",
        ("session_data",),
        "A staff member's signed-in session (visitors get none).",
        "To keep staff signed in.",
        "{SESSION_COOKIE_AGE:days} days after signing in; ended sessions are deleted by the "
        "daily retention job",
        (RETENTION,),
    ),
    Place(
        "otp_totp.TOTPDevice",
        ("user", "name"),
        "A staff member's authenticator app: its name and secret key.",
        "Two-factor sign-in to admin.",
        UNTIL_DELETED,
    ),
    Place(
        "reversion.Revision",
        ("user",),
        "Who saved each version of a campaign or a glossary term, and when.",
        STAFF_WHY,
        UNTIL_DELETED,
    ),
    Place(
        "reversion.Version",
        ("serialized_data", "object_repr"),
        "Copies of campaigns and glossary terms as saved (the only models registered; nothing "
        "about subscribers).",
        "To show and restore earlier versions.",
        UNTIL_DELETED,
    ),
    Place(
        "waitlist.EmailWording",
        ("created_by",),
        "Who wrote each version of a system email's wording.",
        STAFF_WHY,
        "As long as the wording: it is consent evidence; no job ends it",
    ),
    Place(
        "articles.ArticleVersion",
        ("saved_by",),
        "Who saved each version of an article.",
        STAFF_WHY,
        UNTIL_DELETED,
    ),
    Place(
        "articles.SignOff",
        ("signed_by", "operator"),
        "Who recorded each medical sign-off, or ran the import that carried it.",
        "The review line on an article must come from a named sign-off.",
        UNTIL_DELETED,
    ),
    Place(
        "articles.ReviewEmail",
        ("to", "body"),
        "Emails to reviewers and editors about a review: their address, what was asked.",
        "To send each once and retry it.",
        UNTIL_DELETED,
    ),
    Place(
        "articles.Finding",
        ("detail", "resolved_by"),
        'What readers wrote under an article ("Was this helpful?", "Report an error"), with '
        "anything like an email address or a phone number cut out, and nothing about who wrote "
        "it; what the citation monitor found; and which editor resolved each.",
        "So that editors correct what readers and the monitor point out.",
        "A reader's comment {RETENTION_READER_COMMENT_DAYS} days after an editor resolved it; "
        "the monitor's findings until deleted",
        (RETENTION,),
        health=("detail",),
    ),
    Place(
        "articles.Person",
        ("name", "user"),
        "Authors and medical reviewers, public and professional: name, credentials, bio, "
        "photo, links, and their staff account.",
        "Readers see who wrote and who reviewed each article.",
        "While they are listed; an editor removes them",
    ),
)

ELSEWHERE = (
    Place(
        "Application logs (web, worker and beat: standard output, then the platform's log store)",
        ("request id", "what each job did, by row id"),
        "Addresses are replaced by a short hash and link tokens by [token], in messages and "
        "tracebacks alike, by the logging filter and formatters (halftime.logs); workers and "
        "beat log through the same configuration (CELERY_WORKER_HIJACK_ROOT_LOGGER off).",
        "To run and debug the site.",
        "As long as the log store keeps them (set there, not here)",
    ),
    Place(
        "Access logs (gunicorn's, and nginx's with deploy/nginx.conf)",
        ("client IP address", "page requested", "referrer", "browser (user agent)"),
        "One line per request, link tokens removed (halftime.accesslog, nginx's map). The pages "
        "a visitor read, by IP address: an article's subject can say what concerns them.",
        "To run the site and look into abuse.",
        "As long as the log store or logrotate keeps them (set there, not here)",
        health=("page requested",),
    ),
    Place(
        "Outbox files (var/outbox, without EMAIL_URL or EMAIL_ESP: development)",
        ("address", "subject", "body"),
        "Every email in full, written by Django's file email backend instead of being sent.",
        "To read the mail a development site sends.",
        "Until deleted by hand; no job ends them",
        health=("subject", "body"),
    ),
    Place(
        "The email service (EMAIL_ESP) or SMTP relay: a processor",
        ("address", "subject", "body"),
        "Every email sent, and bounces and complaints it reports back to the site's webhook. "
        "A campaign sent to an interest says the person has it.",
        "To deliver the mail.",
        "As long as the service keeps its message logs (its data-processing agreement); each "
        "erasure is passed to its suppression API, so it never mails the address again",
        ("waitlist.tasks.tell_processors",),
        health=("subject", "body"),
    ),
    Place(
        "The bounce mailbox (BOUNCE_MAILBOX_URL)",
        ("address", "the message bounced or replied to"),
        "Bounce reports and complaints, and people's replies to our mail.",
        "To suppress addresses that bounce or complain.",
        "Reports: deleted once read. Over IMAP, anything else (a person's reply) stays, marked "
        "seen; over POP3 it is deleted",
        ("waitlist.tasks.read_bounces",),
    ),
    Place(
        "The clinic's webhook receivers (each webhook endpoint)",
        ("id", "address", "US state", "when confirmed or unsubscribed"),
        "What the clinic's systems hear about people (waitlist.people.events); never interests.",
        "The clinic invites people and takes them in as patients.",
        "By the clinic's own rules; when a person is erased, a subscriber.erased event (the id "
        "and the address's hash) asks the receiver to erase its copy",
        ("waitlist.people.events.erased",),
    ),
    Place(
        "Redis (or, on the embedded default, var/ratelimit and var/cache)",
        ("hash of an IP address's network", "hash of an address", "hash of a username"),
        "Rate-limit counters, keyed by a hash of what they count (signups per IP network and "
        "per address, admin sign-ins per IP and per username); the broker's tasks carry row "
        "ids only; the cache holds public pages and figures.",
        "To stop floods of signups and password guessing.",
        "In Redis, a counter ends with its window (at most an hour); on the embedded default, "
        "the daily retention run deletes a counter's file a day after it last counted",
    ),
    Place(
        "Database backups (pg_dump, the platform's snapshots)",
        ("every table above",),
        "A copy of the whole database, erased people as they were when it was taken.",
        "To restore the site after losing the database.",
        "As long as backups are kept (set where they are); a restore brings back people erased "
        "since the backup was taken, whom an operator must erase again",
        health=("every table above",),
    ),
)

PLACES = TABLES + ELSEWHERE


def looks_personal(field: Field) -> bool:
    """The rule the module's docstring states."""
    if isinstance(field, PERSONAL_CLASSES):
        return True
    if PERSONAL_WORDS.intersection(re.split(r"_+", field.name.lower())):
        return True
    target = field.related_model if field.is_relation else None
    return getattr(target, "_meta", None) is not None and target._meta.label in PEOPLE


def unmapped(models: Iterable[type[Model]] | None = None) -> list[str]:
    """Each column of `models` (every installed model) that looks personal and is neither on
    the map nor in NOT_PERSONAL, as "app.Model.field"."""
    known = {f"{place.where}.{field}" for place in TABLES for field in place.fields}
    known.update(name for names in NOT_PERSONAL.values() for name in names)
    return [
        f"{model._meta.label}.{field.name}"
        for model in (apps.get_models() if models is None else models)
        for field in model._meta.concrete_fields
        if looks_personal(field) and f"{model._meta.label}.{field.name}" not in known
    ]
