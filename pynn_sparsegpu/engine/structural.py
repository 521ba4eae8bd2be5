"""Structural plasticity: synapses formed and eliminated while the network runs, in place on the ragged rows.

A projection with a Rewirer makes `f_rew` rewiring attempts per second of simulated time, gathered into a
batch every `interval` steps and carried out together on the device (array code, the same on NumPy and CuPy).
One attempt:

    1. a target j is drawn uniformly among the projection's postsynaptic neurons;
    2. the partner-selection rule proposes a source i (or none: the attempt ends, counted as `no_partner`);
       i == j is refused when self connections are not allowed (counted as `rejected`);
    3. if (i, j) holds a synapse, it is eliminated with the probability the elimination rule gives for it;
    4. if (i, j) holds none (or with_replacement=True, whatever it holds), a synapse is formed with the
       probability the formation rule gives for the pair; it is appended to row i with the initial weight
       and delay. A full row refuses it (counted as `failed`, nothing is written). Within one batch a pair
       is formed at most once unless with_replacement=True. With `max_in_degree` (sPyNNaker's s_max, per
       projection), a formation onto a target that already holds that many of the projection's synapses
       is refused (counted as `target_full`); eliminations of the batch free their places first.

Rules are plain array code. A rule's `probability(c)` gets a RuleContext `c` whose attributes are arrays
over the attempts it decides (computed on first use): distance, displacement, pre/post index and position,
weight (elimination only), time since the last pre/post spike, and `c.xp` (numpy or cupy) for the maths.
A rule written with `c.xp` runs unchanged on both paths.

Random numbers: every draw of an attempt comes from a Philox4x32-10 stream of the projection (engine/random.py;
key from the projection's seed sequence). Attempt a of the projection's b-th batch (b counts batches since the
Rewirer was made, across runs and resets, so a reset never replays a batch) has the counter (a, 0, b) for its
target and partner uniforms and (a, 1, b) for its elimination and formation uniforms; a uniform u becomes an
index in [0, m) as floor(u m). The compiled kernels (kernels/psg_rewiring.cu) draw the same numbers.

Times and distances are in the units of the face (ms, and the units of the populations' positions).
"""

from __future__ import annotations

import weakref

import numpy as np

from .neurons.group import NEVER
from .plastic import Events
from .random import stream_key, uniform_pair
from .synapses import delay_steps


# --- rules ------------------------------------------------------------------------------------------
class FormationRule:
    """Base for formation rules: subclasses return the probability of forming each candidate synapse."""

    def probability(self, c):
        raise NotImplementedError(f"{type(self).__name__} must define probability(self, c)")


class EliminationRule:
    """Base for elimination rules: subclasses return the probability of eliminating each existing synapse."""

    def probability(self, c):
        raise NotImplementedError(f"{type(self).__name__} must define probability(self, c)")


class PartnerSelection:
    """Base for partner selection: `choose(c, n)` returns n source indices (projection-local), -1 for none.
    `bind(rewirer)` is called once for each projection made with the selection, when it is made."""

    def choose(self, c, n):
        raise NotImplementedError(f"{type(self).__name__} must define choose(self, c, n)")

    def bind(self, rewirer) -> None:
        """A projection now uses this selection (nothing to do unless a selection spans projections)."""


def _check_probability(name, value):
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name}={value!r} is not allowed; it must be a probability within [0, 1]")


def _check_positive(name, value):
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} is not allowed; it must be a number > 0")


class DistanceDependentFormation(FormationRule):
    """p = p_form * exp(-d^2 / (2 sigma_form^2)), d the distance between the positions of the pre and post
    neurons in the projection's Space (periodic boundaries as the Space defines). A projection from a
    population onto itself uses the lateral parameters, any other the forward ones (sPyNNaker's names)."""

    def __init__(self, p_form_forward=0.16, sigma_form_forward=2.5, p_form_lateral=1.0, sigma_form_lateral=1.0):
        _check_probability("p_form_forward", p_form_forward)
        _check_probability("p_form_lateral", p_form_lateral)
        _check_positive("sigma_form_forward", sigma_form_forward)
        _check_positive("sigma_form_lateral", sigma_form_lateral)
        self.p_form_forward, self.sigma_form_forward = float(p_form_forward), float(sigma_form_forward)
        self.p_form_lateral, self.sigma_form_lateral = float(p_form_lateral), float(sigma_form_lateral)

    def probability(self, c):
        p, sigma = ((self.p_form_lateral, self.sigma_form_lateral) if c.lateral
                    else (self.p_form_forward, self.sigma_form_forward))
        return p * c.xp.exp(-c.distance ** 2 / (2.0 * sigma ** 2))


