"""``reunite lr FILE --json`` on duo casework: the fast path (reunite.genetics.duo_cases, the
console script reunite.console) writes the general path's text byte for byte, and hands every
file it does not take back to the general path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from reunite.cli import app
from reunite.cli_lr_fast import lr_json_text
from reunite.genetics.duo_cases import duo_casework_json
from reunite.genetics.verbal import get_scale

runner = CliRunner()

FATHER = [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}]
MOTHER = [{"id": "CH", "mother": "MO"}, {"id": "MO", "sex": "F"}]  # the child listed first
WITH_SIBLING = [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"},
                {"id": "SIB", "father": "AF", "sex": "F"}]  # untyped, pruned away


def _locus(rng, k: int) -> dict:
    n = int(rng.integers(1, 22))
    values = sorted(rng.choice(np.arange(6, 40), size=n, replace=False).tolist())
    alleles = [str(v) if rng.random() < 0.8 else f"{v}.{rng.integers(1, 4)}" for v in values]
    alleles = list(dict.fromkeys(alleles))
    if rng.random() < 0.2:  # one matrix for every allele set of this locus: custom
        size = len(alleles)
        m = rng.dirichlet(np.ones(size), size=size) * 0.01 + 0.99 * np.eye(size)
        mutation = {"model": "custom", "matrix": (m / m.sum(axis=1, keepdims=True)).tolist()}
    else:
        rate = {"female": round(float(rng.uniform(1e-4, 3e-3)), 6), "male": round(float(rng.uniform(1e-4, 5e-3)), 6)}
        if rng.random() < 0.2:
            rate["female"] = 0.0  # no maternal mutation: the identity
        mutation = {"model": "stepwise", "rate": rate if rng.random() < 0.7 else rate["male"],
                    "rate2": 1e-6, "range": round(float(rng.uniform(0.05, 0.5)), 3)}
    return {"name": f"D{k}S{100 + k}", "alleles": alleles, "base": rng.dirichlet(np.ones(len(alleles)) * 3),
            "mutation": mutation}


def random_document(seed: int, num_cases: int = 40) -> dict:
    """Duo cases on 8 random loci, each case with its own frequency table (some renormalised,
    some exact), fathers and mothers, about one locus in ten needing a mutation."""
    rng = np.random.default_rng(seed)
    loci = [_locus(rng, k) for k in range(8)]
    cases = []
    for c in range(num_cases):
        h1 = [FATHER, MOTHER, WITH_SIBLING][c % 3]
        parent = "MO" if h1 is MOTHER else "AF"
        markers = []
        for locus in loci:
            alleles = locus["alleles"]
            p = locus["base"] * rng.lognormal(0.0, 0.2, size=len(alleles))
            p = np.maximum(np.round(p / p.sum(), 6), 1e-6) if rng.random() < 0.7 else p / p.sum()
            pa = [alleles[i] for i in rng.choice(len(alleles), size=2, p=p / p.sum())]
            ch = [pa[rng.integers(2)] if rng.random() < 0.9 else alleles[rng.integers(len(alleles))],
                  alleles[rng.choice(len(alleles), p=p / p.sum())]]
            genotypes = {parent: f"{pa[0]}/{pa[1]}", "CH": f"{ch[0]}/{ch[1]}" if rng.random() < 0.8 else ch}
            markers.append({"name": locus["name"], "afreq": {a: float(x) for a, x in zip(alleles, p)},
                            "genotypes": genotypes, "mutation": locus["mutation"]})
        case = {"id": f"case {c}", "H1": h1, "markers": markers}
        if c % 4 == 1:
            case["H2"] = "unrelated"
        if c % 5 == 2:
            case["theta"] = 0
        if c % 7 == 3:  # the case's model is the default of its markers without one
            case["mutation"] = loci[0]["mutation"]
            for marker in markers:
                if marker["mutation"] == loci[0]["mutation"]:
                    marker.pop("mutation") if c % 2 else marker.update(mutation=None)
        cases.append(case)
    return {"format": "kinship case format v1", "cases": cases}


def test_orjson_reads_numbers_as_the_json_module_does():
    """The fast path reads the file with orjson: every float and integer as Python's json reads
    it (the shortest repr, 17 significant digits, exponents, subnormals, integers)."""
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.random(20000), rng.random(5000) * 1e-300, rng.lognormal(0, 30, 5000),
                             np.round(rng.random(5000), 6)])
    texts = [repr(float(v)) for v in values] + [f"{float(v):.17g}" for v in values[:5000]] + \
        [f"{float(v):.6e}" for v in values[5000:8000]] + ["0", "1", "-0", "-0.0", "1E5", "2.5e-7", "123456789012"]
    text = ("[" + ",".join(texts) + "]").encode()
    ours, theirs = orjson.loads(text), json.loads(text)
    assert [(type(x), repr(x)) for x in ours] == [(type(x), repr(x)) for x in theirs]


def general_path(path: Path, env: dict | None = None) -> str:
    result = runner.invoke(app, ["lr", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def fast_path(text: bytes, **kwargs) -> str | None:
    """As the console script calls it."""
    return duo_casework_json(orjson.loads(text), num_colons=text.count(b":"), dumps=orjson.dumps, **kwargs)


@pytest.mark.parametrize("seed", [3, 4])
def test_fast_path_writes_the_general_paths_text(tmp_path, seed):
    doc = random_document(seed)
    text = json.dumps(doc, indent=seed % 2 or None).encode()
    path = tmp_path / "cases.json"
    path.write_bytes(text)
    want = general_path(path)
    got = fast_path(text)
    assert got is not None, "the fast path should take this file"
    assert got == want
    results = json.loads(want)["results"]
    assert any(r["loci_needing_mutation"] for r in results)
    assert any(r["provenance"]["frequency_notes"] for r in results)
    assert any(len(r["provenance"]["frequency_notes"]) < len(r["lr_per_marker"]) for r in results)


def test_the_bench_casework_file(tmp_path):
    """bench/lr_casework.py's cases (the issue's benchmark), fewer of them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from lr_casework import make_duo_cases
    finally:
        sys.path.pop(0)
    text = json.dumps(make_duo_cases(60, seed=11)).encode()
    path = tmp_path / "cases.json"
    path.write_bytes(text)
    assert fast_path(text) == general_path(path)


