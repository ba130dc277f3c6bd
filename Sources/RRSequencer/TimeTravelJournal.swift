#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRProto

/// Records a run that a debugger may take back into its past (`rrctl up --record LOG --gdb PORT`).
///
/// At the present it is the run's `RecordJournal`. Going back (`enterPast`), the writer is flushed and the
/// log written so far becomes the input of a `ReplayJournal` on the same file: it knows the recording went on
/// to the present's G, past its last record, and checkpoints taken while recording name offsets in it (see
/// `RecordJournal.position`). The machine then re-executes the past exactly as a replay does (inputs from the
/// log, every check compared). Once it is back at the present with every record consumed (`returnToPresent`),
/// recording goes on, appending to the same file: nothing is written twice, and the log stays one valid log.
public final class TimeTravelJournal: EventJournal {
    public let record: RecordJournal
    /// The replay of the log so far, while the machine is in the past.
    private var past: ReplayJournal?
    /// Where the recording stopped (the present), while the machine is in the past.
    public private(set) var present: UInt64?

    public init(record: RecordJournal) {
        self.record = record
    }

    /// Whether the machine is at the present (recording), not replaying its past.
    public var isLive: Bool { past == nil }
    public var isReplaying: Bool { past != nil }
    public var checkInterval: UInt64 { record.checkInterval }
    private var current: EventJournal { past ?? record }

    /// The machine leaves the present, stopped at G=`presentG` (a checkpoint point, every record up to it
    /// written): the log so far is flushed and replayed from here on, until `returnToPresent`.
    public func enterPast(presentG: UInt64) throws {
        guard past == nil else { return }
        try record.writer.flush()
        let replay = try ReplayJournal(path: record.writer.path)
        replay.present = presentG
        past = replay
        present = presentG
    }

    /// The machine is back at the present (G == `present`): recording goes on where it stopped. Refused while a
    /// record of the past has not been replayed yet (the machine would not be where the recording stopped).
    public func returnToPresent(atG g: UInt64) throws {
        guard let past, let present else { return }
        guard g == present, past.isExhausted else {
            throw LogError("the replay of the past is at G=\(g), not at the present (G=\(present)) with the whole log "
                           + "replayed: the recording cannot go on from here")
        }
        self.past = nil
        self.present = nil
    }

    public func note(_ envelope: Rrvm_Envelope) -> JournalStop? { current.note(envelope) }
    public func check(_ check: Rrvm_LogCheck) -> JournalStop? { current.check(check) }

    public func input(at g: UInt64, live: Rrvm_HostInput?, idleFrom: UInt64?) -> Result<Rrvm_HostInput?, JournalStop> {
        current.input(at: g, live: live, idleFrom: idleFrom)
    }

    public func nextRecordedInputG() -> UInt64? { current.nextRecordedInputG() }
    public func stopAtBoundary(g: UInt64) -> JournalStop? { current.stopAtBoundary(g: g) }

    /// The run ends. In the past (the debugger or rrctl ended it there), the recording ends at the present:
    /// the end record carries the present's G and the messages recorded up to it, so that the log replays to
    /// where it was recorded (its `retired` counts the instructions up to where the run ended).
    public func end(_ end: Rrvm_LogEnd) -> JournalStop? {
        guard let present else { return record.end(end) }
        var atPresent = end
        atPresent.g = max(end.g, present)
        atPresent.events = UInt64(record.events)
        atPresent.guestEnded = false
        return record.end(atPresent)
    }

    public func position() -> Rrvm_LogPosition? { current.position() }

    public func seek(to position: Rrvm_LogPosition) throws {
        guard let past else {
            throw SequencerStateError("a recording goes back to a checkpoint only from its past (enterPast first)")
        }
        try past.seek(to: position)
    }
}
