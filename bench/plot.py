"""Draws the benchmarks' results as PNG charts (docs/benchmarks.md, docs/img/).

    python bench/plot.py                      # every bench/results/*/rows.tsv, newest wins
    python bench/plot.py bench/results/real-apps-20261207-120000 ...   # these runs only
    python bench/plot.py --out /tmp/charts    # somewhere else than docs/img

Each bench script writes rows.tsv beside its summary.md (bench/common.sh, write_rows_tsv): one
line per server per row, with the medians of its runs; bench/memory.sh writes memory.tsv
instead (a line per server per row: RSS before and after, KiB per connection). When several
runs measured the same row and server, the newest file wins, so a chart always shows one run of
each row, and a row's servers come from the same run whenever that run measured them all.

Four charts (a chart without figures is skipped, with a note on stderr):
  * bench-headline.png: for each row, Junction's requests/s over the best peer's (the README's
    chart); the goals of the performance issue are marked;
  * bench-throughput.png: requests/s of every server, a panel per row (their scales differ a
    hundredfold: a hello world against a Django page);
  * bench-latency.png: p50 and p99 latency of every server, a panel per row (rows measured with
    h2load, which gives no percentiles, are left out);
  * bench-memory.png: KiB of RSS per idle keep-alive connection and per idle WebSocket of every
    server, a panel per row of memory.tsv (the issue's goal: Junction at most granian).
Needs matplotlib (bench/all.sh installs it into the bench venv).
"""

from __future__ import annotations

import argparse
import csv
import math
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Goals of the performance issue, as the ratio Junction / peer that each row must reach.
GOALS = {
    "wsgi-hello": 1.2,
    "asgi-hello": 1.2,
    "h2-wsgi-hello": 1.5,
    "h2-asgi-hello": 1.5,
    "tls-handshake": 1.0,  # against nginx
    "tls-wsgi-keepalive": 1.0,
    "tls-asgi-keepalive": 1.0,
    "tls-wsgi-h2": 1.5,  # the HTTP/2 goal, over TLS too
    "tls-asgi-h2": 1.5,
}
REAL_APP_GOAL = 1.05  # every other row: Junction against the best peer
JUNCTION_COLOR = "#d9480f"
PEER_COLORS = ["#495057", "#868e96", "#adb5bd", "#ced4da", "#343a40"]


def server_name(name: str) -> str:
    """The server without the interface suffix the scripts give it (granian-asgi -> granian)."""
    for suffix in ("-wsgi", "-asgi"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_junction(name: str) -> bool:
    return name == "junction"


def load(files: list[pathlib.Path]) -> dict[str, dict[str, dict[str, float]]]:
    """row -> server -> figures, from the files oldest first, so that newer ones win."""
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for path in sorted(files, key=lambda p: p.stat().st_mtime):
        with path.open(newline="") as f:
            for record in csv.DictReader(f, delimiter="\t"):
                server = server_name(record["server"])
                if server.endswith("-baseline"):
                    continue  # an older Junction, for before/after tables only
                figures = {}
                for key in ("rps", "p50_ms", "p99_ms", "cpu_us", "switches"):
                    try:
                        figures[key] = float(record.get(key) or 0)
                    except ValueError:
                        figures[key] = 0.0
                if figures["rps"] > 0:
                    rows.setdefault(record["row"], {})[server] = figures
    return rows


def load_memory(files: list[pathlib.Path]) -> dict[str, dict[str, float]]:
    """row -> server -> KiB per connection, from memory.tsv files oldest first (newer wins)."""
    rows: dict[str, dict[str, float]] = {}
    for path in sorted(files, key=lambda p: p.stat().st_mtime):
        with path.open(newline="") as f:
            for record in csv.DictReader(f, delimiter="\t"):
                server = server_name(record["server"])
                if server.endswith("-baseline"):
                    continue
                try:
                    rows.setdefault(record["row"], {})[server] = float(record["kib_per_conn"])
                except (KeyError, TypeError, ValueError):
                    continue
    return rows


def ordered(servers: dict[str, dict[str, float]]) -> list[str]:
    """Junction first, then the peers from the fastest."""
    peers = sorted((s for s in servers if not is_junction(s)), key=lambda s: -servers[s]["rps"])
    return (["junction"] if "junction" in servers else []) + peers


def colors(names: list[str]) -> list[str]:
    peer = iter(PEER_COLORS * 2)
    return [JUNCTION_COLOR if is_junction(n) else next(peer) for n in names]


def grid(count: int) -> tuple[plt.Figure, list[plt.Axes]]:
    columns = min(3, count)
    lines = math.ceil(count / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.2 * lines), squeeze=False)
    flat = [a for line in axes for a in line]
    for extra in flat[count:]:
        extra.axis("off")
    return fig, flat[:count]


