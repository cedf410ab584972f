"""An article page under gunicorn, from the page cache and rendered, against the bare /healthz.

    .venv/bin/python bench/article_page.py                     # 3 rounds of 10 s, 16 connections
    .venv/bin/python bench/article_page.py --duration 5 --rounds 2

The sample content is imported (content/glossary.yaml, content/articles/; if that fails, an
article with bench/fixtures/long_article.md as its body) and the longest published article is
measured on two gunicorns (2 sync workers each), the page cache on (PAGE_CACHE_SECONDS=300) and
off (0); first it must answer 200 with its title on both, and the cache must have stored it.
wrk (`lib/load.wrk`, 2 threads, anonymous GETs) measures bare `/healthz`, the cached article and
the uncached one for `--duration` after `--warmup` seconds, interleaved for `--rounds`, then bare
once more; req/s are the medians. Goals: cached >= 70% of bare's req/s, and no errors."""

import argparse
import html
import json
import statistics
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import redis
from lib import load
from lib.report import Goal, finish
from lib.stack import BENCH, BIN, ROOT, Stack

TARGETS = ("bare", "cached", "uncached")
FRONT_MATTER = """---
title: "Low testosterone: symptoms, testing and treatment options"
slug: "bench-long-article"
category: "Hormones"
summary: "What low testosterone is, the blood tests that confirm it, and when to treat it."
reviewer: "Benchmark Fixture, MD"
last_reviewed: 2025-01-01
status: published
sources:
  - title: "Testosterone Therapy in Men With Hypogonadism: a Clinical Practice Guideline"
    doi: "10.1210/jc.2018-00229"
---
"""
LONGEST = """import json; from django.db.models.functions import Length
from articles.models import Article
a = Article.objects.published().annotate(n=Length("body_html")).order_by("-n").first()
print(json.dumps({"slug": a.slug, "title": a.title, "path": a.get_absolute_url(),
    "words": len(a.body_text.split())}))"""


def load_content(stack: Stack) -> str:
    """The sample content, or the generated article if it cannot be imported; says which."""
    try:
        stack.manage("import_glossary", str(ROOT / "content" / "glossary.yaml"))
        stack.manage("import_articles", str(ROOT / "content" / "articles"))
        return "sample content (content/articles)"
    except subprocess.CalledProcessError:
        print("the sample content did not import: a generated article instead")
    with tempfile.TemporaryDirectory() as folder:
        article = Path(folder) / "bench-long-article.md"
        article.write_text(FRONT_MATTER + (BENCH / "fixtures" / "long_article.md").read_text())
        stack.manage("import_articles", str(article))
    return "generated article (bench/fixtures/long_article.md)"


def check(url: str, title: str) -> bytes:
    page = urllib.request.urlopen(url).read()  # raises unless 2xx
    if title not in html.unescape(page.decode()):
        raise SystemExit(f"{url} answered without its title")
    return page


def measure(url: str, args) -> dict:
    if args.warmup:
        load.wrk(url, "", connections=args.connections, seconds=args.warmup)
    run = load.wrk(url, "", connections=args.connections, seconds=args.duration)
    errors = run["socket_errors"] + sum(n for s, n in run["statuses"].items() if s != 200)
    return {"per_second": round(run["requests"] / run["seconds"], 1), "p99_ms": run["p99_ms"],
            "errors": errors}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs = {target: [] for target in TARGETS}
    with Stack("article-page", database="halftime_bench", redis_db=7) as stack:
        content = load_content(stack)
        pick = [BIN / "python", "manage.py", "shell", "--no-imports", "-c", LONGEST]
        picked = subprocess.run(pick, cwd=ROOT, env=stack.env, check=True, capture_output=True)
        article = json.loads(picked.stdout.splitlines()[-1])
        cached, uncached = (stack.gunicorn(workers=2, PAGE_CACHE_SECONDS=s) for s in ("300", "0"))
        page = check(cached + article["path"], article["title"])
        if not redis.Redis.from_url(stack.redis_urls[0]).keys("*learn:page:*"):
            raise SystemExit("the page cache stored nothing: the cached target would not be")
        check(uncached + article["path"], article["title"])
        urls = {"bare": cached + "/healthz", "cached": cached + article["path"],
                "uncached": uncached + article["path"]}  # fmt: skip
        schedule = [t for _ in range(args.rounds) for t in TARGETS] + ["bare"]
        for number, target in enumerate(schedule, start=1):
            run = measure(urls[target], args)
            print(f"[{number}/{len(schedule)}] {target:<8} {run['per_second']:8.1f}/s  "
                  f"p99 {run['p99_ms']:6.1f} ms  {run['errors']} errors")  # fmt: skip
            runs[target].append(run)
    rate, p99 = ({t: statistics.median(r[k] for r in runs[t]) for t in TARGETS}
                 for k in ("per_second", "p99_ms"))  # fmt: skip
    errors = {t: sum(r["errors"] for r in runs[t]) for t in TARGETS}
    share = {t: rate[t] / rate["bare"] for t in TARGETS}
    print(f"\n{article['path']}: {article['words']} words, {content}")
    print("| target | req/s | p99 ms | errors | vs bare |\n|---|---:|---:|---:|---:|")
    for t in TARGETS:
        print(f"| {t} | {rate[t]:.0f} | {p99[t]:.1f} | {errors[t]} | {share[t]:.0%} |")
    goals = [
        Goal(
            "cached article >= 70% of bare /healthz req/s",
            f"{share['cached']:.0%} ({rate['cached']:.0f}/s vs {rate['bare']:.0f}/s); uncached "
            f"{share['uncached']:.0%} ({rate['uncached']:.0f}/s)",
            share["cached"] >= 0.70,
        ),
        Goal("no errors (every answer 200)", str(errors), not any(errors.values())),
    ]
    figures = {"article": {**article, "page_bytes": len(page), "content": content},
               "per_second": rate, "p99_ms": p99, "runs": runs, **vars(args)}  # fmt: skip
    if not finish("article_page", goals, figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
