"""bench/real_apps.sh, row fastapi-pydantic: a FastAPI app (ASGI `app`).

POST /items with a JSON body (apps/item.json, what wrk sends with apps/post_item.lua) is
validated into the pydantic model `Item` (str, float, int with bounds, a list of str, an
optional nested model), and the answer is built as the response model `Quote`, which FastAPI
validates and serialises in turn: 200, application/json, the same bytes every time. A body
that does not validate gets FastAPI's 422. GET /ready answers "ready" (text/plain).
"""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field


class Dimensions(BaseModel):
    width: float = Field(gt=0)
    height: float = Field(gt=0)
    depth: float = Field(gt=0)


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0)
    quantity: int = Field(default=1, ge=1, le=1000)
    tags: list[str] = []
    dimensions: Dimensions | None = None


class Quote(BaseModel):
    name: str
    quantity: int
    unit_price: float
    total: float
    tags: list[str]
    volume: float | None


app = FastAPI()


@app.post("/items", response_model=Quote)
async def quote(item: Item) -> Quote:
    d = item.dimensions
    return Quote(
        name=item.name,
        quantity=item.quantity,
        unit_price=item.price,
        total=round(item.price * item.quantity, 2),
        tags=sorted({tag.lower() for tag in item.tags}),
        volume=round(d.width * d.height * d.depth, 3) if d else None,
    )


@app.get("/ready", response_class=PlainTextResponse)
async def ready() -> str:
    return "ready"
