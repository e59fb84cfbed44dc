"""x-kubernetes-validations: CEL rules compiled and evaluated with cel-python, plus the Kubernetes CEL
libraries cel-python lacks (strings, lists, regex, url, ip/cidr, quantity), as custom functions.

Values reach CEL as kube-apiserver presents them: object properties that are CEL keywords or contain
``.``, ``-``, ``/``, ``__`` are escaped (``namespace`` -> ``__namespace__``), integers are ints, numbers
doubles, ``date-time`` strings timestamps, ``duration`` strings durations.

cel-python's compiled runner transpiles a rule to Python once (about five times faster than its
interpreter), but evaluates in one module-global namespace, so evaluation is serialised by a lock.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import sys
import threading
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, List, Optional

import celpy
import celpy.celparser
import celpy.evaluation
from celpy import celtypes

logging.getLogger("celpy").setLevel(logging.CRITICAL)  # rule failures are reported as field errors

CEL_RESERVED = {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function",
                "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}
_IDENT = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class CelError(Exception):
    """A rule that does not compile, or an evaluation error (message as kube-apiserver words it)."""


def escape(name: str) -> Optional[str]:
    """The CEL name of an object property (apiserver/pkg/cel escaping), or None if it cannot be accessed."""
    if name in CEL_RESERVED:
        return f"__{name}__"
    out = name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")
    return out if _IDENT.match(out) else None


# -- Kubernetes CEL libraries --------------------------------------------------------------------
def _s(value) -> celtypes.StringType:
    return celtypes.StringType(value)


def fast_int(value: int) -> celtypes.IntType:
    """IntType(value) without IntType.__new__'s per-call decorator (same value, same range check)."""
    if not -(2 ** 63) <= value < 2 ** 63:
        raise ValueError("overflow")
    return int.__new__(celtypes.IntType, value)


def k8s_size(value):
    if isinstance(value, (str, bytes, list, dict)):
        return fast_int(len(value))
    return celpy.evaluation.function_size(value)


def k8s_split(text, sep, limit=None):
    if limit is None or int(limit) < 0:
        parts = str(text).split(str(sep)) if str(sep) else list(str(text))
    elif int(limit) == 0:
        parts = []
    else:
        parts = str(text).split(str(sep), int(limit) - 1)
    return celtypes.ListType([_s(p) for p in parts])


def k8s_lower_ascii(text):
    return _s("".join(c.lower() if c.isascii() else c for c in str(text)))


def k8s_upper_ascii(text):
    return _s("".join(c.upper() if c.isascii() else c for c in str(text)))


def k8s_trim(text):
    return _s(str(text).strip())


def k8s_replace(text, old, new, limit=None):
    count = -1 if limit is None else int(limit)
    return _s(str(text).replace(str(old), str(new), count))


def k8s_substring(text, start, end=None):
    text = str(text)
    start = int(start)
    stop = len(text) if end is None else int(end)
    if not 0 <= start <= stop <= len(text):
        raise ValueError(f"index out of range: {start}")
    return _s(text[start:stop])


def k8s_char_at(text, i):
    text, i = str(text), int(i)
    if not 0 <= i <= len(text):
        raise ValueError(f"index out of range: {i}")
    return _s(text[i:i + 1])


def k8s_index_of(container, item, start=None):
    if isinstance(container, str):
        return fast_int(str(container).find(str(item), int(start or 0)))
    for i, v in enumerate(container):
        if v == item:
            return fast_int(i)
    return fast_int(-1)


def k8s_last_index_of(container, item):
    if isinstance(container, str):
        return fast_int(str(container).rfind(str(item)))
    for i in range(len(container) - 1, -1, -1):
        if container[i] == item:
            return fast_int(i)
    return fast_int(-1)


def k8s_join(items, sep=""):
    return _s(str(sep).join(str(i) for i in items))


def k8s_is_sorted(items):
    return celtypes.BoolType(all(items[i] <= items[i + 1] for i in range(len(items) - 1)))


def k8s_sum(items):
    total = fast_int(0)
    for v in items:
        total = total + v
    return total


def k8s_min(items):
    if not items:
        raise ValueError("min called on empty list")
    return min(items)


def k8s_max(items):
    if not items:
        raise ValueError("max called on empty list")
    return max(items)


def k8s_find(text, pattern):
    m = _re(pattern).search(str(text))
    return _s(m.group(0) if m else "")


