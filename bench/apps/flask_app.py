"""bench/real_apps.sh, row flask-json: a Flask app (WSGI `app`).

GET / builds a small object (an order: scalars, a nested dict, a list of 5 line items) and
answers it with jsonify: 200, application/json, the same bytes every time (Flask sorts the
keys). GET /ready answers "ready" (text/plain).
"""

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/")
def order():
    lines = [
        {
            "sku": f"SKU-{n:04d}",
            "name": f"Item {n}",
            "quantity": n % 3 + 1,
            "price": round(n * 1.25 + 0.99, 2),
        }
        for n in range(1, 6)
    ]
    return jsonify(
        id=12345,
        status="shipped",
        customer={"id": 42, "name": "Ada Lovelace", "email": "ada@example.com"},
        lines=lines,
        total=round(sum(line["quantity"] * line["price"] for line in lines), 2),
        tags=["priority", "gift"],
        paid=True,
    )


@app.get("/ready")
def ready():
    return Response(b"ready", mimetype="text/plain")
