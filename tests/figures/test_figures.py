"""Tests of eoctheory.figures: every figure builds headless, is labelled, and plots the
numbers the theory says (checked against closed forms from THEORY.md typed here, and against
the public API where the figure is the API's picture)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.special import ndtr  # noqa: E402

import eoctheory as eoc  # noqa: E402
from eoctheory.theory import eoc as E  # noqa: E402
from eoctheory.figures import REGISTRY, make  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _pdf(z):
    return np.exp(-z * z / 2) / np.sqrt(2 * np.pi)


#: Figures built smaller here (their defaults run reference networks at the paper's shape).
_SMALL = {"fig_resnet": dict(width=32, depth=8, seeds=1, risk_seeds=2)}


@pytest.fixture(scope="module")
def figs() -> dict[str, Figure]:
    """Every registered figure, built once for the module (each takes well under a second)."""
    return {name: func(**_SMALL.get(name, {})) for name, (func, _desc) in REGISTRY.items()}


def lines(fig: Figure, prefix: str = "") -> dict:
    return {ln.get_gid(): ln for ax in fig.axes for ln in ax.get_lines()
            if ln.get_gid() and ln.get_gid().startswith(prefix)}


def gids(fig: Figure, prefix: str) -> list[str]:
    """All gids starting with ``prefix``, repeats kept (fixed-point markers share gids)."""
    return [ln.get_gid() for ax in fig.axes for ln in ax.get_lines()
            if ln.get_gid() and ln.get_gid().startswith(prefix)]


def line(fig: Figure, gid: str):
    found = lines(fig, gid)
    assert gid in found, f"no line with gid {gid!r}; have {sorted(found)[:10]}"
    return found[gid]


def xy(ln) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)


# --------------------------------------------------------------------------- generic
def test_registry_has_the_paper_figures():
    assert set(REGISTRY) >= {"fig2", "fig3", "fig4", "fig8", "fig9", "fig10"}
    for name, (func, desc) in REGISTRY.items():
        assert callable(func) and desc and "\n" not in desc, name
    with pytest.raises(ValueError, match="unknown figure"):
        make("fig99")


@pytest.mark.parametrize("name", list(REGISTRY))
def test_figure_builds_and_is_labelled(figs, name):
    fig = figs[name]
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert axes
    has_fig_legend = bool(fig.legends)
    for ax in axes:
        assert ax.get_xlabel().strip(), f"{name}: an axis has no x label"
        assert ax.get_ylabel().strip(), f"{name}: an axis has no y label"
        assert ax.get_title().strip(), f"{name}: a panel has no title"
        # companion V(q) - q panels reuse the colours named in the legend above them
        companion = "V(q) - q" in ax.get_ylabel()
        assert ax.get_legend() is not None or has_fig_legend or companion, \
            f"{name}: a panel has no legend"
        assert ax.get_lines(), f"{name}: an empty panel"
    # every data curve is identifiable
    assert lines(fig), name


def test_importing_eoctheory_does_not_import_matplotlib():
    code = "import sys, eoctheory; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- Figure 2
def test_fig2_relu_and_st_coincide_and_match_closed_form(figs):
    fig = figs["fig2"]
    from eoctheory.figures import fig2

    for tau in fig2.TAUS:
        qr, vr = xy(line(fig, f"relu-tau{tau:g}"))
        qs, vs = xy(line(fig, f"st-tau{tau:g}"))
        np.testing.assert_array_equal(qr, qs)
        # both are float64 evaluations of maps equal in exact arithmetic: round-off only
        np.testing.assert_allclose(vr, vs, rtol=1e-12, atol=1e-12)
        # THEORY.md §3 closed form for ReLU_tau on the EoC at q* = 1
        def e2(q):
            a = tau / np.sqrt(q)
            return (q + tau**2) * (1 - ndtr(a)) - tau * np.sqrt(q) * _pdf(a)
        sw2 = 1 / (1 - ndtr(tau))
        sb2 = 1 - sw2 * e2(1.0)
        np.testing.assert_allclose(vr, sw2 * e2(qr) + sb2, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- Figure 3
def _crossing(x, y, level):
    """First upward crossing of ``level`` by the plotted polyline (linear interpolation)."""
    i = np.nonzero((y[:-1] < level) & (y[1:] >= level))[0][0]
    return x[i] + (level - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i])


def test_fig3_slope_curves_cross_targets_at_m_for_slope(figs):
    fig = figs["fig3"]
    from eoctheory.figures import fig3

    for name in ("crelu", "cst"):
        sol = E.m_for_slope(name, np.array(fig3.TARGETS)[None, :],
                            sparsity=np.array(fig3.SPARSITIES)[:, None])
        for i, s in enumerate(fig3.SPARSITIES):
            m, vp = xy(line(fig, f"{name}-slope-s{s:g}"))
            for j, t in enumerate(fig3.TARGETS):
                # linear interpolation on a grid of step ~0.009 with |V'''| = O(1):
                # crossing error ~ h^2 |curvature| / slope, far below 2e-3
                assert _crossing(m, vp, t) == pytest.approx(float(sol.m[i, j]), abs=2e-3)
                mx, my = xy(line(fig, f"{name}-cross-s{s:g}-t{t:g}"))
                assert mx[0] == pytest.approx(float(sol.m[i, j]), rel=1e-12)
                assert my[0] == pytest.approx(t, abs=1e-10)  # m_for_slope solves to ~1e-13


def test_fig3_slope_matches_theory_closed_form(figs):
    """CReLU at q* = 1 (THEORY.md §3): V'(q*) = 1 - m pdf(b) / (Phi(b) - Phi(a)) on the EoC."""
    fig = figs["fig3"]
    s = 0.85
    m, vp = xy(line(fig, f"crelu-slope-s{s:g}"))
    tau = float(E.tau_from_sparsity("crelu", s))
    b = tau + m
    expected = 1 - m * _pdf(b) / (ndtr(b) - ndtr(tau))
    np.testing.assert_allclose(vp, expected, rtol=1e-9, atol=1e-12)
    # guides at 0.5..0.9 are present
    for g in (0.5, 0.6, 0.7, 0.8, 0.9):
        assert np.all(xy(line(fig, f"guide-{g:g}"))[1] == g)


