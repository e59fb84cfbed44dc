"""Values handling of the helm test double, as helm does it: ``-f`` files merged in order, then
``--set-json``, ``--set``, ``--set-string``, ``--set-file``, ``--set-literal``; chart defaults
coalesced under the user values (a user ``null`` deletes a default)."""

import copy
import os

import yaml

from . import strvals


class ValuesError(Exception):
    pass


def merge_maps(base, override):
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out


def _read(path):
    if path == "-":
        import sys

        return sys.stdin.read()
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ValuesError("open %s: no such file or directory" % path) from None
    except IsADirectoryError:
        raise ValuesError("read %s: is a directory" % path) from None


def merge_user_values(opts):
    """opts: the parsed flags of install/upgrade/template. Returns the user-supplied values."""
    base = {}
    for path in opts.get("values") or []:
        text = _read(path)
        try:
            current = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValuesError("failed to parse %s: error converting YAML to JSON: %s" % (path, exc)) from None
        if current is None:
            current = {}
        if not isinstance(current, dict):
            raise ValuesError(
                "failed to parse %s: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
                "%s into Go value of type map[string]interface {}" % (path, type(current).__name__)
            )
        base = merge_maps(base, current)
    for mode, name in (("json", "set-json"), ("raw", "set"), ("string", "set-string"),
                       ("file", "set-file"), ("literal", "set-literal")):
        for item in opts.get(name) or []:
            try:
                strvals.parse_into(item, base, mode=mode, read_file=_read)
            except strvals.StrvalsError as exc:
                raise ValuesError("failed parsing --%s data: %s" % (name, exc)) from None
    return base


def coalesce(defaults, user):
    """Chart defaults with user values on top; None in user values removes the default key."""
    out = copy.deepcopy(defaults)
    for key, value in (user or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = coalesce(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dig(values, dotted, default=None):
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
