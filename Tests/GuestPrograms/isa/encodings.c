/* encodings: every 16-bit (compressed) encoding, and the 32-bit encodings of every major opcode over all of
 * funct3 and funct7 (OP-FP's over rs2 too, SYSTEM's funct3 = 0 over its whole funct12), each run once from the
 * same registers; what each did (the registers it changed, the memory it wrote, where it trapped or where
 * execution went on, fcsr) folded into one hash per group, with how many of the group's encodings raised an exception
 * other than the breakpoint that ends every run:
 *   "enc c1.4 76a4... 128 of 2048 trap"
 * The program cannot know the right hashes; a test runs it on rrvm and on QEMU (the reference, with the
 * extensions rrvm does not implement turned off) and compares the lines. So a decoder that accepts a reserved
 * encoding, rejects a valid one or mixes up two fields shows as the group that holds it (-DDUMP=GROUP prints
 * that group's encodings one per line, to find the first that differs).
 *
 * An encoding runs alone at `slot`, in the middle of a sled of c.ebreak: falling through, or jumping or
 * branching anywhere near, ends on a breakpoint whose epc says where execution went. Its registers point into
 * a data window of the sled (c.ebreak halfwords too, so that a jump through a register also ends on one),
 * far enough from the slot that no access can reach it; words an encoding wrote are hashed and put back. A
 * trap (the breakpoint included) goes to `encoding_trap`, which records cause, tval and epc, stores every
 * register and returns to the sweep. Left out: WFI (it would wait for an interrupt that never comes), the CSR
 * forms of SYSTEM beyond a few read-only, floating-point and absent CSRs (zicsr covers them; writing mtvec or
 * mscratch would take the sweep down), JAL beyond +-4 KiB, and jumps to themselves. */
#include "isa.h"

#define SLED_HALFWORDS 16384 /* 32 KiB */
#define SLOT 4096            /* halfword index: 8 KiB into the sled, so branches (+-4 KiB) land inside it */
#define DATA_MID 12288       /* halfword index: 24 KiB in; registers point within 256 bytes of it */
#define WINDOW 2400          /* bytes either side of DATA_MID that an access can reach (offsets up to 2 KiB) */
#define EBREAK16 0x9002
#define PATTERN 0x9002900290029002UL

u16 sled[SLED_HALFWORDS] __attribute__((aligned(4096)));

/* The encoding's registers in and out: x0-x31 (0-31), f0-f31 (32-63), fcsr (64); the trap's cause, tval and epc
 * (65-67); the library's mscratch while an encoding runs (68); the sweep's own registers (70-85). */
u64 enc_state[96];

/* run_encoding: saves the sweep's registers, loads the encoding's, jumps to the slot; every run ends in
 * encoding_trap (mtvec), which stores them back and returns from run_encoding. */
