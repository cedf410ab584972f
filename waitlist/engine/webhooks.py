"""The email service's event webhook (bounces and complaints suppress an address), through
django-anymail. Only the service the site sends through (EMAIL_ESP) has one, and only once
ANYMAIL_WEBHOOK_SECRET is set: every other path, and that one without a secret, is a 404."""

import logging

import anymail.urls
from anymail.exceptions import AnymailConfigurationError
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

# Each email service's tracking view, by the name EMAIL_ESP gives it (anymail's URL names).
TRACKING_VIEWS = {
    pattern.name.removesuffix("_tracking_webhook"): pattern.callback
    for pattern in anymail.urls.urlpatterns
    if pattern.name.endswith("_tracking_webhook")
}


def secret_set() -> bool:
    return bool(settings.ANYMAIL.get("WEBHOOK_SECRET"))


@csrf_exempt
def tracking(request: HttpRequest, esp: str) -> HttpResponse:
    if esp != settings.EMAIL_ESP or esp not in TRACKING_VIEWS or not secret_set():
        raise Http404("No such webhook.")
    try:
        # Checks the credentials (HTTP basic auth, and the service's signature where it has one:
        # a failure is a 400) before it reads any event.
        return TRACKING_VIEWS[esp](request)
    except AnymailConfigurationError as exc:
        # The service's own key is missing (check waitlist.E005 says so at deploy).
        logger.error("webhook %s: %s", esp, exc)
        raise Http404("No such webhook.") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        logger.warning("webhook %s: a body it could not read (%s)", esp, exc.__class__.__name__)
        return HttpResponseBadRequest("Not an event this webhook understands.")
