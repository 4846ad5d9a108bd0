import shutil

from cloudhp.images.recipes import RECIPES, Recipe


def test_every_recipe_has_a_dockerfile_taking_base():
    assert {"node", "sampleapp", "haproxy"} <= set(RECIPES)
    for rec in RECIPES.values():
        text = (rec.directory / "Dockerfile").read_text()
        assert "ARG BASE" in text and "FROM ${BASE}" in text


def test_digest_is_stable_and_follows_every_input(tmp_path):
    src = RECIPES["sampleapp"].directory
    copy = tmp_path / "sampleapp"
    shutil.copytree(src, copy)
    rec = Recipe("sampleapp", copy)
    first = rec.digest("sha256:base1")
    assert rec.digest("sha256:base1") == first
    assert rec.digest("sha256:base2") != first  # a new base rebuilds
    (copy / "app.py").write_text((copy / "app.py").read_text() + "\n# changed\n")
    assert rec.digest("sha256:base1") != first  # a changed file rebuilds
    assert rec.tag("sha256:base1").startswith("cloudhp/sampleapp:")
    assert len(rec.tag("x").split(":")[1]) == 12


def test_digest_notices_renames(tmp_path):
    copy = tmp_path / "r"
    shutil.copytree(RECIPES["haproxy"].directory, copy)
    rec = Recipe("haproxy", copy)
    before = rec.digest("b")
    (copy / "haproxy.cfg").rename(copy / "other.cfg")
    assert rec.digest("b") != before
