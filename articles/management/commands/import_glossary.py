from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from articles.importer import ImportFailed, import_glossary
from articles.models import GlossaryTerm


class Command(BaseCommand):
    """Import one YAML file of rows (`import_people` is the same command for another file)."""

    help = "Import glossary terms from a YAML list of {term, definition, aliases}."
    model = GlossaryTerm
    rows = "glossary term(s)"
    import_file = staticmethod(import_glossary)

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help=f"Import only if the site has no {self.rows} yet (for a new site).",
        )

    def handle(self, *args, path: Path, if_empty: bool = False, **options):
        if if_empty and (count := self.model.objects.count()):
            self.stdout.write(f"kept the site's {count} {self.rows}")
            return
        try:
            report = self.import_file(path)
        except ImportFailed as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(f"nothing imported: {len(exc.problems)} problem(s)") from exc
        self.stdout.write(
            f"{len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged"
        )