def save(fig: plt.Figure, out: pathlib.Path) -> bool:
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def headline(rows, out: pathlib.Path) -> bool:
    entries = []
    for row, servers in rows.items():
        peers = {s: f for s, f in servers.items() if not is_junction(s)}
        if "junction" not in servers or not peers:
            continue
        best = max(peers, key=lambda s: peers[s]["rps"])
        ratio = servers["junction"]["rps"] / peers[best]["rps"]
        entries.append((row, best, ratio, GOALS.get(row, REAL_APP_GOAL)))
    if not entries:
        return False
    entries.sort(key=lambda e: e[0])
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(entries) + 1.4))
    labels = [f"{row}\n(vs {best})" for row, best, _, _ in entries]
    ratios = [e[2] for e in entries]
    bars = ax.barh(labels, ratios, color=[JUNCTION_COLOR if r >= 1 else "#868e96" for r in ratios])
    for bar, (_, _, ratio, goal) in zip(bars, entries):
        y = bar.get_y() + bar.get_height() / 2
        ax.text(ratio + 0.02, y, f"{ratio:.2f}x", va="center", fontsize=9)
        ax.plot([goal, goal], [bar.get_y(), bar.get_y() + bar.get_height()], color="black",
                linewidth=1.5)
    ax.axvline(1.0, color="#495057", linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(ratios), max(e[3] for e in entries)) * 1.2)
    ax.set_xlabel("Junction's requests/s over the best peer's (black tick: the goal)")
    ax.set_title("Junction against the fastest other server, row by row")
    return save(fig, out)


def throughput(rows, out: pathlib.Path) -> bool:
    if not rows:
        return False
    fig, axes = grid(len(rows))
    for ax, row in zip(axes, sorted(rows)):
        servers = rows[row]
        names = ordered(servers)
        values = [servers[n]["rps"] for n in names]
        ax.bar(names, values, color=colors(names))
        for i, v in enumerate(values):
            ax.text(i, v, f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}", ha="center",
                    va="bottom", fontsize=8)
        ax.set_title(row, fontsize=10)
        ax.set_ylabel("requests/s")
        ax.set_ylim(0, max(values) * 1.15)
        ax.tick_params(axis="x", labelsize=8, rotation=20)
    fig.suptitle("Requests per second (median of the runs; one core for the server)")
    return save(fig, out)


def latency(rows, out: pathlib.Path) -> bool:
    measured = {r: s for r, s in rows.items() if any(f["p99_ms"] > 0 for f in s.values())}
    if not measured:
        return False
    fig, axes = grid(len(measured))
    for ax, row in zip(axes, sorted(measured)):
        servers = measured[row]
        names = [n for n in ordered(servers) if servers[n]["p99_ms"] > 0]
        x = range(len(names))
        width = 0.38
        ax.bar([i - width / 2 for i in x], [servers[n]["p50_ms"] for n in names], width,
               color=[c + "80" for c in colors(names)])  # the same colour, lighter
        ax.bar([i + width / 2 for i in x], [servers[n]["p99_ms"] for n in names], width,
               color=colors(names))
        ax.set_xticks(list(x), names, fontsize=8, rotation=20)
        ax.set_title(row, fontsize=10)
        ax.set_ylabel("ms")
        ax.legend(handles=[Patch(color="#adb5bd", label="p50"), Patch(color="#343a40", label="p99")],
                  fontsize=8)
    fig.suptitle("Latency under the same load: p50 (light) and p99 (dark)")
    return save(fig, out)


def memory(rows: dict[str, dict[str, float]], out: pathlib.Path) -> bool:
    if not rows:
        return False
    fig, axes = grid(len(rows))
    for ax, row in zip(axes, sorted(rows)):
        servers = rows[row]
        peers = sorted(s for s in servers if not is_junction(s))  # by name: one colour each
        names = (["junction"] if "junction" in servers else []) + peers
        values = [servers[n] for n in names]
        ax.bar(names, values, color=colors(names))
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
        title = row
        if "junction" in servers and servers.get("granian", 0) > 0:
            title += f"\njunction / granian = {servers['junction'] / servers['granian']:.2f}"
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("KiB per connection")
        ax.set_ylim(0, max(max(values), 1e-9) * 1.18)
        ax.tick_params(axis="x", labelsize=8, rotation=20)
    fig.suptitle("RSS per idle connection (lower is better; the goal: Junction at most granian)")
    return save(fig, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="*", type=pathlib.Path,
                        help="result directories (default: every bench/results/*)")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "img",
                        help="where the PNG files go (default: docs/img)")
    args = parser.parse_args()
    if args.results:
        files, memory_files = [], []
        for directory in args.results:
            found = False
            for name, into in (("rows.tsv", files), ("memory.tsv", memory_files)):
                if (directory / name).is_file():
                    into.append(directory / name)
                    found = True
            if not found:
                print(f"plot.py: no rows.tsv or memory.tsv in {directory}", file=sys.stderr)
                return 1
    else:
        files = list((ROOT / "bench" / "results").glob("*/rows.tsv"))
        memory_files = list((ROOT / "bench" / "results").glob("*/memory.tsv"))
    rows = load(files)
    memory_rows = load_memory(memory_files)
    if not rows and not memory_rows:
        print("plot.py: no results to draw (run a bench script first)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    charts = (("bench-headline.png", headline, rows), ("bench-throughput.png", throughput, rows),
              ("bench-latency.png", latency, rows), ("bench-memory.png", memory, memory_rows))
    for name, draw, figures in charts:
        if draw(figures, args.out / name):
            print(f"wrote {args.out / name}")
        else:
            source = "memory.tsv (bench/memory.sh)" if draw is memory else "rows.tsv"
            print(f"plot.py: {name} skipped: no figures for it in the {source} files given",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
