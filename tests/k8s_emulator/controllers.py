"""Simulated kube-controller-manager (and kubelet) of the Kubernetes API emulator.

(Object helpers shared with the authorization bootstrap come first; the controllers follow.)
"""

from __future__ import annotations

import datetime
import uuid
from typing import Dict, Optional


def now_rfc3339(offset_seconds: float = 0.0) -> str:
    """The current time as Kubernetes writes timestamps (RFC 3339, second precision, UTC)."""
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_metadata(name: str, namespace: Optional[str] = None, labels: Optional[Dict[str, str]] = None,
                 annotations: Optional[Dict[str, str]] = None, generation: Optional[int] = None) -> dict:
    """Metadata of an object a controller creates itself, as the apiserver would stamp it on create."""
    meta: dict = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["uid"] = str(uuid.uuid4())
    if generation is not None:
        meta["generation"] = generation
    meta["creationTimestamp"] = now_rfc3339()
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta
