"""Command line: `python -m sim --port 0 --size tiny --seed 1 [--latency-ms 50 ...]`.

Prints the base URL as the first stdout line, then serves until SIGTERM or SIGINT.
`--print-categories` prints the catalogue's category ids instead (comma-separated,
the crawler's CATEGORIES) and exits: `CATEGORIES=$(python -m sim --print-categories)`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from sim.catalog import MAX_BRANDS, MAX_CATEGORIES, MAX_PRODUCTS, PRESETS, Catalog, Size
from sim.dashboard import add_dashboard_arguments, dashboard_options
from sim.faults import DEFAULT_KNOBS, Faults, KnobError
from sim.images import add_images_arguments, images_options
from sim.server import make_app, serve

log = logging.getLogger("sim")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--products", type=int, help="overrides the preset")
    parser.add_argument("--categories", type=int, help="overrides the preset")
    parser.add_argument("--brands", type=int, help="overrides the preset")
    parser.add_argument(
        "--print-categories",
        action="store_true",
        help="print the catalogue's category ids (comma-separated, for the crawler's "
        "CATEGORIES) and exit without serving",
    )
    knobs = parser.add_argument_group("fault knobs (see sim/faults.py)")
    for name, default in DEFAULT_KNOBS.items():
        flag = "--" + name.replace("_", "-")
        kind = str if isinstance(default, list) else type(default)
        knobs.add_argument(
            flag,
            dest=name,
            type=kind,
            default=None,
            help=f"default {default!r}" + (" (comma-separated)" if kind is str else ""),
        )
    add_dashboard_arguments(parser)
    add_images_arguments(parser)
    return parser.parse_args(argv)


def size_from(args: argparse.Namespace) -> Size:
    preset = PRESETS[args.size]
    size = Size(
        products=args.products if args.products is not None else preset.products,
        categories=args.categories if args.categories is not None else preset.categories,
        brands=args.brands if args.brands is not None else preset.brands,
    )
    if not 1 <= size.products <= MAX_PRODUCTS:
        raise SystemExit(f"--products must be within 1..{MAX_PRODUCTS}, got {size.products}")
    if not 1 <= size.categories <= MAX_CATEGORIES:
        raise SystemExit(f"--categories must be within 1..{MAX_CATEGORIES}, got {size.categories}")
    if not 1 <= size.brands <= MAX_BRANDS:
        raise SystemExit(f"--brands must be within 1..{MAX_BRANDS}, got {size.brands}")
    return size


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    log.setLevel(logging.INFO)  # one start-up line on stderr; stdout holds only the URL
    args = parse_args(argv)
    size = size_from(args)
    knobs = {name: getattr(args, name) for name in DEFAULT_KNOBS if getattr(args, name) is not None}
    try:
        faults = Faults(args.seed, knobs)
    except KnobError as exc:
        raise SystemExit(f"bad knob flag: {exc}") from None
    started = time.perf_counter()
    catalog = Catalog(args.seed, size)
    categories = ",".join(str(c.id) for c in catalog.categories)
    if args.print_categories:
        print(categories, flush=True)
        return 0
    log.info(
        "catalogue of %d products built in %.2f s; CATEGORIES=%s",
        size.products,
        time.perf_counter() - started,
        categories,
    )
    asyncio.run(
        serve(
            make_app(catalog, faults, dashboard_options(args), images_options(args)),
            args.host,
            args.port,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
