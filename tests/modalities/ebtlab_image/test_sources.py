import gzip

import pytest
import torch
from torchvision.io import write_png

from ebtlab.errors import DataError
from ebtlab_image import sources
from ebtlab_image.sources import (
    FASHION_MNIST_DIR,
    load_images,
    read_idx_folder,
    read_idx_images,
    read_image_folder,
    read_mnist_5k,
    resolve_source,
    split_images,
)


def idx_bytes(images: torch.Tensor) -> bytes:
    """Encode uint8 images (N, H, W) as an IDX file."""
    header = bytes([0, 0, 0x08, 3]) + b"".join(size.to_bytes(4, "big") for size in images.shape)
    return header + images.numpy().tobytes()


def random_images(count: int, height: int = 28, width: int = 28) -> torch.Tensor:
    return torch.randint(0, 256, (count, height, width), dtype=torch.uint8)


def test_mnist_5k_loads():
    images = read_mnist_5k()
    assert images.shape == (5000, 28, 28)
    assert images.dtype == torch.uint8
    assert images.max().item() == 255
    # Handwritten digits lie on a black background: the corner pixels are 0.
    assert images[:, 0, 0].max().item() == 0


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="the Debian package dataset-fashion-mnist is not installed")
def test_fashion_mnist_loads():
    images = load_images("fashion_mnist", None)
    assert images.shape == (70000, 28, 28)
    assert images.float().mean().item() == pytest.approx(72.9, abs=1.0)


def test_auto_source_falls_back_to_mnist_5k(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", tmp_path / "missing")
    assert resolve_source("auto") == "mnist_5k"
    with pytest.raises(DataError, match="install the Debian package dataset-fashion-mnist"):
        load_images("fashion_mnist", None)
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", tmp_path)
    assert resolve_source("auto") == "fashion_mnist"
    assert resolve_source("idx") == "idx"


@pytest.mark.parametrize("compressed", [False, True])
def test_idx_file_round_trip(tmp_path, compressed):
    images = random_images(5)
    raw = idx_bytes(images)
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    assert torch.equal(read_idx_images(path), images)


def test_idx_folder_reads_training_file_first(tmp_path):
    train, test = random_images(3), random_images(2)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(test)))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(train)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not read")
    assert torch.equal(read_idx_folder(tmp_path), torch.cat((train, test)))
    assert torch.equal(load_images("idx", str(tmp_path)), torch.cat((train, test)))


def test_image_folder_reads_grayscale_in_name_order(tmp_path):
    images = random_images(3, 8, 12)
    for index, image in enumerate(images):
        write_png(image[None], str(tmp_path / f"{index:02d}.png"))
    rgb = torch.stack((images[0], images[0], images[0]))
    write_png(rgb, str(tmp_path / "03.png"))
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = read_image_folder(tmp_path)
    assert torch.equal(loaded[:3], images)
    assert torch.equal(loaded[3], images[0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda raw: raw[:-10], "is a corrupt IDX file: its header declares 4 images of 28x28 pixels (3136 bytes) but 3126 bytes follow"),
        (lambda raw: b"\x1f\x8b" + raw, "is a corrupt gzip file"),
        (lambda raw: b"PK" + raw, "is not an IDX file"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "contains IDX data of type 0x0d in 3 dimensions"),
        (lambda raw: raw[:9], "is truncated inside its IDX header"),
    ],
)
def test_bad_idx_file_is_one_line_data_error(tmp_path, content, message):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(content(idx_bytes(random_images(4))))
    with pytest.raises(DataError) as error:
        read_idx_images(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        ("idx", "missing-idx3-ubyte", "IDX file not found"),
        ("idx", "", "no IDX image files"),
        ("folder", "missing", "folder not found"),
        ("folder", "", "no image files"),
    ],
)
def test_missing_data_is_one_line_data_error(tmp_path, source, name, message):
    with pytest.raises(DataError) as error:
        load_images(source, str(tmp_path / name))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_image_folder_rejects_mixed_sizes_and_broken_files(tmp_path):
    write_png(random_images(1, 8, 8), str(tmp_path / "a.png"))
    write_png(random_images(1, 8, 12), str(tmp_path / "b.png"))
    with pytest.raises(DataError, match="b.png has images of 8x12 pixels"):
        read_image_folder(tmp_path)
    (tmp_path / "b.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="cannot decode image .*b.png"):
        read_image_folder(tmp_path)


def test_split_takes_every_twentieth_image():
    images = torch.arange(40, dtype=torch.uint8).reshape(40, 1, 1)
    splits = split_images(images)
    assert splits.validation.flatten().tolist() == [18, 38]
    assert splits.test.flatten().tolist() == [19, 39]
    assert splits.train.shape[0] == 36
    with pytest.raises(DataError, match="at least 19 are needed"):
        split_images(images[:18])