def test_fast_path_with_another_verbal_scale(tmp_path):
    text = json.dumps(random_document(5, num_cases=6)).encode()
    path = tmp_path / "cases.json"
    path.write_bytes(text)
    want = general_path(path, env={"REUNITE_VERBAL_SCALE": "afsp2009"})
    assert fast_path(text, scale=get_scale("afsp2009")) == want


def _mutate(doc: dict, change) -> dict:
    doc = json.loads(json.dumps(doc))  # no object shared between cases
    change(doc["cases"][1])
    return doc


def _marker(k: int):
    def get(case):
        return case["markers"][k]
    return get


NOT_TAKEN = {
    "theta above 0": lambda c: c.update(theta=0.01),
    "theta -0.0": lambda c: c.update(theta=-0.0),
    "a trio": lambda c: (c.update(H1=[{"id": "AF", "sex": "M"}, {"id": "MO", "sex": "F"},
                                      {"id": "CH", "father": "AF", "mother": "MO"}]),
                         [m["genotypes"].update(AF=m["genotypes"]["CH"], MO=m["genotypes"]["CH"])
                          for m in c["markers"]]),
    "H2 a pedigree": lambda c: c.update(H2=[{"id": "AF", "sex": "M"}, {"id": "CH"}]),
    "an inbred parent": lambda c: next(p for p in c["H1"] if "sex" in p).update(inbreeding=0.1),
    "the equal model (lumped)": lambda c: _marker(0)(c).update(mutation={"model": "equal", "rate": 0.001}),
    "no mutation model": lambda c: _marker(0)(c).pop("mutation"),
    "a PM model": lambda c: _marker(0)(c)["mutation"].update(transform="PM"),
    "a population table": lambda c: (_marker(0)(c).pop("afreq"), _marker(0)(c).update(population="x")),
    "an allele absent from the table": lambda c: _marker(0)(c)["genotypes"].update(CH="99/99"),
    "an integer frequency": lambda c: _marker(0)(c)["afreq"].update({next(iter(_marker(0)(c)["afreq"])): 0}),
    "a frequency given as true": lambda c: _marker(0)(c)["afreq"].update({next(iter(_marker(0)(c)["afreq"])): True}),
    "a mutation rate given as true": lambda c: _marker(0)(c)["mutation"].update(rate2=True),
    "a frequency given as text": lambda c: _marker(0)(c)["afreq"].update({next(iter(_marker(0)(c)["afreq"])): "0.1"}),
    "a malformed genotype": lambda c: _marker(0)(c)["genotypes"].update(CH="10-11"),
    "an unknown key": lambda c: c.update(thetta=0),
    "a third person typed": lambda c: _marker(0)(c)["genotypes"].update(X="10/10"),
    "one person untyped": lambda c: _marker(0)(c)["genotypes"].pop("CH"),
    "a repeated id": lambda c: c.update(id="case 0"),
    "a colon in an id": lambda c: c.update(id="case: one"),
    "a Y marker": lambda c: _marker(0)(c).update(name="DYS391"),
    "a locus twice": lambda c: _marker(1)(c).update(name=_marker(0)(c)["name"].lower()),
    "a frequency sum off by 0.01": lambda c: [_marker(0)(c)["afreq"].update({a: f * 1.01})
                                              for a, f in list(_marker(0)(c)["afreq"].items())],
}


