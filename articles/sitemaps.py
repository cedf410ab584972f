from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from .models import Article, Category


class ArticleSitemap(Sitemap):
    changefreq = "monthly"
    priority = 0.8

    def items(self):
        return Article.objects.published().order_by("id")

    def lastmod(self, item: Article):
        return item.date_modified


class TopicSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.5

    def items(self):
        return Category.objects.filter(articles__in=Article.objects.published()).distinct()


class PageSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.6

    def items(self):
        return ["home", "articles:index", "articles:glossary"]

    def location(self, item: str) -> str:
        return reverse(item)


sitemaps = {"pages": PageSitemap, "topics": TopicSitemap, "articles": ArticleSitemap}
