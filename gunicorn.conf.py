# Read by every gunicorn started from the project's root (the Procfile's web process, the tests'
# and the benchmarks' servers): the access log leaves out the tokens of emailed links.
logger_class = "halftime.accesslog.AccessLogWithoutTokens"
