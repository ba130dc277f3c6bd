/// IEEE 754 binary32/binary64 arithmetic in integers, with RISC-V NaN rules (canonical NaN results) and
/// tininess detected after rounding. The hart uses it where the host FPU cannot serve (round to nearest,
/// ties to max magnitude; conversions that saturate) and tests use it to check the host path.
/// Bit patterns travel in the low bits of a UInt64; `flags` accumulates RISC-V fflags bits.
struct SoftFloat {
    let exponentBits: Int
    let fractionBits: Int

    static let single = SoftFloat(exponentBits: 8, fractionBits: 23)
    static let double = SoftFloat(exponentBits: 11, fractionBits: 52)

    static let invalid: UInt64 = 16, divideByZero: UInt64 = 8, overflow: UInt64 = 4, underflow: UInt64 = 2
    static let inexact: UInt64 = 1

    var bias: Int { (1 << (exponentBits - 1)) - 1 }
    var precision: Int { fractionBits + 1 }
    var signBit: UInt64 { 1 << UInt64(exponentBits + fractionBits) }
    var exponentMask: UInt64 { (1 << UInt64(exponentBits)) - 1 }
    var fractionMask: UInt64 { (1 << UInt64(fractionBits)) - 1 }
    var infinity: UInt64 { exponentMask << UInt64(fractionBits) }
    var canonicalNaN: UInt64 { infinity | 1 << UInt64(fractionBits - 1) }
    var maxFinite: UInt64 { infinity - 1 }

    // MARK: Classification

    func isNegative(_ bits: UInt64) -> Bool { bits & signBit != 0 }
    func biasedExponent(_ bits: UInt64) -> UInt64 { (bits >> UInt64(fractionBits)) & exponentMask }
    func isNaN(_ bits: UInt64) -> Bool { biasedExponent(bits) == exponentMask && bits & fractionMask != 0 }
    func isSignalingNaN(_ bits: UInt64) -> Bool { isNaN(bits) && bits & (1 << UInt64(fractionBits - 1)) == 0 }
    func isInfinite(_ bits: UInt64) -> Bool { bits & ~signBit == infinity }
    func isZero(_ bits: UInt64) -> Bool { bits & ~signBit == 0 }

    /// The significand as an integer and the exponent of its last bit, for a finite nonzero value.
    func unpack(_ bits: UInt64) -> (significand: UInt64, exponent: Int) {
        let biased = Int(biasedExponent(bits))
        let fraction = bits & fractionMask
        if biased == 0 { return (fraction, 1 - bias - fractionBits) }
        return (fraction | 1 << UInt64(fractionBits), biased - bias - fractionBits)
    }

    func classify(_ bits: UInt64) -> UInt64 {
        let negative = isNegative(bits)
        if isNaN(bits) { return isSignalingNaN(bits) ? 1 << 8 : 1 << 9 }
        if isInfinite(bits) { return negative ? 1 << 0 : 1 << 7 }
        if isZero(bits) { return negative ? 1 << 3 : 1 << 4 }
        if biasedExponent(bits) == 0 { return negative ? 1 << 2 : 1 << 5 }
        return negative ? 1 << 1 : 1 << 6
    }

    // MARK: Rounding

