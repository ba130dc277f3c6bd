/* The host's floor under a slice switch between rrvm's processes: two processes kept to one CPU (as rrctl
 * keeps the cluster) hand a token back and forth through a futex in shared memory, doing nothing else.
 * One round trip is two process switches, what a hub's hand-over costs at the least (hart -> sequencer ->
 * next hart); half of it, one switch, is the floor of a hand-over without the hub's turn.
 *   usage: handover-floor [ROUND_TRIPS]      prints microseconds per round trip
 * Built and run by Benchmarks/cluster-speed.sh (section 3) with the host's C compiler. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void futex(atomic_int *word, int op, int value) { syscall(SYS_futex, word, op, value, NULL, NULL, 0); }

/* Waits until *word holds `want`, sleeping on the futex meanwhile. */
static void await(atomic_int *word, int want) {
  int seen;
  while ((seen = atomic_load(word)) != want) futex(word, FUTEX_WAIT, seen);
}

static void pass(atomic_int *word, int value) {
  atomic_store(word, value);
  futex(word, FUTEX_WAKE, 1);
}

int main(int argc, char **argv) {
  long trips = argc > 1 ? atol(argv[1]) : 50000;
  if (trips <= 0) {
    fprintf(stderr, "handover-floor: ROUND_TRIPS must be a positive number\n");
    return 2;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  if (sched_setaffinity(0, sizeof one, &one) != 0) perror("handover-floor: sched_setaffinity");
  atomic_int *token = mmap(NULL, sizeof *token, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (token == MAP_FAILED) {
    perror("handover-floor: mmap");
    return 1;
  }
  atomic_store(token, 0);
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pid_t peer = fork();
  if (peer < 0) {
    perror("handover-floor: fork");
    return 1;
  }
  if (peer == 0) { /* inherits the affinity: the same CPU */
    for (long i = 0; i < trips; i++) {
      await(token, 1);
      pass(token, 0);
    }
    _exit(0);
  }
  for (long i = 0; i < trips; i++) {
    pass(token, 1);
    await(token, 0);
  }
  waitpid(peer, NULL, 0);
  clock_gettime(CLOCK_MONOTONIC, &end);
  double us = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3;
  printf("%.2f\n", us / trips);
  return 0;
}
