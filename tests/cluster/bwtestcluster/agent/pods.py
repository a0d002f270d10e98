"""One worker thread per pod: sandbox, containers (processes of this machine, or in their
images under podman: ``containers.py``), probes, status, deletion."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client

from bwtestcluster import network
from bwtestcluster.agent import containers, envvars, probes, volumes
from bwtestcluster.agent.logs import LogSource, pump

if TYPE_CHECKING:
    from bwtestcluster.agent.main import Agent

log = logging.getLogger("agent.pods")

TICK = 0.2
MAX_BACKOFF = 10.0  # seconds between in-place restarts (the kubelet caps at 5 minutes)


def stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerRun:
    """A container of the pod and its current (or last) process."""

    def __init__(self, spec: client.V1Container, pod_dir: Path, init: bool) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.init = init
        self.dir = pod_dir / spec.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pump: threading.Thread | None = None
        self.attempts = 0  # processes started so far
        self.restart_count = 0
        self.started_at: str | None = None
        self.started_mono = 0.0
        self.terminated: dict[str, Any] | None = None  # state.terminated of the last run
        self.last_state: dict[str, Any] | None = None
        self.waiting = ("ContainerCreating", None)
        self.next_start = 0.0
        self.backoff = 1.0
        self.ready = False
        self.startup_done = spec.startup_probe is None
        self.probe_state: dict[str, probes.ProbeState] = {}
        self.env: dict[str, str] = {}
        self.cwd = str(self.dir)
        self.kill_reason: str | None = None
        self.container: str | None = None  # container mode: the podman container's name
        self.container_pid: int | None = None
        self.image_id: str | None = None
        self.pull_failures = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.terminated is None

    def log_path(self, attempt: int) -> Path:
        return self.dir / f"{attempt}.log"

    def container_id(self, uid: str) -> str:
        return f"bwtc://{uid}/{self.name}/{max(self.attempts - 1, 0)}"

    def status(self, uid: str) -> dict[str, Any]:
        state: dict[str, Any] = {"waiting": None, "running": None, "terminated": None}
        if self.running:
            state["running"] = {"startedAt": self.started_at}
        elif self.terminated is not None and not self.waiting[0]:
            state["terminated"] = self.terminated
        else:
            reason, message = self.waiting
            state["waiting"] = {"reason": reason or "ContainerCreating", "message": message}
        last: dict[str, Any] = {"waiting": None, "running": None, "terminated": self.last_state}
        return {
            "name": self.name,
            "image": self.spec.image or "",
            "imageID": self.image_id or f"bodywork-testcluster/{self.spec.image or 'none'}",
            "containerID": self.container_id(uid) if self.attempts else None,
            "ready": self.ready,
            "started": self.running and self.startup_done,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": last,
        }


class PodWorker(threading.Thread):
    def __init__(self, agent: Agent, pod: client.V1Pod) -> None:
        super().__init__(name=f"pod:{pod.metadata.namespace}/{pod.metadata.name}", daemon=True)
        self.agent = agent
        self.config = agent.config
        self.pod = pod
        self.uid: str = pod.metadata.uid
        self.namespace: str = pod.metadata.namespace
        self.pod_name: str = pod.metadata.name
        self.dir = self.config.pods_dir / f"{self.namespace}_{self.pod_name}_{self.uid}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.changed = threading.Event()
        self.gone = False  # the pod object no longer exists
        self.stopping = False  # the agent is shutting down
        self.ip: str | None = None
        self.netns: str | None = None
        self.start_time: str | None = None
        self.init_runs = [ContainerRun(c, self.dir, True) for c in pod.spec.init_containers or []]
        self.runs = [ContainerRun(c, self.dir, False) for c in pod.spec.containers]
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.sent: dict[str, Any] | None = None
        self.terminal = False
        self.lock = threading.Lock()
        self.volume_sources: dict[str, Path] | None = None
        self.mount_points: list[Path] = []
        #: container mode: podman runs the containers in their images (else processes)
        self.podman = agent.podman_for(pod)

    # -- called by the agent ------------------------------------------------------

    def update(self, pod: client.V1Pod) -> None:
        self.pod = pod
        self.changed.set()

    def deleted(self) -> None:
        self.gone = True
        self.changed.set()

    def shutdown(self) -> None:
        self.stopping = True
        self.changed.set()

    def locate_log(self, container: str, previous: bool) -> LogSource | str:
        for run in self.init_runs + self.runs:
            if run.name != container:
                continue
            if previous:
                # in back-off the last run is the previous one; else the one before it
                attempt = run.attempts - (1 if run.waiting[0] and not run.running else 2)
                if attempt < 0:
                    return (
                        f'previous terminated container "{container}" in pod '
                        f'"{self.pod_name}" not found'
                    )
                return LogSource(run.log_path(attempt), lambda: False)
            if run.attempts == 0:
                reason = run.waiting[0] or "ContainerCreating"
                return (
                    f'container "{container}" in pod "{self.pod_name}" is waiting to start: '
                    f"{reason}"
                )
            return LogSource(
                run.log_path(run.attempts - 1),
                lambda t=run.pump: t is not None and t.is_alive(),  # type: ignore[misc]
            )
        return f'container {container} is not valid for pod {self.pod_name}'

    def describe(self, container: str) -> dict[str, Any] | str:
        """What exec and port-forward need: the sandbox, and a container's process."""
        if self.netns is None or self.ip is None:
            return f'pod "{self.pod_name}" is not running'
        info: dict[str, Any] = {"uid": self.uid, "netns": self.netns, "podIP": self.ip}
        if not container:
            return info
        for run in self.init_runs + self.runs:
            if run.name == container:
                pid = self._pid(run)
                if not run.running or pid is None:
                    return f'container "{container}" in pod "{self.pod_name}" is not running'
                # in a container the working directory is the image's, not this machine's
                where = "/" if run.container else run.cwd
                return {**info, "pid": pid, "env": run.env, "dir": where}
        return f'container {container} is not valid for pod {self.pod_name}'

    # -- the worker ------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # keep the agent alive; the pod is reported failed
            log.exception("pod worker %s/%s crashed", self.namespace, self.pod_name)
            self._kill_all(0)
            self.phase, self.reason = "Failed", "NodeAgentError"
            self.message = "the test cluster's node agent failed on this pod: see its log"
            self.terminal = True
            self._report()
            self._teardown()
        finally:
            self.agent.forget(self)

    def _deleting(self) -> bool:
        return self.gone or self.stopping or self.pod.metadata.deletion_timestamp is not None

    def _run(self) -> None:
        if self.pod.status and self.pod.status.phase in ("Succeeded", "Failed"):
            self.terminal = True  # finished before this agent started: nothing to run
        else:
            self.start_time = stamp()
            self._setup_sandbox()
            self._report()
        while not self._deleting():
            if not self.terminal:
                self._step()
                self._report()
            self.changed.wait(TICK if not self.terminal else 5)
            self.changed.clear()
        self._terminate()

    def _setup_sandbox(self) -> None:
        self.ip = self.agent.ipam.allocate(self.uid)
        self.netns = network.create_sandbox(self.config, self.uid, self.ip)
        self._write_resolver()

    def _write_resolver(self) -> None:
        if self.netns and self.ip:
            hosts = self.agent.services.hosts_file(self.namespace, self.pod, self.ip)
            network.write_resolver_files(self.config, self.netns, hosts, self.namespace)

    def refresh_resolver(self) -> None:
        with self.lock:
            if not self.terminal and not self._deleting():
                try:
                    self._write_resolver()
                except OSError:
                    pass

    def _teardown(self) -> None:
        with self.lock:
            if self.podman is not None and not self.podman.missing:
                self.podman.remove_pod(self.uid)
            if self.netns:
                network.delete_sandbox(self.config, self.netns)
                self.netns = None
            if self.ip:
                self.agent.ipam.release(self.uid)
                self.ip = None
            self.agent.mount_points.release(self.mount_points)
            self.mount_points = []

    # -- containers ----------------------------------------------------------------

    def _start(self, run: ContainerRun) -> None:
        assert self.netns is not None and self.ip is not None
        self.pod.status = self.pod.status or client.V1PodStatus()
        self.pod.status.pod_ip = self.ip
        self.pod.status.host_ip = self.config.bridge_ip
        if self.podman is not None:
            self._start_container(run, self.podman)
            return
        try:
            resolver = envvars.Resolver(self.agent.core, self.namespace)
            image = envvars.image_config(self.agent.core, run.spec.image)
            env = {
                **(image or {}).get("env", {}),
                **envvars.container_env(
                    self.pod, run.spec, resolver, self.agent.services.link_env(self.namespace)
                ),
            }
            argv = envvars.command_line(run.spec, env, image)
            mounts, taken = volumes.mount_script(
                run.spec, self._volumes(), self.agent.mount_points,
                volumes.read_only_volumes(self.pod),
            )  # fmt: skip
            self.mount_points += taken
        except envvars.ConfigError as exc:
            self._config_error(run, exc)
            return
        cwd = run.spec.working_dir or (image or {}).get("workingDir")
        if not cwd or not os.path.isdir(cwd):
            cwd = str(run.dir)  # a missing workingDir would be made inside the image
        path = run.log_path(run.attempts)
        path.write_bytes(b"")
        proc = self._spawn(
            run,
            [
                "ip", "netns", "exec", self.netns,
                # its own UTS namespace, so the pod's hostname is its name
                "unshare", "--uts", "--", "sh", "-ec",
                "\n".join([*mounts, 'hostname "$0"', 'exec "$@"']),
                env["HOSTNAME"][:63].rstrip("-."), *argv,
            ],  # fmt: skip
            env,
            cwd,
        )
        if proc is None:
            return
        run.container = None
        self._record_start(run, proc, path, env, cwd, argv)

    def _spawn(
        self, run: ContainerRun, argv: list[str], env: dict[str, str], cwd: str | None
    ) -> subprocess.Popen[bytes] | None:
        """The container's process, its output piped to the log; None (the container
        waiting in RunContainerError) if it cannot start."""
        try:
            return subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            run.waiting = ("RunContainerError", str(exc))
            run.next_start = time.monotonic() + 2
            return None

    def _config_error(self, run: ContainerRun, exc: Exception) -> None:
        if run.waiting[0] != "CreateContainerConfigError":
            self.agent.event(self.pod, "Warning", "Failed", f"Error: {exc}")
        run.waiting = ("CreateContainerConfigError", str(exc))
        run.next_start = time.monotonic() + 2

    def _volumes(self) -> dict[str, Path]:
        """The pod's volumes, made once; in container mode left as the kubelet leaves
        them for a container's user (emptyDirs open to all, fsGroup owning the rest)."""
        if self.volume_sources is None:
            maker = volumes.VolumeMaker(self.agent.core, self.pod, self.dir / "volumes")
            made = {v.name: maker.make(v) for v in self.pod.spec.volumes or []}
            if self.podman is not None:
                context = self.pod.spec.security_context
                group = context.fs_group if context is not None else None
                for volume in self.pod.spec.volumes or []:
                    if volume.host_path is None:
                        containers.prepare_volume(
                            made[volume.name], group, volume.empty_dir is not None
                        )
            self.volume_sources = made
        return self.volume_sources

    def _pull(self, run: ContainerRun, podman: containers.Podman) -> bool:
        """The container's image in podman's storage, pulled if its policy says so;
        False (the container waiting in ErrImagePull, then ImagePullBackOff) if not."""
        image = run.spec.image or ""
        try:
            present = podman.present(image)
            if containers.wants_pull(run.spec, present):
                self.agent.event(self.pod, "Normal", "Pulling", f'Pulling image "{image}"')
                started = time.monotonic()
                podman.pull(image, containers.auth_file(self.agent.core, self.pod, self.dir))
                took = time.monotonic() - started
                self.agent.event(
                    self.pod, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took:.1f}s'
                )
        except containers.PullError as exc:
            run.pull_failures += 1
            self.agent.event(self.pod, "Warning", "Failed", f'Failed to pull image "{image}": {exc}')
            self.agent.event(self.pod, "Warning", "Failed", f"Error: {exc.reason}")
            if run.pull_failures == 1 or exc.reason != "ErrImagePull":
                run.waiting = (exc.reason, str(exc))
            else:
                run.waiting = ("ImagePullBackOff", f'Back-off pulling image "{image}": {exc}')
            run.next_start = time.monotonic() + min(2.0**run.pull_failures, MAX_BACKOFF)
            return False
        run.pull_failures = 0
        return True

    def _start_container(self, run: ContainerRun, podman: containers.Podman) -> None:
        """``podman run`` of the container's image, in the pod's sandbox."""
        assert self.netns is not None
        if podman.missing:
            run.waiting = ("CreateContainerError", podman.missing)
            run.next_start = time.monotonic() + 2
            return
        if not self._pull(run, podman):
            return
        image = run.spec.image or ""
        name = f"bwtc-{self.uid[:8]}-{run.name}-{run.attempts}"
        try:
            config = podman.config(image)
            env = envvars.container_env(
                self.pod, run.spec, envvars.Resolver(self.agent.core, self.namespace),
                self.agent.services.link_env(self.namespace), in_image=True,
            )  # fmt: skip
            argv = envvars.command_line(
                run.spec, env, {"command": config.entrypoint, "args": config.cmd}
            )
            mounts = volumes.mounts(
                run.spec, self._volumes(), volumes.read_only_volumes(self.pod)
            )
            podman.remove(name)  # left by an agent that stopped meanwhile
            args = containers.run_argv(
                name=name, pod=self.pod, container=run.spec, image=config,
                netns_path=f"/run/netns/{self.netns}",
                etc_dir=network.NETNS_ETC / self.netns,
                hostname=env["HOSTNAME"][:63].rstrip("-."),
                env=env, inline=[k for k in env if podman.own(k)], argv=argv, mounts=mounts,
                working_dir=run.spec.working_dir, ca_bundle=self.config.ca_bundle,
            )  # fmt: skip
        except envvars.ConfigError as exc:
            self._config_error(run, exc)
            return
        path = run.log_path(run.attempts)
        path.write_bytes(b"")
        # podman's environment holds the values --env KEY reads (the inline ones are its own)
        own = {k: v for k, v in env.items() if not podman.own(k)}
        proc = self._spawn(run, args, {**own, **podman.env}, None)
        if proc is None:
            return
        run.container = name
        run.image_id = podman.image_id(image)
        self._record_start(run, proc, path, env, "/", argv)

    def _record_start(
        self,
        run: ContainerRun,
        proc: subprocess.Popen[bytes],
        path: Path,
        env: dict[str, str],
        cwd: str,
        argv: list[str],
    ) -> None:
        assert proc.stdout is not None
        run.pump = pump(proc.stdout, path)
        run.proc = proc
        run.env = env
        run.cwd = cwd
        run.container_pid = None
        run.attempts += 1
        run.started_at = stamp()
        run.started_mono = time.monotonic()
        run.terminated = None
        run.waiting = (None, None)
        run.ready = False
        run.kill_reason = None
        run.startup_done = run.spec.startup_probe is None
        now = time.monotonic()
        run.probe_state = {
            kind: probes.ProbeState(probe, now)
            for kind, probe in (
                ("startup", run.spec.startup_probe),
                ("readiness", run.spec.readiness_probe),
                ("liveness", run.spec.liveness_probe),
            )
            if probe is not None
        }
        log.info("%s/%s: started %s: %s", self.namespace, self.pod_name, run.name, argv)
        self.agent.event(self.pod, "Normal", "Started", f"Started container {run.name}")

    def _reap(self, run: ContainerRun) -> bool:
        """True if the process of ``run`` has just exited."""
        if not run.running or run.proc is None:
            return False
        code = run.proc.poll()
        if code is None:
            return False
        if run.pump is not None:
            run.pump.join(timeout=2)
        exit_code = code if code >= 0 else 128 + (-code)
        reason = run.kill_reason or ("Completed" if exit_code == 0 else "Error")
        if run.container is not None and self.podman is not None:
            if self.podman.oom_killed(run.container):
                reason = "OOMKilled"
            self.podman.remove(run.container)
        run.terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": run.started_at,
            "finishedAt": stamp(),
            "containerID": run.container_id(self.uid),
            "signal": -code if code < 0 else None,
            "message": None,
        }
        run.ready = False
        log.info("%s/%s: %s exited %s", self.namespace, self.pod_name, run.name, exit_code)
        return True

    def _should_restart(self, run: ContainerRun) -> bool:
        policy = self.pod.spec.restart_policy or "Always"
        if run.init and policy == "Always":
            policy = "OnFailure"  # init containers run to completion
        assert run.terminated is not None
        if policy == "Always":
            return True
        if policy == "OnFailure":
            return run.terminated["exitCode"] != 0
        return False

    def _schedule_restart(self, run: ContainerRun) -> None:
        run.last_state = run.terminated
        run.restart_count += 1
        run.next_start = time.monotonic() + run.backoff
        if time.monotonic() - run.started_mono > 30:
            run.backoff = 1.0
        run.backoff = min(run.backoff * 2, MAX_BACKOFF)
        run.waiting = ("CrashLoopBackOff", f"back-off restarting failed container {run.name}")
        self.agent.event(
            self.pod, "Warning", "BackOff", f"Back-off restarting failed container {run.name}"
        )

    def _probe(self, run: ContainerRun) -> None:
        assert self.ip is not None and self.netns is not None
        now = time.monotonic()
        for kind in ("startup", "readiness", "liveness"):
            state = run.probe_state.get(kind)
            if state is None or not state.due(now):
                continue
            if kind != "startup" and not run.startup_done:
                continue
            if kind == "startup" and run.startup_done:
                continue
            pid = self._pid(run)
            ok = probes.check(state.probe, run.spec, self.ip, self.netns, run.env, pid)
            state.record(ok, time.monotonic())
            if not ok and state.failures == (state.probe.failure_threshold or 3):
                self.agent.event(
                    self.pod, "Warning", "Unhealthy", f"{kind.capitalize()} probe failed"
                )
            if kind == "startup" and state.result is True:
                run.startup_done = True
            elif kind in ("startup", "liveness") and state.result is False:
                log.info("%s/%s: %s failed %s probe", self.namespace, self.pod_name, run.name, kind)
                self.agent.event(
                    self.pod, "Normal", "Killing",
                    f"Container {run.name} failed {kind} probe, will be restarted",
                )  # fmt: skip
                self._kill(run, int(self.pod.spec.termination_grace_period_seconds or 30), "Error")
        if run.running and run.startup_done:
            readiness = run.probe_state.get("readiness")
            run.ready = readiness.result is True if readiness else True

    def _pre_stop(self, grace: float) -> None:
        """Run the containers' preStop hooks (exec or httpGet) within the grace period."""
        for run in self.runs:
            hook = run.spec.lifecycle.pre_stop if run.spec.lifecycle else None
            if hook is None or not run.running or self.ip is None or self.netns is None:
                continue
            probe = client.V1Probe(
                _exec=getattr(hook, "_exec", None),
                http_get=hook.http_get,
                tcp_socket=hook.tcp_socket,
                timeout_seconds=max(1, int(grace)),
            )
            if hook.sleep is not None:
                time.sleep(min(float(hook.sleep.seconds), grace))
            elif not probes.check(probe, run.spec, self.ip, self.netns, run.env, self._pid(run)):
                self.agent.event(
                    self.pod, "Warning", "FailedPreStopHook", f"PreStopHook failed for {run.name}"
                )

    def _kill(self, run: ContainerRun, grace: int, reason: str | None = None) -> None:
        if not run.running or run.proc is None:
            return
        run.kill_reason = reason
        self._signal(run, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while run.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if run.proc.poll() is None:
            self._signal(run, signal.SIGKILL)
            run.proc.wait()
        self._reap(run)

    def _kill_all(self, grace: float) -> None:
        running = [r for r in self.init_runs + self.runs if r.running and r.proc is not None]
        for run in running:
            self._signal(run, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(r.proc.poll() is None for r in running) and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        for run in running:
            assert run.proc is not None
            if run.proc.poll() is None:
                self._signal(run, signal.SIGKILL)
                run.proc.wait()
            self._reap(run)

    def _signal(self, run: ContainerRun, sig: int) -> None:
        """A container's processes get ``sig``: through podman in container mode (its
        ``run`` process only attaches), else the process group."""
        assert run.proc is not None
        if run.container is not None and self.podman is not None:
            self.podman.signal(run.container, "KILL" if sig == signal.SIGKILL else "TERM")
            if sig != signal.SIGKILL:
                return
        _signal_group(run.proc.pid, sig)

    def _pid(self, run: ContainerRun) -> int | None:
        """The container's first process: exec probes and ``kubectl exec`` enter it."""
        if run.proc is None:
            return None
        if run.container is None or self.podman is None:
            return run.proc.pid
        if run.container_pid is None:
            run.container_pid = self.podman.pid(run.container)
        return run.container_pid

    def _step(self) -> None:
        now = time.monotonic()
        policy = self.pod.spec.restart_policy or "Always"
        # init containers, one at a time, each to completion
        for run in self.init_runs:
            if run.terminated is not None and run.terminated["exitCode"] == 0 and not run.running:
                continue
            if self._reap(run):
                if run.terminated["exitCode"] == 0:  # type: ignore[index]
                    continue
                if self._should_restart(run):
                    self._schedule_restart(run)
                else:
                    self._finish("Failed", "Init:Error")
                return
            if not run.running and now >= run.next_start:
                self._start(run)
            return
        for run in self.runs:
            exited = self._reap(run)
            if run.running:
                self._probe(run)  # a failed liveness probe kills the process
                exited = exited or not run.running
            if exited and self._should_restart(run):
                self._schedule_restart(run)
            if not run.running and (run.attempts == 0 or run.waiting[0]) and now >= run.next_start:
                self._start(run)
        if all(not r.running and r.terminated is not None and not r.waiting[0] for r in self.runs):
            failed = any(r.terminated["exitCode"] != 0 for r in self.runs)  # type: ignore[index]
            if policy == "Never" or not failed and policy == "OnFailure":
                self._finish("Failed" if failed else "Succeeded", None)
                return
        self.phase = "Running" if any(r.attempts for r in self.runs) else "Pending"

    def _finish(self, phase: str, reason: str | None) -> None:
        self._kill_all(0)
        self.phase = phase
        self.reason = reason
        self.terminal = True
        for run in self.init_runs + self.runs:
            run.ready = False
        self._report()
        self._teardown()

    # -- status ----------------------------------------------------------------------

    def _conditions(self) -> list[dict[str, Any]]:
        now = stamp()
        initialized = all(
            r.terminated is not None and r.terminated["exitCode"] == 0 for r in self.init_runs
        )
        ready = (
            not self.terminal
            and bool(self.runs)
            and all(r.ready and r.running for r in self.runs)
            and self.phase == "Running"
        )
        previous = {
            c.type: c for c in (self.pod.status.conditions or [] if self.pod.status else [])
        }

        def cond(kind: str, value: bool, reason: str | None = None) -> dict[str, Any]:
            status = "True" if value else "False"
            old = previous.get(kind)
            changed = old is None or old.status != status
            since = now if changed else _fmt(old.last_transition_time)
            return {
                "type": kind,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": since,
                "reason": None if value else reason,
            }

        return [
            cond("PodReadyToStartContainers", self.netns is not None or self.terminal),
            cond("Initialized", initialized, "ContainersNotInitialized"),
            cond("ContainersReady", ready, "ContainersNotReady"),
            cond("Ready", ready, "ContainersNotReady"),
        ]

    def _status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "phase": self.phase,
            "reason": self.reason,
            "message": self.message,
            "hostIP": self.config.bridge_ip,
            "hostIPs": [{"ip": self.config.bridge_ip}],
            "startTime": self.start_time,
            "conditions": self._conditions(),
            "containerStatuses": [r.status(self.uid) for r in self.runs],
        }
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if self.init_runs:
            status["initContainerStatuses"] = [r.status(self.uid) for r in self.init_runs]
        return status

    def _report(self) -> None:
        status = self._status()
        compare = {**status, "conditions": [
            {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status["conditions"]
        ]}  # fmt: skip
        if compare == self.sent:
            return
        try:
            self.agent.core.patch_namespaced_pod_status(
                self.pod_name, self.namespace, {"status": status}
            )
            self.sent = compare
        except client.ApiException as exc:
            if exc.status != 404:
                log.warning("status of %s/%s: %s", self.namespace, self.pod_name, exc.reason)

    # -- deletion --------------------------------------------------------------------

    def _terminate(self) -> None:
        grace = self.pod.metadata.deletion_grace_period_seconds
        if grace is None:
            grace = self.pod.spec.termination_grace_period_seconds or 30
        if self.stopping:
            grace = min(grace, 2)
        deadline = time.monotonic() + grace
        if any(r.running for r in self.init_runs + self.runs) and not self.stopping:
            for run in self.init_runs + self.runs:
                if run.running:
                    self.agent.event(self.pod, "Normal", "Killing", f"Stopping container {run.name}")
            self._pre_stop(grace)
        self._kill_all(max(0.0, deadline - time.monotonic()))
        if not self.terminal and not self.gone and not self.stopping:
            failed = any(
                r.terminated is not None and r.terminated["exitCode"] != 0 for r in self.runs
            )
            self.phase = "Failed" if failed else "Succeeded"
            self.terminal = True
            self._report()
        self._teardown()
        if not self.gone and not self.stopping:
            try:
                self.agent.core.delete_namespaced_pod(
                    self.pod_name,
                    self.namespace,
                    body=client.V1DeleteOptions(
                        grace_period_seconds=0,
                        preconditions=client.V1Preconditions(uid=self.uid),
                    ),
                )
            except client.ApiException as exc:
                if exc.status not in (404, 409):
                    log.warning("delete %s/%s: %s", self.namespace, self.pod_name, exc.reason)
        if not self.stopping:
            shutil.rmtree(self.dir, ignore_errors=True)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _fmt(value: dt.datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
