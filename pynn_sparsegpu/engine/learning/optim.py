"""Optimisers for trained weights, elementwise on arrays of any shape (NumPy or CuPy).

Adam (Kingma & Ba 2015), with the step count t >= 1 shared by all parameters of a network:
    m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
    w <- w - lr * m_hat / (sqrt(v_hat) + epsilon),   m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)
Plain gradient descent (SGD): w <- w - lr g (m and v untouched).
"""

from __future__ import annotations

import math

from ..checks import check_number


def _check(name, value, ok, allowed):
    return float(check_number(name, value, ok, allowed))


class Adam:
    """Adam with learning_rate, beta1, beta2, epsilon."""

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.learning_rate = _check("learning_rate", learning_rate, lambda v: v > 0, "> 0")
        self.beta1 = _check("beta1", beta1, lambda v: 0 <= v < 1, "in [0, 1)")
        self.beta2 = _check("beta2", beta2, lambda v: 0 <= v < 1, "in [0, 1)")
        self.epsilon = _check("epsilon", epsilon, lambda v: v > 0, "> 0")

    def update(self, w, g, m, v, t: int, xp):
        """New (w, m, v) after one step with gradient g at step count t (1 for the first step)."""
        m = self.beta1 * m + (1.0 - self.beta1) * g
        v = self.beta2 * v + (1.0 - self.beta2) * g * g
        scale = self.learning_rate * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        eps_hat = self.epsilon * math.sqrt(1.0 - self.beta2 ** t)     # = epsilon on the bias-corrected v
        return w - scale * m / (xp.sqrt(v) + eps_hat), m, v

    def __repr__(self):
        return (f"Adam(learning_rate={self.learning_rate}, beta1={self.beta1}, beta2={self.beta2}, "
                f"epsilon={self.epsilon})")


class SGD:
    """Plain gradient descent with a learning_rate."""

    def __init__(self, learning_rate=1e-2):
        self.learning_rate = _check("learning_rate", learning_rate, lambda v: v > 0, "> 0")

    def update(self, w, g, m, v, t: int, xp):
        return w - self.learning_rate * g, m, v

    def __repr__(self):
        return f"SGD(learning_rate={self.learning_rate})"
