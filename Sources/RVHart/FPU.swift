import Glibc

/// Floating point on the host FPU for the four rounding modes x86 and ARM support; SoftFloat for
/// round-to-nearest-max-magnitude, conversions and everything the host would not do RISC-V's way.
///
/// Host exception flags accrue in the host FPU while `run` executes (they are sticky, like fflags) and
/// are folded into fflags when the guest reads fflags/fcsr and when `run` returns. `run` clears them on
/// entry so nothing the host process computed between runs leaks into the guest. Operands are always
/// loaded from the register file after the rounding mode is set and results stored back before the
/// flags are read: both are memory the C calls could touch, so the optimizer cannot move the arithmetic
/// across them. Software paths in this file never do host floating-point arithmetic (it would raise
/// host flags on signaling NaNs).

@inline(__always) func isNaN64(_ bits: UInt64) -> Bool { bits & 0x7fff_ffff_ffff_ffff > 0x7ff0_0000_0000_0000 }
@inline(__always) func isNaN32(_ bits: UInt64) -> Bool { bits & 0x7fff_ffff > 0x7f80_0000 }

/// A single-precision operand: the low 32 bits when properly NaN-boxed, else the canonical NaN.
@inline(__always) func unbox(_ value: UInt64) -> UInt64 {
    value >> 32 == 0xffff_ffff ? value & 0xffff_ffff : 0x7fc0_0000
}

@inline(__always) func box(_ value: UInt64) -> UInt64 {
    value | 0xffff_ffff_0000_0000
}

@inline(__always) func canonical64(_ bits: UInt64) -> UInt64 {
    isNaN64(bits) ? 0x7ff8_0000_0000_0000 : bits
}

@inline(__always) func canonical32(_ bits: UInt64) -> UInt64 {
    isNaN32(bits) ? 0x7fc0_0000 : bits
}

private let roundToNearestMaxMagnitude: UInt64 = 4
private let allHostExceptions: Int32 = FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INEXACT

extension Hart {
    func beginFloatingPoint() {
        // The flags are almost always clear already (collecting them clears them), and testing is much
        // cheaper than clearing on x86-64; `run` begins here on every entry, once per MMIO access.
        dropHostFlags()
        hostRounding = 0
        floatingPointLive = true
    }

    /// Clears the host's exception flags: those the emulator's own work raised, not the guest's.
    func dropHostFlags() {
        if fetestexcept(allHostExceptions) != 0 { feclearexcept(allHostExceptions) }
    }

    func endFloatingPoint() {
        collectFloatingPointFlags()
        if hostRounding != 0 { fesetround(FE_TONEAREST) }
        hostRounding = 0
        floatingPointLive = false
    }

    /// Folds the host's accrued exception flags into fflags (only while `run` owns the host FPU).
    func collectFloatingPointFlags() {
        guard floatingPointLive else { return }
        let raised = fetestexcept(allHostExceptions)
        if raised == 0 { return }
        if raised & FE_INVALID != 0 { fflags |= SoftFloat.invalid }
        if raised & FE_DIVBYZERO != 0 { fflags |= SoftFloat.divideByZero }
        if raised & FE_OVERFLOW != 0 { fflags |= SoftFloat.overflow }
        if raised & FE_UNDERFLOW != 0 { fflags |= SoftFloat.underflow }
        if raised & FE_INEXACT != 0 { fflags |= SoftFloat.inexact }
        feclearexcept(allHostExceptions)
    }

    @inline(never)
    func setHostRounding(_ rm: UInt64) {
        let modes: [Int32] = [FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD]
        fesetround(modes[Int(rm)])
        hostRounding = rm
    }

    /// Sets `roundingFieldsOnHost` from mstatus.FS, frm and the host's rounding mode (never RMM).
    @inline(__always)
    func refreshRoundingFields() {
        guard mstatus & MStatus.fs == MStatus.fs else {
            roundingFieldsOnHost = 0
            return
        }
        let dynamic: UInt8 = frm == hostRounding ? 1 << 7 : 0
        roundingFieldsOnHost = 1 << UInt8(truncatingIfNeeded: hostRounding) | dynamic
    }

    /// FS check: an F/D instruction with mstatus.FS = Off is illegal. Marks the state dirty otherwise.
    @inline(__always)
    func floatingPointEnabled(_ pc: UInt64) -> Bool {
        if _fastPath(mstatus & MStatus.fs != 0) {
            mstatus |= MStatus.fs
            return true
        }
        raiseIllegal(at: pc)
        return false
    }

    /// The rounding mode for an instruction's rm field (7 = frm), with the host set to it; nil with an
    /// illegal-instruction trap for a reserved mode.
    @inline(__always)
    func roundingMode(_ field: Int32, _ pc: UInt64) -> UInt64? {
        var rm = UInt64(field & 7)
        if rm == 7 { rm = frm }
        if _slowPath(rm > 4) {
            raiseIllegal(at: pc)
            return nil
        }
        if rm != hostRounding && rm != roundToNearestMaxMagnitude { setHostRounding(rm) }
        return rm
    }

