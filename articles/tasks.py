from celery import shared_task

from . import notices


@shared_task(name="articles.tasks.send_review_emails", ignore_result=True)
def send_review_emails() -> int:
    return notices.send_due()


@shared_task(name="articles.tasks.sweep_review_emails", ignore_result=True)
def sweep_review_emails() -> int:
    return notices.sweep()
