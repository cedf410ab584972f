"""The consent text people agree to when they join. A change of wording is a new version: add
it here and point CURRENT at it, so every record keeps the exact words that person saw."""

VERSIONS = {
    "2026-11": (
        "Email me updates about Halftime Health's launch, including when it reaches my state. "
        "I can unsubscribe at any time with one click."
    ),
}
CURRENT = "2026-11"


def current_text() -> str:
    return VERSIONS[CURRENT]
