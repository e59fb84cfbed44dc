# Copyright: (c) 2026, mcp_gateway platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for inputs checked before anything is changed: the grammars the Kubernetes API server and the
agentgateway CRDs enforce, so that a bad value is refused by the collection before the first write."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

# resource.Quantity (k8s.io/apimachinery/pkg/api/resource/quantity.go):
#   <quantity> ::= <signedNumber><suffix>;  <number> ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
#   <suffix>   ::= <binarySI> | <decimalExponent> | <decimalSI>
#   <binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei;  <decimalSI> ::= n | u | m | "" | k | M | G | T | P | E
#   <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>  (an integer exponent)
QUANTITY = re.compile(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
# The agentgateway CRDs' duration fields (for example jwtAuthentication.providers[].jwks.remote.cacheDuration):
# x-kubernetes-validations rule matches(self, '^([0-9]{1,5}(h|m|s|ms)){1,4}$').
AGENTGATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
DURATION_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# The cron grammar of the CronJob controller (robfig/cron's standard parser): five fields, or a descriptor.
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
CRON_FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
               ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
               ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))


def _text(value):
    """A scalar as the API server would read it from JSON (YAML numbers are quantities too), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return None


def k8s_quantity(value, non_negative=False):
    """Whether ``value`` is a Kubernetes resource.Quantity (``non_negative``: and not below zero)."""
    text = _text(value)
    found = QUANTITY.match(text) if text is not None else None
    if not found:
        return False
    return not (non_negative and found.group(1) == "-" and found.group(2).strip("0.") != "")


def duration_seconds(value):
    """Seconds of an agentgateway duration such as ``5m`` or ``1h30m``; None when it is not one."""
    if not isinstance(value, str) or not AGENTGATEWAY_DURATION.match(value):
        return None
    return sum(int(number) * DURATION_UNITS[unit] for number, unit in DURATION_PART.findall(value))


def agentgateway_duration(value, minimum=None):
    """Whether ``value`` is an agentgateway CRD duration (``5m``, ``1h30m``, ``300s``), at least ``minimum``."""
    seconds = duration_seconds(value)
    if seconds is None:
        return False
    return minimum is None or seconds >= duration_seconds(minimum)


def _cron_value(text, low, high, names):
    if names and text.lower() in names:
        return names.index(text.lower()) + low
    if not text.isdigit():
        return None
    number = int(text)
    return number if low <= number <= high else None


def _cron_field(field, low, high, names):
    for part in field.split(","):
        span, step = (part.split("/", 1) + [None])[:2]
        if step is not None and (not step.isdigit() or int(step) < 1):
            return False
        if span in ("*", "?"):
            continue
        bounds = span.split("-", 1)
        values = [_cron_value(bound, low, high, names) for bound in bounds]
        if any(v is None for v in values) or (len(values) == 2 and values[0] > values[1]):
            return False
    return True


def cron_schedule(value):
    """Whether ``value`` is a schedule the CronJob controller accepts: five fields (minute hour
    day-of-month month day-of-week, with ``*``, ``?``, lists, ranges, steps, month and day names) or a
    descriptor such as ``@hourly``; no ``TZ=`` prefix (spec.timeZone is the API's place for it)."""
    if not isinstance(value, str):
        return False
    if value.strip() in CRON_DESCRIPTORS:
        return True
    fields = value.split()
    if len(fields) != 5:
        return False
    return all(_cron_field(field, low, high, names) for field, (_label, low, high, names) in zip(fields, CRON_FIELDS))


INTEGER = re.compile(r"^[+-]?[0-9]+$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# <image>[:<tag>] or <image>@sha256:<64 hex>: a tag other than latest, or a digest.
PINNED_IMAGE = re.compile(r"^[^\s:@/]+(?::[0-9]+)?(?:/[^\s:@/]+)*(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
                          r"(?:@sha256:[a-f0-9]{64})?$")


def int_between(value, low=None, high=None):
    """Whether ``value`` is a whole number (an integer, or its text as ``-e name=5`` gives it; not a
    boolean, not 1.5) within ``low``..``high``, both inclusive and optional."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and INTEGER.match(value.strip()):
        number = int(value)
    else:
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def dns_label(value, max_length=63):
    """Whether ``value`` is an RFC 1123 label (lower-case letters, digits, '-'), at most ``max_length`` long."""
    return isinstance(value, str) and len(value) <= max_length and bool(DNS_LABEL.match(value))


def dns_subdomain(value, max_length=253):
    """Whether ``value`` is an RFC 1123 subdomain (labels joined by '.'), the rule of most object names."""
    return isinstance(value, str) and len(value) <= max_length and bool(DNS_SUBDOMAIN.match(value))


def pinned_image(value):
    """Whether ``value`` is an image reference pinned by a tag other than ``latest`` or by a sha256 digest."""
    if not isinstance(value, str):
        return False
    found = PINNED_IMAGE.match(value)
    if not found or ("@sha256:" not in value and not found.group("tag")):
        return False
    return found.group("tag") != "latest" or "@sha256:" in value


def cidr(value):
    """Whether ``value`` is an IPv4 or IPv6 network in CIDR notation with no host bits set (10.0.0.0/8, not
    10.0.0.1/8), as a NetworkPolicy ipBlock takes it."""
    if not isinstance(value, str) or "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


def bool_like(value):
    """Whether a value is true or false as the ``bool`` filter reads it: a boolean, or the text an AWX survey or
    ``-e name=false`` passes: the texts a role's argument spec converts to a bool (true/false, yes/no, on/off, y/n,
    t/f, 1/0, any case)."""
    if isinstance(value, bool):
        return True
    return isinstance(value, (str, int)) and str(value).strip().lower() in (
        "true", "false", "yes", "no", "on", "off", "y", "n", "t", "f", "1", "0")


def version_at_least(value, other):
    """Whether version ``value`` is ``other`` or newer, both semantic versions with an optional leading v, as chart
    versions and the Gateway API's bundle-version are written (v2.2.0-beta.4 is newer than v2.2.0-beta.3 and older
    than v2.2.0). Raises on a value that is not a semantic version: the roles check the format first."""
    from ansible.utils.version import SemanticVersion

    return SemanticVersion(re.sub(r"^v", "", str(value))) >= SemanticVersion(re.sub(r"^v", "", str(other)))


class TestModule(object):
    def tests(self):
        return {"k8s_quantity": k8s_quantity, "agentgateway_duration": agentgateway_duration,
                "cron_schedule": cron_schedule, "int_between": int_between, "dns_label": dns_label,
                "dns_subdomain": dns_subdomain, "pinned_image": pinned_image, "cidr": cidr,
                "version_at_least": version_at_least, "bool_like": bool_like}
