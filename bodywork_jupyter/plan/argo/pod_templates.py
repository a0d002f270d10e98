"""A pod the Kubernetes target renders, as an Argo template's fields.

Argo makes the pod from a template: the container (Argo names it ``main``), its volumes,
the pod's security context and a patch for the rest. Four fields of the pod are Argo's
to decide: the restart policy (Argo's own), the service account and whether its token is
mounted (Argo's executor needs one to report results: the templates say whose, and
where), and the image pull secrets (the workflow's). A field this does not know is
refused, so a change to the Kubernetes pod cannot be lost here unseen.
"""

from __future__ import annotations

import json

from bodywork_jupyter.plan.kubernetes.manifest import Manifest

_TEMPLATE_FIELDS = ("securityContext", "volumes")
_LEFT_TO_ARGO = ("restartPolicy", "serviceAccountName", "automountServiceAccountToken")
_KNOWN = {*_TEMPLATE_FIELDS, *_LEFT_TO_ARGO, "containers", "enableServiceLinks"}
_KNOWN_WITH_SECRETS = {*_KNOWN, "imagePullSecrets"}


def pod_template_fields(pod: Manifest) -> tuple[Manifest, Manifest]:
    """``(container, fields)``: the pod's one container without its name, and the
    template's ``volumes``, ``securityContext`` and ``podSpecPatch`` (service links off,
    as on the Kubernetes target: a stage sees the same environment on both)."""
    unknown = set(pod) - _KNOWN_WITH_SECRETS
    if unknown:
        raise ValueError(f"pod fields {sorted(unknown)} have no place in an Argo template")
    (container,) = pod["containers"]
    main = {k: v for k, v in container.items() if k != "name"}
    fields: Manifest = {k: pod[k] for k in _TEMPLATE_FIELDS if k in pod}
    if "enableServiceLinks" in pod:
        fields["podSpecPatch"] = json.dumps({"enableServiceLinks": pod["enableServiceLinks"]})
    return main, fields
