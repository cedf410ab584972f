from halftime.settings import *  # noqa: F403

ROOT_URLCONF = "baseline.urls"
