/* The host's floor under a slice switch between rrvm's processes: processes that hand a token to each other
 * through futex words in shared memory, doing nothing else. Three shapes of hand-over, each printed in
 * microseconds per slice (one hand-over from one hart to the next):
 *   hub      (default) a sequencer and four harts kept to one CPU (as rrctl keeps the cluster): the yielding
 *            hart wakes the sequencer, which wakes the next hart; two process switches per slice.
 *   one-hop  four harts on one CPU, each waking the next itself: one process switch per slice, the floor of a
 *            hand-over without the sequencer's turn.
 *   split    rrvm's default for several harts (HostCPU): the sequencer alone on a second CPU, polling; the four
 *            harts on the first, taking turns as rrvm's do (TurnBoard): the sequencer names the hart that comes
 *            next; that one, once the running hart has ended its slice, keeps the CPU until its word is set; a
 *            hart that gets the CPU while another is next sleeps instead, and the hart before it wakes it when its
 *            slice ends. Each polls for 50 µs after its slice before it sleeps. Neither the sequencer's turn nor,
 *            while slices are short, the next hart's needs a wake-up from the other CPU.
 *   split-yield  as split, but every waiting hart polls, yielding the CPU at every round (rrvm before its turn
 *            board): the kernel then runs the waiting harts in an order of its own, and a hand-over often passes
 *            through one or two of them first ("laps", each a process switch).
 *   switch   two processes on one CPU handing it to each other with sched_yield, doing nothing else: one process
 *            switch (SLICES of them), the part of a split hand-over that the next hart's getting the CPU costs.
 *   usage: handover-floor [hub|one-hop|split|split-yield|switch] [SLICES]
 * Built and run by Benchmarks/cluster-speed.sh (section 3) with the host's C compiler. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { harts = 4, stop = -1 };

/* Each word on its own cache line. */
struct padded { _Alignas(64) atomic_int value; _Alignas(64) atomic_int asleep; };
struct shared {
  struct padded run[harts];  /* 1: that hart's slice may start; stop: exit. split: asleep while in FUTEX_WAIT */
  struct padded sequencer;   /* hub: 1 when a hart has yielded */
  _Alignas(64) atomic_long yields;  /* split: slices ended so far */
  _Alignas(64) atomic_long handed;  /* one-hop: hand-overs so far; split: slices started */
  _Alignas(64) atomic_int next;     /* split: the hart expected after the one running */
  long slices;
  int turns;                        /* split (not split-yield): the harts take turns */
};

static void futex(atomic_int *word, int op, int value) { syscall(SYS_futex, word, op, value, NULL, NULL, 0); }

/* Sleeps until *word is non-zero, takes the value and clears it. */
static int take(atomic_int *word) {
  int seen;
  while ((seen = atomic_load(word)) == 0) futex(word, FUTEX_WAIT, 0);
  atomic_store(word, 0);
  return seen;
}

static void give(atomic_int *word, int value) {
  atomic_store(word, value);
  futex(word, FUTEX_WAKE, 1);
}

static void keep_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) perror("handover-floor: sched_setaffinity");
}

/* Another CPU this process may run on than `cpu`, or -1. */
static int other_cpu(int cpu) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (c != cpu && CPU_ISSET(c, &allowed)) return c;
  return -1;
}

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* split: waits for the hart's word: polls for 50 µs, yielding the CPU at each round, then sleeps until it is set.
 * Taking turns, the hart keeps the CPU while it is the one expected next and the running hart has ended its slice,
 * and sleeps at once when it gets the CPU while another is next (not on its first look after its slice, which
 * follows its yield of the CPU: a yielding process goes behind the others). */
static int poll_then_take(struct shared *s, int h) {
  struct padded *word = &s->run[h];
  long until = now_ns() + 50000;
  int seen, first = 1;
  while ((seen = atomic_load(&word->value)) == 0) {
    int is_next = atomic_load(&s->next) == h;
    int due = is_next && atomic_load(&s->yields) == atomic_load(&s->handed);
    if (s->turns && due) {
      __builtin_ia32_pause();
      continue;
    }
    if (now_ns() < until && !(s->turns && !first && !is_next)) {
      sched_yield();
      first = 0;
      continue;
    }
    atomic_store(&word->asleep, 1);
    if ((seen = atomic_load(&word->value)) == 0) futex(&word->value, FUTEX_WAIT, 0);
    atomic_store(&word->asleep, 0);
    until = now_ns() + 50000;
  }
  atomic_store(&word->value, 0);
  return seen;
}

