"""The YAML lists an import reads besides the articles: the glossary and the people (the
problems reported as the articles' are, ``file:line: what is wrong``)."""

from pathlib import Path

from .parsing import (
    ImportFailed,
    Problems,
    entry_line,
    list_value,
    load_yaml,
    read_source,
    text_value,
    unknown_keys,
)

PERSON_KEYS = {
    "name", "credentials", "slug", "role", "bio", "photo_url", "links", "funding", "conflicts",
}  # fmt: skip


def _yaml_entries(
    path: Path, problems: Problems, keys: set[str], not_a_list: str, not_a_mapping: str
):
    """(line, mapping) of each entry of the YAML list in `path`; what is wrong goes to
    `problems`, and a file that is not a list is refused at once."""
    data, node = load_yaml(read_source(path), problems)
    if problems.items:
        raise ImportFailed(problems.items)
    if not isinstance(data, list):
        raise ImportFailed([f"{path}:1: {not_a_list}"])
    for index, item in enumerate(data):
        line = entry_line(node, index, 1) - 1
        if not isinstance(item, dict):
            problems.add(line, not_a_mapping)
            continue
        for message in unknown_keys(item, keys, ""):
            problems.add(line, message)
        yield line, item


def parse_glossary(path: Path) -> list[tuple[str, str, str]]:
    """(term, definition, aliases) of each entry of a YAML list of {term, definition, aliases}."""
    problems = Problems(str(path))
    entries = []
    for line, item in _yaml_entries(
        path, problems, {"term", "definition", "aliases"}, "the glossary must be a list of terms",
        "each entry needs 'term' and 'definition'",
    ):  # fmt: skip
        term = text_value(item.get("term"), "term", line, problems, 80)
        definition = text_value(item.get("definition"), "definition", line, problems)
        aliases = item.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            problems.add(line, "'aliases' must be a list of text")
            aliases = []
        if not term or not definition:
            problems.add(line, "each entry needs 'term' and 'definition'")
        entries.append((term, definition, ", ".join(a.strip() for a in aliases)))
    if problems.items:
        raise ImportFailed(problems.items)
    return entries


def parse_people(path: Path) -> list[dict]:
    """The fields of each entry of a YAML list of people (PERSON_KEYS; `links` a list)."""
    problems = Problems(str(path))
    people = []
    for line, item in _yaml_entries(
        path, problems, PERSON_KEYS, "the file must be a list of people",
        "each entry needs at least 'name'",
    ):  # fmt: skip
        limits = {"name": 120, "credentials": 80, "slug": 120, "role": 120, "photo_url": 500}
        person = {
            key: text_value(item.get(key), key, line, problems, limits.get(key))
            for key in PERSON_KEYS - {"links"}
        }
        links = list_value(item.get("links"), "links", line, problems)
        if not all(isinstance(link, str) for link in links):
            problems.add(line, "'links' must be a list of addresses")
            links = []
        person["links"] = "\n".join(link.strip() for link in links)
        if not person["name"]:
            problems.add(line, "each entry needs a 'name'")
        people.append(person)
    if problems.items:
        raise ImportFailed(problems.items)
    return people