def k8s_find_all(text, pattern, limit=None):
    found = [_s(m.group(0)) for m in _re(pattern).finditer(str(text))]
    if limit is not None and int(limit) >= 0:
        found = found[:int(limit)]
    return celtypes.ListType(found)


@functools.lru_cache(maxsize=512)
def _re(pattern: str):
    try:
        import re2
        return re2.compile(str(pattern))
    except Exception:  # pragma: no cover - re2 is a cel-python dependency
        return re.compile(str(pattern))


class URL(celtypes.StringType):
    """A parsed URL value (``url()``)."""


def k8s_is_url(text):
    try:
        parsed = urllib.parse.urlsplit(str(text))
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(bool(parsed.scheme) or str(text).startswith("/"))


def k8s_url(text):
    if not k8s_is_url(text):
        raise ValueError(f"URL parse error during conversion from string: {text}")
    return URL(str(text))


def k8s_get_scheme(u):
    return _s(urllib.parse.urlsplit(str(u)).scheme)


def k8s_get_host(u):
    return _s(urllib.parse.urlsplit(str(u)).netloc.rpartition("@")[2])


def k8s_get_hostname(u):
    return _s(urllib.parse.urlsplit(str(u)).hostname or "")


def k8s_get_port(u):
    parsed = urllib.parse.urlsplit(str(u))
    return _s(str(parsed.port) if parsed.port else "")


def k8s_get_escaped_path(u):
    return _s(urllib.parse.urlsplit(str(u)).path)


def k8s_get_query(u):
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(str(u)).query, keep_blank_values=True)
    return celtypes.MapType({_s(k): celtypes.ListType([_s(v) for v in vs]) for k, vs in query.items()})


class IP(celtypes.StringType):
    """An IP address value (``ip()``)."""


class CIDR(celtypes.StringType):
    """A CIDR value (``cidr()``)."""


def k8s_is_ip(text):
    try:
        return celtypes.BoolType("%" not in str(text) and bool(ipaddress.ip_address(str(text))))
    except ValueError:
        return celtypes.BoolType(False)


def k8s_ip(value):
    if isinstance(value, CIDR):
        return IP(str(ipaddress.ip_interface(str(value)).ip))
    if not k8s_is_ip(value):
        raise ValueError(f"IP Address '{value}' parse error during conversion from string")
    return IP(str(value))


def k8s_is_cidr(text):
    try:
        ipaddress.ip_interface(str(text))
        return celtypes.BoolType("/" in str(text))
    except ValueError:
        return celtypes.BoolType(False)


def k8s_cidr(text):
    if not k8s_is_cidr(text):
        raise ValueError(f"network address parse error during conversion from string: {text}")
    return CIDR(str(text))


def k8s_family(ip):
    return fast_int(ipaddress.ip_address(str(ip)).version)


def k8s_contains_ip(cidr, ip):
    return celtypes.BoolType(ipaddress.ip_address(str(ip)) in ipaddress.ip_interface(str(cidr)).network)


def k8s_is_loopback(ip):
    return celtypes.BoolType(ipaddress.ip_address(str(ip)).is_loopback)


_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_SUFFIX = {"": 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10) ** 3,
           "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15,
           "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
           "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}


def quantity_value(text: str) -> Decimal:
    m = _QUANTITY.match(str(text))
    if not m:
        raise ValueError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    number, suffix = m.groups()
    try:
        if suffix in _SUFFIX:
            return Decimal(number) * _SUFFIX[suffix]
        if suffix[:1] in "eE":
            return Decimal(number + suffix)
    except InvalidOperation:
        pass
    raise ValueError("unable to parse quantity's suffix")


class Quantity(celtypes.StringType):
    """A resource.Quantity value (``quantity()``)."""


def k8s_is_quantity(text):
    try:
        quantity_value(str(text))
        return celtypes.BoolType(True)
    except ValueError:
        return celtypes.BoolType(False)


def k8s_quantity(text):
    quantity_value(str(text))
    return Quantity(str(text))


def k8s_compare_to(a, b):
    x, y = quantity_value(str(a)), quantity_value(str(b))
    return fast_int((x > y) - (x < y))


def k8s_is_greater_than(a, b):
    return celtypes.BoolType(quantity_value(str(a)) > quantity_value(str(b)))


