"""Write the sample images shipped with the package: N Fashion-MNIST test images, N/10 of each
class drawn at random with a fixed seed (kept in test-set order), and their labels, as gzipped IDX
files (the dataset's own format), byte-for-byte reproducible. A class-balanced random draw keeps
the samples' accuracy close to the full test set's (the first images of the set are easier).

    /usr/bin/python3 samples.py --count 1000 --dest ../samples
"""
from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

from common import DEFAULT_DATA, read_idx

SEED = 0


def write_idx(path: Path, arr) -> None:
    """IDX: magic (0, 0, 0x08 = unsigned byte, ndim), big-endian int32 dims, then the bytes."""
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(header + arr.tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--dest", type=Path, default=Path(__file__).resolve().parent.parent / "samples")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    x = read_idx(args.data / "t10k-images-idx3-ubyte.gz")
    y = read_idx(args.data / "t10k-labels-idx1-ubyte.gz")
    rng = np.random.RandomState(SEED)
    pick = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), args.count // 10, replace=False) for c in range(10)]))
    x, y = x[pick], y[pick]
    write_idx(args.dest / "images-idx3-ubyte.gz", x)
    write_idx(args.dest / "labels-idx1-ubyte.gz", y)
    counts = [int((y == c).sum()) for c in range(10)]
    print(f"wrote {len(y)} test images and labels to {args.dest} (per class: {counts})")


if __name__ == "__main__":
    main()
