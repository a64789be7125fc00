"""Resumable parameter sweeps (:mod:`.sweep`: serial, local processes or Dask) and the parameter
grids they run over (:mod:`.grids`)."""
