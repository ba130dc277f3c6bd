@testable import RVHart
import XCTest

/// Hand encodings of RISC-V instructions (enough for the tests; names follow the ISA manual).
enum Asm {
    static func r(_ opcode: UInt32, rd: UInt32, funct3: UInt32, rs1: UInt32, rs2: UInt32, funct7: UInt32) -> UInt32 {
        funct7 << 25 | rs2 << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode
    }

    static func i(_ opcode: UInt32, rd: UInt32, funct3: UInt32, rs1: UInt32, imm: Int32) -> UInt32 {
        UInt32(bitPattern: imm & 0xfff) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode
    }

    static func s(_ opcode: UInt32, funct3: UInt32, rs1: UInt32, rs2: UInt32, imm: Int32) -> UInt32 {
        let u = UInt32(bitPattern: imm)
        return (u >> 5 & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | funct3 << 12 | (u & 0x1f) << 7 | opcode
    }

    static func b(funct3: UInt32, rs1: UInt32, rs2: UInt32, offset: Int32) -> UInt32 {
        let u = UInt32(bitPattern: offset)
        return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | funct3 << 12
            | (u >> 1 & 0xf) << 8 | (u >> 11 & 1) << 7 | 0x63
    }

    static func u(_ opcode: UInt32, rd: UInt32, imm: UInt32) -> UInt32 { imm & 0xffff_f000 | rd << 7 | opcode }

    static func jal(rd: UInt32, offset: Int32) -> UInt32 {
        let u = UInt32(bitPattern: offset)
        return (u >> 20 & 1) << 31 | (u >> 1 & 0x3ff) << 21 | (u >> 11 & 1) << 20 | (u >> 12 & 0xff) << 12 | rd << 7 | 0x6f
    }

    static func jalr(rd: UInt32, rs1: UInt32, imm: Int32 = 0) -> UInt32 { i(0x67, rd: rd, funct3: 0, rs1: rs1, imm: imm) }
    static func lui(_ rd: UInt32, _ imm: UInt32) -> UInt32 { u(0x37, rd: rd, imm: imm) }
    static func auipc(_ rd: UInt32, _ imm: UInt32) -> UInt32 { u(0x17, rd: rd, imm: imm) }
    static func addi(_ rd: UInt32, _ rs1: UInt32, _ imm: Int32) -> UInt32 { i(0x13, rd: rd, funct3: 0, rs1: rs1, imm: imm) }
    static func addiw(_ rd: UInt32, _ rs1: UInt32, _ imm: Int32) -> UInt32 { i(0x1b, rd: rd, funct3: 0, rs1: rs1, imm: imm) }
    static func slli(_ rd: UInt32, _ rs1: UInt32, _ shamt: Int32) -> UInt32 { i(0x13, rd: rd, funct3: 1, rs1: rs1, imm: shamt) }
    static func srli(_ rd: UInt32, _ rs1: UInt32, _ shamt: Int32) -> UInt32 { i(0x13, rd: rd, funct3: 5, rs1: rs1, imm: shamt) }
    static func srai(_ rd: UInt32, _ rs1: UInt32, _ shamt: Int32) -> UInt32 {
        i(0x13, rd: rd, funct3: 5, rs1: rs1, imm: 0x400 | shamt)
    }
    static func op(_ funct7: UInt32, _ funct3: UInt32, _ rd: UInt32, _ rs1: UInt32, _ rs2: UInt32) -> UInt32 {
        r(0x33, rd: rd, funct3: funct3, rs1: rs1, rs2: rs2, funct7: funct7)
    }
    static func op32(_ funct7: UInt32, _ funct3: UInt32, _ rd: UInt32, _ rs1: UInt32, _ rs2: UInt32) -> UInt32 {
        r(0x3b, rd: rd, funct3: funct3, rs1: rs1, rs2: rs2, funct7: funct7)
    }
    static func add(_ rd: UInt32, _ rs1: UInt32, _ rs2: UInt32) -> UInt32 { op(0, 0, rd, rs1, rs2) }
    static func load(_ funct3: UInt32, _ rd: UInt32, _ rs1: UInt32, _ imm: Int32) -> UInt32 {
        i(0x03, rd: rd, funct3: funct3, rs1: rs1, imm: imm)
    }
    static func store(_ funct3: UInt32, _ rs2: UInt32, _ rs1: UInt32, _ imm: Int32) -> UInt32 {
        s(0x23, funct3: funct3, rs1: rs1, rs2: rs2, imm: imm)
    }
    static func ld(_ rd: UInt32, _ rs1: UInt32, _ imm: Int32 = 0) -> UInt32 { load(3, rd, rs1, imm) }
    static func lw(_ rd: UInt32, _ rs1: UInt32, _ imm: Int32 = 0) -> UInt32 { load(2, rd, rs1, imm) }
    static func sd(_ rs2: UInt32, _ rs1: UInt32, _ imm: Int32 = 0) -> UInt32 { store(3, rs2, rs1, imm) }
    static func sw(_ rs2: UInt32, _ rs1: UInt32, _ imm: Int32 = 0) -> UInt32 { store(2, rs2, rs1, imm) }
    static func csr(_ funct3: UInt32, _ rd: UInt32, _ csr: Int, _ rs1: UInt32) -> UInt32 {
        UInt32(csr) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | 0x73
    }
    static func csrrw(_ rd: UInt32, _ number: Int, _ rs1: UInt32) -> UInt32 { csr(1, rd, number, rs1) }
    static func csrrs(_ rd: UInt32, _ number: Int, _ rs1: UInt32) -> UInt32 { csr(2, rd, number, rs1) }
    static func csrrc(_ rd: UInt32, _ number: Int, _ rs1: UInt32) -> UInt32 { csr(3, rd, number, rs1) }
    static func csrr(_ rd: UInt32, _ number: Int) -> UInt32 { csrrs(rd, number, 0) }
    static func csrw(_ number: Int, _ rs1: UInt32) -> UInt32 { csrrw(0, number, rs1) }
    static func csrwi(_ number: Int, _ uimm: UInt32) -> UInt32 { csr(5, 0, number, uimm) }
    static func amo(_ funct5: UInt32, width: UInt32, _ rd: UInt32, _ rs1: UInt32, _ rs2: UInt32) -> UInt32 {
        r(0x2f, rd: rd, funct3: width, rs1: rs1, rs2: rs2, funct7: funct5 << 2)
    }
    static func fp(_ funct7: UInt32, _ rm: UInt32, _ rd: UInt32, _ rs1: UInt32, _ rs2: UInt32) -> UInt32 {
        r(0x53, rd: rd, funct3: rm, rs1: rs1, rs2: rs2, funct7: funct7)
    }
    static func fma(_ opcode: UInt32, double: Bool, rm: UInt32, _ rd: UInt32, _ rs1: UInt32, _ rs2: UInt32,
                    _ rs3: UInt32) -> UInt32 {
        rs3 << 27 | (double ? 1 : 0) << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | opcode
    }
    static let ecall: UInt32 = 0x0000_0073
    static let ebreak: UInt32 = 0x0010_0073
    static let mret: UInt32 = 0x3020_0073
    static let sret: UInt32 = 0x1020_0073
    static let wfi: UInt32 = 0x1050_0073
    static let pause: UInt32 = 0x0100_000f
    static let fenceI: UInt32 = 0x0000_100f
    static func sfenceVMA(_ rs1: UInt32 = 0, _ rs2: UInt32 = 0) -> UInt32 { 0x1200_0073 | rs2 << 20 | rs1 << 15 }
    static let nop: UInt32 = addi(0, 0, 0)
}

/// A hart on 1 MiB of RAM at 0x8000_0000 with a device window at 0x1000_0000 (4 KiB).
final class TestMachine {
    static let ramBase: UInt64 = 0x8000_0000
    static let ramSize: UInt64 = 1 << 20
    static let device: UInt64 = 0x1000_0000

