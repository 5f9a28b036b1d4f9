/* The MPI task farm (sched.h).
 *
 * Roles. Every rank that computes is a *worker*: it reports (ready, or the
 * outcome of its last task) to the coordinator and waits for an order (run
 * this task, or stop). The *coordinator* is a thread on rank 0; it keeps the
 * status of every task in memory (read from the results file at start),
 * queues the tasks whose dependencies are met, and answers reports with
 * orders. Rank 0's own worker (its main thread) talks to the coordinator
 * through a mailbox (mutex and condition variables); the other workers
 * through point-to-point messages on a duplicate of MPI_COMM_WORLD.
 *
 * Who writes what. A worker writes its task's rows and then the task's
 * status (done, failed with the reason, or still pending with the attempt
 * count and reason of a failed attempt that will be retried); only then does
 * it report. The coordinator never touches the file (HDF5 is not
 * thread-safe), so its view follows the reports.
 *
 * Stopping. The coordinator stops handing out work after a stop signal in
 * any rank (a worker reports it with its next report, or at once while it
 * waits), or after a worker reports that the file could not be written.
 * When every worker is waiting and either no task is left or the sweep is
 * stopping, it orders every worker to stop with the common exit status and
 * collects a last message from each remote worker, so no message is left in
 * flight.
 *
 * Waiting never spins: requests are tested with a sleeping backoff (Open
 * MPI's blocking calls would busy-poll a core), condition variables are
 * waited on with timeouts. */
#include "modsweep/sched.h"
#include "modsweep/error.h"
#include "modsweep/log.h"
#include "modsweep/sweep.h"

#include "tasks.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- signals ------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) {
    stop_signal = sig;
}

void ms_sched_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int ms_sched_stop_requested(void) {
    return stop_signal != 0;
}

/* ---- messages ------------------------------------------------------------ */

enum { TAG_REPORT = 71, TAG_ORDER = 72 };
enum { REP_READY, REP_DONE, REP_STOP, REP_BYE };
enum {
    OUT_OK,          /* done; status written */
    OUT_RETRY,       /* failed; pending with the attempt and reason written; retry it */
    OUT_FAILED,      /* failed for good; status written (and a model's later tasks) */
    OUT_INTERRUPTED, /* gave up after a stop signal; nothing written, still pending */
    OUT_FATAL,       /* the results file could not be written: stop the sweep */
    OUT_MEMBER,      /* a team member that did not lead: nothing to record */
};
enum { CMD_RUN, CMD_STOP };

/* Worker -> coordinator. */
typedef struct report {
    int32_t type, kind, m, li, outcome, stop;
    double seconds;
    char reason[MS_REASON_MAX];
} report_t;

/* Coordinator -> worker. */
typedef struct order {
    int32_t cmd, kind, m, li;
    int32_t attempt; /* 1-based number of this attempt */
    int32_t team;    /* a prune task run by the whole team */
    int32_t status;  /* CMD_STOP: the exit status */
} order_t;

static const char *kind_name[] = {"train", "analyse", "prune"};

/* ---- waiting without spinning ------------------------------------------------ */

typedef struct backoff {
    long ns, max_ns;
} backoff_t;

static void backoff_reset(backoff_t *b) {
    b->ns = 50000;
}

static void backoff_sleep(backoff_t *b) {
    struct timespec ts = {b->ns / 1000000000L, b->ns % 1000000000L};
    nanosleep(&ts, NULL); /* EINTR (a signal) just ends the nap early */
    b->ns *= 2;
    if (b->ns > b->max_ns) b->ns = b->max_ns;
}

/* Waits for req (MPI_Test and naps). */
static int wait_request(MPI_Request *req) {
    backoff_t b = {.max_ns = 10000000L};
    backoff_reset(&b);
    for (;;) {
        int done = 0;
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return ms_err_set(MS_EMPI, "MPI_Test failed");
        if (done) return 0;
        backoff_sleep(&b);
    }
}

/* ---- the coordinator's state ----------------------------------------------- */

/* Tasks are numbered as tasks.h says (ms_task_id). */
typedef struct queue {
    long *v;
    long cap, head, n;
} queue_t;

static void q_push(queue_t *q, long t) {
    q->v[(q->head + q->n) % q->cap] = t;
    q->n++;
}

