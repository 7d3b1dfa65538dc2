"""The fast oracle route for smooth activations and the chord-step fixed-point verification.

Issue 16: ``check`` on tanh/erf/GELU/SiLU got fast by integrating smooth activations in
x = sqrt(q) z on q-independent pieces (activation values memoised at the nodes) and by
polishing each float64 root with chord steps instead of a bracketed solver. These tests show
that the oracle is still accurate against independent routes, and that the verification still
checks what it did: the residual at ``dps`` digits and agreement with a solve at ``dps + 15``
digits, failing loudly when either is violated.
"""

from __future__ import annotations

import math

import mpmath
import pytest

from eoctheory.engine import precise
from eoctheory.engine.activations import Activation, get_activation
from eoctheory.theory import stability
from eoctheory.theory.stability import fixed_points


def _erf_second_moment(q):
    r"""Independent closed form (Williams 1997): :math:`\mathbb{E}[\mathrm{erf}(\sqrt q Z)^2]
    = \tfrac{2}{\pi}\arcsin\tfrac{2q}{1 + 2q}`."""
    return 2 / mpmath.pi * mpmath.asin(2 * q / (1 + 2 * q))


@pytest.mark.parametrize("q,dps", [(1e-6, 30), (0.3, 30), (1e6, 30), (0.3, 45)])
def test_erf_moment_and_slope_against_closed_form(q, dps):
    """E[erf^2] and its q-derivative at dps digits: relative error <= 10**(5 - dps), the
    project's oracle tolerance (ARCHITECTURE.md), against the arcsine formula and its
    derivative taken by mpmath at dps + 20 digits."""
    act = get_activation("erf")
    with mpmath.workdps(dps + 20):
        qm = mpmath.mpf(q)
        ref = _erf_second_moment(qm)
        dref = mpmath.diff(_erf_second_moment, qm)
    got = precise.second_moment(act, q, dps)
    dgot = precise.second_moment_derivative(act, q, 1, dps)
    with mpmath.workdps(dps + 20):
        assert abs(got - ref) <= mpmath.mpf(10) ** (5 - dps) * ref
        assert abs(dgot - dref) <= mpmath.mpf(10) ** (5 - dps) * abs(dref)


@pytest.mark.parametrize("expr,q", [("x*(erf(x/sqrt(2)) + 1)/2", 0.05), ("x*tanh(x)", 1.0),
                                    ("x/(1 + exp(-x))", 20.0)])
def test_x_route_against_z_route(expr, q):
    """The x-space route against a plain z-space tanh-sinh quadrature (the previous oracle's
    split points 0, +-1, +-3, +-6, +-10 and the activation's scale +-1/sqrt(q), +-4/sqrt(q))
    at 50 digits: agreement to 10**-25 relative at dps = 30."""
    act = Activation.from_string(expr)
    f, _ = precise.mp_functions(act.expr)
    got = precise.second_moment(act, q, 30)
    with mpmath.workdps(50):
        sq = mpmath.sqrt(q)
        pts = {mpmath.mpf(0), *(s * mpmath.mpf(v) for v in (1, 3, 6, 10) for s in (1, -1))}
        pts.update(s * mpmath.mpf(v) / sq for v in (1, 4) for s in (1, -1))
        ref = mpmath.quad(lambda z: f(sq * z) ** 2 * mpmath.npdf(z),
                          [-mpmath.inf, *sorted(pts), mpmath.inf])
        assert abs(got - ref) <= mpmath.mpf(10) ** -25 * ref


@pytest.mark.parametrize("text", [
    "Piecewise((0, x < 3/10), (tanh(x - 3/10), True))",
    "Piecewise((0, Abs(x) < 3/10), (tanh(x - 3/10), x >= 3/10), (tanh(x + 3/10), True))"])
def test_breakpoints_of_a_smooth_piecewise_are_split_points(text):
    """A kink of a non-polynomial Piecewise (x < tau, or a dead zone |x| < tau, as in
    SCReLU and SCST) is an edge of the x-space rule, so tanh-sinh never integrates across it
    (the previous oracle did, and was off by 3e-11 for SCST at s = 0.7, at both precisions):
    the oracle matches a quadrature split by hand at the kinks to 10**-25 at dps = 30."""
    act = Activation.from_string(text)
    f, _ = precise.mp_functions(act.expr)
    got = precise.second_moment(act, 1.0, 30)
    with mpmath.workdps(50):
        t = mpmath.mpf(3) / 10
        pts = [-mpmath.inf, -10, -6, -3, -1, -t, t, 1, 3, 6, 10, mpmath.inf]
        ref = mpmath.quad(lambda z: f(z) ** 2 * mpmath.npdf(z), pts)
        assert abs(got - ref) <= mpmath.mpf(10) ** -25 * ref


def test_activation_values_are_reused_at_nearby_q():
    """The nodes do not depend on q: a second integral at q (1 + 1e-12) evaluates tanh only
    at its ~50 size probes, not again at the ~2000 quadrature nodes."""
    act = get_activation("tanh")
    precise.second_moment(act, 0.7, 30)
    before = sum(len(t) for t in precise._PHI_MEMO.values())
    precise.second_moment(act, 0.7 * (1 + 1e-12), 30)
    after = sum(len(t) for t in precise._PHI_MEMO.values())
    assert after - before <= 60