    /// The illegal-instruction trap with the instruction's bits in tval, re-read from memory.
    @inline(never)
    func raiseIllegal(at pc: UInt64) {
        var raw: UInt64 = 0
        let low = resolve(pc, size: 2, kind: .fetch)
        if low.fault == 0, let host = low.host {
            raw = UInt64(host.loadUnaligned(as: UInt16.self))
            if raw & 3 == 3 {
                let high = resolve(pc &+ 2, size: 2, kind: .fetch)
                if high.fault == 0, let highHost = high.host {
                    raw |= UInt64(highHost.loadUnaligned(as: UInt16.self)) << 16
                }
            }
        }
        raise(Cause.illegalInstruction, raw)
    }

    // MARK: Double precision fast paths

    /// fadd.d/fsub.d/fmul.d/fdiv.d on the host FPU, in whatever rounding mode the host is in.
    @inline(__always)
    func hostDoubleArithmetic(_ op: Op, _ a: UInt64, _ b: UInt64) -> UInt64 {
        let x = Double(bitPattern: a), y = Double(bitPattern: b)
        switch op {
        case .faddD: return (x + y).bitPattern
        case .fsubD: return (x - y).bitPattern
        case .fmulD: return (x * y).bitPattern
        default: return (x / y).bitPattern
        }
    }

    @inline(__always)
    func doubleArithmetic(_ op: Op, _ a: UInt64, _ b: UInt64, _ rm: UInt64) -> UInt64 {
        if _slowPath(rm == roundToNearestMaxMagnitude) {
            return softArithmetic(op, a, b, format: .double, rm: rm)
        }
        return canonical64(hostDoubleArithmetic(op, a, b))
    }

    @inline(__always)
    func doubleFusedMultiplyAdd(_ op: Op, _ a: UInt64, _ b: UInt64, _ c: UInt64, _ rm: UInt64) -> UInt64 {
        // fmadd.d or fnmsub.d (fmsub.d and fnmadd.d are `fpOther`).
        fusedMultiplyAdd(a, b, c, negateProduct: op == .fnmsubD, negateAddend: false, format: .double, rm: rm)
    }

    @inline(never)
    func softArithmetic(_ op: Op, _ a: UInt64, _ b: UInt64, format: SoftFloat, rm: UInt64) -> UInt64 {
        var flags: UInt64 = 0
        let result: UInt64
        switch op {
        case .faddD: result = format.add(a, b, rm: rm, flags: &flags)
        case .fsubD: result = format.add(a, b ^ format.signBit, rm: rm, flags: &flags)
        case .fmulD: result = format.multiply(a, b, rm: rm, flags: &flags)
        default: result = format.divide(a, b, rm: rm, flags: &flags)
        }
        fflags |= flags
        return result
    }

    /// Fused multiply-add in either format. The host's fma does the arithmetic; the invalid flag for
    /// infinity × 0 is raised here because RISC-V wants it even when the addend is a quiet NaN.
    func fusedMultiplyAdd(_ a: UInt64, _ b: UInt64, _ c: UInt64, negateProduct: Bool, negateAddend: Bool,
                          format: SoftFloat, rm: UInt64) -> UInt64 {
        if rm == roundToNearestMaxMagnitude {
            var flags: UInt64 = 0
            let result = format.fusedMultiplyAdd(a, b, c, negateProduct: negateProduct, negateAddend: negateAddend,
                                                 rm: rm, flags: &flags)
            fflags |= flags
            return result
        }
        if (format.isInfinite(a) && format.isZero(b)) || (format.isZero(a) && format.isInfinite(b)) {
            fflags |= SoftFloat.invalid
            return format.canonicalNaN
        }
        let productSign: UInt64 = negateProduct ? format.signBit : 0
        let addendSign: UInt64 = negateAddend ? format.signBit : 0
        if format.fractionBits == 52 {
            let x = Double(bitPattern: a ^ productSign), y = Double(bitPattern: b), z = Double(bitPattern: c ^ addendSign)
            return canonical64(z.addingProduct(x, y).bitPattern)
        }
        let x = Float(bitPattern: UInt32(truncatingIfNeeded: a ^ productSign))
        let y = Float(bitPattern: UInt32(truncatingIfNeeded: b))
        let z = Float(bitPattern: UInt32(truncatingIfNeeded: c ^ addendSign))
        return canonical32(UInt64(z.addingProduct(x, y).bitPattern))
    }

    // MARK: Everything else

