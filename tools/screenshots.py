"""Screenshots of the pages a visitor meets first, at a phone's size (390 × 844) and a
desktop's (1280 × 800), in Debian's chromium: the home page, an article and the referral page.

    python3 dev.py run                                     # in one terminal
    .venv/bin/python tools/screenshots.py http://localhost:8000 docs/screenshots

Run from the project's root with the environment the site runs with (for `dev.py run`, none):
the script reads the site's database for a published article, and for the referral page puts
one person on the list, screenshots@example.invalid, if they are not there yet."""

import argparse
import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
CHROMIUM = "/usr/bin/chromium"


def shoot(base: str, folder: Path, pages: dict[str, str]) -> list[Path]:
    """`pages`: {name: path}; writes NAME-phone.png and NAME-desktop.png for each."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for size, options in SIZES.items():
            context = browser.new_context(**options)
            page = context.new_page()
            for name, path in pages.items():
                page.goto(base.rstrip("/") + path)
                page.wait_for_load_state("networkidle")
                written.append(folder / f"{name}-{size}.png")
                page.screenshot(path=written[-1])
            context.close()
        browser.close()
    return written


def site_pages() -> dict[str, str]:
    """The paths to shoot on the site whose settings this process has."""
    from articles.models import Article
    from waitlist import signup, tokens
    from waitlist.models import Subscriber, email_hash

    address = "screenshots@example.invalid"
    person, _ = Subscriber.objects.get_or_create(
        email_hash=email_hash(address),
        defaults={
            "email": address,
            "canonical_email_hash": email_hash(signup.canonical_email(address)),
            "status": Subscriber.Status.CONFIRMED,
        },
    )
    if person.confirmed_at is None:
        Subscriber.objects.filter(pk=person.pk).update(confirmed_at=person.created_at)
    article = Article.objects.published().order_by("-publish_at").first()
    pages = {"home": "/"}
    if article is not None:
        pages["article"] = article.get_absolute_url()
    pages["referral"] = (
        f"/waitlist/welcome/{tokens.make_token(tokens.PREFERENCES, key=person.token_key)}/"
    )
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the running site, e.g. http://localhost:8000")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "halftime.settings")
    import django

    django.setup()
    for path in shoot(args.base, args.folder, site_pages()):
        print(path)


if __name__ == "__main__":
    main()