@pytest.mark.parametrize("what", sorted(NOT_TAKEN))
def test_files_the_fast_path_does_not_take(what):
    doc = random_document(7, num_cases=3)
    text = json.dumps(_mutate(doc, NOT_TAKEN[what])).encode()
    assert fast_path(json.dumps(doc).encode()) is not None
    assert fast_path(text) is None


@pytest.mark.parametrize("change", ["negative zero", "int for float"])
def test_models_equal_as_values_but_not_as_json(tmp_path, change):
    """One case's model with rate2 -0.0 (the provenance shows 'rate2=-0'), or with 0 for 0.0:
    read as the general path reads it, whatever the other cases' models."""
    doc = random_document(12, num_cases=4)
    for case in doc["cases"]:
        case["markers"][0]["mutation"] = {"model": "stepwise", "rate": 0.0, "rate2": 1e-6, "range": 0.1}
    if change == "negative zero":
        doc["cases"][1]["markers"][0]["mutation"]["rate2"] = -0.0
    else:
        doc["cases"][2]["markers"][0]["mutation"]["rate"] = 0
    text = json.dumps(doc).encode()
    path = tmp_path / "cases.json"
    path.write_bytes(text)
    want = general_path(path)
    assert ("rate2=-0," in want) == (change == "negative zero")
    assert fast_path(text) == want


@pytest.mark.parametrize("num", [40, pytest.param(1000, marks=pytest.mark.stress)])
def test_damaged_files(tmp_path, num):
    """Bytes deleted, repeated or changed anywhere in a small file: the fast path never raises,
    and whatever it takes gives the general path's text."""
    text = json.dumps(random_document(16, num_cases=2), indent=1).encode()
    rng = np.random.default_rng(num)
    path = tmp_path / "cases.json"
    taken = 0
    for _ in range(num):
        k = int(rng.integers(len(text)))
        how = rng.integers(3)
        damaged = (text[:k] + text[k + 1:] if how == 0 else text[:k] + text[k:k + 1] + text[k:] if how == 1
                   else text[:k] + bytes([int(rng.choice(list(b'0123456789:,"{}[]-.e ')))]) + text[k + 1:])
        path.write_bytes(damaged)
        got = lr_json_text([str(path), "--json"])
        if got is not None:
            taken += 1
            result = runner.invoke(app, ["lr", str(path), "--json"])
            assert result.exit_code == 0 and got == result.stdout
    assert taken > num // 10


def test_a_repeated_key_is_not_taken():
    text = json.dumps(random_document(8, num_cases=2)).encode()
    repeated = text.replace(b'"H1": [', b'"H1": [], "H1": [', 1)
    assert fast_path(repeated) is None


