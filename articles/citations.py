"""The citation monitor: the sources of every published article, checked weekly (and from the
Findings page in admin) for what happened to them since they were cited.

- Each DOI is looked up in Crossref's metadata (`CROSSREF_URL`/works/<doi>), which carries the
  retractions, corrections and expressions of concern that publishers and Retraction Watch
  record against a work (`updated-by`).
- Each address is asked for with HEAD (GET when a server refuses HEAD), within
  CITATION_CHECK_TIMEOUT seconds and at most one request to a host every
  CITATION_CHECK_PAUSE seconds; a 404 or 410 means the link is dead.

What it finds becomes a `Finding` in the editors' queue, once for each article, citation and
kind, and the article's editor is emailed the run's findings (`notices.findings_made`). A
retracted study is marked under the article at once ("This study was retracted on …") and stays
marked while the article cites it. An answer that is no answer (Crossref or a site
unreachable, a timeout, a 5xx) changes nothing: the next run asks again.
"""

import datetime as dt
import logging
import time
import urllib.parse
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter

import requests
from django.conf import settings
from django.db import IntegrityError, transaction

from . import notices
from .models import Article, Finding, Source
from .pagecache import content_changed

logger = logging.getLogger(__name__)

# Crossref's update types (`updated-by[].type`), as the finding each one is.
UPDATES = {
    "retraction": Finding.Kind.RETRACTED,
    "partial_retraction": Finding.Kind.RETRACTED,
    "withdrawal": Finding.Kind.RETRACTED,
    "removal": Finding.Kind.RETRACTED,
    "correction": Finding.Kind.CORRECTED,
    "partial_correction": Finding.Kind.CORRECTED,
    "erratum": Finding.Kind.CORRECTED,
    "corrigendum": Finding.Kind.CORRECTED,
    "expression_of_concern": Finding.Kind.CONCERN,
}
DEAD = {404, 410}


class Unanswered(Exception):
    """No answer to go by: unreachable, timed out, or a server error."""


@dataclass
class Report:
    dois: int = 0
    urls: int = 0
    found: list[Finding] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    crossref_unreachable: bool = False

    def __str__(self) -> str:
        text = f"{self.dois} DOI(s) and {self.urls} address(es) checked, {len(self.found)} new "
        text += f"finding(s), {len(self.unanswered)} unanswered"
        return text + (" (Crossref unreachable)" if self.crossref_unreachable else "")


class Client:
    """HTTP for the monitor: one session, a timeout, and a pause between two requests to the
    same host."""

    def __init__(self):
        self.session = requests.Session()
        contact = f"; mailto:{settings.CROSSREF_MAILTO}" if settings.CROSSREF_MAILTO else ""
        agent = f"HalftimeHealth-CitationMonitor/1.0 ({settings.SITE_URL}{contact})"
        self.session.headers["User-Agent"] = agent
        self.last_asked: dict[str, float] = {}

    def request(self, method: str, url: str) -> requests.Response:
        host = urllib.parse.urlsplit(url).netloc
        wait = self.last_asked.get(host, -1e9) + settings.CITATION_CHECK_PAUSE - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            return self.session.request(
                method, url, timeout=settings.CITATION_CHECK_TIMEOUT, allow_redirects=True,
                stream=True,
            )  # fmt: skip
        except requests.RequestException as exc:
            raise Unanswered(f"{url}: {exc.__class__.__name__}") from exc
        finally:
            self.last_asked[host] = time.monotonic()


