// Structural plasticity on the device: the rewiring batches of one projection (the compiled twin of
// engine/structural.py, Rewirer.rewire), carried out on the ragged rows in place, inside the compiled step loop,
// with no host synchronisation. The runner calls the six kernels below, in this order, at the batch steps only
// (Kernel(period=interval, phase=1): the steps k with (k + 1) % interval == 0); the host reads the counters and
// the event buffer only when the rewiring recorder samples and at the end of a run (compiled/rewiring.py).
//
//   begin    the batch's number of attempts from the fractional accumulator kept here (due += f_rew interval dt;
//            n = floor(due); due -= n), the batch's number in the projection's stream, per-batch counters
//            cleared; for LastNeuronSelection the sources that fired within the window, compacted in index order
//   decide   per attempt a: its four Philox uniforms (counter (a, 0, batch) for target and partner, (a, 1, batch)
//            for elimination and formation), target j, partner i, self-connection refusal, the pair's synapse
//            in the rows as they were before the batch (first slot of row i holding j), the elimination decision
//            (the rule on the synapse's weight as of the attempt) and the formation decision (the rule on the
//            pair's distance); the attempt joins the list of its row's attempts (and of its target's, with
//            max_in_degree)
//   resolve  a synapse two attempts eliminate is eliminated once (by the first); a pair two attempts form is
//            formed once (by the first, unless with_replacement: the others are `rejected`); each elimination
//            is logged (pre, post as before the batch), frees its place at the target and marks its slot
//   settle   the rows with eliminations lose them by the swap-with-last rule of RaggedRows.remove_synapses
//            (every per-synapse variable moves with its synapse); formations onto a target are taken in
//            attempt order up to max_in_degree minus what the target holds now (the others: `target_full`)
//   append   formations are appended to their rows in attempt order at the rows' new ends; a formation past a
//            full row is refused (`failed`, nothing written)
//   commit   row lengths, formation events, counters into the totals and the recorder's open interval; the
//            per-row and per-target attempt lists are cleared for the next batch
//
// Everything that depends on attempt order (the first of equal keys, rank among a row's formations, rank among a
// target's formations) is computed from lists of the attempts that share a row (or a target), built in `decide`
// and read only in later launches: each attempt counts the earlier attempts of its lists, so the result is the
// same whatever order threads run in, and the work is n + the sum over rows of (attempts on the row)^2. Events
// carry their attempt index: the host sorts a batch's events (eliminations first, then formations, each in
// attempt order) as the reference logs them. On the CPU every loop runs in index order.
//
// On CUDA `begin` must be launched as a single block (the compaction scans in one block); the others take any
// grid. Kernels are pynn_sparsegpu_rewiring_<op>_{f32,f64}; REAL is the type of the weights.
//
// Argument slots (the same slot array for all six):
//    0 clock (long long*)           1 st (long long*, PSG_RW_ST_*)   2 due (double*)      3 attempts per batch (real)
//    4 n_max (attempt array size)   5 Philox key                    6 options (PSG_RW_*)
//    7 n_pre, 8 n_post (projection-local)     9 pre_ix, 10 post_ix (long long*: local -> engine index)
//   11 ind (row-major postsynaptic indices)  12 index bytes         13 row_length (int*) 14 capacity
//   15 weight (REAL*)              16 number of per-synapse variables
//   17 their table: per variable 4 slots: pointer, element bytes, bits of a new synapse's value, kind
//      (0: the bits, 1: step + 1, the clock of a synapse formed now)
//   18 in_degree (long long*, per engine target; 0 without max_in_degree)        19 max_in_degree
//   20 pre_pos, 21 post_pos (double*, [n, 3])  22-24 periodic span per axis (real, NaN: not periodic)
//   25 number of axes the distance runs over  26-28 those axes
//   29 p_form, 30 2 sigma_form^2 (DistanceDependentFormation, lateral or forward parameters)
//   31 threshold, 32 p_elim_depressed, 33 p_elim_potentiated (RandomByWeightElimination)
//   34 last_spike (long long*, the pre group's stamps; LastNeuronSelection)  35 window (ms)  36 dt (ms)
//   37 recent (int*, n_pre)
//   38 att_i, 39 att_j (long long*, n_max), 40 att_slot (int*), 41 att_flags, 42 att_resolve, 43 att_settle,
//   44 att_append (int*), 45 att_length (long long*)
//   46 next_row (int*, n_max), 47 head_row (int*, per engine source, -1), 48 next_tgt, 49 head_tgt (per engine
//      target, -1)
//   50 mask (unsigned char*, n_pre x capacity, 0)   51 touched (int*, rows)   52 touched_flag (int*, rows, 0)
//   53 ev_step, 54 ev_pre, 55 ev_post, 56 ev_attempt (long long*), 57 ev_formed (unsigned char*), 58 ev capacity
//   59 STDP (psg_slot*: the PSG_STDP_SLOTS slots of psg_stdp.cuh for an STDP projection, else 0)
//   60 delay (int*, per synapse: the whole delay, the dendritic one for STDP here; used with 59)
//   61 post_cell0, 62 post_n: this process holds the target cells [post_cell0, post_cell0 + post_n) (engine
//      indices); with several processes each carries out the attempts onto its own cells (the others are
//      skipped without a count), and target indices in the rows, in_degree and the per-target lists are
//      local (engine index - post_cell0). With one process: 0 and the population's size.
//   63 global_position (long long*, n_max, or 0): with several processes, the place each formation with room
//      takes in the whole row (the row's synapses on all processes after the eliminations, plus the row's
//      earlier formations on all processes), written by the host between settle and append
//      (compiled/rewiring.py): a formation is refused when that place is past the capacity, as in one
//      process, and stored at its place in this process's part of the row.

