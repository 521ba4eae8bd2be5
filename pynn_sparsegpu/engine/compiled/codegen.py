"""Population step kernels generated from the neuron models' own Python steps.

One source of truth: a neuron model's `step(s, p, d, syn, i_stim, ctx)` is element-wise array code (the NumPy
reference runs it). To compile it, the step is run once on symbolic per-neuron values (`Sym`) with a symbolic
array module (`SymXP`); every operation it performs is recorded as one C++ statement, in the order NumPy
performs it, with NumPy's types (NEP 50 promotion: a Python scalar takes the array's type). Loops over a fixed
number of substeps unroll. The statements become the body of a kernel (psg_neuron.cuh) that reads and clears
the neuron's ring slot and injected current, runs the body, stores the state, and publishes the spike count.
The same C++ compiles with the host compiler (the compiled CPU path) and with NVRTC or nvcc (CUDA), so the
model is written once, in Python, for three paths.

Models whose step cannot be traced (random numbers, per-step host logic, data-dependent Python control flow,
arrays that are not one value per neuron) raise TraceError; the engine runs those on the reference path.

Arithmetic is emitted operation by operation with explicit casts, so the compiled kernel does the same IEEE
operations as NumPy: models without transcendental functions in their step (the LIF models, Izhikevich,
e-prop cells) give bit-identical results in float64. exp, log and friends come from the C library in the
kernel and from NumPy's own SIMD code in the reference; they agree to within an ulp or so.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re

import numpy as np

from ..neurons.base import StepContext

_CTYPE = {np.dtype(np.float64): "double", np.dtype(np.float32): "float", np.dtype(np.int32): "int",
          np.dtype(np.int64): "long long", np.dtype(np.bool_): "bool", np.dtype(np.uint8): "unsigned char",
          np.dtype(np.int16): "short", np.dtype(np.int8): "signed char", np.dtype(np.uint16): "unsigned short",
          np.dtype(np.uint32): "unsigned int", np.dtype(np.uint64): "unsigned long long"}


class TraceError(Exception):
    """The model's step cannot be turned into a kernel (the message says what it did)."""


