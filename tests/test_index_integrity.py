"""Stored index files are never trusted: a truncated, corrupted, empty, foreign or
out-of-date family index (or identity lookup) is detected, said, rebuilt from the database,
and the search afterwards gives the candidates of the pair-by-pair engine, with the LRs of
brute force."""

import json
import warnings

import numpy as np
import pytest
from conftest import simulated_store
from sqlalchemy.orm import Session

from reunite.search import index as ix
from reunite.search import service
from reunite.search.engine import brute_force_search
from reunite.search.identity import IdentityLookup
from reunite.search.service import (
    family_index,
    identity_cache,
    identity_lookup,
    identity_path,
    index_path,
    load_families,
    load_unidentified,
    run_search,
)
from reunite.store.profiles import GeneticModel

POP = "CHN_national_GBT37223"
MODEL = GeneticModel(POP)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two simulated databases (a, and b whose index is swapped in), their index files
    written; the engine's candidates and brute force's LRs of database a."""
    base = tmp_path_factory.mktemp("integrity")
    (base / "a").mkdir()
    (base / "b").mkdir()
    _, engine = simulated_store(base / "a", 80, 12, seed=21, model=MODEL)
    _, other = simulated_store(base / "b", 80, 12, seed=22, model=MODEL)
    with Session(engine) as s:
        family_index(s, MODEL)
        identity_cache(s, MODEL)
        want = _candidates(run_search(s, MODEL, store=False, top_k=5, use_index=False))
        brute = brute_force_search(load_unidentified(s), load_families(s), model=MODEL)
    with Session(other) as s:
        family_index(s, MODEL)
    return engine, other, want, brute


def _candidates(result):
    return sorted((c.unidentified.code, c.rank, c.family.code, c.missing) for c in result.candidates)


def _write_npz(path, meta, arrays):
    arrays = dict(arrays, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _read_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return json.loads(bytes(data["meta"]).decode()), {k: data[k] for k in data.files if k != "meta"}


def _flip_middle(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 64]) + data[mid + 64:]


def _changed_array(data: bytes, path) -> bytes:
    """The file with one element of its largest array changed, written again as a valid
    ``.npz`` (its zip CRCs right) with the old document: only the recorded SHA-256 sees it."""
    path.write_bytes(data)
    meta, arrays = _read_npz(path)
    name = max(arrays, key=lambda k: arrays[k].nbytes if arrays[k].dtype.kind != "U" else 0)
    changed = arrays[name].copy()
    changed.reshape(-1)[len(changed.reshape(-1)) // 2] += 1
    arrays[name] = changed
    _write_npz(path, meta, arrays)
    return path.read_bytes()


def _short_rows(data: bytes, path) -> bytes:
    """One row fewer in one column, the checksum made to match: only the size checks see it."""
    path.write_bytes(data)
    meta, arrays = _read_npz(path)
    arrays["m_sex"] = arrays["m_sex"][:-1]
    meta["checksum"] = ix.arrays_checksum(arrays)
    _write_npz(path, meta, arrays)
    return path.read_bytes()


def _old_format(data: bytes, path) -> bytes:
    path.write_bytes(data)
    meta, arrays = _read_npz(path)
    meta["format"] = ix.FamilyIndex.FORMAT - 1
    _write_npz(path, meta, arrays)
    return path.read_bytes()


DAMAGES = {
    "truncated": (lambda data, path: data[:len(data) // 2], "not a readable family index"),
    "bytes flipped in the middle": (lambda data, path: _flip_middle(data), "family index"),
    "an array changed, zip CRCs right": (_changed_array, "not a readable family index: .*SHA-256"),
    "a column one row short": (_short_rows, "not a readable family index.*m_sex"),
    "zero length": (lambda data, path: b"", "not a readable family index \\(0 bytes"),
    "another database's index": (None, "family index of another database"),
    "an older format": (_old_format, None),  # expected after an upgrade: rebuilt without a warning
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_family_index_is_detected_rebuilt_and_the_search_is_right(stores, damage, tmp_path):
    engine, other, want, brute = stores
    path = index_path(engine)
    good = path.read_bytes()
    make, message = DAMAGES[damage]
    try:
        bad = index_path(other).read_bytes() if make is None else make(good, tmp_path / "work.npz")
        assert bad != good
        path.write_bytes(bad)
        with Session(engine) as s:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                index = family_index(s, MODEL)
            said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
            if message is None:
                assert not said
            else:
                assert len(said) == 1 and str(path) in said[0], said
                import re
                assert re.search(message, said[0]), said[0]
                assert "rebuilt" in said[0]
            # rebuilt and saved again: the file now reads back, whole
            assert path.read_bytes() != bad
            back = ix.FamilyIndex.load(path, MODEL)
            assert back.indexed == index.indexed == {f.id for f in load_families(s)}
            got = run_search(s, MODEL, store=False, top_k=5, use_index=True)
        assert _candidates(got) == want
        for c in got.candidates:
            assert abs(c.log10_lr - brute[(c.unidentified.id, c.family.id, c.missing)]) < 1e-9
    finally:
        path.write_bytes(good)


def test_the_checksum_covers_every_array_and_its_shape():
    a = {"x": np.arange(6, dtype=np.int32), "y": np.array(["a", "b"])}
    base = ix.arrays_checksum(a)
    assert ix.arrays_checksum(dict(a, meta=np.zeros(3, dtype=np.uint8))) == base  # the document is not hashed
    assert ix.arrays_checksum(dict(a, x=np.arange(6, dtype=np.int32).reshape(2, 3))) != base
    assert ix.arrays_checksum(dict(a, x=np.arange(6, dtype=np.int64))) != base
    assert ix.arrays_checksum(dict(a, y=np.array(["a", "c"]))) != base
    assert ix.arrays_checksum({"x2": a["x"], "y": a["y"]}) != base


def test_a_file_without_a_checksum_is_not_used(stores, tmp_path):
    engine = stores[0]
    meta, arrays = _read_npz(index_path(engine))
    del meta["checksum"]
    _write_npz(tmp_path / "i.npz", meta, arrays)
    with pytest.raises(ix.DamagedFileError, match="without its checksum"):
        ix.FamilyIndex.load(tmp_path / "i.npz", MODEL)


IDENTITY_DAMAGES = {
    "truncated": lambda data: data[:len(data) // 2],
    "bytes flipped in the middle": _flip_middle,
    "zero length": lambda data: b"",
}


def _identity_flags(lookup, session):
    people = load_unidentified(session)
    own = lookup.holders.unidentified_entries(u.id for u in people)
    return [sorted((m.target, m.kind, m.common_loci, m.locus) for m in ms)
            for ms in lookup.matches([u.profile for u in people], exclude=own)]


@pytest.mark.parametrize("damage", list(IDENTITY_DAMAGES) + ["an array changed, zip CRCs right"])
def test_a_damaged_identity_lookup_is_detected_and_rebuilt(stores, damage, tmp_path):
    engine = stores[0]
    path = identity_path(engine)
    good = path.read_bytes()
    try:
        if damage in IDENTITY_DAMAGES:
            path.write_bytes(IDENTITY_DAMAGES[damage](good))
        else:
            meta, arrays = _read_npz(path)
            arrays["family_id"] = arrays["family_id"] + 1
            _write_npz(path, meta, arrays)
        with pytest.raises(ix.DamagedFileError, match="rebuilt"):
            IdentityLookup.load(path, min_common_loci=MODEL.min_common_loci)
        service._IDENTITY_CACHE.clear()
        with Session(engine) as s:
            with pytest.warns(UserWarning, match=f"{path.name}.*identity lookup.*rebuilt"):
                cached = identity_cache(s, MODEL)
            assert _identity_flags(cached, s) == _identity_flags(identity_lookup(s, MODEL), s)
        IdentityLookup.load(path, min_common_loci=MODEL.min_common_loci)  # saved again, whole
    finally:
        path.write_bytes(good)
        service._IDENTITY_CACHE.clear()