static int q_pop(queue_t *q, long *t) {
    if (q->n == 0) return 0;
    *t = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    return 1;
}

typedef struct coord {
    long M, L, T;
    int8_t *st;   /* (T) ms_status_t */
    int32_t *att; /* (T) attempts so far */
    queue_t q[3]; /* ready tasks per kind */
    int n_workers, team;
    int *worker_rank; /* (n_workers) world rank of worker w */
    int *idle;        /* (size) waiting for an order */
    double *busy;     /* (size) seconds spent in tasks */
    double *handed;   /* (size) when the rank's current task was handed out */
    double turn_sum;  /* seconds from hand-out to report, summed over tasks */
    long turn_n;
    long final, total, final_at_start, finished_here;
    long pend[3]; /* non-final tasks per kind */
    double sec[3];
    long n_sec[3];
    int stopping, status, signalled;
    char fatal[MS_REASON_MAX]; /* the first reason the results file could not be written */
    double t0;
    double cpu; /* CPU seconds the coordinator used */
} coord_t;

typedef struct farm {
    ms_ctx_t *ctx;
    const ms_sched_opts_t *o;
    int rank, size;
    int rank0_works;
    MPI_Comm ctl;  /* reports and orders */
    MPI_Comm team; /* this worker's prune team (MPI_COMM_NULL on a coordinator-only rank 0) */
    int team_rank;
    /* Test hooks (environment variables, for the fault tests):
     * MODSWEEP_TEST_TASK_SLEEP_MS=n: nap n ms after each task, before reporting;
     * MODSWEEP_TEST_FAIL="train model 3:2": the first 2 attempts of that task
     * fail (without running it) with the reason "injected failure". */
    long sleep_ms;
    char fail_task[96];
    int fail_attempts;
    /* rank 0's worker <-> coordinator */
    pthread_mutex_t mu;
    pthread_cond_t to_coord, to_worker;
    report_t mail_rep;
    order_t mail_order;
    int rep_full, order_full;
    coord_t c;
} farm_t;

/* The task numbering is tasks.h's. */
static long task_id(const coord_t *c, int kind, long m, long li) {
    return ms_task_id(c->M, c->L, kind, m, li);
}

static void task_of(const coord_t *c, long t, int *kind, long *m, long *li) {
    ms_task_of(c->M, c->L, t, kind, m, li);
}

/* The tasks that need model m trained: its analysis, then its prunings. */
static long model_dependents(const coord_t *c, long m, long *out) {
    long n = 0;
    out[n++] = task_id(c, MS_TASK_ANALYSE, m, -1);
    for (long li = 0; li < c->L; li++)
        out[n++] = task_id(c, MS_TASK_PRUNE, m, li);
    return n;
}

/* A task's name in log lines and MODSWEEP_TEST_FAIL ("prune model 3 label 7"). */
static void task_name(const ms_task_t *t, char *buf, size_t n) {
    if (t->kind == MS_TASK_PRUNE)
        snprintf(buf, n, "prune model %d label %d", t->model, t->label);
    else
        snprintf(buf, n, "%s model %d", kind_name[t->kind], t->model);
}

/* The name of the task (kind, m, li) of the grid (the coordinator's side). */
static void task_text(const farm_t *f, int kind, long m, long li, char *buf, size_t n) {
    ms_task_t t;
    if (ms_task_make(f->ctx->g, kind, (int)m, (int)li, &t) == 0) {
        task_name(&t, buf, n);
    } else {
        snprintf(buf, n, "task (%d, %ld, %ld)", kind, m, li); /* not of the grid: never sent */
        ms_err_clear();
    }
}

static void fmt_secs(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "?");
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* Remaining work divided among the workers, from the mean time of each kind
 * of task so far (a kind not yet seen counts at the mean of all tasks). */
static double eta_seconds(const coord_t *c) {
    double all = 0;
    long n_all = 0;
    for (int k = 0; k < 3; k++)
        all += c->sec[k], n_all += c->n_sec[k];
    if (n_all == 0) return NAN;
    double work = 0;
    for (int k = 0; k < 3; k++)
        work += (double)c->pend[k] * (c->n_sec[k] ? c->sec[k] / c->n_sec[k] : all / n_all);
    return work / c->n_workers;
}

