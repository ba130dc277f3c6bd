/// The few x86-64 instructions the translating tier (`BlockTranslator`) emits, encoded into a byte buffer, with
/// labels for its forward and backward jumps. 64-bit operations unless a method says `32`.
struct X86Assembler {
    enum Register: UInt8 {
        case rax = 0, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15
        var low: UInt8 { rawValue & 7 }
        var extended: Bool { rawValue >= 8 }
    }

    /// A register or a 64-bit word at a base register plus a displacement (never rsp or r12 as the base: those
    /// would need a SIB byte).
    enum Operand: Equatable {
        case register(Register)
        case memory(Register, Int32)
    }

    /// Condition codes of jcc and setcc.
    enum Condition: UInt8 {
        case below = 2, aboveOrEqual = 3, equal = 4, notEqual = 5, less = 0xc, greaterOrEqual = 0xd

        /// The opposite condition: x86 pairs each with its negation in the lowest bit.
        var inverted: Condition { Condition(rawValue: rawValue ^ 1)! }
    }

    /// The two-operand integer operations with their opcodes (reg, r/m form) and their /digit in the immediate form.
    enum Arithmetic {
        case add, or, and, sub, xor, cmp
        var registerOpcode: UInt8 {
            switch self {
            case .add: 0x03
            case .or: 0x0b
            case .and: 0x23
            case .sub: 0x2b
            case .xor: 0x33
            case .cmp: 0x3b
            }
        }
        var immediateDigit: UInt8 {
            switch self {
            case .add: 0
            case .or: 1
            case .and: 4
            case .sub: 5
            case .xor: 6
            case .cmp: 7
            }
        }
    }

    enum Shift: UInt8 {
        case left = 4, rightLogical = 5, rightArithmetic = 7
    }

    struct Label {
        let id: Int
    }

    private(set) var bytes: [UInt8] = []
    private var labelOffsets: [Int?] = []
    /// rel32 fields to fill in: where the field is and which label it names.
    private var fixups: [(field: Int, label: Int)] = []

    mutating func newLabel() -> Label {
        labelOffsets.append(nil)
        return Label(id: labelOffsets.count - 1)
    }

    mutating func bind(_ label: Label) {
        labelOffsets[label.id] = bytes.count
    }

    /// The code with every jump's displacement filled in. Every label used must be bound.
    func finished() -> [UInt8] {
        var code = bytes
        for (field, label) in fixups {
            let displacement = Int32(labelOffsets[label]! - (field + 4))
            withUnsafeBytes(of: displacement.littleEndian) { code.replaceSubrange(field..<field + 4, with: $0) }
        }
        return code
    }

    // MARK: Encoding

    private mutating func emit(_ byte: UInt8) { bytes.append(byte) }

