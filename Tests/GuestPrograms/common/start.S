/* Start code, trap entries and privilege switching shared by every test program.
 *
 * Every hart arrives at _start in M-mode with a0 = hart id and a1 = device tree. Hart 0 clears .bss
 * and releases the others; each hart gets its own stack and its own M and S trap stacks (kept in
 * mscratch/sscratch while it runs), tp = hart id, then calls common_entry(hartid, dtb).
 */
#define MAX_HARTS 8
#define STACK_SHIFT 14      /* 16 KiB stack per hart */
#define TRAP_STACK_SHIFT 12 /* 4 KiB trap stack per hart and level */
#define FRAME_SIZE (34 * 8) /* struct trap_frame */
#define VECTOR_OFFSET (32 * 8)
#define RUN_IN_MODE_MAGIC 0x52524d4f4445
#define CONTEXT_SHIFT 7     /* 16 saved words per hart in run_in_mode */

  .section .text.init, "ax"
  .globl _start
_start:
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  mv tp, a0
  csrw mie, zero
  li t0, 1 << 13            /* mstatus.FS = Initial, everything else 0 */
  csrw mstatus, t0
  csrw fcsr, zero
  la t0, m_trap_entry
  csrw mtvec, t0
  /* PMP entry 0 covers the whole address space with RWX, so that S and U may run: with no entry
   * matching, S/U accesses fail. */
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f               /* NAPOT | X | W | R */
  csrw pmpcfg0, t0
  csrw medeleg, zero
  csrw mideleg, zero
  csrw mcounteren, zero
  csrw satp, zero
  li t0, MAX_HARTS
  bgeu a0, t0, park

  addi t1, a0, 1
  slli t2, t1, STACK_SHIFT
  la sp, hart_stacks
  add sp, sp, t2
  slli t2, t1, TRAP_STACK_SHIFT
  la t0, m_trap_stacks
  add t0, t0, t2
  csrw mscratch, t0
  la t0, s_trap_stacks
  add t0, t0, t2
  csrw sscratch, t0

  bnez a0, wait_for_boot
  la t0, __bss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  fence rw, rw
  la t0, boot_ready
  li t1, 1
  sw t1, 0(t0)
  j 4f
wait_for_boot:
  la t0, boot_ready
3:
  lw t1, 0(t0)
  beqz t1, 3b
  fence r, rw
4:
  call common_entry
park:
  wfi
  j park

/* ---- Trap entry ----
 * A stub swaps sp with the level's scratch CSR (the trap stack top), opens a frame, saves t0 and puts
 * the vector number in it; the common part saves the rest, calls the C handler with the frame, then
 * restores everything (the handler may have changed the frame) and returns with xRET. */
.macro TRAP_STUB label, scratch, vector, common
\label:
  csrrw sp, \scratch, sp
  addi sp, sp, -FRAME_SIZE
  sd t0, 5*8(sp)
  li t0, \vector
  j \common
.endm

.macro SAVE_REGS
  sd x1, 1*8(sp)
  sd x3, 3*8(sp)
  sd x4, 4*8(sp)
  .irp n, 6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  sd x\n, \n*8(sp)
  .endr
.endm

.macro RESTORE_REGS
  ld x1, 1*8(sp)
  ld x3, 3*8(sp)
  ld x4, 4*8(sp)
  .irp n, 5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  ld x\n, \n*8(sp)
  .endr
  ld sp, 2*8(sp)
.endm

.macro TRAP_COMMON label, scratch, handler, xret
\label:
  sd t0, VECTOR_OFFSET(sp)
  SAVE_REGS
  csrr t0, \scratch
  sd t0, 2*8(sp)
  mv a0, sp
  call \handler
  addi t0, sp, FRAME_SIZE
  csrw \scratch, t0
  RESTORE_REGS
  \xret
.endm

  .text
  .balign 4
  TRAP_STUB m_trap_entry, mscratch, -1, m_trap_common
  TRAP_COMMON m_trap_common, mscratch, m_trap_handler, mret
  .balign 4
  TRAP_STUB s_trap_entry, sscratch, -1, s_trap_common
  TRAP_COMMON s_trap_common, sscratch, s_trap_handler, sret

  .irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  TRAP_STUB m_vector_\n, mscratch, \n, m_trap_common
  TRAP_STUB s_vector_\n, sscratch, \n, s_trap_common
  .endr

/* Vectored mode: entry 0 takes exceptions, entry n interrupt cause n. Each entry is 4 bytes, so the
 * jumps must not be compressed. */
  .option push
  .option norvc
  .balign 256
  .globl m_vector_table
m_vector_table:
  j m_trap_entry
  .irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  j m_vector_\n
  .endr
  .balign 256
  .globl s_vector_table
s_vector_table:
  j s_trap_entry
  .irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  j s_vector_\n
  .endr
  .option pop
  .globl m_trap_entry, s_trap_entry

/* i64 run_in_mode(u64 mode, i64 (*fn)(i64), i64 arg, void *stack)
 * Saves the callee-saved state and mstatus, then mrets into fn in `mode` with ra = lower_mode_exit.
 * The M handler sends the trampoline's ecall to run_in_mode_return. */
  .globl run_in_mode
run_in_mode:
  la t0, lower_contexts
  slli t1, tp, CONTEXT_SHIFT
  add t0, t0, t1
  sd ra, 0(t0)
  sd sp, 8(t0)
  .irp n, 0,1,2,3,4,5,6,7,8,9,10,11
  sd s\n, (16 + \n*8)(t0)
  .endr
  csrr t1, mstatus
  sd t1, 112(t0)
  li t1, 3 << 11
  csrc mstatus, t1
  slli t1, a0, 11
  csrs mstatus, t1
  csrw mepc, a1
  mv t2, a0
  mv a0, a2
  beqz a3, 1f
  mv sp, a3
1:
  /* S cannot execute U pages, U cannot execute S pages: each has its own return trampoline. */
  la ra, lower_mode_exit
  beqz t2, 2f
  la ra, supervisor_mode_exit
2:
  mret

  .globl run_in_mode_return
run_in_mode_return:
  la t0, lower_contexts
  slli t1, tp, CONTEXT_SHIFT
  add t0, t0, t1
  ld ra, 0(t0)
  ld sp, 8(t0)
  .irp n, 0,1,2,3,4,5,6,7,8,9,10,11
  ld s\n, (16 + \n*8)(t0)
  .endr
  /* mstatus.MIE as it was when run_in_mode was called */
  ld t1, 112(t0)
  andi t1, t1, 1 << 3
  csrs mstatus, t1
  xori t1, t1, 1 << 3
  csrc mstatus, t1
  ret

/* The lower mode's return path: U-mode code returns to lower_mode_exit in the user section, S-mode
 * code to supervisor_mode_exit. */
supervisor_mode_exit:
  li a7, RUN_IN_MODE_MAGIC
  ecall
  j supervisor_mode_exit

  .section .user_text, "ax"
  .globl lower_mode_exit
lower_mode_exit:
  li a7, RUN_IN_MODE_MAGIC
  ecall
  j lower_mode_exit

  .data
  .balign 4
boot_ready:
  .word 0

  .bss
  .balign 16
lower_contexts:
  .space MAX_HARTS << CONTEXT_SHIFT

  .section .stacks, "aw", @nobits
  .balign 16
hart_stacks:
  .space MAX_HARTS << STACK_SHIFT
m_trap_stacks:
  .space MAX_HARTS << TRAP_STACK_SHIFT
s_trap_stacks:
  .space MAX_HARTS << TRAP_STACK_SHIFT
