"""Settings of the migration example's legacy Django shop.

Environment:
  MIGRATION_DB   the SQLite database (default: db.sqlite3 next to manage.py); neworders/main.py
                 reads the same variable, so both apps see the same orders
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# A fixed key keeps the example self-contained; never deploy it.
SECRET_KEY = "django-insecure-junction-migration-example-key-do-not-deploy"
DEBUG = False
ALLOWED_HOSTS = ["*"]

# No auth, sessions or admin: the shop needs none of them, and CSRF works from its cookie alone.
INSTALLED_APPS = ["orders"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The URLs have no trailing slash, as a JSON API's usually do; with APPEND_SLASH a mistyped
# `/orders/` would answer a redirect, where the FastAPI app answers 404: keep them alike.
APPEND_SLASH = False

ROOT_URLCONF = "shop.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

WSGI_APPLICATION = "shop.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("MIGRATION_DB") or str(BASE_DIR / "db.sqlite3"),
        # The FastAPI app opens the same file; wait for a lock rather than fail.
        "OPTIONS": {"timeout": 10},
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True  # created_at is aware; SQLite stores it as UTC text
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING"}},
}
