"""Elementwise activations: forward y = f(x), backward dL/dx = g ⊙ f'(x), f' hand-derived beside each f.

Each `<f>_backward(grad_output, saved, ...)` takes what torch's own backward kernel reads: the output y where
f' is cheapest from it (sigmoid, tanh, ReLU's mask), otherwise the input x (LeakyReLU, ELU, SELU, GELU, SiLU,
Softplus). At a kink the value chosen is torch's (TORCH_SEMANTICS §3): ReLU'(0) = 0, LeakyReLU'(0) = s,
ELU'(0) = α (the x <= 0 branch), Softplus is linear only when βx > threshold strictly.
"""
import math

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_K = math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5  # √(2/π), computed as torch's kernel does
GELU_TANH_C = 0.044715
INV_SQRT_2PI = (2.0 / math.sqrt(math.pi)) * math.sqrt(0.5) * 0.5  # 1/√(2π), torch's kBeta
SQRT_HALF = math.sqrt(0.5)

# erf by W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev approximations for the error
# function", Math. Comp. 23 (1969) 631-637; the coefficients of his CALERF, Netlib specfun), which many libms
# use. Intervals of y = |x|:
#   y <= 0.55:        erf(x) = x + x·((c - 1) + t·A'(t)/B(t)),  t = x², c = A(0)/B(0) = 2/√π, A' = (A - c·B)/t
#                     (Cody's x·A(t)/B(t) rearranged so the leading term x is exact, as fdlibm does; Cody's
#                     interval ends at 0.46875, his approximation stays within 1 ulp of math.erf up to 0.55)
#   0.55 < y <= 4:    erfc(y) = e^(-y²)·C(y)/D(y)
#   4 < y < 6:        erfc(y) = e^(-y²)/y·(1/√π - z·P(z)/Q(z)),  z = 1/y²
#   y >= 6:           erf = ±1 (erfc(6) = 2e-17 is below half an ulp of 1)
# Cody splits e^(-y²) = e^(-s²)·e^(-(y-s)(y+s)) (s = y rounded to 1/16) to keep erfc's relative accuracy;
# erf = 1 - erfc does not need it: rounding y² moves erfc by erfc·y²·2^-53, under 2e-17 for y > 0.55.
# Measured against math.erf (tests/test_erf.py): at most 1 ulp for y <= 0.55 and 2 ulp above.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
          1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
          8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
          2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
          3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
          6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
          2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1
_ERF_SMALL = 0.55
_ERF_C0 = _ERF_A[3] / _ERF_B[3]  # 2/√π as the approximation has it (the float 2/√π is 1 ulp off that ratio)
_ERF_A_SHIFTED = (_ERF_A[4] - _ERF_C0, _ERF_A[0] - _ERF_C0 * _ERF_B[0], _ERF_A[1] - _ERF_C0 * _ERF_B[1],
                  _ERF_A[2] - _ERF_C0 * _ERF_B[2])  # A(t) - c·B(t) = t·A'(t): the constant terms cancel
ERF_BLOCK = 1 << 16  # elements per block: float64 temporaries stay in cache and memory stays flat


def _rational(t, num, den, n):
    """Cody's Horner form: (((num[n]·t + num[0])·t + ...)·t + num[n-1]) / ((t + den[0])·t + ... + den[n-1])."""
    xnum, xden = num[n] * t, t.copy()
    for i in range(n - 1):
        xnum += num[i]
        xnum *= t
        xden += den[i]
        xden *= t
    xnum += num[n - 1]
    xden += den[n - 1]
    return xnum / xden


_SIGN_BIT = np.int64(-2**63)


