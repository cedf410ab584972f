"""How fast a list brought in from elsewhere imports, and in how much memory, on PostgreSQL:
a million rows from the command line, and a 20 MB file uploaded in admin (through the repo's
nginx and gunicorn, imported by a Celery worker). Half the rows carry consent evidence
(confirmed), half do not (each asked by email to confirm).

    .venv/bin/python bench/import_list.py                          # 1,000,000 rows and 20 MB
    .venv/bin/python bench/import_list.py --rows 20000 --upload-mb 1   # a quick look

Each command-line import is `manage.py import_subscribers` in a process of its own; the same
command on a one-row file, in the same run, is the baseline (the process's own start), taken
off before rows per second; PostgreSQL's own COPY of the same file into a bare table of text
columns, in the same run, is the floor it is compared with. Peak memory is the process's
maximum resident set (wait4's ru_maxrss); for the upload, the worker child's VmHWM. The goal:
at least 10,000 rows/s on PostgreSQL in one transaction (listmonk's published importer
speed)."""

import argparse
import http.cookiejar
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import psycopg
from lib.report import Goal, finish
from lib.stack import BIN, ROOT, Stack, wait_until

HEADER = (
    "email,consented_at,consent_source,consent_wording,consent_version,consent_ip,interests,state"
)
GOAL_ROWS_PER_SECOND = 10_000
PASSWORD = "bench-only-password-9f2c"


def row(n: int, token: str) -> str:
    if n % 2:
        return f"ask-{token}-{n}@example.com,,,,,,sleep,TX"
    return (
        f"kept-{token}-{n}@example.com,2026-05-01T14:30:00Z,Old list,Email me news.,,"
        f"198.51.100.{n % 250},testosterone weight,CA"
    )


def write(path: Path, token: str, *, rows: int | None = None, size: int | None = None) -> int:
    """A file of `rows` rows, or of as many as fit in `size` bytes; returns its row count."""
    count, written = 0, len(HEADER) + 1
    with path.open("w") as file:
        file.write(HEADER + "\n")
        while True:
            line = row(count, token) + "\n"
            if (rows is not None and count == rows) or (size and written + len(line) > size):
                return count
            file.write(line)
            written += len(line)
            count += 1


def timed(stack: Stack, path: Path) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of one `manage.py import_subscribers`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [BIN / "python", "manage.py", "import_subscribers", str(path)],
        cwd=ROOT, env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"import_subscribers failed: {process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024


def counts(stack: Stack, token: str) -> tuple[dict, int]:
    statuses = stack.sql(
        "SELECT status, count(*) FROM waitlist_subscriber WHERE email LIKE %s GROUP BY 1",
        [f"%-{token}-%"],
    )
    emails = stack.sql(
        "SELECT count(*) FROM waitlist_outboundemail e JOIN waitlist_subscriber s"
        " ON s.id = e.subscriber_id WHERE s.email LIKE %s",
        [f"%-{token}-%"],
    )[0][0]
    return dict(statuses), emails


def raw_copy(stack: Stack, path: Path) -> float:
    """Seconds for PostgreSQL's own COPY of the file into a table of its eight text columns, no
    index, no check: the machine's floor for taking these rows in."""
    with psycopg.connect(stack.database_url) as connection:
        connection.execute(
            "CREATE TEMP TABLE raw_rows (email text, consented_at text, consent_source text,"
            " consent_wording text, consent_version text, consent_ip text, interests text,"
            " state text)"
        )
        started = time.perf_counter()
        statement = "COPY raw_rows FROM STDIN (FORMAT csv, HEADER)"
        with connection.cursor().copy(statement) as copy, path.open("rb") as file:
            while chunk := file.read(1 << 20):
                copy.write(chunk)
        connection.commit()
        return time.perf_counter() - started


def command_line(stack: Stack, folder: Path, rows: int) -> tuple[list[Goal], dict]:
    token = uuid.uuid4().hex[:8]
    one, many = folder / "one.csv", folder / "many.csv"
    write(one, token + "x", rows=1)
    write(many, token, rows=rows)
    raw = raw_copy(stack, many)
    baseline, _ = timed(stack, one)
    first, peak = timed(stack, many)
    statuses, emails = counts(stack, token)
    again, _ = timed(stack, many)  # every address already here: nothing written
    unchanged = counts(stack, token) == (statuses, emails)
    rate = rows / max(first - baseline, 0.001)
    figures = {
        "rows": rows,
        "bytes": many.stat().st_size,
        "seconds_raw_copy": round(raw, 2),
        "raw_copy_rows_per_second": round(rows / raw),
        "ratio_to_raw_copy": round(rate / (rows / raw), 3),
        "seconds_one_row": round(baseline, 2),
        "seconds_first_import": round(first, 2),
        "seconds_second_import": round(again, 2),
        "rows_per_second": round(rate),
        "peak_rss_mb": round(peak / 2**20),
        "statuses": statuses,
        "reconfirmation_emails": emails,
    }
    goals = [
        Goal(
            f"{rows:,} rows from the command line, in one transaction: ≥ "
            f"{GOAL_ROWS_PER_SECOND:,} rows/s",
            f"{rate:,.0f} rows/s ({first:.1f} s, less the one-row import's {baseline:.1f} s), "
            f"{rate / (rows / raw):.0%} of a bare COPY of the file ({rows / raw:,.0f} rows/s); "
            f"peak RSS {peak / 2**20:,.0f} MB",
            rate >= GOAL_ROWS_PER_SECOND,
        ),
        Goal(
            "half confirmed, half asked to confirm, one email each",
            f"{statuses}, {emails} emails",
            statuses.get("confirmed") == rows // 2 + rows % 2
            and statuses.get("pending") == rows // 2
            and emails == rows // 2,
        ),
        Goal(
            "the second import changes nothing",
            f"{again:.1f} s, {'the same' if unchanged else 'different'} rows after it",
            unchanged,
        ),
    ]
    return goals, figures


