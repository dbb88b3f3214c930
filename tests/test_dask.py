"""The Dask backend: the family index cut into row ranges on the workers gives exactly the
single-process search (same candidates, LR floats, ranks, ties, counts and skipped pairs)
for any number of partitions and workers, in-process and worker processes, through the
service and the command line, and after a worker is killed mid-search."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from sqlalchemy.orm import Session

from reunite.search import index as ix
from reunite.search.dask_backend import DaskIndex, merge_partitions, partition_index, row_ranges, scan_partition
from reunite.search.engine import UnidentifiedRecord, index_search
from reunite.search.service import family_index, run_search
from reunite.simulate import simulate_database
from reunite.store.profiles import GeneticModel
from test_search import _records

distributed = pytest.importorskip("distributed")

POP = "CHN_national_GBT37223"
MODEL = GeneticModel(POP)


def _outcome(result) -> tuple:
    """Everything a search reports, floats exactly."""
    return ([(c.unidentified.code, c.family.code, c.missing, c.rank, c.lr, c.log10_lr, c.loci_compared,
              tuple(c.inconsistent_loci), tuple(sorted(c.lr_per_locus.items())), repr(c.flags))
             for c in result.candidates],
            result.num_pairs, result.num_compared, result.skipped_sex, result.skipped_age, result.skipped_loci,
            list(result.skipped_pairs))


@pytest.fixture(scope="module")
def world():
    """A few hundred simulated families with dates (the age filter), queries with sex 'U',
    a partial profile (the loci filter), a locus the index has no column for yet and an
    allele absent from the frequency table."""
    import dataclasses
    from datetime import date, timedelta

    db = simulate_database(200, 60, seed=21)
    families, unidentified = _records(db, num_queries=14)
    rng = np.random.default_rng(21)

    def day(lo, hi):
        return date(2000, 1, 1) + timedelta(days=int(rng.integers(lo, hi)))

    for f in families[::2]:  # half the missing persons dated, some of them only born
        f.dates = {m: (day(0, 3000), None if rng.random() < 0.3 else day(3000, 4000)) for m in f.missing}
    # ties: every family twice (another code, at the end: another partition), so equal LRs
    # are ranked by family code across partitions
    families += [dataclasses.replace(f, id=1000 + f.id, code=f"{f.code}-TWIN") for f in families]
    unidentified = [dataclasses.replace(u, estimated_birth_date=day(0, 3000), found_date=day(3500, 5000))
                    if k % 3 else u for k, u in enumerate(unidentified)]
    u0, u1 = unidentified[0], unidentified[1]
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    extra = next(locus for locus in index.model_loci if locus not in index.loci)
    rare_locus = sorted(u1.profile)[1]
    allele = index._all_tables[extra].alleles[0]
    queries = unidentified + [
        UnidentifiedRecord(9001, "PART-U", "U", dict(sorted(u1.profile.items())[:11])),
        UnidentifiedRecord(9002, "EXTRA-LOCUS", u0.sex, {**u0.profile, extra: (allele, allele)}),
        UnidentifiedRecord(9003, "ABSENT-ALLELE", u1.sex,  # an allele the table lacks: the locus recomputed
                           {**u1.profile, rare_locus: ("41.2", u1.profile[rare_locus][1])}),
    ]
    by_id = {f.id: f for f in families}

    def load(ids):
        return list(by_id.values()) if ids is None else [by_id[i] for i in ids]

    return families, queries, load


def _fresh_index(families):
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    return index


_WANT: dict = {}


def _single_process(world, min_lr, top_k):
    """The single-process search (computed once per module and options)."""
    families, queries, load = world
    if (min_lr, top_k) not in _WANT:
        _WANT[min_lr, top_k] = index_search(queries, _fresh_index(families), model=MODEL, min_lr=min_lr,
                                            top_k=top_k, load_families=load)
    return _WANT[min_lr, top_k]


def test_row_ranges_cover_the_rows_once():
    for n in (0, 1, 7, 100):
        for p in (1, 2, 3, 8, 150):
            ranges = row_ranges(n, p)
            assert ranges[0][0] == 0 and ranges[-1][1] == n
            assert all(b == c for (_, b), (c, _) in zip(ranges, ranges[1:]))
            sizes = [b - a for a, b in ranges]
            assert max(sizes) - min(sizes) <= 1 and len(ranges) <= max(1, p)
    with pytest.raises(Exception, match="--partitions must be 1 or more"):
        row_ranges(10, 0)


def test_a_partition_is_the_rows_of_the_index(world):
    families, queries, _ = world
    index = _fresh_index(families)
    n = len(index)
    for a, b in ((0, n), (0, 1), (17, 150), (n - 5, n)):
        sub = partition_index(index, a, b)
        assert len(sub) == b - a and sub.row_offset == a
        for name, value in vars(index).items():  # every per-row array sliced, whatever its name
            if isinstance(value, np.ndarray) and value.shape[:1] == (n,):
                np.testing.assert_array_equal(getattr(sub, name), value[a:b])
        assert sub.family_code == index.family_code[a:b] and sub.missing == index.missing[a:b]
        assert sub.tables is index.tables and sub.shapes is index.shapes  # shared, not copied
        for u in queries[:4]:
            whole, part = index.scores(u.profile), sub.scores(u.profile)
            np.testing.assert_array_equal(part, whole[a:b])  # the same floats, bit for bit


def test_merged_partitions_equal_the_whole_index_row_selection(world):
    families, queries, _ = world
    index = _fresh_index(families)
    for parts in (2, 5):
        subs = [partition_index(index, a, b) for a, b in row_ranges(len(index), parts)]
        for u in queries[:6]:
            kw = dict(min_common=12, min_log=-np.inf, top_k=3, max_listed=7)
            rows, vals, *counts = index.search_rows(u.profile, sex=u.sex, **kw)
            got = merge_partitions([scan_partition(s, [(u.profile, u.sex, (ix.NO_DATE, ix.NO_DATE, 0))], **kw)[0]
                                    for s in subs], index.m_sex, max_listed=7)
            best = sorted(zip(-vals, rows))[:3]
            assert sorted(zip(-got[1], got[0]))[:3] == best  # the top 3 (ties kept beyond)
            assert got[2:5] == tuple(counts[:3])
            np.testing.assert_array_equal(got[5], counts[3])


@pytest.mark.parametrize("n_workers", [1, 2])
def test_dask_search_equals_the_single_process_search(world, n_workers):
    from distributed import Client, LocalCluster

    families, queries, load = world
    index = _fresh_index(families)  # extended with the new locus by the first search, then partitioned again
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for min_lr, top_k in ((1.0, 5), (1e3, None), (0.0, 20)):
            want = _single_process(world, min_lr, top_k)
            assert want.skipped_age and want.skipped_loci and want.candidates  # the filters are exercised
            assert any(a.unidentified.code == b.unidentified.code and a.log10_lr == b.log10_lr
                       and b.family.code.endswith("-TWIN") for a, b in zip(want.candidates, want.candidates[1:]))
            for partitions in (1, 2, 5):
                dask_index = DaskIndex(index, client, partitions=partitions, batch=3)
                got = dask_index.index_search(queries, model=MODEL, min_lr=min_lr, top_k=top_k, load_families=load)
                assert _outcome(got) == _outcome(want), (partitions, min_lr, top_k)
                dask_index.release()


def test_dask_search_in_worker_processes(world):
    from distributed import Client, LocalCluster

    families, queries, load = world
    want = _single_process(world, 1.0, 5)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,  # partitions pickled to a process
                      dashboard_address=None) as cluster, Client(cluster) as client:
        dask_index = DaskIndex(_fresh_index(families), client, partitions=3, batch=5)
        got = dask_index.index_search(queries, model=MODEL, min_lr=1.0, top_k=5, load_families=load)
    assert _outcome(got) == _outcome(want)


def test_run_search_and_the_cli_against_a_cluster_by_address(tmp_path):
    from distributed import Client, LocalCluster
    from typer.testing import CliRunner

    from reunite.cli import app
    from reunite.simulate import write_database
    from reunite.store.db import make_engine

    paths = write_database(simulate_database(120, 25, seed=4), tmp_path / "sim")
    env = {"REUNITE_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "COLUMNS": "200"}
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, [str(a) for a in args], env=env)

    for args in (("db", "init"), ("import", "genotypes", paths["genotypes"]),
                 ("import", "families", paths["families"]), ("import", "unidentified", paths["unidentified"])):
        assert run(*args).exit_code == 0
    engine = make_engine(env["REUNITE_DATABASE_URL"])
    with Session(engine) as s:
        want = run_search(s, MODEL, store=False, top_k=None, min_lr=1.0)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        with Client(cluster) as client, Session(engine) as s:
            got = run_search(s, MODEL, store=False, top_k=None, min_lr=1.0,
                             index=DaskIndex(family_index(s, MODEL), client, partitions=3))
        assert _outcome(got) == _outcome(want) and len(want.candidates) > 10
        plain = run("search", "--all", "--no-store", "--out", tmp_path / "a.csv")
        assert plain.exit_code == 0, plain.output
        spread = run("search", "--all", "--no-store", "--out", tmp_path / "b.csv",
                     "--dask", cluster.scheduler_address, "--partitions", "4")
        assert spread.exit_code == 0, spread.output
        from_file = run("search", "--all", "--no-store", "--out", tmp_path / "c.csv",  # the workers read the file
                        "--dask", cluster.scheduler_address, "--partitions", "3", "--index-path", "database")
        assert from_file.exit_code == 0, from_file.output
        with Session(engine) as s:  # a file older than the database, or another database's: refused, said why
            from reunite.search.dask_files import check_current, describe_file
            from reunite.search.service import index_path

            described = describe_file(index_path(engine), MODEL)
            check_current(s, described, "db.index")
            for change, message in ((dict(database_id="another"), "another database"),
                                    (dict(families=[1, 1, 1]), "older than the database"),
                                    (dict(family_imports=[]), "older than the database")):
                with pytest.raises(Exception, match=message):
                    check_current(s, {**described, **change}, "db.index")
        research = run("research", "--dask", cluster.scheduler_address, "--index-path", "database", "--chunk", "10")
        assert research.exit_code == 0, research.output
        assert "re-searched 25 of 25 unidentified persons in 3 chunk(s)" in research.output
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text() == (tmp_path / "c.csv").read_text()
    bad = run("search", "--all", "--index-path", "database")
    assert bad.exit_code == 1 and "give --dask ADDRESS" in str(bad.exception)
    bad = run("search", "--all", "--dask", "tcp://127.0.0.1:9", "--partitions", "0")
    assert bad.exit_code == 1 and "--partitions must be 1 or more" in str(bad.exception)
    bad = run("search", "--all", "--partitions", "2")
    assert bad.exit_code == 1 and "give --dask ADDRESS" in str(bad.exception)


@pytest.mark.stress
def test_a_worker_killed_mid_search_does_not_change_the_results():
    """SIGKILL of a worker process once the partitions are on the workers: its partitions
    are sent again and their scans run again; the result is the uninterrupted one."""
    from distributed import Client, LocalCluster

    db = simulate_database(3000, 400, seed=33, dates=True)
    families, queries = _records(db, num_queries=300)
    by_id = {f.id: f for f in families}

    def load(ids):
        return list(by_id.values()) if ids is None else [by_id[i] for i in ids]

    want = index_search(queries, _fresh_index(families), model=MODEL, min_lr=1.0, top_k=10, load_families=load)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        dask_index = DaskIndex(_fresh_index(families), client, partitions=4, batch=2)
        killed = []

        def kill_one_worker():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                parts = list(dask_index._parts)
                if parts and all(fut.status == "finished" for _, _, fut, _ in parts):
                    victim = sorted(pids.values())[0]
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        got = dask_index.index_search(queries, model=MODEL, min_lr=1.0, top_k=10, load_families=load)
        killer.join()
    assert killed and dask_index.resent >= 1
    assert _outcome(got) == _outcome(want)


@pytest.mark.stress
def test_dask_search_with_theta_equals_the_single_process_search():
    """θ > 0: the index's extra per-row arrays (key_d) are cut with the rest, whatever their names."""
    from distributed import Client, LocalCluster

    model = GeneticModel(POP, theta=0.02)
    families, queries = _records(simulate_database(80, 30, seed=5), num_queries=6)
    by_id = {f.id: f for f in families}

    def load(ids):
        return list(by_id.values()) if ids is None else [by_id[i] for i in ids]

    index = ix.FamilyIndex(model)
    index.add(families)
    want = index_search(queries, index, model=model, min_lr=0.0, top_k=5, load_families=load)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for partitions in (1, 3):
            got = DaskIndex(index, client, partitions=partitions, batch=2).index_search(
                queries, model=model, min_lr=0.0, top_k=5, load_families=load)
            assert _outcome(got) == _outcome(want)


