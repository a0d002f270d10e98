"""At most one controller drives a deployment: a coordination.k8s.io Lease per deployment.

A controller takes the Lease when it is free or its holder stopped renewing it (a pod
that was killed), renews it while it works, and gives it back when it is done. Every
change is an update with the object's resourceVersion, so two controllers racing for
it cannot both win (the loser gets 409 Conflict and looks again).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.errors import NotFoundError, TargetUnreachableError

DURATION_SECONDS = 15


class LeaseLostError(TargetUnreachableError):
    """Another controller holds the deployment's Lease (ours expired)."""


class DeploymentLease:
    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        name: str,
        holder: str,
        duration: int = DURATION_SECONDS,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.holder = holder
        self.duration = duration
        self._renewer: asyncio.Task[None] | None = None

    @property
    def renewing(self) -> asyncio.Task[None] | None:
        """The task renewing the Lease while it is ours (it ends only if the Lease is lost)."""
        return self._renewer

    # -- taking and giving back ---------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take the Lease if it is free, expired, or ours already (one attempt)."""
        now = _now()
        try:
            lease = self.cluster.call(
                self.cluster.coordination.read_namespaced_lease, self.name, self.namespace
            )
        except NotFoundError:
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                spec=self._spec(now, now),
            )
            api = self.cluster.coordination
            return self._write(lambda: api.create_namespaced_lease(self.namespace, body))
        spec = lease.spec or client.V1LeaseSpec()
        if spec.holder_identity not in (None, "", self.holder) and not _expired(spec):
            return False
        acquired = now if spec.holder_identity != self.holder else spec.acquire_time or now
        lease.spec = self._spec(acquired, now)
        return self._replace(lease)

    async def acquire(self, timeout: float, poll: float = 1.0) -> None:
        """Wait until the Lease is ours (a holder that stopped renewing loses it)."""
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self.try_acquire):
            if time.monotonic() > deadline:
                raise LeaseLostError(
                    f"another controller drives this deployment (Lease {self.name} in "
                    f"{self.namespace}) - wait for it, or cancel its run"
                )
            # the holder renews every duration/3: looking more often would not help
            await asyncio.sleep(poll)
        self._renewer = asyncio.ensure_future(self._renew())

    def release(self) -> None:
        """Give the Lease back (only if it is still ours)."""
        if self._renewer is not None:
            self._renewer.cancel()
        with contextlib.suppress(Exception):
            lease = self.cluster.call(
                self.cluster.coordination.read_namespaced_lease, self.name, self.namespace
            )
            spec = lease.spec
            if spec is not None and spec.holder_identity == self.holder:
                spec.holder_identity = None
                spec.renew_time = None
                self._replace(lease)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.duration / 3)
            if not await asyncio.to_thread(self.try_acquire):
                raise LeaseLostError(f"lost Lease {self.name}: another controller took it")

    # -- helpers ------------------------------------------------------------------------------

    def _spec(self, acquired: dt.datetime, renewed: dt.datetime) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(
            holder_identity=self.holder,
            lease_duration_seconds=self.duration,
            acquire_time=acquired,
            renew_time=renewed,
        )

    def _replace(self, lease: Any) -> bool:
        api = self.cluster.coordination
        # the read's resourceVersion travels in lease.metadata: a stale one is a 409
        return self._write(lambda: api.replace_namespaced_lease(self.name, self.namespace, lease))

    def _write(self, write: Callable[[], Any]) -> bool:
        """True when the write went through; False when another writer got there first."""
        try:
            write()
        except ApiException as exc:
            if exc.status in (409, 422):  # someone else created or updated it meanwhile
                return False
            raise self.cluster.error(exc) from None
        return True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expired(spec: Any) -> bool:
    renewed = spec.renew_time or spec.acquire_time
    if renewed is None:
        return True
    seconds = spec.lease_duration_seconds or DURATION_SECONDS
    return bool(_now() - renewed > dt.timedelta(seconds=seconds))
