"""The jupyter_server extension: the bodywork REST API under ``/bodywork/api/``.

``extension`` wires the app and its config, ``routes`` lists every endpoint,
``handlers/`` holds the thin HTTP handlers (one module per resource), and the
helpers they share are ``base`` (auth, errors, JSON), ``paths`` (keeping every
path inside the server's root), ``bodies`` (request models), ``views`` (JSON
rendering), ``tagging`` (stage files and their tags), ``cache`` and ``gitinfo``; runs are
read through ``bodywork_jupyter.reader``. The API is described by
``openapi.yaml`` next to this file.
"""