# ------------------------------------------------------------------------------------------
# The workers read their rows from the index file (FileDaskIndex)

@pytest.fixture(scope="module")
def index_file(world, tmp_path_factory):
    families, _, _ = world
    path = tmp_path_factory.mktemp("file") / "db.index"
    _fresh_index(families).save(path)
    return path


def test_rows_read_from_the_file_are_the_partition_of_the_loaded_index(world, index_file):
    from reunite.search import dask_files

    _, queries, _ = world
    whole = ix.FamilyIndex.load(index_file, MODEL)
    meta, arrays = dask_files.open_index_file(index_file)
    assert all(isinstance(a, np.memmap) for name, a in arrays.items() if a.size and name in dask_files.ROW_ARRAYS)
    assert dask_files.streamed_checksum(arrays) == ix.arrays_checksum(arrays) == meta["checksum"]
    n = len(whole)
    for a, b in ((0, n), (0, 1), (17, 150), (n - 5, n), (3, 3)):
        sub = dask_files.load_rows(index_file, MODEL, a, b, expect=dask_files.expectation(meta))
        want = partition_index(whole, a, b)
        assert len(sub) == b - a and sub.row_offset == a and sub.loci == whole.loci
        for name in dask_files.ROW_ARRAYS:
            got, ref = getattr(sub, name), getattr(want, name)
            if isinstance(ref, list):
                assert got == ref, name
            elif ref is not None:
                np.testing.assert_array_equal(np.asarray(got), ref, err_msg=name)
        assert sub.indexed == want.indexed and sub.fallback == []
        if b > a:
            for u in queries[:4]:
                np.testing.assert_array_equal(sub.scores(u.profile), whole.scores(u.profile)[a:b])


