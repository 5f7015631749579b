"""ASGI entry point: `junction --chdir examples/django_site django_site.asgi:application`.

Django's ASGI handler does not speak the lifespan protocol (it raises on a lifespan scope), so
serve it with `--lifespan auto` (the default) or `--lifespan off`, not `--lifespan on`.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site.settings")

application = get_asgi_application()
