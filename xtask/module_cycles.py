"""Finds circles among the top-level modules of each crate: `a -> b` when
module `a` names module `b`, or an item `b`'s root re-exports, through
`crate::`. Prints one line per crate and exits 1 if any has a circle.

Usage: python3 xtask/module_cycles.py CRATE_DIR...
"""
import pathlib
import re
import sys


def graph(crate):
    src = pathlib.Path(crate, "src")
    modules = {p.stem: p for p in src.glob("*.rs") if p.stem not in ("lib", "main")}
    modules.update({p.parent.name: p for p in src.glob("*/mod.rs")})
    root = next((src / f).read_text() for f in ("lib.rs", "main.rs") if (src / f).exists())
    exported = {}
    for module, names in re.findall(r"pub use (\w+)::\{?([^;]*)\}?;", root):
        for name in re.findall(r"\w+", names):
            exported[name] = module
    edges = set()
    for module, path in modules.items():
        text = re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M)
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", text, flags=re.S)
        names = re.findall(r"crate::\{([^;]*?)\};", text, flags=re.S) + re.findall(r"crate::(\w+)", text)
        for name in (n for block in names for n in re.findall(r"\w+", block)):
            target = name if name in modules else exported.get(name)
            if target and target != module:
                edges.add((module, target))
    return modules, edges


def circles(nodes, edges):
    following = {n: sorted(b for a, b in edges if a == n and b in nodes) for n in nodes}
    found = set()

    def walk(path):
        for after in following[path[-1]]:
            if after in path:
                circle = path[path.index(after):]
                start = circle.index(min(circle))
                found.add(" -> ".join(circle[start:] + circle[:start] + [min(circle)]))
            else:
                walk(path + [after])

    for node in nodes:
        walk([node])
    return sorted(found)


def main():
    failed = False
    for crate in sys.argv[1:]:
        modules, edges = graph(crate)
        found = circles(modules, edges)
        failed |= bool(found)
        print(f"{crate}: {len(modules)} modules, {len(edges)} edges, circles: {', '.join(found) or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
