"""Backends: where stages run. Only this package starts processes or talks to clusters."""
