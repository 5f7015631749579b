from django.db import models


class Note(models.Model):
    """A short note. The table (notes_note) is also read and written by api/main.py."""

    text = models.CharField(max_length=500)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return self.text