# --------------------------------------------------------------------------- Figure 4
def _sign_changes(y):
    s = np.sign(y)
    s = s[s != 0]
    return int(np.count_nonzero(s[:-1] != s[1:]))


def test_fig4_fixed_points(figs):
    fig = figs["fig4"]
    q, v = xy(line(fig, "cst-t0.9"))
    assert _sign_changes(v - q) == 3  # q* = 1, an unstable one near it, a stable one far out
    kinds = sorted(g.rsplit("-", 1)[1] for g in gids(fig, "cst-t0.9-fp-"))
    assert kinds == ["stable", "stable", "unstable"]
    for gid in ("crelu-t0.9", "cst-t0.8"):
        q, v = xy(line(fig, gid))
        assert _sign_changes(v - q) == 1, gid
        assert [g.rsplit("-", 1)[1] for g in gids(fig, gid + "-fp-")] == ["stable"]
    # the map at q* = 1 is the identity's value: V(q*) = q* (linear interpolation, h ~ 0.01)
    for gid in ("crelu-t0.9", "cst-t0.8", "cst-t0.9"):
        q, v = xy(line(fig, gid))
        assert np.interp(1.0, q, v) == pytest.approx(1.0, abs=1e-4)


# --------------------------------------------------------------------------- Figures 6, 7
def test_fig6_fig7_correlation_maps(figs):
    for fname, name in (("fig6", "relu"), ("fig7", "st")):
        for gid, ln in lines(figs[fname], f"{name}-tau").items():
            rho, R = xy(ln)
            # q* = 1 is a fixed point of V for every curve, so R(1) = V(q*)/q* = 1
            assert R[-1] == pytest.approx(1.0, abs=1e-8), gid
    # ST_0 is the identity: R(rho) = sigma_w^2 rho + sigma_b^2 exactly
    fig7 = figs["fig7"]
    for c, (sw2, sb2) in ((1.0, (1.0, 0.0)), (0.8, (0.8, 0.2))):
        rho, R = xy(line(fig7, f"st-tau0-chi{c:g}"))
        np.testing.assert_allclose(R, sw2 * rho + sb2, atol=1e-8)  # quadrature accuracy
    # ReLU_0 on the EoC (sigma_w^2 = 2, sigma_b^2 = 0): the arc-cosine kernel
    rho, R = xy(line(figs["fig6"], "relu-tau0-chi1"))
    arccos = (np.sqrt(1 - rho**2) + (np.pi - np.arccos(rho)) * rho) / np.pi
    np.testing.assert_allclose(R, arccos, atol=1e-8)  # quadrature accuracy


