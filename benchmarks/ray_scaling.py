"""Throughput of a ``--ray`` job against the number of model workers, with a fake model of fixed latency.

The model stage is vlparse's (recorded answers) plus a sleep of ``--latency`` seconds per batch, standing in for
a GPU or a server; the list, render and parse stages are the real ones. Each model worker asks for a sliver of
a CPU, so many fit on this machine: the question is whether the job keeps N model workers busy (pages/s ~ N /
latency) until rendering or the driver becomes the bottleneck. Starts a local Ray (``--num-cpus``).

    python benchmarks/ray_scaling.py [--pages 48] [--latency 0.5] [--workers 1 2 4 8] [--num-cpus 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=48)
    ap.add_argument("--latency", type=float, default=0.5, help="seconds per model batch (batch size 1)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--num-cpus", type=int, default=2)
    args = ap.parse_args()

    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    import ray

    from vlparse.backends.factory import BackendOptions
    from vlparse.integrations import ray as vray
    from vlparse.integrations.ray import RaySettings, make_spec, process, source_rows

    latency = args.latency

    class SlowModel(vray.ModelStage):
        def __call__(self, batch):
            time.sleep(latency * max(1, len(batch)))  # the fake model: a fixed time per page
            return super().__call__(batch)

    answers = ROOT / "examples/answers/qwen2.5-vl/sample-pdf"
    spec = make_spec("doc", BackendOptions(family="qwen2.5-vl", from_output=str(answers), batch_size=1))
    ray.init(address="local", num_cpus=args.num_cpus, object_store_memory=512 * 1024 ** 2, include_dashboard=False,
             logging_level=logging.ERROR, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.issue_detectors_config.high_memory_detector_config.detection_time_interval_s = -1
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    sample = str(ROOT / "examples/sample.pdf")
    docs = max(1, args.pages // 2)  # the sample has 2 pages
    print(f"{args.pages} pages ({docs} x sample.pdf), fake model latency {latency:.2f} s/page, batch 1, "
          f"local Ray with {args.num_cpus} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("seconds/pages/s: the whole job (Ray start-up of the actors included); steady: pages/s from the first "
          "page out to the last")
    print(f"{'workers':>8}{'seconds':>9}{'pages/s':>9}{'steady':>8}{'ideal':>8}{'speedup':>9}")
    base = None
    try:
        for n in args.workers:
            rows = source_rows([sample] * docs)
            ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 64))
            settings = RaySettings(model_workers=n, cpus_per_model_worker=0.01, cpus_render=0.5, cpus_parse=0.25)
            t = time.perf_counter()
            stamps = [time.perf_counter() for _ in process(ds, spec, settings, model_stage=SlowModel).iter_rows()]
            secs = stamps[-1] - t
            rate = len(stamps) / secs
            steady = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)
            base = base or steady
            print(f"{n:>8}{secs:>9.1f}{rate:>9.2f}{steady:>8.2f}{n / latency:>8.1f}{steady / base:>9.2f}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
