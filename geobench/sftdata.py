"""The SFT data folder: the contract between what `geobench scaffold` writes and what `geobench train sft` reads.

A folder holds `train.jsonl` (TRL's conversational vision-language format: `messages` with image parts, and
`images`, paths relative to the folder) and the images. `load` reads it as a `datasets.Dataset` whose "images"
column holds decoded images, ready for TRL's SFTTrainer. `datasets` is imported on use (it is the [train] extra).
"""

from __future__ import annotations

import os
from pathlib import Path


def load(folder: str | os.PathLike, split: str = "train"):
    """The folder's train.jsonl as a `datasets.Dataset` with decoded "images" (paths are resolved against the
    folder, so the current directory does not matter)."""
    import datasets

    folder = Path(folder).resolve()
    ds = datasets.load_dataset("json", data_files=str(folder / "train.jsonl"), split=split)
    ds = ds.map(lambda row: {"images": [str(folder / p) for p in row["images"]]})
    seq = getattr(datasets, "List", None) or datasets.Sequence  # datasets >= 4 names it List
    return ds.cast_column("images", seq(datasets.Image()))