#include "psg_portable.h"
#include "psg_random.h"
#include "psg_stdp.cuh"

#define PSG_RW_NEVER (-(1LL << 40))      // NeuronGroup's "never fired" stamp

// options
#define PSG_RW_FORMATION 1
#define PSG_RW_ELIMINATION 2
#define PSG_RW_LAST_NEURON 4
#define PSG_RW_ALLOW_SELF 8
#define PSG_RW_LATERAL 16
#define PSG_RW_WITH_REPLACEMENT 32
#define PSG_RW_MAX_IN_DEGREE 64
#define PSG_RW_EVENTS 128

// st[]: state kept on the device between batches and runs (the host copies it in and out at run boundaries)
#define PSG_RW_ST_N 0            // attempts of this batch
#define PSG_RW_ST_SERIAL 1       // batches carried out so far (the next batch's stream counter)
#define PSG_RW_ST_BATCH 2        // this batch's stream counter
#define PSG_RW_ST_N_RECENT 3     // sources that fired within the window
#define PSG_RW_ST_N_TOUCHED 4    // rows with eliminations in this batch
#define PSG_RW_ST_EV_N 5         // events written to the buffer since the host last read it
#define PSG_RW_ST_SIZE 6         // synapses of the projection (for the recorder)
#define PSG_RW_ST_ERROR 7        // 1: more attempts than the attempt arrays hold; 2: the event buffer overflowed
#define PSG_RW_ST_BATCH_COUNTS 8 // 7 counters of this batch, in Rewirer.COUNTERS order:
#define PSG_RW_ST_TOTALS 15      //   attempts, formations, eliminations, failed, rejected, no_partner, target_full
#define PSG_RW_ST_OPEN 22        // 4 counters of the recorder's open interval: formations, eliminations, failed,
#define PSG_RW_ST_SLOTS 26       //   attempts (RewiringRecorder.FIELDS)
#define PSG_RW_C_ATTEMPTS 0
#define PSG_RW_C_FORMATIONS 1
#define PSG_RW_C_ELIMINATIONS 2
#define PSG_RW_C_FAILED 3
#define PSG_RW_C_REJECTED 4
#define PSG_RW_C_NO_PARTNER 5
#define PSG_RW_C_TARGET_FULL 6

// att_flags (decide)
#define PSG_RW_HAS_PARTNER 1
#define PSG_RW_ALLOWED 2
#define PSG_RW_EXISTS 4
#define PSG_RW_KILL 8
#define PSG_RW_FORM 16
// att_resolve, att_settle, att_append
#define PSG_RW_KILL_FIRST 1
#define PSG_RW_FORM_FIRST 2
#define PSG_RW_ROOM 1
#define PSG_RW_STORED 1
#define PSG_RW_LAST_OF_ROW 2

#define PSG_RW_VAR_SLOTS 4

