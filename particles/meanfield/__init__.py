"""Mean-field (continuity / Fokker–Planck) equations of the attention dynamics.

The limit n -> infinity of the particle system (arXiv 2312.10794, §2 and the continuity equation
of its mean-field description): a density rho(t, x) on S^{d-1} transported by the attention field
X[rho] and, for kappa < infinity, diffused by (1/kappa) Delta. Modules:

- :mod:`particles.meanfield.sphere`: d = 3, pseudo-spectral in spherical harmonics (ducc0).
"""
