"""The site with the benchmarks' baseline views added: gunicorn runs it with
DJANGO_SETTINGS_MODULE=baseline.settings and bench/ on PYTHONPATH
(`Stack.gunicorn(baseline=True)`)."""