struct psg_rw {
    long long step;
    long long* st;
    double* due;
    double per_batch;
    long long n_max;
    unsigned long long key;
    long long opt;
    long long n_pre, n_post;
    const long long* pre_ix;
    const long long* post_ix;
    void* ind;
    int index_bytes;
    int* row_length;
    long long capacity;
    void* weight;
    long long n_vars;
    const psg_slot* vars;
    long long* in_degree;
    long long max_in_degree;
    const double* pre_pos;
    const double* post_pos;
    double span[3];
    long long n_axes;
    long long axes[3];
    double p_form, two_sigma2, threshold, p_dep, p_pot;
    const long long* last_spike;
    double window, dt;
    int* recent;
    long long* att_i;
    long long* att_j;
    int* att_slot;
    int* att_flags;
    int* att_resolve;
    int* att_settle;
    int* att_append;
    long long* att_length;
    int* next_row;
    int* head_row;
    int* next_tgt;
    int* head_tgt;
    unsigned char* mask;
    int* touched;
    int* touched_flag;
    long long* ev_step;
    long long* ev_pre;
    long long* ev_post;
    long long* ev_attempt;
    unsigned char* ev_formed;
    long long ev_capacity;
    const psg_slot* stdp;
    const int* delay;
    long long post_cell0, post_n;
    const long long* global_position;
};

PSG_FN psg_rw psg_rw_unpack(const psg_slot* a)
{
    psg_rw r;
    r.step = *PSG_PTR(const long long, a, 0);
    r.st = PSG_PTR(long long, a, 1);
    r.due = PSG_PTR(double, a, 2);
    r.per_batch = PSG_REAL(a, 3);
    r.n_max = PSG_INT(a, 4);
    r.key = (unsigned long long)a[5];
    r.opt = PSG_INT(a, 6);
    r.n_pre = PSG_INT(a, 7);
    r.n_post = PSG_INT(a, 8);
    r.pre_ix = PSG_PTR(const long long, a, 9);
    r.post_ix = PSG_PTR(const long long, a, 10);
    r.ind = PSG_PTR(void, a, 11);
    r.index_bytes = (int)PSG_INT(a, 12);
    r.row_length = PSG_PTR(int, a, 13);
    r.capacity = PSG_INT(a, 14);
    r.weight = PSG_PTR(void, a, 15);
    r.n_vars = PSG_INT(a, 16);
    r.vars = PSG_PTR(const psg_slot, a, 17);
    r.in_degree = PSG_PTR(long long, a, 18);
    r.max_in_degree = PSG_INT(a, 19);
    r.pre_pos = PSG_PTR(const double, a, 20);
    r.post_pos = PSG_PTR(const double, a, 21);
    for (int k = 0; k < 3; ++k) {
        r.span[k] = PSG_REAL(a, 22 + k);
        r.axes[k] = PSG_INT(a, 26 + k);
    }
    r.n_axes = PSG_INT(a, 25);
    r.p_form = PSG_REAL(a, 29);
    r.two_sigma2 = PSG_REAL(a, 30);
    r.threshold = PSG_REAL(a, 31);
    r.p_dep = PSG_REAL(a, 32);
    r.p_pot = PSG_REAL(a, 33);
    r.last_spike = PSG_PTR(const long long, a, 34);
    r.window = PSG_REAL(a, 35);
    r.dt = PSG_REAL(a, 36);
    r.recent = PSG_PTR(int, a, 37);
    r.att_i = PSG_PTR(long long, a, 38);
    r.att_j = PSG_PTR(long long, a, 39);
    r.att_slot = PSG_PTR(int, a, 40);
    r.att_flags = PSG_PTR(int, a, 41);
    r.att_resolve = PSG_PTR(int, a, 42);
    r.att_settle = PSG_PTR(int, a, 43);
    r.att_append = PSG_PTR(int, a, 44);
    r.att_length = PSG_PTR(long long, a, 45);
    r.next_row = PSG_PTR(int, a, 46);
    r.head_row = PSG_PTR(int, a, 47);
    r.next_tgt = PSG_PTR(int, a, 48);
    r.head_tgt = PSG_PTR(int, a, 49);
    r.mask = PSG_PTR(unsigned char, a, 50);
    r.touched = PSG_PTR(int, a, 51);
    r.touched_flag = PSG_PTR(int, a, 52);
    r.ev_step = PSG_PTR(long long, a, 53);
    r.ev_pre = PSG_PTR(long long, a, 54);
    r.ev_post = PSG_PTR(long long, a, 55);
    r.ev_attempt = PSG_PTR(long long, a, 56);
    r.ev_formed = PSG_PTR(unsigned char, a, 57);
    r.ev_capacity = PSG_INT(a, 58);
    r.stdp = PSG_PTR(const psg_slot, a, 59);
    r.delay = PSG_PTR(const int, a, 60);
    r.post_cell0 = PSG_INT(a, 61);
    r.post_n = PSG_INT(a, 62);
    r.global_position = PSG_PTR(const long long, a, 63);
    return r;
}

