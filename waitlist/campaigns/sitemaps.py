from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from ..models import Campaign


class UpdateSitemap(Sitemap):
    changefreq = "monthly"
    priority = 0.4

    def items(self):
        return [None, *Campaign.objects.archived()]

    def location(self, item: Campaign | None) -> str:
        return reverse("waitlist:updates") if item is None else item.get_absolute_url()

    def lastmod(self, item: Campaign | None):
        return None if item is None else item.started_at