class RandomByWeightElimination(EliminationRule):
    """p = prob_elim_depressed where weight < threshold, else prob_elim_potentiated (on |weight|)."""

    def __init__(self, threshold, prob_elim_depressed=0.0245, prob_elim_potentiated=1.36e-4):
        if not (isinstance(threshold, (int, float)) and np.isfinite(threshold)):
            raise ValueError(f"threshold={threshold!r} is not allowed; it must be a finite number")
        _check_probability("prob_elim_depressed", prob_elim_depressed)
        _check_probability("prob_elim_potentiated", prob_elim_potentiated)
        self.threshold = float(threshold)
        self.prob_elim_depressed, self.prob_elim_potentiated = float(prob_elim_depressed), float(prob_elim_potentiated)

    def probability(self, c):
        return c.xp.where(c.xp.abs(c.weight) < self.threshold, self.prob_elim_depressed, self.prob_elim_potentiated)


def index_draw(xp, u, m):
    """Indices in [0, m) from uniforms u on [0, 1): floor(u m) (the kernels compute the same product)."""
    return (u * m).astype(xp.int64)


class RandomSelection(PartnerSelection):
    """A source drawn uniformly among the projection's presynaptic neurons."""

    def choose(self, c, n):
        return index_draw(c.xp, c.partner_uniform, c.n_pre)


class LastNeuronSelection(PartnerSelection):
    """A source drawn uniformly among the presynaptic neurons that fired within the last `window` ms
    (default: since the previous rewiring batch); none when no source fired."""

    def __init__(self, window=None):
        if window is not None:
            _check_positive("window", window)
        self.window = window

    def choose(self, c, n):
        xp = c.xp
        window = c.interval if self.window is None else self.window
        recent = xp.nonzero(c.pre_last_spike_all >= c.t - window + 1e-9 * c.dt)[0]
        m = int(recent.shape[0])                              # synchronize! (once per batch)
        if m == 0:
            return xp.full(n, -1, dtype=xp.int64)
        return recent[index_draw(xp, c.partner_uniform, m)].astype(xp.int64)


