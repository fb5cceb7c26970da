"""Config files: the Table 3 family is its base config with only `model`
changed, one variant per ablation spec."""

import pytest

from configs import ablation, alexnet_imagenet, zfnet_imagenet
from zfjax.networks import specs

# ZF Table 3's ablations as the paper lists them (PAPER.md §1).
TABLE3 = {
    'alexnet': ('remove34', 'remove7', 'remove67', 'remove3467', 'fc2048',
                'fc8192'),
    'zfnet': ('fc2048', 'fc8192', 'conv512_1024_512',
              'conv512_1024_512_fc8192'),
}


def test_one_variant_per_table3_ablation():
  expected = {f'{base}_{change}' for base, changes in TABLE3.items()
              for change in changes}
  assert set(ablation.BASES) == expected
  assert expected <= set(specs.SPECS)


@pytest.mark.parametrize('variant', sorted(ablation.BASES))
def test_variant_differs_from_its_base_only_in_model(variant):
  base = (alexnet_imagenet if variant.startswith('alexnet')
          else zfnet_imagenet).get_config().to_dict()
  config = ablation.get_config(variant).to_dict()
  assert config.pop('model') == variant
  base.pop('model')
  assert config == base


def test_unknown_variant_names_the_known_ones():
  with pytest.raises(ValueError, match='zfnet_fc2048'):
    ablation.get_config('zfnet_fc4096')


def test_fidelity_siblings_differ_only_where_fig6_compares():
  """Fig. 6's sibling runs: the fidelity run with another first layer, or
  without clipping, trained half as long (so without the reference's late
  rate cut); everything else equal."""
  from configs import synthetic_fidelity  # pylint: disable=g-import-not-at-top
  main = synthetic_fidelity.get_config().to_dict()
  assert main['clip_radius'] == 0.1
  assert main['keep_epochs'] == tuple(range(1, main['num_epochs'] + 1))
  changes = {'conv1_11x11s4': {'model': 'zfnet_small_11x11s4'},
             'no_clipping': {'clip_radius': None}}
  for variant, change in changes.items():
    config = synthetic_fidelity.get_config(variant).to_dict()
    assert config['num_epochs'] == main['num_epochs'] // 2
    assert config['keep_epochs'] == (config['num_epochs'],)
    differ = {k for k in config if config[k] != main[k]}
    assert differ == set(change) | {'num_epochs', 'keep_epochs', 'rate_cuts'}
    assert config['rate_cuts'] == ()
    assert all(cut > config['num_epochs'] for cut in main['rate_cuts'])
    assert all(config[k] == v for k, v in change.items())
  with pytest.raises(ValueError, match='no_clipping'):
    synthetic_fidelity.get_config('clipped')


def test_11x11_analogue_matches_zfnet_small_above_its_first_layer():
  small = specs.get_spec('zfnet_small', 24)
  wide = specs.get_spec('zfnet_small_11x11s4', 24)
  for size in (56, 84):
    a, b = specs.layer_shapes(small, size), specs.layer_shapes(wide, size)
    assert a['pool1'] == b['pool1']
    assert all(a[l.name] == b[l.name] for l in small.layers[2:])
  assert wide.layers[2:] == small.layers[2:]
  assert (wide.layers[0].kernel, wide.layers[0].stride) == (11, 4)


def test_fidelity_validation_split_holds_the_faces_claim_6_draws_from():
  """Labels cycle through the classes, so the validation split holds
  num_eval / num_classes images of each; claim 6 wants 40 faces of the
  classes with eyes and a nose, and 40 of the first alone beside them."""
  from configs import synthetic_fidelity  # pylint: disable=g-import-not-at-top
  from zfjax.analyses import scorecard  # pylint: disable=g-import-not-at-top
  shapes = synthetic_fidelity.get_config().shapes
  assert (shapes.num_eval // shapes.num_classes
          >= scorecard.CORRESPONDENCE_FACES)
