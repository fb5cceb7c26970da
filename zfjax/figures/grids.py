"""Arrays to image grids: contrast stretch, top-9 blocks, filter mosaics.

Everything takes numpy arrays and returns uint8 (H, W, 3) numpy images;
matplotlib (object interface, no pyplot state) renders text: the labels
drawn into grids (`text_image`) and the captions of `write_png`, wrapped by
their measured width.
"""

from __future__ import annotations

import functools
import math
import os
from matplotlib import image as mpl_image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
import numpy as np

GAP = 2  # pixels between cells
BLOCK_GAP = 6  # pixels between 3x3 blocks and between maps
BACKGROUND = 255  # white, so grey (zero) projections stay visible as cells
CAPTION_LINE, CAPTION_PAD = 12, 6  # pixels
CAPTION_MARGIN = 3  # pixels kept free left and right of a caption's text
LABEL_HEIGHT = 14  # pixels of the band holding a block's label
DPI = 100
CAPTION_FONT = FontProperties(family='monospace', size=8)


def contrast_stretch(x: np.ndarray, *, per_item: bool = True,
                     saturate: float = 0.0) -> np.ndarray:
  """Signed arrays (N, ...) to uint8, zero at mid-grey.

  Each item (or, with per_item=False, the whole array) is divided by a
  scale m: pixel = round(127.5 + 127.5 * clip(x / m, -1, 1)). Zero maps to
  128, +m to 255, -m to 0. m is the largest |x|, or with saturate = s > 0
  the (100 - s)th percentile of |x| over the item's non-zero values, so the
  s% most extreme values saturate instead of compressing the rest to grey.
  All-zero items are uniform grey.
  """
  x = np.asarray(x, np.float64)
  items = x.reshape(len(x), -1) if per_item else x.reshape(1, -1)
  scale = np.ones(len(items))
  for i, item in enumerate(np.abs(items)):
    nonzero = item[item > 0]
    if nonzero.size:
      scale[i] = np.percentile(nonzero, 100.0 - saturate)
  scaled = np.clip(items / scale[:, None], -1.0, 1.0).reshape(x.shape)
  return np.round(127.5 + 127.5 * scaled).astype(np.uint8)


def normalize_for_display(projections: np.ndarray, *,
                          saturate: float = 0.5) -> np.ndarray:
  """Per-image contrast stretch of signed deconvnet projections to uint8.

  projections: (N, H, W, 3). Each image is divided by its own scale m, the
  (100 - saturate)th percentile of |p| over its non-zero values (default:
  the 99.5th; saturate=0 gives the largest |p|), and shown as
  pixel = round(127.5 + 127.5 * clip(p / m, -1, 1)): zero (no influence)
  is mid-grey, +m and above white, -m and below black, all three colour
  channels on one scale so a projection's colour balance is kept. The few
  saturated extremes keep one outlier from greying out the rest. An
  all-zero projection is uniform grey.
  """
  return contrast_stretch(np.asarray(projections), saturate=saturate)


def upscale(images: np.ndarray, factor: int) -> np.ndarray:
  """Nearest-neighbour enlargement of (..., H, W, C) by an integer factor."""
  return images.repeat(factor, axis=-3).repeat(factor, axis=-2)


def display_factor(size: int, min_pixels: int = 48) -> int:
  """Integer upscaling that shows a size-pixel cell at >= min_pixels."""
  return max(1, math.ceil(min_pixels / max(size, 1)))


def tile(images: np.ndarray, cols: int, *, gap: int = GAP,
         background: int = BACKGROUND, rows: int | None = None) -> np.ndarray:
  """Lays (n, h, w, 3) uint8 images out row-major on a grid.

  Returns (rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3);
  rows default to ceil(n / cols); missing cells are background.
  """
  n, h, w = images.shape[:3]
  rows = math.ceil(n / cols) if rows is None else rows
  out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3),
                background, np.uint8)
  for i in range(min(n, rows * cols)):
    r, c = divmod(i, cols)
    out[r * (h + gap):r * (h + gap) + h,
        c * (w + gap):c * (w + gap) + w] = images[i]
  return out


def top9_block(projections: np.ndarray, patches: np.ndarray) -> np.ndarray:
  """One feature map as in ZF Fig. 2: 3x3 projections beside 3x3 patches.

  projections, patches: (k, P, P, 3) uint8, strongest first, laid out
  row-major on an n x n grid, n = 3 for k <= 9 (else ceil(sqrt(k))); missing
  cells (fewer images) stay background. Returns
  (nP + (n - 1) GAP, 2 (nP + (n - 1) GAP) + BLOCK_GAP, 3) uint8.
  """
  n = max(3, math.ceil(math.sqrt(len(projections))))
  left = tile(projections, n, rows=n)
  right = tile(patches, n, rows=n)
  spacer = np.full((left.shape[0], BLOCK_GAP, 3), BACKGROUND, np.uint8)
  return np.concatenate([left, spacer, right], axis=1)


def top9_grid(projections: np.ndarray, patches: np.ndarray,
              cols: int | None = None,
              titles: list[str] | None = None) -> np.ndarray:
  """Many feature maps of one layer, one `top9_block` each, row-major.

  projections, patches: (maps, k, P, P, 3) uint8; cols defaults to about
  sqrt(maps / 2) blocks per row, giving a roughly square image. `titles`
  (one per map, e.g. 'map 17') are drawn in a LABEL_HEIGHT band above
  each block.
  """
  maps = len(projections)
  cols = cols or max(1, round(math.sqrt(maps / 2)))
  blocks = np.stack([top9_block(p, q) for p, q in zip(projections, patches)])
  if titles is not None:
    blocks = titled(blocks, titles)
  return tile(blocks, cols, gap=BLOCK_GAP)


