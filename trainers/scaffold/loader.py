"""`load(folder)`: a scaffold folder's train.jsonl as a `datasets.Dataset`, ready for TRL's SFTTrainer."""

from __future__ import annotations

import os
from pathlib import Path

import datasets


def load(folder: str | os.PathLike, split: str = "train") -> datasets.Dataset:
    """The scaffold's train.jsonl as a `datasets.Dataset` whose "images" column holds decoded images (paths are
    resolved against the folder, so the current directory does not matter): ready for TRL's SFTTrainer."""
    folder = Path(folder).resolve()
    ds = datasets.load_dataset("json", data_files=str(folder / "train.jsonl"), split=split)
    ds = ds.map(lambda row: {"images": [str(folder / p) for p in row["images"]]})
    seq = getattr(datasets, "List", None) or datasets.Sequence  # datasets >= 4 names it List
    return ds.cast_column("images", seq(datasets.Image()))
