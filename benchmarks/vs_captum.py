r"""zfjax against Captum / torch eager on the same ZFNet (with LRN), side by side.

  python benchmarks/vs_captum.py [--rows occlusion deconv guided gradient
      forward step]
      [--rounds 2] [--chunk_sizes 32 256] [--deconv_images 9] [--maps 256]
      [--malloc keep|as_is]

Needs torch and captum, which are not zfjax dependencies:
`pip install torch captum` (CPU build: add
`--index-url https://download.pytorch.org/whl/cpu` for torch).

The torch model is built from the zfjax spec and loaded with the same
random weights (the printed logit difference shows it is the same network);
random images. Each row runs in a process of its own, which runs each
side in a worker process of its own and times them in turn, one at a time,
`--rounds` times each, after one untimed call of each; it prints the best
of each and their ratio (the figure to compare across machines). Rows (all
run on any device; the issue's GPU rows are `occlusion8` and `chunk`):
  occlusion   1 image, 224 px, square 50, stride 8: `occlusion_sweep` with
              chunk c vs Captum `Occlusion` with perturbations_per_eval c,
              for each c of --chunk_sizes. zfjax's grid reaches the far
              edge (23 x 23 squares), Captum's stops before it (22 x 22):
              each is counted by its own positions.
  occlusion8  8 images, stride 4 (16,200 zfjax positions), chunk 256.
  chunk       zfjax's jitted occlusion chunk program alone, 256 positions,
              against the whole sweep at chunk 256 (the issue's target is
              the sweep at >= 0.8x its chunk program).
  deconv      the strongest unit of each of --maps conv5 maps in each of
              --deconv_images images: zfjax's forward trace and
              `deconv.project_units` in chunks of 128 vs Captum
              `NeuronDeconvolution` on conv5's ReLU, one map for all images
              per call.
  guided      the same units, `project_units(rule='guided')` vs Captum
              `NeuronGuidedBackprop`.
  gradient    the same units, `project_units(rule='gradient')` vs Captum
              `NeuronGradient` (Saliency's gradient, for a neuron).
  forward     batch 32: jitted `models.apply` vs torch eager (no_grad).
  step        batch 32: the trainer's step (configs/zfnet_imagenet.py's
              settings: dropout, weight decay, momentum, feature scale
              clipping) vs a torch eager step (dropout, SGD momentum 0.9,
              weight decay 5e-4; no clipping).

--malloc: both sides take their CPU buffers from glibc's malloc, which by
default serves large blocks by fresh `mmap`s and unmaps them on free, so
each run pays a page fault per 4 KiB it touches: the peer on its
activations (torch's step 21-24 images/s on the 2-core AVX-512 CPU, and
how many faults depended on what ran before in the process), zfjax on the
temporary block of each XLA program (see zfjax/runtime.py).
`keep` (default): every process calls `runtime.configure()` first,
before numpy's, torch's and XLA's threads start, as `train.py` and
`visualize.py` do on a CPU host: freed memory is kept for reuse, which is
also what a pooling allocator (jemalloc, tcmalloc) gives torch: each side
at its best (torch's step 34-39 images/s instead of 21-24). `as_is`: glibc
untouched, as a plain `python` process runs torch. The sides run in
separate processes because in one heap each fragments the other's kept
memory (zfjax's step fell from 34 to 17 images/s beside torch's).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import subprocess
import sys
import time

# Run as a script from anywhere: make the checkout importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from zfjax import runtime  # noqa: E402

# Set by main for the process that runs one row, and so for its two side
# workers (the --malloc choice).
ROW_MALLOC = 'VS_CAPTUM_ROW_MALLOC'
if os.environ.get(ROW_MALLOC) == 'as_is':
  os.environ[runtime.MALLOC_ENV] = 'glibc'  # configure() leaves it alone
# First, before numpy's, torch's and XLA's threads start, as zfjax's entry
# points do. A flag already in XLA_FLAGS wins: to time YNNPACK's
# convolutions, run with XLA_FLAGS set to
# --xla_cpu_experimental_ynn_fusion_type=+individual_convolution
_SETTINGS = runtime.configure()
if os.environ.get(ROW_MALLOC) == 'keep' and not _SETTINGS.kept_memory:
  sys.exit('error: glibc did not keep freed memory (runtime.configure()): '
           'run with --malloc as_is')

# pylint: disable=g-import-not-at-top,wrong-import-position
try:
  import captum.attr
  import torch
  from torch import nn
except ImportError:
  sys.exit('error: this benchmark needs torch and captum: pip install torch '
           'captum')

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import forward_formulations  # noqa: E402
from zfjax.analyses import deconv, incremental, occlusion  # noqa: E402
from zfjax.networks import models, specs  # noqa: E402

ROWS = ('occlusion', 'occlusion8', 'chunk', 'deconv', 'guided', 'gradient',
        'forward', 'step')
# Per projection row: zfjax's rule and Captum's peer.
PROJECTION_ROWS = {'deconv': ('deconvnet', 'NeuronDeconvolution'),
                   'guided': ('guided', 'NeuronGuidedBackprop'),
                   'gradient': ('gradient', 'NeuronGradient')}


class _NhwcFlatten(nn.Module):
  """Flattens NCHW maps in zfjax's NHWC order, so fc6's weights carry over."""

  def forward(self, x):
    return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x


def torch_model(params, spec: specs.Spec, image_size: int) -> nn.Sequential:
  """The spec's layers as a torch nn.Sequential holding `params`' values."""
  in_shapes = specs.input_shapes(spec, image_size)
  out_shapes = specs.layer_shapes(spec, image_size)
  modules = []
  for layer in spec.layers:
    if isinstance(layer, specs.Conv):
      conv = nn.Conv2d(in_shapes[layer.name][-1], layer.features,
                       layer.kernel, layer.stride, layer.padding,
                       groups=layer.groups)
      conv.weight.data = torch.from_numpy(np.ascontiguousarray(
          np.transpose(np.asarray(params[layer.name]['kernel']),
                       (3, 2, 0, 1))))
      conv.bias.data = torch.tensor(np.asarray(params[layer.name]['bias']))
      modules.append((layer.name, conv))
      if layer.relu:
        modules.append((layer.name + '_relu', nn.ReLU()))
    elif isinstance(layer, specs.MaxPool):
      lo, hi = layer.padding
      size = in_shapes[layer.name][0]
      ceil = -(-(size - layer.window) // layer.stride) + 1
      if lo == 0 and ceil == out_shapes[layer.name][0]:
        # Padding after only, as Caffe's ceil rounding does it.
        modules.append((layer.name, nn.MaxPool2d(layer.window, layer.stride,
                                                 ceil_mode=hi > 0)))
      else:
        modules.append((layer.name + '_pad', nn.ConstantPad2d(
            (lo, hi, lo, hi), -float('inf'))))
        modules.append((layer.name, nn.MaxPool2d(layer.window, layer.stride)))
    elif isinstance(layer, specs.LRN):
      # torch divides alpha by the window size; zfjax (Krizhevsky) does not.
      modules.append((layer.name, nn.LocalResponseNorm(
          layer.size, alpha=layer.alpha * layer.size, beta=layer.beta,
          k=layer.k)))
    elif isinstance(layer, specs.Dense):
      kernel = np.asarray(params[layer.name]['kernel'])
      linear = nn.Linear(*kernel.shape)
      linear.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
      linear.bias.data = torch.tensor(np.asarray(params[layer.name]['bias']))
      modules.append((layer.name + '_flatten', _NhwcFlatten()))
      modules.append((layer.name, linear))
      if layer.relu:
        modules.append((layer.name + '_relu', nn.ReLU()))
      if layer.dropout:
        modules.append((layer.name + '_dropout', nn.Dropout(layer.dropout)))
  return nn.Sequential(collections.OrderedDict(modules))


# Between timings: torch's OpenMP threads and XLA's keep spinning a while
# after their work ends, on the cores the other side's timing needs.
SETTLE_S = 0.5


def seconds(fn) -> float:
  time.sleep(SETTLE_S)
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


# In a side's worker process: the side (0 zfjax, 1 peer) it times, and its
# pipe to the row's process, which says when.
_WORKER = None


def say(*args) -> None:
  """print, from one side's process only (zfjax's)."""
  if _WORKER[0] == 0:
    print(*args, flush=True)


def lazy(make):
  """A function that builds its work with make() on its first call (so the
  other side's process never compiles it) and runs it."""
  built = []

  def run():
    if not built:
      built.append(make())
    return built[0]()
  return run


def side_by_side(name: str, unit: str, ours, theirs, rounds: int,
                 what: tuple[str, str] = ('zfjax', 'peer')) -> None:
  """ours/theirs: (count, fn) pairs. In a side's worker: one untimed call
  (compiles, warms), then one timing each time the row's process asks."""
  side, pipe = _WORKER
  count, fn = (ours, theirs)[side]
  fn()
  pipe.send((name, unit, what, count))
  while pipe.recv():
    pipe.send(seconds(fn))


def race(args) -> None:
  """The row, each side in a worker process of its own, timed in turn:
  each round asks one worker for a timing and waits for it before asking
  the other. Prints the best rate of each and their ratio."""
  context = multiprocessing.get_context('spawn')  # JAX's threads and fork
  pipes, workers = [], []
  for side in (0, 1):
    mine, theirs = context.Pipe()
    # daemon: a worker left waiting ends with this process.
    workers.append(context.Process(target=_worker, args=(args, side, theirs),
                                   daemon=True))
    workers[-1].start()
    pipes.append(mine)
  try:
    while (races := [pipe.recv() for pipe in pipes])[0] is not None:
      (name, unit, what, _), counts = races[0], [r[3] for r in races]
      best = [0.0, 0.0]
      for _ in range(args.rounds):
        for i, pipe in enumerate(pipes):
          pipe.send(True)
          best[i] = max(best[i], counts[i] / pipe.recv())
      for pipe in pipes:
        pipe.send(False)
      print(f'{name}: {what[0]} {best[0]:,.1f} {unit}/s, {what[1]} '
            f'{best[1]:,.1f} {unit}/s, ratio {best[0] / best[1]:.2f}',
            flush=True)
  except EOFError:
    sys.exit('error: a side\'s process ended early (its error is above)')
  for worker in workers:
    worker.join()


def _worker(args, side: int, pipe) -> None:
  global _WORKER
  _WORKER = (side, pipe)
  run_rows(args)
  pipe.send(None)


def occlusion_rows(args, params, spec, model, rows) -> None:
  softmax = nn.Sequential(model, nn.Softmax(dim=-1)).eval()
  occluder = captum.attr.Occlusion(softmax)

  def pair(n, stride, chunk):
    images = np.random.default_rng(1).normal(0, 50, (n, 224, 224, 3)).astype(
        np.float32)
    batch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1,
                                                                   2)))
    ours_count = n * len(occlusion.square_positions(224, 50, stride)) ** 2
    theirs_count = n * ((224 - 50) // stride + 1) ** 2

    def ours():
      return occlusion.occlusion_sweep(
          params, images, spec, labels=np.zeros(n, np.int32), size=50,
          stride=stride, chunk_size=chunk).p_true

    def theirs():
      with torch.no_grad():
        return occluder.attribute(
            batch, sliding_window_shapes=(3, 50, 50), strides=(3, stride,
                                                               stride),
            baselines=0, target=0, perturbations_per_eval=chunk).numpy()
    return (ours_count, ours), (theirs_count, theirs)

  if 'occlusion' in rows:
    for chunk in args.chunk_sizes:
      side_by_side(f'occlusion, 1 image, stride 8, chunk {chunk}',
                   'positions', *pair(1, 8, chunk), args.rounds,
                   ('zfjax', 'Captum'))
  if 'occlusion8' in rows:
    side_by_side('occlusion, 8 images, stride 4, chunk 256', 'positions',
                 *pair(8, 4, 256), args.rounds, ('zfjax', 'Captum'))
  if 'chunk' in rows:
    sweep, _ = pair(1, 8, 256)
    side_by_side('occlusion, 1 image, stride 8: the sweep (chunk 256) vs its '
                 'jitted chunk program alone', 'positions', sweep,
                 (256, lazy(lambda: _chunk_program(params, spec, 256))),
                 args.rounds,
                 ('sweep', 'chunk program'))


def _chunk_program(params, spec, chunk: int):
  """One call of the sweep's jitted chunk program, of `chunk` positions."""
  image = jnp.asarray(np.random.default_rng(1).normal(
      0, 50, (1, 224, 224, 3)), jnp.float32)
  starts = occlusion.square_positions(224, 50, 8)
  y, x = (a.ravel()[:chunk] for a in np.meshgrid(starts, starts,
                                                  indexing='ij'))
  jobs = np.stack([np.zeros_like(y), y, x], 1).astype(np.int32)
  plan = incremental.plan(spec, (224, 224),
                          np.stack([y, x, y + 50, x + 50], 1),
                          stop_before=spec.conv_names[-1])
  layer = spec.conv_names[-1]
  # pylint: disable=protected-access
  _, clean, _ = occlusion._clean_pass(params, image, spec, layer, plan.zone)
  args = (params, image, jnp.zeros(1, jnp.int32), jnp.zeros(1, jnp.int32),
          jnp.zeros((224, 224, 3)), clean, jnp.asarray(jobs),
          jnp.asarray(plan.starts), jnp.int32(0))

  def run():
    return occlusion._occluded_chunk(*args, spec=spec, layer=layer, size=50,
                                     zone=plan.zone, chunk=chunk)
  return run


def projection_row(args, params, spec, model, row: str) -> None:
  rule, peer = PROJECTION_ROWS[row]
  n, layer = args.deconv_images, 'conv5'
  images = np.random.default_rng(2).normal(0, 50, (n, 224, 224, 3)).astype(
      np.float32)
  trace_fn = jax.jit(models.forward_trace, static_argnums=2)
  trace = trace_fn(params, images, spec)[1]
  channels = np.arange(args.maps)
  # (maps, images) peak positions; the same units for both sides.
  y, x = (np.array(a) for a in jax.vmap(
      lambda c: deconv.strongest_position(trace, layer, c))(channels))
  image = np.tile(np.arange(n), args.maps)
  channel = np.repeat(channels, n)
  y, x = y.ravel(), x.ravel()
  total, chunk = len(image), 128

  def ours():
    tr = trace_fn(params, images, spec)[1]
    out = []
    for start in range(0, total, chunk):
      sl = slice(start, start + chunk)
      picks = [np.resize(a[sl], chunk) for a in (image, channel, y, x)]
      out.append(deconv.project_units(params, tr, spec, layer, *picks,
                                      rule=rule))
    return out

  relu = dict(model.named_children())[layer + '_relu']
  projector = getattr(captum.attr, peer)(model.eval(), relu)
  batch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
  rows = torch.arange(n)

  def theirs():
    out = []
    for c in channels:
      ty = torch.from_numpy(y[c * n:(c + 1) * n])
      tx = torch.from_numpy(x[c * n:(c + 1) * n])
      out.append(projector.attribute(
          batch, lambda maps, c=int(c), ty=ty, tx=tx: maps[rows, c, ty, tx]))
    return [o.detach().numpy() for o in out]

  if _WORKER[0] == 0:
    # The same job: the first map's projections.
    mine = np.asarray(ours()[0])[:n]
    peer_out = projector.attribute(
        batch, lambda maps: maps[rows, 0, torch.from_numpy(y[:n]),
                                 torch.from_numpy(x[:n])]).detach().numpy()
    peer_out = peer_out.transpose(0, 2, 3, 1)
    if rule == 'deconvnet':
      # Captum differentiates LRN, the deconvnet passes it through, and
      # seeds with 1 where it seeds with the activation: compare supports.
      agree = np.mean((mine != 0) == (peer_out != 0))
      say(f'{row}: the first map\'s {n} projections are non-zero at the '
          f'same pixels on {agree:.1%} of pixels')
    else:
      gap = np.abs(mine - peer_out).max() / np.abs(peer_out).max()
      say(f'{row}: the first map\'s {n} projections differ from Captum\'s '
          f'by at most {gap:.1e} of the largest |value|')
  side_by_side(f'{row}, conv5 units of {n} images ({total} projections)',
               'projections', (total, ours), (total, theirs), args.rounds,
               ('zfjax', 'Captum'))


def model_rows(args, params, spec, model, rows) -> None:
  b = 32
  rng = np.random.default_rng(3)
  images = rng.normal(0, 50, (b, 224, 224, 3)).astype(np.float32)
  batch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
  if 'forward' in rows:
    forward = jax.jit(lambda p, x: models.apply(p, x, spec))

    def theirs():
      with torch.no_grad():
        return model.eval()(batch).numpy()
    side_by_side('forward, batch 32', 'images',
                 (b, lambda: forward(params, images)), (b, theirs),
                 args.rounds, ('zfjax', 'torch eager'))
  if 'step' in rows:
    ours = lazy(lambda: forward_formulations.trainer_step(spec, b, 224))
    labels = torch.from_numpy(rng.integers(0, 1000, b))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9,
                                weight_decay=5e-4)

    def theirs():
      model.train()
      optimizer.zero_grad()
      loss = nn.functional.cross_entropy(model(batch), labels)
      loss.backward()
      optimizer.step()
      return loss.item()
    side_by_side('train step, batch 32', 'images', (b, ours), (b, theirs),
                 args.rounds, ('zfjax', 'torch eager'))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', nargs='+', choices=ROWS,
                      default=list(ROWS))
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--chunk_sizes', type=int, nargs='+', default=[32, 256])
  parser.add_argument('--deconv_images', type=int, default=9)
  parser.add_argument('--maps', type=int, default=256,
                      help='conv5 maps projected per image (deconv, guided '
                      'and gradient rows)')
  parser.add_argument('--malloc', choices=('keep', 'as_is'), default='keep',
                      help='glibc\'s malloc keeps freed memory (keep) or is '
                      'left as it starts (see the docstring)')
  args = parser.parse_args()
  if os.environ.get(ROW_MALLOC) is None:
    # Each row in a fresh process: glibc's setting has to come before any
    # thread starts, and what one row leaves in the allocators (glibc's
    # thresholds, heap fragmentation) moved the next row's figures by up
    # to 1.5x.
    rest, skipping = [], False
    for a in sys.argv[1:]:
      skipping = a == '--rows' or (skipping and not a.startswith('--'))
      if not skipping:
        rest.append(a)
    for row in args.rows:
      subprocess.run([sys.executable, __file__, '--rows', row] + rest,
                     check=True, env={**os.environ, ROW_MALLOC: args.malloc})
    return
  race(args)