/* Reads every task's status and attempts; makes a failed model's later tasks
 * failed too (a run stopped between those writes leaves them pending). Runs
 * on rank 0's main thread before the coordinator starts. */
static int coord_init(farm_t *f, int n_workers, int team) {
    coord_t *c = &f->c;
    ms_results_t *res = f->ctx->res;
    const ms_dims_t *d = ms_results_dims(res);
    c->M = d->M, c->L = d->L, c->T = ms_task_count(d->M, d->L);
    c->n_workers = n_workers, c->team = team;
    c->st = calloc((size_t)c->T + 1, 1);
    c->att = calloc((size_t)c->T + 1, sizeof(int32_t));
    c->worker_rank = calloc((size_t)n_workers, sizeof(int));
    c->idle = calloc((size_t)f->size, sizeof(int));
    c->busy = calloc((size_t)f->size, sizeof(double));
    c->handed = calloc((size_t)f->size, sizeof(double));
    const long caps[3] = {c->M, c->M, c->M * c->L};
    int bad = !c->st || !c->att || !c->worker_rank || !c->idle || !c->busy || !c->handed;
    for (int k = 0; k < 3; k++) {
        c->q[k].cap = caps[k] > 0 ? caps[k] : 1;
        c->q[k].v = malloc(sizeof(long) * (size_t)c->q[k].cap);
        bad |= !c->q[k].v;
    }
    if (bad) return ms_err_set(MS_ENOMEM, "scheduler: out of memory for %ld tasks", c->T);
    for (int w = 0; w < n_workers; w++)
        c->worker_rank[w] = f->rank0_works ? w : w + 1;
    int rc = ms_results_all_tasks(res, c->st, c->att);
    for (long m = 0; m < c->M && !rc; m++) {
        if (c->st[m] != MS_ST_FAILED) continue;
        char why[MS_STR_LEN], reason[MS_STR_LEN];
        rc = ms_results_get_status(res, MS_TASK_TRAIN, m, -1, NULL, NULL, why);
        snprintf(reason, sizeof reason, "model failed to train: %.200s", why);
        long dep[1 + MS_MAX_CLASSES];
        long nd = model_dependents(c, m, dep);
        for (long j = 0; j < nd && !rc; j++) {
            int kind;
            long mm, li;
            task_of(c, dep[j], &kind, &mm, &li);
            if (c->st[dep[j]] != MS_ST_PENDING) continue;
            rc = ms_results_set_status(res, kind, m, li, MS_ST_FAILED, c->att[dep[j]], reason);
            c->st[dep[j]] = MS_ST_FAILED;
        }
    }
    if (rc) return rc;
    for (long t = 0; t < c->T; t++) {
        int kind;
        long m, li;
        task_of(c, t, &kind, &m, &li);
        if (c->st[t] != MS_ST_PENDING) {
            c->final++;
            continue;
        }
        c->pend[kind]++;
        if (kind == MS_TASK_TRAIN || c->st[m] == MS_ST_DONE) q_push(&c->q[kind], t);
    }
    c->total = c->T;
    c->final_at_start = c->final;
    c->status = MS_EXIT_OK;
    c->t0 = ms_now();
    return 0;
}

static void coord_free(coord_t *c) {
    free(c->st);
    free(c->att);
    free(c->worker_rank);
    free(c->idle);
    free(c->busy);
    free(c->handed);
    for (int k = 0; k < 3; k++)
        free(c->q[k].v);
}

/* ---- the coordinator --------------------------------------------------------- */