static void stop_all(struct shared *s) {
  for (int h = 0; h < harts; h++) give(&s->run[h].value, stop);
}

static void hart(struct shared *s, int h, const char *shape) {
  int split = !strncmp(shape, "split", 5);
  for (;;) {
    if ((split ? poll_then_take(s, h) : take(&s->run[h].value)) == stop) _exit(0);
    if (!strcmp(shape, "hub")) {
      give(&s->sequencer.value, 1);
    } else if (!strcmp(shape, "one-hop")) {
      if (atomic_fetch_add(&s->handed, 1) + 1 >= s->slices) stop_all(s);
      else give(&s->run[(h + 1) % harts].value, 1);
    } else {
      /* Its slice has ended: it wakes the hart expected next if that one sleeps, then yields the CPU to it. */
      struct padded *next = &s->run[atomic_load(&s->next)];
      if (s->turns && atomic_load(&next->asleep)) futex(&next->value, FUTEX_WAKE, 1);
      atomic_fetch_add(&s->yields, 1);
    }
  }
}

int main(int argc, char **argv) {
  const char *shape = argc > 1 ? argv[1] : "hub";
  long slices = argc > 2 ? atol(argv[2]) : 100000;
  if ((strcmp(shape, "hub") && strcmp(shape, "one-hop") && strcmp(shape, "split") && strcmp(shape, "split-yield")
       && strcmp(shape, "switch")) || slices <= 0) {
    fprintf(stderr, "usage: handover-floor [hub|one-hop|split|split-yield|switch] [SLICES]\n");
    return 2;
  }
  int harts_cpu = sched_getcpu(), sequencer_cpu = harts_cpu;
  if (!strncmp(shape, "split", 5) && (sequencer_cpu = other_cpu(harts_cpu)) < 0) {
    fprintf(stderr, "handover-floor: split needs two CPUs\n");
    return 2;
  }
  struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) {
    perror("handover-floor: mmap");
    return 1;
  }
  memset(s, 0, sizeof *s);
  s->slices = slices;
  s->turns = !strcmp(shape, "split");
  keep_to(harts_cpu);
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  if (!strcmp(shape, "switch")) {
    /* Each round of either process is one switch to the other (the only other runnable one on this CPU). */
    pid_t child = fork();
    if (child < 0) {
      perror("handover-floor: fork");
      return 1;
    }
    while (atomic_fetch_add(&s->handed, 1) < slices) sched_yield();
    if (child == 0) _exit(0);
  }
  for (int h = 0; h < harts && strcmp(shape, "switch"); h++) {
    pid_t child = fork();
    if (child < 0) {
      perror("handover-floor: fork");
      stop_all(s);
      return 1;
    }
    if (child == 0) hart(s, h, shape); /* inherits the harts' CPU */
  }
  if (!strcmp(shape, "one-hop")) {
    give(&s->run[0].value, 1); /* the harts pass the token round among themselves; the last one stops them */
  } else if (!strcmp(shape, "hub")) {
    for (long slice = 0; slice < slices; slice++) {
      give(&s->run[slice % harts].value, 1);
      take(&s->sequencer.value);
    }
    stop_all(s);
  } else if (!strncmp(shape, "split", 5)) {
    keep_to(sequencer_cpu);
    for (long slice = 0; slice < slices; slice++) {
      struct padded *next = &s->run[slice % harts];
      atomic_store(&s->next, (slice + 1) % harts);
      atomic_store(&s->handed, slice + 1);
      atomic_store(&next->value, 1);
      if (atomic_load(&next->asleep)) futex(&next->value, FUTEX_WAKE, 1);
      while (atomic_load(&s->yields) <= slice) __builtin_ia32_pause();
    }
    stop_all(s);
  }
  while (wait(NULL) > 0) {}
  clock_gettime(CLOCK_MONOTONIC, &end);
  double us = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3;
  printf("%.2f\n", us / slices);
  return 0;
}