def run_rows(args) -> None:
  """The rows of args.rows in a side's worker process."""
  spec = models.get_spec('zfnet', 1000)
  params = models.init_params(jax.random.PRNGKey(0), spec, 224,
                              weight_std=None)
  model = torch_model(params, spec, 224).eval()
  check = np.random.default_rng(0).normal(0, 50, (2, 224, 224, 3)).astype(
      np.float32)
  with torch.no_grad():
    theirs = model(torch.from_numpy(np.ascontiguousarray(
        check.transpose(0, 3, 1, 2)))).numpy()
  ours = np.asarray(models.apply(params, check, spec))
  say(f'device: {jax.devices()[0].device_kind} x{jax.device_count()}, '
      f'{os.cpu_count()} CPU cores; torch {torch.__version__} '
      f'({torch.get_num_threads()} threads), captum {captum.__version__}; '
      f'malloc {args.malloc}; XLA CPU convolutions from '
      f'{"YNNPACK" if runtime.ynn_convolutions() else "Eigen"}; each side in '
      f'a process of its own')
  say(f'same network: max |logit difference| '
      f'{np.abs(ours - theirs).max():.2e} (logits up to '
      f'{np.abs(ours).max():.2e})')
  occlusion_rows(args, params, spec, model, args.rows)
  for row in PROJECTION_ROWS:
    if row in args.rows:
      projection_row(args, params, spec, model, row)
  model_rows(args, params, spec, model, args.rows)


if __name__ == '__main__':
  main()
