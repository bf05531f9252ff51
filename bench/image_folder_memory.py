"""Memory of one uncached pass over an image folder: flat in the folder's size?

Prints the resident memory after importing autoconv, after indexing FOLDER, the largest seen
while reading it (sampled every 100 batches of 64, grayscale 28x28) and the peak. Run it on a
small and a large folder (e.g. ``autoconv.datasets.export("mnist", F, limit=6000)`` and the
full export) and compare.

    python bench/image_folder_memory.py FOLDER
"""

from __future__ import annotations

import sys

import autoconv


def resident_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    print(f"imported   {resident_mb():6.1f} MB")
    ds = autoconv.utils.image_dataset_from_directory(
        sys.argv[1],
        color_mode="grayscale",
        image_size=(28, 28),
        batch_size=64,
        seed=0,
        verbose=False,
    )
    print(f"indexed    {resident_mb():6.1f} MB ({len(ds.file_paths)} files)")
    largest = 0.0
    for i, _ in enumerate(ds):
        if i % 100 == 0:
            largest = max(largest, resident_mb())
    print(f"reading    {largest:6.1f} MB at most (sampled)")
    print(f"peak       {resident_mb('VmHWM'):6.1f} MB")


if __name__ == "__main__":
    main()
