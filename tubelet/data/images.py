"""Still images in: one reader for every image command (``tubelet segment``, ``tubelet pose``), with the checks of the
video reader (a FIFO, device or folder is refused before anything is read; a video, a text file or a damaged image is
named for what it is; decompression bombs and absurd sizes are refused)."""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
import torch

from ..errors import ImageReadError, TubeletError

__all__ = ["IMAGE_EXTENSIONS", "MAX_IMAGE_SIDE", "ImageReadError", "read_image", "read_file_bytes", "open_image",
           "describe_non_image", "rescale_size", "resize_uint8"]

#: files taken as images when a folder is given (``tubelet segment DIR``, ``segment-eval --images DIR``)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: largest image side read (the video reader's limit too): a bigger file is refused before it is decoded
MAX_IMAGE_SIDE = 16384


def read_file_bytes(path: str, what: str, error=ImageReadError, limit: int = 1 << 30) -> bytes:
    """The bytes of a regular file (a FIFO, device or folder is refused before anything is read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (ValueError, OSError) as e:
        if os.path.isdir(path):
            raise error(f"{path}: a folder, not {what}") from None
        raise error(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{path}: a folder, not {what}")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: not a regular file (a device, FIFO or socket), so not {what}")
        if st.st_size > limit:
            raise error(f"{path}: {st.st_size / 2**20:.0f} MiB is too large for {what}")
        with open(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)
    except OSError as e:
        raise error(f"{path}: cannot read it ({e.strerror or e})") from None
    finally:
        os.close(fd)


def describe_non_image(data: bytes, path: str) -> str:
    """A short guess of what a file that is not an image is."""
    from .datasets import VIDEO_EXTENSIONS

    video = (data[4:8] == b"ftyp" or data[:4] == b"\x1aE\xdf\xa3" or (data[:4] == b"RIFF" and data[8:11] == b"AVI")
             or Path(path).suffix.lower() in VIDEO_EXTENSIONS)
    if video:
        return "a video, not an image (the image commands take still images: extract frames first)"
    if not data:
        return "an empty file, not an image"
    if all(32 <= c < 127 or c in (9, 10, 13) for c in data[:512]):
        return "a text file, not an image"
    return "not an image that Pillow can read"


def open_image(path: str, what: str, error):
    from PIL import Image

    data = read_file_bytes(str(path), what, error)
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        if max(width, height) > MAX_IMAGE_SIDE:
            raise error(f"{path}: {width}x{height} pixels is too large (at most {MAX_IMAGE_SIDE} a side)")
        img.load()
    except TubeletError:
        raise
    except Image.DecompressionBombError as e:
        raise error(f"{path}: too large to decode ({e})") from None
    except Exception as e:  # UnidentifiedImageError, truncated or corrupt data (OSError, SyntaxError, ValueError)
        from PIL import UnidentifiedImageError
        if isinstance(e, UnidentifiedImageError):
            raise error(f"{path}: {describe_non_image(data, str(path))}") from None
        raise error(f"{path}: a damaged image ({type(e).__name__}: {e})") from None
    return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image at ``path`` as an ``(H, W, 3)`` uint8 RGB array: EXIF orientation applied and grey / palette / alpha
    images converted to RGB, as OpenCV's ``imread(IMREAD_COLOR)`` reads them for mmseg (alpha dropped, not blended).

    Raises:
        ImageReadError: a missing file, a folder, a video or other non-image, a damaged or oversized image; the
            message names the file.
    """
    from PIL import ImageOps

    img = open_image(str(path), "an image", ImageReadError)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block: OpenCV ignores it too
        pass
    if img.mode != "RGB":
        if img.mode.startswith("I;16"):  # 16-bit grey: OpenCV keeps the high byte
            arr = (np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=2)
        img = img.convert("RGB")
    return np.array(img, dtype=np.uint8)


# ------------------------------------------------------------------------------------------------------------ resize
def rescale_size(height: int, width: int, scale: tuple[int, int] = (2048, 512)) -> tuple[int, int]:
    """``(h, w)`` of mmcv's ``imrescale(img, scale)`` (keep ratio): factor = min(long / max(h, w), short / min(h, w))
    with ``long, short = max(scale), min(scale)``; each side ``int(side * factor + 0.5)``. The default is the test
    scale of every UniFormer ADE20K config."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def _linear_taps(n_in: int, n_out: int, clamp: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices and 11-bit fixed-point weights of OpenCV's ``INTER_LINEAR`` along one axis.

    Source position ``(d + 0.5) * (n_in / n_out) - 0.5`` in float32, weights ``round((1 - f) * 2048)`` and
    ``round(f * 2048)``. Along x (``clamp``) positions before the first / after the last pixel take that pixel with
    weight 2048; along y the fraction is kept and the two rows are clipped into the image (OpenCV does both).
    """
    scale = 1.0 / (n_out / n_in)
    pos = ((np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(pos).astype(np.int64)
    frac = pos - i0.astype(np.float32)
    if clamp:
        low, high = i0 < 0, i0 >= n_in - 1
        frac[low | high] = 0
        i0 = np.where(low, 0, np.where(high, n_in - 1, i0))
        i1 = np.minimum(i0 + 1, n_in - 1)
    else:
        i1 = np.clip(i0 + 1, 0, n_in - 1)
        i0 = np.clip(i0, 0, n_in - 1)
    w0 = np.rint((np.float32(1) - frac) * np.float32(2048)).astype(np.int64)
    w1 = np.rint(frac * np.float32(2048)).astype(np.int64)
    return tuple(torch.from_numpy(a) for a in (i0, i1, w0, w1))


def resize_uint8(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of an ``(H, W)`` or ``(H, W, C)`` uint8 image to ``size = (h, w)``, as OpenCV's
    ``cv2.resize(..., interpolation=INTER_LINEAR)`` (what ``mmcv.imresize`` calls) computes it for uint8: half-pixel
    centres, no antialiasing, 11-bit weights, a horizontal pass kept at full precision and a vertical pass rounded
    the way OpenCV's vectorised code rounds. Matches opencv-python 5.0 bit for bit on every size tested (upscaling,
    downscaling, exact halving). The same size returns a copy."""
    h, w = int(size[0]), int(size[1])
    if image.dtype != torch.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W[, C]) uint8 image, got {tuple(image.shape)} {image.dtype}")
    squeeze = image.ndim == 2
    src = image[..., None] if squeeze else image
    H, W = src.shape[:2]
    if (h, w) == (H, W):
        return image.clone()
    if h < 1 or w < 1:
        raise ValueError(f"cannot resize to {h}x{w}")
    xi0, xi1, xw0, xw1 = _linear_taps(W, w, clamp=True)
    yi0, yi1, yw0, yw1 = _linear_taps(H, h, clamp=False)
    a = src.to(torch.int32)
    rows = a[:, xi0] * xw0.to(torch.int32)[None, :, None] + a[:, xi1] * xw1.to(torch.int32)[None, :, None]
    top, bottom = rows[yi0] >> 4, rows[yi1] >> 4  # value x 128, fits 16 bits as in OpenCV's packed arithmetic
    out = (((yw0.to(torch.int32)[:, None, None] * top) >> 16) + ((yw1.to(torch.int32)[:, None, None] * bottom) >> 16)
           + 2) >> 2
    out = out.clamp_(0, 255).to(torch.uint8)
    return out[..., 0] if squeeze else out
