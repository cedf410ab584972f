"""Screenshots of the pages a visitor meets first, at a phone's size (390 × 844) and a
desktop's (1280 × 800), in Debian's chromium: the home page, the Consumer Health Data Privacy
Policy, an article (its top, its graded sources, its disclosures and feedback form), its
reviewer's page, the referral page (with a friend who counted and one
held), the invite landing, a person's preferences and their invitation, and, signed in as the
admin `dev.py run` makes, a campaign (its send panel, and its body beside the live preview), its
confirmation, the dashboard, the data map, the list import, the mailbox provider paces, the
warm-up plan, the journeys, a system email's wording, the article list, the editors' findings,
an article's editor with its live preview and its review panel, and the article's newest text
on its real page as a medical reviewer reads it.

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


def shoot(
    base: str, folder: Path, pages: dict[str, str], *, sign_in: tuple[str, str] | None = None
) -> list[Path]:
    """`pages`: {name: path}; writes NAME-phone.png and NAME-desktop.png for each, signed in to
    admin first as `sign_in` (user, password) if given."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for size, options in SIZES.items():
            context = browser.new_context(**options)
            page = context.new_page()
            if sign_in:
                page.goto(base.rstrip("/") + "/admin/login/")
                page.fill("#id_username", sign_in[0])
                page.fill("#id_password", sign_in[1])
                page.click("input[type=submit]")
                page.wait_for_load_state("networkidle")
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
    from django.utils import timezone

    from articles.models import Article
    from waitlist.models import Invitation, Subscriber, email_hash
    from waitlist.people import places, referrals, signup, tokens

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
    if not person.referrals.exists():  # two friends: one counted, one held
        for name, outcome in [("bea", "counted"), ("cy", referrals.HELD_OWN)]:
            friend = f"{name}@example.invalid"
            Subscriber.objects.create(
                email=friend, email_hash=email_hash(friend),
                canonical_email_hash=email_hash(friend), status=Subscriber.Status.CONFIRMED,
                confirmed_at=timezone.now(), referred_by=person, referral_outcome=outcome,
                referral_credited=outcome == "counted",
            )  # fmt: skip
    places.number_new()  # each their place, as confirming gives it
    article = Article.objects.published().order_by("-publish_at").first()
    pages = {"home": "/", "health-data-policy": "/health-data-privacy/"}
    if article is not None:
        pages["article"] = article.get_absolute_url()
        pages["article-sources"] = article.get_absolute_url() + "#sources-heading"
        pages["article-disclosures"] = article.get_absolute_url() + "#disclosures-heading"
        if article.reviewer:
            pages["reviewer"] = article.reviewer.get_absolute_url()
    pages["referral"] = (
        f"/waitlist/welcome/{tokens.make_token(tokens.PREFERENCES, key=person.token_key)}/"
    )
    pages["invite"] = f"/waitlist/?ref={person.referral_code}"
    pages["preferences"] = (
        f"/waitlist/preferences/{tokens.make_token(tokens.PREFERENCES, key=person.token_key)}/"
    )
    invitation, _ = Invitation.objects.get_or_create(subscriber=person)
    if invitation.status == Invitation.Status.WAITING:  # their place came up
        invitation.invite(now=timezone.now(), days=14, description="For the screenshots.")
        invitation.save()
    if invitation.status == Invitation.Status.INVITED:
        code = tokens.make_token(tokens.START, key=person.token_key, nonce=invitation.nonce)
        pages["start"] = f"/start/{code}/"
    return pages


def operator_pages() -> tuple[dict[str, str], tuple[str, str]] | None:
    """The operators' pages, signed in as the admin `dev.py run` makes (its password in
    VAR_DIR/admin-password.txt); None if there is no such admin. A draft campaign, "Screenshot
    sample", is added if the site has none."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from waitlist.models import Campaign
    from waitlist.people import wording
    from waitlist.tasks import recount_dashboard

    saved = Path(settings.VAR_DIR) / "admin-password.txt"
    admin = get_user_model().objects.filter(username="admin").first()
    if admin is None or not saved.is_file() or not admin.check_password(saved.read_text().strip()):
        return None
    recount_dashboard()  # the figures as of now, not as of beat's last count
    campaign = Campaign.objects.order_by("-pk").first() or Campaign.objects.create(
        name="Screenshot sample",
        subject="We're open in Texas",
        preheader="Book your first visit this week",
        body="## What changes\n\nFrom today you can book a first visit online.",
        audience_states=["TX"],
    )
    pages = {
        "campaign": f"/admin/waitlist/campaign/{campaign.pk}/change/#send",
        "campaign-body": f"/admin/waitlist/campaign/{campaign.pk}/change/#id_body",
        "campaign-confirm": f"/admin/waitlist/campaign/{campaign.pk}/confirm/schedule/",
        "dashboard": "/admin/waitlist/subscriber/dashboard/",
        "data-map": "/admin/waitlist/subscriber/data-map/",
        "import": "/admin/waitlist/subscriber/import/",
        "paces": "/admin/waitlist/pace/",
        "warm-up": "/admin/waitlist/warmup/",
        "article-list": "/admin/articles/article/",
        "findings": "/admin/articles/finding/",
        "journeys": "/admin/waitlist/journey/",
        "system-email": "/admin/waitlist/emailwording/"
        f"{wording.current('confirmation').pk}/change/",
    }
    from articles.models import Article

    article = Article.objects.order_by("-publish_at").first()
    if article is not None:
        pages["article-edit"] = f"/admin/articles/article/{article.pk}/change/#id_body"
        # An article whose change waits for review, if one does: its panel and banner say most.
        waiting = Article.objects.filter(stage=Article.Stage.IN_REVIEW).first() or article
        pages["article-review-panel"] = f"/admin/articles/article/{waiting.pk}/change/"
        pages["article-review"] = f"/learn/{waiting.slug}/review/"
    return pages, ("admin", saved.read_text().strip())


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
    operators = operator_pages()
    if operators is None:
        print("no admin with the password in VAR_DIR/admin-password.txt: no operator pages")
        return
    for path in shoot(args.base, args.folder, operators[0], sign_in=operators[1]):
        print(path)


if __name__ == "__main__":
    main()
