/* smp-turns: four harts (-smp 4) take turns writing one shared variable, ROUNDS times each, in the
 * order 0, 1, 2, 3, 0, 1...: hart h waits until `turn` says h, stores (round << 8) | h into `shared`
 * (in take_turn, one store), then passes the turn on. Hart 0 then calls turns_done and checks the
 * last value. For the debugger's tests (reverse execution, watchpoints): the last write to `shared` is
 * hart 3's in the last round, just before turns_done; every hart's writes are its own instructions. */
#include "guest.h"

#define HARTS 4
#define ROUNDS 20

volatile u64 shared;
static volatile u64 turn, finished;

void __attribute__((noinline)) take_turn(u64 h, u64 round) {
  shared = (round << 8) | h;
  turn = turn + 1;
}

static void turns(u64 h) {
  for (u64 round = 0; round < ROUNDS; round++) {
    while (turn % HARTS != h) barrier();
    take_turn(h, round);
  }
  __atomic_fetch_add(&finished, 1, __ATOMIC_ACQ_REL);
}

void __attribute__((noinline)) turns_done(void) { barrier(); }

void secondary_main(u64 hartid) {
  if (hartid < HARTS) turns(hartid);
}

void test_main(void) {
  turns(0);
  u64 start = rdtime();
  while (finished < HARTS && rdtime() - start < 10 * TIMEBASE_HZ) barrier();
  CHECK_EQ(finished, HARTS, "every hart took its turns (run with -smp 4)");
  turns_done();
  CHECK_EQ(shared, ((u64)(ROUNDS - 1) << 8) | (HARTS - 1), "hart 3 wrote last, in the last round");
  CHECK_EQ(turn, (u64)HARTS * ROUNDS, "every turn was taken");
}
