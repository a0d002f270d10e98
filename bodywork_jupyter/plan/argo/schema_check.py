"""Argo's own JSON Schema (``api/jsonschema/schema.json``), tightened, as a check.

As published it types IntOrString and Quantity as strings only (valid files fail) and
never forbids unknown keys (a typo passes). Tightened here: IntOrString takes an integer
or a string, Quantity a number or a string, and every object with declared properties
refuses any other key. The schema is data the caller reads (it is Argo's, per Argo
version, and not shipped with bodywork): ``ArgoSchema(raw)``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from bodywork_jupyter.pipeline.problems import Problem, did_you_mean, dotted_path
from bodywork_jupyter.plan.argo.semantic_checks import KINDS, document_label

_PREFIX = "io.argoproj.workflow.v1alpha1."
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
#: a value quoted in a message is cut to this (a stage spec is long)
_SHOWN = 120


def tightened(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of Argo's schema with the three fixes above."""
    out = copy.deepcopy(dict(schema))
    definitions = out.get("definitions")
    if not isinstance(definitions, dict) or not all(_PREFIX + k in definitions for k in KINDS):
        raise ValueError("not Argo's JSON Schema: no definitions of Workflow, CronWorkflow, ...")
    for name, definition in definitions.items():
        if name == _INT_OR_STRING:
            definition["type"] = ["integer", "string"]
        elif name == _QUANTITY:
            definition["type"] = ["number", "string"]
        elif (
            isinstance(definition.get("properties"), dict)
            and "additionalProperties" not in definition
        ):
            definition["additionalProperties"] = False
    return out


class ArgoSchema:
    """Argo's schema, tightened, with a validator per kind."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.schema = tightened(raw)
        definitions = self.schema["definitions"]
        self._validators = {
            kind: Draft202012Validator(
                {"$ref": f"#/definitions/{_PREFIX}{kind}", "definitions": definitions}
            )
            for kind in KINDS
        }

    def problems(self, doc: Any) -> list[Problem]:
        """Every place ``doc`` breaks the schema of its kind."""
        label = document_label(doc)
        kind = doc.get("kind") if isinstance(doc, dict) else None
        validator = self._validators.get(str(kind))
        if validator is None:
            return [Problem(label, 0, "kind", f"is {kind!r}", f"one of {', '.join(KINDS)}")]
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        return [_problem(label, error) for error in errors]


def _problem(label: str, error: ValidationError) -> Problem:
    path = dotted_path(tuple(error.absolute_path))
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        declared = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        unknown = sorted(set(error.instance) - set(declared))
        hints = [h for h in (did_you_mean(k, declared) for k in unknown) if h]
        words = ", ".join(f"'{k}'" for k in unknown)
        return Problem(label, 0, path, f"unknown key {words}", " ".join(hints) or "remove it")
    message = error.message
    if len(message) > _SHOWN:
        message = message[:_SHOWN] + "..."
    return Problem(label, 0, path, message)