    /// Executes an OP-FP instruction, a single-precision FMA, fmsub.d or fnmadd.d the loop does not handle itself (the encoding
    /// was validated by the decoder). Returns false with a trap raised.
    @inline(never)
    func executeFloatingPoint(_ raw: UInt32, pc: UInt64) -> Bool {
        let rd = RegisterFile.fpBase + Int((raw >> 7) & 31)
        let intRd = Int((raw >> 7) & 31)
        let rs1 = Int((raw >> 15) & 31), rs2 = Int((raw >> 20) & 31)
        let funct3 = (raw >> 12) & 7
        let opcode = raw & 0x7f
        let isDouble = (raw >> 25) & 1 == 1
        let format: SoftFloat = isDouble ? .double : .single
        // The rounding mode (and the host's) is settled before any operand is read.
        var rm: UInt64 = 0
        let usesRounding: Bool
        switch raw >> 27 {
        case 0x00, 0x01, 0x02, 0x03, 0x0b, 0x08, 0x18, 0x1a: usesRounding = true
        default: usesRounding = opcode != 0x53
        }
        if usesRounding {
            guard let mode = roundingMode(Int32(funct3), pc) else { return false }
            rm = mode
        }
        let f1 = regs[RegisterFile.fpBase + rs1], f2 = regs[RegisterFile.fpBase + rs2]
        let a = isDouble ? f1 : unbox(f1), b = isDouble ? f2 : unbox(f2)
        func setFloat(_ value: UInt64) { regs[rd] = isDouble ? value : box(value) }
        func setInteger(_ value: UInt64) { if intRd != 0 { regs[intRd] = value } }
        var flags: UInt64 = 0
        defer { fflags |= flags }

        if opcode != 0x53 {  // FMA
            let f3 = regs[RegisterFile.fpBase + Int(raw >> 27)]
            setFloat(fusedMultiplyAdd(a, b, isDouble ? f3 : unbox(f3), negateProduct: opcode == 0x4b || opcode == 0x4f,
                                      negateAddend: opcode == 0x47 || opcode == 0x4f, format: format, rm: rm))
            return true
        }
        switch raw >> 27 {
        case 0x00, 0x01, 0x02, 0x03:  // single add, sub, mul, div
            let op = Decoder.arithmeticOps[Int(raw >> 27)]
            if rm == roundToNearestMaxMagnitude {
                setFloat(softArithmetic(op, a, b, format: .single, rm: rm))
                return true
            }
            let xv = Float(bitPattern: UInt32(truncatingIfNeeded: a))
            let yv = Float(bitPattern: UInt32(truncatingIfNeeded: b))
            let result: Float
            switch op {
            case .faddD: result = xv + yv
            case .fsubD: result = xv - yv
            case .fmulD: result = xv * yv
            default: result = xv / yv
            }
            setFloat(canonical32(UInt64(result.bitPattern)))
        case 0x0b:  // sqrt
            if rm == roundToNearestMaxMagnitude {
                setFloat(format.squareRoot(a, rm: rm, flags: &flags))
            } else if isDouble {
                setFloat(canonical64(Double(bitPattern: a).squareRoot().bitPattern))
            } else {
                let x = Float(bitPattern: UInt32(truncatingIfNeeded: a))
                setFloat(canonical32(UInt64(x.squareRoot().bitPattern)))
            }
        case 0x04:  // sign injection (single; the loop does double)
            let sign = format.signBit
            let source: UInt64
            switch funct3 {
            case 0: source = b
            case 1: source = ~b
            default: source = a ^ b
            }
            setFloat((a & ~sign) | (source & sign))
        case 0x05:
            setFloat(format.minMax(a, b, maximum: funct3 == 1, flags: &flags))
        case 0x08:  // fcvt.s.d / fcvt.d.s
            if isDouble {
                setFloat(SoftFloat.double.convert(unbox(f1), from: .single, rm: rm, flags: &flags))
            } else {
                setFloat(SoftFloat.single.convert(f1, from: .double, rm: rm, flags: &flags))
            }
        case 0x14:
            let result: Bool
            switch funct3 {
            case 2: result = format.equal(a, b, flags: &flags)
            case 1: result = format.less(a, b, orEqual: false, flags: &flags)
            default: result = format.less(a, b, orEqual: true, flags: &flags)
            }
            setInteger(result ? 1 : 0)
        case 0x18:  // fcvt to integer
            let signed = rs2 & 1 == 0
            let width = rs2 >= 2 ? 64 : 32
            setInteger(format.toInteger(a, signed: signed, width: width, rm: rm, flags: &flags))
        case 0x1a:  // fcvt from integer
            var value = regs[rs1]
            let signed = rs2 & 1 == 0
            if rs2 < 2 { value = signed ? signExtend32(value) : value & 0xffff_ffff }
            setFloat(format.fromInteger(value, signed: signed, rm: rm, flags: &flags))
        case 0x1c:  // fclass (fmv.x.* is decoded separately)
            setInteger(format.classify(a))
        default:
            raiseIllegal(raw)
            return false
        }
        return true
    }
}