// --- small helpers -----------------------------------------------------------------------------------------
// Store an unsigned index of 1, 2, 4 or 8 bytes (the store matching psg_load_index).
PSG_FN void psg_rw_store_index(void* base, int bytes, long long k, long long v)
{
    switch (bytes) {
    case 1: ((unsigned char*)base)[k] = (unsigned char)v; break;
    case 2: ((unsigned short*)base)[k] = (unsigned short)v; break;
    case 4: ((unsigned int*)base)[k] = (unsigned int)v; break;
    default: ((unsigned long long*)base)[k] = (unsigned long long)v; break;
    }
}

// Element `to` = element `from` of an array of `bytes`-wide elements (any type: the bits move).
PSG_FN void psg_rw_move(void* base, int bytes, long long to, long long from)
{
    switch (bytes) {
    case 1: ((unsigned char*)base)[to] = ((unsigned char*)base)[from]; break;
    case 2: ((unsigned short*)base)[to] = ((unsigned short*)base)[from]; break;
    case 4: ((unsigned int*)base)[to] = ((unsigned int*)base)[from]; break;
    default: ((unsigned long long*)base)[to] = ((unsigned long long*)base)[from]; break;
    }
}

PSG_FN void psg_rw_set_bits(void* base, int bytes, long long k, unsigned long long bits)
{
    psg_rw_store_index(base, bytes, k, (long long)bits);
}

// *p = v, returning the old value (atomically on CUDA).
PSG_FN int psg_rw_exchange(int* p, int v)
{
#if defined(PSG_CUDA)
    return atomicExch(p, v);
#else
    const int old = *p;
    *p = v;
    return old;
#endif
}

PSG_FN void psg_rw_count(const psg_rw& r, int counter, long long v)
{
    psg_atomic_add(&r.st[PSG_RW_ST_BATCH_COUNTS + counter], v);
}

PSG_FN void psg_rw_event(const psg_rw& r, long long pre, long long post, long long attempt, int formed)
{
    const long long e = psg_atomic_add(&r.st[PSG_RW_ST_EV_N], 1LL);
    if (e < r.ev_capacity) {
        r.ev_step[e] = r.step;
        r.ev_pre[e] = pre;
        r.ev_post[e] = post;
        r.ev_attempt[e] = attempt;
        r.ev_formed[e] = (unsigned char)formed;
    }
}

// --- the rules ---------------------------------------------------------------------------------------------
// RandomByWeightElimination on the synapse at (row, slot) whose target is `post`: p_elim_depressed where the
// synapse's |weight| as of the end of this step is below threshold, else p_elim_potentiated.
//   * Synapses whose weight is stored as it is (static synapses, models without lazy updates): the stored weight,
//     compared in the weights' precision (NumPy compares a float32 array with a Python float in float32).
//   * STDP synapses: the weight with the potentiation the rule owes them for their target's recent spikes
//     (psg_stdp_current_weight, stamp step + 1, the whole delay as dendritic delay), in double as the reference's
//     STDP.current_weight gives it.
template <typename REAL>
PSG_FN double psg_rw_elimination_p(const psg_rw& r, long long row, long long slot, long long post)
{
    const long long syn = row * r.capacity + slot;
    if (r.stdp) {
        const psg_stdp<REAL> stdp = psg_stdp_unpack<REAL>(r.stdp, 0);
        const double w = psg_stdp_current_weight(stdp, syn, post, r.step + 1, (long long)r.delay[syn]);
        return fabs(w) < r.threshold ? r.p_dep : r.p_pot;
    }
    const REAL w = ((const REAL*)r.weight)[syn];
    return fabs(w) < (REAL)r.threshold ? r.p_dep : r.p_pot;
}

