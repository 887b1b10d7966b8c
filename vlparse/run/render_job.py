"""``vlparse render``: the rendering stage on its own.

For pipelines that render on CPU machines ahead of GPU work, or feed another client: one PNG per
page at the model's native size plus a JSON sidecar with everything needed to map an answer made
elsewhere back onto the page (sizes in pixels and points, rotation, zoom, family, pixel budget).

Layout: ``DIR/<input name>/page-0001.png`` and ``page-0001.json``. Writes are atomic; a rerun skips
pages whose sidecar already records the same settings (``--force`` redoes them). No torch import.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vlparse.run import console
from vlparse.run.atomic import atomic_save_image, atomic_write_text
from vlparse.core.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UsageError, VlparseError
from vlparse.core.families import Family
from vlparse.core.geometry import Budget
from vlparse.core.results import SCHEMA_VERSION
from vlparse.pages.inputs import expand_inputs
from vlparse.run.outputs import unique_names
from vlparse.pages.render import open_source, parse_page_selection

#: --format -> (Pillow format, suffix, save options); both lossless, so coordinates and pixels stay exact
FORMATS = {"png": ("PNG", ".png", {"compress_level": 1}), "webp": ("WEBP", ".webp", {"lossless": True})}


@dataclass(kw_only=True)
class RenderOptions:
    inputs: list[str]
    output: str
    family: Family
    budget: Budget
    task: str = "doc"
    pages: str | None = None
    dpi: float | None = None
    password: str | None = None
    recursive: bool = False
    image_format: str = "png"
    force: bool = False
    jsonl: bool = False
    workers: int = 1  # processes rendering pages in parallel


def compact(image):
    """A grey page (R = G = B everywhere, as most documents are) as a one-channel image: the same pixels,
    a third of the data to encode. Readers that convert to RGB (the processors, vLLM) get the identical page."""
    from PIL import ImageChops

    if image.mode == "RGB":
        r, g, b = image.split()
        if ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(g, b).getbbox() is None:
            return r
    return image


def sidecar(page, opts: RenderOptions, image_file: str) -> dict:
    info = page.info
    return {
        "schema_version": SCHEMA_VERSION, "source": info.source, "page": info.page, "kind": info.kind, "image": image_file,
        "width_px": info.frame.width, "height_px": info.frame.height,
        "model_width": info.frame.model_width, "model_height": info.frame.model_height,
        "width_pt": info.width_pt, "height_pt": info.height_pt, "rotation": info.rotation,
        "zoom_x": info.zoom_x, "zoom_y": info.zoom_y,
        "family": opts.family.name, "task": opts.task,
        "min_pixels": opts.budget.min_pixels, "max_pixels": opts.budget.max_pixels, "dpi": opts.dpi,
    }


def _settings(opts: RenderOptions) -> dict:
    return {"family": opts.family.name, "task": opts.task, "min_pixels": opts.budget.min_pixels,
            "max_pixels": opts.budget.max_pixels, "dpi": opts.dpi}


def _done(meta_path: Path, opts: RenderOptions, image_path: Path) -> bool:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return image_path.exists() and all(meta.get(k) == v for k, v in _settings(opts).items())


@dataclass(frozen=True)
class _Job:
    source: str
    page: int
    image_path: Path
    meta_path: Path


_OPEN: dict[str, object] = {}  # per worker process: the source being rendered (pages of one input come in a row)


def _render_one(job: _Job, opts: RenderOptions) -> dict:
    """Render one page and write its image and sidecar; returns the sidecar, or {"error": ...}."""
    fmt, _, save_options = FORMATS[opts.image_format]
    try:
        src = _OPEN.get(job.source)
        if src is None:
            for old in _OPEN.values():
                old.close()  # type: ignore[attr-defined]
            _OPEN.clear()
            src = _OPEN[job.source] = open_source(job.source, password=opts.password)
        page = src.page(job.page, opts.family, opts.budget, dpi=opts.dpi)  # type: ignore[attr-defined]
    except VlparseError as e:
        return {"source": job.source, "page": job.page, "error": e.message}
    image = compact(page.image)
    atomic_save_image(job.image_path, image, fmt, **save_options)
    meta = {**sidecar(page, opts, job.image_path.name), "mode": image.mode}
    atomic_write_text(job.meta_path, json.dumps(meta, indent=2) + "\n")
    return meta


def _run_jobs(jobs: list[_Job], opts: RenderOptions, workers: int):
    """Results in job order; several processes when there is enough work (MuPDF renders one page per core)."""
    if workers <= 1 or len(jobs) < 4:
        for job in jobs:
            yield _render_one(job, opts)
        _OPEN.clear()
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        yield from pool.map(partial(_render_one, opts=opts), jobs, chunksize=max(1, min(8, len(jobs) // (4 * workers))))


def run_render(opts: RenderOptions) -> int:
    if opts.image_format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    _, suffix, _ = FORMATS[opts.image_format]
    found = expand_inputs(opts.inputs, recursive=opts.recursive, stdin=sys.stdin)
    if not found.paths and not found.problems:
        raise UsageError("no inputs (give PDFs or images, a directory, or - to read paths from stdin)")
    root = Path(opts.output)
    if root.exists() and not root.is_dir():
        raise UsageError(f"-o {opts.output} is a file; vlparse render writes a directory")
    names = unique_names(found.paths)
    failed = len(found.problems)
    for path, problem in found.problems:
        console.error(f"{path}: {problem}")
    jobs: list[_Job] = []
    skipped = 0
    t0 = time.perf_counter()
    for source in found.paths:
        folder = root / names[source]
        try:
            with open_source(source, password=opts.password) as src:
                numbers = parse_page_selection(opts.pages, src.page_count)
        except VlparseError as e:
            console.error(f"{source}: {e.message}")
            failed += 1
            continue
        for n in numbers:
            job = _Job(source, n, folder / f"page-{n:04d}{suffix}", folder / f"page-{n:04d}.json")
            if not opts.force and _done(job.meta_path, opts, job.image_path):
                skipped += 1
            else:
                jobs.append(job)
    done = 0
    for meta in _run_jobs(jobs, opts, opts.workers):
        if "error" in meta:
            console.error(f"{meta['source']} page {meta['page']}: {meta['error']}")
            failed += 1
            continue
        done += 1
        if opts.jsonl:
            sys.stdout.write(json.dumps({**meta, "image": str(root / names[meta["source"]] / meta["image"])}) + "\n")
            sys.stdout.flush()
    seconds = time.perf_counter() - t0
    extra = f", {skipped} already there" if skipped else ""
    console.info(f"vlparse: rendered {done} page(s){extra} in {seconds:.2f}s"
                 + (f" ({done / seconds:.1f} pages/s)" if done and seconds else "") + f" into {root}")
    if failed:
        only_input_failed = len(found.paths) + len(found.problems) == 1 and not (done or skipped)
        return EXIT_USAGE if only_input_failed else EXIT_PARTIAL
    return EXIT_OK
