"""Structured data (schema.org JSON-LD) for an article page."""

from django.conf import settings
from django.urls import reverse

from .models import Article


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def _person(name_and_credentials: str) -> dict:
    name, _, credentials = name_and_credentials.partition(",")
    person = {"@type": "Person", "name": name.strip()}
    if credentials.strip():
        person["honorificSuffix"] = credentials.strip()
    return person


def article_structured_data(article: Article) -> list[dict]:
    url = absolute(article.get_absolute_url())
    organization = {"@type": "Organization", "name": settings.SITE_NAME, "url": settings.SITE_URL}
    page = {
        "@context": "https://schema.org",
        "@type": "MedicalWebPage",
        "@id": url,
        "url": url,
        "name": article.title,
        "headline": article.title,
        "description": article.description,
        "inLanguage": "en-US",
        "publisher": organization,
        "dateModified": article.updated_at.isoformat(),
    }
    if article.publish_at:
        page["datePublished"] = article.publish_at.isoformat()
    if article.author:
        page["author"] = _person(article.author)
    if article.reviewer:
        page["reviewedBy"] = _person(article.reviewer)
    if article.last_reviewed:
        page["lastReviewed"] = article.last_reviewed.isoformat()
    if article.category:
        page["about"] = {"@type": "Thing", "name": article.category.name}
    citations = [
        {"@type": "CreativeWork", "name": s.title, **({"url": s.link} if s.link else {})}
        for s in article.sources.all()
    ]
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
    faqs = list(article.faqs.all())
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
