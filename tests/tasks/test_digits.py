"""Digits on canvases (scikit-learn's load_digits) and the MNIST IDX loader."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from attnzoo.tasks import digits


def test_digit_images_are_upscaled_to_28():
    images, labels = digits.load_digit_images()
    assert images.shape == (1797, 28, 28) and images.dtype == np.float32
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_splits_are_disjoint_stratified_and_deterministic():
    _, labels = digits.load_digit_images()
    first, second = digits.split_indices(labels, seed=0), digits.split_indices(labels, seed=0)
    assert all(np.array_equal(first[name], second[name]) for name in digits.SPLITS)
    together = np.concatenate([first[name] for name in digits.SPLITS])
    assert len(together) == len(labels) == len(np.unique(together))
    for name, share in zip(digits.SPLITS, digits.SPLIT_FRACTIONS, strict=True):
        counts = np.bincount(labels[first[name]], minlength=10)
        assert np.all(np.abs(counts - share * np.bincount(labels)) <= 1)
    assert not np.array_equal(digits.split_indices(labels, seed=1)["test"], first["test"])


@pytest.mark.parametrize("name", sorted(digits.VARIANTS))
def test_variants_shape_and_determinism(name):
    side = digits.VARIANTS[name].canvas
    data = digits.digits_dataset(name, "valid", seed=3)
    image, label = data[0]
    assert image.shape == (1, side, side) and image.dtype == torch.float32
    assert label.dtype == torch.int64 and 0 <= int(label) <= 9
    again = digits.digits_dataset(name, "valid", seed=3)
    assert torch.equal(data.images, again.images) and torch.equal(data.labels, again.labels)


def test_the_digit_is_pasted_whole_at_its_position():
    data = digits.digits_dataset("translated60", "test", seed=0)
    images, _ = digits.load_digit_images()
    indices = digits.split_indices(digits.load_digit_images()[1], seed=0)["test"]
    for item in range(5):
        row, col = data.positions[item]
        assert torch.equal(data.images[item, 0, row : row + 28, col : col + 28], torch.tensor(images[indices[item]]))
        outside = data.images[item, 0].clone()
        outside[row : row + 28, col : col + 28] = 0
        assert outside.abs().sum() == 0  # no clutter in "translated"
    assert len({tuple(p) for p in data.positions[:20].tolist()}) > 10  # positions vary


def test_digit_centres_are_glimpse_locations_of_the_centre_pixel():
    from attnzoo.models.ram.glimpse import glimpse_centres

    data = digits.digits_dataset("translated60", "test", seed=0)
    rows, cols = glimpse_centres(data.digit_centres(), 60, 60)
    assert torch.equal(torch.stack([rows, cols], dim=-1), torch.from_numpy(data.positions) + 14)
    assert torch.equal(digits.digits_dataset("centred28", "test").digit_centres()[:3], torch.zeros(3, 2))


def test_centred_variant_is_the_digit_itself():
    data = digits.digits_dataset("centred28", "train")
    images, labels = digits.load_digit_images()
    indices = digits.split_indices(labels)["train"]
    assert torch.equal(data.images[:, 0], torch.tensor(images[indices]))


def test_clutter_adds_pieces_outside_the_digit():
    data = digits.digits_dataset("cluttered60", "test", seed=0)
    outside = data.images[:, 0].clone()
    for item, (row, col) in enumerate(data.positions.tolist()):
        outside[item, row : row + 28, col : col + 28] = 0
    assert (outside.flatten(1).amax(1) > 0).float().mean() > 0.8  # most canvases have clutter outside the digit


def test_training_canvases_are_redrawn_each_epoch_deterministically():
    data = digits.digits_dataset("cluttered60", "train", resample=True)
    first = data.images.clone()
    data.set_epoch(1)
    assert not torch.equal(first, data.images)
    data.set_epoch(0)
    assert torch.equal(first, data.images)
    fixed = digits.digits_dataset("cluttered60", "valid")
    before = fixed.images.clone()
    fixed.set_epoch(5)
    assert torch.equal(before, fixed.images)


def test_copies_draw_independent_canvases():
    data = digits.digits_dataset("translated60", "valid", copies=3)
    assert len(data) == 3 * len(digits.digits_dataset("translated60", "valid"))
    assert torch.equal(data.labels[0::3], data.labels[1::3])
    assert not torch.equal(data.images[0], data.images[1])


def test_unknown_variant_and_split_are_named():
    with pytest.raises(ValueError, match="variant: expected one of"):
        digits.digits_dataset("rotated", "test")
    with pytest.raises(ValueError, match="split: expected one of"):
        digits.digits_dataset("centred28", "dev")


# ---- IDX -------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def mnist_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    (tmp_path / "images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return tmp_path, images, labels


def test_idx_loader_reads_valid_files(mnist_files):
    folder, images, labels = mnist_files
    loaded, targets = digits.load_mnist(folder / "images-idx3-ubyte", folder / "labels-idx1-ubyte.gz")
    assert loaded.dtype == np.float32 and np.allclose(loaded, images / 255.0)
    assert targets.dtype == np.int64 and targets.tolist() == [7, 0, 9]


def test_idx_reads_big_endian_wider_types(tmp_path):
    values = np.arange(6, dtype=np.int32).reshape(2, 3) * 1000
    (tmp_path / "ints").write_bytes(idx_bytes(values, 0x0C))
    assert np.array_equal(digits.read_idx(tmp_path / "ints"), values)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00", "truncated IDX file"),
        (b"\x08\x03\x00\x00" + bytes(20), "not an IDX file: magic bytes 08030000"),
        (b"\x00\x00\x07\x01" + bytes(8), "not an IDX file"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (idx_bytes(np.zeros((2, 3, 3), np.uint8))[:-1], r"truncated IDX data: shape \(2, 3, 3\) needs 18 bytes"),
        (idx_bytes(np.zeros((2,), np.uint8)) + b"\x00", "IDX data too long"),
    ],
)
def test_malformed_idx_files_are_named(tmp_path, content, message):
    path = tmp_path / "broken-idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        digits.read_idx(path)
    assert str(path) in str(error.value)


def test_corrupt_gzip_is_named(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8)))[:-6])
    with pytest.raises(ValueError, match="cannot read as a gzipped IDX file") as error:
        digits.read_idx(path)
    assert str(path) in str(error.value)


def test_mismatched_mnist_files_are_named(mnist_files):
    folder, _, _ = mnist_files
    short = folder / "short-labels"
    short.write_bytes(idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(ValueError, match="2 labels for the 3 images") as error:
        digits.load_mnist(folder / "images-idx3-ubyte", short)
    assert str(short) in str(error.value)
    with pytest.raises(ValueError, match=r"expected unsigned bytes of shape \(N, H, W\)"):
        digits.load_mnist(short, short)


def test_mnist_arrays_go_on_a_canvas(mnist_files):
    folder, _, _ = mnist_files
    images, labels = digits.load_mnist(folder / "images-idx3-ubyte", folder / "labels-idx1-ubyte.gz")
    data = digits.DigitCanvas(images, labels, canvas=9, seed=0)
    assert data.images.shape == (3, 1, 9, 9)
