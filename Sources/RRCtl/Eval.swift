import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RVPlatform

/// `--eval` and `--timeout`, shared by `up` and `rr`.
struct EvalOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Commands for the guest's shell, separated by ';': run once it is up, then the guest powers off with the status of the first that failed (else 0).",
        discussion: "They reach init as `rrvm.eval=` on the kernel command line (percent-encoded); the default guest's init follows that convention (README, \"Commands in the guest\").",
        valueName: "commands"))
    var eval: String?

    @Option(help: ArgumentHelp(
        "Stop the run after this many seconds of host time if the guest has not powered off (status 124). Default with --eval: \(Int(GuestEval.defaultTimeout)); otherwise none.",
        valueName: "seconds"))
    var timeout: Double?

    func validate() throws {
        if let timeout, !(timeout > 0 && timeout <= 1e7) {
            throw ValidationError("--timeout must be a number of seconds above 0, not \(timeout)")
        }
    }

    /// The timeout a run gets: --timeout, else a default that ends an --eval whose kernel ignores it.
    var effectiveTimeout: Double? { timeout ?? (eval == nil ? nil : GuestEval.defaultTimeout) }
}

/// The exit status of a run stopped by --timeout (as timeout(1)'s).
let timeoutExitCode: Int32 = 124

/// How `--eval` commands travel to the guest's init: one kernel command line parameter,
/// `rrvm.eval=VALUE`, where VALUE is the commands' bytes with every byte outside '!'...'~', and
/// '"' and '%', written as %XX (two hex digits). Linux splits its command line at spaces and treats
/// '"' as quoting, so this is what lets any byte through; the whole line must fit Linux's limit.
enum GuestEval {
    static let parameter = "rrvm.eval="
    /// RISC-V Linux keeps at most COMMAND_LINE_SIZE (1024) bytes of command line, its NUL included.
    static let commandLineLimit = 1023
    static let defaultTimeout: Double = 600

    static func encode(_ commands: String) -> String {
        var encoded = ""
        for byte in commands.utf8 {
            if byte > 0x20 && byte < 0x7f && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "%") {
                encoded.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                encoded += "%" + hexadecimal(byte).uppercased()
            }
        }
        return encoded
    }

    /// `base` with the commands added as `rrvm.eval=`, or `base` unchanged without commands. `firmwareBoots`: a
    /// firmware hands the kernel this line as Linux's boot convention has it, so Linux's limit holds for `base` too
    /// (longer, Linux would cut it short without a word); a bare kernel (`--bios none`) may read what it likes.
    static func commandLine(_ base: String, adding commands: String?, firmwareBoots: Bool) throws -> String {
        if (firmwareBoots || commands != nil) && base.utf8.count > commandLineLimit {
            throw ValidationError("--append is too long: \(base.utf8.count) bytes of kernel command line; Linux on RISC-V "
                                  + "keeps at most \(commandLineLimit)")
        }
        guard let commands else { return base }
        guard commands.utf8.contains(where: { ![UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: ";"), UInt8(ascii: "\n")].contains($0) }) else {
            throw ValidationError("--eval needs at least one command")
        }
        guard !base.split(separator: " ").contains(where: { $0.hasPrefix(parameter) }) else {
            throw ValidationError("--append already holds \(parameter); give the commands once, with --eval")
        }
        let encoded = encode(commands)
        let line = base.isEmpty ? parameter + encoded : base + " " + parameter + encoded
        guard line.utf8.count <= commandLineLimit else {
            throw ValidationError("--eval is too long: the kernel command line would be \(line.utf8.count) bytes "
                                  + "(the commands take \(encoded.utf8.count) once encoded); Linux on RISC-V keeps at most \(commandLineLimit)")
        }
        return line
    }
}

/// "12.3" for a number of seconds.
func formatSeconds(_ seconds: Double) -> String { fixedPoint(seconds, decimals: 1) }
