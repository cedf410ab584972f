from celery import shared_task
from django.conf import settings

from . import citations, notices


@shared_task(name="articles.tasks.send_review_emails", ignore_result=True)
def send_review_emails() -> int:
    return notices.send_due()


@shared_task(name="articles.tasks.sweep_review_emails", ignore_result=True)
def sweep_review_emails() -> int:
    return notices.sweep()


@shared_task(name="articles.tasks.check_citations", bind=True, ignore_result=True, max_retries=6)
def check_citations(self, article_ids: list[int] | None = None) -> str:
    """The citation monitor's run (weekly, or asked for in admin); a run that could not reach
    Crossref is run again CITATION_RETRY_SECONDS later."""
    report = citations.check(article_ids=set(article_ids) if article_ids is not None else None)
    if report.crossref_unreachable:
        raise self.retry(countdown=settings.CITATION_RETRY_SECONDS)
    return str(report)
