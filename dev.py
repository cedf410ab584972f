#!/usr/bin/env python3
"""The two set-up commands. Needs only Python 3.11+; everything else it installs itself.

python3 dev.py run    # the site on embedded defaults: web, Celery worker and beat
python3 dev.py test   # the whole test suite, on PostgreSQL and again on SQLite
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"

TEST_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/halftime",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/10",
    "SECRET_KEY": "test-only-" + "x" * 40,
    "DEBUG": "false",
    "PAGE_CACHE_SECONDS": "300",
    # Static files from the app folders, whether or not collectstatic has run here.
    "STATIC_MANIFEST": "false",
}
# The SQLite run goes beside the PostgreSQL one: its Redis databases are others.
SQLITE_TEST_ENV = {
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/2",
}


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | Path, env: dict | None = None) -> None:
    subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True)


def ensure_virtualenv(extras: str) -> None:
    """Create .venv and install the project; reinstall only when pyproject.toml changes."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this file must run to say so
        sys.exit("Python 3.11 or newer is needed.")
    if not PYTHON.exists():
        say("creating the virtual environment in .venv")
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text() == digest:
        return
    say(f"installing dependencies ({extras or 'runtime'}); the log is in .venv/install.log")
    target = f".[{extras}]" if extras else "."
    with open(VENV / "install.log", "w") as log:
        for args in (["--upgrade", "pip"], ["--editable", target]):
            done = subprocess.run(
                [str(PYTHON), "-m", "pip", "install", *args], cwd=ROOT, stdout=log, stderr=log
            )
            if done.returncode:
                sys.exit(f"pip install failed; see {VENV / 'install.log'}")
    stamp.write_text(digest)


# What the tests drive besides Python: Debian's chromium (the browser tests), nginx (the
# documented production shape in front of gunicorn), libfaketime (a clock the local-time
# sending test sets for its worker processes) and dovecot (the bounce mailbox, over IMAP and
# POP3), each by the file it installs.
TEST_PROGRAMS = {
    "chromium": "/usr/bin/chromium",
    "nginx": "/usr/sbin/nginx",
    "libfaketime": "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "dovecot-imapd": "/usr/lib/dovecot/imap",
    "dovecot-pop3d": "/usr/lib/dovecot/pop3",
}


def ensure_test_programs() -> None:
    """Install what is missing, when we may."""
    missing = [package for package, path in TEST_PROGRAMS.items() if not Path(path).exists()]
    if not missing:
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        say(f"installing {' and '.join(missing)} for the tests (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", *missing, env=env)
    else:
        sys.exit(f"The tests need {' and '.join(missing)}: apt-get install {' '.join(missing)}")


def manage(*args: str, env: dict | None = None) -> None:
    run(PYTHON, "manage.py", *args, env=env)


def prepare(env: dict) -> None:
    """Everything `run` does before the processes start; safe to run again. The sample content
    goes only into an empty database, so what is edited in admin stays; the admin's password
    is never changed."""
    say("migrating the database")
    manage("create_local_dirs", env=env)
    manage("migrate", "--no-input", "-v", "0", env=env)
    manage("collectstatic", "--no-input", "-v", "0", env=env)
    say("loading the sample content")
    manage("import_glossary", "--if-empty", "content/glossary.yaml", env=env)
    manage("import_people", "--if-empty", "content/people.yaml", env=env)
    manage("import_articles", "--if-empty", "content/articles", env=env)
    print(f"\n  Site:  {env['SITE_URL']}/   Learning Center: {env['SITE_URL']}/learn/", flush=True)
    manage("ensure_admin", "--username", "admin", "--email", "admin@localhost", env=env)


def cmd_run() -> None:
    ensure_virtualenv("")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    port = env.setdefault("PORT", "8000")
    # Links in the emails in the outbox point at this local site.
    env.setdefault("SITE_URL", f"http://localhost:{port}")
    prepare(env)
    print("  Stop with Ctrl-C.\n", flush=True)
    honcho = str(BIN / "honcho")
    os.execve(honcho, [honcho, "start", "-f", "Procfile", "-p", port], env)


def cmd_test(pytest_args: list[str]) -> None:
    ensure_virtualenv("dev")
    ensure_test_programs()
    env = {**os.environ}
    for key, value in TEST_ENV.items():
        env.setdefault(key, value)
    say("ruff")
    run(BIN / "ruff", "check", ".", env=env)
    run(BIN / "ruff", "format", "--check", ".", env=env)
    # Both runs at once, each with Redis databases of its own (four from its REDIS_URL's, see
    # tests/processes.py); SQLite's output is printed when PostgreSQL's has been.
    pytest = [str(PYTHON), "-m", "pytest", *pytest_args]
    with tempfile.TemporaryDirectory(prefix="halftime-sqlite-") as folder:
        sqlite = {**env, **SQLITE_TEST_ENV, "DATABASE_URL": f"sqlite:///{folder}/halftime.sqlite3"}
        with open(Path(folder) / "pytest.log", "w+") as log:
            on_sqlite = subprocess.Popen(
                pytest, cwd=ROOT, env=sqlite, stdout=log, stderr=subprocess.STDOUT
            )
            say("pytest on PostgreSQL")
            on_postgresql = subprocess.run(pytest, cwd=ROOT, env=env).returncode
            say("pytest on SQLite, the embedded default (what only PostgreSQL does is left out)")
            on_sqlite.wait()
            log.seek(0)
            shutil.copyfileobj(log, sys.stdout)
    sys.exit(on_postgresql or on_sqlite.returncode)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "run":
        cmd_run()
    elif command == "test":
        cmd_test(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