def multipart(fields: dict[str, str], name: str, path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(stack: Stack, folder: Path, megabytes: float) -> tuple[list[Goal], dict]:
    token = uuid.uuid4().hex[:8]
    path = folder / "upload.csv"
    rows = write(path, token, size=int(megabytes * 2**20))
    stack.manage("shell", "-c", (
        "from django.contrib.auth.models import User; "
        "User.objects.filter(username='bench').delete(); "
        f"User.objects.create_superuser('bench', 'bench@example.com', '{PASSWORD}')"
    ))  # fmt: skip
    worker = stack.worker(queues="default", concurrency=1)
    base = stack.nginx(stack.gunicorn(workers=2))
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def csrf() -> str:
        return next(cookie.value for cookie in jar if cookie.name == "csrftoken")

    def post(url: str, data: bytes, content_type: str) -> tuple[int, str]:
        request = urllib.request.Request(base + url, data=data, method="POST")
        request.add_header("Content-Type", content_type)
        request.add_header("Referer", base + url)
        request.add_header("X-CSRFToken", csrf())
        with opener.open(request, timeout=120) as reply:
            return reply.status, reply.read().decode()

    form = "application/x-www-form-urlencoded"
    opener.open(base + "/admin/login/").read()
    login = {
        "username": "bench",
        "password": PASSWORD,
        "csrfmiddlewaretoken": csrf(),
        "next": "/admin/",
    }
    post("/admin/login/", urllib.parse.urlencode(login).encode(), form)
    url = "/admin/waitlist/subscriber/import/"
    opener.open(base + url).read()
    body, content_type = multipart({"csrfmiddlewaretoken": csrf()}, "upload.csv", path)
    started = time.perf_counter()
    status, page = post(url, body, content_type)
    previewed = time.perf_counter() - started
    key = re.search(r'name="upload" value="(\d+)"', page)
    if status != 200 or key is None:
        raise SystemExit(f"the preview failed ({status}): {page[:2000]}")
    fields = {"csrfmiddlewaretoken": csrf(), "upload": key.group(1), "action": "import"}
    started = time.perf_counter()
    post(url, urllib.parse.urlencode(fields).encode(), form)

    def done() -> bool:
        state = stack.sql("SELECT status FROM waitlist_listupload WHERE id = %s", [key.group(1)])
        return state[0][0] in {"imported", "failed"}

    wait_until(done, timeout=900, what="the upload was not imported", every=0.5)
    imported = time.perf_counter() - started
    (state, result), = stack.sql(
        "SELECT status, result FROM waitlist_listupload WHERE id = %s", [key.group(1)]
    )  # fmt: skip
    peak = max(_high_water(pid) for pid in _children(worker.pid))
    statuses, emails = counts(stack, token)
    figures = {
        "rows": rows,
        "bytes": path.stat().st_size,
        "seconds_preview_request": round(previewed, 2),
        "seconds_import": round(imported, 2),
        "rows_per_second": round(rows / imported),
        "worker_peak_rss_mb": round(peak / 2**20),
        "status": state,
        "result": result,
    }
    goals = [
        Goal(
            f"a {path.stat().st_size / 2**20:.1f} MB upload ({rows:,} rows) previewed inside the "
            "request's 30 s timeout, then imported by a worker",
            f"preview {previewed:.1f} s; import {imported:.1f} s ({rows / imported:,.0f} rows/s),"
            f" worker peak RSS {peak / 2**20:,.0f} MB; {statuses}, {emails} emails",
            previewed < 30
            and state == "imported"
            and sum(statuses.values()) == rows
            and emails == rows // 2,
        ),
    ]
    return goals, figures


def _children(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += _children(int(child))
    return found


def _high_water(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--upload-mb", type=float, default=20, help="0: no upload")
    args = parser.parse_args()
    with Stack("import-list", database="halftime_bench", redis_db=7) as stack, \
            tempfile.TemporaryDirectory() as folder:  # fmt: skip
        goals, figures = command_line(stack, Path(folder), args.rows)
        upload_goals = []
        if args.upload_mb:
            upload_goals, figures["upload"] = upload(stack, Path(folder), args.upload_mb)
    raise SystemExit(0 if finish("import_list", goals + upload_goals, figures) else 1)


if __name__ == "__main__":
    main()
