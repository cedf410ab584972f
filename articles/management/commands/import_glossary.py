from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from articles.importer import ImportFailed, import_glossary


class Command(BaseCommand):
    help = "Import glossary terms from a YAML list of {term, definition, aliases}."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
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
