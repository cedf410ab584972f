from articles.importer import import_people
from articles.models import Person

from .import_glossary import Command as ImportFileCommand


class Command(ImportFileCommand):
    help = (
        "Import authors and medical reviewers from a YAML list of {name, credentials, slug, role, "
        "bio, photo_url, links, funding, conflicts}, matched by name."
    )
    model = Person
    rows = "people"
    import_file = staticmethod(import_people)
