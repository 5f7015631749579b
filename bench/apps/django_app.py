"""bench/real_apps.sh, row django-template: a one-module Django project (WSGI `application`).

GET / runs one query through the ORM (the first 10 rows of a 100-row table, ordered by id) and
renders them with the Django template templates/items.html (autoescaped, a loop, a filter):
200, text/html, about 2 KB, the same bytes every time. GET /ready answers "ready" (text/plain).

The settings are made here (settings.configure), with the usual production choices: DEBUG off,
ALLOWED_HOSTS, the middleware of `startproject` that needs no tables (security, common, CSRF,
clickjacking; no sessions, auth or messages), the cached template loader (Django's default),
persistent database connections (CONN_MAX_AGE=None: one SQLite connection per server thread,
not one per request). The database is a SQLite file made and filled at import, one per process
(the process id in its name), in $JUNCTION_BENCH_DB_DIR (bench/real_apps.sh sets it to its
results directory) or else the temporary directory; it is removed at exit when the process
exits normally (a server that ends its workers with os._exit leaves it behind).
"""

import atexit
import os
import pathlib
import tempfile

import django
from django.conf import settings

HERE = pathlib.Path(__file__).resolve().parent
DB_PATH = pathlib.Path(os.environ.get("JUNCTION_BENCH_DB_DIR") or tempfile.gettempdir()) / (
    f"django-bench-{os.getpid()}.sqlite3"
)

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[__name__],  # this module is the app too (its model below)
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DB_PATH),
            "CONN_MAX_AGE": None,
        }
    },
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(HERE / "templates")],
        }
    ],
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

from django.db import connection, models  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402


class Item(models.Model):
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.IntegerField()

    class Meta:
        app_label = __name__


def _create_database():
    DB_PATH.unlink(missing_ok=True)
    with connection.schema_editor() as editor:
        editor.create_model(Item)
    Item.objects.bulk_create(
        Item(
            name=f"Item {i} <{i % 7}>",
            description=f"A thing & its description, number {i}",
            price=f"{i * 1.25 + 0.99:.2f}",
            stock=(i * 37) % 101,
        )
        for i in range(1, 101)
    )
    connection.close()  # each server thread opens its own


_create_database()
atexit.register(DB_PATH.unlink, missing_ok=True)


def items(request):
    return render(request, "items.html", {"items": Item.objects.order_by("id")[:10]})


def ready(request):
    return HttpResponse(b"ready", content_type="text/plain")


urlpatterns = [path("", items), path("ready", ready)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
