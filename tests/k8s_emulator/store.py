"""In-memory object store of the Kubernetes API emulator (the etcd of the emulator).

The store knows nothing about HTTP, schemas or metadata rules: it keeps objects per resource
(``group``, ``plural``) and per (``namespace``, ``name``), hands out a global, monotonically
increasing ``metadata.resourceVersion`` on every write, enforces optimistic concurrency on
request, and fans every write out to watchers and subscribers.

Contract used by the rest of the emulator (server, controllers, authorization):

* every object returned is a deep copy: callers may mutate it freely;
* ``create`` / ``update`` / ``delete`` return the object as stored (with its new resourceVersion);
* ``update`` of an object identical to the stored one (ignoring resourceVersion) is a no-op: no new
  resourceVersion and no watch event, exactly as kube-apiserver skips no-op writes;
* ``watch`` replays the events after ``since_rv`` and then streams new ones; a ``since_rv`` older than
  the retained history raises :class:`Expired` (the server answers 410 Gone);
* ``subscribe`` callbacks run after every write, outside the store lock, in the writer's thread:
  they must be quick (controllers enqueue work and return).
"""

from __future__ import annotations

import collections
import copy
import queue
import threading
from typing import Callable, Dict, Iterable, List, Optional, Tuple

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

ResourceKey = Tuple[str, str]  # (group, plural); group is "" for the core API
ObjectKey = Tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


class StoreError(Exception):
    """Base class of store errors; the server maps each one to a Status."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    """The caller's resourceVersion precondition does not match the stored object."""


class Expired(StoreError):
    """A watch asked for history older than the store keeps (410 Gone)."""


def _strip_rv(obj: dict) -> dict:
    clone = dict(obj)
    meta = dict(clone.get("metadata") or {})
    meta.pop("resourceVersion", None)
    clone["metadata"] = meta
    return clone