// DistanceDependentFormation: p_form exp(-d^2 / (2 sigma^2)), d over the Space's axes, periodic axes wrapped
// to [-L/2, L/2] by d - L rint(d / L) (NumPy's round is round-half-even, as rint). The operations are those of
// the reference (d = sqrt(sum of squares in axis order), then d * d): only exp can differ, by an ulp.
PSG_FN double psg_rw_formation_p(const psg_rw& r, long long pre, long long post)
{
    double d2 = 0.0;
    for (long long k = 0; k < r.n_axes; ++k) {
        const long long axis = r.axes[k];
        double d = r.pre_pos[pre * 3 + axis] - r.post_pos[post * 3 + axis];
        const double span = r.span[axis];
        if (span == span) {
            d = d - span * rint(d / span);
        }
        d2 = k == 0 ? d * d : d2 + d * d;
    }
    const double distance = sqrt(d2);
    return r.p_form * exp(-(distance * distance) / r.two_sigma2);
}

// --- the batch, step by step --------------------------------------------------------------------------------
PSG_FN bool psg_rw_recent(const psg_rw& r, long long k, double threshold)
{
    const long long stamp = r.last_spike[r.pre_ix[k]];
    return stamp != PSG_RW_NEVER && (double)stamp * r.dt >= threshold;
}

template <typename REAL>
PSG_FN void psg_rewiring_begin(const psg_slot* PSG_RESTRICT a)
{
    const psg_rw r = psg_rw_unpack(a);
#if defined(PSG_CUDA)
    if (blockIdx.x != 0) {
        return;
    }
#endif
    PSG_ONCE {
        const double due = *r.due + r.per_batch;
        long long n = (long long)due;
        *r.due = due - (double)n;
        if (n > r.n_max) {
            r.st[PSG_RW_ST_ERROR] |= 1;
            n = r.n_max;
        }
        r.st[PSG_RW_ST_N] = n;
        r.st[PSG_RW_ST_BATCH] = r.st[PSG_RW_ST_SERIAL];
        r.st[PSG_RW_ST_SERIAL] += 1;
        r.st[PSG_RW_ST_N_TOUCHED] = 0;
        for (int c = 0; c < 7; ++c) {
            r.st[PSG_RW_ST_BATCH_COUNTS + c] = 0;
        }
        r.st[PSG_RW_ST_BATCH_COUNTS + PSG_RW_C_ATTEMPTS] = n;
    }
    if (!(r.opt & PSG_RW_LAST_NEURON)) {
        return;
    }
    // the sources whose last spike is within the window, in index order: t - window + 1e-9 dt <= stamp dt
    const double t = (double)(r.step + 1) * r.dt;
    const double threshold = (t - r.window) + 1e-9 * r.dt;
#if defined(PSG_CUDA)
    __shared__ int scan[1024];
    const int width = blockDim.x < 1024 ? (int)blockDim.x : 1024;
    const int me = (int)threadIdx.x;
    long long found = 0;
    for (long long start = 0; start < r.n_pre; start += width) {
        const long long k = start + me;
        const int flag = me < width && k < r.n_pre && psg_rw_recent(r, k, threshold);
        if (me < width) {
            scan[me] = flag;
        }
        __syncthreads();
        for (int offset = 1; offset < width; offset <<= 1) {
            const int add = (me < width && me >= offset) ? scan[me - offset] : 0;
            __syncthreads();
            if (me < width) {
                scan[me] += add;
            }
            __syncthreads();
        }
        if (flag) {
            r.recent[found + scan[me] - 1] = (int)k;
        }
        found += scan[width - 1];
        __syncthreads();
    }
    if (me == 0) {
        r.st[PSG_RW_ST_N_RECENT] = found;
    }
#else
    long long found = 0;
    for (long long k = 0; k < r.n_pre; ++k) {
        if (psg_rw_recent(r, k, threshold)) {
            r.recent[found++] = (int)k;
        }
    }
    r.st[PSG_RW_ST_N_RECENT] = found;
#endif
}

