"""ipywidgets views for notebooks: a live run view and a stage-tagging form.

from bodywork_jupyter.widgets import RunView, TagForm
RunView(bodywork_jupyter.deploy("."))      # the DAG, progress, logs, the service URL
TagForm("train.ipynb")                      # tag a notebook as a stage, with a form
"""

from __future__ import annotations

from bodywork_jupyter.widgets.runview import RunView
from bodywork_jupyter.widgets.tagform import TagForm

__all__ = ["RunView", "TagForm"]
