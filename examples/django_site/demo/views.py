"""The example site's views: a page, a CSRF-protected form, an upload and a streamed response."""

import hashlib
import time

from django import forms
from django.http import HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST


class EchoForm(forms.Form):
    message = forms.CharField(max_length=1000)


@require_GET
def index(request):
    return render(request, "demo/index.html")


@require_http_methods(["GET", "POST"])
def echo_form(request):
    """GET renders a form carrying the CSRF token; POST (checked by CsrfViewMiddleware) echoes it."""
    echoed = None
    if request.method == "POST":
        form = EchoForm(request.POST)
        if form.is_valid():
            echoed = form.cleaned_data["message"]
    else:
        form = EchoForm()
    return render(request, "demo/form.html", {"form": form, "echoed": echoed})


@csrf_exempt  # an API-style endpoint for scripts and tests; the form above shows CSRF
@require_POST
def upload(request):
    """multipart/form-data with a `file` field: answers its name, size and SHA-256."""
    f = request.FILES.get("file")
    if f is None:
        return HttpResponseBadRequest("no 'file' field\n", content_type="text/plain")
    digest = hashlib.sha256()
    size = 0
    for chunk in f.chunks():
        digest.update(chunk)
        size += len(chunk)
    return JsonResponse({"name": f.name, "size": size, "sha256": digest.hexdigest()})


@require_GET
def stream(request):
    """`?n=N` lines (default 5, at most 1000), sent as separate chunks, `?delay=S` apart."""
    try:
        n = min(int(request.GET.get("n", "5")), 1000)
        delay = min(float(request.GET.get("delay", "0.05")), 1.0)
    except ValueError:
        return HttpResponseBadRequest("bad n or delay\n", content_type="text/plain")

    def lines():
        for i in range(n):
            if i and delay > 0:
                time.sleep(delay)
            yield f"chunk {i}\n"

    return StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
