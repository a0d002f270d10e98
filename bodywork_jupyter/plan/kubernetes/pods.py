"""Pods: the stage's container (its env, secret refs and probe) and the locked-down pod.

A stage container names its command (``bodywork-runner``, the runner's console script) and
gets the runner's StageSpec in ``BODYWORK_STAGE_SPEC``; the code goes to
``/bodywork/work/code`` and the executed notebook to ``/bodywork/work/artifacts``, both on an
emptyDir; a second emptyDir at ``/bodywork/tmp`` (``HOME`` and ``TMPDIR``) lets the root
filesystem be read-only. The namespace's claims (``plan.kubernetes.settings``), when
configure-cluster named them, go to ``/bodywork/data/<deployment>`` (``BODYWORK_DATA_DIR``,
shared by the stages as the local target's data folder is; else a folder in the pod) and
``/bodywork/cache`` (environments and downloads, shared by every pod). All live under
``/bodywork``, a folder of our own, so mounting
them hides nothing of the image (nor, on a node that runs pods as local processes, like
the test cluster's, anything of the machine's). Every pod rendered here meets the
``restricted`` Pod Security Standard.
"""

from __future__ import annotations

from collections.abc import Sequence

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.kubernetes.names import service_name
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions
from bodywork_jupyter.plan.kubernetes.quantities import resources
from bodywork_jupyter.plan.model import Plan, PlannedService, PlannedStage
from bodywork_jupyter.plan.ports import services
from bodywork_jupyter.plan.runner_spec import Placement, runner_spec

#: The runner's console script (runner/pyproject.toml and the main wheel both install it).
RUNNER_COMMAND = ("bodywork-runner",)
#: The environment variable the runner reads its spec from (bodywork_runner.cli.SPEC_ENV).
SPEC_ENV = "BODYWORK_STAGE_SPEC"
#: a replica told to stop keeps answering this long (each answer saying Connection: close)
#: while its address leaves the Service's endpoints; with its 10 s drain it is well inside
#: the pod's default 30 s termination grace
STOP_DELAY_SECONDS = 3.0
#: Where a stage's files go inside its pod: one emptyDir, the code and the artifacts in it.
WORK_MOUNT = "/bodywork/work"
WORK_DIR = "/bodywork/work/code"
ARTIFACTS_DIR = "/bodywork/work/artifacts"
#: Requirement environments: per pod (an emptyDir), never on the read-only root.
CACHE_DIR = "/bodywork/work/cache"
#: Temporary files and HOME (the root filesystem is read-only).
TMP_MOUNT = "/bodywork/tmp"
#: BODYWORK_DATA_DIR: the namespace's data claim (folder <deployment>), else in the pod.
DATA_MOUNT = "/bodywork/data"
POD_DATA_DIR = "/bodywork/work/data"
#: The namespace's cache claim: environments and the installer's downloads.
CACHE_MOUNT = "/bodywork/cache"

#: The runner's git credentials (bodywork_runner.source), read from one Secret if asked.
GIT_CREDENTIAL_ENVS = (
    "BODYWORK_GIT_TOKEN",
    "BODYWORK_GIT_USERNAME",
    "BODYWORK_GIT_SSH_KEY",
    "BODYWORK_GIT_KNOWN_HOSTS",
)


def _pod_security(options: KubernetesOptions) -> Manifest:
    uid = options.run_as_user
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,  # the emptyDirs are writable by the stage's user
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def image_pull_secrets(plan: Plan, options: KubernetesOptions) -> tuple[str, ...]:
    """The Secrets every pod of ``plan`` pulls its image with: the namespace's (the
    options'), then the plan's (bodywork.yaml's, then the deploy's), each once."""
    return tuple(dict.fromkeys([*options.image_pull_secrets, *plan.image_pull_secrets]))


def pod_spec(
    plan: Plan,
    options: KubernetesOptions,
    container: Manifest,
    *,
    volume: Manifest,
    mount: Manifest,
    restart_policy: str,
    service_account: str,
    token: bool,
    shared: Sequence[tuple[Manifest, Manifest]] = (),
) -> Manifest:
    """A pod of one ``container`` of ``plan``, locked down the same way for stages and the
    controller, pulling with ``image_pull_secrets``.

    The container gets a read-only root and drops every capability; it writes only to
    ``volume`` (mounted as ``mount``), to an emptyDir at ``TMP_MOUNT`` and to the
    ``shared`` (volume, mount) pairs. ``token`` says
    whether the pod mounts its service account's token (only a pod that talks to the API
    server needs one).
    """
    pod: Manifest = {
        "restartPolicy": restart_policy,
        "serviceAccountName": service_account,
        "automountServiceAccountToken": token,
        "enableServiceLinks": False,
        "securityContext": _pod_security(options),
    }
    pull_secrets = image_pull_secrets(plan, options)
    if pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    pod["containers"] = [
        {
            **container,
            "securityContext": _container_security(),
            "volumeMounts": [
                mount,
                {"name": "tmp", "mountPath": TMP_MOUNT},
                *(m for _, m in shared),
            ],
        }
    ]
    pod["volumes"] = [volume, {"name": "tmp", "emptyDir": {}}, *(v for v, _ in shared)]
    return pod


def shared_volumes(plan: Plan, options: KubernetesOptions) -> list[tuple[Manifest, Manifest]]:
    """The namespace's claims a stage pod mounts: (volume, mount) pairs."""
    pairs: list[tuple[Manifest, Manifest]] = []
    if options.data_claim:
        pairs.append(
            (
                {"name": "data", "persistentVolumeClaim": {"claimName": options.data_claim}},
                # one folder per deployment, as on this machine
                {"name": "data", "mountPath": DATA_MOUNT, "subPath": plan.k8s_name},
            )
        )
    if options.cache_claim:
        pairs.append(
            (
                {"name": "cache", "persistentVolumeClaim": {"claimName": options.cache_claim}},
                {"name": "cache", "mountPath": CACHE_MOUNT},
            )
        )
    return pairs


