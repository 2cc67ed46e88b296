"""Patches of a prepared directory as a torch Dataset (memory-mapped scene arrays)."""

from pathlib import Path

import numpy as np
import torch

from pointseg.config import Config
from pointseg.data.augment import augment
from pointseg.data.features import PatchSample, PointAttributes, check_scene_features, point_features, voxel_mean
from pointseg.data.manifest import load_manifest
from pointseg.data.patches import TileTables, assemble
from pointseg.data.voxelize import voxelize
from pointseg.errors import InputError, InputNotFoundError

_ARRAYS = ("xyz", "labels", "order", "tile_offsets", "point_voxel", "voxel_offsets", "voxel_coords", "patch_offsets", "patch_tiles")
_OPTIONAL_ARRAYS = ("rgb", "intensity", "returns", "hag")  # present only for scenes whose files have them (hag: data.hag)


class PreparedScene:
    """A prepared scene's arrays, opened lazily with mmap (cheap to pickle into loader workers)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._arrays: dict[str, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        return {"directory": self.directory, "_arrays": None}

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            missing = [n for n in _ARRAYS if not (self.directory / f"{n}.npy").is_file()]
            if missing:
                raise InputNotFoundError(f"{self.directory}: missing {missing}; prepare the data again (tools/prepare_stpls3d.py --overwrite)")
            self._arrays = {n: _open_array(self.directory / f"{n}.npy") for n in _ARRAYS}
            for n in _OPTIONAL_ARRAYS:
                if (self.directory / f"{n}.npy").is_file():
                    self._arrays[n] = _open_array(self.directory / f"{n}.npy")
        return self._arrays

    def check(self, n_points: int) -> None:
        """Open every array now (in the main process, not in a loader worker) and check the point count."""
        a = self.arrays
        for name in ("xyz", "labels", "order", "point_voxel", *(n for n in _OPTIONAL_ARRAYS if n in a)):
            if len(a[name]) != n_points:
                raise InputError(f"{self.directory / name}.npy: {len(a[name])} rows, the manifest says {n_points} points; "
                                 f"prepare the data again (tools/prepare_stpls3d.py --overwrite)")
        self._arrays = None  # reopened lazily where used (loader workers get the path, not the maps)

    def _tiles(self, patch: int) -> np.ndarray:
        a = self.arrays
        return a["patch_tiles"][a["patch_offsets"][patch] : a["patch_offsets"][patch + 1]]

    def tables(self) -> TileTables:
        """The tile tables for pointseg.data.patches.assemble: torch views of the memory maps (nothing is copied)."""
        a = self.arrays
        return TileTables(np.asarray(a["tile_offsets"]), np.asarray(a["voxel_offsets"]), torch.from_numpy(a["order"]),
                          torch.from_numpy(a["point_voxel"]), torch.from_numpy(a["voxel_coords"]))

    def patch(self, patch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point indices (n,) ascending, voxel coords (V, 3) from 0, inverse (n,)) as prepared."""
        patch_points = assemble(self.tables(), [self._tiles(patch)])
        index, inverse = patch_points.index.numpy(), patch_points.inverse.numpy()
        perm = np.argsort(index)  # ascending rows: sequential reads from the memory map
        return index[perm], patch_points.coords[:, 1:].numpy(), inverse[perm]

    def patch_points(self, patch: int) -> np.ndarray:
        """The point indices (n,) of a patch, ascending (what patch() returns first, without its voxels)."""
        a = self.arrays
        offsets = a["tile_offsets"]
        parts = [a["order"][offsets[t] : offsets[t + 1]] for t in self._tiles(patch)]
        return np.sort(np.concatenate(parts)).astype(np.int64)


def _open_array(path: Path) -> np.ndarray:
    """np.load as a copy-on-write memory map (torch can view it; nothing is ever written back to the file); a
    truncated or corrupt file gets its name and the fix, not numpy's message."""
    try:
        return np.load(path, mmap_mode="c")
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: truncated or corrupt array ({err}); prepare the data again (tools/prepare_stpls3d.py --overwrite)") from None


class PatchDataset(torch.utils.data.Dataset):
    """The patches of one or more splits ('train', 'val', 'test'); with `train=True`, augmented and re-voxelized."""

    def __init__(self, prepared: str | Path, splits: str | tuple[str, ...], cfg: Config, train: bool = False, seed: int = 0):
        self.root = Path(prepared)
        self.manifest = load_manifest(self.root)
        voxel = self.manifest["data_config"]["voxel_size"]
        if abs(voxel - cfg.data.voxel_size) > 1e-9:
            raise InputError(f"{self.root}: prepared at voxel size {voxel} m, but the config asks for {cfg.data.voxel_size} m; prepare again or fix data.voxel_size")
        splits = (splits,) if isinstance(splits, str) else tuple(splits)
        self.cfg, self.train, self.seed = cfg, train, seed
        # in shared memory, so persistent loader workers see set_epoch() without being restarted
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self.scenes = {s["name"]: PreparedScene(self.root / "scenes" / s["name"]) for s in self.manifest["scenes"]}
        self.items = [(s["name"], p) for s in self.manifest["scenes"] for p in s["patches"] if p["split"] in splits]
        used = {name for name, _ in self.items}
        for s in self.manifest["scenes"]:  # older manifests have no "rgb"/"intensity" keys: every scene had rgb
            if s["name"] in used:
                present = {"rgb": s.get("rgb", True), "intensity": s.get("intensity", False), "returns": s.get("returns", False)}
                check_scene_features(s["file"], present, cfg.features, training=True)
                if cfg.features.needs_ground and not s.get("hag", False):
                    raise InputError(f"{self.root}: prepared without heights above ground, but the features use them (features.hag or "
                                     f"z_reference: ground); "
                                     f"prepare again with data.hag=true")
        self.intensity_reference = {s["name"]: s.get("intensity_reference") for s in self.manifest["scenes"]}
        if not self.items:
            counts = self.manifest["split"]["patches"]
            raise InputError(f"{self.root}: no patches in split(s) {list(splits)} (the prepared split has {counts}); "
                             f"prepare again with more training scenes, a smaller data.val_block_size or data.split_mode: paper")
        for s in self.manifest["scenes"]:
            if any(p["split"] in splits for p in s["patches"]):
                self.scenes[s["name"]].check(s["points"])

    def __len__(self) -> int:
        return len(self.items)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Augmentation draws depend on (seed, epoch, index): reproducible across workers and ranks.
        Call it before iterating the epoch's loader."""
        self._epoch.fill_(epoch)

    def __getitem__(self, index: int) -> PatchSample:
        name, patch = self.items[index]
        scene = self.scenes[name]
        augmenting = self.train and self.cfg.augment.enabled
        if augmenting:  # re-voxelized below: the prepared voxels are not needed
            points = scene.patch_points(patch["patch"])
        else:
            points, coords, inverse = scene.patch(patch["patch"])
        a, f = scene.arrays, self.cfg.features
        xyz = a["xyz"][points]
        wanted = {"rgb": f.rgb, "intensity": f.intensity, "returns": f.returns, "hag": f.needs_ground}
        attributes = PointAttributes(*(a[k][points] if on else None for k, on in wanted.items()), self.intensity_reference[name])
        labels = a["labels"][points].astype(np.int64)
        b = patch["bounds"]
        centre = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], np.float32)
        half = self.cfg.data.patch_size / 2
        if augmenting:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            xyz, attributes = augment(xyz, attributes, centre, self.cfg.augment, rng)
            vox = voxelize(xyz, self.cfg.data.voxel_size)
            coords, inverse = vox.coords, vox.inverse
        inverse_t = torch.from_numpy(np.asarray(inverse, np.int64))
        feats = point_features(torch.from_numpy(np.ascontiguousarray(xyz, np.float32)), torch.zeros(len(points), dtype=torch.int64),
                               torch.from_numpy(centre[None]), half, f, attributes.to_torch())
        return PatchSample(coords, voxel_mean(feats, inverse_t, len(coords)).numpy(), inverse_t.numpy(), labels, points)