asm(".text\n"
    ".globl run_encoding\n"
    "run_encoding:\n"
    "  la t0, enc_state\n"
    "  sd ra, 560(t0)\n  sd sp, 568(t0)\n  sd gp, 576(t0)\n  sd tp, 584(t0)\n"
    "  sd s0, 592(t0)\n  sd s1, 600(t0)\n  sd s2, 608(t0)\n  sd s3, 616(t0)\n  sd s4, 624(t0)\n  sd s5, 632(t0)\n"
    "  sd s6, 640(t0)\n  sd s7, 648(t0)\n  sd s8, 656(t0)\n  sd s9, 664(t0)\n  sd s10, 672(t0)\n  sd s11, 680(t0)\n"
    "  csrr t1, mscratch\n  sd t1, 544(t0)\n"
    "  csrw mscratch, t0\n"
    "  ld t1, 512(t0)\n  fscsr t1\n"
    "  fld f0, 256(t0)\n  fld f1, 264(t0)\n  fld f2, 272(t0)\n  fld f3, 280(t0)\n  fld f4, 288(t0)\n"
    "  fld f5, 296(t0)\n  fld f6, 304(t0)\n  fld f7, 312(t0)\n  fld f8, 320(t0)\n  fld f9, 328(t0)\n"
    "  fld f10, 336(t0)\n  fld f11, 344(t0)\n  fld f12, 352(t0)\n  fld f13, 360(t0)\n  fld f14, 368(t0)\n"
    "  fld f15, 376(t0)\n  fld f16, 384(t0)\n  fld f17, 392(t0)\n  fld f18, 400(t0)\n  fld f19, 408(t0)\n"
    "  fld f20, 416(t0)\n  fld f21, 424(t0)\n  fld f22, 432(t0)\n  fld f23, 440(t0)\n  fld f24, 448(t0)\n"
    "  fld f25, 456(t0)\n  fld f26, 464(t0)\n  fld f27, 472(t0)\n  fld f28, 480(t0)\n  fld f29, 488(t0)\n"
    "  fld f30, 496(t0)\n  fld f31, 504(t0)\n"
    LOAD_X1_TO_X31_FROM_T0
    "  j sled + 2 * " STR(SLOT) "\n"
    ".balign 4\n"
    ".globl encoding_trap\n"
    "encoding_trap:\n"
    "  csrrw t0, mscratch, t0\n"
    STORE_X1_TO_X31_BUT_T0_AT_T0
    "  csrr t1, mscratch\n  sd t1, 40(t0)\n"
    "  csrr t1, mcause\n  sd t1, 520(t0)\n  csrr t1, mtval\n  sd t1, 528(t0)\n  csrr t1, mepc\n  sd t1, 536(t0)\n"
    "  fsd f0, 256(t0)\n  fsd f1, 264(t0)\n  fsd f2, 272(t0)\n  fsd f3, 280(t0)\n  fsd f4, 288(t0)\n"
    "  fsd f5, 296(t0)\n  fsd f6, 304(t0)\n  fsd f7, 312(t0)\n  fsd f8, 320(t0)\n  fsd f9, 328(t0)\n"
    "  fsd f10, 336(t0)\n  fsd f11, 344(t0)\n  fsd f12, 352(t0)\n  fsd f13, 360(t0)\n  fsd f14, 368(t0)\n"
    "  fsd f15, 376(t0)\n  fsd f16, 384(t0)\n  fsd f17, 392(t0)\n  fsd f18, 400(t0)\n  fsd f19, 408(t0)\n"
    "  fsd f20, 416(t0)\n  fsd f21, 424(t0)\n  fsd f22, 432(t0)\n  fsd f23, 440(t0)\n  fsd f24, 448(t0)\n"
    "  fsd f25, 456(t0)\n  fsd f26, 464(t0)\n  fsd f27, 472(t0)\n  fsd f28, 480(t0)\n  fsd f29, 488(t0)\n"
    "  fsd f30, 496(t0)\n  fsd f31, 504(t0)\n"
    "  frcsr t1\n  sd t1, 512(t0)\n"
    "  ld t1, 544(t0)\n  csrw mscratch, t1\n"
    "  ld ra, 560(t0)\n  ld sp, 568(t0)\n  ld gp, 576(t0)\n  ld tp, 584(t0)\n"
    "  ld s0, 592(t0)\n  ld s1, 600(t0)\n  ld s2, 608(t0)\n  ld s3, 616(t0)\n  ld s4, 624(t0)\n  ld s5, 632(t0)\n"
    "  ld s6, 640(t0)\n  ld s7, 648(t0)\n  ld s8, 656(t0)\n  ld s9, 664(t0)\n  ld s10, 672(t0)\n  ld s11, 680(t0)\n"
    "  ret\n");
void run_encoding(void);
extern char encoding_trap[];

#define CAUSE 65
#define TVAL 66
#define EPC 67
#define FCSR 64

static u64 initial[65];
static u64 slot_address(void) { return (u64)&sled[SLOT]; }
static u64 data_mid(void) { return (u64)&sled[DATA_MID]; }

/* Registers: x1-x31 in the data window, 16 bytes apart (x2 and x8-x15, the compressed forms' bases, below the
 * middle so that their positive offsets stay inside); floating-point registers a mix of NaN-boxed singles,
 * doubles and unboxed values. */
static void set_up_initial(u64 fcsr) {
  initial[0] = 0;
  for (u64 r = 1; r < 32; r++) initial[r] = data_mid() + 16 * r - 256;
  for (u64 r = 0; r < 32; r++) {
    static const u64 values[4] = {0xffffffff3fc00000UL /* 1.5f */, 0x4002000000000000UL /* 2.25 */,
                                  0x123456789abcdef0UL /* an unboxed single, a double */,
                                  0xffffffff80000000UL /* -0.0f */};
    initial[32 + r] = values[r % 4] ^ (r << 3);
  }
  initial[FCSR] = fcsr;
}

static u64 group_hash, group_traps, group_count;
static int dumping; /* -DDUMP=GROUP: print this group's encodings with the hash after each */

