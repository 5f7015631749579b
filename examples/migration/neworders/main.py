"""The new orders service: FastAPI (ASGI) taking over the read side of the shop's /orders API.

  GET /orders          {"orders": [order, ...], "count": N, "generated_at": now}
  GET /orders/{id}     the order plus "generated_at"; 404 {"detail": "Not found"}

Nothing else yet: POST /orders answers 405 and /orders/{id}/page and / answer 404, so in the
walk-through (docs/migration.md) those stay with Django. It reads Django's table (orders_order)
in the same SQLite database with the standard library alone: no Django import. MIGRATION_DB
names the database (default: db.sqlite3 next to manage.py), as for Django.

  junction --pythonpath examples/migration asgi:neworders.main:app
"""

import json
import os
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse

DB_PATH = os.environ.get("MIGRATION_DB") or str(Path(__file__).resolve().parents[1] / "db.sqlite3")

# The walk-through's deliberate difference: the detail endpoint returns quantity as a string
# ("2" where Django says 2), the bug its shadow report finds. The fix is to return the int:
# set this to False, or run with NEWORDERS_FIXED=1 to try the fixed service without editing.
QUANTITY_AS_STRING = os.environ.get("NEWORDERS_FIXED") != "1"

COLUMNS = "id, customer, item, quantity, status, created_at"

app = FastAPI(title="New orders service")

# What Django's security and clickjacking middleware add to every shop answer: the new service
# keeps them, so that its answers differ from the shop's in nothing but the data.
SHOP_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@app.middleware("http")
async def shop_headers(request, call_next):
    response = await call_next(request)
    response.headers.update(SHOP_HEADERS)
    return response


class DjangoJSONResponse(JSONResponse):
    """JSON serialized as Django's JsonResponse does (json.dumps' defaults: ", " and ": "
    separators, non-ASCII escaped), so that the two apps' bodies for the same order differ
    only where their data does. FastAPI's own is compact and unescaped."""

    def render(self, content) -> bytes:
        return json.dumps(content).encode()


def _db():
    """A connection closed at the end of the `with`. The table is Django's: run setup_db.py."""
    return closing(sqlite3.connect(DB_PATH, timeout=10))


def _created_at(stored: str) -> str:
    """Django's text for a stored DateTimeField (USE_TZ): it keeps UTC without an offset, as
    "YYYY-MM-DD HH:MM:SS[.ffffff]" (no fraction when the microseconds are 0), and reads it back
    as an aware UTC datetime whose isoformat() the API shows: "2026-01-02T03:04:05.123456+00:00"
    or "2026-01-03T09:30:00+00:00". Parsing and formatting alike gives the same text."""
    return datetime.fromisoformat(stored).replace(tzinfo=timezone.utc).isoformat()


def _order(row) -> dict:
    """A row as Django's order_json() shows it, keys in the same order."""
    id_, customer, item, quantity, status, created_at = row
    return {"id": id_, "customer": customer, "item": item, "quantity": quantity,
            "status": status, "created_at": _created_at(created_at)}


def _now() -> str:
    # The same text as Django's timezone.now().isoformat().
    return datetime.now(timezone.utc).isoformat()


# Plain `def` endpoints: FastAPI runs them in its thread pool, so sqlite3's blocking calls do
# not stall the event loop.
@app.get("/orders")
def list_orders():
    with _db() as db:
        rows = db.execute(f"SELECT {COLUMNS} FROM orders_order ORDER BY id").fetchall()
    orders = [_order(row) for row in rows]
    return DjangoJSONResponse({"orders": orders, "count": len(orders), "generated_at": _now()})


@app.get("/orders/{order_id}")
def get_order(order_id: int):
    with _db() as db:
        row = db.execute(f"SELECT {COLUMNS} FROM orders_order WHERE id = ?",
                         (order_id,)).fetchone()
    if row is None:
        return DjangoJSONResponse({"detail": "Not found"}, status_code=404)
    order = _order(row)
    if QUANTITY_AS_STRING:  # the deliberate difference (see QUANTITY_AS_STRING above)
        order["quantity"] = str(order["quantity"])
    return DjangoJSONResponse({**order, "generated_at": _now()})


# The end of the walk-through (docs/migration.md, step 4): the rest of /orders, rewritten. Off
# unless NEWORDERS_COMPLETE=1, so that the earlier steps have something to fall through.
if os.environ.get("NEWORDERS_COMPLETE") == "1":
    from fastapi import Request
    from fastapi.responses import HTMLResponse

    def _text(body: dict, name: str):
        value = body.get(name)
        return value if isinstance(value, str) and 0 < len(value) <= 200 else None

    @app.post("/orders")
    async def create_order(request: Request):
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return DjangoJSONResponse({"detail": "the body must be a JSON object"}, status_code=400)
        for name in ("customer", "item"):
            if _text(body, name) is None:
                return DjangoJSONResponse(
                    {"detail": f"{name}: a non-empty string of at most 200 characters"},
                    status_code=400)
        quantity = body.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            return DjangoJSONResponse({"detail": "quantity: a positive integer"}, status_code=400)
        # Stored as Django stores it: UTC text without an offset.
        stored = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(" ")
        with _db() as db, db:
            cursor = db.execute(
                "INSERT INTO orders_order (customer, item, quantity, status, created_at) "
                "VALUES (?, ?, ?, 'new', ?)", (body["customer"], body["item"], quantity, stored))
            row = db.execute(f"SELECT {COLUMNS} FROM orders_order WHERE id = ?",
                             (cursor.lastrowid,)).fetchone()
        return DjangoJSONResponse({**_order(row), "generated_at": _now()}, status_code=201)

    @app.get("/orders/{order_id}/page", response_class=HTMLResponse)
    def order_page(order_id: int):
        with _db() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM orders_order WHERE id = ?",
                             (order_id,)).fetchone()
        if row is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        order = _order(row)
        return HTMLResponse(f"<h1>Order {order['id']}</h1><p>{order['quantity']} x "
                            f"{order['item']} for {order['customer']}: {order['status']}</p>")
