"""Text-scene reading speed by pandas engine: python tools/benchmark_read.py [--scene FILE] [--repeats 5].

Times, interleaved, pandas.read_csv of an STPLS3D scene with the C engine and with the pyarrow engine
(multi-threaded: pyarrow's pool has as many threads as the process may use cores), and read_stpls3d_txt
(parse + validation) with each; checks that both engines give bit-identical float64 coordinates and the
same colours, labels and instances. With --laz it also writes the scene as LAZ and times read_las with
laspy's single-threaded lazrs backend against its parallel one (LazrsParallel, laspy's default when lazrs is
installed), checking that both give the same points. Without --scene it writes a 500 m synthetic scene (about 2.3 M points)
to runs/bench/ first.
"""

import statistics
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli

ENGINES = ("c", "pyarrow")


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--scene", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--laz", action="store_true", help="also time LAZ decompression, single-threaded vs parallel lazrs")
    args = cli.parse(ap)

    import numpy as np
    import pandas as pd
    import pyarrow

    import pointseg.io.stpls3d as stpls3d
    from pointseg.synthetic.files import ensure_scenes

    scene = Path(args.scene) if args.scene else ensure_scenes("runs/bench", [1])[0]
    parse = {e: [] for e in ENGINES}
    read = {e: [] for e in ENGINES}
    cpu = {e: [] for e in ENGINES}
    scenes = {}
    for _ in range(args.repeats):
        for engine in ENGINES:
            t = time.perf_counter()
            frame = pd.read_csv(scene, header=None, engine=engine)
            parse[engine].append(time.perf_counter() - t)
            del frame
            stpls3d.CSV_ENGINE = engine
            t, c = time.perf_counter(), time.process_time()
            scenes[engine] = stpls3d.read_stpls3d_txt(scene)
            read[engine].append(time.perf_counter() - t)
            cpu[engine].append(time.process_time() - c)
    a, b = scenes["c"], scenes["pyarrow"]
    same = (np.array_equal(a.xyz.view(np.int64), b.xyz.view(np.int64)) and np.array_equal(a.rgb, b.rgb)
            and np.array_equal(a.labels, b.labels) and np.array_equal(a.instance, b.instance))
    print(f"scene {scene}: {len(a):,} points, {scene.stat().st_size / 2**20:.0f} MiB; pyarrow {pyarrow.__version__} "
          f"with {pyarrow.cpu_count()} threads; results of the two engines bit-identical: {same}")
    for engine in ENGINES:
        print(f"{engine:>8}: read_csv median {statistics.median(parse[engine]):.3f} s (min {min(parse[engine]):.3f}); "
              f"read_stpls3d_txt median {statistics.median(read[engine]):.3f} s (min {min(read[engine]):.3f}; "
              f"CPU time, all threads, median {statistics.median(cpu[engine]):.3f} s)")
    c, p = statistics.median(read["c"]), statistics.median(read["pyarrow"])
    print(f"read_stpls3d_txt pyarrow / c: {p / c:.2f} (medians), {min(read['pyarrow']) / min(read['c']):.2f} (minima)")
    if args.laz:
        time_laz(a, scene.with_suffix(".laz"), args.repeats)


def time_laz(scene, laz: Path, repeats: int) -> None:
    import laspy
    import numpy as np

    from pointseg.io.las import read_las, write_las_new

    if not laz.exists():
        write_las_new(laz, scene.xyz, scene.rgb, {})
    backends = {"lazrs": laspy.LazBackend.Lazrs, "lazrs parallel": laspy.LazBackend.LazrsParallel}
    times = {k: [] for k in backends}
    results = {}
    for _ in range(repeats):
        for name, backend in backends.items():
            t = time.perf_counter()
            results[name] = read_las(laz, None, backend)
            times[name].append(time.perf_counter() - t)
    same = all(np.array_equal(results["lazrs"].xyz, r.xyz) and np.array_equal(results["lazrs"].rgb, r.rgb) for r in results.values())
    print(f"LAZ {laz}: {laz.stat().st_size / 2**20:.0f} MiB; the backends give the same points: {same}")
    for name in backends:
        print(f"{name:>15}: read_las median {statistics.median(times[name]):.3f} s (min {min(times[name]):.3f})")


if __name__ == "__main__":
    cli.run(main)