/* Runs one encoding (16 or 32 bits) and folds what it did into the group's hash. */
static void run_one(u32 encoding) {
  int compressed = (encoding & 3) != 3;
  sled[SLOT] = (u16)encoding;
  if (!compressed) sled[SLOT + 1] = (u16)(encoding >> 16);
  asm volatile("fence.i" ::: "memory");
  for (u64 i = 0; i < 65; i++) enc_state[i] = initial[i];
  /* mret and sret land on a breakpoint in the sled, sret in S-mode (its breakpoint comes back to M). */
  csr_write(mepc, slot_address() + 96);
  csr_write(sepc, slot_address() + 160);
  csr_set(mstatus, MSTATUS_MPP | MSTATUS_SPP);
  run_encoding();
  u64 hash = fold(group_hash, encoding);
  for (u64 i = 1; i < 65; i++)
    if (enc_state[i] != initial[i]) hash = fold(fold(hash, i), enc_state[i]);
  u64 cause = enc_state[CAUSE];
  /* A breakpoint's tval may be its address or 0 (the privileged specification allows both): rrvm writes the
   * address, QEMU 7.2 writes 0. */
  hash = fold(fold(fold(hash, cause), cause == 3 ? 0 : enc_state[TVAL]), enc_state[EPC] - slot_address());
  u64 *words = (u64 *)(data_mid() - WINDOW);
  for (u64 w = 0; w < 2 * WINDOW / 8 + 1; w++)
    if (words[w] != PATTERN) {
      hash = fold(fold(hash, w), words[w]);
      words[w] = PATTERN;
    }
  sled[SLOT] = EBREAK16;
  sled[SLOT + 1] = EBREAK16;
  if (cause != 3) group_traps++;
  group_hash = hash;
  group_count++;
  if (dumping) gprintf("%08x cause %lx tval %lx epc %lx hash %016lx\n", encoding, cause, enc_state[TVAL], enc_state[EPC] - slot_address(), hash);
}

static const char *group_name;

#ifdef DUMP
static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}
#endif

static void begin(const char *name) {
  group_name = name;
  group_hash = FNV_START;
  group_traps = 0;
  group_count = 0;
#ifdef DUMP
  dumping = same(name, STR(DUMP));
#endif
}

static void end(void) { gprintf("enc %s %016lx %lu of %lu trap\n", group_name, group_hash, group_traps, group_count); }

#define R(f7, rs2, rs1, f3, rd, op) \
  ((u32)(f7) << 25 | (u32)(rs2) << 20 | (u32)(rs1) << 15 | (u32)(f3) << 12 | (u32)(rd) << 7 | (u32)(op))
#define RD 10
#define RS1 11
#define RS2 12

/* Branches, c.j, c.beqz and c.bnez with offset 0 (the sweep would never end). */
static int jumps_to_itself(u32 encoding) {
  if ((encoding & 0x7f) == 0x63) return (encoding & 0xfe000f80) == 0;
  u32 f3 = encoding >> 13 & 7;
  if ((encoding & 3) != 1) return 0;
  if (f3 == 5) return (encoding & 0x1ffc) == 0;
  return (f3 == 6 || f3 == 7) && (encoding & 0x1c7c) == 0;
}

static const char *const major[32] = {
    "load", "load-fp", "custom-0", "misc-mem", "op-imm", "auipc", "op-imm-32", "48-bit",
    "store", "store-fp", "custom-1", "amo", "op", "lui", "op-32", "64-bit",
    "madd", "msub", "nmsub", "nmadd", "op-fp", "op-v", "custom-2", "48-bit-2",
    "branch", "jalr", "reserved", "jal", "system", "op-ve", "custom-3", "80-bit"};

