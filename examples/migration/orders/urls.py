from django.urls import path

from . import views

app_name = "orders"
urlpatterns = [
    path("", views.home, name="home"),
    path("orders", views.order_list, name="list"),
    path("orders/<int:order_id>", views.order_detail, name="detail"),
    path("orders/<int:order_id>/page", views.order_page, name="page"),
]