template <typename REAL>
PSG_FN void psg_rewiring_decide(const psg_slot* PSG_RESTRICT a)
{
    const psg_rw r = psg_rw_unpack(a);
    const long long n = r.st[PSG_RW_ST_N];
    const long long batch = r.st[PSG_RW_ST_BATCH];
    const bool rules = (r.opt & (PSG_RW_FORMATION | PSG_RW_ELIMINATION)) != 0;
    PSG_FOR(at, n) {
        if (!rules) {                         // as the reference: attempts are counted, nothing is drawn
            r.att_flags[at] = 0;
            continue;
        }
        double u[2], v[2];
        psg_uniform_pair(r.key, at, 0, batch, u);     // target, partner
        psg_uniform_pair(r.key, at, 1, batch, v);     // elimination, formation
        const long long post = (long long)(u[0] * (double)r.n_post);
        const long long j_engine = r.post_ix[post];
        if (j_engine < r.post_cell0 || j_engine >= r.post_cell0 + r.post_n) {
            r.att_flags[at] = 0;              // another process's target: that process carries it out
            continue;
        }
        long long pre;
        if (r.opt & PSG_RW_LAST_NEURON) {
            const long long m = r.st[PSG_RW_ST_N_RECENT];
            pre = m == 0 ? -1 : r.recent[(long long)(u[1] * (double)m)];
        } else {
            pre = (long long)(u[1] * (double)r.n_pre);
        }
        int flags = 0;
        if (pre < 0) {
            psg_rw_count(r, PSG_RW_C_NO_PARTNER, 1);
            r.att_flags[at] = 0;
            continue;
        }
        flags |= PSG_RW_HAS_PARTNER;
        const long long i = r.pre_ix[pre], j = j_engine - r.post_cell0;
        r.att_i[at] = i;
        r.att_j[at] = j;
        if (i == j_engine && !(r.opt & PSG_RW_ALLOW_SELF) && (r.opt & PSG_RW_LATERAL)) {
            psg_rw_count(r, PSG_RW_C_REJECTED, 1);
            r.att_flags[at] = flags;
            continue;
        }
        flags |= PSG_RW_ALLOWED;
        const long long base = i * r.capacity;
        const long long length = r.row_length[i];
        int slot = -1;
        for (long long c = 0; c < length; ++c) {
            if (psg_load_index(r.ind, r.index_bytes, base + c) == j) {
                slot = (int)c;
                break;
            }
        }
        r.att_slot[at] = slot;
        if (slot >= 0) {
            flags |= PSG_RW_EXISTS;
            if ((r.opt & PSG_RW_ELIMINATION) &&
                v[0] < psg_rw_elimination_p<REAL>(r, i, slot, j)) {
                flags |= PSG_RW_KILL;
            }
        }
        if ((r.opt & PSG_RW_FORMATION) && (slot < 0 || (r.opt & PSG_RW_WITH_REPLACEMENT)) &&
            v[1] < psg_rw_formation_p(r, pre, post)) {
            flags |= PSG_RW_FORM;
        }
        r.att_flags[at] = flags;
        r.next_row[at] = psg_rw_exchange(&r.head_row[i], (int)at);
        if (r.opt & PSG_RW_MAX_IN_DEGREE) {
            r.next_tgt[at] = psg_rw_exchange(&r.head_tgt[j], (int)at);
        }
    }
}