    /// Rounds (-1)^negative × significand × 2^exponent to this format under RISC-V rounding mode `rm`.
    func roundPack(negative: Bool, exponent: Int, significand: UInt64, rm: UInt64, flags: inout UInt64) -> UInt64 {
        let sign = negative ? signBit : 0
        if significand == 0 { return sign }
        let leading = 63 - significand.leadingZeroBitCount
        let topExponent = exponent + leading
        let minExponent = 1 - bias
        let lastBitExponent = max(topExponent, minExponent) - fractionBits
        var (rounded, inexact) = roundedShift(significand, by: lastBitExponent - exponent, negative: negative, rm: rm)
        var resultTop = lastBitExponent + fractionBits
        if rounded >> UInt64(precision) != 0 {
            rounded >>= 1
            resultTop += 1
        }
        let normal = rounded >> UInt64(fractionBits) != 0
        if normal && resultTop > bias {
            flags |= SoftFloat.overflow | SoftFloat.inexact
            let toMax = rm == 1 || (rm == 2 && !negative) || (rm == 3 && negative)
            return sign | (toMax ? maxFinite : infinity)
        }
        if inexact {
            flags |= SoftFloat.inexact
            if topExponent < minExponent {
                // Tiny unless rounding with unbounded exponent range reaches the smallest normal.
                let (unbounded, _) = roundedShift(significand, by: leading - fractionBits, negative: negative, rm: rm)
                let reachesNormal = topExponent == minExponent - 1 && unbounded >> UInt64(precision) != 0
                if !reachesNormal { flags |= SoftFloat.underflow }
            }
        }
        if !normal { return sign | rounded }
        return sign | UInt64(resultTop + bias) << UInt64(fractionBits) | (rounded & fractionMask)
    }

    /// value >> shift rounded per `rm` (shift may be <= 0: exact left shift).
    private func roundedShift(_ value: UInt64, by shift: Int, negative: Bool, rm: UInt64) -> (UInt64, Bool) {
        if shift <= 0 { return (value << UInt64(-shift), false) }
        let kept = shift >= 64 ? 0 : value >> UInt64(shift)
        let rest = shift >= 64 ? value : value & ((1 << UInt64(shift)) - 1)
        if rest == 0 { return (kept, false) }
        // Compare the discarded part with half of the last kept bit.
        let comparison: Int
        if shift > 64 {
            comparison = -1
        } else {
            let half: UInt64 = 1 << UInt64(shift - 1)
            comparison = rest < half ? -1 : rest == half ? 0 : 1
        }
        let up: Bool
        switch rm {
        case 0: up = comparison > 0 || (comparison == 0 && kept & 1 != 0)
        case 4: up = comparison >= 0
        case 2: up = negative
        case 3: up = !negative
        default: up = false
        }
        return (kept &+ (up ? 1 : 0), true)
    }

    /// A 128-bit magnitude reduced to 64 bits, the dropped bits folded into the last one.
    private func compress(_ value: UInt128, exponent: Int) -> (UInt64, Int) {
        let width = 128 - value.leadingZeroBitCount
        if width <= 63 { return (UInt64(value), exponent) }
        let shift = width - 63
        let kept = UInt64(truncatingIfNeeded: value >> UInt128(shift))
        let sticky: UInt64 = value & ((1 << UInt128(shift)) - 1) != 0 ? 1 : 0
        return (kept | sticky, exponent + shift)
    }

    private func shiftRightJam(_ value: UInt128, _ shift: Int) -> UInt128 {
        if shift <= 0 { return value }
        if shift >= 128 { return value != 0 ? 1 : 0 }
        return value >> UInt128(shift) | (value & ((1 << UInt128(shift)) - 1) != 0 ? 1 : 0)
    }

    // MARK: NaN handling

    /// The canonical NaN when an operand is a NaN (invalid flag for a signaling one), else nil.
    private func propagateNaN(_ operands: UInt64..., flags: inout UInt64) -> UInt64? {
        var anyNaN = false
        for operand in operands where isNaN(operand) {
            anyNaN = true
            if isSignalingNaN(operand) { flags |= SoftFloat.invalid }
        }
        return anyNaN ? canonicalNaN : nil
    }

    // MARK: Arithmetic

