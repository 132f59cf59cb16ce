"""The scan cache: the engine's state after the last scan, so the next one can be incremental.

One pickle file per database (named from its connection settings) in
`MERGEASSIST_SCAN_CACHE_DIR`. It is only a cache: it is used when its configuration key (the
engine's settings and source) and the token of the last successful scan both match, and the scan
falls back to a full run whenever it is missing, stale or unreadable.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

import mergeassist.matching as matching
from mergeassist.matching import MatchConfig

logger = logging.getLogger(__name__)

# Bump when what the cache holds changes shape.
FORMAT = 2


def _engine_source_digest() -> str:
    """The matching package's source: a new engine version must not start from an old state."""
    digest = hashlib.sha256()
    folder = Path(matching.__file__).parent
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def config_key(config: MatchConfig) -> str:
    """Changes whenever the engine's settings or code do: then the cache is rebuilt."""
    settings_part = repr(
        (FORMAT, config.threshold, sorted((config.weights or {}).items()), config.phone_region, config.max_block_size,
         config.window, config.report_floor, sorted(config.rules.items()))
    )
    return hashlib.sha256((settings_part + _engine_source_digest()).encode()).hexdigest()


def cache_path() -> Path:
    database = connection.settings_dict
    identity = f"{database['ENGINE']}|{database.get('HOST')}|{database.get('PORT')}|{database['NAME']}"
    name = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return Path(settings.MERGEASSIST_SCAN_CACHE_DIR) / f"scan-state-{name}.pickle"


_SEPARATOR = "\x00"


def _pack_ids(ids: list[str]) -> str | list[str]:
    # One joined str pickles and unpickles in a fraction of the time of a million small ones.
    joined = _SEPARATOR.join(ids)
    return joined if joined.count(_SEPARATOR) == len(ids) - 1 else ids


def _unpack_ids(packed: str | list[str]) -> list[str]:
    return packed.split(_SEPARATOR) if isinstance(packed, str) else packed


def _pack_clusters(info: dict[int, tuple[int, tuple[str, str, float]]]) -> dict[str, Any]:
    pks = list(info)
    return {
        "pks": np.array(pks, dtype=np.int64),
        "sizes": np.array([info[pk][0] for pk in pks], dtype=np.int64),
        "link_a": _pack_ids([info[pk][1][0] for pk in pks]),
        "link_b": _pack_ids([info[pk][1][1] for pk in pks]),
        "scores": np.array([info[pk][1][2] for pk in pks], dtype=np.float64),
    }


def _unpack_clusters(packed: dict[str, Any]) -> dict[int, tuple[int, tuple[str, str, float]]]:
    pks, sizes, scores = packed["pks"].tolist(), packed["sizes"].tolist(), packed["scores"].tolist()
    links_a, links_b = _unpack_ids(packed["link_a"]), _unpack_ids(packed["link_b"])
    if not pks:
        return {}
    return {pk: (size, (a, b, score)) for pk, size, a, b, score in zip(pks, sizes, links_a, links_b, scores)}


def save(key: str, token: str, **state: Any) -> None:
    state["ids"] = _pack_ids(state["ids"])
    state["cluster_info"] = _pack_clusters(state["cluster_info"])
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with open(partial, "wb") as handle:
        pickle.dump({"key": key, "token": token, **state}, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)  # readers see the old file or the new one, never half of one


def load(key: str, token: str) -> dict[str, Any] | None:
    path = cache_path()
    try:
        with open(path, "rb") as handle:
            cached = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: scan in full and write a new one
        logger.warning("Ignoring an unreadable scan cache at %s", path, exc_info=True)
        return None
    if not isinstance(cached, dict) or cached.get("key") != key or cached.get("token") != token:
        return None
    cached["ids"] = _unpack_ids(cached["ids"])
    cached["cluster_info"] = _unpack_clusters(cached["cluster_info"])
    return cached
