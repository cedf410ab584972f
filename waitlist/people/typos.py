"""Likely typos in the domain of an address ("gmial.com", "gmail.con"): a suggestion to offer,
never a correction to force. A domain one edit (a letter added, dropped, changed or two swapped)
from one of the domains most people use, or with a known slip in its ending, is suggested the
common spelling; any other domain, and the common ones themselves, get none."""

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

# The address domains most of the list uses (US consumer mail first).
COMMON = (
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com", "live.com",
    "msn.com", "me.com", "mac.com", "comcast.net", "att.net", "sbcglobal.net", "verizon.net",
    "cox.net", "charter.net", "bellsouth.net", "protonmail.com", "proton.me", "ymail.com",
    "rocketmail.com", "googlemail.com", "mail.com", "gmx.com", "aim.com", "fastmail.com",
    "hey.com", "zoho.com", "yahoo.co.uk", "hotmail.co.uk",
)  # fmt: skip
# Endings that are no top-level domain, and the one meant.
ENDINGS = {
    "con": "com", "cmo": "com", "ocm": "com", "vom": "com", "xom": "com", "comm": "com",
    "coom": "com", "cpm": "com", "nte": "net", "ner": "net", "nett": "net", "ogr": "org",
    "orgg": "org",
}  # fmt: skip


def suggestion(address: str) -> str | None:
    """The address with its domain's likely spelling, or None."""
    local, _, domain = address.rpartition("@")
    domain = domain.lower()
    if not local or domain in COMMON:
        return None
    name, _, ending = domain.rpartition(".")
    if ending in ENDINGS:
        domain = f"{name}.{ENDINGS[ending]}"
        if domain in COMMON:
            return f"{local}@{domain}"
    found = process.extractOne(domain, COMMON, scorer=DamerauLevenshtein.distance, score_cutoff=1)
    if found is not None:
        return f"{local}@{found[0]}"
    return f"{local}@{domain}" if domain != address.rpartition("@")[2].lower() else None
