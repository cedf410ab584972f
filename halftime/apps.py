from django.apps import AppConfig


class HalftimeConfig(AppConfig):
    name = "halftime"
    verbose_name = "Site"