def _place_env(options: KubernetesOptions) -> dict[str, str]:
    """Where a stage writes: HOME and TMPDIR, its data folder, its environments."""
    env = {
        "HOME": TMP_MOUNT,
        "TMPDIR": TMP_MOUNT,
        "BODYWORK_DATA_DIR": DATA_MOUNT if options.data_claim else POD_DATA_DIR,
        "BODYWORK_CACHE_DIR": CACHE_DIR,
    }
    if options.cache_claim:
        env["BODYWORK_CACHE_DIR"] = f"{CACHE_MOUNT}/envs"
        env["UV_CACHE_DIR"] = f"{CACHE_MOUNT}/uv"
        env["PIP_CACHE_DIR"] = f"{CACHE_MOUNT}/pip"
    return env


def _secret_env(name: str, secret: str, key: str, *, optional: bool = False) -> Manifest:
    ref: Manifest = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def _stage_env(
    plan: Plan, stage: PlannedStage, spec_json: str, options: KubernetesOptions
) -> list[Manifest]:
    """The container's env: the spec, the writable places, the stage's env and secrets.

    The stage's own env is also in the spec (the runner sets it); here it is visible to
    ``kubectl describe`` and to anything that starts before the runner reads the spec.
    Secrets are only ever references: the plan holds no secret value.
    """
    clash = sorted(set(stage.env) & set(stage.secrets))
    if clash:
        raise BadInputError(
            f"stage {stage.name}: {', '.join(clash)} is both an env variable and a secret - "
            f"keep one"
        )
    reserved = {SPEC_ENV} & (set(stage.env) | set(stage.secrets))
    if reserved:
        raise BadInputError(f"stage {stage.name}: {SPEC_ENV} is the runner's - rename it")
    env: list[Manifest] = [{"name": SPEC_ENV, "value": spec_json}]
    defaults = _place_env(options)
    env += [
        {"name": k, "value": v}
        for k, v in defaults.items()
        if k not in stage.env and k not in stage.secrets
    ]
    env += [{"name": k, "value": v} for k, v in stage.env.items()]
    env += [
        _secret_env(name, secret.k8s_secret_name, secret.key)
        for name, secret in sorted(stage.secrets.items())
    ]
    if options.git_credentials_secret:
        given = sorted(set(GIT_CREDENTIAL_ENVS) & (set(stage.env) | set(stage.secrets)))
        if given:
            raise BadInputError(
                f"stage {stage.name}: {', '.join(given)} would hide the git credentials "
                f"Secret {options.git_credentials_secret} - remove it from the stage"
            )
        env += [
            _secret_env(name, options.git_credentials_secret, name, optional=True)
            for name in GIT_CREDENTIAL_ENVS
        ]
    return env


def _readiness_probe(planned: PlannedService) -> Manifest:
    probe = planned.readiness
    action: Manifest
    if probe.kind == "http":
        action = {"httpGet": {"path": probe.path or planned.readiness_path, "port": probe.port}}
    else:
        action = {"tcpSocket": {"port": probe.port}}
    return {
        **action,
        "periodSeconds": 2,
        "timeoutSeconds": 2,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def stage_pod_spec(
    plan: Plan,
    stage: PlannedStage,
    options: KubernetesOptions,
    *,
    run_id: str,
    attempt: int,
    restart_policy: str,
    listen_port: int | None = None,
    emit_notebook: bool | None = None,
) -> Manifest:
    """The pod of one attempt of ``stage``: the runner, its spec in the env, the work dir.

    ``listen_port`` (a service's) makes the runner listen on every interface of the pod.
    ``emit_notebook`` (default: for a batch stage) has the runner send the executed
    notebook in its events, the one way it leaves a pod whose emptyDir goes with it.
    """
    if emit_notebook is None:
        emit_notebook = stage.kind == "batch"
    placement = Placement(
        run_id=run_id,
        attempt=attempt,
        work_dir=WORK_DIR,
        artifacts_dir=ARTIFACTS_DIR,
        cache_dir=None,
        listen_host=None if listen_port is None else "0.0.0.0",
        listen_port=listen_port,
        emit_notebook=emit_notebook,
        # BODYWORK_SERVICE_<STAGE>_URL: each service by its Service's name, in the namespace
        service_hosts={s.name: service_name(s) for s in services(plan)},
        stop_delay_seconds=0.0 if listen_port is None else STOP_DELAY_SECONDS,
    )
    spec_json = runner_spec(plan, stage, placement).to_json()
    container: Manifest = {
        "name": "stage",
        "image": stage.image,
        "command": list(RUNNER_COMMAND),
        "env": _stage_env(plan, stage, spec_json, options),
    }
    if stage.service is not None:
        planned = stage.service
        container["ports"] = [{"name": "service", "containerPort": planned.port, "protocol": "TCP"}]
        container["readinessProbe"] = _readiness_probe(planned)
    rendered = resources(stage.resources)
    if rendered:
        container["resources"] = rendered
    return pod_spec(
        plan,
        options,
        container,
        volume={"name": "work", "emptyDir": {}},
        mount={"name": "work", "mountPath": WORK_MOUNT},
        restart_policy=restart_policy,
        service_account=options.stage_service_account,
        token=False,
        shared=shared_volumes(plan, options),
    )
