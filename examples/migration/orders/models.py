from django.db import models
from django.utils import timezone


class Order(models.Model):
    """An order. The table (orders_order) is also read by neworders/main.py, the FastAPI app
    that takes over GET /orders in the migration walk-through."""

    customer = models.CharField(max_length=200)
    item = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=20, default="new")  # "new" or "shipped"
    # A default rather than auto_now_add, so setup_db.py can give its samples fixed times.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"#{self.id} {self.quantity} x {self.item} for {self.customer}"
