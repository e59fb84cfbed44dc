"""Server-side printing: ``meta.k8s.io/v1`` Table responses, as ``kubectl get`` asks for them.

The columns follow kube-apiserver's printers (pkg/printers/internalversion/printers.go) for the kinds this
collection manages, the CRD table (Name, Created At), custom resources' ``additionalPrinterColumns`` and,
for everything else, Name and Age.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from k8s_emulator.selectors import selector_from_match_labels

NAME_COLUMN = {
    "name": "Name", "type": "string", "format": "name", "priority": 0,
    "description": "Name must be unique within a namespace. Is required when creating resources, although some "
                   "resources may allow a client to request the generation of an appropriate name automatically.",
}
AGE_COLUMN = {
    "name": "Age", "type": "string", "format": "", "priority": 0,
    "description": "CreationTimestamp is a timestamp representing the server time when this object was created.",
}


def parse_time(text: Optional[str]) -> Optional[datetime.datetime]:
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: Optional[str]) -> str:
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds())


# -- JSONPath (the subset CRDs use in additionalPrinterColumns and selectableFields) -----------------

_TOKEN = re.compile(r"\.((?:\\\.|[^.\[])+)|\[\?\(@\.([^=!<>]+?)\s*(==|!=)\s*['\"]?([^'\"\)]*)['\"]?\)\]|\[(\*|-?\d+)\]")


def jsonpath(obj: Any, path: str) -> List[Any]:
    """Evaluate ``.a.b[0].c``, ``[*]`` and ``[?(@.k=="v")]`` paths; returns every match."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    if path and not path.startswith((".", "[")):
        path = "." + path
    current = [obj]
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            return []
        pos = m.end()
        nxt: List[Any] = []
        if m.group(1) is not None:
            key = m.group(1).replace("\\.", ".")
            for item in current:
                if isinstance(item, dict) and key in item:
                    nxt.append(item[key])
        elif m.group(2) is not None:
            field, op, want = m.group(2).strip(), m.group(3), m.group(4)
            for item in current:
                for element in item if isinstance(item, list) else []:
                    got = jsonpath(element, "." + field)
                    value = _cell_text(got[0]) if got else None
                    if (op == "==" and value == want) or (op == "!=" and value != want):
                        nxt.append(element)
        else:
            index = m.group(5)
            for item in current:
                if not isinstance(item, list):
                    continue
                if index == "*":
                    nxt.extend(item)
                else:
                    i = int(index)
                    if -len(item) <= i < len(item):
                        nxt.append(item[i])
        current = nxt
    return current


def _cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- built-in printers -----------------------------------------------------------------------------

def _col(name: str, typ: str = "string", priority: int = 0, fmt: str = "", description: str = "") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": description or name, "priority": priority}


def _containers(pod_spec: dict) -> Tuple[str, str]:
    containers = (pod_spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _template_spec(obj: dict) -> dict:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def _selector(obj: dict) -> str:
    sel = (obj.get("spec") or {}).get("selector") or {}
    text = selector_from_match_labels(sel.get("matchLabels"), sel.get("matchExpressions"))
    return text or "<none>"


def _deployment(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0), age(obj["metadata"].get("creationTimestamp")), names, images, _selector(obj)]


def _statefulset(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", age(obj["metadata"].get("creationTimestamp")), names, images]


def _service(obj):
    spec = obj.get("spec") or {}
    stype = spec.get("type", "ClusterIP")
    external = "<none>"
    if stype == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ips = [i.get("ip") or i.get("hostname") for i in ingress]
        external = ",".join(ip for ip in ips if ip) or "<pending>"
    elif stype == "ExternalName":
        external = spec.get("externalName", "<none>")
    elif spec.get("externalIPs"):
        external = ",".join(spec["externalIPs"])
    ports = []
    for port in spec.get("ports") or []:
        text = str(port.get("port"))
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [stype, spec.get("clusterIP") or "<none>", external, ",".join(ports) or "<none>",
            age(obj["metadata"].get("creationTimestamp")), selector]


def _secret(obj):
    return [obj.get("type", "Opaque"), len(obj.get("data") or {}), age(obj["metadata"].get("creationTimestamp"))]


def _configmap(obj):
    return [len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), age(obj["metadata"].get("creationTimestamp"))]


def _cronjob(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    job_spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    names, images = _containers((job_spec.get("template") or {}).get("spec") or {})
    last = status.get("lastScheduleTime")
    sel = job_spec.get("selector") or {}
    selector = selector_from_match_labels(sel.get("matchLabels"), sel.get("matchExpressions")) or "<none>"
    return [spec.get("schedule", ""), spec.get("timeZone") or "<none>", "True" if spec.get("suspend") else "False",
            len(status.get("active") or []), age(last) if last else "<none>",
            age(obj["metadata"].get("creationTimestamp")), names, images, selector]


def _job(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conditions.get("Complete") == "True":
        state = "Complete"
    elif conditions.get("Failed") == "True":
        state = "Failed"
    elif spec.get("suspend"):
        state = "Suspended"
    else:
        state = "Running"
    completions = f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    if start is None:
        duration = ""
    else:
        stop = end or datetime.datetime.now(datetime.timezone.utc)
        duration = human_duration((stop - start).total_seconds())
    names, images = _containers(_template_spec(obj))
    return [state, completions, duration, age(obj["metadata"].get("creationTimestamp")), names, images, _selector(obj)]


def _pod(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    phase = status.get("reason") or status.get("phase") or "Pending"
    if obj["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    return [f"{ready}/{total}", phase, str(restarts), age(obj["metadata"].get("creationTimestamp")),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", "<none>"]


def _namespace(obj):
    return [(obj.get("status") or {}).get("phase", "Active"), age(obj["metadata"].get("creationTimestamp"))]


def _crd(obj):
    return [obj["metadata"].get("creationTimestamp")]


def _serviceaccount(obj):
    return [len(obj.get("secrets") or []), age(obj["metadata"].get("creationTimestamp"))]


def _replicaset(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    return [spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0),
            age(obj["metadata"].get("creationTimestamp")), names, images, _selector(obj)]


_AGE = _col("Age", description=AGE_COLUMN["description"])
_CONTAINERS = [_col("Containers", priority=1), _col("Images", priority=1)]

BUILTIN_PRINTERS: Dict[Tuple[str, str], Tuple[List[dict], Callable[[dict], list]]] = {
    ("apps", "deployments"): ([_col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), _AGE,
                               *_CONTAINERS, _col("Selector", priority=1)], _deployment),
    ("apps", "statefulsets"): ([_col("Ready"), _AGE, *_CONTAINERS], _statefulset),
    ("apps", "replicasets"): ([_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), _AGE,
                               *_CONTAINERS, _col("Selector", priority=1)], _replicaset),
    ("", "services"): ([_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _AGE,
                        _col("Selector", priority=1)], _service),
    ("", "secrets"): ([_col("Type"), _col("Data", "integer"), _AGE], _secret),
    ("", "configmaps"): ([_col("Data", "integer"), _AGE], _configmap),
    ("", "serviceaccounts"): ([_col("Secrets", "integer"), _AGE], _serviceaccount),
    ("batch", "cronjobs"): ([_col("Schedule"), _col("Timezone"), _col("Suspend", "boolean"), _col("Active", "integer"),
                             _col("Last Schedule"), _AGE, *_CONTAINERS, _col("Selector", priority=1)], _cronjob),
    ("batch", "jobs"): ([_col("Status"), _col("Completions"), _col("Duration"), _AGE, *_CONTAINERS,
                         _col("Selector", priority=1)], _job),
    ("", "pods"): ([_col("Ready"), _col("Status"), _col("Restarts"), _AGE, _col("IP", priority=1),
                    _col("Node", priority=1), _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)], _pod),
    ("", "namespaces"): ([_col("Status"), _AGE], _namespace),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ([_col("Created At", "date")], _crd),
}


def _custom_printer(printer_columns: List[dict]):
    columns = []
    for pc in printer_columns:
        columns.append({
            "name": pc.get("name", ""), "type": pc.get("type", "string"), "format": pc.get("format", ""),
            "description": pc.get("description", ""), "priority": int(pc.get("priority", 0)),
        })

    def cells(obj):
        row = []
        for pc in printer_columns:
            found = jsonpath(obj, pc.get("jsonPath", ""))
            if not found:
                row.append(None)
                continue
            value = found[0] if len(found) == 1 else ",".join(_cell_text(v) for v in found)
            if pc.get("type") == "date" and isinstance(value, str):
                value = age(value)
            row.append(value)
        return row

    return columns, cells


def printer_for(resource: Tuple[str, str], printer_columns: Optional[List[dict]]):
    """The (column definitions after Name, cells function) for a resource."""
    if printer_columns:
        return _custom_printer(printer_columns)
    if resource in BUILTIN_PRINTERS:
        return BUILTIN_PRINTERS[resource]
    return [_AGE], lambda obj: [age(obj["metadata"].get("creationTimestamp"))]


def partial_metadata(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(objects: List[dict], resource: Tuple[str, str], printer_columns: Optional[List[dict]],
          include_object: str = "Metadata", list_meta: Optional[dict] = None, with_columns: bool = True) -> dict:
    columns, cells = printer_for(resource, printer_columns)
    rows = []
    for obj in objects:
        row = {"cells": [obj["metadata"].get("name", "")] + list(cells(obj))}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [NAME_COLUMN] + list(columns) if with_columns else [],
        "rows": rows,
    }
