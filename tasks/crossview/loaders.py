"""The published cross-view datasets, each read in its own layout into a `Pool`: CV-Cities, CVUSA, CVACT,
VIGOR and University-1652."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from geobench import data
from geobench.api import OnRequestSource
from geobench.errors import GeobenchError
from geobench.pairing import attributes

from .pool import Pool, Query, Tile, images, is_number, read_rows, subdirs
from .task import CrossViewTask

# ---------------------------------------------------------------------------------------------- CV-Cities


class CVCities(CrossViewTask):
    """CV-Cities (Gao et al., "CV-Cities: Advancing Cross-View Geo-Localization in Global Cities", IEEE JSTARS
    18:1592-1606, arXiv 2411.12431; https://github.com/GaoShuang98/CVCities, data on the Hugging Face hub at
    gaoshuang98/CV-Cities): 223,736 ground-satellite pairs in 16 cities. Geo-R1's RL data comes from it.

    Layout implemented (the authors' loader, `cvcities_base/dataset/cvcities.py`):
        <root>/<city>/img_info.csv   no header; columns: name, longitude, latitude, city, sat_dir, pano_dir
        <root>/<sat_dir>, <root>/<pano_dir>   image paths relative to <root>
    Splits are by city as in the authors' training script: train = barcelona, captown, losangeles, maynila,
    melbourne, mexico, newyork, paris, santiago, tokyo; test = taipei, singapore, london, seattle, rio,
    sydney (`cities=` overrides). Note longitude comes before latitude. Negatives: other rows of the same
    split within radius_km by GPS (haversine). A first row whose coordinates are not numbers is taken as a
    header; an optional 7th column `key=value;...` (geobench's extension, written by the toy exporter) gives
    visual attributes: negatives must then differ from the truth in >= min_diff of them.
    """

    name = "cvcities"
    description = "CV-Cities cross-view pairing: pick the satellite tile of a ground photo among k (16 cities)"
    source = OnRequestSource(homepage="https://github.com/GaoShuang98/CVCities",
                             where="https://huggingface.co/datasets/gaoshuang98/CV-Cities",
                             instructions="one folder per city with img_info.csv (layout: github.com/GaoShuang98/CVCities)")
    source_note = "https://huggingface.co/datasets/gaoshuang98/CV-Cities (layout: github.com/GaoShuang98/CVCities)"
    TRAIN_CITIES = ("barcelona", "captown", "losangeles", "maynila", "melbourne", "mexico", "newyork", "paris",
                    "santiago", "tokyo")
    TEST_CITIES = ("taipei", "singapore", "london", "seattle", "rio", "sydney")

    def __init__(self, *args, cities: dict[str, Iterable[str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.cities = {"train": tuple(self.TRAIN_CITIES), "test": tuple(self.TEST_CITIES)}
        if cities:
            self.cities.update({s: tuple(c) for s, c in cities.items()})
        self.splits = tuple(self.cities)

    def _split_cities(self, split: str) -> tuple[str, ...]:
        if split not in self.cities:
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: {', '.join(self.cities)}")
        return self.cities[split]

    def expected(self, split):
        return [f"{c}/img_info.csv" for c in self._split_cities(split)]

    def read_pool(self, split):
        root = self.root()
        queries, tiles, pos = [], [], []
        for city in self._split_cities(split):
            path = data.safe_join(root, f"{city}/img_info.csv")
            for n, row in enumerate(read_rows(path, 6), 1):
                name, lon, lat, _, sat_dir, pano_dir = row[:6]
                if n == 1 and not is_number(lon):
                    continue  # a header line
                try:
                    la, lo = data.lat_lon(lat, lon, f"{path}:{n}")
                except data.DataError as e:
                    data.skip(e)
                    continue
                rid = f"{city}/{name}"
                tiles.append(Tile(rid, data.safe_join(root, sat_dir), attributes(row[6]) if len(row) > 6 else None))
                queries.append(Query(rid, data.safe_join(root, pano_dir), len(tiles) - 1))
                pos.append((la, lo))
        arr = np.asarray(pos, dtype=np.float64).reshape(-1, 2)
        return Pool(queries, tiles, "haversine", arr, arr)


# -------------------------------------------------------------------------------------------------- CVUSA


class CVUSA(CrossViewTask):
    """CVUSA (Workman, Souvenir, Jacobs, "Wide-Area Image Geolocalization with Aerial Reference Imagery",
    ICCV 2015; https://mvrl.cse.wustl.edu/datasets/cvusa/) in the CVM-Net subset used by every cross-view
    paper since (Hu et al. CVPR 2018; Sample4Geo's `cvusa.py`): 35,532 train and 8,884 test pairs.

    Layout implemented:
        <root>/splits/train-19zl.csv, <root>/splits/val-19zl.csv   no header: sat, ground, annotation paths,
            e.g. bingmap/19/0000001.jpg,streetview/panos/0000001.jpg,streetview/annotations/0000001.png
        <root>/split_locations/all.csv   optional, no header: sat_lat, sat_lon, ground_lat, ground_lon, ...,
            row i-1 for image number i (the file Sample4Geo's GPS sampling reads)
    The test split is val-19zl.csv (the standard CVUSA test set). Negatives: with all.csv, tiles within
    radius_km by GPS (default 5 km: CVUSA is sparse); without it the subset has no coordinates, so the
    fallback is the tiles whose image numbers are nearest (within `id_window` ranks in number order) -
    a guess that numbering follows collection order; it is documented in each doc (distance_unit "ranks").
    """

    name = "cvusa"
    description = "CVUSA cross-view pairing (CVM-Net subset): panorama vs k Bing aerial tiles"
    source = OnRequestSource(homepage="https://mvrl.cse.wustl.edu/datasets/cvusa/",
                             where="https://mvrl.cse.wustl.edu/datasets/cvusa/",
                             instructions="the CVM-Net subset, with splits/train-19zl.csv and splits/val-19zl.csv")
    source_note = "https://mvrl.cse.wustl.edu/datasets/cvusa/ (CVM-Net subset with splits/*-19zl.csv)"
    default_radius_km = 5.0
    SPLIT_FILES = {"train": "splits/train-19zl.csv", "test": "splits/val-19zl.csv"}

    def __init__(self, *args, id_window: int = 50, **kwargs):
        super().__init__(*args, **kwargs)
        self.id_window = int(id_window)

    def expected(self, split):
        if split not in self.SPLIT_FILES:
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: train, test")
        return [self.SPLIT_FILES[split]]

    def read_pool(self, split):
        root = self.root()
        path = data.safe_join(root, self.SPLIT_FILES[split])
        queries, tiles, nums = [], [], []
        for n, row in enumerate(read_rows(path, 2), 1):
            sat, ground = row[0], row[1]
            try:  # a bad row is skipped and counted under --on-error skip, named by file and row otherwise
                m = re.search(r"(\d{1,12})\.\w+$", sat)
                if not m or (m.start() > 0 and sat[m.start() - 1].isdigit()):
                    raise data.DataError(f"{path}:{n}: cannot read the image number from {sat[:80]!r}", "bad row")
                num = int(m.group(1))
                sat_path, ground_path = data.safe_join(root, sat), data.safe_join(root, ground)
            except data.DataError as e:
                data.skip(data.DataError(f"{path}:{n}: {e}" if f"{path}:{n}" not in str(e) else str(e), e.reason))
                continue
            tiles.append(Tile(str(num), sat_path))
            queries.append(Query(str(num), ground_path, len(tiles) - 1))
            nums.append(num)
        locations = root / "split_locations" / "all.csv"
        if locations.exists():
            with data.no_skipping():  # read by position: a left-out row would shift every later image
                loc = read_rows(data.safe_join(root, "split_locations/all.csv"), 4)
            pos = []
            for num in nums:
                if not 1 <= num <= len(loc):
                    raise GeobenchError(f"{locations}: no row {num} (image number {num}; file has {len(loc)} rows)")
                r = loc[num - 1]
                pos.append(data.lat_lon(r[2], r[3], f"{locations}:{num}"))
            arr = np.asarray(pos, dtype=np.float64)
            return Pool(queries, tiles, "haversine", arr, arr)
        ranks = np.empty(len(nums), dtype=np.float64)
        ranks[np.argsort(nums, kind="stable")] = np.arange(len(nums))
        arr = np.stack([ranks, np.zeros_like(ranks)], axis=1)
        return Pool(queries, tiles, "order", arr, arr)


# -------------------------------------------------------------------------------------------------- CVACT


class CVACT(CrossViewTask):
    """CVACT (Liu & Li, "Lending Orientation to Neural Networks for Cross-view Geo-localization", CVPR 2019;
    https://github.com/Liumouliu/OriCNN): Canberra, street-view panoramas and satellite tiles with UTM
    coordinates. The standard evaluation set is CVACT_val (8,884 pairs); training uses 35,532.

    Layout implemented (as read by Sample4Geo / CVCities `cvact.py`):
        <root>/ACT_data.mat   panoIds (N), utm (N x 2, metres), trainSet.trainInd, valSet.valInd (1-based)
        <root>/ANU_data_small/streetview/<panoId>_grdView.jpg
        <root>/ANU_data_small/satview_polish/<panoId>_satView_polish.jpg
    Split "test" = valSet (CVACT_val), "train" = trainSet. As in those loaders, ids whose two images are
    missing are skipped. Negatives: tiles within radius_km by UTM (planar) distance. Needs scipy.
    """

    name = "cvact"
    description = "CVACT cross-view pairing (CVACT_val): Canberra panorama vs k satellite tiles"
    source = OnRequestSource(homepage="https://github.com/Liumouliu/OriCNN", where="https://github.com/Liumouliu/OriCNN",
                             instructions="ACT_data.mat and ANU_data_small/ (streetview, satview_polish)")
    source_note = "https://github.com/Liumouliu/OriCNN (CVACT; ACT_data.mat + ANU_data_small/)"
    SETS = {"train": ("trainSet", "trainInd"), "test": ("valSet", "valInd")}

    def expected(self, split):
        if split not in self.SETS:
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: train, test")
        return ["ACT_data.mat", "ANU_data_small/streetview", "ANU_data_small/satview_polish"]

    def read_pool(self, split):
        root = self.root()
        mat_path = data.safe_join(root, "ACT_data.mat")
        try:
            import scipy.io  # optional dependency (not in geobench's requirements): only CVACT needs it
        except ImportError:
            raise GeobenchError("task 'cvact' reads ACT_data.mat with scipy: pip install scipy") from None
        try:
            mat = scipy.io.loadmat(str(mat_path))
        except Exception as e:  # noqa: BLE001 - scipy raises many types for a bad file
            raise GeobenchError(f"{mat_path}: cannot read as a MATLAB file ({type(e).__name__}: {e})") from None
        try:
            ids = [str(np.asarray(x).ravel()[0]).strip() if np.asarray(x).size else ""
                   for x in np.asarray(mat["panoIds"]).ravel()]
            utm = np.asarray(mat["utm"], dtype=np.float64).reshape(-1, 2)
            struct, field = self.SETS[split]
            s = mat[struct]
            inds = s[field][0, 0] if field in (s.dtype.names or ()) else s[0, 0][1]
            inds = np.asarray(inds, dtype=np.int64).ravel() - 1
        except (KeyError, IndexError, ValueError, TypeError, OSError, NotImplementedError) as e:
            raise GeobenchError(f"{mat_path}: not the CVACT ACT_data.mat layout ({type(e).__name__}: {e})") from None
        if len(ids) != len(utm) or (len(inds) and (inds.min() < 0 or inds.max() >= len(ids))):
            raise GeobenchError(f"{mat_path}: panoIds, utm and {struct}.{field} do not agree in size")
        queries, tiles, pos = [], [], []
        for i in inds:
            pid = ids[i]
            ground = data.safe_join(root, f"ANU_data_small/streetview/{pid}_grdView.jpg")
            sat = data.safe_join(root, f"ANU_data_small/satview_polish/{pid}_satView_polish.jpg")
            if not (ground.exists() and sat.exists()):
                continue
            tiles.append(Tile(pid, sat))
            queries.append(Query(pid, ground, len(tiles) - 1))
            pos.append(utm[i] / 1000.0)
        arr = np.asarray(pos, dtype=np.float64).reshape(-1, 2)
        return Pool(queries, tiles, "planar", arr, arr)


# -------------------------------------------------------------------------------------------------- VIGOR


class VIGOR(CrossViewTask):
    """VIGOR (Zhu, Yang, Chen, "VIGOR: Cross-View Image Geo-localization beyond One-to-one Retrieval",
    CVPR 2021; https://github.com/Jeff-Zilence/VIGOR, data/DATASET.md): Chicago, NewYork, SanFrancisco,
    Seattle; GPS in every file name.

    Layout implemented (the authors' DATASET.md and dataloader.py):
        <root>/<City>/panorama/<prefix>,<lat>,<lon>,.jpg
        <root>/<City>/satellite/satellite_<lat>_<lon>.png
        <root>/splits/<City>/satellite_list.txt            one tile name per line
        <root>/splits/<City>/same_area_balanced_{train,test}.txt   (same-area protocol, all four cities)
        <root>/splits/<City>/pano_label_balanced.txt       (cross-area: train NewYork+Seattle, test
                                                            SanFrancisco+Chicago)
        split lines: pano positive dx dy semi1 dx dy semi2 dx dy semi3 dx dy (space separated)
    Negatives: tiles of the split's cities within radius_km of the panorama (haversine), never the positive
    nor its three semi-positives (they show the panorama's location too).
    """

    name = "vigor"
    description = "VIGOR cross-view pairing (same-area): panorama vs k satellite tiles, semi-positives excluded"
    source = OnRequestSource(homepage="https://github.com/Jeff-Zilence/VIGOR",
                             where="https://github.com/Jeff-Zilence/VIGOR (data/DATASET.md)",
                             instructions="the four cities' panorama/ and satellite/ folders plus splits/")
    source_note = "https://github.com/Jeff-Zilence/VIGOR (dataset on request, see data/DATASET.md)"
    CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")
    CROSS = {"train": ("NewYork", "Seattle"), "test": ("SanFrancisco", "Chicago")}

    def __init__(self, *args, same_area: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.same_area = bool(same_area)

    def _cities(self, split):
        if split not in ("train", "test"):
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: train, test")
        return self.CITIES if self.same_area else self.CROSS[split]

    def _label_file(self, split):
        return f"same_area_balanced_{split}.txt" if self.same_area else "pano_label_balanced.txt"

    def expected(self, split):
        out = []
        for c in self._cities(split):
            out += [f"splits/{c}/satellite_list.txt", f"splits/{c}/{self._label_file(split)}"]
        return out

    def config(self):
        return {**super().config(), "same_area": self.same_area}

    def read_pool(self, split):
        root = self.root()
        tiles, tile_pos, index = [], [], {}
        for city in self._cities(split):
            path = data.safe_join(root, f"splits/{city}/satellite_list.txt")
            for n, row in enumerate(read_rows(path, 1, delimiter=None), 1):
                name = row[0]
                m = re.search(r"satellite_(-?[\d.]+)_(-?[\d.]+)\.\w+$", name)
                if not m:
                    raise GeobenchError(f"{path}:{n}: tile name {name!r} is not satellite_<lat>_<lon>.<ext>")
                try:
                    tile_pos.append(data.lat_lon(m.group(1), m.group(2), f"{path}:{n}"))
                except data.DataError as e:
                    data.skip(e)
                    continue
                index[(city, name)] = len(tiles)
                tiles.append(Tile(f"{city}/{name}", data.safe_join(root, f"{city}/satellite/{name}")))
        queries, query_pos = [], []
        for city in self._cities(split):
            path = data.safe_join(root, f"splits/{city}/{self._label_file(split)}")
            for n, row in enumerate(read_rows(path, 11, delimiter=None), 1):
                pano, sats = row[0], [row[1], row[4], row[7], row[10]]
                m = re.match(r"^[^,]*,(-?[\d.]+),(-?[\d.]+),", pano)
                if not m:
                    raise GeobenchError(f"{path}:{n}: panorama name {pano!r} is not <prefix>,<lat>,<lon>,.jpg")
                missing_tiles = [s for s in sats if (city, s) not in index]
                if missing_tiles:
                    raise GeobenchError(f"{path}:{n}: tile {missing_tiles[0]!r} is not in satellite_list.txt")
                try:
                    where = data.lat_lon(m.group(1), m.group(2), f"{path}:{n}")
                except data.DataError as e:
                    data.skip(e)
                    continue
                ids = [index[(city, s)] for s in sats]
                queries.append(Query(f"{city}/{pano}", data.safe_join(root, f"{city}/panorama/{pano}"), ids[0],
                                     tuple(i for i in ids[1:] if i != ids[0])))
                query_pos.append(where)
        return Pool(queries, tiles, "haversine", np.asarray(query_pos, dtype=np.float64).reshape(-1, 2),
                    np.asarray(tile_pos, dtype=np.float64).reshape(-1, 2))


# ---------------------------------------------------------------------------------------- University-1652


class University1652(CrossViewTask):
    """University-1652 (Zheng, Wei, Yang, "University-1652: A Multi-view Multi-source Benchmark for
    Drone-based Geo-localization", ACM MM 2020, arXiv 2002.12186; https://github.com/layumi/University1652-Baseline),
    street -> satellite: 1,652 buildings of 72 universities.

    Layout implemented (the released University-Release folder):
        <root>/train/street/<building>/*.jpg, <root>/train/satellite/<building>/<building>.jpg
        <root>/test/query_street/<building>/*.jpg, <root>/test/gallery_satellite/<building>/*.jpg
    One document per street image; its tile is the building's satellite image (first file in name order).
    The release has no coordinates and does not say which university a building belongs to, so negatives are
    random other buildings of the split (including the test gallery's distractor buildings): a documented
    fallback, weaker than same-neighbourhood negatives.
    """

    name = "university1652"
    description = "University-1652 street->satellite pairing (no GPS: random negative buildings)"
    source = OnRequestSource(homepage="https://github.com/layumi/University1652-Baseline",
                             where="https://github.com/layumi/University1652-Baseline",
                             instructions="the University-Release folder (train/, test/)")
    source_note = "https://github.com/layumi/University1652-Baseline (dataset on request)"
    FOLDERS = {"train": ("train/street", "train/satellite"), "test": ("test/query_street", "test/gallery_satellite")}

    def expected(self, split):
        if split not in self.FOLDERS:
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: train, test")
        return list(self.FOLDERS[split])

    def read_pool(self, split):
        root = self.root()
        street_dir, sat_dir = self.FOLDERS[split]
        tiles, index = [], {}
        for building in subdirs(root / sat_dir):
            files = images(root / sat_dir / building)
            if files:
                index[building] = len(tiles)
                tiles.append(Tile(building, data.safe_join(root, f"{sat_dir}/{building}/{files[0]}")))
        queries = []
        for building in subdirs(root / street_dir):
            if building not in index:
                continue
            for f in images(root / street_dir / building):
                queries.append(Query(f"{building}/{f}", data.safe_join(root, f"{street_dir}/{building}/{f}"),
                                     index[building]))
        if not queries:
            raise GeobenchError(f"task {self.name!r}: no street image under {root / street_dir} has a satellite "
                                f"image under {root / sat_dir}")
        return Pool(queries, tiles, "none")
