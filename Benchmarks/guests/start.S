# Bare-metal entry for the benchmark guests: a stack per hart (64 KiB each, below __stack_top), main(),
# then the test finisher. Every hart runs main (cpu-smp.c tells them apart by mhartid).
    .section .text.start
    .globl _start
_start:
    csrr    t0, mhartid
    la      sp, __stack_top
    slli    t0, t0, 16
    sub     sp, sp, t0
    # FS = Initial so that F/D instructions are legal.
    li      t0, 1 << 13
    csrs    mstatus, t0
    call    main
    li      t0, 0x100000
    li      t1, 0x5555
    sw      t1, 0(t0)
1:  j       1b
