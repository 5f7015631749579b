"""`app`: a FastAPI app for the ASGI tests. Routes:

  GET  /items/{item_id}?q=...   path and query parameters (item_id is an int: "x" gets 422)
  POST /items                   a JSON body validated by a model; answers it with a total
  POST /upload                  multipart form: `note` field and `file`; name, size, SHA-256
  GET  /stream?n=N              StreamingResponse of N lines from an async generator
  POST /background?record=P     answers at once; a background task then appends a line to P
  GET  /lifespan                what the lifespan put in the state (request.state.greeting)
  GET  /where                   root_path, path and url_for, to check mounting
  GET  /client                  request.client and request.url, as a proxy's headers set them
  WS   /ws                      echoes text as "echo: TEXT" until the client closes
"""

import asyncio
import hashlib
from contextlib import asynccontextmanager

from fastapi import BackgroundTasks, FastAPI, File, Form, Request, UploadFile, WebSocket
from fastapi.responses import StreamingResponse
from fastapi.websockets import WebSocketDisconnect
from pydantic import BaseModel


@asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello from the lifespan"}


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float
    quantity: int = 1


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item):
    return {"name": item.name, "total": item.price * item.quantity}


@app.post("/upload")
async def upload(note: str = Form(...), file: UploadFile = File(...)):
    h, size = hashlib.sha256(), 0
    while chunk := await file.read(1 << 16):
        h.update(chunk)
        size += len(chunk)
    return {"note": note, "name": file.filename, "size": size, "sha256": h.hexdigest()}


@app.get("/stream")
async def stream(n: int = 5):
    async def lines():
        for i in range(n):
            yield f"line {i}\n"
            await asyncio.sleep(0.01)

    return StreamingResponse(lines(), media_type="text/plain")


def _write(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


@app.post("/background")
async def background(record: str, tasks: BackgroundTasks):
    tasks.add_task(_write, record, "background task ran")
    return {"scheduled": True}


@app.get("/lifespan")
async def lifespan_state(request: Request):
    return {"greeting": request.state.greeting}


@app.get("/where", name="where")
async def where(request: Request):
    return {"root_path": request.scope.get("root_path", ""), "path": request.scope["path"],
            "url_path": request.url.path, "url_for": str(request.url_for("where"))}


@app.get("/client")
async def client(request: Request):
    return {"host": request.client.host, "port": request.client.port, "url": str(request.url)}


@app.websocket("/ws")
async def ws_echo(websocket: WebSocket):
    await websocket.accept()
    try:
        for _ in range(10000):
            text = await websocket.receive_text()
            await websocket.send_text(f"echo: {text}")
    except WebSocketDisconnect:
        pass
