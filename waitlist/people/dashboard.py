"""The operators' waitlist dashboard: each chart an SVG drawn here with labelled axes, each
beside the table of its figures, and every table also as CSV.

Its figures are counted in the database by a periodic job (`recount`, every
DASHBOARD_RECOUNT_SECONDS) and kept in one row (`DashboardFigures`): the page and its CSVs read
that row, so they cost the same at a million people as at ten, and say when they were counted.
An operator can ask for a count at once."""

import csv
import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format

from articles.models import Article, ArticleFeedback, Finding, SearchMiss

from ..models.invites import Invitation, OpenState
from ..models.people import DashboardFigures, Interest, Milestone, Subscriber, USState

DAYS = 30
CONFIRMED = Q(status=Subscriber.Status.CONFIRMED)
READER_FINDINGS = [Finding.Kind.HELPFUL, Finding.Kind.NOT_HELPFUL, Finding.Kind.ERROR]


@dataclass
class Table:
    """One set of figures: shown as an HTML table, downloadable as CSV by its `name`."""

    name: str
    caption: str
    columns: list[str]
    rows: list[list]
    # The column holding people's ids, counted as ids and shown as the people they are now.
    people_column: int | None = None


def daily(*, days: int = DAYS) -> Table:
    """Signups by the day they joined, confirmations by the day they confirmed (site time)."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    joined, confirmed = _per_day("created_at", start), _per_day("confirmed_at", start)
    days_shown = [start + dt.timedelta(days=i) for i in range(days)]
    return Table(
        "daily",
        f"Signups and confirmations per day, the last {days} days",
        ["Day", "Signups", "Confirmations"],
        [[day, joined.get(day, 0), confirmed.get(day, 0)] for day in days_shown],
    )


def _per_day(moment: str, start: dt.date) -> dict[dt.date, int]:
    """From the start of `start` in the site's time: a range an index serves (`__date` would
    cast every row's time first)."""
    since = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    return dict(
        Subscriber.objects.filter(**{f"{moment}__gte": since})
        .annotate(day=TruncDate(moment))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )


def by_status() -> Table:
    counts = dict(
        Subscriber.objects.values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return Table(
        "status",
        "People by where they stand",
        ["Status", "People"],
        [[label, counts.get(value, 0)] for value, label in Subscriber.Status.choices],
    )


def by_source() -> Table:
    """Confirmed people by the kind of form they joined from and the campaign that sent them."""
    rows = (
        Subscriber.objects.filter(CONFIRMED)
        .values("placement", "utm_source")
        .annotate(n=Count("id"))
        .order_by("-n", "placement", "utm_source")[:20]
    )
    return Table(
        "sources",
        "Confirmed people by source",
        ["Form", "Campaign source (utm_source)", "Confirmed"],
        [[row["placement"] or "–", row["utm_source"] or "–", row["n"]] for row in rows],
    )


def by_state() -> Table:
    names = dict(USState.choices)
    rows = (
        Subscriber.objects.filter(CONFIRMED)
        .values("state")
        .annotate(n=Count("id"))
        .order_by("-n", "state")
    )
    return Table(
        "states",
        "Confirmed people by US state",
        ["State", "Confirmed"],
        [[names.get(row["state"], "No state given"), row["n"]] for row in rows],
    )


def by_interest() -> Table:
    # The JSON list's text holds each interest in quotes, as the campaigns' segments read it.
    counts = Subscriber.objects.filter(CONFIRMED).aggregate(
        **{
            value: Count("id", filter=Q(interests__icontains=f'"{value}"'))
            for value in Interest.values
        }
    )
    return Table(
        "interests",
        "Confirmed people by interest (a person can have several)",
        ["Interest", "Confirmed"],
        sorted(([label, counts[value]] for value, label in Interest.choices), key=lambda r: -r[1]),
    )


def top_articles() -> Table:
    rows = (
        Article.objects.annotate(
            confirmed=Count("signups", filter=Q(signups__status=Subscriber.Status.CONFIRMED)),
            total=Count("signups"),
        )
        .filter(total__gt=0)
        .order_by("-confirmed", "-total")[:10]
    )
    return Table(
        "articles",
        "Top articles by confirmed signups",
        ["Article", "Confirmed", "All signups"],
        [[article.title, article.confirmed, article.total] for article in rows],
    )


def referrals() -> Table:
    """Counted from the referrals that counted (their own index), not from everyone."""
    top = list(
        Subscriber.objects.filter(referral_credited=True, referred_by__isnull=False)
        .values("referred_by")
        .annotate(credited=Count("id"))
        .order_by("-credited", "referred_by")[:10]
    )
    return Table(
        "referrers",
        "Top referrers (confirmed referrals that counted)",
        ["Subscriber", "Referrals that counted"],
        [[row["referred_by"], row["credited"]] for row in top],
        people_column=0,
    )


def milestones() -> Table:
    rows = Milestone.objects.annotate(people=Count("reached"))
    return Table(
        "milestones",
        "Referral milestones reached",
        ["Milestone", "People who reached it"],
        [[str(milestone), milestone.people] for milestone in rows],
    )


def invitations() -> Table:
    """Each open state (and any other with invitations): its people and where their
    invitations stand."""
    opened = dict(OpenState.objects.values_list("state", "opened_on"))
    confirmed = dict(
        Subscriber.objects.filter(CONFIRMED, state__in=opened).values("state")
        .annotate(n=Count("id")).values_list("state", "n")
    )  # fmt: skip
    counts: dict[str, dict[str, int]] = {}
    for state, status, n in (
        Invitation.objects.values("subscriber__state", "status").annotate(n=Count("pk"))
        .values_list("subscriber__state", "status", "n").order_by()
    ):  # fmt: skip
        counts.setdefault(state, {})[status] = n
    shown = [Invitation.Status.INVITED, Invitation.Status.ACTIVATED, Invitation.Status.EXPIRED,
             Invitation.Status.DECLINED]  # fmt: skip
    names = dict(USState.choices)
    rows = [
        [
            names.get(state, "No state given (erased)"),
            opened.get(state, "not open"),
            confirmed.get(state, 0),
            *(counts.get(state, {}).get(status, 0) for status in shown),
        ]
        for state in sorted(set(opened) | set(counts), key=lambda s: names.get(s, "~"))
    ]
    return Table(
        "invitations",
        "Invitations by state",
        ["State", "Open from", "Confirmed", "Invited, not yet used", "Activated", "Expired",
         "Declined"],
        rows,
    )  # fmt: skip


def reader_feedback() -> Table:
    """What readers answered under each article ("Was this helpful?", "Report an error"), most
    answers first, with the comments still waiting for an editor."""
    rows = (
        ArticleFeedback.objects.select_related("article")
        .annotate(
            waiting=Count(
                "article__findings",
                filter=Q(article__findings__resolved_at__isnull=True)
                & Q(article__findings__kind__in=READER_FINDINGS),
            ),
            answers=F("helpful") + F("not_helpful") + F("errors_reported"),
        )
        .order_by("-answers", "article__title")[:20]
    )
    return Table(
        "feedback",
        "Reader feedback by article",
        ["Article", "Helpful", "Not helpful", "Errors reported", "Comments to look at"],
        [[f.article.title, f.helpful, f.not_helpful, f.errors_reported, f.waiting] for f in rows],
    )


def search_misses() -> Table:
    rows = SearchMiss.objects.order_by("-count", "-last_seen")[:20]
    return Table(
        "searches",
        "Searches that found nothing",
        ["Search", "Times", "Last searched"],
        [
            [miss.query, miss.count, date_format(timezone.localdate(miss.last_seen), "M j, Y")]
            for miss in rows
        ],
    )


# --- the chart ---------------------------------------------------------------------------------

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 28, 40


def nice_top(peak: int) -> int:
    """The y axis's top: the peak rounded up to 1, 2 or 5 times a power of ten."""
    if peak <= 4:
        return 4
    magnitude = 10 ** (len(str(peak)) - 1)
    for step in (1, 2, 5, 10):
        if peak <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def chart(table: Table) -> dict:
    """Geometry for the template's SVG: two bars a day (signups, confirmations), y ticks with
    their counts, a date under every seventh day."""
    rows = table.rows
    top = nice_top(max([max(row[1], row[2]) for row in rows] + [0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(rows)
    bar = max(1.0, step * 0.4)

    def y(value: int) -> float:
        return round(TOP + plot_h - value / top * plot_h, 1)

    days = []
    for i, (day, joined, confirmed) in enumerate(rows):
        x = LEFT + i * step + step * 0.1
        days.append(
            {
                "day": day,
                "joined": {
                    "x": round(x, 1),
                    "y": y(joined),
                    "h": round(TOP + plot_h - y(joined), 1),
                },
                "confirmed": {
                    "x": round(x + bar, 1),
                    "y": y(confirmed),
                    "h": round(TOP + plot_h - y(confirmed), 1),
                },
                "label_x": round(LEFT + i * step + step / 2, 1),
                "labelled": (len(rows) - 1 - i) % 7 == 0,
                "joined_n": joined,
                "confirmed_n": confirmed,
            }
        )
    ticks = [{"value": v, "y": y(v)} for v in (0, top // 4, top // 2, top * 3 // 4, top)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "base": TOP + plot_h,
        "bar": round(bar, 1),
        "days": days,
        "ticks": ticks,
        "x_title_y": HEIGHT - 2,
    }


# --- the view ----------------------------------------------------------------------------------


# Each table by the name its CSV is asked for: a CSV builds its table alone.
TABLES: dict[str, Callable[[], Table]] = {
    "daily": daily, "status": by_status, "sources": by_source, "states": by_state,
    "interests": by_interest, "articles": top_articles, "referrers": referrals,
    "milestones": milestones, "invitations": invitations, "feedback": reader_feedback,
    "searches": search_misses,
}  # fmt: skip


def as_csv(table: Table) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="waitlist-{table.name}.csv"'
    writer = csv.writer(response)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(
            [spreadsheet_cell(v.isoformat() if isinstance(v, dt.date) else str(v)) for v in row]
        )
    return response


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str) -> str:
    """A spreadsheet reads a cell that starts like a formula as one (=HYPERLINK(…), and the
    valid address =1+1@example.com): a leading ' keeps it text."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def totals() -> dict[str, int]:
    return Subscriber.objects.aggregate(
        signups=Count("id", filter=~Q(status=Subscriber.Status.ERASED)),
        confirmed=Count("id", filter=CONFIRMED),
        ever_confirmed=Count("id", filter=Q(confirmed_at__isnull=False)),
        unsubscribed=Count("id", filter=Q(status=Subscriber.Status.UNSUBSCRIBED)),
        referred=Count("id", filter=Q(referred_by__isnull=False)),
        credited=Count("id", filter=Q(referral_credited=True)),
    )


RECOUNT_TASK = "waitlist.tasks.recount_dashboard"


def recount(more_tables: Mapping[str, Callable[[], Table]] | None = None) -> DashboardFigures:
    """Count every figure of the dashboard and keep them; `more_tables` adds tables of other
    rooms' figures (the campaigns'), by name."""
    started, now = time.perf_counter(), timezone.now()
    builders = {**TABLES, **(more_tables or {})}
    figures = {"totals": totals(), "tables": [asdict(build()) for build in builders.values()]}
    kept, _ = DashboardFigures.objects.update_or_create(
        pk=1,
        defaults={"counted_at": now, "seconds": time.perf_counter() - started, "figures": figures},
    )
    return kept


def counted() -> tuple[DashboardFigures | None, dict[str, Table]]:
    """The figures last counted, and their tables by name, each as it was built."""
    kept = DashboardFigures.objects.filter(pk=1).first()
    if kept is None:
        return None, {}
    tables = {}
    for data in kept.figures["tables"]:
        table = Table(**data)
        if table.name == "daily":
            table.rows = [[dt.date.fromisoformat(row[0]), *row[1:]] for row in table.rows]
        tables[table.name] = table
    named(tables.values())
    return kept, tables


def named(tables) -> None:
    """Each person a table names by id shown as they are now: an erased one as erased."""
    ids = {row[t.people_column] for t in tables if t.people_column is not None for row in t.rows}
    people = Subscriber.objects.in_bulk(ids)
    for table in tables:
        if table.people_column is not None:
            for row in table.rows:
                person = people.get(row[table.people_column])
                row[table.people_column] = str(person) if person else "(no longer on the list)"


def dashboard_view(request: HttpRequest, *, recount_later: Callable[[], None]) -> HttpResponse:
    """The figures last counted; a POST asks for them to be counted again now
    (`recount_later` queues it)."""
    if not request.user.has_perm("waitlist.view_dashboard"):
        raise PermissionDenied
    if request.method == "POST":
        recount_later()
        messages.success(request, "Counting the figures again: reload in a moment.")
        return HttpResponseRedirect(request.path)
    kept, tables = counted()
    if "csv" in request.GET:
        table = tables.get(request.GET["csv"])
        if table is None:
            raise Http404("No such table.")
        return as_csv(table)
    context = {
        **admin.site.each_context(request),
        "title": "Waitlist dashboard",
        "counted": kept,
        "every_minutes": round(settings.DASHBOARD_RECOUNT_SECONDS / 60),
    }
    if kept is not None:
        sums = kept.figures["totals"]
        signups = sums["signups"]
        daily = tables.pop("daily")
        context.update(
            totals=sums,
            confirmation_rate=round(100 * sums["ever_confirmed"] / signups, 1) if signups else None,
            daily=daily,
            chart=chart(daily),
            tables=list(tables.values()),
        )
    return TemplateResponse(request, "admin/waitlist/dashboard.html", context)