    func add(_ a: UInt64, _ b: UInt64, rm: UInt64, flags: inout UInt64) -> UInt64 {
        if let nan = propagateNaN(a, b, flags: &flags) { return nan }
        if isInfinite(a) || isInfinite(b) {
            if isInfinite(a) && isInfinite(b) && isNegative(a) != isNegative(b) {
                flags |= SoftFloat.invalid
                return canonicalNaN
            }
            return isInfinite(a) ? a : b
        }
        if isZero(a) && isZero(b) {
            if isNegative(a) == isNegative(b) { return a }
            return rm == 2 ? signBit : 0
        }
        if isZero(a) { return b }
        if isZero(b) { return a }
        var (sa, ea) = unpack(a)
        var (sb, eb) = unpack(b)
        var na = isNegative(a), nb = isNegative(b)
        // Both significands with their leading bit at 125, then aligned to the larger exponent.
        var wa = UInt128(sa) << UInt128(125 - (63 - sa.leadingZeroBitCount))
        ea -= 125 - (63 - sa.leadingZeroBitCount)
        var wb = UInt128(sb) << UInt128(125 - (63 - sb.leadingZeroBitCount))
        eb -= 125 - (63 - sb.leadingZeroBitCount)
        if ea < eb {
            swap(&wa, &wb)
            swap(&ea, &eb)
            swap(&na, &nb)
            swap(&sa, &sb)
        }
        wb = shiftRightJam(wb, ea - eb)
        return sumRounded(wa, negative: na, wb, negative: nb, exponent: ea, rm: rm, flags: &flags)
    }

    /// The rounded signed sum of two significands aligned to `exponent`: the common end of add and of
    /// fused multiply-add.
    private func sumRounded(_ x: UInt128, negative xNegative: Bool, _ y: UInt128, negative yNegative: Bool,
                            exponent: Int, rm: UInt64, flags: inout UInt64) -> UInt64 {
        var negative = xNegative
        let sum: UInt128
        if xNegative == yNegative {
            sum = x + y
        } else if x >= y {
            sum = x - y
        } else {
            sum = y - x
            negative = yNegative
        }
        if sum == 0 { return rm == 2 ? signBit : 0 }
        let (significand, sumExponent) = compress(sum, exponent: exponent)
        return roundPack(negative: negative, exponent: sumExponent, significand: significand, rm: rm, flags: &flags)
    }

    func multiply(_ a: UInt64, _ b: UInt64, rm: UInt64, flags: inout UInt64) -> UInt64 {
        if let nan = propagateNaN(a, b, flags: &flags) { return nan }
        let negative = isNegative(a) != isNegative(b)
        if isInfinite(a) || isInfinite(b) {
            if isZero(a) || isZero(b) {
                flags |= SoftFloat.invalid
                return canonicalNaN
            }
            return infinity | (negative ? signBit : 0)
        }
        if isZero(a) || isZero(b) { return negative ? signBit : 0 }
        let (sa, ea) = unpack(a), (sb, eb) = unpack(b)
        let (significand, exponent) = compress(UInt128(sa) * UInt128(sb), exponent: ea + eb)
        return roundPack(negative: negative, exponent: exponent, significand: significand, rm: rm, flags: &flags)
    }

    func divide(_ a: UInt64, _ b: UInt64, rm: UInt64, flags: inout UInt64) -> UInt64 {
        if let nan = propagateNaN(a, b, flags: &flags) { return nan }
        let negative = isNegative(a) != isNegative(b)
        let sign = negative ? signBit : 0
        if isInfinite(a) {
            if isInfinite(b) {
                flags |= SoftFloat.invalid
                return canonicalNaN
            }
            return infinity | sign
        }
        if isInfinite(b) { return sign }
        if isZero(b) {
            if isZero(a) {
                flags |= SoftFloat.invalid
                return canonicalNaN
            }
            flags |= SoftFloat.divideByZero
            return infinity | sign
        }
        if isZero(a) { return sign }
        let (sa, ea) = unpack(a), (sb, eb) = unpack(b)
        let shift = 126 - (63 - sa.leadingZeroBitCount)
        let numerator = UInt128(sa) << UInt128(shift)
        let (quotient, remainder) = numerator.quotientAndRemainder(dividingBy: UInt128(sb))
        let (significand, exponent) = compress(quotient | (remainder != 0 ? 1 : 0), exponent: ea - shift - eb)
        return roundPack(negative: negative, exponent: exponent, significand: significand, rm: rm, flags: &flags)
    }

