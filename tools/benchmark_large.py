"""Peak memory and time of prepare and infer on files of growing size: python tools/benchmark_large.py --ckpt CKPT
[--tiles 2,4,8] [--max-memory 3.5] [--stride S] [--compare] [--steps prepare,infer] [--work runs/large] [--keep].

For each --tiles n, makes (tools/make_big_laz.py, once) a LAZ of n x n synthetic 500 m scenes side by side (2, 4, 8:
about 10, 41 and 166 M points), then runs tools/prepare_stpls3d.py (configs/cpu_demo.yaml, the file as its only,
training scene) and tools/infer.py (--device cpu) on it with --max-memory, each as its own process, and reports
its wall time and peak resident memory (the process's ru_maxrss, from wait4) and the machine's load average. With
--compare, the first file is also labelled in memory (--max-memory 64) and the labels of the two runs are compared
point by point (streamed). --stride S labels at that stride (infer.stride; default the model's, 25 m): with S = the
patch size (50 m, side by side) each point is in one patch instead of four, about 4 times less work; its rows are kept
apart ("infer_stride50"). The table is printed as markdown and kept in WORK/benchmark_large.json, saved after each step.
Files are deleted after their measurements unless --keep (the made LAZ files stay; they take long to make).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.io.atomic import atomic_write_text
from pointseg.io.predictions import output_path

ROOT = Path(__file__).resolve().parents[1]


def measure(cmd: list[str], log: Path) -> dict:
    """Run cmd as a child process: wall and CPU seconds (user + system, all its threads), peak resident GiB (ru_maxrss),
    the machine's load average before and after."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONWARNINGS="ignore"))
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}; see {log}")
    return {"seconds": round(seconds, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "peak_gib": round(usage.ru_maxrss / 2**20, 3),
            "load": [round(load, 2), round(os.getloadavg()[0], 2)]}


def clear(folder: Path) -> None:
    """Remove a folder of an earlier measurement: only when it holds nothing but pointseg's own unchanged files (a
    prepared set, a labelled output); a user's folder of that name is refused with one line."""
    if not os.path.lexists(folder):
        return
    from pointseg.errors import OutputExistsError
    from pointseg.io.ownership import foreign_files

    found = [folder] if folder.is_symlink() or not folder.is_dir() else foreign_files(folder)
    if found:
        raise OutputExistsError(f"{folder}: holds files pointseg did not write ({found[0]}); nothing was removed; "
                                f"move it away or give another --work")
    shutil.rmtree(folder)


def compare_labels(a: Path, b: Path) -> tuple[int, int]:
    """(points whose pred_class is the same in both files, points), streamed chunk by chunk."""
    import laspy
    import numpy as np

    same = total = 0
    with laspy.open(str(a)) as ra, laspy.open(str(b)) as rb:
        for ca, cb in zip(ra.chunk_iterator(1 << 20), rb.chunk_iterator(1 << 20)):
            same += int(np.count_nonzero(np.asarray(ca["pred_class"]) == np.asarray(cb["pred_class"])))
            total += len(ca)
    return same, total


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--ckpt", default=str(ROOT / "runs/demo/work/best.pt"))
    ap.add_argument("--tiles", default="2,4,8", help="scenes per side of each file")
    ap.add_argument("--max-memory", type=float, default=3.5, help="GiB (infer.max_memory and data.max_memory)")
    ap.add_argument("--steps", default="prepare,infer")
    ap.add_argument("--compare", action="store_true", help="label the first file in memory too and compare the labels")
    ap.add_argument("--work", default=str(ROOT / "runs/large"))
    ap.add_argument("--keep", action="store_true", help="keep the prepared folders and labelled files")
    ap.add_argument("--stride", type=float, default=None, help="infer.stride in metres (default: the model's)")
    args = cli.parse(ap)

    py = sys.executable
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    steps = args.steps.split(",")
    results = json.loads((work / "benchmark_large.json").read_text()) if (work / "benchmark_large.json").is_file() else {}
    save = lambda: atomic_write_text(work / "benchmark_large.json", json.dumps(results, indent=1))  # noqa: E731
    key = "infer" if args.stride is None else f"infer_stride{args.stride:g}"
    stride = [] if args.stride is None else ["--stride", f"{args.stride:g}"]
    for k, n in enumerate(int(t) for t in args.tiles.split(",")):
        laz = work / f"big_{n}x{n}.laz"
        if not laz.is_file():
            subprocess.run([py, str(ROOT / "tools/make_big_laz.py"), "--out", str(laz), "--tiles", str(n)], check=True)
        import laspy

        with laspy.open(str(laz)) as r:
            points = r.header.point_count
        row = results.setdefault(laz.name, {})
        row.update(points=points, mib=round(laz.stat().st_size / 2**20), max_memory_gib=args.max_memory)
        if "prepare" in steps:
            src, prep = work / f"src_{n}", work / f"prep_{n}"
            src.mkdir(exist_ok=True)
            if not (src / laz.name).exists():
                (src / laz.name).symlink_to(laz.resolve())
            clear(prep)
            row["prepare"] = measure([py, str(ROOT / "tools/prepare_stpls3d.py"), "--src", str(src), "--out", str(prep), "--config", "cpu_demo",
                                      "--pattern", laz.name, "--class-map", "asprs", "--max-memory", str(args.max_memory)], work / f"prepare_{n}.log")
            print(laz.name, "prepare", row["prepare"], flush=True)
            save()
            if not args.keep:
                clear(prep)
        if "infer" in steps:
            out = work / f"pred_{n}"
            clear(out)
            infer = [py, str(ROOT / "tools/infer.py"), "--ckpt", args.ckpt, "--input", str(laz), "--device", "cpu", *stride]
            row[key] = measure(infer + ["--out", str(out), "--max-memory", str(args.max_memory)], work / f"{key}_{n}.log")
            print(laz.name, key, row[key], flush=True)
            save()
            if args.compare and k == 0:
                mem = work / f"pred_{n}_memory"
                clear(mem)
                row[f"{key}_in_memory"] = measure(infer + ["--out", str(mem), "--max-memory", "64"], work / f"{key}_{n}_memory.log")
                same, total = compare_labels(output_path(mem, laz), output_path(out, laz))
                row[key.replace("infer", "labels_equal")] = {"same": same, "points": total, "fraction": same / total}
                print(laz.name, "in memory", row[f"{key}_in_memory"], "labels equal:", row[key.replace("infer", "labels_equal")], flush=True)
                if not args.keep:
                    clear(mem)
            if not args.keep:
                clear(out)
        save()
    print("| file | points | LAZ | prepare: wall, CPU, peak | infer (stride): wall, CPU, peak | infer: CPU us per point | load |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        p = r.get("prepare", {})
        for what in sorted(k for k in r if k.startswith("infer") and not k.endswith("_in_memory")) or ["infer"]:
            i = r.get(what, {})
            print(f"| {name} | {r['points'] / 1e6:.1f} M | {r['mib']} MiB | {p.get('seconds', '-')} s, {p.get('cpu_seconds', '-')} s, "
                  f"{p.get('peak_gib', '-')} GiB | {what.replace('infer_stride', 'stride ').replace('infer', 'model default')}: "
                  f"{i.get('seconds', '-')} s, {i.get('cpu_seconds', '-')} s, {i.get('peak_gib', '-')} GiB | "
                  f"{1e6 * i['cpu_seconds'] / r['points'] if 'cpu_seconds' in i else 0:.1f} | {p.get('load', '-')}, {i.get('load', '-')} |")


if __name__ == "__main__":
    cli.run(main)