def crossref_updates(client: Client, doi: str) -> list[tuple[str, dt.date | None, str]] | None:
    """(type, date, notice DOI) of each update Crossref records against `doi`; None when
    Crossref does not know the DOI."""
    url = f"{settings.CROSSREF_URL.rstrip('/')}/works/{urllib.parse.quote(doi, safe='/')}"
    response = client.request("GET", url)
    with response:
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Unanswered(f"Crossref answered {response.status_code} for {doi}")
        try:
            work = response.json()["message"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Unanswered(f"Crossref's answer for {doi} is not a work") from exc
    updates = []
    for update in work.get("updated-by") or []:
        parts = ((update.get("updated") or {}).get("date-parts") or [[]])[0]
        try:
            day = dt.date(*(list(parts) + [1, 1])[:3]) if parts else None
        except (TypeError, ValueError):
            day = None
        updates.append((str(update.get("type", "")), day, str(update.get("DOI", ""))))
    return updates


def link_status(client: Client, url: str) -> int:
    """The status the address answers with: HEAD, or GET when the server refuses HEAD."""
    with client.request("HEAD", url) as response:
        status = response.status_code
    if status in (403, 405, 501):
        with client.request("GET", url) as response:
            status = response.status_code
    if status >= 500:
        raise Unanswered(f"{url} answered {status}")
    return status


def cited() -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """The DOIs and the addresses the published articles cite, each with its articles' ids."""
    dois: dict[str, set[int]] = {}
    urls: dict[str, set[int]] = {}
    rows = Source.objects.filter(article__status=Article.Status.PUBLISHED).values_list(
        "article_id", "doi", "url"
    )
    for article_id, doi, url in rows:
        if doi.strip():
            dois.setdefault(doi.strip().lower(), set()).add(article_id)
        if url.lower().startswith(("https://", "http://")):
            urls.setdefault(url, set()).add(article_id)
    return dois, urls


def check(*, article_ids: set[int] | None = None) -> Report:
    """Check the citations of the published articles (or of `article_ids` among them)."""
    client, report = Client(), Report()
    dois, urls = cited()
    if article_ids is not None:
        dois = {d: ids & article_ids for d, ids in dois.items() if ids & article_ids}
        urls = {u: ids & article_ids for u, ids in urls.items() if ids & article_ids}
    for doi, articles in sorted(dois.items()):
        if report.crossref_unreachable:
            break
        try:
            updates = crossref_updates(client, doi)
        except Unanswered as exc:
            report.unanswered.append(str(exc))
            report.crossref_unreachable = True
            break
        report.dois += 1
        if updates is None:
            detail = f"Crossref does not know the DOI {doi}: check that it is written right."
            _found(report, articles, Finding.Kind.DEAD_LINK, doi, detail)
            continue
        for kind_name, day, notice in updates:
            kind = UPDATES.get(kind_name)
            if kind is None:
                continue
            when = f" on {day:%B %-d, %Y}" if day else ""
            detail = f"Crossref records a {kind_name.replace('_', ' ')}{when} of {doi}"
            detail += f" (notice: https://doi.org/{notice})." if notice else "."
            _found(report, articles, kind, doi, detail, day)
    for url, articles in sorted(urls.items()):
        try:
            status = link_status(client, url)
        except Unanswered as exc:
            report.unanswered.append(str(exc))
            continue
        report.urls += 1
        if status in DEAD:
            detail = f"The source's address answers {status}: {url}"
            _found(report, articles, Finding.Kind.DEAD_LINK, url, detail)
    by_article = attrgetter("article_id")
    for _, found in groupby(sorted(report.found, key=by_article), key=by_article):
        found = list(found)
        notices.findings_made(found[0].article, found)
    logger.info("citation monitor: %s", report)
    return report


def _found(report: Report, articles, kind: str, cited: str, detail: str, day=None) -> None:
    """A finding for each article, unless that article has one of that kind for that
    citation already (open or resolved: an editor's decision stands)."""
    for article_id in sorted(articles):
        try:
            with transaction.atomic():
                finding = Finding.objects.create(
                    article_id=article_id, kind=kind, cited=cited[:500], detail=detail, dated=day
                )
        except IntegrityError:
            continue
        report.found.append(finding)
        if kind == Finding.Kind.RETRACTED:
            content_changed()  # the page marks the source at once


def retractions(article: Article, sources) -> None:
    """Mark each of `sources` that Crossref says was retracted: `retracted` true, and
    `retracted_on` the notice's date when it has one."""
    dois = {source.doi.strip().lower() for source in sources if source.doi.strip()}
    found = {}
    if dois:
        found = dict(
            Finding.objects.filter(article=article, kind=Finding.Kind.RETRACTED, cited__in=dois)
            .order_by("-dated")
            .values_list("cited", "dated")
        )
    for source in sources:
        key = source.doi.strip().lower()
        source.retracted, source.retracted_on = key in found, found.get(key)