class Watch:
    """One watcher: an iterator of ``(event_type, object)`` that ends when :meth:`stop` is called."""

    _STOP = object()

    def __init__(self, store: "Store", resource: ResourceKey, namespace: Optional[str]):
        self._store = store
        self.resource = resource
        self.namespace = namespace
        self._queue: "queue.Queue" = queue.Queue()
        self.stopped = False

    def matches(self, resource: ResourceKey, obj: dict) -> bool:
        if resource != self.resource:
            return False
        if self.namespace:
            return (obj.get("metadata") or {}).get("namespace", "") == self.namespace
        return True

    def _put(self, event: Tuple[str, dict]) -> None:
        self._queue.put(event)

    def next(self, timeout: Optional[float] = None):
        """Next ``(type, object)``; ``None`` on timeout; raises StopIteration once stopped."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is self._STOP:
            raise StopIteration
        return item

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._store._remove_watch(self)
            self._queue.put(self._STOP)


class Store:
    """Thread-safe in-memory store with a global resourceVersion and watch history."""

    def __init__(self, history: int = 20000, first_rv: int = 1000):
        self._lock = threading.RLock()
        self._objects: Dict[ResourceKey, Dict[ObjectKey, dict]] = collections.defaultdict(dict)
        self._rv = first_rv
        self._history: "collections.deque" = collections.deque(maxlen=history)
        self._watches: List[Watch] = []
        self._subscribers: List[Callable[[str, ResourceKey, dict], None]] = []

    # -- resource versions ---------------------------------------------------------------------
    def current_rv(self) -> str:
        with self._lock:
            return str(self._rv)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, resource: ResourceKey, namespace: str, name: str) -> Optional[dict]:
        with self._lock:
            obj = self._objects[resource].get((namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, resource: ResourceKey, namespace: Optional[str] = None) -> Tuple[List[dict], str]:
        """All objects of a resource (in one namespace if given), sorted by namespace/name, and the list RV."""
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (ns, _name), obj in sorted(self._objects[resource].items())
                if not namespace or ns == namespace
            ]
            return items, str(self._rv)

    def resources(self) -> Iterable[ResourceKey]:
        with self._lock:
            return [key for key, objs in self._objects.items() if objs]

    # -- writes --------------------------------------------------------------------------------
    def create(self, resource: ResourceKey, obj: dict) -> dict:
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace") or "", meta["name"])
        with self._lock:
            if key in self._objects[resource]:
                raise AlreadyExists(key)
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[resource][key] = stored
            result = copy.deepcopy(stored)
            self._record(ADDED, resource, stored)
        self._notify(ADDED, resource, result)
        return result

    def update(self, resource: ResourceKey, obj: dict, expected_rv: Optional[str] = None) -> dict:
        """Replace an object. ``expected_rv`` (if given) must equal the stored resourceVersion."""
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta["name"])
        with self._lock:
            current = self._objects[resource].get(key)
            if current is None:
                raise NotFound(key)
            if expected_rv and expected_rv != current["metadata"]["resourceVersion"]:
                raise Conflict(key)
            if _strip_rv(obj) == _strip_rv(current):
                return copy.deepcopy(current)
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[resource][key] = stored
            result = copy.deepcopy(stored)
            self._record(MODIFIED, resource, stored)
        self._notify(MODIFIED, resource, result)
        return result

    def delete(self, resource: ResourceKey, namespace: str, name: str, expected_rv: Optional[str] = None) -> dict:
        key = (namespace or "", name)
        with self._lock:
            current = self._objects[resource].get(key)
            if current is None:
                raise NotFound(key)
            if expected_rv and expected_rv != current["metadata"]["resourceVersion"]:
                raise Conflict(key)
            del self._objects[resource][key]
            gone = copy.deepcopy(current)
            gone["metadata"]["resourceVersion"] = self._next_rv()
            result = copy.deepcopy(gone)
            self._record(DELETED, resource, gone)
        self._notify(DELETED, resource, result)
        return result

    # -- watch and subscribe -------------------------------------------------------------------
    def watch(self, resource: ResourceKey, namespace: Optional[str] = None, since_rv: Optional[str] = None) -> Watch:
        """Start a watch. With ``since_rv`` the events after it are replayed first."""
        with self._lock:
            w = Watch(self, resource, namespace)
            if since_rv not in (None, "", "0"):
                since = int(since_rv)
                if self._history and since < int(self._history[0][2]["metadata"]["resourceVersion"]) - 1:
                    raise Expired(since_rv)
                for event_type, res, obj in self._history:
                    if int(obj["metadata"]["resourceVersion"]) > since and w.matches(res, obj):
                        w._put((event_type, copy.deepcopy(obj)))
            self._watches.append(w)
            return w

    def list_and_watch(self, resource: ResourceKey, namespace: Optional[str] = None) -> Tuple[List[dict], str, Watch]:
        """Atomically list a resource and start a watch right after that list's resourceVersion.

        Used for watches that begin with the current state (``resourceVersion`` unset or "0",
        ``sendInitialEvents=true``): no write can fall between the snapshot and the watch.
        """
        with self._lock:
            items, rv = self.list(resource, namespace)
            w = Watch(self, resource, namespace)
            self._watches.append(w)
            return items, rv, w

    def _remove_watch(self, w: Watch) -> None:
        with self._lock:
            if w in self._watches:
                self._watches.remove(w)

    def subscribe(self, callback: Callable[[str, ResourceKey, dict], None]) -> None:
        """Call ``callback(event_type, resource, object)`` after every write."""
        with self._lock:
            self._subscribers.append(callback)

    def _record(self, event_type: str, resource: ResourceKey, obj: dict) -> None:
        self._history.append((event_type, resource, obj))
        for w in list(self._watches):
            if w.matches(resource, obj):
                w._put((event_type, copy.deepcopy(obj)))

    def _notify(self, event_type: str, resource: ResourceKey, obj: dict) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(event_type, resource, copy.deepcopy(obj))