    private mutating func emit32(_ value: Int32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// REX (when needed), the opcode bytes, then ModRM (and displacement) for `reg` and `rm`; with `opcodeOnly`,
    /// REX.W and the opcode alone (cqo).
    private mutating func emit(wide: Bool, _ opcode: [UInt8], reg: UInt8, _ rm: Operand, prefix: UInt8? = nil,
                               opcodeOnly: Bool = false) {
        if opcodeOnly {
            if wide { emit(0x48) }
            bytes.append(contentsOf: opcode)
            return
        }
        if let prefix { emit(prefix) }
        let base: Register
        switch rm {
        case .register(let r): base = r
        case .memory(let r, _):
            precondition(r != .rsp && r != .r12, "a base that needs a SIB byte")
            base = r
        }
        let rex: UInt8 = 0x40 | (wide ? 8 : 0) | (reg >= 8 ? 4 : 0) | (base.extended ? 1 : 0)
        if rex != 0x40 { emit(rex) }
        bytes.append(contentsOf: opcode)
        switch rm {
        case .register(let r):
            emit(0xc0 | (reg & 7) << 3 | r.low)
        case .memory(let r, let displacement):
            if displacement >= -128 && displacement <= 127 {
                emit(0x40 | (reg & 7) << 3 | r.low)
                emit(UInt8(bitPattern: Int8(displacement)))
            } else {
                emit(0x80 | (reg & 7) << 3 | r.low)
                emit32(displacement)
            }
        }
    }

    // MARK: Instructions

    /// mov destination, source (one of them a register).
    mutating func move(_ destination: Operand, _ source: Operand) {
        switch (destination, source) {
        case (.register(let d), _):
            if source == destination { return }
            emit(wide: true, [0x8b], reg: d.rawValue, source)
        case (_, .register(let s)):
            emit(wide: true, [0x89], reg: s.rawValue, destination)
        default:
            preconditionFailure("a move between two memory operands")
        }
    }

    /// mov register, a constant (sign-extended imm32 where it fits, else imm64).
    mutating func move(_ destination: Register, constant: UInt64) {
        let signed = Int64(bitPattern: constant)
        if signed >= Int64(Int32.min) && signed <= Int64(Int32.max) {
            emit(wide: true, [0xc7], reg: 0, .register(destination))
            emit32(Int32(signed))
        } else {
            emit(0x48 | (destination.extended ? 1 : 0))
            emit(0xb8 + destination.low)
            withUnsafeBytes(of: constant.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    /// `operation` register, source.
    mutating func arithmetic(_ operation: Arithmetic, _ destination: Register, _ source: Operand, wide: Bool = true) {
        emit(wide: wide, [operation.registerOpcode], reg: destination.rawValue, source)
    }

    /// `operation` operand, a sign-extended 32-bit constant.
    mutating func arithmetic(_ operation: Arithmetic, _ destination: Operand, immediate: Int32, wide: Bool = true) {
        if immediate >= -128 && immediate <= 127 {
            emit(wide: wide, [0x83], reg: operation.immediateDigit, destination)
            emit(UInt8(bitPattern: Int8(immediate)))
        } else {
            emit(wide: wide, [0x81], reg: operation.immediateDigit, destination)
            emit32(immediate)
        }
    }

    mutating func shift(_ kind: Shift, _ register: Register, by count: UInt8, wide: Bool = true) {
        emit(wide: wide, [0xc1], reg: kind.rawValue, .register(register))
        emit(count)
    }

    /// Shifts by cl (masked to 6 bits, or 5 when not wide, as RISC-V's register shifts).
    mutating func shiftByCL(_ kind: Shift, _ register: Register, wide: Bool = true) {
        emit(wide: wide, [0xd3], reg: kind.rawValue, .register(register))
    }

    /// imul register, source (the low 64 bits of the product).
    mutating func multiply(_ destination: Register, _ source: Operand) {
        emit(wide: true, [0x0f, 0xaf], reg: destination.rawValue, source)
    }

    /// test register, register (flags of their and).
    mutating func test(_ register: Register, wide: Bool = true) {
        emit(wide: wide, [0x85], reg: register.rawValue, .register(register))
    }

    /// neg register.
    mutating func negate(_ register: Register, wide: Bool = true) {
        emit(wide: wide, [0xf7], reg: 3, .register(register))
    }

    /// rdx:rax / divisor (edx:eax when not wide): the quotient in rax, the remainder in rdx. Signed after cqo
    /// (`extendIntoRDX`), unsigned after rdx is cleared. Faults on a zero divisor and on a signed overflow: callers
    /// rule both out first.
    mutating func divide(by divisor: Register, signed: Bool, wide: Bool = true) {
        if signed {
            emit(wide: wide, [0x99], reg: 0, .register(.rax), opcodeOnly: true)
        } else {
            arithmetic(.xor, .rdx, .register(.rdx), wide: false)
        }
        emit(wide: wide, [0xf7], reg: signed ? 7 : 6, .register(divisor))
    }

    /// movsxd register, the low 32 bits of source.
    mutating func signExtend32(_ destination: Register, _ source: Operand) {
        emit(wide: true, [0x63], reg: destination.rawValue, source)
    }

    /// register = 1 when `condition` holds, else 0 (setcc on its low byte, then movzx). register must be rax, rcx
    /// or rdx: their low bytes need no REX prefix.
    mutating func set(_ register: Register, if condition: Condition) {
        precondition(register.rawValue < 4)
        emit(wide: false, [0x0f, 0x90 + condition.rawValue], reg: 0, .register(register))
        emit(wide: false, [0x0f, 0xb6], reg: register.rawValue, .register(register))
    }

    /// Loads `size` bytes at [base + displacement] into destination, sign- or zero-extended to 64 bits.
    mutating func load(_ destination: Register, size: Int, signed: Bool, from base: Register, _ displacement: Int32 = 0) {
        let source = Operand.memory(base, displacement)
        switch (size, signed) {
        case (1, false): emit(wide: false, [0x0f, 0xb6], reg: destination.rawValue, source)
        case (1, true): emit(wide: true, [0x0f, 0xbe], reg: destination.rawValue, source)
        case (2, false): emit(wide: false, [0x0f, 0xb7], reg: destination.rawValue, source)
        case (2, true): emit(wide: true, [0x0f, 0xbf], reg: destination.rawValue, source)
        case (4, false): emit(wide: false, [0x8b], reg: destination.rawValue, source)
        case (4, true): emit(wide: true, [0x63], reg: destination.rawValue, source)
        default: emit(wide: true, [0x8b], reg: destination.rawValue, source)
        }
    }

    /// Stores the low `size` bytes of source at [base + displacement]. source must be rax, rcx or rdx for a
    /// byte store (their low bytes need no REX prefix).
    mutating func store(_ source: Register, size: Int, to base: Register, _ displacement: Int32 = 0) {
        let destination = Operand.memory(base, displacement)
        switch size {
        case 1:
            precondition(source.rawValue < 4)
            emit(wide: false, [0x88], reg: source.rawValue, destination)
        case 2: emit(wide: false, [0x89], reg: source.rawValue, destination, prefix: 0x66)
        case 4: emit(wide: false, [0x89], reg: source.rawValue, destination)
        default: emit(wide: true, [0x89], reg: source.rawValue, destination)
        }
    }

    /// cmp byte [base + displacement], a constant.
    mutating func compareByte(at base: Register, _ displacement: Int32, _ value: UInt8) {
        emit(wide: false, [0x80], reg: 7, .memory(base, displacement))
        emit(value)
    }

    /// jmp to the address in a register.
    mutating func jump(to register: Register) {
        emit(wide: false, [0xff], reg: 4, .register(register))
    }

    /// Where the next instruction goes, in bytes from the start.
    var offset: Int { bytes.count }

    mutating func push(_ register: Register) {
        if register.extended { emit(0x41) }
        emit(0x50 + register.low)
    }

    mutating func pop(_ register: Register) {
        if register.extended { emit(0x41) }
        emit(0x58 + register.low)
    }

    mutating func jump(_ label: Label) {
        emit(0xe9)
        fixups.append((bytes.count, label.id))
        emit32(0)
    }

    mutating func jump(if condition: Condition, _ label: Label) {
        emit(0x0f)
        emit(0x80 + condition.rawValue)
        fixups.append((bytes.count, label.id))
        emit32(0)
    }

    mutating func ret() { emit(0xc3) }
}
