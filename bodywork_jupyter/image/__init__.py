"""The stage image: what goes in it (``requirements.in``/``requirements.lock``, our own
wheel from ``wheel``) and the build from Debian's packages (``build``, ``rootfs``, ``tools``).

``runner/Dockerfile`` builds the same image with Docker or any OCI builder from the same lock
and the same wheel writer; ``bodywork image build`` runs either (docs/operators/stage-image.md).
"""
