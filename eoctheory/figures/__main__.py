r"""Write the paper's figures: ``python -m eoctheory.figures [NAMES] [options]``.

By default every figure in :data:`eoctheory.figures.REGISTRY` is written to ``figures/``
under the current directory as PNG and PDF. Options::

    NAMES            only these figures (e.g. fig3 fig4)
    --outdir DIR     output folder (created if missing; default: figures)
    --format LIST    comma-separated formats among png, pdf, svg (default: png,pdf)
    --dpi N          raster resolution, 1 to 1200 (default: 130)
    --list           print the figures and their descriptions, write nothing

One line per figure (its files and time), then a total. A bad option, figure name or output
folder prints one line on stderr and exits with status 2 before any figure is computed;
each file is written atomically (:mod:`eoctheory.files`). Exit codes as for
``python -m eoctheory`` (:mod:`eoctheory.cli.main`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

FORMATS = ("png", "pdf", "svg")
DEFAULT_DPI = 130
#: Largest ``--dpi``: print journals ask for 300-600; 1200 keeps the largest figure's PNG
#: under 12000 x 9000 pixels (about 0.4 GB of raster) and far from Agg's 2**16 pixel limit.
MAX_DPI = 1200
#: The largest figure of the registry, in inches (for the raster memory estimate).
LARGEST_FIGURE = (9.0, 7.0)
PROG = "python -m eoctheory.figures"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _parser() -> _Parser:
    from eoctheory.cli.main import integer

    p = _Parser(prog=PROG,
                description="Write the paper's figures (PNG for the README, PDF for papers).")
    p.add_argument("names", nargs="*", metavar="NAME", help="figures to make (default: all)")
    p.add_argument("--outdir", default="figures", help="output folder (default: figures)")
    p.add_argument("--format", default="png,pdf",
                   help="comma-separated formats among png, pdf, svg (default: png,pdf)")
    p.add_argument("--dpi", type=integer(1, MAX_DPI), default=DEFAULT_DPI,
                   help=f"raster resolution, 1 to {MAX_DPI} (default: {DEFAULT_DPI})")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command; returns the exit code (2 for a user mistake, 141 on a closed pipe)."""
    from eoctheory.cli.main import run_entry_point

    return run_entry_point(PROG, _main, argv)


def _main(argv: list[str] | None) -> int:
    from eoctheory.files import atomic_output, check_output_file, check_writable_dir
    from eoctheory.limits import check_resources

    t_start = time.perf_counter()
    parser = _parser()
    args = parser.parse_args(argv)
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if not formats or bad:
        parser.error(f"unknown format {bad[0] if bad else args.format!r}; "
                     f"choose from {', '.join(FORMATS)}")
    if "png" in formats:  # an RGBA raster, plus the copies made while encoding it
        w_in, h_in = LARGEST_FIGURE
        check_resources(f"--dpi {args.dpi}", hint="lower --dpi",
                        nbytes=3 * 4 * (w_in * args.dpi) * (h_in * args.dpi))

    import matplotlib

    if "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")  # headless by default
    from . import REGISTRY

    if args.list:
        width = max(map(len, REGISTRY))
        for name, (_func, desc) in REGISTRY.items():
            print(f"{name:<{width}}  {desc}")
        return 0
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown figure {unknown[0]!r}; known: {', '.join(REGISTRY)}")
    names = list(dict.fromkeys(args.names)) or list(REGISTRY)
    outdir = check_writable_dir(args.outdir, "--outdir", create=True)
    for name in names:  # a directory, device or symbolic link at a target name: refuse now
        for fmt in formats:
            path = outdir / f"{name}.{fmt}"
            if path.exists() or path.is_symlink():
                check_output_file(path, "--outdir")
    width = max(map(len, names))
    for name in names:
        t0 = time.perf_counter()
        fig = REGISTRY[name][0]()
        paths = []
        for fmt in formats:
            path = os.path.join(args.outdir, f"{name}.{fmt}")
            # fixed metadata: reproducible files (no creation date in the PDF/SVG)
            meta = {"png": {"Software": None}, "pdf": {"CreationDate": None},
                    "svg": {"Date": None}}[fmt]
            os.makedirs(outdir, exist_ok=True)  # checked above; created at the first write
            with atomic_output(path) as tmp:
                fig.savefig(tmp, dpi=args.dpi, format=fmt, metadata=meta)
            paths.append(path)
            # the first save ran the constrained layout; keep those positions for the
            # other formats instead of solving it again (saves ~30% per extra format)
            fig.set_layout_engine("none")
        print(f"{name:<{width}}  {time.perf_counter() - t0:6.2f} s  {'  '.join(paths)}",
              flush=True)
    print(f"{'total':<{width}}  {time.perf_counter() - t_start:6.2f} s  "
          f"({len(names)} figure{'s' if len(names) != 1 else ''}, {','.join(formats)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