def k8s_is_less_than(a, b):
    return celtypes.BoolType(quantity_value(str(a)) < quantity_value(str(b)))


def k8s_as_integer(q):
    value = quantity_value(str(q))
    if value != value.to_integral_value():
        raise ValueError("cannot convert value to integer")
    return fast_int(int(value))


def k8s_as_approximate_float(q):
    return celtypes.DoubleType(float(quantity_value(str(q))))


class Optional_:
    """A CEL optional (``oldSelf`` of a rule with ``optionalOldSelf: true``)."""

    __slots__ = ("present", "item")

    def __init__(self, item: Any = None, present: bool = False):
        self.present, self.item = present, item


def k8s_has_value(opt):
    return celtypes.BoolType(opt.present)


def k8s_value(opt):
    if not opt.present:
        raise ValueError("optional.none() dereference")
    return opt.item


def k8s_or_value(opt, alternative):
    return opt.item if opt.present else alternative


FUNCTIONS: Dict[str, Callable] = {
    "size": k8s_size,
    "hasValue": k8s_has_value, "value": k8s_value, "orValue": k8s_or_value,
    "split": k8s_split, "lowerAscii": k8s_lower_ascii, "upperAscii": k8s_upper_ascii, "trim": k8s_trim,
    "replace": k8s_replace, "substring": k8s_substring, "charAt": k8s_char_at, "indexOf": k8s_index_of,
    "lastIndexOf": k8s_last_index_of, "join": k8s_join, "isSorted": k8s_is_sorted, "sum": k8s_sum,
    "min": k8s_min, "max": k8s_max, "find": k8s_find, "findAll": k8s_find_all,
    "isURL": k8s_is_url, "url": k8s_url, "getScheme": k8s_get_scheme, "getHost": k8s_get_host,
    "getHostname": k8s_get_hostname, "getPort": k8s_get_port, "getEscapedPath": k8s_get_escaped_path,
    "getQuery": k8s_get_query, "isIP": k8s_is_ip, "ip": k8s_ip, "isCIDR": k8s_is_cidr, "cidr": k8s_cidr,
    "family": k8s_family, "containsIP": k8s_contains_ip, "isLoopback": k8s_is_loopback,
    "isQuantity": k8s_is_quantity, "quantity": k8s_quantity, "compareTo": k8s_compare_to,
    "isGreaterThan": k8s_is_greater_than, "isLessThan": k8s_is_less_than, "asInteger": k8s_as_integer,
    "asApproximateFloat": k8s_as_approximate_float,
}

# The transpiled code names functions by module path and runs in celpy.evaluation's namespace.
_TOP = __name__.split(".")[0]
celpy.evaluation.__dict__.setdefault(_TOP, sys.modules[_TOP])

_LOCK = threading.RLock()


def _make_env():
    try:
        if celpy.celparser.CELParser.CEL_PARSER is None:
            env = celpy.Environment(runner_class=celpy.CompiledRunner)
            env.program(env.compile("1 == 1"), functions=FUNCTIONS)
            return env, True
    except Exception:  # pragma: no cover - fall back to the interpreter
        pass
    return celpy.Environment(), False


_ENV, _COMPILED = _make_env()

# cel-python 0.5's transpiler makes has() return a Python bool, which CEL's logical operators then
# reject ("no such overload"); wrap it into a CEL bool, as the interpreter does.
_HAS = re.compile(r"lambda activation: (not isinstance\(celpy\.evaluation\.result\(activation, ex_\d+_h\), CELEvalError\))")


# The transpiled code also rebuilds every integer literal on each evaluation, and IntType() is slow
# (it wraps a range-checking decorator per call): literals become constants built once.
_INT_LITERAL = re.compile(r"celpy\.celtypes\.IntType\((-?\d+)\)")
_NAMESPACE = celpy.evaluation.__dict__


def _int_constant(match) -> str:
    value = int(match.group(1))
    name = f"_k8s_int_{'m' if value < 0 else ''}{abs(value)}"
    _NAMESPACE.setdefault(name, fast_int(value))
    return name


def _fix_transpiled(runner) -> None:
    tp = getattr(runner, "tp", None)
    if tp is None:
        return
    fixed = _HAS.sub(r"lambda activation: celpy.celtypes.BoolType(\1)", tp.source_text)
    fixed = _INT_LITERAL.sub(_int_constant, fixed)
    if fixed != tp.source_text:
        tp.source_text = fixed
        tp.executable_code = compile(fixed, "<string>", "exec")


