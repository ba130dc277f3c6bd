import RRRoles
import RRSequencer

/// The debugger's view of a replay's `ClusterTimeline` (see `DebuggerTimeline`): the machine moves forward
/// under the debugger as one timeline run towards the end of the log (automatic checkpoints on the way), which
/// a reverse operation ends where the debugger holds the machine before it goes back.
final class ReplayTimeline: DebuggerTimeline {
    private let timeline: ClusterTimeline
    private let sequencer: Sequencer
    /// A forward run is under way, and a takeover waits for it to end.
    private var forwardRun = false
    private var takeOverDone: ((Result<Void, Error>) -> Void)?
    /// G between automatic checkpoints under gdb (unless --checkpoint-interval says otherwise): denser than a
    /// plain replay's, so that going back a little replays little.
    static let defaultInterval: UInt64 = 10_000_000

    init(timeline: ClusterTimeline, sequencer: Sequencer) {
        self.timeline = timeline
        self.sequencer = sequencer
    }

    func runForward() {
        guard !forwardRun else { return }
        forwardRun = true
        timeline.run(toG: timeline.endG ?? .max) { [weak self] result in
            guard let self else { return }
            self.forwardRun = false
            if let done = self.takeOverDone {
                self.takeOverDone = nil
                return done(result)
            }
            // At the log's last G: the sequencer runs what remains (the guest's end, or the log's).
            if case .success = result { self.sequencer.run(untilG: nil) }
        }
    }

    func takeOver(atG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void) {
        guard forwardRun else { return done(.success(())) }
        takeOverDone = done
        timeline.endRun(atG: g)
    }

    func seek(toG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void) {
        timeline.seek(toG: g, then: done)
    }

    func run(toG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void) {
        timeline.run(toG: g, then: done)
    }

    func checkpointG(atOrBefore g: UInt64) -> UInt64? {
        timeline.nearestCheckpoint(atOrBefore: g)?.g
    }
}
