from .article import Article, ArticleQuerySet, months_after, search_document
from .feedback import SearchMiss
from .library import Category, GlossaryTerm, Person, free_slug
from .parts import FAQ, ArticleUpdate, SlugRedirect, Source
from .review import ArticleVersion, ReviewEmail, SignOff

__all__ = [
    "SearchMiss",
    "FAQ", "Article", "ArticleQuerySet", "ArticleUpdate", "ArticleVersion", "Category",
    "GlossaryTerm", "Person", "ReviewEmail", "SignOff", "SlugRedirect", "Source", "free_slug",
    "months_after", "search_document",
]  # fmt: skip
