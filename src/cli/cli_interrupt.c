/* Signal watching by a sigwait() thread (see cli_interrupt.h for why not a handler). */
#include "cli_interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static atomic_int interrupted;
static atomic_int finished;
static sigset_t watched;
static sigset_t previous_mask;
static pthread_t waiter;
static int have_waiter;

static void *wait_for_signals(void *arg)
{
    (void)arg;
    for (;;) {
        int signal_number = 0;
        if (sigwait(&watched, &signal_number) != 0) continue;
        if (atomic_load(&finished)) return NULL;
        atomic_store(&interrupted, 1);
    }
}

void cli_interrupt_begin(void)
{
    atomic_store(&interrupted, 0);
    atomic_store(&finished, 0);
    sigemptyset(&watched);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &watched, &previous_mask);
    have_waiter = pthread_create(&waiter, NULL, wait_for_signals, NULL) == 0;
}

int cli_interrupted(void)
{
    return atomic_load(&interrupted);
}

void cli_interrupt_end(void)
{
    if (have_waiter) {
        atomic_store(&finished, 1);
        pthread_kill(waiter, SIGTERM); /* wakes sigwait; the flag makes the thread return */
        pthread_join(waiter, NULL);
        have_waiter = 0;
    }
    pthread_sigmask(SIG_SETMASK, &previous_mask, NULL);
}
