"""The site's part of the Learning Center's page-cache version (articles/pagecache.py): what a
cached page shows beyond the articles themselves. Composed here, in the project, where the
deploy and the waitlist's consent wording are both in view."""

import hashlib
from pathlib import Path

from django.conf import settings

from waitlist.people import consent

# Settings a page shows; a new value is a new page.
SHOWN_SETTINGS = ("SITE_NAME", "SITE_URL", "ARTICLE_DISCLAIMER", "STATIC_URL", "TIME_ZONE")
CODE = ("halftime", "articles", "waitlist")


def _files() -> list[tuple[str, Path]]:
    """Each file with its name inside its folder (the same on every host, wherever the
    folder is)."""
    base = Path(settings.BASE_DIR)
    folders = [Path(d) for engine in settings.TEMPLATES for d in engine["DIRS"]]
    folders += [Path(d) for d in settings.STATICFILES_DIRS]
    folders += [base / package for package in CODE]  # template tags, views, rendering
    files = [
        (f"{index}/{path.relative_to(folder)}", path)
        for index, folder in enumerate(folders)
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.is_file():
        files.append(("manifest", manifest))
    return sorted(files)


def build_id() -> str:
    """The same on every host of one deploy, new with any change to a template, a static
    file, the code or a setting the pages show; by content, not by file times."""
    digest = hashlib.sha256()
    for name, path in _files():
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for name in SHOWN_SETTINGS:
        digest.update(f"{name}={getattr(settings, name)!r}\0".encode())
    return digest.hexdigest()[:16]


BUILD_ID = build_id()


def page_version() -> str:
    """The deploy, and the consent wordings the join form on every page shows."""
    shown = [consent.current_text(purpose) for purpose in consent.CURRENT]
    wording = hashlib.sha256("\0".join(shown).encode()).hexdigest()[:12]
    return f"{BUILD_ID}.{'.'.join(consent.CURRENT.values())}.{wording}"
