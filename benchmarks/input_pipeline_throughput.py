"""Input pipeline throughput on ImageNet-sized JPEGs, images/s per core.

  python benchmarks/input_pipeline_throughput.py [--images 256] [--batches 20]
      [--batch_size 128] [--threads N]
      [--modes train eval ten_crop train_stored]

Makes `--images` 500x375 JPEGs (ImageNet's typical size; smooth colour
noise plus grain, quality 90, 4:2:0 chroma as most ImageNet files) and runs
the per-example preprocessing of `data.crops` over them in a tf.data
pipeline on `--threads` threads (default: all cores): decode fused with the
central-square crop, resize to 256 (antialiased), then
  train:    random 224 crop, flip, mean subtraction;
  eval:     centre 224 crop, mean subtraction;
  ten_crop: the 10 crops;
  train_stored (printed `train (stored 256)`): what training does with
    `config.stored_images`: the same images stored once as 256x256 JPEGs
    (`stored_dataset.QUALITY`, 4:4:4), decoded without a resize, a random
    224 crop sent as uint8 with its draws (`on_device`; the step subtracts
    the mean and flips).
Batches of `--batch_size`, prefetched. The first 3 batches are not timed.
Reading the TFDS records is not included: it is I/O, not CPU, bound.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# Run as a script from anywhere: make the checkout importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from zfjax import runtime  # noqa: E402

if __name__ == '__main__':
  runtime.configure()  # first, as every entry point

import numpy as np  # noqa: E402

from zfjax.data import crops
from zfjax.data import stored_dataset  # noqa: E402
from zfjax.data.tf_setup import tf  # noqa: E402

_RESIZE, _CROP = 256, 224


def _jpegs(count: int, seed: int = 0) -> list[bytes]:
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(count):
    coarse = rng.uniform(0, 255, (1, 24, 32, 3)).astype(np.float32)
    smooth = tf.image.resize(coarse, [375, 500], method='bicubic')[0]
    image = smooth + rng.normal(0, 8, smooth.shape)
    image = tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8)
    out.append(tf.io.encode_jpeg(image, quality=90).numpy())
  return out


def _stored(jpegs: list[bytes]) -> list[bytes]:
  """The stored form: central square resized to 256, JPEG as prepared."""
  return [tf.io.encode_jpeg(
      crops.decode_square(j, _RESIZE, 'jpeg', dtype=tf.uint8),
      quality=stored_dataset.QUALITY, chroma_downsampling=False).numpy()
          for j in jpegs]


def _pipeline(jpegs, mode: str, batch_size: int, threads: int):
  mean = tf.constant(np.full((_RESIZE, _RESIZE, 3), 120.0, np.float32))

  def preprocess(position, encoded):
    if mode == 'train_stored':
      square = crops.decode_square(encoded, _RESIZE, 'jpeg', _RESIZE, tf.uint8)
      offset, flip, alpha = crops.train_draws(
          tf.stack([tf.constant(0, tf.int64), position]), _RESIZE, _CROP,
          False)
      crop = square[offset[0]:offset[0] + _CROP, offset[1]:offset[1] + _CROP]
      return {'image': crop, 'offset': offset, 'flip': flip, 'alpha': alpha}
    image = crops.decode_square(encoded, _RESIZE, 'jpeg')
    if mode == 'train':
      return crops.train_crop(image, mean, tf.stack([tf.constant(0, tf.int64),
                                                   position]), _CROP)
    if mode == 'eval':
      return crops.centre_crop(image, mean, _CROP)
    return crops.ten_crops(image, mean, _CROP)

  ds = tf.data.Dataset.from_tensor_slices(jpegs).repeat().enumerate()
  ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.threading.private_threadpool_size = threads
  return ds.with_options(options)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--images', type=int, default=256)
  parser.add_argument('--batches', type=int, default=20)
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--threads', type=int, default=os.cpu_count())
  parser.add_argument('--modes', nargs='+',
                      default=['train', 'eval', 'train_stored'],
                      choices=['train', 'eval', 'ten_crop', 'train_stored'])
  args = parser.parse_args()
  jpegs = _jpegs(args.images)
  mean_kb = np.mean([len(j) for j in jpegs]) / 1024
  print(f'{args.images} JPEGs 500x375, {mean_kb:.0f} KB on average; '
        f'{args.threads} threads; batches of {args.batch_size}')
  stored = _stored(jpegs) if 'train_stored' in args.modes else None
  if stored:
    stored_kb = np.mean([len(j) for j in stored]) / 1024
    print(f'stored 256x256 JPEGs (quality {stored_dataset.QUALITY}, 4:4:4): '
          f'{stored_kb:.0f} KB on average, {stored_kb * 1_331_167 / 2**20:.0f}'
          f' GB for ImageNet\'s 1,331,167 train + validation images at this '
          f'size')
  for mode in args.modes:
    it = iter(_pipeline(stored if mode == 'train_stored' else jpegs, mode,
                        args.batch_size, args.threads))
    for _ in range(3):
      next(it)
    start = time.perf_counter()
    for _ in range(args.batches):
      next(it)
    rate = args.batches * args.batch_size / (time.perf_counter() - start)
    name = 'train (stored 256)' if mode == 'train_stored' else mode
    print(f'{name:18s} {rate:8.1f} images/s  {rate / args.threads:7.1f} '
          f'images/s/core')


if __name__ == '__main__':
  main()
