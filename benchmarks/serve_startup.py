"""``tubelet serve`` cold start: a fresh Python process imports gradio and tubelet, builds the page with the default
weights (the small random UniFormer, or ``--checkpoint``), writes the sample clips, starts the server, fetches the
page over HTTP and classifies one sample clip through the page's request code (:func:`tubelet.serve.classify`, with
the saliency map, as the page does by default). Each run is a new process, so imports and first-call costs count.

    python benchmarks/serve_startup.py [--runs 3] [--checkpoint FILE]

Prints the seconds of each phase per run and the median of the total (startup + first prediction); the page's own
target is under 10 s on a laptop CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, os, socket, sys, time, urllib.request
t0 = time.perf_counter()
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
import gradio  # noqa: F401
from tubelet import serve
t_import = time.perf_counter()
demo = serve.build_app(checkpoint=sys.argv[1] or None, released=True)
t_build = time.perf_counter()
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
url = serve.launch(demo, port=port, quiet=True)
assert urllib.request.urlopen(url, timeout=30).status == 200
t_page = time.perf_counter()
sample = sorted(p for p in os.listdir(demo.tubelet_work_dir + "/samples") if not p.startswith("four"))[0]
out = serve.classify(demo.tubelet_state, os.path.join(demo.tubelet_work_dir, "samples", sample), None)
t_pred = time.perf_counter()
serve.close(demo)
print(json.dumps({"import": t_import - t0, "build": t_build - t_import, "serve": t_page - t_build,
                  "predict": t_pred - t_page, "total": t_pred - t0, "top1": out["topk"][0]["label"]}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--checkpoint", default="", help="default weights of the page (default: small random UniFormer)")
    args = p.parse_args()
    totals = []
    print(f"{'run':>3}  {'import':>7}  {'build':>7}  {'serve':>7}  {'predict':>7}  {'total':>7}  (seconds)")
    for i in range(args.runs):
        done = subprocess.run([sys.executable, "-c", CHILD, args.checkpoint], capture_output=True, text=True,
                              env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}, check=False)
        if done.returncode:
            sys.exit(f"run {i + 1} failed:\n{done.stderr}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        totals.append(r["total"])
        print(f"{i + 1:>3}  {r['import']:7.2f}  {r['build']:7.2f}  {r['serve']:7.2f}  {r['predict']:7.2f}  "
              f"{r['total']:7.2f}")
    print(f"median startup + first prediction: {statistics.median(totals):.2f} s over {len(totals)} runs "
          f"(CPU threads: {os.cpu_count()})")


if __name__ == "__main__":
    main()
