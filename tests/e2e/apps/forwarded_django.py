"""A one-module Django project (settings, URLs, views) for tests/e2e/test_forwarded.py: what
Django makes of a request behind a trusted proxy. DJANGO_SETTINGS_MODULE=apps.forwarded_django;
serve `apps.forwarded_django:application`.

SECURE_PROXY_SSL_HEADER is left unset: request.is_secure() follows wsgi.url_scheme, which
junction sets from X-Forwarded-Proto when the peer is trusted.

  /whoami/   JSON: is_secure, scheme, REMOTE_ADDR, host, absolute_uri
  /form/     GET: a form with the CSRF token (sets the csrftoken cookie);
             POST (CsrfViewMiddleware checked it): "accepted: MESSAGE"
"""

import json
import os
import threading

from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.utils.html import escape

SECRET_KEY = "junction-e2e-forwarded-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = __name__
MIDDLEWARE = ["django.middleware.csrf.CsrfViewMiddleware"]
INSTALLED_APPS: list = []
DATABASES: dict = {}
USE_TZ = True
LOGGING = {  # CSRF refusals are warnings on stderr, which junction logs
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING"}},
}


def whoami(request):
    body = {"is_secure": request.is_secure(), "scheme": request.scheme,
            "remote_addr": request.META["REMOTE_ADDR"], "host": request.get_host(),
            "absolute_uri": request.build_absolute_uri()}
    return HttpResponse(json.dumps(body), content_type="application/json")


def form(request):
    if request.method == "POST":
        return HttpResponse("accepted: " + escape(request.POST.get("message", "")))
    return HttpResponse(
        '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" '
        f'value="{get_token(request)}"><input name="message"></form>')


urlpatterns = [path("whoami/", whoami), path("form/", form)]

_lock = threading.Lock()
_django = None


def application(environ, start_response):
    global _django
    with _lock:
        if _django is None:
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", __name__)
            from django.core.wsgi import get_wsgi_application

            _django = get_wsgi_application()
    return _django(environ, start_response)
