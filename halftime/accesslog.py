"""gunicorn's access log without the tokens of emailed links (`halftime.logs.without_tokens`).
`gunicorn.conf.py` makes this the logger of every gunicorn started from the project."""

from gunicorn.glogging import Logger

from .logs import without_tokens


class AccessLogWithoutTokens(Logger):
    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str) and "/" in value:
                atoms[key] = without_tokens(value)
        return atoms
