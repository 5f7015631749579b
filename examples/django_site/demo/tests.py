"""The example's views under Django's test client: `python manage.py test demo`.

The end-to-end tests (tests/e2e/test_wsgi_django.py) drive the same views through Junction.
"""

import hashlib
import re

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase


class DemoViewsTest(TestCase):
    def setUp(self):
        self.client = Client(enforce_csrf_checks=True)

    def test_index(self):
        r = self.client.get("/")
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "Junction Django example")

    def test_form_round_trip_with_csrf(self):
        r = self.client.get("/form/")
        self.assertEqual(r.status_code, 200)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', r.content).group(1)
        self.assertIn("csrftoken", r.cookies)
        r = self.client.post("/form/", {"csrfmiddlewaretoken": token.decode(), "message": "hé <b>"})
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, '<output id="echo">hé &lt;b&gt;</output>', html=False)

    def test_form_post_without_token_is_403(self):
        self.client.get("/form/")
        r = self.client.post("/form/", {"message": "hi"})
        self.assertEqual(r.status_code, 403)

    def test_upload(self):
        data = bytes(range(256)) * 12_000  # ~3 MiB: above the in-memory upload limit
        r = self.client.post("/upload/", {"file": SimpleUploadedFile("d.bin", data)})
        self.assertEqual(r.status_code, 200)
        self.assertEqual(
            r.json(),
            {"name": "d.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        )

    def test_upload_without_file_is_400(self):
        self.assertEqual(self.client.post("/upload/", {}).status_code, 400)

    def test_stream(self):
        r = self.client.get("/stream/?n=4&delay=0")
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.streaming)
        chunks = list(r.streaming_content)
        self.assertEqual(chunks, [f"chunk {i}\n".encode() for i in range(4)])

    def test_admin_login_page_and_login(self):
        r = self.client.get("/admin/login/")
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, 'name="username"')
        self.assertContains(r, 'name="password"')
        get_user_model().objects.create_superuser("admin", "a@example.com", "s3cret-pass-word")
        client = Client()  # the admin login form itself carries the token; keep this one simple
        self.assertTrue(client.login(username="admin", password="s3cret-pass-word"))
        r = client.get("/admin/")
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "Site administration")
