"""The one part of berth in C: an optional accelerator for reading json-file logs
(berth/engine/containers/_jsonlog.c). Without a compiler the install goes on without it
and logs.py reads the same logs in Python, more slowly; everything else is in
pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "berth.engine.containers._jsonlog",
            ["berth/engine/containers/_jsonlog.c"],
            optional=True,
        )
    ]
)
