from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from articles.importer import ImportFailed, import_glossary
from articles.models import GlossaryTerm


class Command(BaseCommand):
    help = "Import glossary terms from a YAML list of {term, definition, aliases}."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Import only if the site has no glossary terms yet (for a new site).",
        )

    def handle(self, *args, path: Path, if_empty: bool = False, **options):
        if if_empty and (count := GlossaryTerm.objects.count()):
            self.stdout.write(f"kept the site's {count} glossary term(s)")
            return
        try:
            report = import_glossary(path)
        except ImportFailed as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(f"nothing imported: {len(exc.problems)} problem(s)") from exc
        self.stdout.write(
            f"{len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged"
        )