    let ram: UnsafeMutableRawPointer
    let hart: Hart

    init(rom: [UInt8] = [], maxSatpMode: SatpMode = .sv48, icountShift: UInt32 = 0,
         translation: Translation = .off, translatedCodeBytes: Int? = nil) {
        ram = .allocate(byteCount: Int(TestMachine.ramSize), alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: Int(TestMachine.ramSize))
        var config = HartConfig(ram: ram, ramBase: TestMachine.ramBase, ramSize: TestMachine.ramSize, rom: rom,
                                mmioRegions: [MemoryRegion(base: TestMachine.device, size: 0x1000)],
                                icountShift: icountShift, maxSatpMode: maxSatpMode)
        config.translation = translation
        if let translatedCodeBytes { config.translatedCodeBytes = translatedCodeBytes }
        hart = Hart(config: config)
        hart.pc = TestMachine.ramBase
    }

    deinit { ram.deallocate() }

    /// Writes 32-bit instructions at `address` (RAM).
    func put(_ words: [UInt32], at address: UInt64 = TestMachine.ramBase) {
        for (index, word) in words.enumerated() { write32(address + UInt64(4 * index), word) }
        hart.invalidateDecodedInstructions()
    }

    /// Writes 16-bit (compressed) parcels at `address`.
    func put16(_ halves: [UInt16], at address: UInt64) {
        for (index, half) in halves.enumerated() {
            (ram + Int(address - TestMachine.ramBase + UInt64(2 * index))).storeBytes(of: half, as: UInt16.self)
        }
        hart.invalidateDecodedInstructions()
    }

