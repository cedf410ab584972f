from django.apps import AppConfig


class HalftimeConfig(AppConfig):
    name = "halftime"
    verbose_name = "Site"

    def ready(self) -> None:
        # The build id is made at start-up, where a failure stops the process for all to see.
        from . import checks, pages  # noqa: F401
