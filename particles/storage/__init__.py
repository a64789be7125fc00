"""Result files: the ``.npz`` format (:mod:`.npz`), zarr trajectory stores (:mod:`.zarr`), the
:class:`~particles.storage.trajectory.Trajectory` that reads and writes both, and the description
of any result file (:mod:`.results`)."""