def headed_rows(cells: np.ndarray, headers: list[str]) -> np.ndarray:
  """(rows, cols, h, w, 3) uint8 cells laid out as a table under a
  LABEL_HEIGHT band naming each column once (ZF Fig. 8's layout)."""
  rows, cols = cells.shape[:2]
  head = np.stack([text_image(t, cells.shape[3], LABEL_HEIGHT)
                   for t in headers])
  band = tile(head, cols)
  body = tile(cells.reshape((rows * cols,) + cells.shape[2:]), cols)
  spacer = np.full((GAP, body.shape[1], 3), BACKGROUND, np.uint8)
  return np.concatenate([band, spacer, body])


def titled(images: np.ndarray, titles: list[str]) -> np.ndarray:
  """(n, h, w, 3) uint8 images, each under a LABEL_HEIGHT band with its
  title (one per image, e.g. 'map 17'): (n, LABEL_HEIGHT + h, w, 3)."""
  width = images.shape[2]
  return np.stack([np.concatenate([text_image(t, width, LABEL_HEIGHT), i])
                   for t, i in zip(titles, images)])


def filter_grid(kernel: np.ndarray, *, per_filter: bool = False,
                min_pixels: int = 32, cols: int | None = None) -> np.ndarray:
  """Layer-1 filters (k, k, 3, C) as a colour mosaic, filter c at cell c.

  By default all filters share one contrast scale (the layer's largest
  |weight|), so dead filters show as flat grey and dominant ones stand out,
  as in ZF Fig. 6; per_filter=True stretches each filter on its own to show
  the shapes of weak ones. Cells are enlarged to >= min_pixels.
  """
  kernel = np.asarray(kernel)
  if kernel.ndim != 4 or kernel.shape[2] != 3:
    raise ValueError(f'expected a (k, k, 3, C) kernel, got {kernel.shape}')
  filters = np.moveaxis(kernel, 3, 0)  # (C, k, k, 3)
  images = contrast_stretch(filters, per_item=per_filter)
  images = upscale(images, display_factor(kernel.shape[0], min_pixels))
  cols = cols or math.ceil(math.sqrt(len(images)))
  return tile(images, cols)


def text_image(text: str, width: int, height: int) -> np.ndarray:
  """One line of 8-point text, left-aligned, rendered into a (height, width,
  3) uint8 white image (cut at the right edge if longer)."""
  fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
  canvas = FigureCanvasAgg(fig)
  fig.patch.set_facecolor('white')
  fig.text(1 / width, 0.5, text, va='center', fontproperties=CAPTION_FONT)
  canvas.draw()
  return np.asarray(canvas.buffer_rgba())[..., :3].copy()


@functools.cache
def _renderer():
  return FigureCanvasAgg(Figure(dpi=DPI)).get_renderer()


def text_width(text: str) -> float:
  """Pixels the caption font takes for `text` on one line (at DPI)."""
  return _renderer().get_text_width_height_descent(text, CAPTION_FONT,
                                                   ismath=False)[0]


def wrap(text: str, width: float) -> list[str]:
  """`text` broken into lines of at most `width` pixels as rendered in the
  caption font: at spaces, and inside a word only if it alone is wider."""
  lines, line = [], ''
  for word in text.split():
    candidate = f'{line} {word}' if line else word
    if text_width(candidate) <= width:
      line = candidate
      continue
    if line:
      lines.append(line)
    line = word
    while text_width(line) > width and len(line) > 1:
      cut = len(line) - 1
      while cut > 1 and text_width(line[:cut]) > width:
        cut -= 1
      lines.append(line[:cut])
      line = line[cut:]
  if line:
    lines.append(line)
  return lines


def captioned_figure(image: np.ndarray, caption: str) -> Figure:
  """A figure of exactly the image's pixels with the caption in a band on
  top: wrapped to the image's width less CAPTION_MARGIN on each side,
  CAPTION_LINE pixels per line plus CAPTION_PAD."""
  h, w = image.shape[:2]
  lines = wrap(caption, max(w - 2 * CAPTION_MARGIN, 1))
  band = CAPTION_PAD + CAPTION_LINE * len(lines)
  fig = Figure(figsize=(w / DPI, (h + band) / DPI), dpi=DPI)
  FigureCanvasAgg(fig)
  ax = fig.add_axes((0, 0, 1, h / (h + band)))
  ax.imshow(image, interpolation='nearest')
  ax.axis('off')
  for i, line in enumerate(lines):
    # Each line at its own pixel row: the band's height is exact.
    y = h + band - CAPTION_PAD / 2 - CAPTION_LINE * (i + 0.5)
    fig.text(CAPTION_MARGIN / w, y / (h + band), line, va='center',
             fontproperties=CAPTION_FONT)
  return fig


def write_png(path: str | os.PathLike, image: np.ndarray,
              caption: str | None = None) -> str:
  """Writes a uint8 (H, W, 3) image; a caption adds text lines on top.

  Without a caption the PNG has exactly the array's pixels; a caption
  adds a band (`captioned_figure`). The folder is made if missing, and the
  file is written under a temporary name and renamed, so a killed run
  never leaves a truncated PNG.
  """
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + '.tmp'
  if caption is None:
    mpl_image.imsave(tmp, image, format='png')
  else:
    captioned_figure(image, caption).savefig(tmp, dpi=DPI, format='png')
  os.replace(tmp, path)
  return path