template <typename REAL>
PSG_FN void psg_rewiring_resolve(const psg_slot* PSG_RESTRICT a)
{
    const psg_rw r = psg_rw_unpack(a);
    const long long n = r.st[PSG_RW_ST_N];
    PSG_FOR(at, n) {
        const int flags = r.att_flags[at];
        int res = 0;
        if (flags & (PSG_RW_KILL | PSG_RW_FORM)) {
            const long long i = r.att_i[at], j = r.att_j[at];
            const int slot = r.att_slot[at];
            bool first_kill = (flags & PSG_RW_KILL) != 0;
            bool first_form = (flags & PSG_RW_FORM) != 0;
            for (int b = r.head_row[i]; b >= 0; b = r.next_row[b]) {
                if (b >= at) {
                    continue;
                }
                const int fb = r.att_flags[b];
                first_kill = first_kill && !((fb & PSG_RW_KILL) && r.att_slot[b] == slot);
                first_form = first_form && !((fb & PSG_RW_FORM) && r.att_j[b] == j);
            }
            if (first_kill) {
                res |= PSG_RW_KILL_FIRST;
                const long long syn = i * r.capacity + slot;
                const long long post = psg_load_index(r.ind, r.index_bytes, syn);
                psg_rw_count(r, PSG_RW_C_ELIMINATIONS, 1);
                if (r.opt & PSG_RW_MAX_IN_DEGREE) {
                    psg_atomic_add(&r.in_degree[post], -1LL);
                }
                r.mask[syn] = 1;
                if (psg_atomic_inc(&r.touched_flag[i]) == 0) {
                    r.touched[psg_atomic_add(&r.st[PSG_RW_ST_N_TOUCHED], 1LL)] = (int)i;
                }
                if (r.opt & PSG_RW_EVENTS) {
                    psg_rw_event(r, i, post, at, 0);
                }
            }
            if (flags & PSG_RW_FORM) {
                if (first_form || (r.opt & PSG_RW_WITH_REPLACEMENT)) {
                    res |= PSG_RW_FORM_FIRST;
                } else {
                    psg_rw_count(r, PSG_RW_C_REJECTED, 1);
                }
            }
        }
        r.att_resolve[at] = res;
    }
}

// Remove the marked synapses of one row (RaggedRows.remove_synapses' rule): with L the row's length, K the
// marked slots and L' = L - K, the j-th marked slot below L' receives the j-th unmarked slot of [L', L).
PSG_FN void psg_rw_remove_row(const psg_rw& r, long long row)
{
    const long long base = row * r.capacity;
    const long long length = r.row_length[row];
    long long killed = 0;
    for (long long c = 0; c < length; ++c) {
        killed += r.mask[base + c] != 0;
    }
    const long long new_length = length - killed;
    long long donor = new_length;
    for (long long c = 0; c < new_length; ++c) {
        if (!r.mask[base + c]) {
            continue;
        }
        while (r.mask[base + donor]) {
            ++donor;
        }
        psg_rw_move(r.ind, r.index_bytes, base + c, base + donor);
        for (long long v = 0; v < r.n_vars; ++v) {
            const psg_slot* var = r.vars + v * PSG_RW_VAR_SLOTS;
            psg_rw_move(PSG_PTR(void, var, 0), (int)PSG_INT(var, 1), base + c, base + donor);
        }
        ++donor;
    }
    for (long long c = 0; c < length; ++c) {
        r.mask[base + c] = 0;
    }
    r.row_length[row] = (int)new_length;
}

template <typename REAL>
PSG_FN void psg_rewiring_settle(const psg_slot* PSG_RESTRICT a)
{
    const psg_rw r = psg_rw_unpack(a);
    const long long n = r.st[PSG_RW_ST_N];
    const long long n_touched = r.st[PSG_RW_ST_N_TOUCHED];
    PSG_FOR(t, n_touched) {
        const int row = r.touched[t];
        psg_rw_remove_row(r, row);
        r.touched_flag[row] = 0;
    }
    // (the rows above and the room below touch different data: one launch)
    const bool capped = (r.opt & PSG_RW_MAX_IN_DEGREE) != 0;
    PSG_FOR(at, n) {
        int room = 0;
        if (r.att_resolve[at] & PSG_RW_FORM_FIRST) {
            room = PSG_RW_ROOM;
            if (capped) {
                const long long j = r.att_j[at];
                long long rank = 0;
                for (int b = r.head_tgt[j]; b >= 0; b = r.next_tgt[b]) {
                    rank += b < at && (r.att_resolve[b] & PSG_RW_FORM_FIRST);
                }
                if (rank >= r.max_in_degree - r.in_degree[j]) {
                    room = 0;
                    psg_rw_count(r, PSG_RW_C_TARGET_FULL, 1);
                }
            }
        }
        r.att_settle[at] = room;
    }
}

