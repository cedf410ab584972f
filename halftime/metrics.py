"""/metrics for Prometheus, read from the database and the broker at scrape time, so every web
process answers the same without shared counters. Closed unless METRICS_TOKEN is set, and then
only with `Authorization: Bearer <token>`."""

import datetime as dt
import hmac

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from waitlist.models import Delivery, OutboundEmail, Subscriber

QUEUES = ("mail", "campaigns", "default")


class SiteCollector:
    def collect(self):
        subscribers = GaugeMetricFamily(
            "halftime_subscribers", "Waitlist subscribers by status.", labels=["status"]
        )
        for row in Subscriber.objects.values("status").annotate(n=Count("pk")):
            subscribers.add_metric([row["status"]], row["n"])
        yield subscribers

        confirmations = GaugeMetricFamily(
            "halftime_confirmations", "Subscribers who ever confirmed their address."
        )
        confirmations.add_metric([], Subscriber.objects.filter(confirmed_at__isnull=False).count())
        yield confirmations

        for name, model, help_text in (
            ("halftime_outbox_emails", OutboundEmail, "Transactional emails by status."),
            ("halftime_deliveries", Delivery, "Campaign deliveries by status."),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["status"])
            for row in model.objects.values("status").annotate(n=Count("pk")):
                family.add_metric([row["status"]], row["n"])
            yield family

        latency = GaugeMetricFamily(
            "halftime_confirmation_latency_seconds",
            "Signup to confirmation email handed to the mail server, last hour.",
            labels=["quantile"],
        )
        recent = (
            OutboundEmail.objects.filter(
                sent_at__gte=timezone.now() - dt.timedelta(hours=1), sent_at__isnull=False
            )
            .annotate(took=ExpressionWrapper(F("sent_at") - F("created_at"), DurationField()))
            .order_by("-sent_at")
            .values_list("took", flat=True)
        )
        took = sorted(t.total_seconds() for t in recent[:10_000])
        for quantile in (0.5, 0.95, 0.99):
            if took:
                latency.add_metric(
                    [str(quantile)], took[min(len(took) - 1, int(quantile * len(took)))]
                )
        yield latency

        depth = GaugeMetricFamily(
            "halftime_queue_depth", "Tasks waiting in the broker.", labels=["queue"]
        )
        for queue, size in queue_depths().items():
            depth.add_metric([queue], size)
        yield depth


def queue_depths() -> dict[str, int]:
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        return {}
    import redis

    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
        )
        return {queue: client.llen(queue) for queue in QUEUES}
    except redis.RedisError:
        return {}


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise Http404
    registry = CollectorRegistry()
    registry.register(SiteCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
