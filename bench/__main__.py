"""`make bench`: run every benchmark module of bench/ (each has `main()`), print and save their reports."""

import importlib
import pkgutil
import sys

import bench

# What `make bench` passes each module: the sweep seeds 20,000 stored invitations instead of 100,000 so the whole run
# stays within about ten minutes on two cores (its cost depends on the number expiring, not on the number stored).
MAKE_BENCH_ARGS = {"invitations": ["--stored", "20000"]}


def main() -> int:
    only = set(sys.argv[1:])
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_") or (only and info.name not in only):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if hasattr(module, "main"):
            print(f"== {info.name}", flush=True)
            module.main(MAKE_BENCH_ARGS.get(info.name, []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
