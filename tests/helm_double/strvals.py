"""``--set`` / ``--set-string`` / ``--set-json`` / ``--set-file`` / ``--set-literal`` parsing
(part of the helm test double), following helm's pkg/strvals rules:
``a.b=c,d[0]=e,f={x,y}``, backslash escapes, and for ``--set`` the typed scalars
``true``/``false``/``null``/integers (everything else stays a string).
"""

import json
import re


class StrvalsError(ValueError):
    pass


_INT = re.compile(r"^[-+]?[0-9]+$")


def typed(value):
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if value == "0":
        return 0
    if value and value[0] != "0" and _INT.match(value):
        number = int(value)
        if -(2 ** 63) <= number < 2 ** 63:
            return number
    return value


def _split_unescaped(text, seps):
    """Read up to the first unescaped char in seps; return (token, sep or '', rest)."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch in seps:
            return "".join(out), ch, text[i + 1:]
        out.append(ch)
        i += 1
    return "".join(out), "", ""


def _set_path(data, path, value, line):
    node = data
    for pos, (key, index) in enumerate(path):
        last = pos == len(path) - 1
        if index is None:
            if last:
                node[key] = value
                return
            nxt_is_list = path[pos + 1][1] is not None and path[pos + 1][0] is None
            if not isinstance(node.get(key), (dict, list)):
                node[key] = [] if nxt_is_list else {}
            node = node[key]
        else:
            if key is not None:
                if not isinstance(node.get(key), list):
                    node[key] = []
                node = node[key]
            if index < 0:
                raise StrvalsError("negative %d index not allowed" % index)
            while len(node) <= index:
                node.append(None)
            if last:
                node[index] = value
                return
            if not isinstance(node[index], (dict, list)):
                node[index] = {}
            node = node[index]


def _parse_key(key, line):
    """'a.b[0].c' -> [(a, None), (b, None), (None, 0)...] where list index applies to the key before."""
    parts = []
    for segment in _split_dots(key):
        match = re.match(r"^(.*?)((?:\[[0-9-]+\])*)$", segment)
        name, indexes = match.group(1), match.group(2)
        found = re.findall(r"\[([0-9-]+)\]", indexes)
        if not found:
            parts.append((name, None))
            continue
        parts.append((name, int(found[0])))
        for extra in found[1:]:
            parts.append((None, int(extra)))
    if not parts or parts[0][0] == "":
        raise StrvalsError('key "%s" has no value' % key)
    return parts


def _split_dots(key):
    segments, current, i = [], [], 0
    while i < len(key):
        if key[i] == "\\" and i + 1 < len(key):
            current.append(key[i + 1])
            i += 2
            continue
        if key[i] == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(key[i])
        i += 1
    segments.append("".join(current))
    return segments


def parse_into(line, data, mode="raw", read_file=None):
    """Merge one --set style argument into data (a dict). mode: raw|string|json|file|literal."""
    if mode == "literal":
        key, sep, value = line.partition("=")
        if not sep:
            raise StrvalsError('key "%s" has no value' % key)
        _set_path(data, _parse_key(key, line), value, line)
        return data
    rest = line
    while rest:
        key, sep, rest = _split_unescaped(rest, "=,")
        if sep != "=":
            if key == "" and sep == ",":
                continue
            raise StrvalsError('key "%s" has no value' % key)
        path = _parse_key(key, line)
        if mode == "json":
            value_text, rest = _read_json(rest)
            try:
                value = json.loads(value_text)
            except ValueError as exc:
                raise StrvalsError("failed to parse json value for key %s: %s" % (key, exc)) from None
        elif rest.startswith("{"):
            inner, _, after = rest[1:].partition("}")
            items = [i for i in inner.split(",")] if inner else []
            value = [typed(i) if mode == "raw" else i for i in items]
            rest = after[1:] if after.startswith(",") else after
        else:
            token, _, rest = _split_unescaped(rest, ",")
            if mode == "file":
                if read_file is None:
                    raise StrvalsError("file reading not available")
                value = read_file(token)
            elif mode == "string":
                value = token
            else:
                value = typed(token)
        _set_path(data, path, value, line)
    return data


def _read_json(text):
    depth = 0
    in_str = False
    esc = False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            return text[:i], text[i + 1:]
    return text, ""
