"""Settings for a live daphne in the providers tests when mosaic/urls.py lacks the providers API."""

from mosaic.settings import *  # noqa: F403

ROOT_URLCONF = "tests.providers.urls"
