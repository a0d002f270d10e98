"""The workflow engine (written once for every backend), run events and the run store."""
