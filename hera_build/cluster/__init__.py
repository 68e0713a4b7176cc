"""cluster: put a release's Argo objects on a Kubernetes cluster (``hera-build publish``).

``kube`` is the only module that talks to an API server (through the official ``kubernetes`` client, an optional
extra imported when a command connects); ``objects`` reads what a release wrote (its manifest and output folder,
and the providers' releases it references); ``publish`` decides create / unchanged / refuse per object with the
server's own dry run and applies; ``prune`` removes old versions nothing references any more.
"""
