# Read by every gunicorn started from the project's root (the Procfile's web process, the tests'
# and the benchmarks' servers): the access log leaves out the tokens of emailed links.
logger_class = "halftime.accesslog.AccessLogWithoutTokens"
# The longest request line gunicorn reads (its most): a search pasted long, or a link with a long
# query string, reaches the site, which trims it and answers with its own page, instead of
# gunicorn's bare 414.
limit_request_line = 8190
