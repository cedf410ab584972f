"""What a shared link, a browser tab and a phone's home screen show: og: tags with an image the
site draws itself, the icons, the web manifest; and what every page offers a visitor."""

import io
import re

import pytest
from django.core.cache import caches
from PIL import Image

from tests.factories import ArticleFactory, CategoryFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

OG_IMAGE = re.compile(r'<meta property="og:image" content="([^"]+)">')


def image_at(client, url: str, settings) -> Image.Image:
    response = client.get(url.removeprefix(settings.SITE_URL))
    assert response.status_code == 200, url
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def test_the_home_page_the_join_page_and_an_article_have_a_share_image(client, settings):
    article = ArticleFactory(title="Reading a lab report", category=CategoryFactory(name="Labs"))
    images = set()
    for path in ("/", "/waitlist/", article.get_absolute_url()):
        page = client.get(path).content.decode()
        assert '<meta name="twitter:card" content="summary_large_image">' in page, path
        (url,) = OG_IMAGE.findall(page)
        image = image_at(client, url, settings)
        assert (image.format, image.size) == ("PNG", (1200, 630)), path
        images.add(url)
    assert len(images) == 2  # the site's card on / and /waitlist/, the article's own


def test_an_article_s_share_image_follows_its_title(client, django_capture_on_commit_callbacks):
    article = ArticleFactory(title="First title")
    first = client.get(f"{article.get_absolute_url()}share.png").content
    article.title = "A much longer second title that wraps onto another line"
    with django_capture_on_commit_callbacks(execute=True):  # as the edit's commit would
        article.save()
    assert client.get(f"{article.get_absolute_url()}share.png").content != first


def test_a_draft_has_no_share_image(client):
    draft = ArticleFactory(status="draft")
    assert client.get(f"{draft.get_absolute_url()}share.png").status_code == 404


@pytest.mark.parametrize(
    "path, kind, size",
    [
        ("/favicon.ico", "ICO", (48, 48)),
        ("/apple-touch-icon.png", "PNG", (180, 180)),
        ("/icon-192.png", "PNG", (192, 192)),
        ("/icon-512.png", "PNG", (512, 512)),
    ],
)
def test_the_icons_answer(client, settings, path, kind, size):
    image = image_at(client, path, settings)
    assert (image.format, image.size) == (kind, size)


def test_an_icon_of_another_size_is_a_404(client):
    assert client.get("/icon-20000.png").status_code == 404


def test_the_web_manifest_names_the_site_and_its_icons(client, settings):
    manifest = client.get("/site.webmanifest").json()
    assert manifest["name"] == settings.SITE_NAME
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


@pytest.mark.parametrize("path", ["/", "/learn/", "/learn/glossary/", "/waitlist/", "/nowhere/"])
def test_every_page_links_to_the_waitlist_from_its_header(client, path):
    page = client.get(path).content.decode()
    header = page.split('<header class="site-header">', 1)[1].split("</header>", 1)[0]
    assert '<a class="nav-join" href="/waitlist/">Join the waitlist</a>' in header


def test_a_404_offers_the_way_back_and_a_search(client):
    page = client.get("/learn/no-such-article/")
    assert page.status_code == 404
    text = page.content.decode()
    assert '<form class="error-search" action="/learn/search/" method="get" role="search">' in text
    for link in ('href="/"', 'href="/learn/"', 'href="/learn/glossary/"'):
        assert link in text


def test_the_home_page_counts_the_people_waiting_once_there_are_enough(client, settings):
    settings.WAITLIST_COUNT_FROM = 150
    SubscriberFactory.create_batch(149)
    SubscriberFactory(status="pending", confirmed_at=None)
    assert "people are already waiting" not in client.get("/").content.decode()
    SubscriberFactory.create_batch(2)
    caches["default"].clear()  # the count is kept a minute
    assert "More than 100 people are already waiting" in client.get("/").content.decode()