class SlotSelection(PartnerSelection):
    """Bamford, Murray & Willshaw (2010)'s slot-based rewiring (also sPyNNaker's): every target has `s_max`
    synapse slots, shared by all the projections given this one SlotSelection object that end on it.

    An attempt on target j draws one of its slots uniformly (the slots are ordered: first the synapses of this
    projection onto j, by source index, then those of the other sharing projections, then the empty slots):
      * a slot holding a synapse of this projection proposes that synapse's source: the engine then applies
        the elimination rule to it;
      * a slot holding a synapse of another sharing projection proposes nothing (`no_partner`): that
        synapse belongs to the other projection's attempts;
      * an empty slot proposes a source drawn uniformly among the sources of all the sharing projections
        (their sources counted one after another, in the order the projections were made): a source of this
        projection is proposed (the engine then applies the formation rule, or, if the pair already holds a
        synapse, the elimination rule), a source of another projection gives `no_partner`.
    With every sharing projection at f_rew attempts per second, each synapse is thus tested for elimination,
    and each empty slot offered to each possible source, at the rates of one stream of f_rew attempts per
    second in Bamford's model. A target holding more than s_max synapses (from the connector, or from two
    formations of one batch onto its last free slot) has one slot per synapse until eliminations bring it
    back to s_max.

    The slot and the source of an attempt both come from its partner uniform u of the projection's Philox
    stream: slot floor(u m) for m slots, then the fractional part of u m (uniform and independent of the
    slot) picks the source. Runs as array code on the reference path (no compiled kernel), once per batch:
    the in-degrees are counted from the rows of every sharing projection, O(synapses) per batch.
    """

    def __init__(self, s_max=32):
        if isinstance(s_max, bool) or not isinstance(s_max, (int, np.integer)) or s_max < 1:
            raise ValueError(f"s_max={s_max!r} is not allowed; it must be a whole number of slots >= 1")
        self.s_max = int(s_max)
        self._sharing = weakref.WeakKeyDictionary()      # target NeuronGroup -> [weakref to Rewirer], made order

    def __repr__(self):
        return f"SlotSelection(s_max={self.s_max})"

    def bind(self, rewirer) -> None:
        """Projections given this selection share the slots of their targets: they must end on the same cells."""
        members = [ref for ref in self._sharing.get(rewirer.post_group, []) if ref() is not None]
        xp = rewirer.xp
        for ref in members:
            other = ref()
            if other.post_ix.shape != rewirer.post_ix.shape or \
                    not bool(xp.all(xp.sort(other.post_ix) == xp.sort(rewirer.post_ix))):
                raise ValueError(f"{self!r} is shared by projections onto different cells of one population "
                                 f"({other.n_post} and {rewirer.n_post} targets): projections that share the "
                                 "slots of their targets must end on the same cells; give each set of targets "
                                 "a SlotSelection of its own")
        self._sharing[rewirer.post_group] = members + [weakref.ref(rewirer)]

    def sharing(self, rewirer) -> list:
        """The rewirers that share the slots of `rewirer`'s targets (itself included), in the order made."""
        members = [ref() for ref in self._sharing.get(rewirer.post_group, [])]
        members = [m for m in members if m is not None]
        return members if any(m is rewirer for m in members) else [rewirer]

    @staticmethod
    def _targets(rewirer):
        """(rows, slots, targets) of every synapse of the projection, in row order (engine indices)."""
        rows = rewirer.group.rows
        row, slot = rows.synapse_slots()
        return row, slot, rows.ind[row, slot].astype(rewirer.xp.int64)

    def choose(self, c, n):
        xp, r = c.xp, c._r
        n_targets = r.post_group.n
        row, _, target = self._targets(r)
        own = xp.bincount(target, minlength=n_targets)
        total = own.copy()
        offset = n_sources = 0
        for other in self.sharing(r):
            if other is r:
                offset = n_sources
            else:
                total += xp.bincount(self._targets(other)[2], minlength=n_targets)
            n_sources += other.n_pre
        j = r.post_ix[c.post]                                   # engine index of each attempt's target
        d_own, d_total = own[j], total[j]
        slots = xp.maximum(d_total, self.s_max)
        x = c.partner_uniform * slots
        slot = xp.minimum(xp.floor(x).astype(xp.int64), slots - 1)
        pre = xp.full(n, -1, dtype=xp.int64)
        hit = xp.nonzero(slot < d_own)[0]                       # this projection's synapse: its source
        if hit.shape[0]:
            by_target = xp.argsort(target, kind="stable")        # by target, then source row, then slot
            start = xp.cumsum(own) - own
            source_row = row[by_target[start[j[hit]] + slot[hit]]]
            local = xp.full(getattr(r.pre_group, "n_total", r.pre_group.n), -1, dtype=xp.int64)
            local[r.pre_ix] = xp.arange(r.n_pre, dtype=xp.int64)
            pre[hit] = local[source_row]
        drawn = xp.minimum(index_draw(xp, x - xp.floor(x), n_sources), n_sources - 1) - offset
        offered = (slot >= d_total) & (drawn >= 0) & (drawn < r.n_pre)   # an empty slot, a source of ours
        return xp.where(offered, drawn, pre)


