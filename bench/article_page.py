"""Benchmark: an article page under gunicorn, cached and uncached, against the bare /healthz.

    .venv/bin/python bench/article_page.py [--duration 10] [--connections 16] [--workers 2]

Needs PostgreSQL and Redis on 127.0.0.1 and wrk (/usr/bin/wrk). Sets up its own database
(halftime_bench) and Redis database (8), loads the sample content, starts two gunicorns (page
cache on and off), measures each target in interleaved rounds and prints the medians. Results
go to bench/results/article_page.json. See bench/README.md.
"""

import argparse
import datetime as dt
import html
import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    ROOT,
    BenchError,
    Gunicorn,
    Load,
    Processes,
    bench_env,
    ensure_database,
    ensure_redis,
    fail,
    http_get,
    machine,
    manage,
    require_wrk,
    run_record,
    run_wrk,
    say,
    summarize,
    write_results,
)

TARGETS = ("bare", "cached", "uncached")
# req/s of each target as a share of the bare view's req/s. Uncached (every request renders the
# page) is measured and reported, with no goal of its own.
GOALS = {"cached": 0.70}
FALLBACK_SLUG = "bench-long-article"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "long_article.md"

FALLBACK_ARTICLE = {
    "slug": FALLBACK_SLUG,
    "title": "Low testosterone: symptoms, testing and treatment options",
    "category": "Hormones",
    "category_slug": "hormones",
    "label": "Guide",
    "summary": (
        "What low testosterone is and is not, the blood tests that confirm it, the trials "
        "behind treatment, and when testosterone therapy is the wrong answer."
    ),
    "tldr": (
        "Low testosterone is a diagnosis of symptoms plus two low morning blood tests.\n"
        "LH and FSH tell whether the problem is in the testes or upstream.\n"
        "Weight, sleep apnea, alcohol and some medicines are common, reversible causes.\n"
        "Standard testosterone therapy suppresses sperm production: plan fertility first."
    ),
    "author": "Halftime Health editorial team",
    "reviewer": "Benchmark Fixture, MD",
    "faqs": [
        (
            "How low is low testosterone?",
            "Most guidelines use a total testosterone below about 264 to 300 ng/dL on two "
            "separate early-morning tests, together with symptoms. A number alone is not a "
            "diagnosis.",
        ),
        (
            "Can I raise testosterone without medication?",
            "Often, if the cause is secondary. Losing weight, treating sleep apnea, drinking "
            "less and reviewing medicines raise levels in many men. Men with primary "
            "hypogonadism usually need treatment.",
        ),
        (
            "Does testosterone therapy cause heart attacks?",
            "The TRAVERSE trial found no increase in major cardiac events in men with "
            "hypogonadism treated with testosterone gel, though a few other problems, such as "
            "atrial fibrillation, were slightly more common.",
        ),
        (
            "Will testosterone therapy affect my fertility?",
            "Yes. External testosterone switches off the signals that drive sperm production, "
            "and counts often fall to zero within months. Men who want children soon need a "
            "different approach.",
        ),
        (
            "How long until I notice a difference?",
            "Sex drive often changes within weeks; mood and energy within one to three "
            "months; muscle, fat and bone over six to twelve months. If nothing has improved at "
            "six months, treatment should be reconsidered.",
        ),
    ],
    "sources": [
        {
            "title": "Testosterone Therapy in Men With Hypogonadism: An Endocrine Society "
            "Clinical Practice Guideline",
            "authors": "Bhasin S, Brito JP, Cunningham GR, et al.",
            "publisher": "The Journal of Clinical Endocrinology & Metabolism",
            "year": 2018,
            "doi": "10.1210/jc.2018-00229",
        },
        {
            "title": "Evaluation and Management of Testosterone Deficiency: AUA Guideline",
            "authors": "Mulhall JP, Trost LW, Brannigan RE, et al.",
            "publisher": "The Journal of Urology",
            "year": 2018,
            "doi": "10.1016/j.juro.2018.03.115",
        },
        {
            "title": "Effects of Testosterone Treatment in Older Men",
            "authors": "Snyder PJ, Bhasin S, Cunningham GR, et al.",
            "publisher": "The New England Journal of Medicine",
            "year": 2016,
            "doi": "10.1056/NEJMoa1506119",
        },
        {
            "title": "Cardiovascular Safety of Testosterone-Replacement Therapy",
            "authors": "Lincoff AM, Bhasin S, Flevaris P, et al.",
            "publisher": "The New England Journal of Medicine",
            "year": 2023,
            "doi": "10.1056/NEJMoa2215025",
        },
        {
            "title": "Identification of Late-Onset Hypogonadism in Middle-Aged and Elderly Men",
            "authors": "Wu FCW, Tajar A, Beynon JM, et al.",
            "publisher": "The New England Journal of Medicine",
            "year": 2010,
            "doi": "10.1056/NEJMoa0911101",
        },
    ],
}

