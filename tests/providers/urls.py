"""The project's URLs plus the providers API, for tests run before ``mosaic/urls.py`` mounts it.

Once ``path("api/", include("providers.urls"))`` is in ``mosaic/urls.py`` this module is not
used (tests/providers/conftest.py checks); it can then be deleted with live_settings.py.
"""

from django.urls import include, path

from mosaic.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns, path("api/", include("providers.urls"))]
