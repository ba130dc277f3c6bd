import RRRoles
import RRSequencer

/// The debugger's view of a `ClusterTimeline` (see `DebuggerTimeline`): the machine moves forward under the
/// debugger as one timeline run (automatic checkpoints on the way), which a reverse operation ends where the
/// debugger holds the machine before it goes back.
///
/// In a replay the run goes towards the end of the log. In a recording (`rrctl up --record LOG --gdb PORT`,
/// `recording` set) it goes on live; going back leaves the present: a checkpoint is kept there, the log so
/// far is flushed and the sequencer replays it (`TimeTravelJournal`), the timeline going no further than the
/// present. A forward run that reaches the present there returns to recording and goes on live.
final class ReplayTimeline: DebuggerTimeline {
    private let timeline: ClusterTimeline
    private let sequencer: Sequencer
    private let recording: TimeTravelJournal?
    /// A forward run is under way, and a takeover waits for it to end.
    private var forwardRun = false
    private var takeOverDone: ((Result<Void, Error>) -> Void)?
    /// Called with a line for the user when the machine leaves or returns to the present of a recording.
    var onPresentChange: ((String) -> Void)?

    init(timeline: ClusterTimeline, sequencer: Sequencer, recording: TimeTravelJournal? = nil) {
        self.timeline = timeline
        self.sequencer = sequencer
        self.recording = recording
    }

    /// One line for a state dump: the debugger's run and take-over, then the timeline's operation.
    var stateDescription: String {
        (forwardRun ? "a forward run under way" + (takeOverDone != nil ? ", a take-over waiting for it to end" : "") + "; " : "")
            + timeline.stateDescription
    }

    var present: UInt64? { recording?.present }
    var isLive: Bool { recording?.isLive ?? false }

    func runForward() {
        guard !forwardRun else { return }
        forwardRun = true
        forwardLeg()
    }

    /// Runs to the end of the log (replay), on live (a recording at its present), or to the present (a
    /// recording's past: there it records again, and the next leg goes on live).
    private func forwardLeg() {
        let target = recording == nil ? timeline.endG ?? .max : present ?? .max
        timeline.run(toG: target) { [weak self] result in
            guard let self else { return }
            if let done = self.takeOverDone {
                self.forwardRun = false
                self.takeOverDone = nil
                return done(result)
            }
            guard case .success = result else {
                self.forwardRun = false
                return
            }
            guard let recording = self.recording else {
                // At the log's last G: the sequencer runs what remains (the guest's end, or the log's).
                self.forwardRun = false
                return self.sequencer.run(untilG: nil)
            }
            guard let present = recording.present, self.timeline.g >= present else {
                self.forwardRun = false  // interrupted short of the present
                return
            }
            do {
                try self.returnToPresent()
            } catch {
                self.forwardRun = false
                self.onPresentChange?("rrvm: \(error)")
                return
            }
            self.forwardLeg()
        }
    }

    func takeOver(atG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void) {
        guard forwardRun else { return done(.success(())) }
        takeOverDone = done
        timeline.endRun(atG: g)
    }

    func seek(toG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void) {
        guard let recording, recording.isLive, g < timeline.g else {
            return timeline.seek(toG: min(g, present ?? .max), then: done)
        }
        leavePresent { [weak self] result in
            guard let self else { return }
            if case .failure = result { return done(result) }
            self.timeline.seek(toG: g, then: done)
        }
    }

    func run(toG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void) {
        timeline.run(toG: g, then: done)
    }

    func checkpointG(atOrBefore g: UInt64) -> UInt64? {
        timeline.nearestCheckpoint(atOrBefore: g)?.g
    }

    // MARK: - A recording's present

    /// The machine, stopped at a checkpoint point of a live recording, goes into its past: a checkpoint is kept
    /// here (unless one is), the log flushed, and from now on the sequencer replays it up to here.
    private func leavePresent(then done: @escaping (Result<Void, Error>) -> Void) {
        guard let recording else { return done(.success(())) }
        let g = timeline.g
        let enter = { [weak self] in
            guard let self else { return }
            do {
                try recording.enterPast(presentG: g)
            } catch {
                return done(.failure(error))
            }
            self.timeline.endG = g
            self.onPresentChange?("rrvm: back in the recording's past; the present is G=\(g), where recording goes on")
            done(.success(()))
        }
        if timeline.nearestCheckpoint(atOrBefore: g)?.g == g { return enter() }
        timeline.keepCheckpoint { result in
            if case .failure(let error) = result { return done(.failure(error)) }
            enter()
        }
    }

    /// The replay of the past has reached the present: recording goes on, appending to the log.
    private func returnToPresent() throws {
        guard let recording, let present = recording.present else { return }
        try recording.returnToPresent(atG: timeline.g)
        timeline.endG = nil
        onPresentChange?("rrvm: at the present (G=\(present)): recording again")
    }
}