def _erf64(x):
    """erf of a 1-d float64 array (see the comment above); NaN stays NaN.

    Both main branches are evaluated on the whole block and merged bitwise: NumPy's np.where, copysign and
    boolean indexing are branchy and cost several times the arithmetic on random signs. The merge is exact:
    the sign is the bit of x OR-ed into erf(|x|) >= 0, and the select is b ^ ((a ^ b) & mask) on the bits."""
    with np.errstate(over="ignore", invalid="ignore"):  # huge or infinite x: the small branch is not selected
        t = x * x
        small = _ERF_A_SHIFTED[0] * t
        for coefficient in _ERF_A_SHIFTED[1:]:
            small += coefficient
            small *= t
        den = t + _ERF_B[0]
        for coefficient in _ERF_B[1:]:
            den *= t
            den += coefficient
        small /= den
    small += _ERF_C0 - 1
    small *= x
    small += x  # erf(x) for |x| <= 0.55
    y = np.minimum(np.abs(x), 6.0)  # erf(±6) rounds to ±1, as for every larger |x| and ±inf
    erfc = np.multiply(y, y)
    np.negative(erfc, out=erfc)
    np.exp(erfc, out=erfc)
    erfc *= _rational(y, _ERF_C, _ERF_D, 8)
    tail = y > 4.0
    if tail.any():  # rare: |x| > 4
        yt = y[tail]
        z = 1 / (yt * yt)
        erfc[tail] = np.exp(-yt * yt) * (_INV_SQRT_PI - z * _rational(z, _ERF_P, _ERF_Q, 5)) / yt
    large = np.subtract(1, erfc, out=erfc).view(np.int64)  # erf(|x|) >= 0 for |x| > 0.55
    large |= x.view(np.int64) & _SIGN_BIT
    mask = (y <= _ERF_SMALL).view(np.int8).astype(np.int64)
    np.negative(mask, out=mask)  # all bits set where the small branch is taken
    small_bits = small.view(np.int64)
    small_bits ^= large
    small_bits &= mask
    small_bits ^= large
    return small


def erf(x, out=None):
    """erf elementwise (NumPy has none), computed in float64 (Cody's approximations above) block by block and
    returned in x's float dtype; `out` may be x itself."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    if out is None:
        out = np.empty(x.shape, dtype)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    for start in range(0, flat_x.size, ERF_BLOCK):
        block = slice(start, start + ERF_BLOCK)
        flat_out[block] = _erf64(flat_x[block].astype(np.float64))
    if not np.shares_memory(flat_out, out):  # a non-contiguous `out`: reshape copied
        out[...] = flat_out.reshape(out.shape)
    return out


def identity(x):
    return x


def identity_backward(grad_output, x=None):
    """d x / dx = 1."""
    return grad_output


def relu(x):
    """max(x, 0)."""
    return np.maximum(x, 0)


def relu_backward(grad_output, y):
    """ReLU'(x) = 1 if x > 0 else 0; torch masks on the output, so the subgradient at 0 is 0.

    torch's threshold_backward selects: g where not y <= 0, else 0. For y = relu(x) (>= 0 or NaN) that mask
    is [y != 0], so a NaN unit passes its gradient, as in torch. The select is computed as the product
    g·sign(y), sign(y) being the mask 0/1 for y >= 0, written straight into the result (vectorised, no
    temporary at all; np.where ran 7x slower here, and a boolean mask costs a cast buffer). The product
    differs from the select only where the unit is NaN (sign NaN) or the unit is off and the upstream
    gradient is inf or NaN (0·inf = NaN where torch gives 0), so a NaN in the result redoes the select.
    (An off unit with negative g gets -0.0 where torch has +0.0: equal values.)
    """
    grad_input = np.sign(y, out=np.empty_like(grad_output))
    with np.errstate(invalid="ignore", over="ignore"):
        grad_input *= grad_output
        undefined = np.isnan(grad_input.sum())  # a reduction, no temporary
    if undefined:  # rare: a NaN unit or a non-finite upstream gradient
        return np.where(y != 0, grad_output, 0).astype(grad_output.dtype, copy=False)
    return grad_input


def leaky_relu(x, negative_slope: float = 0.01):
    """x if x > 0 else s·x.  The course's max(0.1x, x) is leaky_relu(x, 0.1) (equal for 0 <= s <= 1)."""
    return np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward(grad_output, x, negative_slope: float = 0.01):
    """1 if x > 0 else s: the slope s is used at x = 0, as torch's kernel (x > 0 picks the positive branch)."""
    return np.where(x > 0, grad_output, grad_output * negative_slope)


def elu(x, alpha: float = 1.0, scale: float = 1.0):
    """scale·x if x > 0 else scale·α·(e^x - 1) (expm1, exact near 0); SELU is elu with torch's α and scale."""
    return np.where(x > 0, x * scale, np.expm1(np.minimum(x, 0)) * (alpha * scale))


