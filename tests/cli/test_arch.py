"""``check``/``recommend --arch``: cnn2d (N = C) and resnet (eoctheory.theory.resnet)."""

from __future__ import annotations

import json

import pytest

from eoctheory.cli import check as check_cmd
from eoctheory.cli.main import EXIT_UNSTABLE, main
from eoctheory.theory.resnet import predict_resnet


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_arch_cnn2d_equals_dnn_at_n_equals_c(capsys):
    args = ["check", "crelu", "--sparsity", "0.8", "--target-slope", "0.9", "--depth", "50",
            "--json"]
    code_c, out_c, _ = _cli(capsys, *args, "--arch", "cnn2d", "--channels", "100")
    code_d, out_d, _ = _cli(capsys, *args, "--width", "100")
    c, d = json.loads(out_c), json.loads(out_d)
    assert c["predicted_risk"] == d["predicted_risk"] and code_c == code_d
    assert c["finite_width"]["arch"] == "cnn2d" and d["finite_width"]["arch"] == "dnn"
    assert "channels" in c["reasons"][0]


def test_check_arch_cnn2d_needs_channels(capsys):
    code, out, err = _cli(capsys, "check", "crelu", "--sparsity", "0.8", "--arch", "cnn2d")
    assert code == 2 and out == "" and "--channels" in err and len(err.splitlines()) == 1


def test_recommend_arch_cnn2d_equals_dnn_at_n_equals_c(capsys):
    args = ["recommend", "crelu", "--sparsity", "0.85", "--depth", "50", "--json"]
    _, out_c, _ = _cli(capsys, *args, "--arch", "cnn2d", "--channels", "100")
    _, out_d, _ = _cli(capsys, *args, "--width", "100")
    c, d = json.loads(out_c), json.loads(out_d)
    assert c.pop("arch") == "cnn2d" and d.pop("arch") == "dnn" and c == d


RESNET = ["check", "relu", "--sparsity", "0.85", "--arch", "resnet", "--depth", "40"]


def test_check_resnet_json_keys_and_risk(capsys):
    code, out, _ = _cli(capsys, *RESNET, "--width", "200", "--alpha", "0.3", "--json")
    d = json.loads(out)
    base = set(check_cmd.JSON_KEYS) - set(check_cmd.FINITE_ONLY_KEYS) \
        - set(check_cmd.RESNET_ONLY_KEYS)
    assert set(d) == base | {"predicted_risk", "resnet"}
    assert set(d["resnet"]) == set(check_cmd.RESNET_KEYS)
    r = d["resnet"]
    assert (r["alpha"], r["branch"], r["tau_follows_q"], r["width"]) == (0.3, "one", True, 200)
    # the risk is the residual predictor's at the same setting (not the plain chain's)
    pred = predict_resnet("relu", sparsity=0.85, width=200, depth=40, alpha=0.3)
    assert d["predicted_risk"] == pytest.approx(pred.risk, rel=1e-9)
    assert code == {"stable": 0, "marginal": 3, "unstable": EXIT_UNSTABLE}[d["verdict"]]


def test_check_resnet_small_alpha_rescues_relu_tau(capsys):
    # the plain ReLU_tau network at s = 0.85 is unstable; with skips scaled by 1/sqrt(L)
    # and thresholds following sqrt(q^l) the residual one is stable (fig_resnet, panel d)
    code, out, _ = _cli(capsys, *RESNET, "--width", "300", "--json")
    d = json.loads(out)
    assert d["verdict"] == "stable" and code == 0 and d["infinite_width_verdict"] == "unstable"
    assert d["resnet"]["alpha"] == pytest.approx(40 ** -0.5)


@pytest.mark.parametrize("argv, text", [
    (["check", "relu", "--sparsity", "0.85", "--alpha", "0.3"], "--arch resnet"),
    (["check", "relu", "--sparsity", "0.85", "--arch", "resnet"], "--depth"),
    (RESNET + ["--alpha", "-1"], "alpha"),
    (["check", "relu", "--sparsity", "0.85", "--fixed-tau"], "--arch resnet"),
])
def test_check_resnet_mistakes_are_one_line(capsys, argv, text):
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == "" and text in err and len(err.strip().splitlines()) == 1


def test_recommend_resnet_is_the_edge_of_check(capsys):
    # CReLU at 85% in a residual MLP with alpha = 0.3 (N 120, 30 blocks): the pick keeps
    # check's risk within margin x risk, and a 15% larger m (past the bisection's last
    # bracket, 2^-5 of a grid step) does not
    base = ["--sparsity", "0.85", "--arch", "resnet", "--width", "120", "--depth", "30",
            "--alpha", "0.3"]
    code, out, _ = _cli(capsys, "recommend", "crelu", *base, "--json")
    rec = json.loads(out)
    assert code == 0 and rec["safe"] and rec["margin_kept"] and rec["arch"] == "resnet"
    from eoctheory.cli.recommend import RESNET_JSON_KEYS
    assert set(rec) == set(RESNET_JSON_KEYS)

    def risk(m):
        _, o, _ = _cli(capsys, "check", "crelu", "--sparsity", "0.85", "--m", f"{m!r}",
                       *base[2:], "--json")
        return json.loads(o)["predicted_risk"]

    assert risk(rec["m"]) == pytest.approx(rec["predicted_risk"], rel=1e-6)
    assert risk(rec["m"]) <= 0.025 < risk(rec["m"] * 1.15)


def test_recommend_resnet_needs_width(capsys):
    code, out, err = _cli(capsys, "recommend", "crelu", "--sparsity", "0.85", "--arch",
                          "resnet", "--m", "1", "--depth", "30")
    assert code == 2 and out == "" and "--width" in err


def test_param_beta_reaches_catalogue_smooth_activations(capsys):
    args = ["--sparsity", "0.85", "--target-slope", "0.7", "--json"]
    _, out, _ = _cli(capsys, "check", "crelu", *args)
    hard = json.loads(out)
    _, out, _ = _cli(capsys, "check", "screlu", *args, "--param", "beta=1000")
    sharp = json.loads(out)
    _, out, _ = _cli(capsys, "check", "screlu", *args, "--param", "beta=2")
    soft = json.loads(out)
    # beta = 1000: within m log2 / beta of CReLU, so m and V'' agree to a few 1e-3 (the
    # closed form of CReLU is the independent route); beta = 2 is visibly different
    assert sharp["m"] == pytest.approx(hard["m"], rel=5e-3)
    assert sharp["variance_curvature"] == pytest.approx(hard["variance_curvature"], abs=5e-3)
    assert soft["variance_curvature"] > hard["variance_curvature"] + 0.05


@pytest.mark.parametrize("argv, text", [
    (["check", "crelu", "--sparsity", "0.8", "--param", "beta=2"], "no other parameter"),
    (["check", "screlu", "--sparsity", "0.8", "--param", "k=2"], "beta"),
    (["check", "screlu", "--sparsity", "0.8", "--param", "beta=1e9"], "beta"),
])
def test_param_mistakes_on_catalogue_activations(capsys, argv, text):
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == "" and text in err and len(err.strip().splitlines()) == 1
