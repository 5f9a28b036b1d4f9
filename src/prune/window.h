/* The windows of the greedy pruning, as the CPU fast path (prune.c) and the
 * device path (prune_dev.c) both close them: one rule for how many of a
 * window's candidates are accepted, so that the two cannot drift apart.
 * Internal to src/prune. */
#ifndef MODSWEEP_PRUNE_WINDOW_H
#define MODSWEEP_PRUNE_WINDOW_H

/* The candidates a window of Bw states accepts when its first failing state
 * is gfail (Bw + 1 where none): all before it (j .. j+gfail-2, where j is
 * the window's first candidate; j+gfail-1 is kept if it failed). */
static inline int ms__window_accepted(int gfail, int Bw) {
    return gfail <= Bw ? gfail - 1 : Bw;
}

#endif