def ctype(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype not in _CTYPE:
        raise TraceError(f"no C type for dtype {dtype}")
    return _CTYPE[dtype]


def literal(value, dtype=None) -> str:
    """A C++ literal for a Python or NumPy scalar, exact (floats in hexadecimal)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        text = f"{int(value)}LL"
        return text if dtype is None else f"(({ctype(dtype)}){text})"
    value = float(value)
    if math.isnan(value):
        text = "psg_nan()"
    elif math.isinf(value):
        text = "psg_inf()" if value > 0 else "(-psg_inf())"
    else:
        text = value.hex()
    return text if dtype is None else f"(({ctype(dtype)}){text})"


class Sym:
    """One value per neuron, known by name in the kernel being generated."""
    __array_ufunc__ = None          # NumPy scalars and arrays defer to our operators
    ndim = 1

    def __init__(self, tracer, name: str, dtype):
        self.tracer, self.name, self.dtype = tracer, name, np.dtype(dtype)

    @property
    def shape(self):
        return (self.tracer.n_symbol,)

    def __bool__(self):
        raise TraceError("the step branches in Python on a per-neuron value")

    def __len__(self):
        raise TraceError("the step takes the length of a per-neuron array")

    def __iter__(self):
        raise TraceError("the step iterates over a per-neuron array")

    def __getitem__(self, key):
        if key == (slice(None), None):
            return self                    # a per-neuron value broadcast along a neuron's sequence
        raise TraceError("the step indexes a per-neuron array")

    def __array__(self, *args, **kwargs):
        raise TraceError("the step converts a per-neuron value to a NumPy array")

    def astype(self, dtype, copy=True):
        return self.tracer.cast(self, np.dtype(dtype))

    def copy(self):
        return self

    def sum(self, *args, **kwargs):
        raise TraceError("the step reduces over neurons")

    any = all = max = min = mean = sum

    # arithmetic
    def __add__(self, o): return self.tracer.binary("add", self, o)
    def __radd__(self, o): return self.tracer.binary("add", o, self)
    def __sub__(self, o): return self.tracer.binary("subtract", self, o)
    def __rsub__(self, o): return self.tracer.binary("subtract", o, self)
    def __mul__(self, o): return self.tracer.binary("multiply", self, o)
    def __rmul__(self, o): return self.tracer.binary("multiply", o, self)
    def __truediv__(self, o): return self.tracer.binary("true_divide", self, o)
    def __rtruediv__(self, o): return self.tracer.binary("true_divide", o, self)
    def __pow__(self, o): return self.tracer.power(self, o)
    def __rpow__(self, o): return self.tracer.power(o, self)
    def __lt__(self, o): return self.tracer.binary("less", self, o)
    def __le__(self, o): return self.tracer.binary("less_equal", self, o)
    def __gt__(self, o): return self.tracer.binary("greater", self, o)
    def __ge__(self, o): return self.tracer.binary("greater_equal", self, o)
    def __eq__(self, o): return self.tracer.binary("equal", self, o)
    def __ne__(self, o): return self.tracer.binary("not_equal", self, o)
    def __and__(self, o): return self.tracer.binary("bitwise_and", self, o)
    def __rand__(self, o): return self.tracer.binary("bitwise_and", o, self)
    def __or__(self, o): return self.tracer.binary("bitwise_or", self, o)
    def __ror__(self, o): return self.tracer.binary("bitwise_or", o, self)
    def __xor__(self, o): return self.tracer.binary("bitwise_xor", self, o)
    def __rxor__(self, o): return self.tracer.binary("bitwise_xor", o, self)
    def __neg__(self): return self.tracer.unary("negative", self)
    def __pos__(self): return self
    def __invert__(self): return self.tracer.unary("invert", self)
    def __abs__(self): return self.tracer.unary("absolute", self)

    def __floordiv__(self, o):
        raise TraceError("floor division is not supported in a compiled step")

    __rfloordiv__ = __mod__ = __rmod__ = __floordiv__
    __hash__ = object.__hash__


class SymVec:
    """A short sequence of values per neuron (an [n, K] array with K fixed when the kernel is generated, such
    as GIF's adaptation elements): K per-neuron values, each operation applied to each in turn, as NumPy does
    element by element."""
    __array_ufunc__ = None
    ndim = 2

    def __init__(self, tracer, parts):
        self.tracer, self.parts = tracer, list(parts)
        self.dtype = parts[0].dtype if parts else np.dtype(np.float64)

    @property
    def shape(self):
        return (self.tracer.n_symbol, len(self.parts))

    def __bool__(self):
        raise TraceError("the step branches in Python on a per-neuron value")

    def _map(self, fn, other=None, right=False):
        if isinstance(other, SymVec):
            if len(other.parts) != len(self.parts):
                raise TraceError("sequences of different lengths")
            pairs = zip(self.parts, other.parts)
        else:
            pairs = ((x, other) for x in self.parts)
        return SymVec(self.tracer, [fn(b, a) if right else fn(a, b) for a, b in pairs])

    def sum(self, axis=None, **kwargs):
        """NumPy's sum along the sequence: in order below 8 elements, else its pairwise scheme (8 partial sums,
        combined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the rest in order)."""
        if axis not in (1, -1) or kwargs:
            raise TraceError("a sequence can only be summed along its own axis")
        t, parts = self.tracer, self.parts
        add = lambda a, b: t.binary("add", a, b)          # noqa: E731
        if not parts:
            return t.constant(0.0, self.dtype)
        if len(parts) < 8:
            total = parts[0]
            for x in parts[1:]:
                total = add(total, x)
            return total
        if len(parts) > 128:
            raise TraceError("sequences longer than 128 elements")
        r = list(parts[:8])
        i = 8
        while i < len(parts) - len(parts) % 8:
            r = [add(r[j], parts[i + j]) for j in range(8)]
            i += 8
        total = add(add(add(r[0], r[1]), add(r[2], r[3])), add(add(r[4], r[5]), add(r[6], r[7])))
        for x in parts[i:]:
            total = add(total, x)
        return total

    def astype(self, dtype, copy=True):
        return SymVec(self.tracer, [x.astype(dtype) for x in self.parts])

    def copy(self):
        return self

    def __getitem__(self, key):
        raise TraceError("the step indexes a sequence")


def _vec_binary(op, right=False):
    def method(self, other):
        return self._map(lambda a, b: self.tracer.binary(op, a, b), other, right)
    return method


for _op, _name in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "true_divide"),
                   ("and", "bitwise_and"), ("or", "bitwise_or")):
    setattr(SymVec, f"__{_op}__", _vec_binary(_name))
    setattr(SymVec, f"__r{_op}__", _vec_binary(_name, right=True))
for _op, _name in (("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal")):
    setattr(SymVec, f"__{_op}__", _vec_binary(_name))
SymVec.__neg__ = lambda self: SymVec(self.tracer, [-x for x in self.parts])
SymVec.__hash__ = object.__hash__


_BINARY_C = {"add": "+", "subtract": "-", "multiply": "*", "true_divide": "/", "less": "<", "less_equal": "<=",
             "greater": ">", "greater_equal": ">=", "equal": "==", "not_equal": "!="}
_COMPARISONS = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"}
_UNARY_MATH = {"exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tanh", "floor", "ceil", "rint", "log2",
               "log10", "exp2", "tan", "arctan", "arcsin", "arccos", "sinh", "cosh", "cbrt"}
_C_MATH = {"arctan": "atan", "arcsin": "asin", "arccos": "acos"}


def _dummy(x):
    """A stand-in with the same NumPy typing behaviour: a 1-element array for a Sym, the scalar itself else."""
    if isinstance(x, Sym):
        return np.ones(1, dtype=x.dtype)
    return x


class Tracer:
    """Records the statements of one traced step."""

    def __init__(self):
        self.lines = []
        self.count = 0
        self.n_symbol = 1 << 30       # a stand-in for n in shapes (never emitted)

    def fresh(self, dtype, expr: str) -> Sym:
        name = f"t{self.count}"
        self.count += 1
        self.lines.append(f"const {ctype(dtype)} {name} = {expr};")
        return Sym(self, name, dtype)

    # --- operands ---------------------------------------------------------------------------------
    def operand(self, x, dtype) -> str:
        """x as a C expression of type `dtype`."""
        if isinstance(x, Sym):
            return x.name if x.dtype == np.dtype(dtype) else f"(({ctype(dtype)}){x.name})"
        if isinstance(x, (numbers.Number, np.generic)):
            return literal(x.item() if isinstance(x, np.generic) else x, dtype)
        raise TraceError(f"the step combines a per-neuron value with {type(x).__name__}")

    @staticmethod
    def _check(x):
        if not isinstance(x, (Sym, numbers.Number, np.generic)):
            raise TraceError(f"the step uses a {type(x).__name__} where a per-neuron value is expected "
                             "(only one value per neuron can be compiled)")

    def _typed(self, fn, *args):
        with np.errstate(all="ignore"):
            return np.asarray(fn(*[_dummy(a) for a in args])).dtype

    # --- operations -------------------------------------------------------------------------------
    def binary(self, op: str, a, b):
        self._check(a)
        self._check(b)
        result = self._typed(getattr(np, op), a, b)
        if op in _COMPARISONS:
            work = self._typed(np.add, a, b) if not (self._is_bool(a) and self._is_bool(b)) else np.dtype(bool)
            if work == np.dtype(bool) and op not in ("equal", "not_equal"):
                work = np.dtype(np.int8)
            return self.fresh(result, f"{self.operand(a, work)} {_BINARY_C[op]} {self.operand(b, work)}")
        if op.startswith("bitwise_"):
            c_op = {"bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}[op]
            if result == np.dtype(bool):
                return self.fresh(result, f"(bool)({self.operand(a, result)} {c_op} {self.operand(b, result)})")
            if result.kind not in "iu":
                raise TraceError(f"{op} on {result}")
            return self.fresh(result, f"({ctype(result)})({self.operand(a, result)} {c_op} {self.operand(b, result)})")
        if result == np.dtype(bool):
            raise TraceError(f"{op} of booleans is not supported in a compiled step")
        return self.fresh(result, f"{self.operand(a, result)} {_BINARY_C[op]} {self.operand(b, result)}")

    @staticmethod
    def _is_bool(x):
        return isinstance(x, (bool, np.bool_)) or (isinstance(x, Sym) and x.dtype == np.dtype(bool))

    def unary(self, op: str, a):
        self._check(a)
        result = self._typed(getattr(np, op), a)
        x = self.operand(a, result)
        if op == "negative":
            return self.fresh(result, f"-{x}")
        if op == "invert":
            return self.fresh(result, f"!{x}" if result == np.dtype(bool) else f"({ctype(result)})(~{x})")
        if op == "absolute":
            if result.kind == "f":
                return self.fresh(result, f"{'fabsf' if result == np.float32 else 'fabs'}({x})")
            return self.fresh(result, f"({x} < 0 ? -{x} : {x})")
        if op in _UNARY_MATH:
            if result.kind != "f":
                raise TraceError(f"{op} of {result}")
            name = _C_MATH.get(op, op)
            return self.fresh(result, f"{name}{'f' if result == np.float32 else ''}({x})")
        raise TraceError(f"{op} is not supported in a compiled step")

    def power(self, a, b):
        self._check(a)
        self._check(b)
        result = self._typed(np.power, a, b)
        if isinstance(a, Sym) and isinstance(b, (numbers.Number, np.generic)) and result.kind == "f":
            e = float(b)
            x = self.operand(a, result)
            if e == 2.0:                 # NumPy's fast scalar powers
                return self.fresh(result, f"{x} * {x}")
            if e == 1.0:
                return self.fresh(result, x)
            if e == 0.5:
                return self.fresh(result, f"{'sqrtf' if result == np.float32 else 'sqrt'}({x})")
            if e == -1.0:
                return self.fresh(result, f"{literal(1.0, result)} / {x}")
        if result.kind != "f":
            raise TraceError("integer powers are not supported in a compiled step")
        name = "powf" if result == np.float32 else "pow"
        return self.fresh(result, f"{name}({self.operand(a, result)}, {self.operand(b, result)})")

    def cast(self, a, dtype):
        self._check(a)
        if isinstance(a, Sym) and a.dtype == dtype:
            return a
        if dtype == np.dtype(bool):
            return self.fresh(dtype, f"({self.operand(a, a.dtype if isinstance(a, Sym) else np.float64)} != 0)")
        return self.fresh(dtype, self.operand(a, dtype))

    def where(self, c, a, b):
        for x in (c, a, b):
            self._check(x)
        result = self._typed(np.where, np.ones(1, bool) if isinstance(c, Sym) else c, a, b)
        cond = self.operand(c, np.dtype(bool))
        return self.fresh(result, f"{cond} ? {self.operand(a, result)} : {self.operand(b, result)}")

    def extremum(self, which, a, b):
        self._check(a)
        self._check(b)
        result = self._typed(getattr(np, which), a, b)
        fn = "psg_minimum" if which == "minimum" else "psg_maximum"
        return self.fresh(result, f"{fn}<{ctype(result)}>({self.operand(a, result)}, {self.operand(b, result)})")

    def constant(self, value, dtype):
        dtype = np.dtype(dtype)
        return self.fresh(dtype, literal(value, dtype) if dtype != np.dtype(bool) else literal(bool(value)))


def _per_element(fn):
    """Apply an element-wise function to each element of the sequences among its arguments."""
    def wrapper(self, *args, **kwargs):
        widths = {len(a.parts) for a in args if isinstance(a, SymVec)}
        if not widths:
            return fn(self, *args, **kwargs)
        if len(widths) > 1:
            raise TraceError("sequences of different lengths")
        width = widths.pop()
        parts = [fn(self, *[a.parts[k] if isinstance(a, SymVec) else a for a in args], **kwargs)
                 for k in range(width)]
        return SymVec(self._t, parts)
    wrapper.__name__ = fn.__name__
    return wrapper


class SymXP:
    """The array-module stand-in handed to a traced step as ctx.xp (and as `xp` to the helpers it calls)."""

    def __init__(self, tracer: Tracer):
        self._t = tracer

    def __getattr__(self, name):
        value = getattr(np, name, None)
        if isinstance(value, type) and issubclass(value, np.generic) or name in ("inf", "nan", "pi", "e",
                                                                                 "newaxis", "dtype"):
            return value
        raise TraceError(f"xp.{name} is not supported in a compiled step")

    # element-wise functions
    @_per_element
    def where(self, c, a, b):
        return self._t.where(c, a, b)

    @_per_element
    def minimum(self, a, b):
        return self._t.extremum("minimum", a, b)

    @_per_element
    def maximum(self, a, b):
        return self._t.extremum("maximum", a, b)

    @_per_element
    def clip(self, a, lo, hi):
        return self.minimum(self.maximum(a, lo), hi)

    @_per_element
    def abs(self, a):
        return self._t.unary("absolute", a) if isinstance(a, Sym) else abs(a)

    absolute = fabs = abs

    @_per_element
    def isnan(self, a):
        return self._t.binary("not_equal", a, a) if isinstance(a, Sym) else np.isnan(a)

    @_per_element
    def isinf(self, a):
        if not isinstance(a, Sym):
            return np.isinf(a)
        return self._t.binary("equal", self.abs(a), np.inf)

    @_per_element
    def isfinite(self, a):
        if not isinstance(a, Sym):
            return np.isfinite(a)
        return self._t.binary("less", self.abs(a), np.inf)

    def logical_and(self, a, b):
        return self._t.binary("bitwise_and", self._bool(a), self._bool(b))

    def logical_or(self, a, b):
        return self._t.binary("bitwise_or", self._bool(a), self._bool(b))

    def logical_xor(self, a, b):
        return self._t.binary("bitwise_xor", self._bool(a), self._bool(b))

    def logical_not(self, a):
        return self._t.unary("invert", self._bool(a))

    def _bool(self, a):
        return a.astype(bool) if isinstance(a, Sym) else bool(a)

    @_per_element
    def power(self, a, b):
        return self._t.power(a, b)

    @_per_element
    def square(self, a):
        return self._t.binary("multiply", a, a)

    # constructors: one value per neuron
    def asarray(self, x, dtype=None):
        if isinstance(x, Sym):
            return x if dtype is None else self._t.cast(x, np.dtype(dtype))
        if isinstance(x, (numbers.Number, np.generic)):
            return x if dtype is None else self._t.constant(x, dtype)
        raise TraceError(f"xp.asarray of {type(x).__name__} in a compiled step")

    array = asarray

    def zeros(self, shape, dtype=float):
        if isinstance(shape, tuple) and len(shape) == 2:
            return SymVec(self._t, [self._t.constant(0, dtype) for _ in range(int(shape[1]))])
        return self._t.constant(0, dtype)

    def ones(self, shape, dtype=float):
        return self._t.constant(1, dtype)

    def full(self, shape, value, dtype=None):
        return self._t.constant(value, dtype if dtype is not None else np.asarray(value).dtype)

    def zeros_like(self, a, dtype=None):
        return self._t.constant(0, dtype or a.dtype)

    def ones_like(self, a, dtype=None):
        return self._t.constant(1, dtype or a.dtype)

    def full_like(self, a, value, dtype=None):
        return self._t.constant(value, dtype or a.dtype)

    def ndim(self, a):
        return 1 if isinstance(a, Sym) else np.ndim(a)


def _unary_fn(name):
    @_per_element
    def fn(self, a):
        if not isinstance(a, Sym):
            return getattr(np, name)(a)
        return self._t.unary(name, a)
    fn.__name__ = name
    return fn


for _name in _UNARY_MATH:
    setattr(SymXP, _name, _unary_fn(_name))


# --- the kernel --------------------------------------------------------------------------------------------
def _c_name(prefix, index):
    return f"{prefix}{index}"


class NeuronKernelSource:
    """The generated kernel of one population: `source` (C++), `name` (the kernel's symbol) and the order in which
    the runner must pass the model's arrays (`slots`: (kind, key) with kind state / param / derived / scalar)."""

    def __init__(self, name, source, slots):
        self.name, self.source, self.slots = name, source, slots


def _is_scalar_array(value):
    return hasattr(value, "shape") and getattr(value, "ndim", None) == 0


class _Unavailable:
    """A parameter the step must not read per neuron (a ragged sequence per neuron: models read those through
    constants computed from them)."""

    def __init__(self, key):
        self.key = key

    def __getattr__(self, name):
        raise TraceError(f"the step reads the per-neuron sequence parameter {self.key!r} directly")


class _TraceContext(StepContext):
    """The StepContext of a traced step: `uniform(n, draw)` becomes a Philox draw of the population's stream at
    counter (neuron, draw, step), exactly as StepContext.uniform draws on the reference path."""

    def __init__(self, tracer, slots, decls, n_first, **fields):
        super().__init__(**fields)
        self._t, self._slots, self._decls, self._n_first = tracer, slots, decls, n_first
        self._key = None

    def uniform(self, n, draw=0):
        if self._key is None:
            k = len(self._slots)
            self._slots.append(("key", None))
            self._decls.append(f"const unsigned long long key = (unsigned long long)PSG_INT(a, {self._n_first} + "
                               f"{k});  // the population's Philox key")
            self._key = "key"
        t = self._t
        name = f"u{t.count}"
        t.count += 1
        t.lines.append(f"double {name}[2];")
        t.lines.append(f"psg_uniform_pair({self._key}, c.cell0 + i, {int(draw)}, c.step, {name});")
        return Sym(t, f"{name}[0]", np.float64)


def is_shared(arr) -> bool:
    """One value for every neuron (then the kernel takes it as a scalar)."""
    if arr.shape[0] == 0:
        return True
    first = arr.reshape(-1)[:1]
    return bool((arr == first).all()) or (arr.dtype.kind == "f" and bool(np.isnan(arr).all()))


def _each(body):
    """An element-wise loop over i in [0, n) with `body` (lines indented for the loop): on the CPU with OpenMP a
    threaded copy for large n and a vectorised one otherwise (a parallel region, even of one thread, moves the
    loop into an outlined function where the compiler no longer vectorises it)."""
    return (["#if PSG_OPENMP", "    if (n >= PSG_OMP_MIN_ELEMENTS && psg_threads() > 1) {",
             "#pragma omp parallel for simd schedule(static)", "    for (long long i = 0; i < n; ++i) {"]
            + body + ["    }", "    } else", "#endif", "    PSG_FOR_EACH(i, n) {"] + body + ["    }"])


def generate_neuron_kernel(model, state, params, derived, n_receptors: int, dt: float, real_dtype,
                           n: int | None = None, stimulated: bool = True) -> NeuronKernelSource:
    """Trace `model.step` and return its kernel. `state`, `params` and `derived` are the group's arrays: their
    dtypes, and which parameters and constants are the same for every neuron, type the kernel, not their
    values. Without `stimulated` (no current source targets the population) the kernel takes the injected
    current as 0 without reading it. Raises TraceError."""
    if n is None:
        n = next(iter(state.values())).shape[0] if state else next(iter(params.values())).shape[0]
    real = np.dtype(real_dtype)
    if real not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TraceError(f"precision {real} is not supported")
    tracer = Tracer()
    xp = SymXP(tracer)
    slots = []
    decls = []
    loads = []
    n_first = "PSG_NEURON_SLOTS"

    def slot_ptr(kind, key, arr, writable):
        k = len(slots)
        slots.append((kind, key))
        const = "" if writable else "const "
        name = _c_name({"state": "st", "param": "pa", "derived": "de"}[kind], k)
        decls.append(f"{const}{ctype(arr.dtype)}* PSG_RESTRICT {name} = "
                     f"PSG_PTR({const}{ctype(arr.dtype)}, a, {n_first} + {k});  // {kind} {key!r}")
        return name

    def per_neuron(arr):
        return hasattr(arr, "shape") and tuple(arr.shape) == (n,) and hasattr(arr, "dtype")

    def scalar_slot(kind, key, dtype):
        """A value shared by all neurons, passed in a slot (a parameter the same for every neuron, or a 0-d
        derived constant): one register instead of one array read per neuron."""
        k = len(slots)
        slots.append((kind, key))
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            decls.append(f"const {ctype(dtype)} sc{k} = ({ctype(dtype)})PSG_REAL(a, {n_first} + {k});  // {key!r}")
        elif dtype.kind in "iub":
            decls.append(f"const {ctype(dtype)} sc{k} = ({ctype(dtype)})PSG_INT(a, {n_first} + {k});  // {key!r}")
        else:
            raise TraceError(f"{key!r} has dtype {dtype}")
        return Sym(tracer, f"sc{k}", dtype)

    def array_slot(kind, key, arr):
        ptr = slot_ptr(kind, key, arr, False)
        sym = Sym(tracer, f"v_{ptr}", arr.dtype)
        loads.append(f"const {ctype(arr.dtype)} {sym.name} = {ptr}[i];")
        return sym

    def sequence(arr):
        """The width K of an [n, K] array (a short sequence per neuron), or None."""
        if hasattr(arr, "shape") and len(arr.shape) == 2 and arr.shape[0] == n and hasattr(arr, "dtype"):
            return int(arr.shape[1])
        return None

    def sequence_slot(kind, key, arr, writable):
        ptr = slot_ptr(kind, key, arr, writable)
        width = sequence(arr)
        parts = []
        for k in range(width):
            sym = Sym(tracer, f"v_{ptr}_{k}", arr.dtype)
            loads.append(f"const {ctype(arr.dtype)} {sym.name} = {ptr}[i * {width} + {k}];")
            parts.append(sym)
        return ptr, SymVec(tracer, parts)

    sym_state, ptr_state = {}, {}
    for key, arr in state.items():
        if sequence(arr) is not None:
            ptr_state[key], sym_state[key] = sequence_slot("state", key, arr, True)
            continue
        if not per_neuron(arr):
            raise TraceError(f"state {key!r} is not one value (or a sequence of values) per neuron")
        ptr = slot_ptr("state", key, arr, True)
        ptr_state[key] = ptr
        sym = Sym(tracer, f"v_{ptr}", arr.dtype)
        loads.append(f"const {ctype(arr.dtype)} {sym.name} = {ptr}[i];")
        sym_state[key] = sym
    sym_params = {}
    for key, arr in params.items():
        if isinstance(arr, list):
            sym_params[key] = _Unavailable(key)        # ragged: a model reads these through its constants
            continue
        if not per_neuron(arr):
            raise TraceError(f"parameter {key!r} is not one value per neuron")
        sym_params[key] = scalar_slot("param_shared", key, arr.dtype) if is_shared(arr) else \
            array_slot("param", key, arr)
    sym_derived = {}
    for key, value in derived.items():
        if isinstance(value, (bool, np.bool_)) or isinstance(value, numbers.Number) and not isinstance(value, np.generic):
            sym_derived[key] = value              # Python scalars stay Python scalars (weakly typed, compile-time)
        elif isinstance(value, np.generic) or _is_scalar_array(value):
            sym_derived[key] = scalar_slot("derived_scalar", key, value.dtype)
        elif per_neuron(value):
            sym_derived[key] = scalar_slot("derived_shared", key, value.dtype) if is_shared(value) else \
                array_slot("derived", key, value)
        elif sequence(value) is not None:
            sym_derived[key] = sequence_slot("derived", key, value, False)[1]
        else:
            raise TraceError(f"derived constant {key!r} is not one value per neuron")

    syn = [Sym(tracer, f"syn{r}", real) for r in range(n_receptors)]
    i_stim = Sym(tracer, "i_stim_i", real)
    s = dict(sym_state)
    ctx = _TraceContext(tracer, slots, decls, n_first, xp=xp, dt=float(dt), t=None, step=None, rng=None)
    try:
        with np.errstate(all="ignore"):
            spikes = model.step(s, dict(sym_params), dict(sym_derived), syn, i_stim, ctx)
    except TraceError:
        raise
    except Exception as err:          # the step needs something only the reference path has (ctx.t, ctx.rng, ...)
        raise TraceError(f"{type(err).__name__}: {err}") from err
    if set(s) != set(sym_state):
        raise TraceError(f"the step changes the set of state variables ({sorted(set(s) ^ set(sym_state))})")

    stores = []
    for key, value in s.items():
        if value is sym_state[key]:
            continue
        target = state[key].dtype
        if isinstance(sym_state[key], SymVec):
            width = len(sym_state[key].parts)
            if not isinstance(value, SymVec) or len(value.parts) != width:
                raise TraceError(f"state {key!r} changes shape")
            stores += [f"{ptr_state[key]}[i * {width} + {k}] = {tracer.operand(x, target)};"
                       for k, x in enumerate(value.parts)]
            continue
        if isinstance(value, SymVec):
            raise TraceError(f"state {key!r} changes shape")
        if isinstance(value, Sym):
            stores.append(f"{ptr_state[key]}[i] = {tracer.operand(value, target)};")
        elif isinstance(value, (numbers.Number, np.generic)):
            stores.append(f"{ptr_state[key]}[i] = {literal(value, target)};")
        else:
            raise TraceError(f"state {key!r} is set to a {type(value).__name__}")
    if isinstance(spikes, Sym):
        spike_expr = tracer.operand(spikes, np.dtype(np.int32)) if spikes.dtype != np.dtype(bool) \
            else f"({spikes.name} ? 1 : 0)"
    elif isinstance(spikes, (numbers.Number, np.generic)):
        spike_expr = str(int(spikes))
    else:
        raise TraceError(f"the step returns a {type(spikes).__name__}")

    used = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(tracer.lines + stores + [spike_expr])))
    loads = [line for line in loads if line.split(" = ")[0].split()[-1] in used]
    used |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(loads)))
    decls = [line for line in decls if line.split(" = ")[0].split()[-1] in used]
    rt = ctype(real)
    decls += [f"{rt}* PSG_RESTRICT ring{r} = psg_neuron_ring(c, {r});  // this step's slot, receptor {r}"
              for r in range(n_receptors)]
    decls += [f"{rt}* PSG_RESTRICT i_stim = c.i_stim;", "int* PSG_RESTRICT counts = c.counts;",
              "const long long n = c.n;"]
    # the ring slot and the injected current are read and cleared in the update loop itself (one pass over their
    # memory); the loop's iterations are independent, which the compiler is told (PSG_FOR_EACH), so it still
    # vectorises
    update = ["    " * 2 + line for line in
              [f"const {rt} syn{r} = ring{r}[i];" for r in range(n_receptors)]
              + [f"ring{r}[i] = 0;" for r in range(n_receptors)]
              + ([f"const {rt} i_stim_i = i_stim[i];", "i_stim[i] = 0;"] if stimulated
                 else [f"const {rt} i_stim_i = ({rt})0;"])
              + loads + tracer.lines + stores + [f"counts[i] = {spike_expr};"]]
    header = (f"// Step kernel of {type(model).__module__}.{type(model).__qualname__}, generated by "
              f"pynn_sparsegpu.engine.compiled.codegen (dt = {float(dt)!r} ms, {real.name}).\n")
    text = "\n".join([header + '#include "psg_neuron.cuh"\n#include "psg_random.h"', "",
                      "PSG_KERNEL void KERNEL_NAME(const psg_slot* PSG_RESTRICT a)", "{",
                      f"    const psg_neuron_common<{ctype(real)}> c = psg_neuron_unpack<{ctype(real)}>(a);"]
                     + ["    " + d for d in decls]
                     + ["    psg_neuron_begin(c);"] + _each(update) + [
                                                                                "    psg_neuron_publish(c);", "}", ""])
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    name = f"pynn_sparsegpu_neuron_{type(model).__name__.lower()}_{digest}"
    return NeuronKernelSource(name, text.replace("KERNEL_NAME", name), slots)