# Run by `manage.py shell -c` with the article as JSON in $BENCH_ARTICLE; idempotent by slug.
CREATE_FALLBACK = """
import datetime as dt, json, os
from django.db import transaction
from django.utils import timezone
from articles.models import FAQ, Article, Category, Source

data = json.loads(os.environ["BENCH_ARTICLE"])
with transaction.atomic():
    category = Category.objects.filter(name__iexact=data["category"]).first()
    if category is None:
        category = Category.objects.create(name=data["category"], slug=data["category_slug"])
    article, _ = Article.objects.update_or_create(
        slug=data["slug"],
        defaults={
            "title": data["title"], "category": category, "label": data["label"],
            "summary": data["summary"], "tldr": data["tldr"], "body": data["body"],
            "author": data["author"], "reviewer": data["reviewer"],
            "last_reviewed": timezone.localdate() - dt.timedelta(days=30),
            "next_review_due": timezone.localdate() + dt.timedelta(days=335),
            "status": Article.Status.PUBLISHED,
            "publish_at": timezone.now() - dt.timedelta(days=7),
        },
    )
    article.faqs.all().delete()
    FAQ.objects.bulk_create(
        FAQ(article=article, question=q, answer=a, position=i)
        for i, (q, a) in enumerate(data["faqs"])
    )
    article.sources.all().delete()
    Source.objects.bulk_create(
        Source(article=article, position=i, **source) for i, source in enumerate(data["sources"])
    )
print("article", article.slug, len(article.body_text.split()), "words")
"""

REMOVE_FALLBACK = f"""
from articles.models import Article
Article.objects.filter(slug={FALLBACK_SLUG!r}).delete()
"""

PICK_LONGEST = """
import json
from django.db.models.functions import Length
from articles.models import Article

article = (
    Article.objects.published().annotate(chars=Length("body_html")).order_by("-chars").first()
)
print("BENCH_JSON " + json.dumps(None if article is None else {
    "slug": article.slug, "title": article.title, "path": article.get_absolute_url(),
    "body_html_chars": article.chars, "words": len(article.body_text.split()),
    "faqs": article.faqs.count(), "sources": article.sources.count(),
}))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each measurement")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of bare, cached, uncached (then bare once)"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument(
        "--skip-setup", action="store_true", help="skip migrate, collectstatic and the import"
    )
    args = parser.parse_args()
    if args.duration < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1, --warmup at least 0")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (wrk needs one per thread)")
    return args


def shell(processes: Processes, env: dict, code: str) -> str:
    return manage(processes, env, "shell", "--no-imports", "-c", code)


def load_content(processes: Processes, env: dict) -> str:
    """Load the sample content; fall back to a generated long article. Says which it used."""
    glossary = ROOT / "content" / "glossary.yaml"
    if glossary.is_file():
        try:
            manage(processes, env, "import_glossary", str(glossary))
        except BenchError as exc:
            say(f"warning: glossary not imported, continuing without it:\n{exc}")
    articles = ROOT / "content" / "articles"
    if sorted(articles.glob("*.md")):
        try:
            say(manage(processes, env, "import_articles", str(articles)).strip())
            shell(processes, env, REMOVE_FALLBACK)
            return "sample content (content/articles)"
        except BenchError as exc:
            say(f"warning: sample articles not imported, using a generated article:\n{exc}")
            reason = "the import of content/articles failed"
    else:
        reason = "content/articles has no Markdown files"
    create_fallback(processes, env)
    return f"generated article ({reason})"


def create_fallback(processes: Processes, env: dict) -> None:
    data = {**FALLBACK_ARTICLE, "body": FIXTURE.read_text()}
    say(shell(processes, {**env, "BENCH_ARTICLE": json.dumps(data)}, CREATE_FALLBACK).strip())


def pick_article(processes: Processes, env: dict) -> dict | None:
    for line in shell(processes, env, PICK_LONGEST).splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise BenchError("could not read the longest published article")


def verify_article(server: Gunicorn, article: dict, redis_url: str, *, cached: bool) -> int:
    """One anonymous request: 200 and the title on the page; with the cache on, a page stored.
    Returns the page's size in bytes."""
    if cached:
        import redis

        # Redis database 8 is the benchmark's own: forget pages stored by earlier runs.
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match="*learn:page:*", count=1000):
            client.delete(key)
    response = http_get(server.base_url + article["path"])
    if response.status != 200:
        raise BenchError(f"{article['path']} answered {response.status} on '{server.name}'")
    if html.escape(article["title"]) not in response.body and article["title"] not in (
        response.body
    ):
        raise BenchError(f"{article['path']} on '{server.name}' lacks the title")
    if cached:
        if next(client.scan_iter(match="*learn:page:*", count=1000), None) is None:
            raise BenchError("the page cache stored nothing: the cached target would not be")
        again = http_get(server.base_url + article["path"])
        if again.status != 200 or again.body != response.body:
            raise BenchError("a cached copy of the article differs from the rendered page")
    return len(response.body.encode())


