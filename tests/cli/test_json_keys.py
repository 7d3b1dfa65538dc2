"""Scripts can rely on the commands: every ``--json`` key is documented in ``--help`` (from the
same dict the test compares with the printed JSON, so the docs cannot drift), and the exit
code gates on the verdict (0 stable, 3 marginal, 4 unstable / NOT SAFE; 2 bad input).
"""

from __future__ import annotations

import json

import pytest

from eoctheory.cli import check as check_cmd
from eoctheory.cli import recommend as recommend_cmd
from eoctheory.cli import simulate as simulate_cmd
from eoctheory.cli.main import (
    EXIT_CODES,
    EXIT_MARGINAL,
    EXIT_OK,
    EXIT_UNSTABLE,
    EXIT_USAGE,
    VERDICT_EXIT,
    main,
)
from eoctheory.theory import finite_width as fw


def _run(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _help(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


# --- exit codes -------------------------------------------------------------------------
def test_exit_code_constants():
    assert (EXIT_OK, EXIT_USAGE, EXIT_MARGINAL, EXIT_UNSTABLE) == (0, 2, 3, 4)
    assert VERDICT_EXIT == {"stable": 0, "marginal": 3, "unstable": 4}
    # verdict_of and the exit codes agree at the edges (stable <= r, marginal <= 4 r)
    assert [VERDICT_EXIT[fw.verdict_of(x, 0.05)] for x in (0.05, 0.2, 0.21)] == [0, 3, 4]
    assert set(VERDICT_EXIT.values()) <= set(EXIT_CODES)


@pytest.mark.parametrize("argv,verdict", [
    # plain ReLU: positively homogeneous, nothing drifts; the gradient ratio stays within
    # 1e3 (predicted risk ~1e-14) although the infinite-width rule says unstable (V' = 1)
    (["check", "plain_relu", "--q-star", "1", "--width", "300", "--depth", "100"], "stable"),
    # ST_tau, s = 0.6: the sparsity drifts in ~97% of networks (predicted)
    (["check", "st", "--sparsity", "0.6", "--width", "300", "--depth", "100"], "unstable"),
    # ReLU_tau, s = 0.7: predicted risk ~0.63, within 4 x 0.2
    (["check", "relu", "--sparsity", "0.7", "--width", "300", "--depth", "100", "--risk",
      "0.2"], "marginal"),
    # no width: the infinite-width verdict decides (and sets the exit code)
    (["check", "crelu", "--sparsity", "0.85", "--target-slope", "0.7"], "stable"),
    (["check", "relu", "--sparsity", "0.7"], "unstable"),
])
def test_check_exit_code_follows_the_verdict(capsys, argv, verdict):
    rc, out, err = _run(capsys, argv + ["--json"])
    d = json.loads(out)
    assert d["verdict"] == verdict and rc == VERDICT_EXIT[verdict] and err == ""
    if "--width" in argv:  # the finite-width verdict decides
        f = d["finite_width"]
        assert f["verdict"] == verdict == fw.verdict_of(f["predicted_risk"],
                                                         f["risk_threshold"])
    rc, out, err = _run(capsys, argv)  # the same code after the text
    assert rc == VERDICT_EXIT[verdict] and f"verdict: {verdict.upper()}" in out and err == ""


def test_check_bad_input_is_still_2(capsys):
    rc, out, err = _run(capsys, ["check", "relu", "--width", "300"])
    assert rc == EXIT_USAGE and out == "" and "go together" in err


# --- JSON keys: documented == printed ---------------------------------------------------
def test_check_json_keys_are_documented(capsys):
    rc, out, _ = _run(capsys, ["check", "crelu", "--sparsity", "0.8", "--json"])
    resnet_only = set(check_cmd.RESNET_ONLY_KEYS)  # (tests/cli/test_arch.py)
    assert set(json.loads(out)) == set(check_cmd.JSON_KEYS) - set(check_cmd.FINITE_ONLY_KEYS) \
        - resnet_only
    rc, out, _ = _run(capsys, ["check", "crelu", "--sparsity", "0.8", "--width", "200",
                               "--depth", "20", "--json"])
    d = json.loads(out)
    assert set(d) == set(check_cmd.JSON_KEYS) - resnet_only
    assert set(d["finite_width"]) == set(check_cmd.FINITE_WIDTH_KEYS)


def test_recommend_json_keys_are_documented(capsys):
    rc, out, _ = _run(capsys, ["recommend", "cst", "--sparsity", "0.8", "--width", "200",
                               "--depth", "20", "--json"])
    assert rc == 0 and set(json.loads(out)) == set(recommend_cmd.JSON_KEYS)
    rc, out, _ = _run(capsys, ["recommend", "cst", "--sparsity", "0.8", "--m", "1.6",
                               "--depth", "10", "--json"])
    assert rc == 0 and set(json.loads(out)) == set(recommend_cmd.WIDTH_JSON_KEYS)


@pytest.mark.parametrize("extra", [[], ["--no-gradients"]])
def test_simulate_json_keys_are_documented(capsys, extra):
    rc, out, _ = _run(capsys, ["simulate", "crelu", "--sparsity", "0.7", "--width", "32",
                               "--depth", "3", "--seeds", "2", "--json", *extra])
    d = json.loads(out)
    assert rc == 0 and set(d) == set(simulate_cmd.JSON_KEYS)
    assert set(d["config"]) == set(simulate_cmd.CONFIG_KEYS)
    assert set(d["counts"]) == {"failed", "drift", "exploded", "vanished", "overflow",
                                "escaped"}


def test_simulate_cnn2d_json_keys_are_documented(capsys):
    rc, out, _ = _run(capsys, ["simulate", "crelu", "--sparsity", "0.7", "--arch", "cnn2d",
                               "--channels", "8", "--image", "6", "--depth", "3", "--seeds",
                               "2", "--batch", "4", "--json"])
    d = json.loads(out)
    assert rc == 0 and set(d) == set(simulate_cmd.CNN2D_JSON_KEYS)
    assert set(d["config"]) == set(simulate_cmd.CNN2D_CONFIG_KEYS)
    assert set(d["max_abs_error"]) == {"q", "sparsity", "rho", "spatial"}


@pytest.mark.parametrize("command,dicts,codes", [
    ("check", [check_cmd.JSON_KEYS, check_cmd.FINITE_WIDTH_KEYS, check_cmd.RESNET_KEYS],
     (0, 2, 3, 4)),
    ("recommend", [recommend_cmd.JSON_KEYS, recommend_cmd.WIDTH_JSON_KEYS,
                   recommend_cmd.RESNET_JSON_KEYS], (0, 2, 4)),
    ("simulate", [simulate_cmd.JSON_KEYS, simulate_cmd.CONFIG_KEYS,
                  simulate_cmd.CNN2D_JSON_KEYS, simulate_cmd.CNN2D_CONFIG_KEYS], (0, 2)),
])
def test_help_lists_every_key_and_the_exit_codes(capsys, command, dicts, codes):
    text = _help(capsys, command)
    lines = text.splitlines()
    for keys in dicts:
        for key in keys:
            assert any(line.split()[:1] == [key] for line in lines), (command, key)
    tail = text[text.index("exit codes:"):].splitlines()[1:]
    listed = {int(line.split()[0]) for line in tail if line[:3].strip().isdigit()}
    assert set(codes) <= listed
    if command == "simulate":
        assert not {3, 4} & listed  # check/recommend only


def test_margin_is_documented(capsys):
    text = " ".join(_help(capsys, "recommend").split())  # whatever the terminal width
    assert "--margin" in text and "(0, 1]" in text and "edge" in text
