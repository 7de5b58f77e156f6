"""`make bench`: run every benchmark module of bench/ (each has `main()`), print and save their reports."""

import importlib
import inspect
import pkgutil
import sys

import bench

# What `make bench` passes each module: the sweep seeds 20,000 stored invitations instead of 100,000 so the whole run
# stays within about ten minutes on two cores (its cost depends on the number expiring, not on the number stored).
MAKE_BENCH_ARGS = {"invitations": ["--stored", "20000"], "funnel": ["--stored", "100000", "--azurite", "5000"]}
# The whole fault sweep takes about half an hour: it runs on its own (`python -m bench.faults`), not in `make bench`.
ON_ITS_OWN = {"faults", "results_file"}


def main() -> int:
    only = set(sys.argv[1:])
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_") or (only and info.name not in only) or (not only and info.name in ON_ITS_OWN):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if hasattr(module, "main"):
            print(f"== {info.name}", flush=True)
            args = MAKE_BENCH_ARGS.get(info.name, [])
            module.main(args) if inspect.signature(module.main).parameters else module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
