from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from waitlist.people import importing


class Command(BaseCommand):
    help = (
        "Import a list kept elsewhere from CSV: our own columns (" + ", ".join(importing.FIELDS)
        + ") or a Mailchimp, Kit, Substack or GetWaitlist export. Any size up to "
        f"{importing.MAX_ROWS:,} rows, all or nothing, idempotent by address; rows with consent "
        "evidence join confirmed, the rest are asked by email to confirm."
    )  # fmt: skip

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--preview", action="store_true",
            help="Say what the file would bring, and write nothing.",
        )  # fmt: skip
        parser.add_argument(
            "--consent-source", default="",
            help="Where the people on this list consented, for rows that do not say.",
        )  # fmt: skip
        parser.add_argument(
            "--consent-wording", default="",
            help="The words they agreed to, for rows that do not say.",
        )  # fmt: skip

    def handle(self, *args, path: Path, preview: bool, **options):
        evidence = importing.Evidence(options["consent_source"], options["consent_wording"])
        run = importing.preview if preview else importing.import_file
        try:
            with path.open("rb") as file:
                report = run(file, evidence)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        except importing.ImportFailed as exc:
            for line in exc.report.reading():
                self.stderr.write(f"{path}: {line}")
            for problem in exc.problems:
                self.stderr.write(f"{path}: {problem}")
            raise CommandError(f"nothing imported: {exc.report.refused or 1:,} problem(s)") from exc
        for line in report.reading():
            self.stdout.write(line)
        self.stdout.write(report.summary())