static int send_order(farm_t *f, int r, const order_t *o) {
    if (r == 0) {
        pthread_mutex_lock(&f->mu);
        f->mail_order = *o;
        f->order_full = 1;
        pthread_cond_signal(&f->to_worker);
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    /* Orders are small (eager): MPI_Send returns at once. */
    if (MPI_Send(o, (int)sizeof *o, MPI_BYTE, r, TAG_ORDER, f->ctl) != MPI_SUCCESS)
        return ms_err_set(MS_EMPI, "scheduler: MPI_Send to rank %d failed", r);
    return 0;
}

static void begin_stop(farm_t *f, int status, const char *why) {
    coord_t *c = &f->c;
    if (status == MS_EXIT_ERROR) c->status = MS_EXIT_ERROR;
    if (c->stopping) return;
    c->stopping = 1;
    if (!f->o->quiet || status == MS_EXIT_ERROR)
        ms_message("stopping (%s): no new tasks; waiting for the tasks in progress", why);
}

static void assign(farm_t *f, long t, int r, int team) {
    coord_t *c = &f->c;
    int kind;
    long m, li;
    task_of(c, t, &kind, &m, &li);
    order_t o = {.cmd = CMD_RUN,
                 .kind = kind,
                 .m = (int32_t)m,
                 .li = (int32_t)li,
                 .attempt = c->att[t] + 1,
                 .team = team};
    c->idle[r] = 0;
    c->handed[r] = ms_now();
    if (ms_log_verbosity() >= 2) {
        char what[96];
        task_text(f, kind, m, li, what, sizeof what);
        ms_debug("%s (attempt %d) -> rank %d", what, o.attempt, r);
    }
    if (send_order(f, r, &o)) begin_stop(f, MS_EXIT_ERROR, ms_err_msg());
}

/* Hands ready tasks to waiting workers: train and analyse tasks to any
 * worker, prune tasks to whole teams whose members all wait. */
static void dispatch(farm_t *f) {
    coord_t *c = &f->c;
    if (c->stopping) return;
    for (int w = 0; w < c->n_workers; w++) {
        int r = c->worker_rank[w];
        if (!c->idle[r]) continue;
        long t;
        if (q_pop(&c->q[MS_TASK_TRAIN], &t) || q_pop(&c->q[MS_TASK_ANALYSE], &t)) {
            assign(f, t, r, 0);
            continue;
        }
        if (c->q[MS_TASK_PRUNE].n == 0) break;
        int first = w / c->team * c->team, last = first + c->team;
        if (last > c->n_workers) last = c->n_workers;
        int all = 1;
        for (int v = first; v < last && all; v++)
            all = c->idle[c->worker_rank[v]];
        if (!all) continue;
        q_pop(&c->q[MS_TASK_PRUNE], &t);
        for (int v = first; v < last; v++)
            assign(f, t, c->worker_rank[v], last - first > 1);
    }
}

static void on_report(farm_t *f, int src, const report_t *rep) {
    coord_t *c = &f->c;
    if (rep->stop && !c->signalled) {
        c->signalled = 1;
        begin_stop(f, MS_EXIT_RESUMABLE, "a stop signal reached a rank");
    }
    if (rep->type == REP_STOP || rep->type == REP_BYE) return;
    c->idle[src] = 1;
    if (rep->type == REP_READY) return;
    c->busy[src] += rep->seconds;
    c->turn_sum += ms_now() - c->handed[src];
    c->turn_n++;
    if (rep->outcome == OUT_MEMBER) return;
    long t = task_id(c, rep->kind, rep->m, rep->li);
    char what[96], eta[32];
    task_text(f, rep->kind, rep->m, rep->li, what, sizeof what);
    const int kind = rep->kind;
    switch (rep->outcome) {
    case OUT_OK:
    case OUT_FAILED:
        c->st[t] = rep->outcome == OUT_OK ? MS_ST_DONE : MS_ST_FAILED;
        c->att[t]++;
        c->final++;
        c->finished_here++;
        c->pend[kind]--;
        c->sec[kind] += rep->seconds;
        c->n_sec[kind]++;
        if (kind == MS_TASK_TRAIN) {
            /* The model's later tasks: ready, or failed with it (the worker wrote that). */
            long dep[1 + MS_MAX_CLASSES];
            long nd = model_dependents(c, rep->m, dep);
            for (long j = 0; j < nd; j++) {
                long u = dep[j];
                int k2 = u < ms_task_first(MS_TASK_PRUNE, c->M) ? MS_TASK_ANALYSE : MS_TASK_PRUNE;
                if (c->st[u] != MS_ST_PENDING) continue;
                if (rep->outcome == OUT_OK) {
                    q_push(&c->q[k2], u);
                } else {
                    c->st[u] = MS_ST_FAILED;
                    c->final++;
                    c->pend[k2]--;
                }
            }
        }
        if (rep->outcome == OUT_OK) {
            if (!f->o->quiet) {
                fmt_secs(eta_seconds(c), eta, sizeof eta);
                double el = ms_now() - c->t0;
                ms_message("%s done on rank %d in %.2f s | %ld/%ld tasks final, %.2f tasks/min, "
                           "ETA %s",
                           what, src, rep->seconds, c->final, c->total,
                           el > 0 ? 60.0 * c->finished_here / el : 0.0, eta);
            }
        } else {
            ms_warning("%s FAILED on rank %d (attempt %d, final): %s", what, src, c->att[t],
                       rep->reason);
        }
        break;
    case OUT_RETRY:
        c->att[t]++;
        ms_warning("%s failed on rank %d (attempt %d of %d, will retry): %s", what, src, c->att[t],
                   f->ctx->g->retries + 1, rep->reason);
        q_push(&c->q[kind], t);
        break;
    case OUT_INTERRUPTED:
        if (!f->o->quiet) ms_message("%s interrupted on rank %d (left pending)", what, src);
        q_push(&c->q[kind], t);
        break;
    default: /* OUT_FATAL */
        ms_warning("%s on rank %d: %s", what, src, rep->reason);
        if (!c->fatal[0]) snprintf(c->fatal, sizeof c->fatal, "%s", rep->reason);
        q_push(&c->q[kind], t);
        begin_stop(f, MS_EXIT_ERROR, "the results file could not be written");
        break;
    }
}

static int all_idle(const coord_t *c) {
    for (int w = 0; w < c->n_workers; w++)
        if (!c->idle[c->worker_rank[w]]) return 0;
    return 1;
}

/* Receives every report waiting in MPI; returns how many. */
static int poll_remote(farm_t *f, int *byes) {
    int n = 0;
    for (;;) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        if (MPI_Improbe(MPI_ANY_SOURCE, TAG_REPORT, f->ctl, &flag, &msg, &st) != MPI_SUCCESS) {
            begin_stop(f, MS_EXIT_ERROR, "MPI_Improbe failed");
            return n;
        }
        if (!flag) return n;
        report_t rep;
        if (MPI_Mrecv(&rep, (int)sizeof rep, MPI_BYTE, &msg, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            begin_stop(f, MS_EXIT_ERROR, "MPI_Mrecv failed");
            return n;
        }
        n++;
        if (rep.type == REP_BYE) ++*byes;
        on_report(f, st.MPI_SOURCE, &rep);
    }
}

/* Takes the local worker's report, if one is waiting. */
static int poll_local(farm_t *f) {
    report_t rep;
    int got = 0;
    pthread_mutex_lock(&f->mu);
    if (f->rep_full) {
        rep = f->mail_rep;
        f->rep_full = 0;
        got = 1;
    }
    pthread_mutex_unlock(&f->mu);
    if (got) on_report(f, 0, &rep);
    return got;
}

/* Sleeps until the local worker reports or the backoff expires. */
static void coord_nap(farm_t *f, backoff_t *b) {
    if (!f->rank0_works) {
        backoff_sleep(b);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += b->ns;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&f->mu);
    while (!f->rep_full) {
        int e = pthread_cond_timedwait(&f->to_coord, &f->mu, &ts);
        if (e == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&f->mu);
    b->ns *= 2;
    if (b->ns > b->max_ns) b->ns = b->max_ns;
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void coord_loop(farm_t *f) {
    coord_t *c = &f->c;
    const double cpu0 = thread_cpu();
    const int remote = c->n_workers - (f->rank0_works ? 1 : 0);
    /* With remote workers the longest nap bounds the time a finished worker
     * waits for its next task: 1% of the mean time from handing a task out
     * to its report so far, between 1 and 10 ms (so the coordinator wakes
     * at most 1000 times a second). With only the local worker, its reports
     * wake the coordinator at once. */
    const long max_nap = remote ? 10000000L : 100000000L;
    backoff_t b = {.max_ns = max_nap};
    backoff_reset(&b);
    int byes = 0;
    for (;;) {
        int n = 0;
        if (f->rank0_works) n += poll_local(f);
        if (remote) n += poll_remote(f, &byes);
        if (stop_signal && !c->signalled) {
            c->signalled = 1;
            begin_stop(f, MS_EXIT_RESUMABLE, "stop signal");
        }
        dispatch(f);
        if (all_idle(c) &&
            (c->stopping || c->final == c->total || (c->q[0].n + c->q[1].n + c->q[2].n == 0))) {
            if (!c->stopping && c->final != c->total) {
                ms_warning("scheduler: %ld tasks cannot be scheduled (internal error)",
                           c->total - c->final);
                c->status = MS_EXIT_ERROR;
            }
            break;
        }
        if (n) {
            backoff_reset(&b);
            if (remote && c->turn_n > 0) {
                b.max_ns = (long)(c->turn_sum / (double)c->turn_n * 1e7); /* 1%, in ns */
                if (b.max_ns < 1000000L) b.max_ns = 1000000L;
                if (b.max_ns > max_nap) b.max_ns = max_nap;
            }
        } else {
            coord_nap(f, &b);
        }
    }
    /* Every worker waits: order them to stop with the common status. */
    if (c->status == MS_EXIT_OK && c->final != c->total) c->status = MS_EXIT_RESUMABLE;
    order_t stop = {.cmd = CMD_STOP, .status = c->status};
    for (int w = 0; w < c->n_workers; w++)
        send_order(f, c->worker_rank[w], &stop);
    /* Collect each remote worker's last message (so none is left in flight). */
    backoff_reset(&b);
    while (byes < remote) {
        if (poll_remote(f, &byes) == 0) backoff_sleep(&b);
    }
    c->cpu = thread_cpu() - cpu0;
}

static void *coord_thread(void *arg) {
    coord_loop(arg);
    return NULL;
}

/* ---- the workers ---------------------------------------------------------------- */

static int exchange_local(farm_t *f, const report_t *rep, order_t *out) {
    pthread_mutex_lock(&f->mu);
    f->mail_rep = *rep;
    f->rep_full = 1;
    pthread_cond_signal(&f->to_coord);
    while (!f->order_full)
        pthread_cond_wait(&f->to_worker, &f->mu);
    *out = f->mail_order;
    f->order_full = 0;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static int send_report(farm_t *f, const report_t *rep) {
    MPI_Request rq;
    if (MPI_Isend(rep, (int)sizeof *rep, MPI_BYTE, 0, TAG_REPORT, f->ctl, &rq) != MPI_SUCCESS)
        return ms_err_set(MS_EMPI, "scheduler: MPI_Isend to rank 0 failed");
    return wait_request(&rq);
}

static int exchange_remote(farm_t *f, report_t *rep, order_t *out) {
    rep->stop = stop_signal != 0;
    int told = rep->stop;
    int rc = send_report(f, rep);
    if (rc) return rc;
    MPI_Request rq;
    if (MPI_Irecv(out, (int)sizeof *out, MPI_BYTE, 0, TAG_ORDER, f->ctl, &rq) != MPI_SUCCESS)
        return ms_err_set(MS_EMPI, "scheduler: MPI_Irecv failed");
    /* The order usually follows within the coordinator's nap: test often at
     * first; a worker left waiting (no task ready) naps up to 10 ms. */
    backoff_t b = {.max_ns = 10000000L};
    backoff_reset(&b);
    const double t_wait = ms_now();
    for (;;) {
        int done = 0;
        if (MPI_Test(&rq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return ms_err_set(MS_EMPI, "scheduler: MPI_Test failed");
        if (done) return 0;
        if (!told && stop_signal) {
            /* Tell the coordinator now rather than after the next task. */
            report_t s = {.type = REP_STOP, .stop = 1};
            told = 1;
            if ((rc = send_report(f, &s))) return rc;
        }
        if (ms_now() - t_wait < 0.1 && b.ns > 500000L) b.ns = 500000L;
        backoff_sleep(&b);
    }
}

static int stage_train_hook_stop(void) {
    return ms_sched_stop_requested();
}

/* Runs one order's task and fills the report (see the OUT_* outcomes). */
static void run_order(farm_t *f, const order_t *o, report_t *rep) {
    ms_ctx_t *ctx = f->ctx;
    ms_results_t *res = ctx->res;
    char reason[MS_REASON_MAX] = "";
    memset(rep, 0, sizeof *rep);
    rep->type = REP_DONE;
    rep->kind = o->kind, rep->m = o->m, rep->li = o->li;
    double t0 = ms_now();
    char what[96] = "";
    /* The task value, built once here and handed to its stage. */
    ms_task_t task;
    int rc = ms_task_make(ctx->g, o->kind, o->m, o->li, &task);
    if (!rc) task_name(&task, what, sizeof what);
    if (rc) {
        snprintf(reason, sizeof reason, "%s", ms_err_msg());
    } else if (f->fail_attempts && o->attempt <= f->fail_attempts && !strcmp(what, f->fail_task)) {
        snprintf(reason, sizeof reason, "injected failure (MODSWEEP_TEST_FAIL)");
        rc = MS_EINVAL;
    } else if (task.kind == MS_TASK_TRAIN)
        rc = ms_stage_train(ctx, &task, reason);
    else if (task.kind == MS_TASK_ANALYSE)
        rc = ms_stage_analyse(ctx, &task, reason);
    else
        rc = ms_stage_prune(ctx, &task, o->team ? f->team : MPI_COMM_SELF, reason);
    rep->seconds = ms_now() - t0;
    if (o->kind == MS_TASK_PRUNE && o->team && f->team_rank != 0) {
        rep->outcome = OUT_MEMBER; /* the team's first rank writes and reports */
    } else if (rc == 0) {
        rc = ms_results_set_status(res, o->kind, o->m, o->li, MS_ST_DONE, o->attempt, "");
        rep->outcome = rc ? OUT_FATAL : OUT_OK;
        if (rc) snprintf(reason, sizeof reason, "%s", ms_err_msg());
    } else if (rc == MS_EINTERRUPTED) {
        rep->outcome = OUT_INTERRUPTED;
    } else if (rc == MS_EHDF5 || rc == MS_EIO) {
        rep->outcome = OUT_FATAL; /* the file itself failed: retrying cannot help */
    } else if (rc == MS_ENUMERIC || o->attempt > ctx->g->retries) {
        /* A numerical fault repeats exactly on retry: fail at once. */
        int w = 0;
        if (o->kind == MS_TASK_TRAIN) {
            /* The model's later tasks cannot run: they fail with its reason. */
            char why[MS_STR_LEN];
            snprintf(why, sizeof why, "model failed to train: %.200s", reason);
            w = ms_results_set_status(res, MS_TASK_ANALYSE, o->m, -1, MS_ST_FAILED, 0, why);
            for (int li = 0; li < ctx->g->n_labels && !w; li++)
                w = ms_results_set_status(res, MS_TASK_PRUNE, o->m, li, MS_ST_FAILED, 0, why);
        }
        if (!w)
            w = ms_results_set_status(res, o->kind, o->m, o->li, MS_ST_FAILED, o->attempt, reason);
        rep->outcome = w ? OUT_FATAL : OUT_FAILED;
        if (w) snprintf(reason, sizeof reason, "%s", ms_err_msg());
    } else {
        int w = ms_results_set_status(res, o->kind, o->m, o->li, MS_ST_PENDING, o->attempt, reason);
        rep->outcome = w ? OUT_FATAL : OUT_RETRY;
        if (w) snprintf(reason, sizeof reason, "%s", ms_err_msg());
    }
    snprintf(rep->reason, sizeof rep->reason, "%s", reason);
    if (f->sleep_ms > 0) {
        struct timespec ts = {f->sleep_ms / 1000, (f->sleep_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_signal) {
        }
    }
}

static int worker_loop(farm_t *f) {
    report_t rep = {.type = REP_READY};
    order_t o;
    for (;;) {
        int rc = f->rank == 0 ? exchange_local(f, &rep, &o) : exchange_remote(f, &rep, &o);
        if (rc) {
            /* The control channel itself failed: nothing sensible is left. */
            fprintf(stderr, "modsweep: [rank %d] %s\n", f->rank, ms_err_msg());
            MPI_Abort(MPI_COMM_WORLD, MS_EXIT_ERROR);
        }
        if (o.cmd == CMD_STOP) {
            if (f->rank != 0) {
                report_t bye = {.type = REP_BYE};
                if (send_report(f, &bye)) MPI_Abort(MPI_COMM_WORLD, MS_EXIT_ERROR);
            }
            return o.status;
        }
        run_order(f, &o, &rep);
    }
}

/* ---- the entry point -------------------------------------------------------------- */

int ms_sched_run(ms_ctx_t *ctx, const ms_sched_opts_t *o) {
    farm_t *f = calloc(1, sizeof *f);
    if (!f) ms_fatal("scheduler: out of memory");
    f->ctx = ctx;
    f->o = o;
    MS_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &f->rank));
    MS_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &f->size));
    f->rank0_works = !(o->dedicated_coordinator && f->size > 1);
    if (f->size > 1 && !o->thread_multiple && f->rank0_works) {
        f->rank0_works = 0;
        if (f->rank == 0)
            ms_warning("MPI does not provide MPI_THREAD_MULTIPLE: rank 0 only hands out work");
    }
    const int n_workers = f->size - (f->rank0_works ? 0 : 1);
    int team = o->team > 0 ? o->team : 1;
    if (team > n_workers) team = n_workers;
    const char *sl = getenv("MODSWEEP_TEST_TASK_SLEEP_MS");
    f->sleep_ms = sl ? atol(sl) : 0;
    const char *fl = getenv("MODSWEEP_TEST_FAIL");
    const char *colon = fl ? strrchr(fl, ':') : NULL;
    if (colon && colon - fl < (long)sizeof f->fail_task) {
        memcpy(f->fail_task, fl, (size_t)(colon - fl));
        f->fail_attempts = atoi(colon + 1);
    }
    ctx->stop_requested = stage_train_hook_stop;

    /* Collective set-up: the control channel and the fixed prune teams. */
    const int worker = f->rank0_works ? f->rank : f->rank - 1;
    f->team = MPI_COMM_NULL;
    MS_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &f->ctl));
    MS_MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, worker >= 0 ? worker / team : MPI_UNDEFINED,
                                f->rank, &f->team));
    if (f->team != MPI_COMM_NULL) MS_MPI_CHECK(MPI_Comm_rank(f->team, &f->team_rank));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->to_coord, NULL);
    pthread_cond_init(&f->to_worker, NULL);

    int rc = 0;
    if (f->rank == 0) {
        rc = coord_init(f, n_workers, team);
        if (rc) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
    }
    MS_MPI_CHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
    int status = MS_EXIT_ERROR;
    if (rc == 0) {
        if (f->rank == 0 && !o->quiet) {
            coord_t *c = &f->c;
            ms_message("%ld tasks (%ld train, %ld analyse, %ld prune): %ld already final, %ld to "
                       "do; %d workers%s, prune teams of %d",
                       c->total, c->M, c->M, c->M * c->L, c->final, c->total - c->final, n_workers,
                       f->rank0_works ? " (rank 0 included)" : " (rank 0 coordinates)", team);
        }
        if (f->rank == 0) {
            pthread_t th;
            if (f->rank0_works) {
                if (pthread_create(&th, NULL, coord_thread, f) != 0)
                    ms_fatal("scheduler: cannot start the coordinator thread");
                status = worker_loop(f);
                pthread_join(th, NULL);
            } else {
                coord_loop(f);
                status = f->c.status;
            }
            coord_t *c = &f->c;
            double el = ms_now() - c->t0;
            if (!o->quiet && el > 0) {
                char line[1024];
                int off =
                    snprintf(line, sizeof line,
                             "%ld tasks finished in %.1f s; busy share:", c->finished_here, el);
                for (int w = 0; w < c->n_workers && off < (int)sizeof line - 32; w++)
                    off += snprintf(line + off, sizeof line - off, " rank %d %.0f%%",
                                    c->worker_rank[w], 100.0 * c->busy[c->worker_rank[w]] / el);
                ms_message("%s; the coordinator used %.3f s of CPU", line, c->cpu);
            }
            if (status == MS_EXIT_RESUMABLE)
                ms_message("stopped: %ld of %ld tasks final; run the same command again to resume",
                           c->final, c->total);
            if (c->fatal[0])
                fprintf(stderr,
                        "modsweep: stopped: the results file could not be written: %s\n"
                        "modsweep: the %ld tasks marked final in it (done or failed) are kept; "
                        "remove the cause (free space?) and run the same command again to "
                        "resume\n",
                        c->fatal, c->final);
        } else if (worker >= 0) {
            status = worker_loop(f);
        }
    }
    if (f->rank == 0) coord_free(&f->c);
    if (f->team != MPI_COMM_NULL) MS_MPI_CHECK(MPI_Comm_free(&f->team));
    MS_MPI_CHECK(MPI_Comm_free(&f->ctl));
    pthread_cond_destroy(&f->to_worker);
    pthread_cond_destroy(&f->to_coord);
    pthread_mutex_destroy(&f->mu);
    ctx->stop_requested = NULL;
    free(f);
    return status;
}
