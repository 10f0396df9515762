"""Special functions as limma uses them: trigamma and its inverse (``limma::trigammaInverse``)."""

from __future__ import annotations

import math

from scipy import special


def trigamma(x):
    """R ``trigamma`` (scipy ``polygamma(1, x)``)."""
    return special.polygamma(1, x)


def trigamma_inverse(x: float) -> float:
    """Inverse of the trigamma function by Newton's method (``limma::trigammaInverse``)."""
    x = float(x)
    if math.isnan(x):
        return math.nan
    if x < 0:
        return math.nan
    if x > 1e7:
        return 1.0 / math.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    it = 0
    while True:
        it += 1
        tri = float(trigamma(y))
        dif = tri * (1.0 - tri / x) / float(special.polygamma(2, y))
        y = y + dif
        if -dif / y < 1e-8 or it > 50:
            break
    return y
