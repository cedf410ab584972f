"""Cache invalidation only: a committed change to what Learning Center pages show makes every
cached page stale."""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from .models import FAQ, Article, Category, GlossaryTerm, SlugRedirect, Source
from .pagecache import content_changed


@receiver([post_save, post_delete], sender=Article)
@receiver([post_save, post_delete], sender=Category)
@receiver([post_save, post_delete], sender=FAQ)
@receiver([post_save, post_delete], sender=Source)
@receiver([post_save, post_delete], sender=GlossaryTerm)
@receiver([post_save, post_delete], sender=SlugRedirect)
@receiver(m2m_changed, sender=Article.related.through)
def pages_changed(sender, **kwargs) -> None:
    content_changed()
