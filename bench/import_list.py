"""How long a list brought in from elsewhere takes to import: 10,000 rows, half with consent
evidence (confirmed) and half without (each asked by email to confirm), on PostgreSQL.

    .venv/bin/python bench/import_list.py                # 10,000 rows
    .venv/bin/python bench/import_list.py --rows 2000    # a quick look

Each import is `manage.py import_subscribers` in a process of its own; the same command on a
one-row file, in the same run, is the baseline (the process's own start). The goal is that the
import an operator uploads in admin ends well inside the web request's timeout."""

import argparse
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from lib.report import Goal, finish
from lib.stack import BIN, ROOT, Stack

HEADER = (
    "email,consented_at,consent_source,consent_wording,consent_version,consent_ip,interests,state"
)
REQUEST_TIMEOUT = 30  # gunicorn.conf.py


def rows(count: int, token: str) -> str:
    lines = [HEADER]
    for n in range(count):
        if n % 2:
            lines.append(f"ask-{token}-{n}@example.com,,,,,,sleep,TX")
        else:
            lines.append(
                f"kept-{token}-{n}@example.com,2026-05-01T14:30:00Z,Old list,Email me news.,,"
                f"198.51.100.{n % 250},testosterone weight,CA"
            )
    return "\n".join(lines) + "\n"


def counts(stack: Stack, token: str) -> tuple[dict, int, int]:
    statuses = stack.sql(
        "SELECT status, count(*) FROM waitlist_subscriber WHERE email LIKE %s GROUP BY 1",
        [f"%-{token}-%"],
    )
    emails = stack.sql("SELECT count(*) FROM waitlist_outboundemail")[0][0]
    consents = stack.sql("SELECT count(*) FROM waitlist_consentrecord")[0][0]
    return dict(statuses), emails, consents


def timed(stack: Stack, path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [BIN / "python", "manage.py", "import_subscribers", str(path)],
        cwd=ROOT, env=stack.env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    token = uuid.uuid4().hex[:8]
    with Stack("import-list", database="halftime_bench", redis_db=7) as stack, \
            tempfile.TemporaryDirectory() as folder:  # fmt: skip
        one, many = Path(folder) / "one.csv", Path(folder) / "many.csv"
        one.write_text(rows(1, token + "x"))
        many.write_text(rows(args.rows, token))
        baseline = timed(stack, one)
        first = timed(stack, many)
        statuses, emails, consents = counts(stack, token)
        again = timed(stack, many)  # every address already here: nothing written
        unchanged = counts(stack, token) == (statuses, emails, consents)
    figures = {
        "rows": args.rows,
        "seconds_one_row": round(baseline, 2),
        "seconds_first_import": round(first, 2),
        "seconds_second_import": round(again, 2),
        "rows_per_second": round(args.rows / max(first - baseline, 0.001)),
        "ratio_to_one_row": round(first / baseline, 1),
        "statuses": statuses,
        "reconfirmation_emails": emails,
        "consent_records": consents,
    }
    goals = [
        Goal(
            f"{args.rows:,} rows import within the web request's {REQUEST_TIMEOUT} s timeout",
            f"{first:.1f} s ({first / baseline:.1f}× a one-row import, {baseline:.1f} s)",
            first < REQUEST_TIMEOUT,
        ),
        Goal(
            "half confirmed, half asked to confirm, one email each",
            f"{statuses}, {emails} emails",
            statuses.get("confirmed") == args.rows // 2 + args.rows % 2
            and statuses.get("pending") == args.rows // 2
            and emails == args.rows // 2,
        ),
        Goal(
            "the second import changes nothing",
            f"{again:.1f} s, {'the same' if unchanged else 'different'} rows after it",
            unchanged,
        ),
    ]
    raise SystemExit(0 if finish("import-list", goals, figures) else 1)


if __name__ == "__main__":
    main()