class Program:
    """One compiled CEL expression."""

    __slots__ = ("text", "runner", "uses_old_self")

    def __init__(self, text: str):
        self.text = text
        with _LOCK:
            try:
                ast = _ENV.compile(text)
                self.runner = _ENV.program(ast, functions=FUNCTIONS)
                _fix_transpiled(self.runner)
            except Exception as exc:
                raise CelError(f"compilation failed: {exc}") from None
        self.uses_old_self = bool(re.search(r"\boldSelf\b", text))

    def evaluate(self, activation: Dict[str, Any]):
        with _LOCK:
            try:
                tp = getattr(self.runner, "tp", None)
                if tp is None:
                    return self.runner.evaluate(activation)
                # Transpiler.evaluate, minus its per-call Activation clone and typed name resolution
                # (which cost more than the rule itself): variables are plain attributes.
                namespace = celpy.evaluation.result.__globals__
                namespace["base_activation"] = _Vars(activation, tp.base_activation)
                exec(tp.executable_code, namespace)
                value = namespace["CEL"]
                if isinstance(value, celpy.evaluation.CELEvalError):
                    raise value
                return value
            except Exception as exc:  # CELEvalError and Python errors inside functions
                raise CelError(describe_error(exc)) from None


class _Vars:
    """The activation transpiled rules see: ``activation.self``, ``nested_activation(vars=...)`` for macros;
    anything else is looked up in cel-python's own activation."""

    __slots__ = ("_values", "_base")

    def __init__(self, values: Dict[str, Any], base):
        self._values = values
        self._base = base

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            return getattr(self._base, name)

    def nested_activation(self, annotations=None, vars=None):
        values = dict(self._values)
        values.update(vars or {})
        return _Vars(values, self._base)


def describe_error(exc: Exception) -> str:
    """cel-go's wording for the usual runtime errors."""
    args = getattr(exc, "args", ())
    while args and isinstance(args[-1], tuple) and args[-1] and isinstance(args[0], str) and args[0] == "evaluation error":
        args = args[-1]
    text = str(args[0]) if args else str(exc)
    m = re.search(r"no such member in mapping: '([^']*)'", text)
    if m:
        return f"no such key: {m.group(1)}"
    if "no matching overload" in text or "no such overload" in text:
        return "no such overload"
    return text


@functools.lru_cache(maxsize=4096)
def compile_program(text: str) -> Program:
    return Program(text)


# -- values ----------------------------------------------------------------------------------------
def to_cel(value: Any, node) -> Any:
    """Convert a JSON value to CEL following its structural schema node (see structural.Node)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        if node is not None and node.type == "number":
            return celtypes.DoubleType(float(value))
        return fast_int(value)
    if isinstance(value, float):
        if node is not None and node.type == "integer" and value == int(value):
            return fast_int(int(value))
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        fmt = node.format if node is not None else None
        if fmt == "date-time":
            try:
                return celtypes.TimestampType(value)
            except Exception:
                return celtypes.StringType(value)
        if fmt == "duration":
            try:
                return celtypes.DurationType(value)
            except Exception:
                return celtypes.StringType(value)
        return celtypes.StringType(value)
    if isinstance(value, list):
        items = node.items if node is not None else None
        return celtypes.ListType([to_cel(v, items) for v in value])
    if isinstance(value, dict):
        out = {}
        props = node.properties if node is not None else None
        if props:
            for k, v in value.items():
                sub = props.get(k)
                if sub is not None:
                    name = sub.cel_name
                    if name is not None:
                        out[celtypes.StringType(name)] = to_cel(v, sub)
                else:
                    name = escape(k)
                    if name is not None:
                        out[celtypes.StringType(name)] = to_cel(v, node.additional)
        else:
            extra = node.additional if node is not None else None
            for k, v in value.items():
                out[celtypes.StringType(k)] = to_cel(v, extra)
        return celtypes.MapType(out)
    return value


def cel_child(cel_value: Any, node, key: str) -> Any:
    """The CEL value of property ``key`` inside an already converted object."""
    if cel_value is None:
        return None
    sub = node.properties.get(key) if node.properties else None
    name = sub.cel_name if sub is not None else (escape(key) if node.properties else key)
    try:
        return cel_value[celtypes.StringType(name)]
    except (KeyError, TypeError):
        return None