def test_a_damaged_or_replaced_index_file_is_refused(world, index_file, tmp_path):
    import shutil

    from reunite.errors import ReuniteError
    from reunite.search import dask_files

    meta, arrays = dask_files.open_index_file(index_file)
    expect = dask_files.expectation(meta)
    with pytest.raises(ReuniteError, match="not the family index this search started with"):
        dask_files.load_rows(index_file, MODEL, 0, 5, expect=dict(expect, checksum="0" * 64))
    with pytest.raises(ReuniteError, match="made for"):
        dask_files.load_rows(index_file, GeneticModel(POP, theta=0.01), 0, 5)
    damaged = tmp_path / "damaged.index"
    shutil.copy(index_file, damaged)
    key_p = arrays["key_p"]
    with open(damaged, "r+b") as fh:  # one byte of the keys changed (same size: only the checksum tells)
        fh.seek(key_p.offset + key_p.nbytes // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ix.DamagedFileError, match="damaged since"):
        dask_files.load_rows(damaged, MODEL, 0, 5, expect=expect)
    truncated = tmp_path / "truncated.index"
    truncated.write_bytes(index_file.read_bytes()[:len(index_file.read_bytes()) // 2])
    with pytest.raises(ix.DamagedFileError):
        dask_files.load_rows(truncated, MODEL, 0, 5)
    with pytest.raises(ReuniteError, match="no such file"):
        dask_files.load_rows(tmp_path / "nothing.index", MODEL, 0, 5)


@pytest.mark.parametrize("n_workers", [1, 2])
def test_workers_reading_the_index_file_give_the_single_process_search(world, index_file, n_workers):
    from distributed import Client, LocalCluster

    from reunite.search.dask_backend import FileDaskIndex

    _, queries, load = world
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for min_lr, top_k in ((1.0, 5), (1e3, None), (0.0, 20)):
            want = _single_process(world, min_lr, top_k)
            for partitions in ((1, 3) if n_workers == 1 else (2, 5)):
                file_index = FileDaskIndex(index_file, MODEL, client, partitions=partitions, batch=3)
                assert len(file_index.index) == 0 and len(file_index) == len(_fresh_index(world[0]))
                got = file_index.index_search(queries, model=MODEL, min_lr=min_lr, top_k=top_k, load_families=load)
                assert _outcome(got) == _outcome(want), (partitions, min_lr, top_k)
                assert file_index.steps  # the query with a new locus: added on the client and the workers
                file_index.release()


def _kill_on_first_result(client, pids, killed):
    """A progress function for index_search: SIGKILL of the first worker process once the
    first person is merged (mid-search, the partitions loaded, scans still to come)."""

    def progress(_):
        if not killed:
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    return progress


def test_a_worker_killed_mid_search_reloads_its_rows_from_the_file(world, index_file):
    """The worker holding rows dies after the first person: another worker loads those rows
    from the file again, the scans run again, and the result is the uninterrupted one."""
    from distributed import Client, LocalCluster

    from reunite.search.dask_backend import FileDaskIndex

    _, queries, load = world
    want = _single_process(world, 1.0, 5)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        file_index = FileDaskIndex(index_file, MODEL, client, partitions=4, batch=1)
        killed: list = []
        got = file_index.index_search(queries, model=MODEL, min_lr=1.0, top_k=5, load_families=load,
                                      progress=_kill_on_first_result(client, pids, killed))
        assert killed and file_index.resent >= 1
    assert _outcome(got) == _outcome(want)


@pytest.mark.stress
def test_a_worker_killed_mid_search_of_a_larger_index_file(tmp_path):
    """As above with 3,000 families (dated) and 120 persons, θ = 0, 2 worker processes."""
    from distributed import Client, LocalCluster

    from reunite.search.dask_backend import FileDaskIndex

    db = simulate_database(3000, 400, seed=34, dates=True)
    families, queries = _records(db, num_queries=120)
    by_id = {f.id: f for f in families}

    def load(ids):
        return list(by_id.values()) if ids is None else [by_id[i] for i in ids]

    index = _fresh_index(families)
    index.save(tmp_path / "big.index")
    want = index_search(queries, index, model=MODEL, min_lr=1.0, top_k=10, load_families=load)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        for partitions in (2, 7):
            killed: list = []
            file_index = FileDaskIndex(tmp_path / "big.index", MODEL, client, partitions=partitions, batch=8)
            got = file_index.index_search(queries, model=MODEL, min_lr=1.0, top_k=10, load_families=load,
                                          progress=_kill_on_first_result(client, pids, killed))
            assert _outcome(got) == _outcome(want), partitions
            assert killed and file_index.resent >= 1
            file_index.release()
            client.wait_for_workers(2, timeout=60)
            pids = client.run(os.getpid)


@pytest.mark.stress
def test_workers_reading_a_theta_index_file_give_the_single_process_search(tmp_path):
    """θ > 0: key_d read from the file with the other per-row arrays."""
    from distributed import Client, LocalCluster

    from reunite.search.dask_backend import FileDaskIndex

    model = GeneticModel(POP, theta=0.02)
    families, queries = _records(simulate_database(80, 30, seed=5), num_queries=6)
    by_id = {f.id: f for f in families}

    def load(ids):
        return list(by_id.values()) if ids is None else [by_id[i] for i in ids]

    index = ix.FamilyIndex(model)
    index.add(families)
    index.save(tmp_path / "theta.index")
    want = index_search(queries, index, model=model, min_lr=0.0, top_k=5, load_families=load)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for partitions in (1, 3):
            got = FileDaskIndex(tmp_path / "theta.index", model, client, partitions=partitions, batch=2).index_search(
                queries, model=model, min_lr=0.0, top_k=5, load_families=load)
            assert _outcome(got) == _outcome(want)


# ------------------------------------------------------------------------------------------
# A family against every unidentified person: the unidentified index cut into person ranges

@pytest.fixture(scope="module")
def persons():
    """60 dated families, 300 persons (a few with alleles absent from the table, some of
    unknown sex), from the unidentified index's tests."""
    from test_unidentified_index import _world

    return _world(60, 300, seed=7, dates=True)


def _family_outcome(result) -> tuple:
    return ([(c.unidentified.id, c.unidentified.code, c.family.code, c.missing, c.rank, c.lr, c.log10_lr,
              c.loci_compared, tuple(c.inconsistent_loci), tuple(sorted(c.lr_per_locus.items())), repr(c.flags))
             for c in result.candidates],
            result.num_pairs, result.num_compared, result.skipped_sex, result.skipped_age, result.skipped_loci,
            list(result.skipped_pairs), result.age_tolerance)


def test_a_person_range_is_the_persons_of_the_unidentified_index(persons):
    from reunite.search.dask_families import PER_PERSON, partition_unidentified
    from reunite.search.unidentified_index import UnidentifiedIndex

    _, unidentified = persons
    index = UnidentifiedIndex(MODEL)
    index.add(unidentified)
    n = len(index)
    for a, b in ((0, n), (0, 1), (40, 170), (n - 3, n)):
        sub = partition_unidentified(index, a, b)
        for name in PER_PERSON:
            got, whole = getattr(sub, name), getattr(index, name)
            assert (got == whole[a:b]) if isinstance(whole, list) else np.array_equal(got, whole[a:b]), name
        assert sub.typed_count is index.typed_count and sub.columns is index.columns  # the whole index's loci
    assert len(index.ids) == n  # the whole index untouched


def test_family_search_on_a_cluster_equals_the_single_process_search(persons):
    from distributed import Client, LocalCluster

    from reunite.search.dask_families import DaskUnidentified
    from reunite.search.unidentified_index import RARE, UnidentifiedIndex, search_families

    families, unidentified = persons
    index = UnidentifiedIndex(MODEL)
    index.add(unidentified)
    assert np.count_nonzero(index.flags & RARE)  # the engine's persons are exercised
    by_id = {u.id: u for u in unidentified}
    read: list = []

    def load(ids):
        read.append(None if ids is None else len(ids))
        return list(unidentified) if ids is None else [by_id[i] for i in ids]

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for options in (dict(min_lr=1.0, top_k=20), dict(min_lr=0.0, top_k=3, age_tolerance=0.5),
                        dict(min_lr=0.0, top_k=None)):
            some = families[:6] if options["top_k"] is None else families[:12]
            want = search_families(index, some, model=MODEL, load_unidentified=load, **options)
            assert want.candidates and want.skipped_age and want.skipped_pairs
            for partitions in (1, 2, 7):
                read.clear()
                spread = DaskUnidentified(index, client, partitions=partitions)
                got = spread.search_families(some, model=MODEL, load_unidentified=load, **options)
                assert _family_outcome(got) == _family_outcome(want), (partitions, options)
                assert None not in read  # never every person: the rare ones, then the candidates
                spread.release()


def test_family_search_in_worker_processes(persons):
    """The person ranges pickled to worker processes (the index's tables with them)."""
    from distributed import Client, LocalCluster

    from reunite.search.dask_families import DaskUnidentified
    from reunite.search.unidentified_index import UnidentifiedIndex, search_families

    families, unidentified = persons
    index = UnidentifiedIndex(MODEL)
    index.add(unidentified)
    by_id = {u.id: u for u in unidentified}

    def load(ids):
        return list(unidentified) if ids is None else [by_id[i] for i in ids]

    want = search_families(index, families[:8], model=MODEL, load_unidentified=load, min_lr=1.0, top_k=5)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        got = DaskUnidentified(index, client, partitions=3).search_families(
            families[:8], model=MODEL, load_unidentified=load, min_lr=1.0, top_k=5)
    assert _family_outcome(got) == _family_outcome(want)
