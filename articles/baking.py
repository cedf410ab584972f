"""Pre-rendered article pages, kept in PostgreSQL.

An article's public page depends only on the article, its FAQ, sources, glossary, category and
related articles, and on the templates and static files of this build. The first anonymous view
after any of those changes renders it and stores it on the article row; later views read that one
column. Every change that could alter the page bumps ``page_rev`` (signals.py), and a page is
stored only if ``page_rev`` is still the one it was rendered from, so a render racing an edit can
never store a stale page. A related article scheduled for later sets ``page_stale_at``.
"""

import hashlib
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Min
from django.utils import timezone

from .models import Article


def _build_id() -> str:
    """Changes whenever a template or static file does, so a deploy never serves old markup."""
    digest = hashlib.sha256(settings.SITE_URL.encode())
    roots = [Path(d) for d in settings.STATICFILES_DIRS] + [Path(settings.BASE_DIR)]
    for root in roots:
        pattern = "**/*" if root != Path(settings.BASE_DIR) else "*/templates/**/*"
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    return digest.hexdigest()[:16]


BUILD_ID = _build_id()


# Plain SQL on the hottest path of the site: the ORM would spend longer building this one
# query than PostgreSQL spends answering it.
_PAGE_SQL = f"""
    SELECT page_html FROM {Article._meta.db_table}
    WHERE slug = %s AND status = %s AND publish_at <= %s AND page_build = %s
      AND page_html <> '' AND (page_stale_at IS NULL OR page_stale_at > %s)
"""


def baked_page(slug: str) -> str | None:
    """The stored page of a public article, if it is current; one indexed query."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_PAGE_SQL, [slug, Article.Status.PUBLISHED, now, BUILD_ID, now])
        row = cursor.fetchone()
    return row[0] if row else None


def keep_page(article: Article, html: str) -> None:
    # Through the link table: article.related may be a prefetch of published articles only.
    stale_at = Article.related.through.objects.filter(
        from_article=article.pk,
        to_article__status=Article.Status.PUBLISHED,
        to_article__publish_at__gt=timezone.now(),
    ).aggregate(first=Min("to_article__publish_at"))["first"]
    Article.objects.filter(pk=article.pk, page_rev=article.page_rev).update(
        page_html=html, page_build=BUILD_ID, page_stale_at=stale_at
    )