# --- what a rule sees -------------------------------------------------------------------------------
class RuleContext:
    """Arrays over the attempts a rule decides, computed when first read.

    xp, rng, t (ms), dt, interval (ms), lateral (bool), n_pre, n_post
    pre, post                    projection-local indices of each candidate pair
    partner_uniform              (partner selection) one uniform on [0, 1) per attempt from the projection's
                                 rewiring stream: what the built-in selections turn into a source
    pre_position, post_position  (n, 3) positions (post scaled and offset as the Space says)
    displacement                 (n, 3) pre minus post position per axis, wrapped to [-L/2, L/2] on periodic axes
    distance                     Euclidean norm of the displacement over the Space's axes
    weight                       weight of the synapse (elimination rules only) as of t, with the
                                 potentiation lazy STDP owes it included
    time_since_pre_spike         ms since the source last fired (inf if never)
    time_since_post_spike        ms since the target last fired (inf if never)
    """

    def __init__(self, rewirer, pre, post, t, weight=None, partner_uniform=None):
        self._r, self.pre, self.post, self.t = rewirer, pre, post, t
        self.partner_uniform = partner_uniform
        self.xp, self.rng, self.dt, self.lateral = rewirer.xp, rewirer.rng, rewirer.dt, rewirer.lateral
        self.interval = rewirer.interval * rewirer.dt
        self.n_pre, self.n_post = rewirer.n_pre, rewirer.n_post
        self.weight = weight

    @property
    def pre_position(self):
        return self._r.geometry.pre_pos[self.pre]

    @property
    def post_position(self):
        return self._r.geometry.post_pos[self.post]

    @property
    def displacement(self):
        if "_disp" not in self.__dict__:
            self._disp = self._r.geometry.displacement(self.pre, self.post)
        return self._disp

    @property
    def distance(self):
        if "_dist" not in self.__dict__:
            axes = self._r.geometry.axes
            self._dist = self.xp.sqrt((self.displacement[:, axes] ** 2).sum(axis=1))
        return self._dist

    @property
    def pre_last_spike_all(self):
        """Last spike time (ms) of every projection source, -inf if never (for partner selection)."""
        return self._r.last_spike_ms(self._r.pre_group, self._r.pre_ix)

    @property
    def time_since_pre_spike(self):
        return self.t - self._r.last_spike_ms(self._r.pre_group, self._r.pre_ix)[self.pre]

    @property
    def time_since_post_spike(self):
        return self.t - self._r.last_spike_ms(self._r.post_group, self._r.post_ix)[self.post]


class Geometry:
    """Positions of a projection's sources and targets and its Space's metric (axes, periodic spans)."""

    def __init__(self, xp, pre_pos, post_pos, axes=(0, 1, 2), spans=(None, None, None)):
        self.xp = xp
        self.pre_pos = xp.asarray(np.asarray(pre_pos, float).reshape(-1, 3))
        self.post_pos = xp.asarray(np.asarray(post_pos, float).reshape(-1, 3))
        self.axes = list(axes)
        self.spans = [None if s is None else float(s) for s in spans]

    def displacement(self, pre, post):
        d = self.pre_pos[pre] - self.post_pos[post]
        for axis, span in enumerate(self.spans):
            if span is not None:
                d[:, axis] -= span * self.xp.round(d[:, axis] / span)
        return d


