from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from waitlist.people.importing import COLUMNS, ImportFailed, import_csv


class Command(BaseCommand):
    help = (
        "Import a list kept elsewhere from CSV (columns: " + ", ".join(COLUMNS) + "). All or "
        "nothing, idempotent by address; rows with consent evidence join confirmed, the rest "
        "are asked by email to confirm."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        try:
            report = import_csv(path.read_bytes())
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        except ImportFailed as exc:
            for problem in exc.problems:
                self.stderr.write(f"{path}: {problem}")
            raise CommandError(f"nothing imported: {len(exc.problems)} problem(s)") from exc
        self.stdout.write(report.summary())
