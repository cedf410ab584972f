import difflib
import html
import re

from django.conf import settings
from django.contrib import admin
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, Count, F, Prefetch, Q, Value, When
from django.http import Http404, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from django.views.generic import DetailView, ListView, TemplateView

from . import cards, citations, feedback, workflow
from .models import Article, Category, GlossaryTerm, Person, SlugRedirect, Source, search_document
from .pagecache import cache_public_page
from .seo import article_structured_data, person_structured_data

SEARCH_MAX_LENGTH = 200
# Private-use characters mark a headline's matches, so the snippet can be escaped before <mark>.
_MARK_START, _MARK_END = "\ue000", "\ue001"


def can_preview(request) -> bool:
    """Staff who may read articles in admin, in a session admin itself would let in (with the
    authenticator's code when ADMIN_OTP_REQUIRED is on)."""
    return admin.site.has_permission(request) and request.user.has_perm("articles.view_article")


@method_decorator(cache_public_page(), name="dispatch")
class LearningCenterView(TemplateView):
    template_name = "articles/index.html"

    def get_context_data(self, **kwargs):
        published = Article.objects.published().for_listing()
        context = super().get_context_data(**kwargs)
        context["featured"] = published.filter(featured=True)[:3]
        context["latest"] = published[:12]
        context["categories"] = Category.objects.annotate(
            published_count=Count("articles", filter=Q(articles__in=Article.objects.published()))
        ).filter(published_count__gt=0)
        return context


@method_decorator(cache_public_page(query=("page",)), name="dispatch")
class TopicView(ListView):
    template_name = "articles/topic.html"
    context_object_name = "articles"
    paginate_by = 20

    def get_queryset(self):
        self.category = get_object_or_404(Category, slug=self.kwargs["slug"])
        return Article.objects.published().for_listing().filter(category=self.category)

    def get_context_data(self, **kwargs):
        return super().get_context_data(category=self.category, **kwargs)


@method_decorator(cache_public_page(), name="dispatch")
class ArticleDetailView(DetailView):
    template_name = "articles/article.html"
    context_object_name = "article"

    def get_queryset(self):
        related = (
            Article.objects.published()
            .order_by("-publish_at")
            .only("slug", "title", "status", "stage")
        )
        queryset = (
            Article.objects.select_related("category", "author", "reviewer")
            .defer("body", "body_text")
            .prefetch_related(
                "faqs",
                "updates",
                Prefetch("sources", queryset=Source.objects.order_by("position", "id")),
                Prefetch("related", queryset=related),
            )
        )
        return queryset if can_preview(self.request) else queryset.published()

    def get(self, request, *args, **kwargs):
        try:
            self.object = self.get_object()
        except Http404:
            redirect = (
                SlugRedirect.objects.select_related("article")
                .filter(old_slug=kwargs["slug"])
                .first()
            )
            if redirect and self.get_queryset().filter(pk=redirect.article_id).exists():
                return HttpResponsePermanentRedirect(redirect.article.get_absolute_url())
            raise
        return self.render_to_response(self.get_context_data(object=self.object))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        article = self.object
        faqs, sources = list(article.faqs.all()), list(article.sources.all())
        citations.retractions(article, sources)
        context["faqs"], context["sources"] = faqs, sources
        context["preview"] = not article.is_public
        context["change_waits"] = can_preview(self.request) and workflow.waiting(article)
        context["structured_data"] = article_structured_data(article, faqs=faqs, sources=sources)
        return context


@require_safe
@cache_public_page()
def share_image(request, slug: str) -> HttpResponse:
    """The article's og:image: its title and category on the brand's card."""
    article = get_object_or_404(Article.objects.published().select_related("category"), slug=slug)
    body = cards.card(
        title=article.title,
        kicker=article.category.name if article.category else "Learning Center",
        footer=f"{settings.SITE_NAME} · Learning Center",
    )
    return HttpResponse(body, content_type="image/png")