def _recording(monkeypatch):
    """Record the precision of every second-moment evaluation of the verification."""
    seen = []
    orig = stability._MPMap.E

    def E(self, name, q):
        if name == "second_moment":
            seen.append(mpmath.mp.dps)
        return orig(self, name, q)
    monkeypatch.setattr(stability._MPMap, "E", E)
    return seen


def test_tanh_root_is_verified_at_two_precisions(monkeypatch):
    """tanh on its EoC at q* = 1: the residual at 30 digits is below 1e-25 q, the roots at
    30 and 45 digits agree to >= 25 digits, V(q) - q is evaluated at both precisions, and the
    root equals the previous bracketed solver's (the fallback) to 28 digits."""
    from eoctheory.theory.eoc import eoc_point

    pt = eoc_point("tanh", 1.0)
    sw2, sb2 = float(pt.sigma_w2), float(pt.sigma_b2)
    seen = _recording(monkeypatch)
    (fp,) = fixed_points("tanh", sw2, sb2, q_max=100.0)
    assert {30, 45} <= set(seen)
    assert fp.residual <= 1e-25 * fp.q and fp.digits >= 25
    assert fp.kind == "stable" and abs(fp.q - 1) < 1e-12
    monkeypatch.setattr(stability, "_newton_roots", lambda *a, **k: None)
    (old,) = fixed_points("tanh", sw2, sb2, q_max=100.0)
    with mpmath.workdps(40):
        assert abs(mpmath.mpf(fp.q_mp) - mpmath.mpf(old.q_mp)) <= mpmath.mpf(10) ** -28


# identity with sigma_w^2 = 1/2, sigma_b^2 = 1: V(q) = q/2 + 1, one stable root at q = 2
# (closed form in mpmath: these tests cost milliseconds)
_ID = ("identity", 0.5, 1.0)


def test_perturbed_root_fails_the_residual_check(monkeypatch):
    """A root off by 1e-20 relative (both precisions agree on it) leaves a residual of
    ~1e-20 q, far above 10**(5 - 30) q: the verification raises."""
    def perturbed(F, q0, slope, dps, slopes=None):
        with mpmath.workdps(dps + 15):
            r = mpmath.mpf(2) * (1 + mpmath.mpf(10) ** -20)
        return [r, r]
    monkeypatch.setattr(stability, "_newton_roots", perturbed)
    with pytest.raises(RuntimeError, match="failed mpmath verification"):
        fixed_points(*_ID)


def test_disagreeing_precisions_fail_the_agreement_check(monkeypatch):
    """An oracle whose error depends on the precision (1e-20 at 30 digits, none at 45, as
    a quadrature that lost digits would have) moves the root at 30 digits by ~1e-20: the
    two solves then agree to ~20 digits, fewer than 30 - 5, and the verification raises."""
    orig = stability._MPMap.E

    def E(self, name, q):
        v = orig(self, name, q)
        return v + mpmath.mpf(10) ** -20 if mpmath.mp.dps < 40 else v
    monkeypatch.setattr(stability._MPMap, "E", E)
    with pytest.raises(RuntimeError, match="failed mpmath verification"):
        fixed_points(*_ID)


def test_chord_steps_and_their_fallback():
    """Chord steps converge from a float64 root in two evaluations per precision; a slope
    of the wrong sign, or too small to trust, returns None, and the bracketed solver then
    verifies the same root."""
    calls = []

    def F(q):  # root 2, slope -1/2 there, curved
        calls.append(mpmath.mp.dps)
        return 1 - q / 2 + (q - 2) ** 2 / 10

    roots = stability._newton_roots(F, 2.0 * (1 + 1e-15), -0.5, 30)
    assert roots is not None and calls.count(30) == 2 and calls.count(45) == 2
    with mpmath.workdps(60):  # each within its precision's step tolerance 10**(3 - d) q
        assert abs(roots[0] - 2) <= 2 * mpmath.mpf(10) ** -27
        assert abs(roots[1] - 2) <= 2 * mpmath.mpf(10) ** -42
    assert stability._newton_roots(F, 2.0 * (1 + 1e-15), 0.5, 30) is None  # diverges
    assert stability._newton_roots(F, 2.0, 1e-9, 30) is None  # near-tangent
    mpm = stability._MPMap(get_activation("identity"), {})
    (fp,) = stability._verified(mpm, 0.5, 1.0, 2.0 * (1 + 1e-15), False, 30, slope=0.5)
    assert abs(fp.q - 2) < 1e-15 and fp.digits >= 25 and fp.kind == "stable"


@pytest.mark.parametrize("name, exact", [
    ("screlu", lambda t: float(mpmath.ncdf(t))),            # zero below tau only
    ("scst", lambda t: float(mpmath.erf(t / mpmath.sqrt(2)))),  # zero on |x| < tau
])
@pytest.mark.parametrize("q", [0.3, 1.0, 4.0])
def test_oracle_sparsity_finds_the_kinks_of_smooth_clipping(name, exact, q):
    # the zero set of SCReLU/SCST is CReLU's/CST's: the oracle's sparsity must find the kink
    # at tau inside a non-polynomial Piecewise (it used to return 0.0 there)
    tau = 0.5
    got = precise.sparsity(name, q, tau=tau, m=1.0, beta=3.0)
    assert float(got) == pytest.approx(exact(tau / math.sqrt(q)), rel=1e-14)
