"""A user's activation, written once with --expr, goes through every command.

The commands' numbers are checked against the mpmath oracle (a route the commands do not use)
or against the Python API where the command only formats what the API computes.
"""

from __future__ import annotations

import json

import pytest

from eoctheory.cli.main import main
from eoctheory.engine import precise
from eoctheory.engine.activations import Activation

# CReLU with slope 2 on its ramp: not in the catalogue, with both recognised parameters
RAMP2 = "Piecewise((0, x < tau), (2*(x - tau), x < tau + m), (2*m, True))"
# a shifted ReLU with a user parameter k
SHIFT = "Max(0, x - k)"


def _json(capsys, argv, codes=(0,)):
    """``argv``'s JSON; its exit code must be in ``codes`` (``check``: 0/3/4 by verdict)."""
    rc = main(argv)
    assert rc in codes, rc
    return json.loads(capsys.readouterr().out)


def test_check_custom_is_on_the_eoc(capsys):
    out = _json(capsys, ["check", "custom", "--expr", RAMP2, "--sparsity", "0.8",
                         "--target-slope", "0.6", "--json"], codes=(0, 3, 4))
    act = Activation.from_string(RAMP2).with_values(tau=out["tau"], m=out["m"])
    # oracle at 30 digits; 1e-11 leaves room for float64 round-off only
    assert float(precise.chi1(act, 1.0, out["sigma_w2"])) == pytest.approx(1.0, rel=1e-11)
    assert float(precise.sparsity(act, 1.0)) == pytest.approx(0.8, rel=1e-11)
    assert float(precise.variance_map(act, 1.0, out["sigma_w2"], out["sigma_b2"])) == \
        pytest.approx(1.0, rel=1e-11)
    assert float(precise.variance_slope(act, 1.0, out["sigma_w2"])) == \
        pytest.approx(0.6, rel=1e-10)
    assert out["verdict"] in ("stable", "marginal", "unstable")
    assert main(["check", "custom", "--expr", RAMP2, "--sparsity", "0.8", "--target-slope",
                 "0.6"]) == {"stable": 0, "marginal": 3, "unstable": 4}[out["verdict"]]


def test_check_custom_with_a_user_parameter(capsys):
    out = _json(capsys, ["check", "custom", "--expr", SHIFT, "--param", "k=0.3", "--json"],
                codes=(0, 3, 4))
    act = Activation.from_string(SHIFT, params={"k": 0.3})
    assert float(precise.chi1(act, 1.0, out["sigma_w2"])) == pytest.approx(1.0, rel=1e-11)
    assert out["sparsity"] == pytest.approx(float(precise.sparsity(act, 1.0)), rel=1e-11)


def test_latex_custom(capsys):
    assert main(["latex", "custom", "--expr", RAMP2, "--quantity", "dvariance"]) == 0
    tex = capsys.readouterr().out
    assert r"\Phi" in tex and r"\varphi" in tex and r"\sigma_w^{2}" in tex


def test_simulate_custom_follows_the_variance_map(capsys):
    out = _json(capsys, ["simulate", "custom", "--expr", RAMP2, "--sparsity", "0.7",
                         "--target-slope", "0.7", "--width", "300", "--depth", "10",
                         "--seeds", "8", "--json"])
    # the 8 inputs of one network share its weights, so the seeds are the independent
    # samples: 5 standard errors over 8 seeds (q_std is the spread across networks)
    n = out["seeds"]
    for qt, qm, qs in zip(out["q_theory"], out["q_mean"], out["q_std"]):
        assert abs(qm - qt) <= 5 * qs / n**0.5 + 1e-9
    for st, sm in zip(out["sparsity_theory"], out["sparsity_mean"]):
        assert sm == pytest.approx(st, abs=0.03)  # 8 x 8 x 300 units: sd ~ 0.01 per layer


def test_simulate_cnn2d_table_and_layer_one(capsys):
    """--arch cnn2d: one table row per layer; q^1 measured against the theory.

    Tolerance: q^1 of one seed is a mean of (w_c . patch)^2 over C = 16 channels; its sd is
    at most sqrt(2/C) = 0.35 (all patches equal) and about 0.05 here (many patch
    directions), so 0.25 on the mean of 2 seeds is > 5 sd of the expected spread.
    """
    argv = ["simulate", "crelu", "--sparsity", "0.7", "--arch", "cnn2d", "--channels", "16",
            "--image", "8", "--depth", "5", "--seeds", "2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["layer"])
    rows = [ln.split() for ln in lines[head + 1:] if ln.split()[:1] and ln.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5] and all(len(r) == 10 for r in rows)
    assert lines[-1].startswith("max |mean - theory|: q ")
    assert abs(float(rows[0][2]) - float(rows[0][1])) <= 0.25
    out = _json(capsys, argv + ["--json"])
    assert out["depth"] == 5 and len(out["q_mean"]) == 5 and len(out["q"]) == 2
    assert abs(out["q_mean"][0] - out["q_theory"][0]) <= 0.25
    assert out["q_theory"][0] == pytest.approx(out["config"]["input_q"])  # preserve
    assert abs(out["sparsity_mean"][0] - out["sparsity_theory"][0]) <= 0.1
    assert out["max_abs_error"]["q"] == pytest.approx(
        max(abs(m - t) for m, t in zip(out["q_mean"], out["q_theory"])))


def test_simulate_cnn_alias_and_arch_conflict(capsys):
    base = ["simulate", "crelu", "--sparsity", "0.7", "--channels", "8", "--positions", "4",
            "--depth", "2", "--seeds", "1", "--no-gradients", "--json"]
    a = _json(capsys, base + ["--cnn"])
    b = _json(capsys, base + ["--arch", "cnn1d"])
    assert a == b and a["config"]["kernel_size"] == 3
    assert main(base + ["--cnn", "--arch", "cnn2d"]) == 2
    assert "contradicts" in capsys.readouterr().err


def test_recommend_custom(capsys):
    out = _json(capsys, ["recommend", "custom", "--expr", RAMP2, "--sparsity", "0.8",
                         "--width", "300", "--depth", "50", "--json"])
    assert out["mode"] == "m" and out["safe"] is True
    assert out["predicted_risk"] <= 0.05
    act = Activation.from_string(RAMP2).with_values(tau=out["tau"], m=out["m"])
    assert float(precise.sparsity(act, out["q_star"])) == pytest.approx(0.8, rel=1e-10)


@pytest.mark.parametrize("argv,text", [
    (["check", "custom"], "needs --expr"),
    (["check", "relu", "--expr", "x"], "--expr goes with ACTIVATION 'custom'"),
    (["check", "relu", "--param", "k=1"], "'relu' has no other parameter than tau and m"),
    (["check", "custom", "--expr", SHIFT], "'k'"),
    (["check", "custom", "--expr", SHIFT, "--param", "k"], "NAME=VALUE"),
    (["check", "custom", "--expr", SHIFT, "--param", "k=abc"], "not a number"),
    (["simulate", "custom", "--expr", "x.real"], "attribute access"),
    (["recommend", "custom", "--expr", "gamma(x)", "--sparsity", "0.5", "--width", "10",
      "--depth", "3"], 'function "gamma" is not allowed'),
])
def test_custom_mistakes_are_one_line(capsys, argv, text):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and text in err[0], err
