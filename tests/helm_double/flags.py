"""Command-line parsing the way helm's cobra/pflag does it (part of the helm test double).

Flags may come before or after the sub-command words (``helm --version=1 show chart X`` is valid
helm), ``--flag=value``, ``--flag value``, ``-f value``, ``-fvalue``, grouped short booleans
(``-ai``) and ``--`` are understood; unknown flags, missing arguments and bad booleans or durations
fail with pflag's own messages.
"""

import re
from dataclasses import dataclass, field


class UsageError(Exception):
    """A command-line error; helm prints it as ``Error: <message>`` and exits 1."""


@dataclass(frozen=True)
class Flag:
    name: str
    kind: str = "string"  # string | bool | int | float | duration | list (repeatable, comma split) | array (repeatable) | optstring
    short: str = ""
    default: object = None
    no_opt_default: str = ""  # value used for "--flag" without "=value" (kind optstring)


def _parse_bool(text, flag):
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise UsageError(
        'invalid argument "%s" for "%s" flag: strconv.ParseBool: parsing "%s": invalid syntax'
        % (text, _display(flag), text)
    )


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text):
    """Go's time.ParseDuration, returning seconds; raises ValueError with Go's message."""
    original = text
    if text in ("0", "+0", "-0"):
        return 0.0
    sign = 1.0
    if text[:1] in "+-" and text:
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if not text:
        raise ValueError('time: invalid duration "%s"' % original)
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match or match.group(1) in ("", "."):
            if re.match(r"[0-9.]+$", text[pos:]):
                raise ValueError('time: missing unit in duration "%s"' % original)
            unit = re.match(r"[0-9.]*([^0-9.]*)", text[pos:]).group(1)
            if re.match(r"[0-9.]", text[pos:pos + 1] or "x") and unit:
                raise ValueError('time: unknown unit "%s" in duration "%s"' % (unit, original))
            raise ValueError('time: invalid duration "%s"' % original)
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def _display(flag):
    if flag.short:
        return "-%s, --%s" % (flag.short, flag.name)
    return "--" + flag.name


def _convert(flag, text):
    if flag.kind == "bool":
        return _parse_bool(text, flag)
    numeric = {"int": (lambda t: int(t, 0), "strconv.ParseInt"), "float": (float, "strconv.ParseFloat")}
    if flag.kind in numeric:
        convert, go_name = numeric[flag.kind]
        try:
            return convert(text)
        except ValueError:
            raise UsageError('invalid argument "%s" for "%s" flag: %s: parsing "%s": invalid syntax'
                             % (text, _display(flag), go_name, text)) from None
    if flag.kind == "duration":
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise UsageError('invalid argument "%s" for "%s" flag: %s' % (text, _display(flag), exc)) from None
    return text


@dataclass
class Parsed:
    values: dict = field(default_factory=dict)
    changed: set = field(default_factory=set)
    args: list = field(default_factory=list)

    def get(self, name):
        return self.values.get(name)

    def __getitem__(self, name):
        return self.values[name]


def takes_value(flag):
    return flag.kind not in ("bool", "optstring")


def parse(argv, flags):
    """Parse argv (already stripped of the command words) against a list of Flag."""
    by_long = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    parsed = Parsed()
    for flag in flags:
        if flag.kind in ("list", "array"):
            parsed.values[flag.name] = list(flag.default or [])
        else:
            parsed.values[flag.name] = flag.default

    def store(flag, text):
        value = _convert(flag, text)
        if flag.kind == "list":
            if flag.name not in parsed.changed:
                parsed.values[flag.name] = []
            parsed.values[flag.name].extend(v for v in text.split(",") if v != "" or text == "")
        elif flag.kind == "array":
            if flag.name not in parsed.changed:
                parsed.values[flag.name] = []
            parsed.values[flag.name].append(text)
        else:
            parsed.values[flag.name] = value
        parsed.changed.add(flag.name)

    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            parsed.args.extend(argv[i:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            flag = by_long.get(name)
            if flag is None:
                raise UsageError("unknown flag: --%s" % name)
            if eq:
                store(flag, value)
            elif flag.kind == "bool":
                store(flag, "true")
            elif flag.kind == "optstring":
                store(flag, flag.no_opt_default)
            else:
                if i >= len(argv):
                    raise UsageError("flag needs an argument: --%s" % name)
                store(flag, argv[i])
                i += 1
        elif arg.startswith("-") and len(arg) > 1:
            shorts = arg[1:]
            while shorts:
                letter, shorts = shorts[0], shorts[1:]
                flag = by_short.get(letter)
                if flag is None:
                    raise UsageError("unknown shorthand flag: '%s' in -%s" % (letter, arg[1:]))
                if shorts.startswith("="):
                    store(flag, shorts[1:])
                    shorts = ""
                elif flag.kind == "bool":
                    store(flag, "true")
                elif flag.kind == "optstring":
                    store(flag, flag.no_opt_default)
                elif shorts:
                    store(flag, shorts)
                    shorts = ""
                else:
                    if i >= len(argv):
                        raise UsageError("flag needs an argument: '%s' in -%s" % (letter, letter))
                    store(flag, argv[i])
                    i += 1
        else:
            parsed.args.append(arg)
    return parsed


def split_command(argv, commands, all_flags):
    """Find the sub-command path like cobra's Find/stripFlags: skip flags (and their values)."""
    by_long = {}
    by_short = {}
    for flag in all_flags:
        by_long.setdefault(flag.name, flag)
        if flag.short:
            by_short.setdefault(flag.short, flag)
    path = []
    node = commands
    rest = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            rest.extend(argv[i - 1:])
            break
        if arg.startswith("--") and len(arg) > 2:
            rest.append(arg)
            name = arg[2:]
            flag = by_long.get(name)
            if "=" not in name and flag is not None and takes_value(flag) and i < len(argv):
                rest.append(argv[i])
                i += 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            rest.append(arg)
            flag = by_short.get(arg[1:2])
            if len(arg) == 2 and flag is not None and takes_value(flag) and i < len(argv):
                rest.append(argv[i])
                i += 1
            continue
        if isinstance(node, dict) and arg in node:
            path.append(arg)
            node = node[arg]
            continue
        rest.append(arg)
        # positional argument: the command path ends here (later words are arguments)
        rest.extend(argv[i:])
        break
    return path, node, rest
