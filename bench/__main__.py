"""`make bench`: run every benchmark module of bench/ (each has `main()`), print and save their reports."""

import importlib
import pkgutil
import sys

import bench


def main() -> int:
    only = set(sys.argv[1:])
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_") or (only and info.name not in only):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if hasattr(module, "main"):
            print(f"== {info.name}", flush=True)
            module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
