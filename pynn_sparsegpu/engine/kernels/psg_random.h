// Counter-based random numbers: Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2,
// 3"), the generator of cuRAND's and NumPy's Philox. A draw is a pure function of a 64-bit key and a 128-bit
// counter, so any thread can draw the numbers of any (neuron, step, draw) directly, on any path, in any order:
// the CPU build, CUDA and the NumPy twin (engine/random.py) give the same bits.
//
// The engine's convention (engine/random.py): the key names a stream (one per purpose and object, derived from
// the network's seed); the counter is (index, draw, step low 32 bits, step high 32 bits), where index is a global
// index (a neuron, a synapse slot, an attempt) and draw numbers the draws one (index, step) needs.
//
//   psg_philox(key, c0, c1, c2, c3, out[4])      the four 32-bit words
//   psg_uniform_pair(key, index, draw, step, u)  two doubles uniform on [0, 1), 53 random bits each:
//                                                u[0] from words 0 and 1, u[1] from words 2 and 3

#ifndef PYNN_SPARSEGPU_RANDOM_H
#define PYNN_SPARSEGPU_RANDOM_H

#include "psg_portable.h"

PSG_FN void psg_mulhilo32(unsigned int a, unsigned int b, unsigned int* hi, unsigned int* lo)
{
    const unsigned long long p = (unsigned long long)a * (unsigned long long)b;
    *hi = (unsigned int)(p >> 32);
    *lo = (unsigned int)p;
}

PSG_FN void psg_philox(unsigned long long key, unsigned int c0, unsigned int c1, unsigned int c2, unsigned int c3,
                       unsigned int* out)
{
    unsigned int k0 = (unsigned int)key, k1 = (unsigned int)(key >> 32);
    for (int round = 0; round < 10; ++round) {
        unsigned int hi0, lo0, hi1, lo1;
        psg_mulhilo32(0xD2511F53u, c0, &hi0, &lo0);
        psg_mulhilo32(0xCD9E8D57u, c2, &hi1, &lo1);
        const unsigned int n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

PSG_FN double psg_u53(unsigned int hi, unsigned int lo)
{
    return (double)((((unsigned long long)hi << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

PSG_FN void psg_uniform_pair(unsigned long long key, long long index, long long draw, long long step, double* u)
{
    unsigned int w[4];
    psg_philox(key, (unsigned int)index, (unsigned int)draw, (unsigned int)step,
               (unsigned int)((unsigned long long)step >> 32), w);
    u[0] = psg_u53(w[0], w[1]);
    u[1] = psg_u53(w[2], w[3]);
}

#endif  // PYNN_SPARSEGPU_RANDOM_H
