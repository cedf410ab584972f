"""Structured data (schema.org JSON-LD) for an article page."""

from django.conf import settings
from django.urls import reverse
from django.utils.timezone import localtime

from .models import Article, Person


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def person_data(person: Person) -> dict:
    """A schema.org Person, pointing at their page on this site."""
    url = absolute(person.get_absolute_url())
    data = {"@type": "Person", "@id": f"{url}#person", "name": person.name, "url": url}
    if person.credentials:
        data["honorificSuffix"] = person.credentials
    if person.role:
        data["jobTitle"] = person.role
    if person.photo_url:
        data["image"] = person.photo_url
    if person.link_list:
        data["sameAs"] = person.link_list
    return data


def person_structured_data(person: Person) -> dict:
    url = absolute(person.get_absolute_url())
    return {
        "@context": "https://schema.org",
        "@type": "ProfilePage",
        "@id": url,
        "url": url,
        "name": str(person),
        "inLanguage": "en-US",
        "mainEntity": person_data(person),
    }


def citation_data(source) -> dict:
    """A cited work; with its grade, a MedicalScholarlyArticle whose `publicationType` is its
    kind (PubMed's words) and whose description says the strength of the evidence."""
    data = {"@type": "CreativeWork", "name": source.title}
    if source.graded:
        data["@type"] = "MedicalScholarlyArticle"
        if source.kind:
            data["publicationType"] = source.get_kind_display()
        if source.strength:
            data["description"] = f"Strength of evidence {source.get_strength_display()}"
    if source.link:
        data["url"] = source.link
    return data


def article_structured_data(article: Article, *, faqs=None, sources=None) -> list[dict]:
    """The page's JSON-LD; `faqs` and `sources` when they are not the article's rows (the
    waiting text a reviewer reads)."""
    faqs = list(article.faqs.all()) if faqs is None else faqs
    sources = list(article.sources.all()) if sources is None else sources
    url = absolute(article.get_absolute_url())
    organization = {"@type": "Organization", "name": settings.SITE_NAME, "url": settings.SITE_URL}
    page = {
        "@context": "https://schema.org",
        # An Article for search engines' article features, on a page a medical reviewer checked.
        "@type": ["Article", "MedicalWebPage"],
        "@id": url,
        "url": url,
        "name": article.title,
        "headline": article.title,
        "description": article.description,
        "inLanguage": "en-US",
        "publisher": organization,
    }
    if article.publish_at:
        page["datePublished"] = localtime(article.publish_at).isoformat()
        page["dateModified"] = localtime(article.date_modified).isoformat()
    if article.author:
        page["author"] = person_data(article.author)
    if article.reviewer:
        page["reviewedBy"] = person_data(article.reviewer)
    if article.last_reviewed:
        page["lastReviewed"] = article.last_reviewed.isoformat()
    if article.category:
        page["about"] = {"@type": "Thing", "name": article.category.name}
    citations = [citation_data(s) for s in sources]
    if citations:
        page["citation"] = citations

    crumbs = [("Learning Center", absolute(reverse("articles:index")))]
    if article.category:
        crumbs.append((article.category.name, absolute(article.category.get_absolute_url())))
    crumbs.append((article.title, url))
    breadcrumbs = {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": i, "name": name, "item": item}
            for i, (name, item) in enumerate(crumbs, start=1)
        ],
    }
    data = [page, breadcrumbs]
    if faqs:
        data.append(
            {
                "@context": "https://schema.org",
                "@type": "FAQPage",
                "mainEntity": [
                    {
                        "@type": "Question",
                        "name": faq.question,
                        "acceptedAnswer": {"@type": "Answer", "text": faq.answer},
                    }
                    for faq in faqs
                ],
            }
        )
    return data