    func squareRoot(_ a: UInt64, rm: UInt64, flags: inout UInt64) -> UInt64 {
        if let nan = propagateNaN(a, flags: &flags) { return nan }
        if isZero(a) { return a }
        if isNegative(a) {
            flags |= SoftFloat.invalid
            return canonicalNaN
        }
        if isInfinite(a) { return a }
        var (significand, exponent) = unpack(a)
        var value = UInt128(significand)
        if exponent & 1 != 0 {
            value <<= 1
            exponent -= 1
        }
        let scale = (126 - (127 - value.leadingZeroBitCount)) / 2
        value <<= UInt128(2 * scale)
        let root = SoftFloat.integerSquareRoot(value)
        let exact = root * root == value
        let (rootSignificand, rootExponent) = compress(root | (exact ? 0 : 1), exponent: exponent / 2 - scale)
        return roundPack(negative: false, exponent: rootExponent, significand: rootSignificand, rm: rm, flags: &flags)
    }

    static func integerSquareRoot(_ value: UInt128) -> UInt128 {
        var remainder = value
        var root: UInt128 = 0
        var bit: UInt128 = 1 << 126
        while bit > value { bit >>= 2 }
        while bit != 0 {
            if remainder >= root + bit {
                remainder -= root + bit
                root = (root >> 1) + bit
            } else {
                root >>= 1
            }
            bit >>= 2
        }
        return root
    }

    /// (-1)^negateProduct × a × b + (-1)^negateAddend × c with one rounding.
    func fusedMultiplyAdd(_ a: UInt64, _ b: UInt64, _ c: UInt64, negateProduct: Bool, negateAddend: Bool,
                          rm: UInt64, flags: inout UInt64) -> UInt64 {
        let infinityTimesZero = (isInfinite(a) && isZero(b)) || (isZero(a) && isInfinite(b))
        if let nan = propagateNaN(a, b, c, flags: &flags) {
            if infinityTimesZero { flags |= SoftFloat.invalid }
            return nan
        }
        if infinityTimesZero {
            flags |= SoftFloat.invalid
            return canonicalNaN
        }
        let productNegative = (isNegative(a) != isNegative(b)) != negateProduct
        let addend = negateAddend ? c ^ signBit : c
        let addendNegative = isNegative(addend)
        if isInfinite(a) || isInfinite(b) {
            if isInfinite(addend) && addendNegative != productNegative {
                flags |= SoftFloat.invalid
                return canonicalNaN
            }
            return infinity | (productNegative ? signBit : 0)
        }
        if isInfinite(addend) { return addend }
        if isZero(a) || isZero(b) {
            if !isZero(addend) { return addend }
            if productNegative == addendNegative { return addend }
            return rm == 2 ? signBit : 0
        }
        let (sa, ea) = unpack(a), (sb, eb) = unpack(b)
        var product = UInt128(sa) * UInt128(sb)
        var productExponent = ea + eb
        let productShift = 125 - (127 - product.leadingZeroBitCount)
        product <<= UInt128(productShift)
        productExponent -= productShift
        if isZero(addend) {
            let (significand, exponent) = compress(product, exponent: productExponent)
            return roundPack(negative: productNegative, exponent: exponent, significand: significand, rm: rm,
                             flags: &flags)
        }
        let (sc, ec) = unpack(addend)
        let addendShift = 125 - (63 - sc.leadingZeroBitCount)
        var wide = UInt128(sc) << UInt128(addendShift)
        var exponent = ec - addendShift
        if productExponent >= exponent {
            wide = shiftRightJam(wide, productExponent - exponent)
            exponent = productExponent
        } else {
            product = shiftRightJam(product, exponent - productExponent)
        }
        return sumRounded(product, negative: productNegative, wide, negative: addendNegative, exponent: exponent,
                          rm: rm, flags: &flags)
    }

    // MARK: Conversions