def test_an_exclusion(tmp_path):
    """onestep with the child two repeats away: LR 0, log10 -Inf and the reason in the notes,
    as the general path writes them."""
    doc = random_document(9, num_cases=2)
    marker = doc["cases"][0]["markers"][0]
    marker.update(afreq={"10": 0.5, "12": 0.5}, mutation={"model": "onestep", "rate": 0.002})
    marker["genotypes"] = {"AF": "10/10", "CH": "12/12"}
    text = json.dumps(doc).encode()
    path = tmp_path / "cases.json"
    path.write_bytes(text)
    want = general_path(path)
    assert json.loads(want)["results"][0]["log10_lr_total"] == "-Inf"
    assert fast_path(text) == want


def _script() -> str:
    return str(Path(sys.executable).with_name("reunite"))


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("REUNITE_")}
    env.update(extra)
    return env


def test_console_script_fast_and_full(tmp_path):
    """The installed script: the fast path's text, an option it does not take (--summary) and a
    file it does not take (a trio) through the full command line, as before."""
    if not Path(_script()).exists():
        pytest.skip("the reunite console script is not installed")
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(random_document(10, num_cases=5)))
    done = subprocess.run([_script(), "lr", str(path), "--json"], capture_output=True, text=True,
                          env=_clean_env(), check=True)
    assert done.stdout == general_path(path)
    assert lr_json_text([str(path), "--json"]) is not None
    assert lr_json_text(["--json", str(path), "--summary"]) is None
    trio = _mutate(random_document(10, num_cases=3), NOT_TAKEN["a trio"])
    path.write_text(json.dumps(trio))
    assert lr_json_text([str(path), "--json"]) is None
    done = subprocess.run([_script(), "lr", str(path), "--json"], capture_output=True, text=True,
                          env=_clean_env(), check=True)
    assert done.stdout == general_path(path)
    done = subprocess.run([_script(), "lr", str(tmp_path / "absent.json"), "--json"], capture_output=True,
                          text=True, env=_clean_env())
    assert done.returncode == 2 and "cannot read the file" in done.stderr


@pytest.mark.parametrize("options", [["--keep-going"], ["--lenient", "--normalise"]])
def test_options_that_change_nothing_here(tmp_path, options):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(random_document(13, num_cases=4)))
    result = runner.invoke(app, ["lr", str(path), "--json", *options])
    assert result.exit_code == 0
    assert lr_json_text([*options, str(path), "--json"]) == result.stdout
    assert lr_json_text([str(path), *options]) is None  # without --json: tables


@pytest.mark.parametrize("prior", ["0.5", "1e-6", "0.999999"])
def test_a_prior(tmp_path, prior):
    """--prior: each case's posterior as the general path writes it (the exclusion's is 0)."""
    doc = random_document(14, num_cases=6)
    marker = doc["cases"][0]["markers"][0]
    marker.update(afreq={"10": 0.5, "12": 0.5}, mutation={"model": "onestep", "rate": 0.002})
    marker["genotypes"] = {"AF": "10/10", "CH": "12/12"}
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["lr", str(path), "--json", "--prior", prior])
    assert result.exit_code == 0
    assert lr_json_text([str(path), "--json", "--prior", prior]) == result.stdout
    assert lr_json_text([f"--prior={prior}", "--json", str(path)]) == result.stdout
    assert json.loads(result.stdout)["results"][0]["posterior"]["value"] == 0.0


@pytest.mark.parametrize("args", [["--prior", "0"], ["--prior", "1.5"], ["--prior", "x"], ["--prior"],
                                  ["--prior", "0.5", "--prior", "0.4"], ["--json"], ["--summary"]])
def test_arguments_for_the_full_command(tmp_path, args):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(random_document(15, num_cases=2)))
    assert lr_json_text([str(path), "--json", *args]) is None


def test_a_malformed_setting_goes_to_the_full_command(tmp_path, monkeypatch):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(random_document(11, num_cases=2)))
    monkeypatch.setenv("REUNITE_VERBAL_SCALE", "no-such-scale")
    assert lr_json_text([str(path), "--json"]) is None
    monkeypatch.setenv("REUNITE_VERBAL_SCALE", "nordgaard2012")
    assert lr_json_text([str(path), "--json"]) == general_path(path)
