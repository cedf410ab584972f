import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from articles.importer import ImportFailed, import_articles
from articles.models import Article


class Command(BaseCommand):
    help = "Import Markdown articles with YAML front matter; atomic and idempotent by slug."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, help="Markdown files or folders")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Import only if the site has no articles yet (sample content for a new site).",
        )
        parser.add_argument(
            "--operator",
            default=getpass.getuser(),
            help="Who runs the import, named in the sign-offs its files carry (default: the "
            "system user).",
        )

    def handle(self, *args, paths: list[Path], if_empty: bool = False, operator: str, **options):
        if if_empty and (count := Article.objects.count()):
            self.stdout.write(f"kept the site's {count} article(s); the sample is for a new site")
            return
        files = []
        for path in paths:
            files.extend(sorted(path.glob("*.md")) if path.is_dir() else [path])
        if not files:
            raise CommandError("no Markdown files found in " + ", ".join(map(str, paths)))
        try:
            report = import_articles(files, operator=operator)
        except ImportFailed as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(
                f"nothing imported: {len(exc.problems)} problem(s) in {len(files)} file(s)"
            ) from exc
        self.stdout.write(
            f"{len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged"
            + (
                f"; {len(report.pending)} waiting for medical review (their public pages keep "
                "the signed-off text until a reviewer signs off the change, or a file with a "
                "newer last_reviewed is imported)"
                if report.pending
                else ""
            )
        )
