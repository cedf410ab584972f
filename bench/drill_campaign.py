"""Reliability drills for launch-update campaigns: a worker killed mid-campaign while two beats
run, and the SMTP server down for a minute mid-campaign.

    .venv/bin/python bench/drill_campaign.py                      # both drills, defaults
    .venv/bin/python bench/drill_campaign.py --only 4             # the crash drill only
    .venv/bin/python bench/drill_campaign.py --only 5 --smtp-down 60 --outage-subscribers 10000
    .venv/bin/python bench/drill_campaign.py --subscribers 20000 --lease 20 --rate 1000

Needs PostgreSQL and Redis on 127.0.0.1. Uses its own database (halftime_drill_campaign, created
when missing, migrated, its waitlist tables emptied; nothing is ever dropped), Redis database 3
as the cache and 4 as the Celery broker (both flushed at the start, between the drills and at
the end), DEBUG off, and an SMTP sink (aiosmtpd, bench/campaign.py's) in a process of its own
that also appends every accepted message to a journal file before it answers 250, so nothing is
lost when the drill stops it.

Each drill seeds confirmed subscribers in SQL (bench/campaign.py's seed) plus a few people
outside the audience (pending, or suppressed), starts two Celery workers as the Procfile's
`worker` line runs them (queues mail,campaigns,default, concurrency 2, log level INFO) and
schedules a campaign to everyone for now:

4. Crash: two `celery beat` processes run at once for the whole drill. When about a third of the
   messages are at the sink, one worker's process group (main process and pool children) gets
   SIGKILL; the delivery rows in status 'sending' at that moment are counted; a replacement
   worker starts. CAMPAIGN_LEASE_SECONDS is lowered (--lease, 20 s) so the dispatcher takes
   the killed worker's rows back within the drill.
5. Outage: one beat. When about a quarter of the messages are at the sink, the sink process is
   stopped by its pid; --smtp-down (60) seconds later it starts again on the same port.
   Production settings for the lease, the retry backoff and the error threshold.

Both are then checked from the sink's journal and the database: nobody skipped, duplicates only
where a message could be in flight (with the first copy's Message-ID), nobody outside the
audience mailed, every delivery row 'sent', the campaign 'sent'. It prints a markdown table and
`goal:` lines and writes bench/results/drill_campaign.json. Exit status 0 when the drills ran
(goals met or not), 1 when they could not run. Logs: bench/results/celery-campaign-drill*.log,
drill-campaign-sink-*.log; journals: bench/results/drill-campaign-journal-*.tsv.
"""