class SearchView(ListView):
    template_name = "articles/search.html"
    context_object_name = "results"
    paginate_by = 10

    def get_queryset(self):
        self.query = feedback.one_line(self.request.GET.get("q", ""))[:SEARCH_MAX_LENGTH]
        if not self.query:
            return Article.objects.none()
        published = Article.objects.published().select_related("category")
        queries = [self.query, *glossary_names(self.query)]
        if connection.vendor != "postgresql":
            return _ranked_by_words(published, queries)
        query = SearchQuery(queries[0], search_type="websearch", config="english")
        for other in queries[1:]:
            query |= SearchQuery(other, search_type="websearch", config="english")
        return (
            # Matches only (the rank alone is above zero for a partial match too), through the
            # expression the full-text index is built on.
            published.alias(document=search_document())
            .filter(document=query)
            .annotate(rank=SearchRank(F("document"), query))
            .annotate(
                snippet=SearchHeadline(
                    "body_text",
                    query,
                    config="english",
                    start_sel=_MARK_START,
                    stop_sel=_MARK_END,
                    max_words=30,
                    min_words=12,
                    max_fragments=2,
                    fragment_delimiter=" … ",
                )
            )
            .order_by("-rank", "-publish_at")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for article in context["results"]:
            article.snippet_html = highlight(article.snippet)
        context["query"] = self.query
        if self.query and not context["results"]:
            if "page" not in self.request.GET:  # one search, however its pages are visited
                feedback.record_miss(self.query)
            context["suggested_terms"] = similar_terms(self.query)
            context["suggested_articles"] = Article.objects.published().for_listing()[:3]
        return context


def glossary_names(query: str) -> list[str]:
    """The query again with each glossary name in it (a term or an alias, as a whole word or
    phrase) said by the term's other names: `trt` is also "testosterone therapy"."""
    spoken = query.casefold()
    found = []
    for term in GlossaryTerm.objects.only("term", "aliases"):
        names = term.spellings
        for name in names:
            pattern = rf"(?<!\w){re.escape(name.casefold())}(?!\w)"
            if re.search(pattern, spoken):
                found += [re.sub(pattern, other, spoken) for other in names if other != name]
    return list(dict.fromkeys(found))[:8]


def similar_terms(query: str) -> list[GlossaryTerm]:
    """Glossary terms spelled like the query, for a search that found nothing."""
    terms = list(GlossaryTerm.objects.only("term", "slug", "aliases"))
    by_name = {name.casefold(): term for term in terms for name in term.spellings}
    close = difflib.get_close_matches(query.casefold(), by_name, n=3, cutoff=0.6)
    return list(dict.fromkeys(by_name[name] for name in close))


# The endings English adds to a word, longest first: a query's word is taken without one, and
# matches with any ("changes" finds "changed", "change", "changing").
ENDINGS = ("ions", "ion", "ing", "es", "ed", "e", "s", "d")


def word_pattern(word: str) -> str:
    """A regular expression for `word` as a word, never inside another ("ED" is not in
    "changed"), with or without the endings English adds."""
    stem = word.casefold()
    for ending in ENDINGS:
        if stem.endswith(ending) and len(stem) - len(ending) >= 3:
            stem = stem.removesuffix(ending)
            break
    endings = "|".join(ENDINGS)
    return rf"(?i)(?<!\w){re.escape(stem)}(?:{endings})?(?!\w)"


def _ranked_by_words(published, queries: list[str]):
    """Without PostgreSQL's full text: articles with every word of one of `queries`, each as a
    word (`word_pattern`), ranked by where the words are (for each: title 3, summary 2, body 1),
    then by date."""
    matches, score = Q(), Value(0)
    for query in queries:
        every = Q()
        for word in re.findall(r"\w+", query)[:8]:
            pattern = word_pattern(word)
            every &= (
                Q(title__regex=pattern) | Q(summary__regex=pattern) | Q(body_text__regex=pattern)
            )
            for field, weight in (("title", 3), ("summary", 2), ("body_text", 1)):
                score = score + Case(When(**{f"{field}__regex": pattern}, then=weight), default=0)
        matches |= every
    return (
        published.filter(matches)
        .annotate(snippet=F("summary"), score=score)
        .order_by("-score", "-publish_at")
    )


def highlight(snippet: str) -> str:
    escaped = html.escape(snippet or "")
    return escaped.replace(_MARK_START, "<mark>").replace(_MARK_END, "</mark>")


@method_decorator(cache_public_page(), name="dispatch")
class GlossaryView(ListView):
    template_name = "articles/glossary.html"
    context_object_name = "terms"
    model = GlossaryTerm


@method_decorator(cache_public_page(), name="dispatch")
class PersonView(DetailView):
    """An author's or a medical reviewer's page: who they are and what they wrote or reviewed.
    Only people with a public article have one (staff can preview the others)."""

    template_name = "articles/person.html"
    context_object_name = "person"
    model = Person

    def get_object(self, queryset=None):
        person = super().get_object(queryset)
        published = Article.objects.published().for_listing()
        self.written = list(published.filter(author=person))
        self.reviewed = list(published.filter(reviewer=person))
        if not (self.written or self.reviewed or can_preview(self.request)):
            raise Http404("No public article names this person.")
        return person

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            written=self.written,
            reviewed=self.reviewed,
            structured_data=[person_structured_data(self.object)],
            **kwargs,
        )


@method_decorator(cache_public_page(), name="dispatch")
class EditorialPolicyView(TemplateView):
    template_name = "articles/editorial_policy.html"

    def get_context_data(self, **kwargs):
        reviewers = Person.objects.filter(
            articles_reviewed__in=Article.objects.published()
        ).distinct()
        return super().get_context_data(
            reviewers=reviewers, review_months=settings.ARTICLE_REVIEW_MONTHS, **kwargs
        )


@method_decorator(csrf_exempt, name="dispatch")
class FeedbackView(View):
    """ "Was this helpful?" and "Report an error" under an article: a plain form POST (no script,
    no CSRF token: the form is on cached public pages, and a forged answer only moves a count).
    The answer is counted and any comment queued for the editors (`articles.feedback`); the
    reader is sent to a thank-you page."""

    template_name = "articles/feedback.html"

    def get(self, request, slug: str):
        article = get_object_or_404(Article.objects.published(), slug=slug)
        return render(request, self.template_name, {"article": article, "thanks": True})

    def post(self, request, slug: str):
        article = get_object_or_404(Article.objects.published(), slug=slug)
        verdict = request.POST.get("verdict", "")
        comment = feedback.one_line(request.POST.get("comment", ""))
        error = ""
        if verdict not in feedback.VERDICTS:
            error = "Choose Yes, No or Report an error."
        elif verdict == "error" and not comment:
            error = "Say what is wrong, so that an editor can correct it."
        elif len(comment) > feedback.COMMENT_LENGTH:
            error = (
                f"Keep the comment to {feedback.COMMENT_LENGTH} characters (it has {len(comment)})."
            )
        if error:
            context = {"article": article, "error": error, "comment": comment}
            return render(request, self.template_name, context, status=400)
        feedback.record_verdict(article, verdict, comment)
        return redirect("articles:feedback", slug=article.slug)
