/// The bus protocol version carried in every Hello. Bump it when the bus changes incompatibly.
/// 8: Envelope.past (a device operation re-executed while a recording under a debugger is in its past).
/// 9: StableRead.set_by_write_mask and its line (writes a hart posts under a declaration: msip, PLIC enable words).
/// 10: a shared lane's doorbells ring in named pipes beside it, no longer on the socket (SharedLane).
/// 11: StableRead.line_is_timer_compare (harts post their 64-bit writes to the CLINT's mtimecmp words).
/// 12: DeviceAccess.foretold (the sequencer applies the declared answer of such a write and takes the answer later).
/// 13: StableRead.more_values and stride (a declaration of an array of registers: the PLIC's priorities, enable words
/// and thresholds); Run.stable_reads holds only the declarations the hart does not hold already.
/// 14: Run.check_at and check_interval, HartCheck: a running hart sends its part of a periodic check from inside its
/// slice instead of ending the slice there.
/// 15: DeviceDone.foretold_answers (a device answers the foretold writes it found as foretold together).
/// 16: Run.declared_values (the registers foretold writes set since the declaration a hart holds, not the whole one).
/// 17: DeviceDone.input_backlog (the UART says how much console input it holds) and InputFlow (the sequencer asks
/// rrctl to stop reading the host's console, or to go on).
/// 18: DebugStopped.held_console_output (a hart stopped by the debugger shows the console output it holds).
public let protocolVersion: UInt32 = 18

/// The log format version written after the log's magic. Bump it when records change meaning or order.
/// 6: the schedule policy (MachineConfig.schedule) is part of the header; logs before it ran every slice
/// for at most a quantum, which this rrvm no longer replays.
/// 7: the CLINT declares each hart's msip word stable, so a hart answers its own msip reads; a full-detail
/// log before it holds those reads as device operations, which replay would no longer consume.
/// 8: harts post their writes to the CLINT's msip words and the PLIC's enable words (declared set by writes)
/// instead of waiting for the answer, so interrupt lines reach them at other points and a run differs from one
/// recorded before.
/// 9: harts post their 64-bit writes to the CLINT's mtimecmp words too (declared set by writes) and answer its
/// reads of them, so a full-detail log holds them at other points and other interrupt lines reach a hart later.
/// 10: those posted writes to the CLINT (msip, mtimecmp) are foretold (DeviceAccess.foretold): a full-detail log
/// holds no answer for them.
/// 11: harts post their writes to the PLIC's priority and threshold registers (declared set by writes) and answer
/// the UART's MSR reads (declared stable), so a full-detail log holds them at other points and interrupt lines reach
/// a hart at other points.
/// 12: a check is taken exactly where the harts have retired a multiple of the check interval, the running hart's
/// part from inside its slice, and no slice ends for one: a lone hart's slice goes on to the next event, so a
/// full-detail log holds fewer yields, and checks fall at other G.
/// 13: a hart in a spin loop (a load and a branch back that cannot end while it alone runs, `Hart.isInSpinLoop`)
/// ends its slice as at a spin-wait hint when another hart could run, so multi-hart runs switch harts at other G.
/// 14: the UART's answers carry its console input backlog (a full-detail log holds it), and host console input
/// is delivered at most 16 bytes (a FIFO) at a time, only while the UART holds less than that.
/// 15: a hart keeps all 16 bits of satp's ASID. Format 14 harts dropped bit 0, so Linux's fences for its odd ASIDs
/// dropped no translation: its runs (and every check after its first process started) differ.
public let logFormatVersion: UInt32 = 15

/// The release of rrvm, written into log headers.
public let rrvmVersion = "0.2.0"

/// Endpoint numbers: who sent and who receives a stamped message (see proto/rrvm.proto).
public enum Endpoint {
    public static let sequencer: UInt32 = 0
    public static let control: UInt32 = 1
    public static func hart(_ index: Int) -> UInt32 { 100 + UInt32(index) }
    public static func device(_ index: Int) -> UInt32 { 200 + UInt32(index) }

    public static func isHart(_ endpoint: UInt32) -> Bool { endpoint >= 100 && endpoint < 200 }
    public static func isDevice(_ endpoint: UInt32) -> Bool { endpoint >= 200 }
    public static func hartIndex(_ endpoint: UInt32) -> Int { Int(endpoint) - 100 }
    public static func deviceIndex(_ endpoint: UInt32) -> Int { Int(endpoint) - 200 }

    /// A name for messages and `rrctl ps`, e.g. "hart 2" or "device 3 (uart)".
    public static func describe(_ endpoint: UInt32, config: Rrvm_MachineConfig? = nil) -> String {
        switch endpoint {
        case sequencer: return "sequencer"
        case control: return "rrctl"
        case _ where isHart(endpoint): return "hart \(hartIndex(endpoint))"
        default:
            let index = deviceIndex(endpoint)
            if let devices = config?.devices, index < devices.count {
                return "device \(index) (\(devices[index].kindName))"
            }
            return "device \(index)"
        }
    }
}

/// The format of checkpoint messages (`Checkpoint` and the states in it, proto/rrvm.proto). Bump it when a
/// state's meaning changes, so that a checkpoint from another version is refused rather than misread.
/// 3: a hart's state holds its TLB entries, recent code pages and decoded pages (HartState.tlb...), which a
/// restore puts back; a format 2 state restored with them empty, which a guest breaking the fence rules can tell.
/// 4: a hart's slice holds where it sends its next check (SliceProgress.check_at), which a format 3 state lacks.
/// 5: a hart's TLB entries may map a device's page (a format 4 hart walked the page table at each device access).
/// 6: a hart paused inside a slice keeps the batch it holds (SliceProgress.held_batch); a format 5 hart sent it at
/// the pause, so its device's state already holds it.
public let checkpointFormatVersion: UInt32 = 6
