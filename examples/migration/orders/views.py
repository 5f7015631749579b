"""The legacy shop: an orders JSON API and two HTML pages.

  GET  /orders              {"orders": [order, ...], "count": N, "generated_at": now}
  POST /orders              {"customer", "item", "quantity"} -> 201 and the new order
  GET  /orders/<id>         the order plus "generated_at"; 404 {"detail": "Not found"}
  GET  /orders/<id>/page    an HTML page with a CSRF-protected "mark as shipped" form
  POST /orders/<id>/page    marks the order shipped and redirects back to the page
  GET  /                    a home page linking to the orders

neworders/main.py reimplements the two GET endpoints of the API: keep the JSON shapes in step.
"""

import json

from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from .models import Order

NOT_FOUND = {"detail": "Not found"}  # what FastAPI's HTTPException(404, "Not found") says


def order_json(order):
    """One order as the API shows it (created_at: an aware UTC datetime's isoformat())."""
    return {
        "id": order.id,
        "customer": order.customer,
        "item": order.item,
        "quantity": order.quantity,
        "status": order.status,
        "created_at": order.created_at.isoformat(),
    }


def now():
    # Differs on every answer: a comparison of the two apps' answers must ignore it.
    return timezone.now().isoformat()


def bad_request(message):
    return JsonResponse({"detail": message}, status=400)


@require_GET
def home(request):
    return render(request, "orders/home.html", {"orders": Order.objects.all()})


# The API's clients send JSON without a CSRF token (there is no session to protect).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def order_list(request):
    if request.method == "POST":
        return create_order(request)
    orders = [order_json(o) for o in Order.objects.all()]
    return JsonResponse({"orders": orders, "count": len(orders), "generated_at": now()})


def create_order(request):
    try:
        data = json.loads(request.body)
    except ValueError:  # not JSON, or not UTF-8
        return bad_request("the body must be a JSON object")
    if not isinstance(data, dict):
        return bad_request("the body must be a JSON object")
    fields = {}
    for name in ("customer", "item"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            return bad_request(f"{name}: a non-empty string of at most 200 characters")
        fields[name] = value.strip()
    quantity = data.get("quantity")
    if type(quantity) is not int or quantity < 1:  # type(): True is an int too
        return bad_request("quantity: a positive integer")
    order = Order.objects.create(quantity=quantity, **fields)
    return JsonResponse({**order_json(order), "generated_at": now()}, status=201)


@require_GET
def order_detail(request, order_id):
    order = Order.objects.filter(id=order_id).first()
    if order is None:
        return JsonResponse(NOT_FOUND, status=404)
    return JsonResponse({**order_json(order), "generated_at": now()})


@require_http_methods(["GET", "POST"])
def order_page(request, order_id):
    order = get_object_or_404(Order, id=order_id)
    if request.method == "POST":  # the form below; CsrfViewMiddleware has checked its token
        order.status = "shipped"
        order.save(update_fields=["status"])
        return redirect("orders:page", order_id=order.id)
    return render(request, "orders/page.html", {"order": order})