# --- the engine object ------------------------------------------------------------------------------
class Rewirer:
    """The rewiring of one SynapseGroup (see the module docstring for what an attempt does).

    Counters (host ints, totals since creation): attempts, formations, eliminations, failed (row full),
    rejected (self connection refused, or pair already formed in the batch), no_partner, target_full (the
    target held max_in_degree synapses).

    `key` is the projection's Philox key and `batches` the number of batches carried out so far (the counter
    of the next batch's draws); the compiled path (compiled/rewiring.py) keeps both, and `_due`, in step.
    """

    COUNTERS = ("attempts", "formations", "eliminations", "failed", "rejected", "no_partner", "target_full")

    def __init__(self, group, seed_sequence, *, formation=None, elimination=None, partner=None, f_rew=1000.0,
                 interval_ms=1.0, initial_weight=0.0, initial_delay_ms=None, allow_self_connections=True,
                 with_replacement=False, pre_ix=None, post_ix=None, geometry=None, model_values=None,
                 max_in_degree=None):
        self.group, self.backend, self.xp = group, group.backend, group.backend.xp
        self.pre_group, self.post_group = group.pre, group.post
        self.formation, self.elimination = formation, elimination
        self.partner = partner or RandomSelection()
        self.f_rew, self.interval_ms = float(f_rew), float(interval_ms)
        self.initial_weight, self.initial_delay_ms = float(initial_weight), initial_delay_ms
        self.allow_self, self.with_replacement = allow_self_connections, bool(with_replacement)
        self.max_in_degree = None if max_in_degree is None else int(max_in_degree)
        self.in_degree = None       # synapses per target (engine post index), kept while max_in_degree is set
        xp = self.xp
        n_pre, n_post = getattr(group.pre, "n_total", group.pre.n), getattr(group.post, "n_total", group.post.n)
        self.pre_ix = xp.asarray(np.arange(n_pre) if pre_ix is None else np.asarray(pre_ix), dtype=xp.int64)
        self.post_ix = xp.asarray(np.arange(n_post) if post_ix is None else np.asarray(post_ix), dtype=xp.int64)
        self.n_pre, self.n_post = int(self.pre_ix.shape[0]), int(self.post_ix.shape[0])
        self.lateral = group.pre is group.post
        self.geometry = geometry or Geometry(xp, np.zeros((self.n_pre, 3)), np.zeros((self.n_post, 3)))
        self.model_values = dict(model_values or {})
        self._seed = seed_sequence
        self.rng = self.backend.rng(seed_sequence)            # for user partner rules that draw for themselves
        self.key = stream_key(seed_sequence.spawn(1)[0])      # the attempts' own draws (Philox)
        self.batches = 0
        self.totals = dict.fromkeys(self.COUNTERS, 0)
        self._due = 0.0
        self.dt = None
        self.interval = 1
        self.recorder = None
        bind = getattr(self.partner, "bind", None)
        if bind is not None:                      # (may refuse the projection: before anything changes)
            bind(self)
        for g in {id(self.pre_group): self.pre_group, id(self.post_group): self.post_group}.values():
            g.track_last_spike()

    def prepare(self, dt: float) -> None:
        self.dt = dt
        self.interval = max(int(round(self.interval_ms / dt)), 1)
        if self.max_in_degree is not None:        # counted afresh at each run: connectivity may have been set
            rows, xp = self.group.rows, self.xp
            self.in_degree = xp.bincount(rows.ind[rows.synapse_slots()].astype(xp.int64),
                                         minlength=self.post_group.n)

    def last_spike_ms(self, group, index):
        stamps = group.last_spike[index]
        return self.xp.where(stamps == NEVER, -np.inf, stamps * self.dt)   # a spike of step k is at (k + 1) dt

    # --- one batch ----------------------------------------------------------------------------------
    def after_step(self, step: int) -> None:
        if (step + 1) % self.interval == 0:
            self.rewire(step)
        if self.recorder is not None:
            self.recorder.after_step(self, step)

    def attempts_per_batch(self) -> float:
        """Attempts owed per batch (the fraction carries over to the next batch)."""
        return self.f_rew * self.interval * self.dt / 1000.0

    def uniforms(self, n: int, batch: int):
        """The uniforms of the n attempts of batch number `batch`: (target, partner, elimination, formation)."""
        index = self.xp.arange(n, dtype=self.xp.int64)
        u_target, u_partner = uniform_pair(self.key, index, 0, batch, self.xp)
        u_elim, u_form = uniform_pair(self.key, index, 1, batch, self.xp)
        return u_target, u_partner, u_elim, u_form

    def rewire(self, step: int) -> dict:
        """Carry out the attempts due at the end of `step`; returns this batch's counts."""
        xp, rows = self.xp, self.group.rows
        self._due += self.attempts_per_batch()
        n = int(self._due)
        self._due -= n
        batch = self.batches
        self.batches += 1
        counts = dict.fromkeys(self.COUNTERS, 0)
        counts["attempts"] = n
        if n == 0 or (self.formation is None and self.elimination is None):
            return self._count(counts)
        t = (step + 1) * self.dt
        u_target, u_partner, u_elim, u_form = self.uniforms(n, batch)
        post = index_draw(xp, u_target, self.n_post)
        pre = xp.asarray(self.partner.choose(RuleContext(self, None, post, t, partner_uniform=u_partner), n),
                         dtype=xp.int64)
        has_partner = pre >= 0
        pre = xp.where(has_partner, pre, 0)
        i, j = self.pre_ix[pre], self.post_ix[post]                       # engine indices
        allowed = has_partner & ((i != j) | bool(self.allow_self) | (not self.lateral))
        # the pair's synapse, if any: the first slot of row i holding j
        cols = xp.arange(rows.capacity)
        match = (rows.ind[i] == j[:, None]) & (cols[None, :] < rows.row_length[i][:, None])
        exists = match.any(axis=1) & allowed
        slot = xp.argmax(match, axis=1)
        kill = xp.zeros(n, dtype=bool)
        if self.elimination is not None:
            e = xp.nonzero(exists)[0]
            if e.shape[0]:
                c = RuleContext(self, pre[e], post[e], t, weight=self._current_weight(i[e], slot[e], step))
                p = xp.asarray(self.elimination.probability(c), dtype=float)
                kill[e] = u_elim[e] < p
            # two attempts on one synapse in a batch eliminate it once
            key = xp.where(kill, i * rows.capacity + slot, -1)
            kill &= _first_occurrence(xp, key)
        form = xp.zeros(n, dtype=bool)
        if self.formation is not None:
            candidates = allowed & (~exists if not self.with_replacement else True)
            f = xp.nonzero(candidates)[0]
            if f.shape[0]:
                p = xp.asarray(self.formation.probability(RuleContext(self, pre[f], post[f], t)), dtype=float)
                form[f] = u_form[f] < p
            if not self.with_replacement:
                duplicate = form & ~_first_occurrence(xp, xp.where(form, i * self.post_group.n + j, -1))
                counts["rejected"] += int(duplicate.sum())
                form &= ~duplicate
        counts["rejected"] += int((has_partner & ~allowed).sum())
        counts["no_partner"] = int((~has_partner).sum())
        kr, ks = i[kill], slot[kill]
        if kr.shape[0]:
            kj = rows.ind[kr, ks].astype(xp.int64)
            self._log(step, kr, kj, formed=False)
            counts["eliminations"] = rows.remove_at(kr, ks)
            if self.in_degree is not None:
                self.in_degree -= xp.bincount(kj, minlength=self.post_group.n)
        if self.in_degree is not None and bool(form.any()):
            full = form & ~_within_room(xp, j, form, self.max_in_degree - self.in_degree)
            counts["target_full"] = int(full.sum())
            form &= ~full
        fi, fj = i[form], j[form]
        if fi.shape[0]:
            stored = rows.add_synapses(fi, fj, self._initial_values(fi.shape[0], step), check=False)
            counts["formations"] = int(stored.sum())
            counts["failed"] = int(stored.size - counts["formations"])
            keep = self.xp.asarray(stored)
            self._log(step, fi[keep], fj[keep], formed=True)
            if self.in_degree is not None:
                self.in_degree += xp.bincount(fj[keep], minlength=self.post_group.n)
        return self._count(counts)

    def _current_weight(self, rows_i, slots, step):
        """Weights of the synapses at (row, slot) at the end of `step`; for a model that applies its weight
        changes lazily (STDP: potentiation at the next presynaptic spike) with what it owes them by then."""
        model = self.group.model
        if not hasattr(model, "current_weight"):
            return self.group.rows.vars["weight"][rows_i, slots]
        return model.current_weight(Events(self.group, rows_i, slots, step))

    def initial_delay_steps(self, dt) -> int:
        return max(int(delay_steps(self.initial_delay_ms, dt)), 1) if self.initial_delay_ms else 1

    def _initial_values(self, n, step):
        values = {"weight": self.initial_weight, "delay": self.initial_delay_steps(self.dt)}
        model = self.group.model
        values.update({name: self.model_values.get(name, default) for name, default in model.parameters.items()})
        values.update(model.state)
        if "_tlast" in model.state:
            values["_tlast"] = step + 1            # a new synapse's clock starts now
        return values

    def _count(self, counts):
        for name, value in counts.items():
            self.totals[name] += int(value)
        if self.recorder is not None:
            self.recorder.add(counts)
        return counts

    def _log(self, step, pre_e, post_e, formed):
        if self.recorder is not None and self.recorder.events:
            self.recorder.log((step + 1) * self.dt, self.backend.to_host(pre_e), self.backend.to_host(post_e), formed)

    def reset(self) -> None:
        """Connectivity persists across reset() (as weights do), and so does the random stream (restarting it
        would replay the first run's attempts on the connectivity they produced); the recorder opens a new
        segment."""
        self._due = 0.0
        if self.recorder is not None:
            self.recorder.close()