    func write32(_ address: UInt64, _ value: UInt32) {
        (ram + Int(address - TestMachine.ramBase)).storeBytes(of: value, toByteOffset: 0, as: UInt32.self)
    }

    func write64(_ address: UInt64, _ value: UInt64) {
        (ram + Int(address - TestMachine.ramBase)).storeBytes(of: value, toByteOffset: 0, as: UInt64.self)
    }

    func read64(_ address: UInt64) -> UInt64 {
        (ram + Int(address - TestMachine.ramBase)).loadUnaligned(as: UInt64.self)
    }

    func read32(_ address: UInt64) -> UInt32 {
        (ram + Int(address - TestMachine.ramBase)).loadUnaligned(as: UInt32.self)
    }

    /// Runs up to `count` instructions (checks the count when no stop came first).
    @discardableResult
    func run(_ count: UInt64) -> StopReason {
        hart.run(budget: count, globalCount: hart.retired)
    }

    /// Runs `count` instructions and checks that exactly that many retired.
    @discardableResult
    func step(_ count: UInt64 = 1, file: StaticString = #filePath, line: UInt = #line) -> StopReason {
        let before = hart.retired
        let reason = hart.run(budget: count, globalCount: hart.retired)
        if reason == .budgetExhausted {
            XCTAssertEqual(hart.retired - before, count, "retired", file: file, line: line)
        }
        return reason
    }

    /// The operation decoded for the instruction at `address` (RAM), nil while its page is not decoded.
    func decodedOp(at address: UInt64) -> Op? {
        hart.codePages[hart.codeIndex(address)!].map { $0[Int((address & 0xfff) >> 1)].op }
    }

    /// Asserts that a machine loaded by `load` and run with each of `budgets` in turn (budgets that end between the
    /// instructions of fused slots, in both dispatch modes: near and far events) is after each where single steps of
    /// this machine, loaded the same way (one instruction per run, so no fused slot ever runs as one), left it, by
    /// `state`. Returns the machine run by budgets, for the test's own checks at the end.
    @discardableResult
    func assertBudgetsMatchSingleSteps(_ budgets: [UInt64], load: (TestMachine) -> Void,
                                       state: (TestMachine) -> [UInt64],
                                       file: StaticString = #filePath, line: UInt = #line) -> TestMachine {
        load(self)
        let steps = budgets.reduce(0, +)
        var trace: [[UInt64]] = []
        for _ in 0...steps {
            trace.append(state(self))
            step(1, file: file, line: line)
        }
        let runs = TestMachine()
        load(runs)
        var total: UInt64 = 0
        for budget in budgets {
            XCTAssertEqual(runs.hart.run(budget: budget, globalCount: total), .budgetExhausted, file: file, line: line)
            total += budget
            XCTAssertEqual(runs.hart.retired, total, file: file, line: line)
            XCTAssertEqual(state(runs), trace[Int(total)], "after \(total)", file: file, line: line)
        }
        return runs
    }