def elu_backward(grad_output, x, alpha: float = 1.0, scale: float = 1.0):
    """scale if x > 0 else scale·α·e^x; x = 0 takes the second branch (torch's x <= 0), giving scale·α."""
    return np.where(x > 0, grad_output * scale, grad_output * (alpha * scale) * np.exp(np.minimum(x, 0)))


def selu(x):
    """λ·(x if x > 0 else α(e^x - 1)), α = 1.6732632423543772, λ = 1.0507009873554805."""
    return elu(x, SELU_ALPHA, SELU_SCALE)


def selu_backward(grad_output, x):
    """λ if x > 0 else λα·e^x (λα = 1.7580993408473766 at x = 0)."""
    return elu_backward(grad_output, x, SELU_ALPHA, SELU_SCALE)


def gelu(x, approximate: str = "none"):
    """'none': x·Φ(x), Φ(x) = ½(1 + erf(x/√2)) the standard normal CDF.
    'tanh':  ½x(1 + tanh u), u = k(x + c·x³), k = √(2/π), c = 0.044715."""
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(GELU_TANH_K * (x + GELU_TANH_C * x * x * x)))
    y = np.multiply(x, SQRT_HALF, out=np.empty_like(x))  # an array also for 0-d x (x * c would be a scalar)
    erf(y, out=y)  # in place on the fresh x·√½: one array the size of x in all
    y += 1
    y *= x
    y *= 0.5  # x·½·(1 + erf) as torch; ·½ is exact, so the order of the two products does not change the value
    return y


def gelu_backward(grad_output, x, approximate: str = "none"):
    """'none': d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π) (Φ' = φ).
    'tanh':  ½(1 + tanh u) + ½x·(1 - tanh²u)·k(1 + 3c·x²)   (product rule, then tanh' = 1 - tanh², u' = k(1+3cx²))."""
    if approximate == "tanh":
        inner = GELU_TANH_K * (x + GELU_TANH_C * x * x * x)
        t = np.tanh(inner)
        du = GELU_TANH_K * (1 + 3 * GELU_TANH_C * x * x)
        return grad_output * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    cdf = np.multiply(x, SQRT_HALF, out=np.empty_like(x))
    erf(cdf, out=cdf)
    cdf += 1
    cdf *= 0.5
    pdf = np.multiply(x, x, out=np.empty_like(x))
    pdf *= -0.5
    np.exp(pdf, out=pdf)
    pdf *= INV_SQRT_2PI
    pdf *= x
    cdf += pdf
    cdf *= grad_output
    return cdf


def sigmoid(x):
    """σ(x) = 1 / (1 + e^(-x)), evaluated without overflow: e^(-|x|) never exceeds 1."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def sigmoid_backward(grad_output, y):
    """σ'(x) = σ(x)(1 - σ(x)) = y(1 - y)."""
    return grad_output * y * (1 - y)


def logsigmoid(x):
    """log σ(x) = min(x, 0) - log1p(e^(-|x|)): finite for any x (torch's `_vec_log_sigmoid`)."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def tanh(x):
    return np.tanh(x)


def tanh_backward(grad_output, y):
    """tanh'(x) = 1 - tanh²(x) = 1 - y²."""
    return grad_output * (1 - y * y)


def silu(x):
    """x·σ(x) (also called swish)."""
    return x * sigmoid(x)


def silu_backward(grad_output, x):
    """(x·σ)' = σ + x·σ(1 - σ) = σ(x)·(1 + x(1 - σ(x)))."""
    s = sigmoid(x)
    return grad_output * s * (1 + x * (1 - s))


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + e^(βx))/β, and x itself where βx > threshold (strictly), where the two agree to < 1e-8·x."""
    bx = x * beta
    return np.where(bx > threshold, x, np.log1p(np.exp(np.minimum(bx, threshold))) / beta)


def softplus_backward(grad_output, x, beta: float = 1.0, threshold: float = 20.0):
    """d/dx log(1 + e^(βx))/β = e^(βx)/(1 + e^(βx)) = σ(βx), computed as z/(z+1), z = e^(βx) (torch's form);
    1 on the linear branch βx > threshold."""
    bx = x * beta
    z = np.exp(np.minimum(bx, threshold))
    return np.where(bx > threshold, grad_output, grad_output * z / (z + 1))
