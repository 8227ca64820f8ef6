/* Signal watching by a sigwait() thread (see cli_interrupt.h for why not a handler). */
#define _POSIX_C_SOURCE 200809L

#include "cli_interrupt.h"

#include "cli_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Who ends the run: the command (cli_interrupt_end) or the watching thread (giving up). */
enum { WATCHING, FINISHED, GIVING_UP };

static atomic_int interrupt_signal; /* the first signal's number, 0 before */
static atomic_int state;
static int grace_period_ms;
static void (*give_up_function)(void *user);
static void *give_up_user;
static sigset_t watched;
static sigset_t previous_mask;
static pthread_t waiter;
static int have_waiter;

static const char *signal_name(int signal_number)
{
    switch (signal_number) {
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    case 0:
        return "no signal";
    default:
        return "a signal";
    }
}

/* Ends the process now, saying `why`, unless the command has finished first (then returns). */
static void give_up(const char *why)
{
    int expected = WATCHING;
    if (!atomic_compare_exchange_strong(&state, &expected, GIVING_UP)) return;
    fprintf(stderr, CLI_PROGRAM_NAME ": %s: stopping at once\n", why);
    if (give_up_function != NULL) give_up_function(give_up_user);
    fflush(NULL);
    _exit(128 + atomic_load(&interrupt_signal));
}

/* `deadline` plus the grace period is over: sigtimedwait's relative timeout until then. */
static int time_left(const struct timespec *deadline, struct timespec *left)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ns = (long long)(deadline->tv_sec - now.tv_sec) * 1000000000LL +
                   (deadline->tv_nsec - now.tv_nsec);
    if (ns <= 0) return 0;
    left->tv_sec = (time_t)(ns / 1000000000LL);
    left->tv_nsec = (long)(ns % 1000000000LL);
    return 1;
}

static void *wait_for_signals(void *arg)
{
    (void)arg;
    struct timespec deadline = {0, 0};
    for (;;) {
        int signal_number = 0;
        const int first = atomic_load(&interrupt_signal) == 0;
        if (first || grace_period_ms <= 0) {
            if (sigwait(&watched, &signal_number) != 0) continue;
        } else {
            struct timespec left;
            if (!time_left(&deadline, &left)) {
                if (atomic_load(&state) != WATCHING) return NULL;
                char why[80];
                snprintf(why, sizeof why, "still busy %.1f s after %s", grace_period_ms / 1e3,
                         signal_name(atomic_load(&interrupt_signal)));
                give_up(why);
                return NULL;
            }
            signal_number = sigtimedwait(&watched, NULL, &left);
            if (signal_number < 0) continue; /* the deadline (EAGAIN) or EINTR: look again */
        }
        if (atomic_load(&state) != WATCHING) return NULL; /* cli_interrupt_end's wake-up */
        if (first) {
            atomic_store(&interrupt_signal, signal_number);
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_sec += grace_period_ms / 1000;
            deadline.tv_nsec += (long)(grace_period_ms % 1000) * 1000000L;
            if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
            }
            continue;
        }
        char why[80];
        snprintf(why, sizeof why, "%s after %s", signal_name(signal_number),
                 signal_name(atomic_load(&interrupt_signal)));
        give_up(why);
        return NULL;
    }
}

void cli_interrupt_begin(int grace_ms)
{
    atomic_store(&interrupt_signal, 0);
    atomic_store(&state, WATCHING);
    grace_period_ms = grace_ms > 0 ? grace_ms : 0;
    sigemptyset(&watched);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGTERM);
    sigaddset(&watched, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &watched, &previous_mask);
    have_waiter = pthread_create(&waiter, NULL, wait_for_signals, NULL) == 0;
}

void cli_interrupt_set_give_up(void (*give_up)(void *user), void *user)
{
    give_up_function = give_up;
    give_up_user = user;
}

int cli_interrupted(void)
{
    return atomic_load(&interrupt_signal) != 0;
}

int cli_interrupt_cancel(void *user)
{
    (void)user;
    return cli_interrupted();
}

int cli_interrupt_exit_code(void)
{
    int signal_number = atomic_load(&interrupt_signal);
    return signal_number != 0 ? 128 + signal_number : 0;
}

const char *cli_interrupt_signal_name(void)
{
    return signal_name(atomic_load(&interrupt_signal));
}

void cli_interrupt_end(void)
{
    int expected = WATCHING;
    if (!atomic_compare_exchange_strong(&state, &expected, FINISHED)) {
        /* The watching thread is ending the process (_exit): wait for it. */
        for (;;)
            pause();
    }
    if (have_waiter) {
        pthread_kill(waiter, SIGTERM); /* wakes sigwait; the state makes the thread return */
        pthread_join(waiter, NULL);
        have_waiter = 0;
    }
    give_up_function = NULL;
    give_up_user = NULL;
    if (atomic_load(&interrupt_signal) == 0) pthread_sigmask(SIG_SETMASK, &previous_mask, NULL);
}
