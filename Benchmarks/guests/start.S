# Bare-metal entry for the benchmark guests: a stack, main(), then the test finisher.
    .section .text.start
    .globl _start
_start:
    la      sp, __stack_top
    # FS = Initial so that F/D instructions are legal.
    li      t0, 1 << 13
    csrs    mstatus, t0
    call    main
    li      t0, 0x100000
    li      t1, 0x5555
    sw      t1, 0(t0)
1:  j       1b