    /// A value of `source` format converted to this format.
    func convert(_ bits: UInt64, from source: SoftFloat, rm: UInt64, flags: inout UInt64) -> UInt64 {
        if source.isNaN(bits) {
            if source.isSignalingNaN(bits) { flags |= SoftFloat.invalid }
            return canonicalNaN
        }
        let sign = source.isNegative(bits) ? signBit : 0
        if source.isInfinite(bits) { return infinity | sign }
        if source.isZero(bits) { return sign }
        let (significand, exponent) = source.unpack(bits)
        return roundPack(negative: sign != 0, exponent: exponent, significand: significand, rm: rm, flags: &flags)
    }

    func fromInteger(_ value: UInt64, signed: Bool, rm: UInt64, flags: inout UInt64) -> UInt64 {
        let negative = signed && Int64(bitPattern: value) < 0
        let magnitude = negative ? 0 &- value : value
        return roundPack(negative: negative, exponent: 0, significand: magnitude, rm: rm, flags: &flags)
    }

    /// Converts to a `width`-bit integer (32 or 64), saturating with the invalid flag; the result is the
    /// register value (32-bit results sign-extended, as RISC-V specifies for fcvt.w[u]).
    func toInteger(_ bits: UInt64, signed: Bool, width: Int, rm: UInt64, flags: inout UInt64) -> UInt64 {
        let maxPositive: UInt64 = signed ? (1 << UInt64(width - 1)) - 1 : (width == 64 ? .max : (1 << 32) - 1)
        let minNegativeMagnitude: UInt64 = signed ? 1 << UInt64(width - 1) : 0
        let negative = isNegative(bits)
        func result(_ magnitude: UInt64, _ isNegative: Bool) -> UInt64 {
            let value = isNegative ? 0 &- magnitude : magnitude
            return width == 32 ? UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value))) : value
        }
        func saturate(_ towardNegative: Bool) -> UInt64 {
            flags |= SoftFloat.invalid
            return towardNegative ? result(minNegativeMagnitude, true) : result(maxPositive, false)
        }
        if isNaN(bits) { return saturate(false) }
        if isInfinite(bits) { return saturate(negative) }
        if isZero(bits) { return 0 }
        let (significand, exponent) = unpack(bits)
        if exponent >= 0 && 64 - significand.leadingZeroBitCount + exponent > 64 { return saturate(negative) }
        let (magnitude, inexact) = roundedShift(significand, by: -exponent, negative: negative, rm: rm)
        if negative {
            if magnitude > minNegativeMagnitude { return saturate(true) }
        } else if magnitude > maxPositive {
            return saturate(false)
        }
        if inexact { flags |= SoftFloat.inexact }
        return result(magnitude, negative)
    }

    // MARK: Comparisons

    /// A key whose unsigned order is the numeric order (with -0 below +0), for non-NaN values.
    private func orderKey(_ bits: UInt64) -> UInt64 {
        isNegative(bits) ? ~bits & (signBit | (signBit - 1)) : bits | signBit
    }

    func equal(_ a: UInt64, _ b: UInt64, flags: inout UInt64) -> Bool {
        if isNaN(a) || isNaN(b) {
            if isSignalingNaN(a) || isSignalingNaN(b) { flags |= SoftFloat.invalid }
            return false
        }
        return a == b || (isZero(a) && isZero(b))
    }

    func less(_ a: UInt64, _ b: UInt64, orEqual: Bool, flags: inout UInt64) -> Bool {
        if isNaN(a) || isNaN(b) {
            flags |= SoftFloat.invalid
            return false
        }
        if isZero(a) && isZero(b) { return orEqual }
        return orEqual ? orderKey(a) <= orderKey(b) : orderKey(a) < orderKey(b)
    }

    /// fmin/fmax: -0 below +0, a single NaN operand ignored, canonical NaN when both are NaN.
    func minMax(_ a: UInt64, _ b: UInt64, maximum: Bool, flags: inout UInt64) -> UInt64 {
        if isSignalingNaN(a) || isSignalingNaN(b) { flags |= SoftFloat.invalid }
        if isNaN(a) { return isNaN(b) ? canonicalNaN : b }
        if isNaN(b) { return a }
        let aFirst = orderKey(a) < orderKey(b)
        return aFirst != maximum ? a : b
    }
}
