"""`hera-build templates` against Hera's own `hera generate yaml`, on one generated project of N templates.

Both run as fresh processes over the same modules (Hera's export loads the files; hera-build imports the modules
by name), each repeated, in one run; prints the medians and the ratio. Target (issue 12): hera-build <= 0.8x
Hera's export. Needs `hera[cli]` (in the test extra, so the README set-up installs it).

hera-build runs as users run it, with a cache of its own that starts empty: its first run builds everything
(printed apart, as "first run"), the next ones reuse it (nothing changed in between). `--no-cache` runs, also
interleaved, show the cost of building everything every time.

    .venv/bin/python bench/templates_vs_hera.py --count 500 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.genproject import generate

BIN = Path(sys.executable).parent


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        modules = generate(root, args.count)
        env = {**os.environ, "PYTHONPATH": str(root)}  # the generated project, importable by name
        assert len(modules) > 0
        package = root / modules[0].partition(".")[0]
        env["HERA_BUILD_CACHE_DIR"] = str(Path(tmp) / "cache")  # empty: the first run builds everything
        hera = [str(BIN / "hera"), "generate", "yaml", str(package), "--to", str(Path(tmp) / "hera-out")]
        ours = [str(BIN / "hera-build"), "templates", "--out", str(Path(tmp) / "hb-out"), "--force"]
        uncached = [*ours[:-2], str(Path(tmp) / "hb-uncached"), "--force", "--no-cache"]
        names = ("hera generate yaml", "hera-build templates", "hera-build --no-cache")
        results: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.repeat):  # interleaved, so drift affects all alike
            for name, command in zip(names, (hera, ours, uncached), strict=True):
                results[name].append(timed(command, root, env))
    medians = {name: statistics.median(times) for name, times in results.items()}
    hera_median = medians["hera generate yaml"]
    print(f"{args.count} WorkflowTemplates, {args.repeat} runs each (median seconds; load {os.getloadavg()[0]:.1f})")
    for name, median in medians.items():
        print(f"  {name:24s} {median:7.3f}  (min {min(results[name]):.3f}, max {max(results[name]):.3f})")
    first = results["hera-build templates"][0]
    print(f"  {'hera-build first run':24s} {first:7.3f}  (empty cache)")
    ratio = medians["hera-build templates"] / hera_median
    print(f"  ratio hera-build / hera  {ratio:7.2f}  (target <= 0.80: {'met' if ratio <= 0.8 else 'NOT met'})")
    print(f"  first run / hera         {first / hera_median:7.2f}")
    print(f"  --no-cache / hera        {medians['hera-build --no-cache'] / hera_median:7.2f}")


if __name__ == "__main__":
    main()
