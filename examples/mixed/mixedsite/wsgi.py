"""WSGI entry point of the Django half: mounted at / next to the FastAPI app at /api."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mixedsite.settings")

application = get_wsgi_application()
