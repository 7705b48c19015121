#!/usr/bin/env python3
"""The layer rule of DESIGN.md, checked on every #include: dependencies point down only.

    tools -> shim -> uapi -> kfd -> hw -> base

A file in src/<layer>/ may include headers of its own layer and of the layers below it; shim/ talks to
uapi/ only (and base/). A test in tests/<layer>/ may include what its layer may, plus tests/ helpers.
Prints every violation with file and line; exit 1 if there is one.
"""
import pathlib
import re
import sys

ORDER = ["base", "hw", "kfd", "uapi", "shim", "tools"]
RANK = {layer: i for i, layer in enumerate(ORDER)}
# Layers a layer may include besides itself: everything below it, except where it must go through an
# interface layer (the interposer talks to uapi/, never to kfd/ or hw/ directly).
ALLOWED = {layer: set(ORDER[: RANK[layer] + 1]) for layer in ORDER}
ALLOWED["shim"] = {"base", "uapi", "shim"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def check(root: pathlib.Path) -> list[str]:
    problems = []
    for top, layer_of in (("src", lambda p: p.parts[1]), ("tests", lambda p: p.parts[1])):
        for path in sorted((root / top).rglob("*")):
            if path.suffix not in (".h", ".cc", ".c"):
                continue
            rel = path.relative_to(root)
            layer = layer_of(rel)
            if layer not in RANK:
                continue  # tests/testing, tests/property, ...: free to use any layer
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m or m.group(1) not in RANK:
                    continue
                target = m.group(1)
                if target not in ALLOWED[layer]:
                    problems.append(f"{rel}:{number}: {layer}/ includes {target}/ ({line.strip()})")
    return problems


def self_test() -> None:
    """The checker must see an upward include and the shim skipping uapi/, or it proves nothing."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        t = pathlib.Path(tmp)
        for rel, text in {"src/base/a.h": "", "src/hw/x.cc": '#include "kfd/process.h"\n',
                          "src/shim/y.cc": '#include "kfd/driver.h"\n#include "uapi/z.h"\n',
                          "src/kfd/ok.cc": '#include "hw/node.h"\n'}.items():
            (t / rel).parent.mkdir(parents=True, exist_ok=True)
            (t / rel).write_text(text)
        found = check(t)
        assert len(found) == 2, found


def main() -> int:
    self_test()
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    if not (root / "src" / "base").is_dir():
        print(f"{root}: not the vkfd source tree", file=sys.stderr)
        return 2
    problems = check(root)
    for p in problems:
        print(p)
    files = sum(1 for _ in (root / "src").rglob("*.cc"))
    print(f"layering: {len(problems)} violation(s) in {files} source files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
