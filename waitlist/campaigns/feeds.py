from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse_lazy
from django.utils.html import escape

from ..models import Campaign


class LaunchUpdatesFeed(Feed):
    title = f"{settings.SITE_NAME} launch updates"
    link = reverse_lazy("waitlist:updates")
    description = f"What {settings.SITE_NAME} told the people on its waitlist, as it went out."

    def items(self):
        return Campaign.objects.archived()[:20]

    def item_title(self, item: Campaign) -> str:
        return escape(item.subject)

    def item_description(self, item: Campaign) -> str:
        return item.body_html  # sanitized when saved (articles.rendering)

    def item_pubdate(self, item: Campaign):
        return item.started_at
