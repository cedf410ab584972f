from .article import Article, months_after
from .feedback import ArticleFeedback, Finding, SearchMiss
from .library import Category, GlossaryTerm, Person, free_slug
from .parts import FAQ, ArticleUpdate, SlugRedirect, Source
from .queries import ArticleQuerySet, search_document
from .review import ArticleVersion, ReviewEmail, SignOff

__all__ = [
    "FAQ", "Article", "ArticleFeedback", "ArticleQuerySet", "ArticleUpdate", "ArticleVersion",
    "Category", "Finding", "GlossaryTerm", "Person", "ReviewEmail", "SearchMiss", "SignOff",
    "SlugRedirect", "Source", "free_slug", "months_after", "search_document",
]  # fmt: skip
