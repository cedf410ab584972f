"""Cache invalidation only: a change to Learning Center content makes the cached pages, and the
pre-rendered pages of the articles it shows on, stale."""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from .models import FAQ, Article, Category, GlossaryTerm, SlugRedirect, Source
from .pagecache import bump_content_version


@receiver([post_save, post_delete], sender=Article)
@receiver([post_save, post_delete], sender=Category)
@receiver([post_save, post_delete], sender=FAQ)
@receiver([post_save, post_delete], sender=Source)
@receiver([post_save, post_delete], sender=GlossaryTerm)
@receiver([post_save, post_delete], sender=SlugRedirect)
@receiver(m2m_changed, sender=Article.related.through)
def content_changed(sender, **kwargs) -> None:
    bump_content_version()


@receiver(post_save, sender=Article)
@receiver(m2m_changed, sender=Article.related.through)
def article_changed(sender, instance, **kwargs) -> None:
    # Its own page, and the pages listing it under "Related reading".
    Article.objects.filter(pk=instance.pk).forget_pages()
    Article.objects.filter(related=instance).forget_pages()


@receiver([post_save, post_delete], sender=FAQ)
@receiver([post_save, post_delete], sender=Source)
def article_part_changed(sender, instance, **kwargs) -> None:
    Article.objects.filter(pk=instance.article_id).forget_pages()


@receiver(post_delete, sender=Article)
@receiver([post_save, post_delete], sender=Category)
@receiver([post_save, post_delete], sender=GlossaryTerm)
def every_page_changed(sender, **kwargs) -> None:
    Article.objects.forget_pages()