import argparse
import collections
import contextlib
import datetime as dt
import functools
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PYTHON,
    RESULTS,
    ROOT,
    BenchError,
    Processes,
    bench_env,
    ensure_database,
    ensure_redis,
    fail,
    free_port,
    goal,
    machine,
    manage,
    run_record,
    say,
    write_results,
)
from campaign import (  # noqa: E402
    Celery,
    Sink,
    SinkHandler,
    campaign_status,
    campaign_times,
    code_fingerprint,
    delivery_counts,
    descendants,
    flush_redis,
    new_campaign,
    seed_subscribers,
    setup_django,
    sql,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/halftime_drill_campaign"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/4"
PROCFILE_QUEUES = "mail,campaigns,default"  # the Procfile's ${CELERY_QUEUES:-...}
PROCFILE_CONCURRENCY = 2  # the Procfile's ${CELERY_CONCURRENCY:-2}
OUTSIDERS = 100  # pending or suppressed people who must get nothing
# Settings a drill leaves at the application's defaults unless it sets them (whatever the
# calling shell has).
PRODUCTION_DEFAULTS = (
    "CAMPAIGN_LEASE_SECONDS",
    "CAMPAIGN_ERROR_THRESHOLD",
    "CAMPAIGN_ERROR_MIN_SAMPLE",
    "CAMPAIGN_RATE_PER_HOUR",
    "OUTBOX_SWEEP_SECONDS",
)

# People outside the audience: half pending (never confirmed), half confirmed but suppressed.
OUTSIDERS_SQL = """
INSERT INTO waitlist_subscriber (
    email, email_hash, canonical_email_hash, status, interests, state, placement,
    utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer_url,
    referral_code, referral_credited, token_key, created_at, confirmed_at, suppressed_at,
    suppression_reason
)
SELECT e, md5(e) || md5('#' || e), md5(e) || md5('#' || e),
       CASE WHEN mod(g, 2) = 0 THEN 'pending' ELSE 'confirmed' END, '["sleep"]'::jsonb, 'TX',
       '', '', '', '', '', '', '', 'o' || g, false, left(md5('outsider' || g), 16), now(),
       CASE WHEN mod(g, 2) = 0 THEN NULL ELSE now() END,
       CASE WHEN mod(g, 2) = 0 THEN NULL ELSE now() END,
       CASE WHEN mod(g, 2) = 0 THEN '' ELSE 'hard bounce' END
FROM (SELECT g, 'outsider' || g || '@example.com' AS e FROM generate_series(1, %s) AS g) AS s
"""
AUDIENCE_SQL = (
    "SELECT email, id FROM waitlist_subscriber"
    " WHERE status = 'confirmed' AND suppressed_at IS NULL AND email IS NOT NULL"
)
# The app's per-batch log line (waitlist/tasks.py: send_campaign_batch).
BATCH_LINE = re.compile(
    r"campaign (\d+) batch (\d+)-(\d+): sent (\d+), failed (\d+), skipped (\d+), released (\d+)"
)
LOG_TIME = re.compile(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)[,.](\d{3})")


# --- The sink: bench/campaign.py's, with a journal ----------------------------------------------


class JournalHandler(SinkHandler):
    """bench/campaign.py's sink handler, which also appends one line per accepted recipient
    (arrival time, client port, recipient, Message-ID) to a journal before answering 250: a
    message in the journal is one the server accepted, even if the sink dies before the client
    reads the answer. The journal outlives the sink process, across a stop and a start."""

    def __init__(self, journal: str) -> None:
        self.journal = open(journal, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        super().__init__()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        answer = await super().handle_DATA(server, session, envelope)
        port = session.peer[1] if session.peer else 0
        for address in envelope.rcpt_tos:
            message_id = self.recipients[address][-1]
            self.journal.write(f"{self.last:.6f}\t{port}\t{address}\t{message_id}\n")
        return answer


def journal_sink_main(port: int, journal: str) -> None:
    """bench/campaign.py's sink_main, serving with a JournalHandler."""
    import campaign

    campaign.SinkHandler = functools.partial(JournalHandler, journal)
    campaign.sink_main(port)


class JournalSink(Sink):
    """The drill's side of one sink process; `port` given to come back on the same port."""

    def __init__(self, processes: Processes, name: str, journal: Path, port: int = 0) -> None:
        self.port = port or free_port()
        self.journal = journal
        self.log_path = RESULTS / f"drill-campaign-sink-{name}.log"
        with self.log_path.open("ab") as log:
            self.process = processes.start(
                [PYTHON, __file__, "_sink", str(self.port), str(journal)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        first = self._read()
        if not first.get("ready"):
            raise BenchError(f"the SMTP sink did not start on port {self.port}: {first}")

    def count(self) -> int:
        return self.stats()["count"]


@dataclass
class Arrival:
    time: float
    port: int
    recipient: str
    message_id: str


def read_journal(path: Path) -> list[Arrival]:
    """Every message the sink accepted; a half-written last line (a killed sink) is ignored."""
    arrivals = []
    if not path.exists():
        return arrivals
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            arrivals.append(Arrival(float(parts[0]), int(parts[1]), parts[2], parts[3]))
    return arrivals


# --- Celery: Procfile workers and any number of beats -------------------------------------------


class DrillCelery(Celery):
    """bench/campaign.py's Celery, with workers started as the Procfile's `worker` line runs
    them and several beats, each with a schedule file of its own."""

    def __init__(self, processes: Processes, env: dict[str, str], drill: int) -> None:
        super().__init__(processes, env)
        self.drill = drill
        self.beats: list[subprocess.Popen] = []
        self.started_workers = 0

    def start_worker(self) -> subprocess.Popen:
        self.started_workers += 1
        number = self.started_workers
        worker = self._start(
            f"drill{self.drill}-worker{number}",
            [
                "worker",
                "--queues",
                PROCFILE_QUEUES,
                "--concurrency",
                PROCFILE_CONCURRENCY,
                "--loglevel",
                "INFO",
                # Two workers on one host need names of their own (bench* answers wait_ready).
                "--hostname",
                f"bench-drill{self.drill}-w{number}@%h",
            ],
        )
        self.workers.append(worker)
        return worker

    def start_beats(self, count: int) -> None:
        for number in range(1, count + 1):
            schedule = self.schedule_dir / f"schedule-{number}"
            self.beats.append(
                self._start(
                    f"drill{self.drill}-beat{number}",
                    ["beat", "--loglevel", "INFO", "--schedule", schedule],
                )
            )

    def forget(self, worker: subprocess.Popen) -> None:
        """A worker that was killed: no longer expected to answer or to be stopped."""
        if worker in self.workers:
            self.workers.remove(worker)

    def remember(self) -> None:
        super().remember()
        for beat in self.beats:
            if beat.poll() is None:
                self.known.update(descendants(beat.pid))

    def stop(self) -> None:
        self.remember()
        for beat in self.beats:
            self.processes.stop(beat, grace=30)
        super().stop()

    def beats_alive(self) -> list[bool]:
        return [beat.poll() is None for beat in self.beats]


def beat_dispatches(celery: DrillCelery) -> dict[str, int]:
    """How many dispatch-campaigns tasks each beat sent (from its INFO log)."""
    counts = {}
    for path in celery.logs:
        if "-beat" in path.name and path.exists():
            text = path.read_text(errors="replace")
            counts[path.stem.removeprefix("celery-campaign-")] = text.count("dispatch-campaigns")
    return counts


@dataclass
class BatchRun:
    time: float | None
    campaign: int
    low: int
    high: int
    sent: int
    failed: int
    skipped: int
    released: int


def batch_runs(celery: DrillCelery) -> list[BatchRun]:
    """Every batch a worker logged (waitlist/tasks.py logs one line per batch at INFO)."""
    runs = []
    for path in celery.logs:
        if "-worker" not in path.name or not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            found = BATCH_LINE.search(line)
            if not found:
                continue
            stamp = LOG_TIME.search(line)
            when = None
            if stamp:
                parsed = time.strptime(stamp.group(1).replace("T", " "), "%Y-%m-%d %H:%M:%S")
                when = time.mktime(parsed) + int(stamp.group(2)) / 1000
            runs.append(BatchRun(when, *(int(g) for g in found.groups())))
    return sorted(runs, key=lambda r: r.time or 0)


# --- Environment and seeding --------------------------------------------------------------------


def drill_env(args: argparse.Namespace, smtp_port: int, **extra: str) -> dict[str, str]:
    """Production-like settings for the workers and beats (bench_env); the application's
    defaults for what a drill does not set (lease, error threshold, hourly rate), whatever the
    calling shell has."""
    env = bench_env(
        database_url=args.database_url,
        redis_url=args.redis_url,
        CELERY_BROKER_URL=args.broker_url,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        CAMPAIGN_RATE_PER_SECOND=str(args.rate),
        CAMPAIGN_DISPATCH_SECONDS=str(args.dispatch_seconds),
        STATIC_MANIFEST="false",  # workers render no page: no collected files needed
        LOG_LEVEL="INFO",  # as in production: the per-batch lines are the drill's evidence
        **extra,
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for name in PRODUCTION_DEFAULTS:
        if name not in extra:
            env.pop(name, None)
    return env


def seed(count: int) -> None:
    """`count` confirmed subscribers (bench/campaign.py's seed) and OUTSIDERS who are not in any
    audience; every campaign and delivery row from before is gone."""
    seconds = seed_subscribers(count)
    sql(OUTSIDERS_SQL, [OUTSIDERS])
    sql("ANALYZE waitlist_subscriber")
    say(f"{count:,} confirmed subscribers and {OUTSIDERS} outsiders in {seconds:.1f} s (SQL)")


def reset_redis(args: argparse.Namespace) -> None:
    flush_redis(args.redis_url, args.broker_url)


# --- Watching a campaign ------------------------------------------------------------------------


class Watch:
    """The campaign's status transitions and its delivery rows by status, sampled as the drill
    polls (status every 0.5 s, row counts every second), with times relative to `t0`."""

    def __init__(self, campaign_id: int, t0: float) -> None:
        self.campaign_id, self.t0 = campaign_id, t0
        self.transitions: list[tuple[float, str]] = []
        self.samples: list[tuple[float, dict]] = []
        self.status = ""
        self._status_at = self._sample_at = 0.0

    def tick(self) -> str:
        now = time.monotonic()
        if now - self._status_at >= 0.5:
            self._status_at = now
            status = campaign_status(self.campaign_id)
            if status != self.status:
                self.transitions.append((round(time.time() - self.t0, 1), status))
                self.status = status
        if now - self._sample_at >= 1.0:
            self._sample_at = now
            self.samples.append((round(time.time() - self.t0, 1), self.counts()))
        return self.status

    def counts(self) -> dict[str, int]:
        return delivery_counts(self.campaign_id)

    def statuses(self) -> list[str]:
        return [status for _, status in self.transitions]


def wait_for_arrivals(counter: Callable[[], int], target: int, watch: Watch, timeout: float) -> int:
    """Until the sink has `target` messages; polled often, so the drill acts close to it."""
    deadline = time.monotonic() + timeout
    reported = time.monotonic()
    while (count := counter()) < target:
        status = watch.tick()
        if time.monotonic() > deadline:
            raise BenchError(
                f"only {count:,} of the {target:,} messages wanted arrived in {timeout:.0f} s; "
                f"campaign {status}, deliveries {watch.counts()}"
            )
        if status in ("paused", "cancelled", "sent"):
            time.sleep(2)  # the last messages of a campaign that stopped early
            if counter() < target:
                raise BenchError(
                    f"the campaign is {status} with only {counter():,} of {target:,} messages "
                    f"at the sink; deliveries {watch.counts()}"
                )
        if time.monotonic() - reported > 10:
            reported = time.monotonic()
            say(f"  {count:,} at the sink; campaign {status}; deliveries {watch.counts()}")
        time.sleep(0.05)
    return count


@dataclass
class Finish:
    finished: bool
    reason: str
    seconds: float


def wait_until_finished(
    counter: Callable[[], int],
    watch: Watch,
    timeout: float,
    on_tick: Callable[[], None] | None = None,
) -> Finish:
    """Until the campaign is 'sent' and the sink has had nothing new for 2 s. A campaign that
    pauses or is cancelled does not resume by itself: after 30 s in that state the drill stops
    waiting and reports it. So does a timeout: the drill reports, it does not crash."""
    started = time.monotonic()
    deadline = started + timeout
    reported = started
    last_count, last_move = -1, started
    stopped_since = None
    while time.monotonic() < deadline:
        status = watch.tick()
        if on_tick is not None:
            on_tick()
        count = counter()
        if count != last_count:
            last_count, last_move = count, time.monotonic()
        if status == "sent" and time.monotonic() - last_move > 2:
            return Finish(True, "sent", time.monotonic() - started)
        if status in ("paused", "cancelled"):
            stopped_since = stopped_since or time.monotonic()
            if time.monotonic() - stopped_since > 30:
                return Finish(False, f"campaign {status}", time.monotonic() - started)
        else:
            stopped_since = None
        if time.monotonic() - reported > 10:
            reported = time.monotonic()
            say(f"  {count:,} at the sink; campaign {status}; deliveries {watch.counts()}")
        time.sleep(0.25)
    return Finish(False, f"not finished after {timeout:.0f} s", time.monotonic() - started)


# --- Checks -------------------------------------------------------------------------------------


def check_campaign(campaign_id: int, arrivals: list[Arrival]) -> dict:
    """What the sink got against who the audience is and what the database says."""
    from waitlist.emails import campaign_message_id

    audience = dict(sql(AUDIENCE_SQL, fetch=True))
    everyone = {email for (email,) in sql("SELECT email FROM waitlist_subscriber", fetch=True)}
    copies: dict[str, list[Arrival]] = collections.defaultdict(list)
    for arrival in arrivals:
        copies[arrival.recipient].append(arrival)
    missing = sorted(e for e in audience if e not in copies)
    outsiders = sorted(e for e in copies if e not in audience and e in everyone)
    unknown = sorted(e for e in copies if e not in everyone)
    duplicates = {e: c for e, c in copies.items() if len(c) > 1}
    expected_id = {e: campaign_message_id(campaign_id, pk) for e, pk in audience.items()}
    wrong_id = sorted(
        e
        for e, c in copies.items()
        if e in audience and any(a.message_id != expected_id[e] for a in c)
    )
    duplicate_other_id = sorted(
        e for e, c in duplicates.items() if any(a.message_id != c[0].message_id for a in c)
    )
    rows = sql(
        "SELECT s.email, d.message_id FROM waitlist_delivery d"
        " JOIN waitlist_subscriber s ON s.id = d.subscriber_id WHERE d.campaign_id = %s",
        [campaign_id],
        fetch=True,
    )
    row_emails = {email for email, _ in rows}
    stored_id_differs = sorted(
        email
        for email, message_id in rows
        if email in copies and message_id and message_id != copies[email][0].message_id
    )
    attempts = dict(
        sql(
            "SELECT attempts, count(*) FROM waitlist_delivery WHERE campaign_id = %s"
            " GROUP BY attempts ORDER BY attempts",
            [campaign_id],
            fetch=True,
        )
    )
    deliveries = delivery_counts(campaign_id)
    status = campaign_status(campaign_id)
    return {
        "audience": len(audience),
        "messages": len(arrivals),
        "recipients": len(copies),
        "missing": len(missing),
        "outsiders_mailed": len(outsiders),
        "unknown_mailed": len(unknown),
        "duplicated_recipients": len(duplicates),
        "extra_copies": sum(len(c) - 1 for c in duplicates.values()),
        "wrong_message_id": len(wrong_id),
        "duplicate_with_other_message_id": len(duplicate_other_id),
        "rows_not_audience": len(row_emails ^ set(audience)),
        "stored_message_id_differs": len(stored_id_differs),
        "deliveries": deliveries,
        "attempts_histogram": {str(k): v for k, v in attempts.items()},
        "campaign_status": status,
        "campaign_times": campaign_times(campaign_id),
        "all_rows_sent": deliveries == {"sent": len(audience)},
        "examples": {
            "missing": missing[:5],
            "outsiders_mailed": outsiders[:5],
            "unknown_mailed": unknown[:5],
            "wrong_message_id": wrong_id[:5],
            "duplicate_with_other_message_id": duplicate_other_id[:5],
            "stored_message_id_differs": stored_id_differs[:5],
        },
        "_duplicates": duplicates,
    }


def duplicates_by_connection(duplicates: dict[str, list[Arrival]]) -> dict[str, int]:
    """How many duplicated recipients had their first copy on each client connection (port):
    a dead sender's unmarked messages all come from its own connection."""
    counts = collections.Counter(str(copies[0].port) for copies in duplicates.values())
    return dict(counts.most_common())


def describe_duplicates(duplicates: dict[str, list[Arrival]], t0: float) -> list[dict]:
    """Each duplicated recipient: when each copy arrived (seconds from t0), on which client
    port, with which Message-ID."""
    return [
        {
            "recipient": email,
            "copies": [
                {"t": round(a.time - t0, 3), "client_port": a.port, "message_id": a.message_id}
                for a in copies
            ],
        }
        for email, copies in sorted(duplicates.items(), key=lambda item: item[1][0].time)
    ]


def error_evidence(campaign_id: int, celery: DrillCelery) -> dict:
    """Why rows failed or the campaign stopped: failed rows' answers, the settings that decide
    a pause, and the workers' lines about it."""
    from django.conf import settings

    answers = sql(
        "SELECT left(answer, 120), count(*) FROM waitlist_delivery WHERE campaign_id = %s"
        " AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
        [campaign_id],
        fetch=True,
    )
    lines = []
    for path in celery.logs:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if "paused" in line or "ERROR" in line or "Traceback" in line:
                    lines.append(f"{path.name}: {line[:300]}")
    return {
        "failed_answers": [[a, n] for a, n in answers],
        "CAMPAIGN_ERROR_THRESHOLD": settings.CAMPAIGN_ERROR_THRESHOLD,
        "CAMPAIGN_ERROR_MIN_SAMPLE": settings.CAMPAIGN_ERROR_MIN_SAMPLE,
        "log_lines": lines[:20],
    }


# --- Drill 4: a worker killed mid-campaign, two beats -------------------------------------------


def process_alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] not in "ZX"


KILL_CLOCK_GRACE = 1.0  # seconds


def kill_process_group(worker: subprocess.Popen) -> dict:
    """SIGKILL to the worker's whole process group (it has a session of its own: main process
    and pool children); returns the pids and when, once none of them runs."""
    pids = descendants(worker.pid)
    group = os.getpgid(worker.pid)
    if group != worker.pid:
        raise BenchError(f"worker {worker.pid} is not the leader of its process group ({group})")
    os.killpg(group, signal.SIGKILL)
    killed_at = time.time()
    worker.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in pids if process_alive(pid)]
    if left:
        raise BenchError(f"processes {left} of the killed worker still run")
    return {"pids": pids, "at": killed_at}


def in_flight_rows(campaign_id: int) -> list[tuple[int, str]]:
    return sql(
        "SELECT d.subscriber_id, s.email FROM waitlist_delivery d"
        " JOIN waitlist_subscriber s ON s.id = d.subscriber_id"
        " WHERE d.campaign_id = %s AND d.status = 'sending'",
        [campaign_id],
        fetch=True,
    )


def claimed_before(campaign_id: int, moment: float) -> int:
    """Rows still 'sending' that were claimed before `moment`: after a kill, the dead worker's."""
    return sql(
        "SELECT count(*) FROM waitlist_delivery WHERE campaign_id = %s AND status = 'sending'"
        " AND claimed_at <= to_timestamp(%s)",
        [campaign_id, moment],
        fetch=True,
    )[0][0]


def drill_crash(args, processes: Processes, app) -> dict:
    from waitlist.sending import MARK_EVERY  # rows sent between two marks: a crash's duplicates

    say(f"drill 4: kill -9 a worker mid-campaign, two beats; {args.subscribers:,} subscribers")
    reset_redis(args)
    seed(args.subscribers)
    journal = RESULTS / "drill-campaign-journal-4.tsv"
    journal.unlink(missing_ok=True)
    sink = JournalSink(processes, "4", journal)
    env = drill_env(args, sink.port, CAMPAIGN_LEASE_SECONDS=str(args.lease))
    celery = DrillCelery(processes, env, drill=4)
    try:
        doomed = celery.start_worker()
        celery.start_worker()
        names = celery.wait_ready(app, 2)
        say(f"workers ready: {', '.join(names)}; starting two beats")
        celery.start_beats(2)
        time.sleep(1.5)  # both beats up
        if not all(celery.beats_alive()):
            raise BenchError(f"a beat exited:\n{celery.log_tail()}")
        campaign = new_campaign("scheduled")
        t0 = time.time()
        watch = Watch(campaign.pk, t0)
        say(f"campaign {campaign.pk} scheduled for now to {args.subscribers:,} subscribers")

        target = max(1, round(args.subscribers * args.kill_at))
        wait_for_arrivals(sink.count, target, watch, timeout=args.timeout)
        kill = kill_process_group(doomed)
        at_sink = sink.count()
        flight = in_flight_rows(campaign.pk)
        status_at_kill = campaign_status(campaign.pk)
        celery.forget(doomed)
        say(
            f"killed worker 1 ({len(kill['pids'])} processes: {kill['pids']}) with {at_sink:,} "
            f"at the sink; {len(flight)} rows in status 'sending'; campaign {status_at_kill}"
        )
        celery.start_worker()
        names = celery.wait_ready(app, 2)
        replacement_ready = time.time() - kill["at"]
        say(f"replacement worker ready {replacement_ready:.1f} s after the kill: {names}")

        reclaim = {"left": claimed_before(campaign.pk, kill["at"]), "at": None, "series": []}

        def follow_reclaim() -> None:
            if reclaim["at"] is None and time.time() - kill["at"] >= len(reclaim["series"]):
                left = claimed_before(campaign.pk, kill["at"])
                reclaim["series"].append([round(time.time() - kill["at"], 1), left])
                if left == 0:
                    reclaim["at"] = time.time() - kill["at"]

        finish = wait_until_finished(sink.count, watch, args.timeout, on_tick=follow_reclaim)
        beats_alive = celery.beats_alive()
        celery.remember()
    finally:
        celery.stop()
        processes.stop(sink.process)
    arrivals = read_journal(journal)
    check = check_campaign(campaign.pk, arrivals)
    flight_emails = {email for _, email in flight}
    duplicates = check.pop("_duplicates")
    outside_flight = sorted(e for e in duplicates if e not in flight_emails)
    # A message the worker wrote into its socket just before the kill can be read and journaled
    # by the sink a few milliseconds after the instant recorded here: a second of grace.
    first_after_kill = sorted(
        e for e, c in duplicates.items() if c[0].time > kill["at"] + KILL_CLOCK_GRACE
    )
    runs = batch_runs(celery)
    evidence = error_evidence(campaign.pk, celery)
    ok_dup = check["extra_copies"] <= len(flight) and not outside_flight and not first_after_kill
    reclaimed = (
        f"the dead worker's {reclaim['series'][0][1] if reclaim['series'] else '?'} rows "
        f"reclaimed {reclaim['at']:.0f} s after the kill"
        if reclaim["at"] is not None
        else "the dead worker's rows were never reclaimed"
    )
    by_connection = duplicates_by_connection(duplicates)
    notes = (
        f"kill -9 of worker 1 ({len(kill['pids'])} processes) at {at_sink:,} at the sink; "
        f"{len(flight)} rows 'sending' then; duplicates per connection of first copy "
        f"{list(by_connection.values()) or 0} (MARK_EVERY {MARK_EVERY}); "
        f"{reclaimed} (lease {args.lease} s); 2 beats "
        f"({', '.join(f'{k}: {v} dispatches' for k, v in beat_dispatches(celery).items())}); "
        f"campaign {check['campaign_status']}"
        + ("" if finish.finished else f"; NOT FINISHED: {finish.reason}")
    )
    result = {
        "drill": 4,
        "name": "worker kill -9 mid-campaign, two beats",
        "recipients": check["audience"],
        "sent": check["messages"],
        "delivered": check["recipients"] - check["outsiders_mailed"] - check["unknown_mailed"],
        "skipped": check["missing"],
        "duplicated": check["extra_copies"],
        "notes": notes,
        "campaign_id": campaign.pk,
        "finish": {"finished": finish.finished, "reason": finish.reason},
        "seconds_schedule_to_last": round(max(a.time for a in arrivals) - t0, 1)
        if arrivals
        else None,
        "kill": {
            "worker_pids": kill["pids"],
            "seconds_after_schedule": round(kill["at"] - t0, 2),
            "messages_at_sink": at_sink,
            "rows_sending_at_kill": len(flight),
            "campaign_status_at_kill": status_at_kill,
            "replacement_ready_s": round(replacement_ready, 1),
            "dead_workers_rows_reclaimed_after_s": round(reclaim["at"], 1)
            if reclaim["at"] is not None
            else None,
            "dead_workers_rows_series": reclaim["series"][:60],
        },
        "duplicates_ok": ok_dup,
        "duplicates_outside_in_flight": len(outside_flight),
        "duplicates_first_copy_after_kill": len(first_after_kill),
        "duplicates_by_connection": by_connection,
        "duplicates": describe_duplicates(duplicates, kill["at"])[:50],
        "beats_alive_at_end": beats_alive,
        "beat_dispatches": beat_dispatches(celery),
        "batch_runs": len(runs),
        "batch_runs_released_rows": sum(r.released for r in runs),
        "check": check,
        "status_transitions": watch.transitions,
        "delivery_samples": watch.samples[:: max(1, len(watch.samples) // 60)],
        "settings": {
            "lease_seconds": args.lease,
            "dispatch_seconds": args.dispatch_seconds,
            "rate_per_second": args.rate,
            "workers": 2,
            "concurrency": PROCFILE_CONCURRENCY,
            "beats": 2,
        },
        "evidence": evidence,
    }
    reset_redis(args)
    return result


def crash_goals(result: dict) -> list[dict]:
    check = result["check"]
    flight = result["kill"]["rows_sending_at_kill"]
    return [
        goal(
            "drill 4: every recipient got the message (skipped = 0)",
            f"{check['missing']} skipped of {check['audience']:,}",
            check["missing"] == 0,
        ),
        goal(
            "drill 4: duplicates <= rows in flight at the kill, all among them",
            f"{result['duplicated']} duplicates, {flight} in flight, "
            f"{result['duplicates_outside_in_flight']} outside them",
            result["duplicates_ok"],
        ),
        goal(
            "drill 4: every duplicate has the first copy's Message-ID",
            f"{check['duplicate_with_other_message_id']} differ; "
            f"{check['wrong_message_id']} messages with a wrong Message-ID",
            check["duplicate_with_other_message_id"] == 0 and check["wrong_message_id"] == 0,
        ),
        goal(
            "drill 4: nobody outside the audience got anything",
            f"{check['outsiders_mailed'] + check['unknown_mailed']} of {OUTSIDERS} outsiders",
            check["outsiders_mailed"] + check["unknown_mailed"] == 0,
        ),
        goal(
            "drill 4: every delivery row 'sent' and the campaign 'sent'",
            f"rows {check['deliveries']}, campaign {check['campaign_status']}",
            check["all_rows_sent"] and check["campaign_status"] == "sent",
        ),
    ]


# --- Drill 5: the SMTP server down for a while mid-campaign -------------------------------------


def outage_sample(campaign_id: int) -> dict:
    """Rows put back with an error and a backoff, and the retry attempts so far."""
    row = sql(
        "SELECT count(*) FILTER (WHERE status = 'queued' AND answer <> ''),"
        " count(*) FILTER (WHERE status = 'queued' AND not_before > now()),"
        " count(*) FILTER (WHERE status = 'sending'),"
        " count(*) FILTER (WHERE status = 'failed'),"
        " coalesce(sum(greatest(attempts - 1, 0)), 0), coalesce(max(attempts), 0)"
        " FROM waitlist_delivery WHERE campaign_id = %s",
        [campaign_id],
        fetch=True,
    )[0]
    keys = ("put_back", "backing_off", "sending", "failed", "retries", "max_attempts")
    return dict(zip(keys, (int(v) for v in row), strict=True))


def error_kinds(campaign_id: int) -> dict[str, int]:
    """The errors recorded on rows put back (the answer field), by kind."""
    rows = sql(
        "SELECT split_part(answer, '(', 1), count(*) FROM waitlist_delivery"
        " WHERE campaign_id = %s AND status IN ('queued', 'failed') AND answer <> ''"
        " GROUP BY 1 ORDER BY 2 DESC",
        [campaign_id],
        fetch=True,
    )
    return dict(rows)


def drill_outage(args, processes: Processes, app) -> dict:
    count = args.outage_subscribers
    say(f"drill 5: SMTP server down {args.smtp_down:.0f} s mid-campaign; {count:,} subscribers")
    reset_redis(args)
    seed(count)
    journal = RESULTS / "drill-campaign-journal-5.tsv"
    journal.unlink(missing_ok=True)
    sink = JournalSink(processes, "5a", journal)
    port = sink.port
    env = drill_env(args, port)
    celery = DrillCelery(processes, env, drill=5)
    before = 0
    timeline: list[dict] = []
    kinds: dict[str, int] = {}
    try:
        celery.start_worker()
        celery.start_worker()
        names = celery.wait_ready(app, 2)
        say(f"workers ready: {', '.join(names)}; starting beat")
        celery.start_beats(1)
        time.sleep(1.5)
        campaign = new_campaign("scheduled")
        t0 = time.time()
        watch = Watch(campaign.pk, t0)
        say(f"campaign {campaign.pk} scheduled for now to {count:,} subscribers")

        wait_for_arrivals(sink.count, max(1, round(count * args.stop_at)), watch, args.timeout)
        processes.stop(sink.process)
        down_at = time.time()
        before = sum(1 for _ in read_journal(journal))
        say(f"sink on port {port} stopped (pid {sink.process.pid}) with {before:,} messages")
        while time.time() - down_at < args.smtp_down:
            watch.tick()
            timeline.append({"t": round(time.time() - down_at, 1), **outage_sample(campaign.pk)})
            # A row's answer holds its latest error only: keep the most rows seen per kind.
            for kind, rows in error_kinds(campaign.pk).items():
                kinds[kind] = max(kinds.get(kind, 0), rows)
            time.sleep(max(0.0, min(1.0, args.smtp_down - (time.time() - down_at))))
        at_return = outage_sample(campaign.pk)
        kinds_at_return = error_kinds(campaign.pk)
        status_at_return = campaign_status(campaign.pk)
        sink = JournalSink(processes, "5b", journal, port=port)
        up_at = time.time()
        say(
            f"sink back on port {port} after {up_at - down_at:.1f} s; rows put back "
            f"{at_return['put_back']:,}, retries so far {at_return['retries']:,}, failed "
            f"{at_return['failed']}; errors {kinds_at_return}; campaign {status_at_return}"
        )
        finish = wait_until_finished(lambda: before + sink.count(), watch, args.timeout)
        celery.remember()
    finally:
        celery.stop()
        processes.stop(sink.process)
    arrivals = read_journal(journal)
    check = check_campaign(campaign.pk, arrivals)
    duplicates = check.pop("_duplicates")
    # The last message of each connection before the stop: only these can have been accepted
    # by the sink without the worker reading the 250 (the connection dropped mid-message).
    last_on_connection: dict[int, Arrival] = {}
    for arrival in arrivals:
        if arrival.time <= down_at:
            last_on_connection[arrival.port] = arrival
    cut = {(a.recipient, a.time) for a in last_on_connection.values() if down_at - a.time < 5}
    unexplained = sorted(e for e, c in duplicates.items() if (e, c[0].time) not in cut)
    after = [a for a in arrivals if a.time > up_at]
    runs = batch_runs(celery)
    during = [r for r in runs if r.time is not None and down_at <= r.time <= up_at]
    paused = "paused" in watch.statuses()
    evidence = error_evidence(campaign.pk, celery)
    last_after_return = max(a.time for a in after) - up_at if after else None
    first_after_return = min(a.time for a in after) - up_at if after else None
    failed_rows = check["deliveries"].get("failed", 0)
    notes = (
        f"sink down {up_at - down_at:.0f} s after {before:,} messages; during it "
        f"{len(during)} batch runs put rows back {sum(r.released for r in during):,} times "
        f"({at_return['put_back']:,} rows waiting at the return, {at_return['max_attempts']} "
        f"attempts so far), rows per error {kinds or '{}'}; after the return first message "
        f"{fmt_s(first_after_return)}, last {fmt_s(last_after_return)}; campaign "
        f"{' -> '.join(watch.statuses())}"
        + (f"; {failed_rows} rows FAILED" if failed_rows else "")
        + ("" if finish.finished else f"; NOT FINISHED: {finish.reason}")
    )
    result = {
        "drill": 5,
        "name": f"SMTP server down {args.smtp_down:.0f} s mid-campaign",
        "recipients": check["audience"],
        "sent": check["messages"],
        "delivered": check["recipients"] - check["outsiders_mailed"] - check["unknown_mailed"],
        "skipped": check["missing"],
        "duplicated": check["extra_copies"],
        "notes": notes,
        "campaign_id": campaign.pk,
        "finish": {"finished": finish.finished, "reason": finish.reason},
        "outage": {
            "port": port,
            "seconds_after_schedule": round(down_at - t0, 2),
            "down_s": round(up_at - down_at, 1),
            "messages_before": before,
            "batch_runs_during": len(during),
            "rows_put_back_during": sum(r.released for r in during),
            "rows_failed_during": sum(r.failed for r in during),
            "at_return": at_return,
            "error_kinds_at_return": kinds_at_return,
            "error_kinds_most_rows_seen": kinds,
            "campaign_status_at_return": status_at_return,
            "messages_after_return": len(after),
            "first_message_after_return_s": round(first_after_return, 1)
            if first_after_return is not None
            else None,
            "last_message_after_return_s": round(last_after_return, 1)
            if last_after_return is not None
            else None,
            "timeline": timeline[:: max(1, len(timeline) // 30)],
        },
        "paused": paused,
        "duplicates_unexplained": len(unexplained),
        "duplicates_by_connection": duplicates_by_connection(duplicates),
        "duplicates": describe_duplicates(duplicates, down_at)[:50],
        "batch_runs": len(runs),
        "batch_runs_released_rows": sum(r.released for r in runs),
        "check": check,
        "status_transitions": watch.transitions,
        "delivery_samples": watch.samples[:: max(1, len(watch.samples) // 60)],
        "settings": {
            "lease_seconds": production_setting("CAMPAIGN_LEASE_SECONDS"),
            "error_threshold": production_setting("CAMPAIGN_ERROR_THRESHOLD"),
            "error_min_sample": production_setting("CAMPAIGN_ERROR_MIN_SAMPLE"),
            "dispatch_seconds": args.dispatch_seconds,
            "rate_per_second": args.rate,
            "workers": 2,
            "concurrency": PROCFILE_CONCURRENCY,
            "beats": 1,
        },
        "evidence": evidence,
    }
    reset_redis(args)
    return result


def outage_goals(result: dict, smtp_down: float) -> list[dict]:
    check, outage = result["check"], result["outage"]
    transitions = " -> ".join(s for _, s in result["status_transitions"])
    failed = check["deliveries"].get("failed", 0)
    return [
        goal(
            f"drill 5: every recipient got the message after a {smtp_down:.0f} s SMTP outage",
            f"{check['missing']} skipped of {check['audience']:,}",
            check["missing"] == 0,
        ),
        goal(
            "drill 5: duplicates only where the outage cut a message off, same Message-ID",
            f"{result['duplicated']} duplicates, {result['duplicates_unexplained']} unexplained, "
            f"{check['duplicate_with_other_message_id']} with another Message-ID",
            result["duplicates_unexplained"] == 0
            and check["duplicate_with_other_message_id"] == 0
            and check["wrong_message_id"] == 0,
        ),
        goal(
            "drill 5: nobody outside the audience got anything",
            f"{check['outsiders_mailed'] + check['unknown_mailed']} of {OUTSIDERS} outsiders",
            check["outsiders_mailed"] + check["unknown_mailed"] == 0,
        ),
        goal(
            "drill 5: campaign ends 'sent', never paused, no row failed",
            f"{transitions}; {failed} failed rows",
            check["campaign_status"] == "sent" and not result["paused"] and failed == 0,
        ),
        goal(
            "drill 5: every delivery row 'sent'; sending resumed after the outage",
            f"rows {check['deliveries']}; last message "
            f"{fmt_s(outage['last_message_after_return_s'])} after the sink's return",
            check["all_rows_sent"] and outage["messages_after_return"] > 0,
        ),
    ]


def production_setting(name: str):
    """The value the workers of drill 5 run with: the setting's default (the drill sets none)."""
    from django.conf import settings

    return getattr(settings, name)


# --- Report -------------------------------------------------------------------------------------


def fmt_s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"


def print_table(drills: list[dict]) -> None:
    print()
    print("| drill | recipients | sent | delivered | skipped/lost | duplicated | notes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for d in drills:
        print(
            f"| {d['drill']}. {d['name']} | {d['recipients']:,} | {d['sent']:,} "
            f"| {d['delivered']:,} | {d['skipped']:,} | {d['duplicated']:,} | {d['notes']} |"
        )
    print()


def print_details(drills: list[dict]) -> None:
    for d in drills:
        check = d["check"]
        print(
            f"drill {d['drill']}: audience {check['audience']:,}; sink {check['messages']:,} "
            f"messages to {check['recipients']:,} recipients; rows {check['deliveries']}; "
            f"attempts per row {check['attempts_histogram']}; campaign "
            f"{' -> '.join(f'{s} ({t:.0f} s)' for t, s in d['status_transitions'])}"
        )
        if d["duplicates_by_connection"]:
            print(f"  duplicates by the first copy's connection: {d['duplicates_by_connection']}")
        for dup in d["duplicates"][:5]:
            copies = "; ".join(
                f"t={c['t']:+.3f} s port {c['client_port']} {c['message_id']}"
                for c in dup["copies"]
            )
            print(f"  duplicate {dup['recipient']}: {copies}")
        if d["evidence"]["log_lines"] or d["evidence"]["failed_answers"]:
            print(f"  evidence: {d['evidence']}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="4,5", help="drills to run, e.g. 4 or 4,5")
    parser.add_argument(
        "--subscribers", type=int, default=20_000, help="audience of drill 4 (the crash)"
    )
    parser.add_argument(
        "--outage-subscribers", type=int, default=10_000, help="audience of drill 5 (the outage)"
    )
    parser.add_argument(
        "--smtp-down", type=float, default=60, help="seconds the SMTP sink stays down (drill 5)"
    )
    parser.add_argument(
        "--lease",
        type=int,
        default=20,
        help="CAMPAIGN_LEASE_SECONDS in drill 4 (production: 300); drill 5 uses the default",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=1000,
        help="CAMPAIGN_RATE_PER_SECOND (production default 50; 1000 keeps the drills short)",
    )
    parser.add_argument(
        "--dispatch-seconds", type=float, default=5, help="CAMPAIGN_DISPATCH_SECONDS (beat)"
    )
    parser.add_argument(
        "--kill-at", type=float, default=1 / 3, help="share at the sink when the kill comes"
    )
    parser.add_argument(
        "--stop-at", type=float, default=0.25, help="share at the sink when the sink stops"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds each drill may take")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    args = parser.parse_args()
    try:
        args.drills = sorted({int(part) for part in args.only.split(",") if part.strip()})
    except ValueError:
        parser.error("--only takes drill numbers: 4, 5 or 4,5")
    if not args.drills or not set(args.drills) <= {4, 5}:
        parser.error("--only takes drill numbers: 4, 5 or 4,5")
    if min(args.subscribers, args.outage_subscribers) < 10 or args.lease < 1:
        parser.error("--subscribers and --outage-subscribers >= 10, --lease >= 1")
    if not (0 < args.kill_at < 1 and 0 < args.stop_at < 1) or args.smtp_down < 0:
        parser.error("--kill-at and --stop-at are shares between 0 and 1; --smtp-down >= 0")
    if args.redis_url == args.broker_url:
        parser.error("--redis-url and --broker-url must be different Redis databases")
    return args


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    processes = Processes()
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    machine_before = machine()
    code = code_fingerprint()
    say(f"campaign code {code['sha256']}")
    drills: list[dict] = []
    goals: list[dict] = []
    try:
        RESULTS.mkdir(parents=True, exist_ok=True)
        ensure_database(args.database_url)
        for url in (args.redis_url, args.broker_url):
            ensure_redis(url)
        reset_redis(args)
        env = drill_env(args, smtp_port=25)  # the drill's own process: no mail sent from here
        say(f"migrate {args.database_url.rsplit('/', 1)[1]}")
        manage(processes, env, "migrate", "--no-input", "-v", "0")
        setup_django(env)
        from halftime.celery import app

        if 4 in args.drills:
            result = drill_crash(args, processes, app)
            drills.append(result)
            goals += crash_goals(result)
        if 5 in args.drills:
            result = drill_outage(args, processes, app)
            drills.append(result)
            goals += outage_goals(result, args.smtp_down)
    except BenchError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
    except Exception as exc:  # a bug of the drill, or a server gone: say so, then the traceback
        traceback.print_exc()
        fail(f"the drills could not run: {exc!r}")
    finally:
        processes.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with contextlib.suppress(Exception):
            reset_redis(args)

    print_table(drills)
    print_details(drills)
    print()
    for item in goals:
        print(f"goal: {item['goal']}: {item['measured']}  {'MET' if item['met'] else 'NOT MET'}")
    if code_fingerprint() != code:
        say("warning: the campaign code changed during this run: run the drills again")
    path = write_results(
        "drill_campaign",
        {
            **run_record("drill_campaign", started, machine_before),
            "code": code,
            "code_changed_during_run": code_fingerprint() != code,
            "seconds": round(time.monotonic() - clock, 1),
            "settings": {
                "subscribers": args.subscribers,
                "outage_subscribers": args.outage_subscribers,
                "smtp_down_s": args.smtp_down,
                "lease_seconds_drill_4": args.lease,
                "rate_per_second": args.rate,
                "dispatch_seconds": args.dispatch_seconds,
                "kill_at": args.kill_at,
                "stop_at": args.stop_at,
                "worker_command": f"celery -A halftime worker --queues {PROCFILE_QUEUES} "
                f"--concurrency {PROCFILE_CONCURRENCY} --loglevel INFO --hostname <name>",
            },
            "drills": drills,
            "goals": goals,
        },
    )
    print(f"\nresults: {path.relative_to(ROOT)} ({time.monotonic() - clock:.0f} s)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_sink":
        journal_sink_main(int(sys.argv[2]), sys.argv[3])
    else:
        main()
