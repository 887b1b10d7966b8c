"""Per-CPU rates of the CPU stages of a ``--ray`` job, for sizing a cluster (README, "Sizing").

One process, one thread, so the figures are pages per second per CPU core:

- render: ``vlparse.integrations.ray.render_pages`` on the example PDF's pages at the Qwen2.5-VL document
  budget (1232x1764 for an A4 page), raw RGB bytes out, as the Ray stage ships them;
- parse + export: ``parse_pages`` on the recorded QwenVL HTML answers (parsing, validation, mapping to pixels
  and PDF points), then the JSON, Markdown and HTML exports of the results.

    python benchmarks/ray_stage_rates.py [--pages 60]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=60, help="pages rendered and parsed (cycles the sample's pages)")
    ap.add_argument("--render-batch", type=int, default=4, help="pages per render call (the stage's batch)")
    args = ap.parse_args()

    import pandas as pd

    from vlparse.backends.factory import BackendOptions
    from vlparse.core.results import Document, PageResult
    from vlparse.export.document import render_text
    from vlparse.integrations.ray import ModelStage, list_pages, make_spec, parse_pages, render_pages, source_rows

    answers = ROOT / "examples/answers/qwen2.5-vl/sample-pdf"
    spec = make_spec("doc", BackendOptions(family="qwen2.5-vl", from_output=str(answers)))
    sample = str(ROOT / "examples/sample.pdf")
    listed = list_pages(source_rows([sample])[0], spec)
    rows = [dict(listed[i % len(listed)]) for i in range(args.pages)]

    t = time.perf_counter()
    rb = args.render_batch
    rendered = [render_pages(pd.DataFrame(rows[i:i + rb]), spec) for i in range(0, len(rows), rb)]
    t_render = time.perf_counter() - t
    model = ModelStage(spec)
    answered = [model(df.iloc[[i]]) for df in rendered for i in range(len(df))]  # recorded answers: no model time
    t = time.perf_counter()
    parsed = [parse_pages(df, spec) for df in answered]
    t_parse = time.perf_counter() - t
    results = [PageResult.from_dict(json.loads(df.iloc[0]["result"])) for df in parsed]
    t = time.perf_counter()
    for i in range(0, len(results), 2):  # two-page documents, as the sample
        doc = Document(sample, "qwen2.5-vl", "recorded", results[i:i + 2])
        for fmt in ("json", "md", "html"):
            render_text(doc, fmt)
    t_export = time.perf_counter() - t
    size = json.loads(rendered[0].iloc[0]["info"])
    print(f"pages: {args.pages} ({size['width_px']}x{size['height_px']} px, Qwen2.5-VL document budget), "
          f"render batch {rb}, 1 thread, cpu_count={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"python {sys.version.split()[0]}")
    print(f"{'stage':<22}{'seconds':>9}{'pages/s/CPU':>13}")
    for name, secs in (("render", t_render), ("parse+validate+map", t_parse), ("export json+md+html", t_export),
                       ("parse+export", t_parse + t_export)):
        print(f"{name:<22}{secs:>9.2f}{args.pages / secs:>13.1f}")


if __name__ == "__main__":
    main()
