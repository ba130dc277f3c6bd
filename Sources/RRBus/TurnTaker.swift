/// A hart's side of a split cluster's turn board (`TurnBoard`): what it does while it waits for its next Run and
/// the CPU comes to it, and whom it wakes when its slice ends.
public final class TurnTaker {
    /// What a waiting hart does with the CPU it has been given.
    public enum Step {
        /// Looks for its Run and lets the CPU go (or keeps it, while its Run is due: `EventLoop.yieldsWhilePolling`).
        case poll
        /// Sleeps until the hart before it yields, or its Run comes.
        case rest
    }

    private let board: TurnBoard
    private let hart: Int
    private var resting = false
    /// Runs received so far (see `TurnBoard.runIsDue`).
    private var runsReceived: UInt64 = 0
    /// The hart to wake (if it rests) when this one next lets the CPU go after its Yield: woken then, it runs at
    /// once instead of preempting this one on its way there.
    private var wakesNext: Int?
    /// `EventLoop.cpuYields` at the last Yield: until the hart has let the CPU go once since, it polls.
    private var cpuYieldsAtYield: UInt64 = 0
    /// Since when the hart has known its Run is due.
    private var dueSince: UInt64?
    /// How long a hart whose Run is due keeps the CPU before it lets the others go after all. Long: the others wait
    /// for their turns too (once the sequencer starts another hart's slice, the Run is no longer due), and a hart that
    /// lets the CPU go goes behind them, which puts the turns out of order for a while (with 5 µs, a hiccup of the
    /// sequencer's CPU cost bursts of about a hundred laps; 0.94x paired on smp-contend, 30 pairs).
    static let dueSpinNanoseconds: UInt64 = 50_000

    public init(board: TurnBoard, hart: Int, loop: EventLoop) {
        self.board = board
        self.hart = hart
        loop.beforeYieldingCPU = { [unowned self] in
            guard let next = wakesNext else { return }
            wakesNext = nil
            board.wake(next)
        }
    }

    /// A Run has arrived. The board's line the sequencer has just written is fetched meanwhile, for when the slice
    /// ends (a miss there would be on the hand-over's path).
    public func runArrived(loop: EventLoop) {
        runsReceived &+= 1
        board.prefetchExpected()
        _ = wakeUp(loop: loop)
    }

    /// The hart's slice has ended: its Yield goes out.
    public func sliceEnded(loop: EventLoop) {
        board.sliceEnded()
        cpuYieldsAtYield = loop.cpuYields
        dueSince = nil
        let next = board.expectedHart
        wakesNext = next == hart ? nil : next
    }

    /// Ends a rest; returns whether the hart was resting (then it has just been woken).
    public func wakeUp(loop: EventLoop) -> Bool {
        guard resting else { return false }
        board.endRest(hart, on: loop)
        resting = false
        dueSince = nil
        return true
    }

    /// What the hart does now, waiting for its Run: take what came at once; else keep the CPU while the Run is due,
    /// rest when another hart is next (once it has let the CPU go since its Yield) or when it has waited long, poll
    /// otherwise.
    public func nextStep(now: UInt64, waitedLong: Bool, loop: EventLoop) -> Step {
        if loop.hasLaneInput { return .poll }
        if board.runIsDue(hart, runsReceived: runsReceived) {
            let since = dueSince ?? now
            dueSince = since
            if now &- since <= Self.dueSpinNanoseconds {
                loop.yieldsWhilePolling = false
                return .poll
            }
            // Due for long (the sequencer is held: a debugger, a checkpoint): as any other wait.
        } else {
            dueSince = nil
        }
        loop.yieldsWhilePolling = true
        guard waitedLong || (loop.cpuYields != cpuYieldsAtYield && board.shouldRest(hart)) else { return .poll }
        board.beginRest(hart, on: loop)
        resting = true
        return .rest
    }
}
