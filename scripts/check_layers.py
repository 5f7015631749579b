#!/usr/bin/env python3
"""The layer rule (docs/architecture.md): a file includes only its own layer and the layers
below it, and every CMake target links exactly the project targets its files include.

    gateway/ (the model)  <  tls/  <  http1/, http2/  <  bridge/  <  gateway/server/

http1/ and http2/ are one level: neither includes the other. Prints every include that goes up
(or sideways) a layer and every target whose links differ from its includes; exits 1 if any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# folder -> (rank, CMake target)
LAYERS = {
    "gateway": (0, "junction_gateway"),
    "tls": (1, "junction_tls"),
    "http1": (2, "junction_http1"),
    "http2": (2, "junction_http2"),
    "bridge": (3, "junction_bridge"),
    "gateway/server": (4, "junction_server"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
LINK = re.compile(r"target_link_libraries\(\s*(\w+)\s+(?:PUBLIC|PRIVATE|INTERFACE)?([^)]*)\)", re.S)


def layer_of(path: str) -> str | None:
    """The layer a repository path (or an include of one) belongs to."""
    parts = Path(path).parts
    if len(parts) >= 3 and parts[0] == "gateway" and parts[1] == "server":
        return "gateway/server"
    return parts[0] if parts and parts[0] in LAYERS else None


def main() -> int:
    problems: list[str] = []
    uses: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for layer in LAYERS:
        folder = ROOT / layer
        files = folder.glob("*") if layer == "gateway" else folder.rglob("*")
        for path in sorted(files):
            if path.suffix not in (".hpp", ".cpp", ".in", ".h"):
                continue
            rel = path.relative_to(ROOT).as_posix()
            if layer_of(rel) != layer:
                continue
            for included in INCLUDE.findall(path.read_text(encoding="utf-8")):
                target = layer_of(included)
                if target is None:
                    continue  # a generated header or another library's
                if target != layer:
                    uses[layer].add(target)
                if target != layer and LAYERS[target][0] >= LAYERS[layer][0]:
                    problems.append(f"{rel}: includes {included}, which is not below {layer}/")
    # Every target links exactly the project targets its layer includes.
    layer_targets = {t for _, t in LAYERS.values()}
    for layer, (_, target) in LAYERS.items():
        cmake = (ROOT / layer / "CMakeLists.txt").read_text(encoding="utf-8")
        linked: set[str] = set()
        for name, args in LINK.findall(cmake):
            if name == target:
                linked |= {a for a in args.split() if a in layer_targets}
        wanted = {LAYERS[u][1] for u in uses[layer]}
        if linked != wanted:
            problems.append(
                f"{layer}/CMakeLists.txt: {target} links {sorted(linked) or 'no project target'}"
                f" but its files include {sorted(wanted) or 'no other layer'}")
    for line in problems:
        print(line)
    if problems:
        print(f"check_layers: {len(problems)} problem(s); the rule is in docs/architecture.md",
              file=sys.stderr)
        return 1
    print("check_layers: every include stays in its layer or goes down; every target links what "
          "it includes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