    /// Puts `program` at RAM base, runs it to the end (count = number of words) and returns the hart.
    func execute(_ program: [UInt32], file: StaticString = #filePath, line: UInt = #line) {
        put(program)
        hart.pc = TestMachine.ramBase
        let reason = hart.run(budget: UInt64(program.count), globalCount: 0)
        XCTAssertEqual(reason, .budgetExhausted, file: file, line: line)
    }

    /// Sets x[register] to a 64-bit constant directly.
    func set(_ register: Int, _ value: UInt64) { hart.setRegister(register, value) }
    func x(_ register: Int) -> UInt64 { hart.register(register) }
    func csr(_ number: Int) -> UInt64 { hart.readCSR(UInt16(number)) ?? 0xdead }

    /// Points mtvec (or stvec) at `handler` and fills it with `nops` nops (enough of them, and every instruction
    /// retired after a trap is one of them: pc tells how many ran).
    func installHandler(at handler: UInt64, mode: PrivilegeMode = .machine, nops: Int = 4) {
        put([UInt32](repeating: Asm.nop, count: nops), at: handler)
        if mode == .machine { hart.mtvec = handler } else { hart.stvec = handler }
    }

    /// The check every pairing of two stores needs: `put` writes, at RAM base, a store of x8 to 0(x10), one of x9 to
    /// 8(x10) (the second at RAM base + `secondStore`) and a jump back; the loop runs once as a whole (`decoded` checks
    /// what it became), then with x10 eight bytes before the end of RAM the second store faults: the first has stored,
    /// mepc is the second, and nothing after it ran. Near the budget's end and far from it.
    func checkSecondStoreFaults(secondStore: UInt64, put: (TestMachine) -> Void, decoded: (TestMachine) -> Void = { _ in },
                                file: StaticString = #filePath, line: UInt = #line) {
        let nops = TestMachine.ramBase + 0x1_0000
        let end = TestMachine.ramBase + TestMachine.ramSize
        for budget: UInt64 in [2, 3000] {
            put(self)
            installHandler(at: nops, nops: 4096)
            set(10, TestMachine.ramBase + 0x2800)
            set(8, 0x8888)
            set(9, 0x9999)
            hart.pc = TestMachine.ramBase
            XCTAssertEqual(run(3000), .budgetExhausted, file: file, line: line)
            decoded(self)
            XCTAssertEqual(read64(TestMachine.ramBase + 0x2808), 0x9999, file: file, line: line)
            let before = hart.retired
            XCTAssertEqual(hart.pc, TestMachine.ramBase, file: file, line: line)
            set(10, end - 8)
            XCTAssertEqual(run(budget), .budgetExhausted, file: file, line: line)
            XCTAssertEqual(hart.mcause, Cause.storeAccess, file: file, line: line)
            XCTAssertEqual(hart.mepc, TestMachine.ramBase + secondStore, file: file, line: line)
            XCTAssertEqual(hart.mtval, end, file: file, line: line)
            XCTAssertEqual(read64(end - 8), 0x8888, file: file, line: line)
            XCTAssertEqual(hart.pc, nops + 4 * (hart.retired - before - 1), "budget \(budget)", file: file, line: line)
        }
    }
}

extension Hart {
    /// Test access to the privilege level.
    func forcePrivilege(_ mode: PrivilegeMode) {
        priv = mode
        selectTLBs()
    }
}
