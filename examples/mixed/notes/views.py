"""The Django half: a page listing the notes, with a CSRF-protected form that adds one."""

from django import forms
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .models import Note


class NoteForm(forms.Form):
    text = forms.CharField(max_length=500)


@require_http_methods(["GET", "POST"])
def index(request):
    if request.method == "POST":
        form = NoteForm(request.POST)
        if form.is_valid():
            Note.objects.create(text=form.cleaned_data["text"])
            return redirect("notes:index")
    else:
        form = NoteForm()
    return render(request, "notes/index.html", {"form": form, "notes": Note.objects.all()[:100]})