# --------------------------------------------------------------------------- Figure 8
def test_fig8_relu_sigma_w2_is_twice_st(figs):
    fig = figs["fig8"]
    from eoctheory.figures import fig8

    for tau in fig8.TAUS:
        br, wr = xy(line(fig, f"relu-tau{tau:g}"))
        bs, ws = xy(line(fig, f"st-tau{tau:g}"))
        # same q* grid and same sigma_b^2 (THEORY.md §3: E[phi^2], E[phi'^2] of ST are 2x)
        np.testing.assert_allclose(br, bs, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(wr, 2 * ws, rtol=1e-12)
        # the q* = 1 dot: sigma_w^2 = 1 / (1 - Phi(tau)) for ReLU_tau
        _, wd = xy(line(fig, f"relu-tau{tau:g}-qstar"))
        assert wd[0] == pytest.approx(1 / (1 - ndtr(tau)), rel=1e-12)


# --------------------------------------------------------------------------- Figure 9
def test_fig9_maps_touch_identity_at_q_star(figs):
    fig = figs["fig9"]
    from eoctheory.figures import fig9

    for name in ("relu", "st"):
        for s in fig9.SPARSITIES:
            q, v = xy(line(fig, f"{name}-s{s:g}"))
            # linear interpolation error h^2 V''/8 with h ~ 0.0075, V'' < 3: below 1e-4
            assert np.interp(1.0, q, v) == pytest.approx(1.0, abs=1e-4)
            # V'(q*) = 1 and V'' > 0 on the EoC: V(q) >= q everywhere (round-off aside)
            assert np.all(v - q >= -1e-12), (name, s)
            tau = float(E.tau_from_sparsity(name, s))
            assert float(eoc.sparsity(name, 1.0, tau=tau)) == pytest.approx(s, abs=1e-12)


# --------------------------------------------------------------------------- Figures 10, 11
def test_fig10_fig11_grids(figs):
    from eoctheory.figures import fig10

    for fname, name in (("fig10", "crelu"), ("fig11", "cst")):
        fig = figs[fname]
        for m in fig10.MS:
            for tau in fig10.TAUS:
                q, v = xy(line(fig, f"{name}-m{m:g}-tau{tau:g}-chi1"))
                # q* = 1 is a fixed point (interpolation error below 1e-4 at h ~ 0.01)
                assert np.interp(1.0, q, v) == pytest.approx(1.0, abs=1e-4)
        # bottom right (m = 2, tau = 1): the EoC map has extra fixed points (paper App. E)
        kinds = [g.rsplit("-", 1)[1] for g in gids(fig, f"{name}-m2-tau1-chi1-fp-")]
        assert len(kinds) == 3 and "unstable" in kinds, kinds
    # same (tau, m): V_CST = 2 V_CReLU - sigma_b^2 with half sigma_w^2, so the maps coincide
    a, b = lines(figs["fig10"], "crelu-m"), lines(figs["fig11"], "cst-m")
    for gid, ln in a.items():
        if "-fp-" in gid:
            continue
        np.testing.assert_allclose(xy(ln)[1], xy(b["cst" + gid[5:]])[1], rtol=1e-10,
                                   atol=1e-12)


# --------------------------------------------------------------------------- CLI
def _cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "eoctheory.figures", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_writes_one_figure(tmp_path):
    out = _cli("fig2", "--outdir", str(tmp_path), "--format", "png")
    assert out.returncode == 0, out.stderr
    png = tmp_path / "fig2.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == [png]
    assert "fig2" in out.stdout and "total" in out.stdout


@pytest.mark.parametrize("args", [("fig99",), ("--format", "gif"), ("--bogus",),
                                  ("--dpi", "x")])
def test_cli_bad_arguments_exit_2(args, tmp_path):
    out = _cli(*args, "--outdir", str(tmp_path))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not list(tmp_path.iterdir())


def test_cli_list():
    out = _cli("--list")
    assert out.returncode == 0
    assert [ln.split()[0] for ln in out.stdout.splitlines()] == list(REGISTRY)


def test_activation_figure_of_a_custom_activation():
    """One call draws a user's activation; the plotted curves are the API's numbers."""
    import sympy as sp

    from eoctheory.engine.activations import M, TAU, X
    from eoctheory.figures import activation_figure
    from eoctheory.theory.setting import resolve_setting

    act = eoc.Activation.from_expr(
        sp.Piecewise((0, X < TAU), (2 * (X - TAU), X < TAU + M), (2 * M, True)),
        name="ramp2", params={"tau": 0.0, "m": 1.0})
    fig = activation_figure(act, sparsity=0.8, target_slope=0.6)
    st = resolve_setting(act, sparsity=0.8, target_slope=0.6)
    ax_phi, ax_v, ax_gap, ax_r = fig.axes
    assert [a.get_xlabel() for a in fig.axes] == ["$x$", "$q$", "$q$", "$\\rho$"]
    line = next(l for l in ax_v.get_lines() if l.get_gid() == "variance")
    q, v = line.get_data()
    np.testing.assert_allclose(v, eoc.variance_map(st.activation, q, st.sigma_w2, st.sigma_b2),
                               rtol=1e-12)
    # the EoC fixed point q* = 1 is marked as stable (V'(q*) = 0.6 < 1)
    marks = [l for l in ax_v.get_lines() if (l.get_gid() or "").startswith("variance-fp-")]
    assert any(l.get_gid() == "variance-fp-stable" and abs(l.get_xdata()[0] - 1.0) < 1e-9
               for l in marks)
    # the sparsity in the title is the resolved one (0.8 to display precision)
    assert "0.8" in ax_phi.get_title()


# --------------------------------------------------------------------------- fig_phase
def test_fig_phase_refinement_keeps_every_class():
    """The coarse-then-refine evaluation shades every point as the full evaluation does and
    is exact wherever it evaluated (there the 5% boundary is drawn)."""
    from eoctheory.figures import fig_phase

    s, m = np.linspace(0.5, 0.95, 11), np.linspace(0.05, 4.0, 11)
    for name in ("crelu", "cst"):
        a = fig_phase.risk_grid(name, s, m, width=100, depth=20)
        b = fig_phase.risk_grid(name, s, m, width=100, depth=20, refine=False)
        np.testing.assert_array_equal(fig_phase.risk_classes(*a, 0.05),
                                      fig_phase.risk_classes(*b, 0.05))
        assert np.all(np.isfinite(a[0])) and np.all((a[0] >= 0) & (a[0] <= 1))
        np.testing.assert_allclose(a[0][::2, ::2], b[0][::2, ::2], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- fig_cnn
def test_fig_cnn_small_builds_with_every_panel_and_theory():
    """A small configuration: four panels, a theory line and markers per setting and
    quantity; the theory lines start from the inputs' own statistics (q_in, rho_in) and
    follow the variance map."""
    from eoctheory.figures import fig_cnn

    depth = 5
    fig = fig_cnn.figure(channels=8, size=6, depth=depth, seeds=2)
    assert len(fig.axes) == 4 and fig.legends
    assert [ax.get_xlabel() for ax in fig.axes] == ["layer $l$"] * 4
    assert [ax.get_ylabel().split()[0] for ax in fig.axes] == ["$q^l$", "$s^l$",
                                                              "$\\rho^l$", "$c^l$"]
    for key in fig_cnn.SETTINGS:
        for qty in fig_cnn.QUANTITIES:
            for kind in ("theory", "measured"):
                x, y = xy(line(fig, f"{key}-{qty}-{kind}"))
                assert len(y) == depth and np.all(np.isfinite(y)), (key, qty, kind)
        q = xy(line(fig, f"{key}-q-theory"))[1]
        assert q[0] == pytest.approx(2.0, rel=1e-5)  # q^1 = q_in (preserving first layer)
        assert xy(line(fig, f"{key}-rho-theory"))[1][0] == pytest.approx(0.3, rel=1e-5)
        st = eoc.resolve_setting(fig_cnn.SETTINGS[key][0], **fig_cnn.SETTINGS[key][1])
        np.testing.assert_allclose(
            q[1:], eoc.variance_map(st.activation, q[:-1], st.sigma_w2, st.sigma_b2),
            rtol=1e-12)
        for qty in ("rho", "spatial"):  # correlations rise towards 1 (chi_1 = 1), stay <= 1
            c = xy(line(fig, f"{key}-{qty}-theory"))[1]
            assert np.all(np.diff(c) > 0) and np.all(c <= 1 + 1e-9), (key, qty)
    q = xy(line(fig, "relu-q-theory"))[1]
    np.testing.assert_allclose(q, q[0], rtol=1e-12)  # V(q) = q for the plain ReLU
    # the CReLU and CST maps pull q^l from q_in = 2 down towards q* = 1
    for key in ("crelu", "cst"):
        q = xy(line(fig, f"{key}-q-theory"))[1]
        assert np.all(np.diff(q) < 0) and np.all(q > 1)
