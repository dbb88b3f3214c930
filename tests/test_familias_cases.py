"""Recorded cross-check: Familias example files, likelihoods computed by the R pedsuite.

The mutation matrices are the file's own (Familias stepwise models, some made stationary),
passed to reunite as custom matrices per sex; see tests/data/familias/PROVENANCE.md.
"""

import json
import math

import pytest
from conftest import DATA

from reunite.genetics.kinship import Marker, Mutation, kinship_lr
from reunite.genetics.mutation import MutationModel

FAM = DATA / "familias"
EXPECTED = {name: entry for name, entry in json.loads((FAM / "expected.json").read_text())["fam_files"].items()
            if "kinship" in entry}


def markers_of(parsed):
    out = []
    for m in parsed["markers"]:
        mutation = None
        if m["mutation"]:
            female = m["mutation"]["female"]
            male = m["mutation"].get("male", female)
            mutation = Mutation(MutationModel("custom", matrix=female["matrix"]),
                                MutationModel("custom", matrix=male["matrix"]))
        genotypes = {p: tuple(g[m["name"]]) for p, g in parsed["genotypes"].items() if m["name"] in g}
        out.append(Marker(m["name"], dict(zip(m["alleles"], m["afreq"])), genotypes, mutation))
    return out


@pytest.mark.parametrize("fam_file", sorted(EXPECTED))
def test_hypothesis_likelihoods_agree_with_pedsuite(fam_file):
    kinship = EXPECTED[fam_file]["kinship"]
    parsed = json.loads((FAM / "fam_parsed" / EXPECTED[fam_file]["parsed_file"].split("/")[-1]).read_text())
    markers = markers_of(parsed)
    assert [m.name for m in markers] == kinship["markers"]
    for hyp in parsed["hypotheses"]:
        result = kinship_lr(hyp["individuals"], "unrelated", markers)
        for k, name in enumerate(kinship["markers"]):
            theirs = kinship["loglik_per_marker"][hyp["name"]][k]
            ours = result.likelihood_h1[name]
            if theirs == "-Inf":
                assert ours == 0.0
            else:
                # 1e-9 relative on the likelihood
                assert abs(math.log(ours) - theirs) <= 1e-9, (hyp["name"], name, math.log(ours), theirs)
