"""The HTTP handlers, one module per resource; the URL table is ``server.routes``."""