def measure(processes, wrk, schedule, load: Load) -> list[dict]:
    runs = []
    for number, (target, url) in enumerate(schedule, start=1):
        if load.warmup:
            run_wrk(processes, wrk, url, load.warmup, load)
        result = run_wrk(processes, wrk, url, load.duration, load)
        result["target"] = target
        runs.append(result)
        say(
            f"[{number}/{len(schedule)}] {target:<8} {result['rps']:8.1f} req/s  "
            f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms"
        )
    return runs


def report(summary: dict) -> list[dict]:
    bare = summary["bare"]["rps"]
    print()
    print("| target | req/s | p50 ms | p99 ms | errors | vs bare |")
    print("|---|---:|---:|---:|---:|---:|")
    for target in TARGETS:
        row = summary[target]
        print(
            f"| {target} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['errors']} | {row['rps'] / bare:.0%} |"
        )
    print()
    goals = []
    for target, share in GOALS.items():
        ratio = summary[target]["rps"] / bare
        met = ratio >= share
        goals.append({"target": target, "min_share_of_bare": share, "share": ratio, "met": met})
        print(f"goal: {target} >= {share:.0%} of bare: {ratio:.0%}  {'MET' if met else 'NOT MET'}")
    return goals


def main() -> None:
    args = parse_args()
    load = Load(args.duration, args.warmup, args.threads, args.connections)
    # Ctrl-C and `kill` both end in the `finally` below, which stops every process we started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    processes = Processes()
    started = dt.datetime.now(dt.UTC)
    machine_before = machine()
    try:
        wrk = require_wrk()
        env = bench_env(database_url=args.database_url, redis_url=args.redis_url)
        ensure_database(args.database_url)
        ensure_redis(args.redis_url)
        if not args.skip_setup:
            say("migrate, collectstatic, sample content")
            manage(processes, env, "migrate", "--no-input", "-v", "0")
            manage(processes, env, "collectstatic", "--no-input", "-v", "0")
            content = load_content(processes, env)
        else:
            content = "as already loaded (--skip-setup)"
        article = pick_article(processes, env)
        if article is None:
            create_fallback(processes, env)
            content = "generated article (no published article in the database)"
            article = pick_article(processes, env)
        say(f"article: {article['path']} ({article['words']} words; {content})")

        servers = {
            "cached": Gunicorn("cached", {**env, "PAGE_CACHE_SECONDS": "300"}, args.workers),
            "uncached": Gunicorn("uncached", {**env, "PAGE_CACHE_SECONDS": "0"}, args.workers),
        }
        for server in servers.values():
            server.start(processes)
        for server in servers.values():
            server.wait_ready()
        page_bytes = verify_article(servers["cached"], article, args.redis_url, cached=True)
        verify_article(servers["uncached"], article, args.redis_url, cached=False)
        say(
            f"gunicorn: {args.workers} sync workers each, cache on :{servers['cached'].port}, "
            f"off :{servers['uncached'].port}; page {page_bytes} bytes"
        )

        urls = {
            "bare": servers["cached"].base_url + "/healthz",
            "cached": servers["cached"].base_url + article["path"],
            "uncached": servers["uncached"].base_url + article["path"],
        }
        schedule = [(t, urls[t]) for _ in range(args.rounds) for t in TARGETS]
        schedule.append(("bare", urls["bare"]))
        say(
            f"{len(schedule)} measurements of {load.duration} s (+{load.warmup} s warm-up), "
            f"wrk {load.threads} threads, {load.connections} connections"
        )
        runs = measure(processes, wrk, schedule, load)
    except BenchError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
    finally:
        processes.stop_all()

    summary = {t: summarize([r for r in runs if r["target"] == t]) for t in TARGETS}
    goals = report(summary)
    path = write_results(
        "article_page",
        {
            **run_record("article_page", started, machine_before),
            "load": {**vars(load), "rounds": args.rounds, "gunicorn_workers": args.workers},
            "content": content,
            "article": {**article, "page_bytes": page_bytes},
            "summary": summary,
            "goals": goals,
            "runs": runs,
        },
    )
    print(f"\nresults: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