def _within_room(xp, key, mask, room):
    """True where mask holds and the entry is among the first `room` entries of its key, in order (`room`
    an int, or an array indexed by key)."""
    n = key.shape[0]
    k = xp.where(mask, key, -1)
    order = xp.argsort(k, kind="stable")
    sk = k[order]
    start = xp.ones(n, dtype=bool)
    start[1:] = sk[1:] != sk[:-1]
    rank = xp.arange(n) - xp.nonzero(start)[0][xp.cumsum(start) - 1]     # place within the key's run
    ok = xp.empty(n, dtype=bool)
    ok[order] = rank < (room[xp.maximum(sk, 0)] if hasattr(room, "shape") else room)
    return ok & mask


def _first_occurrence(xp, key):
    """True at the first occurrence of each key >= 0 (and at every key < 0)."""
    return _within_room(xp, key, key >= 0, 1) | (key < 0)


class RewiringRecorder:
    """Counts per sampling interval (formations, eliminations, failed, attempts) and the size of the
    projection at each sample, and optionally every event (time, pre, post, formed), per run segment (a
    reset closes the segment and opens a new one; nothing recorded is dropped)."""

    FIELDS = ("formations", "eliminations", "failed", "attempts")

    def __init__(self, interval_steps: int, events: bool, size: int):
        self.interval, self.events = max(int(interval_steps), 1), bool(events)
        self.size = int(size)
        self.segments = []
        self._start()

    def _start(self):
        self.samples = {name: [] for name in (*self.FIELDS, "size")}
        self._open = dict.fromkeys(self.FIELDS, 0)
        self.event_log = []      # (times, pre engine index, post engine index, formed flag[, attempt]) chunks
        self.first_step = None   # the first step of the segment seen by the recorder

    def add(self, counts):
        for name in self._open:
            self._open[name] += int(counts[name])
        self.size += int(counts["formations"]) - int(counts["eliminations"])

    def after_step(self, rewirer, step):
        if self.first_step is None:
            self.first_step = step - step % self.interval
        if (step + 1) % self.interval == 0:
            for name, value in self._open.items():
                self.samples[name].append(value)
                self._open[name] = 0
            self.samples["size"].append(self.size)

    def log(self, t, pre, post, formed):
        self.event_log.append((np.full(pre.shape, t), pre.astype(np.int64), post.astype(np.int64),
                               np.full(pre.shape, formed)))

    def current(self) -> dict:
        """This segment so far: {"samples": {name: list}, "events": (t, pre, post, formed), "attempts": the
        attempt of each event within its batch (None where the log does not have them), "first_step"}."""
        if self.event_log:
            events = tuple(np.concatenate([chunk[k] for chunk in self.event_log]) for k in range(4))
            attempts = np.concatenate([chunk[4] for chunk in self.event_log]) \
                if all(len(chunk) > 4 for chunk in self.event_log) else None
        else:
            events = (np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
            attempts = np.zeros(0, np.int64)
        return {"samples": {k: list(v) for k, v in self.samples.items()}, "events": events, "attempts": attempts,
                "first_step": self.first_step}

    def close(self) -> list:
        """All segments including the current one (which this closes)."""
        self.segments.append(self.current())
        self._start()
        return self.segments

    def clear(self):
        self.segments = []
        self._start()