template <typename REAL>
PSG_FN void psg_rewiring_append(const psg_slot* PSG_RESTRICT a)
{
    const psg_rw r = psg_rw_unpack(a);
    const long long n = r.st[PSG_RW_ST_N];
    PSG_FOR(at, n) {
        int out = 0;
        if (r.att_settle[at] & PSG_RW_ROOM) {
            const long long i = r.att_i[at], j = r.att_j[at];
            long long rank = 0, stored = 0;
            bool last = true;
            for (int b = r.head_row[i]; b >= 0; b = r.next_row[b]) {
                if (r.att_settle[b] & PSG_RW_ROOM) {
                    rank += b < at;
                    last = last && b <= at;
                    stored += r.global_position && r.global_position[b] < r.capacity;
                }
            }
            const long long length = r.row_length[i];
            const long long c = length + rank;
            if (r.global_position ? r.global_position[at] < r.capacity : c < r.capacity) {
                const long long syn = i * r.capacity + c;
                psg_rw_store_index(r.ind, r.index_bytes, syn, j);
                for (long long v = 0; v < r.n_vars; ++v) {
                    const psg_slot* var = r.vars + v * PSG_RW_VAR_SLOTS;
                    const unsigned long long bits = PSG_INT(var, 3) == 1 ? (unsigned long long)(r.step + 1)
                                                                         : (unsigned long long)var[2];
                    psg_rw_set_bits(PSG_PTR(void, var, 0), (int)PSG_INT(var, 1), syn, bits);
                }
                out |= PSG_RW_STORED;
                psg_rw_count(r, PSG_RW_C_FORMATIONS, 1);
                if (r.opt & PSG_RW_MAX_IN_DEGREE) {
                    psg_atomic_add(&r.in_degree[j], 1LL);
                }
            } else {
                psg_rw_count(r, PSG_RW_C_FAILED, 1);
            }
            if (last) {
                out |= PSG_RW_LAST_OF_ROW;
                r.att_length[at] = r.global_position ? length + stored : (c + 1 < r.capacity ? c + 1 : r.capacity);
            }
        }
        r.att_append[at] = out;
    }
}

template <typename REAL>
PSG_FN void psg_rewiring_commit(const psg_slot* PSG_RESTRICT a)
{
    const psg_rw r = psg_rw_unpack(a);
    const long long n = r.st[PSG_RW_ST_N];
    PSG_FOR(at, n) {
        const int out = r.att_append[at];
        if (out & PSG_RW_LAST_OF_ROW) {
            r.row_length[r.att_i[at]] = (int)r.att_length[at];
        }
        if ((out & PSG_RW_STORED) && (r.opt & PSG_RW_EVENTS)) {
            psg_rw_event(r, r.att_i[at], r.att_j[at], at, 1);
        }
        if (r.att_flags[at] & PSG_RW_ALLOWED) {          // in the lists: clear their heads for the next batch
            r.head_row[r.att_i[at]] = -1;
            if (r.opt & PSG_RW_MAX_IN_DEGREE) {
                r.head_tgt[r.att_j[at]] = -1;
            }
        }
    }
    PSG_ONCE {
        long long* batch = r.st + PSG_RW_ST_BATCH_COUNTS;
        for (int c = 0; c < 7; ++c) {
            r.st[PSG_RW_ST_TOTALS + c] += batch[c];
        }
        r.st[PSG_RW_ST_OPEN + 0] += batch[PSG_RW_C_FORMATIONS];
        r.st[PSG_RW_ST_OPEN + 1] += batch[PSG_RW_C_ELIMINATIONS];
        r.st[PSG_RW_ST_OPEN + 2] += batch[PSG_RW_C_FAILED];
        r.st[PSG_RW_ST_OPEN + 3] += batch[PSG_RW_C_ATTEMPTS];
        r.st[PSG_RW_ST_SIZE] += batch[PSG_RW_C_FORMATIONS] - batch[PSG_RW_C_ELIMINATIONS];
    }
}

#define PSG_RW_KERNELS(OP)                                                                                    \
    PSG_KERNEL void pynn_sparsegpu_rewiring_##OP##_f32(const psg_slot* PSG_RESTRICT a)                       \
    {                                                                                                        \
        psg_rewiring_##OP<float>(a);                                                                         \
    }                                                                                                        \
    PSG_KERNEL void pynn_sparsegpu_rewiring_##OP##_f64(const psg_slot* PSG_RESTRICT a)                       \
    {                                                                                                        \
        psg_rewiring_##OP<double>(a);                                                                        \
    }

PSG_RW_KERNELS(begin)
PSG_RW_KERNELS(decide)
PSG_RW_KERNELS(resolve)
PSG_RW_KERNELS(settle)
PSG_RW_KERNELS(append)
PSG_RW_KERNELS(commit)
