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