void test_main(void) {
  for (u64 i = 0; i < SLED_HALFWORDS; i++) sled[i] = EBREAK16;
  u64 saved_mtvec = csr_swap(mtvec, (u64)encoding_trap);
  u64 saved_mie = csr_swap(mie, 0);
  csr_set(mstatus, MSTATUS_FS_DIRTY);
  set_up_initial(0);

  /* Every compressed encoding, by quadrant and funct3. */
  static char names[24][8];
  for (u32 quadrant = 0; quadrant < 3; quadrant++)
    for (u32 f3 = 0; f3 < 8; f3++) {
      char *name = names[quadrant * 8 + f3];
      gsprintf(name, sizeof names[0], "c%u.%u", quadrant, f3);
      begin(name);
      for (u32 rest = 0; rest < 2048; rest++)
        if (!jumps_to_itself(f3 << 13 | rest << 2 | quadrant)) run_one(f3 << 13 | rest << 2 | quadrant);
      end();
    }

  /* The major opcodes over funct3 and funct7, rd = a0, rs1 = a1, rs2 = a2, then with x0 in all three (AMOs
   * but: at address 0 an AMO faults, which QEMU 7.2 reports as a load access fault where the privileged
   * specification has a store/AMO access fault, and an SC without a reservation faults on rrvm, which checks the access
   * first, not on QEMU); SYSTEM and JAL apart. */
  for (u32 major_opcode = 0; major_opcode < 32; major_opcode++) {
    if (major_opcode == 0x1b || major_opcode == 0x1c) continue;
    begin(major[major_opcode]);
    for (u32 f3 = 0; f3 < 8; f3++)
      for (u32 f7 = 0; f7 < 128; f7++) {
        run_one(R(f7, RS2, RS1, f3, RD, major_opcode << 2 | 3));
        u32 with_x0 = R(f7, 0, 0, f3, 0, major_opcode << 2 | 3);
        if (major_opcode != 0x0b && !jumps_to_itself(with_x0)) run_one(with_x0);
      }
    end();
  }

  /* OP-FP's rs2 selects among conversions, square roots, fclass and moves. */
  begin("op-fp-rs2");
  for (u32 f7 = 0; f7 < 128; f7++)
    for (u32 rs2 = 0; rs2 < 32; rs2++)
      for (u32 f3 = 0; f3 < 8; f3++) run_one(R(f7, rs2, RS1, f3, RD, 0x53));
  end();

  /* A dynamic rounding mode with each frm, valid or not. */
  begin("frm");
  for (u64 frm = 0; frm < 8; frm++) {
    set_up_initial(frm << 5);
    run_one(R(0x01, 2, 1, 7, 3, 0x53));  /* fadd.d f3, f1, f2, dyn */
    run_one(R(0x00, 2, 1, 7, 3, 0x53));  /* fadd.s */
    run_one(R(0x61, 0, 1, 7, RD, 0x53)); /* fcvt.w.d a0, f1, dyn */
    run_one(R(0x2d, 0, 1, 7, 3, 0x53));  /* fsqrt.d */
    run_one(R(0x08, 2, 1, 7, 3, 0x43) | 4u << 27); /* fmadd.s f3, f1, f2, f4, dyn */
  }
  set_up_initial(0);
  end();

  /* SYSTEM with funct3 = 0: every funct12 with rd = rs1 = 0 but WFI; then each with rd or rs1 set. */
  begin("system");
  for (u32 f12 = 0; f12 < 4096; f12++)
    if (f12 != 0x105) run_one(f12 << 20 | 0x73);
  for (u32 f12 = 0; f12 < 4096; f12++) {
    if (f12 == 0x105) continue;
    run_one(f12 << 20 | RS1 << 15 | 0x73);
    run_one(f12 << 20 | RD << 7 | 0x73);
  }
  for (u32 f7 = 0; f7 < 128; f7++) run_one(R(f7, RS2, RS1, 4, RD, 0x73));
  end();

  /* The CSR forms on CSRs that are read-only (a write is illegal), floating-point or absent. */
  begin("csr");
  static const u32 csrs[] = {0x001, 0x002, 0x003, 0x004, 0x0ff, 0x5ff, 0x8ff, 0xc00, 0xc01, 0xc02, 0xc80,
                             0xf11, 0xf12, 0xf13, 0xf14, 0xfff};
  for (u32 c = 0; c < sizeof csrs / sizeof csrs[0]; c++)
    for (u32 f3 = 1; f3 < 8; f3++)
      if (f3 != 4) run_one(csrs[c] << 20 | RS1 << 15 | f3 << 12 | RD << 7 | 0x73);
  end();

  /* JAL within +-4 KiB, and to x0 and ra. */
  begin("jal");
  for (i64 offset = -4096; offset < 4096; offset += 2) {
    if (offset == 0) continue; /* it would jump to itself for ever */
    u32 imm = (u32)offset;
    u32 bits = (imm >> 20 & 1) << 31 | (imm >> 1 & 0x3ff) << 21 | (imm >> 11 & 1) << 20 | (imm & 0xff000);
    run_one(bits | (u32)(offset >> 1 & 1) << 7 | 0x6f); /* rd alternately x0 and ra */
  }
  end();

  csr_write(mie, saved_mie);
  csr_write(mtvec, saved_mtvec);
}
