"""The FastAPI half of the mixed example, mounted at /api (it sees root_path "/api", so its
routes are written without the prefix). It shares the Django half's SQLite database:

  GET  /api/notes         the notes Django's page added (newest first), as JSON
  POST /api/notes         {"text": ...} adds a note that Django's page then lists
  GET  /api/health        {"ok": true, "notes": count}
"""

import os
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

DB_PATH = os.environ.get("MIXED_DB_PATH") or str(Path(__file__).resolve().parents[1] / "db.sqlite3")

app = FastAPI(title="Junction mixed example API")


class NewNote(BaseModel):
    text: str = Field(min_length=1, max_length=500)


def _db():
    """A connection that commits on success and is closed at the end of the `with`. The table
    is Django's (notes.Note): run `manage.py migrate` first."""
    return closing(sqlite3.connect(DB_PATH, timeout=10))


# Plain `def` endpoints: FastAPI runs them in its thread pool, so sqlite3's blocking calls do
# not stall the event loop.
@app.get("/notes")
def list_notes(limit: int = 100):
    with _db() as db, db:
        try:
            rows = db.execute("SELECT id, text, created FROM notes_note ORDER BY id DESC LIMIT ?",
                              (limit,)).fetchall()
        except sqlite3.OperationalError as e:
            raise HTTPException(503, f"database not ready ({e}): run manage.py migrate") from None
    return [{"id": i, "text": t, "created": c} for i, t, c in rows]


@app.post("/notes", status_code=201)
def add_note(note: NewNote):
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    with _db() as db, db:
        cur = db.execute("INSERT INTO notes_note (text, created) VALUES (?, ?)",
                         (note.text, created))
    return {"id": cur.lastrowid, "text": note.text, "created": created}


@app.get("/health")
def health():
    with _db() as db, db:
        (count,) = db.execute("SELECT COUNT(*) FROM notes_note").fetchone()
    return {"ok": True, "notes": count}
