"""URL configuration of the mixed example's Django half (everything outside /api)."""

from django.urls import include, path

urlpatterns = [path("", include("notes.urls"))]
