from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse_lazy

from .models import Article


class LatestArticlesFeed(Feed):
    title = f"{settings.SITE_NAME} Learning Center"
    link = reverse_lazy("articles:index")
    description = "New medically reviewed articles on men's health."

    def items(self):
        return Article.objects.published().for_listing()[:20]

    def item_title(self, item: Article) -> str:
        return item.title

    def item_description(self, item: Article) -> str:
        return item.summary

    def item_pubdate(self, item: Article):
        return item.publish_at

    def item_updateddate(self, item: Article):
        return item.updated_at

    def item_categories(self, item: Article):
        return [item.category.name] if item.category else []
