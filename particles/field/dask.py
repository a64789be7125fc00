"""One field evaluation across a Dask cluster: row blocks of the exact O(n^2 d) field on the workers.

``velocity(x, dyn, scheduler=...)`` and ``simulate(..., scheduler=...)`` take the same ``scheduler``
as ``particles phase --scheduler``: ``"local"`` (a ``LocalCluster`` of single-threaded worker
processes on this machine), the address of a running scheduler (``"tcp://host:8786"``), an existing
``distributed.Client`` (left open), or a :class:`DaskField` (this module's evaluator, reused).

Per evaluation:

1. the state x (n, d) is sent once to every worker (``client.scatter(x, broadcast=True)``);
2. the rows are cut into blocks aligned with the local tiles (:func:`particles.field.rows.alignment`),
   about ``blocks_per_thread`` blocks per worker thread; each block is one task computing its rows
   against all n columns (:func:`particles.field.rows.attention_field_rows`: single-threaded, the
   local tiles and order of operations), so the blocks need no reduction across workers;
3. the blocks come back (one ``gather``) and are placed in row order; the feed-forward term and the tangent
   projection are applied here, exactly as :func:`particles.field.velocity` does.

The result is the local one to the last bit (see :mod:`particles.field.rows`; a one-thread local
evaluation must run OpenBLAS on one thread too, as ``field.fixed_order()`` does), under any OpenBLAS
kernel, as long as the workers run the same kernel as this process: OpenBLAS picks its GEMM kernels
by CPU (``OPENBLAS_CORETYPE``; the workers of a ``LocalCluster`` inherit this process's), and
kernels round some entries differently. Workers on another kind of CPU give the field to 1 ulp
(measured: at most 0.3 eps of difference in the field between the Haswell, SkylakeX and Sandybridge
kernels, n = 3000, d = 16).

A worker lost mid-evaluation: Dask reruns its blocks on the remaining workers (x is on all of them);
if the evaluation still fails (a worker lost while x was being sent, every worker gone for a while,
a block that killed its worker ``allowed-failures`` times), the whole evaluation is sent again, up to
``retries`` times. Nothing computed before the evaluation is lost: the state lives here.
Needs the optional ``dask`` extra: ``pip install -e '.[dask]'`` in the repository (or
``pip install 'dask[distributed]'``).
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..errors import ParticlesError
from ..model.params import Dynamics
from . import hardmax_dask, kernels, sinkhorn_dask
from .inputs import check_dtype, check_points, feedforward
from .rows import Plan, alignment, attention_field_rows
from .stable import repaired

#: how long to wait for a remote Dask scheduler before giving up
CONNECT_TIMEOUT = "20s"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ParticlesError(
            "a Dask scheduler needs dask[distributed]: pip install 'dask[distributed]', or "
            "pip install -e '.[dask]' in the repository"
        ) from None
    return distributed


def _block(x: np.ndarray, dyn: Dynamics, r0: int, r1: int, plan: Plan) -> np.ndarray:
    """One task: rows r0:r1 of the attention field (runs on a worker)."""
    if dyn.hardmax:  # beta = inf: particles.field.hardmax_dask
        return hardmax_dask.block(x, dyn, r0, r1)
    return attention_field_rows(x, dyn, r0, r1, plan)


class DaskField:
    """Evaluates the field on a Dask cluster; see the module docstring.

    **Arguments:**
    - ``client``: a ``distributed.Client``.
    - ``blocks_per_thread``: row blocks per worker thread (load balance against task overhead).
    - ``block_rows``: force this many rows per block (rounded up to the alignment).
    - ``retries``: how many times a failed evaluation is sent again.
    - ``timeout``: seconds an evaluation may take before it counts as failed (default: no limit).

    Use :meth:`connect` to build one from a ``scheduler`` argument; :meth:`close` closes what
    ``connect`` opened (a client given by the caller stays open). Usable as a context manager.
    """

    def __init__(
        self,
        client,
        *,
        blocks_per_thread: int = 2,
        block_rows: int | None = None,
        retries: int = 3,
        timeout: float | None = None,
        _owned=(),
    ):
        self.client = client
        self.blocks_per_thread = max(1, int(blocks_per_thread))
        self.block_rows = block_rows
        self.retries = max(0, int(retries))
        self.timeout = timeout
        self._owned = list(_owned)
        self.evaluations = 0
        self.resubmitted = 0  # evaluations sent again after a failure
        self.timing = {"scatter": 0.0, "compute": 0.0, "total": 0.0}

    # --- connecting ----------------------------------------------------------------------------

    @classmethod
    def connect(cls, scheduler="local", *, workers: int | None = None, **kw) -> DaskField:
        """A DaskField for ``scheduler``: ``"local"`` (a LocalCluster of ``workers`` single-threaded
        processes, default: one per core), an address, a ``Client`` or a DaskField (returned as is)."""
        if workers is not None:
            from ..errors import count

            workers = count(workers, "workers", 1, 4096)
            if scheduler not in (None, "local"):
                raise ParticlesError(
                    "workers is the size of a local Dask cluster (scheduler='local'); a remote "
                    "scheduler or a Client has its own workers"
                )
        if isinstance(scheduler, DaskField):
            return scheduler
        distributed = _distributed()
        if isinstance(scheduler, distributed.Client):
            return cls(scheduler, **kw)
        if scheduler in (None, "local"):
            cluster = distributed.LocalCluster(
                n_workers=max(1, int(workers or os.cpu_count() or 1)),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = distributed.Client(cluster)
            return cls(client, _owned=(client, cluster), **kw)
        if not isinstance(scheduler, str):
            raise ParticlesError(
                "scheduler must be 'local', a scheduler address, a distributed.Client or a "
                f"DaskField, got {type(scheduler).__name__}"
            )
        from ..sweeps.sweep import check_scheduler

        # a malformed address is a clear error, before anything is started
        scheduler = check_scheduler(scheduler)
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise ParticlesError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        return cls(client, _owned=(client,), **kw)

    def close(self) -> None:
        for obj in self._owned:
            try:
                obj.close()
            except Exception:  # pragma: no cover - closing a cluster that is already gone
                pass
        self._owned = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # --- evaluating ----------------------------------------------------------------------------

    def threads(self) -> int:
        """Worker threads in the cluster now (at least 1)."""
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # pragma: no cover - scheduler unreachable: the evaluation will say so
            return 1

    def blocks(self, n: int, d: int, dyn: Dynamics, plan: Plan) -> list[tuple[int, int]]:
        """The row blocks [(r0, r1)] of one evaluation: aligned, about blocks_per_thread per thread."""
        a = hardmax_dask.alignment(n) if dyn.hardmax else alignment(n, d, dyn, plan)
        if self.block_rows:
            size = a * max(1, -(-int(self.block_rows) // a))
        else:
            target = self.blocks_per_thread * self.threads()
            size = a * max(1, -(-n // (a * target)))
        return [(r0, min(n, r0 + size)) for r0 in range(0, n, size)]

    def attention(self, x: np.ndarray, dyn: Dynamics) -> np.ndarray:
        """The attention part of the raw field (every head, no ffn, no projection) at validated x."""
        if dyn.kind == "SK":  # Sinkhorn: a round of row-block tasks per pass
            return sinkhorn_dask.attention(self, x, dyn, _distributed())
        distributed = _distributed()
        n, d = x.shape
        plan = Plan.here()
        blocks = self.blocks(n, d, dyn, plan)
        out = np.empty((n, d), dtype=x.dtype)
        last = None
        t0 = time.perf_counter()
        for attempt in range(self.retries + 1):
            futs = []
            try:
                ts = time.perf_counter()
                xf = self.client.scatter(x, broadcast=True, hash=False)
                self.timing["scatter"] += time.perf_counter() - ts
                futs = [
                    self.client.submit(_block, xf, dyn, r0, r1, plan, pure=False, retries=1)
                    for r0, r1 in blocks
                ]
                distributed.wait(futs, timeout=self.timeout)
                for (r0, r1), rows in zip(blocks, self.client.gather(futs), strict=True):
                    out[r0:r1] = rows  # in row order
                self.evaluations += 1
                self.timing["total"] += time.perf_counter() - t0
                return out
            except KeyboardInterrupt:
                self.client.cancel(futs)
                raise
            except Exception as e:  # a lost worker, lost data, a closed connection: send again
                last = e
                self.client.cancel(futs)
                if attempt < self.retries:
                    self.resubmitted += 1
                    time.sleep(min(5.0, 0.5 * 2**attempt))
        raise ParticlesError(
            f"the distributed field evaluation failed {self.retries + 1} times; last error: "
            f"{type(last).__name__}: {last}"
        )

    def velocity(self, x, dyn: Dynamics, *, dtype=np.float64, project: bool = True) -> np.ndarray:
        """:func:`particles.velocity` evaluated on the cluster (same arguments, same result)."""
        if not isinstance(dyn, Dynamics):
            raise ParticlesError(f"dyn must be a particles.Dynamics, got {type(dyn).__name__}")
        dt = check_dtype(dtype)
        x = check_points(x)
        dyn.check_dimension(x.shape[1])
        if dt is np.float32:
            x = x.astype(np.float32)
        return finish(x, self.attention(x, dyn), dyn, project)


def finish(
    x: np.ndarray, f: np.ndarray, dyn: Dynamics, project: bool, repair: bool = True
) -> np.ndarray:
    """Add the feed-forward term and project, as :func:`particles.field.velocity` does (rows
    that lost their digits or overflowed are evaluated again here, unless ``repair`` is False:
    :func:`particles.field.repaired`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if dyn.ffn is not None:
            f += feedforward(x, dyn.ffn).astype(x.dtype)
        if not project:
            return repaired(x, dyn, f, None) if repair and not dyn.hardmax else f
        out = np.empty_like(f)
        kernels.pick(kernels._project_tangent, f.size)(x, f, out)
    return out if dyn.hardmax else repaired(x, dyn, f, out)  # hardmax: nothing to repair


def raw_field(x: np.ndarray, dyn: Dynamics, scheduler) -> np.ndarray:
    """:func:`particles.field.raw_field` (attention + feed-forward, no projection) of a validated x
    on ``scheduler``; a LocalCluster started for ``"local"`` is closed again after the call."""
    field = DaskField.connect(scheduler)
    try:
        # not repaired here: the caller projects, then repairs (an overflowing raw row may have a
        # representable tangent part)
        return finish(x, field.attention(x, dyn), dyn, project=False, repair=False)
    finally:
        if field is not scheduler:
            field.close()


def velocity(x, dyn: Dynamics, scheduler, *, dtype=np.float64, project: bool = True) -> np.ndarray:
    """:func:`particles.velocity` on ``scheduler`` (a LocalCluster started for ``"local"`` is closed
    again after the call: pass a ``Client`` or a :class:`DaskField` to reuse one)."""
    field = DaskField.connect(scheduler)
    try:
        return field.velocity(x, dyn, dtype=dtype, project=project)
    finally:
        if field is not scheduler:
            field.close()
