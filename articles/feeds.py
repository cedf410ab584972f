from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse_lazy
from django.utils.html import escape

from .models import Article


class LatestArticlesFeed(Feed):
    title = f"{settings.SITE_NAME} Learning Center"
    link = reverse_lazy("articles:index")
    description = "New medically reviewed articles on men's health."

    def items(self):
        return Article.objects.published().for_listing()[:20]

    # Feed readers show a title and a description as HTML: the text is escaped for that, on
    # top of the XML's own escaping, so "<b>" in a title reads as itself.
    def item_title(self, item: Article) -> str:
        return escape(item.title)

    def item_description(self, item: Article) -> str:
        return escape(item.summary)

    def item_pubdate(self, item: Article):
        return item.publish_at

    def item_updateddate(self, item: Article):
        return item.date_modified

    def item_categories(self, item: Article):
        return [item.category.name] if item.category else []
