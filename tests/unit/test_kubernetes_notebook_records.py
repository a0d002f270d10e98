"""The pure parts of notebooks and Ingress URLs on the Kubernetes target: a notebook's
record, and the URL an Ingress gives."""

from __future__ import annotations

import base64
import random

from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.ingress_urls import ingress_url
from bodywork_jupyter.backends.kubernetes.notebooks import (
    KEY_NOTE,
    KEY_NOTEBOOK,
    notebook_record,
)
from bodywork_runner.notebook_events import MAX_GZIP_BYTES, compress, decompress

# -- a notebook's record ------------------------------------------------------------------------


def test_a_notebook_record_holds_the_gzip_and_is_labelled_with_its_run() -> None:
    packed = compress(b'{"cells": []}')
    obj = notebook_record("ns", "calc", "run-1", "prep", 2, packed)

    meta = obj["metadata"]
    assert meta["name"] == rec.notebook_record_name("run-1", "prep", 2)
    assert meta["labels"][rec.LABEL_RECORD] == rec.NOTEBOOK
    assert meta["labels"][rec.LABEL_DEPLOYMENT] == rec.deployment_label("calc")
    assert meta["labels"]["bodywork.dev/run"] == "run-1"
    assert meta["annotations"][rec.ANNOTATION_RUN_ID] == "run-1"
    assert "data" not in obj
    assert decompress(base64.b64decode(obj["binaryData"][KEY_NOTEBOOK])) == b'{"cells": []}'


def test_a_notebook_too_large_for_a_config_map_leaves_a_note() -> None:
    noise = random.Random(3).randbytes(MAX_GZIP_BYTES + 10)
    obj = notebook_record("ns", "calc", "run-1", "prep", 1, noise)
    assert "binaryData" not in obj
    assert "too large" in obj["data"][KEY_NOTE] and str(len(noise)) in obj["data"][KEY_NOTE]

    told = notebook_record("ns", "calc", "run-1", "prep", 1, None, too_large=2_000_000)
    assert "2000000 bytes" in told["data"][KEY_NOTE]


def test_notebook_record_names_are_per_attempt_and_valid() -> None:
    names = {
        rec.notebook_record_name("20260101-1200-abc", s, a) for s in ("a", "a_b") for a in (1, 2)
    }
    assert len(names) == 4
    long = rec.notebook_record_name("r" * 80, "stage_" * 30, 3)
    assert len(long) <= 253 and long == long.lower()


# -- Ingress URLs -----------------------------------------------------------------------------


def _ingress(host: str | None = None, tls: bool = False, status: object = None) -> dict:
    rule: dict = {"http": {"paths": [{"path": "/calc/serve", "pathType": "Prefix"}]}}
    if host:
        rule["host"] = host
    spec: dict = {"rules": [rule]}
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": "cert"}]
    return {"spec": spec, "status": status or {}}


def test_an_ingress_url_comes_from_its_host_then_its_load_balancer() -> None:
    assert ingress_url(_ingress("ml.example.com")) == "http://ml.example.com/calc/serve"
    assert ingress_url(_ingress("ml.example.com", tls=True)) == "https://ml.example.com/calc/serve"
    balanced = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    assert ingress_url(_ingress(status=balanced)) == "http://203.0.113.7/calc/serve"
    named = {"loadBalancer": {"ingress": [{"hostname": "lb.example.net"}]}}
    assert ingress_url(_ingress(status=named)) == "http://lb.example.net/calc/serve"
    v6 = {"loadBalancer": {"ingress": [{"ip": "2001:db8::1"}]}}
    assert ingress_url(_ingress(status=v6)) == "http://[2001:db8::1]/calc/serve"


def test_an_ingress_without_host_or_address_has_no_url_yet() -> None:
    assert ingress_url(_ingress()) is None
    assert ingress_url(_ingress(status={"loadBalancer": {}})) is None
    assert ingress_url({}) is None
