"""Figures and tables: arrays to image grids, the paper's plots, CSV and text
tables of the analyses' results. Matplotlib through its object interface.

May import: `zfjax.analyses` (their result types), `zfjax.networks`,
`zfjax.errors`.
"""
