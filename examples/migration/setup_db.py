#!/usr/bin/env python
"""Create or migrate the example's SQLite database and, when it has no orders yet, add five
samples with fixed creation times (so answers are the same on every machine). Safe to run again.

    .venv/bin/python examples/migration/setup_db.py      # from the repository root

MIGRATION_DB names the database (default: db.sqlite3 next to manage.py), as for both apps.
"""

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

# Importable from wherever this is run: the Django project lives next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from orders.models import Order  # noqa: E402

# (customer, item, quantity, status, created_at). Some times have no microseconds: Django then
# stores "YYYY-MM-DD HH:MM:SS" and isoformat() leaves out the fraction, which the FastAPI app
# must reproduce. "Zoë" makes the JSON escape a non-ASCII character.
SAMPLES = [
    ("Ada", "keyboard", 1, "shipped", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)),
    ("Grace", "monitor", 2, "new", datetime(2026, 1, 3, 9, 30, 0, tzinfo=timezone.utc)),
    ("Linus", "mouse", 3, "new", datetime(2026, 1, 4, 12, 0, 0, 500, tzinfo=timezone.utc)),
    ("Zoë", "cable", 10, "shipped", datetime(2026, 2, 14, 23, 59, 59, 999999,
                                             tzinfo=timezone.utc)),
    ("Barbara", "laptop stand", 1, "new", datetime(2026, 3, 1, 0, 0, 0, tzinfo=timezone.utc)),
]


def main():
    call_command("migrate", interactive=False, verbosity=0)
    if Order.objects.exists():
        print(f"{settings.DATABASES['default']['NAME']}: migrated; "
              f"{Order.objects.count()} order(s) already there")
        return
    Order.objects.bulk_create(
        Order(customer=c, item=i, quantity=q, status=s, created_at=t)
        for c, i, q, s, t in SAMPLES
    )
    print(f"{settings.DATABASES['default']['NAME']}: migrated; added {len(SAMPLES)} orders")


if __name__ == "__main__":
    main()
