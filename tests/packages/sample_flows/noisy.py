"""A module that prints at import, as many Hera examples do (`print(w.to_yaml())`), also below Python's
sys.stdout (C code and subprocesses write to descriptor 1 directly)."""

import os

from hera.workflows import Container, WorkflowTemplate

with WorkflowTemplate(name="noisy", entrypoint="main") as noisy:
    Container(name="main", image="busybox:1.36", command=["true"])

print(noisy.to_yaml())
os.write(1, b"written to descriptor 1\n")
