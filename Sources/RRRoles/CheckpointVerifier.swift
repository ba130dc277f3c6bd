#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// `rrctl replay LOG --verify-checkpoints N [--seed S]`: N checkpoint round trips at random (seeded) points
/// of a replay. Each one stops at G1 and checkpoints, runs to G2 and takes the machine's fingerprint, restores
/// the checkpoint, runs to G2 again and takes it again: every process's state, RAM and the console output
/// produced must be identical. Rounds go forward through the log (G1 of a round >= G2 of the one before).
public final class CheckpointVerifier {
    private let timeline: ClusterTimeline
    private let points: [(g1: UInt64, g2: UInt64)]
    private let say: (String) -> Void
    private var round = 0
    private var completion: ((Result<String, Error>) -> Void)?

    /// Rounds placed at random in the log's first 95 % (the very end may be the guest's power-off, which ends
    /// the run), from `seed`.
    public init(timeline: ClusterTimeline, rounds: Int, seed: UInt64, say: @escaping (String) -> Void) {
        self.timeline = timeline
        self.say = say
        let span = (timeline.endG ?? 0) / 20 * 19
        // Point i from the seed and i alone (FNV-1a of both, then MurmurHash3's finalizer, which spreads
        // neighbouring inputs): the same seed places the same points everywhere.
        let gs = (0..<UInt64(2 * max(rounds, 0))).map { index -> UInt64 in
            var z = digest((0..<16).map { UInt8(truncatingIfNeeded: ($0 < 8 ? seed : index) >> (8 * ($0 % 8))) })
            z = (z ^ (z >> 33)) &* 0xff51_afd7_ed55_8ccd
            z = (z ^ (z >> 33)) &* 0xc4ce_b9fe_1a85_ec53
            return span == 0 ? 0 : (z ^ (z >> 33)) % span
        }.sorted()
        points = stride(from: 0, to: gs.count, by: 2).map { (gs[$0], gs[$0 + 1]) }
    }

    public func run(then completion: @escaping (Result<String, Error>) -> Void) {
        self.completion = completion
        next()
    }

    private func fail(_ what: String) {
        completion?(.failure(TimelineError("checkpoint round trip \(round + 1) of \(points.count): \(what)")))
        completion = nil
    }

    private func next() {
        guard round < points.count else {
            let stats = timeline.statistics
            completion?(.success("\(points.count) checkpoint round trips identical (checkpoint "
                + "\(stats.checkpoints == 0 ? 0 : stats.checkpointNanoseconds / UInt64(stats.checkpoints) / 1_000_000) ms, restore "
                + "\(stats.restores == 0 ? 0 : stats.restoreNanoseconds / UInt64(stats.restores) / 1_000_000) ms on average)"))
            completion = nil
            return
        }
        let (g1, g2) = points[round]
        timeline.run(toG: g1) { [self] in
            guard case .success = $0 else { return fail("running to G1=\(g1): \($0)") }
            let stoppedAt = timeline.g
            timeline.checkpoint { [self] in
                guard case .success(let checkpoint) = $0 else { return fail("checkpoint at G=\(stoppedAt): \($0)") }
                arrive(at: g2) { [self] first in
                    timeline.restore(checkpoint) { [self] in
                        guard case .success = $0 else { return fail("restore to G=\(stoppedAt): \($0)") }
                        arrive(at: g2) { [self] second in
                            let differences = second.differences(from: first)
                            guard differences.isEmpty else {
                                return fail("from G=\(stoppedAt) to G=\(g2) twice, the machine differs in "
                                            + differences.joined(separator: ", ") + "\n  first:  \(first)\n  second: \(second)")
                            }
                            say("round trip \(round + 1)/\(points.count): G=\(stoppedAt) -> G=\(first.g), restored, "
                                + "again: identical (\(first.harts.count) harts, \(first.devices.count) devices, RAM, "
                                + "\(first.consoleBytes) console bytes)")
                            round += 1
                            next()
                        }
                    }
                }
            }
        }
    }

    /// Runs to `g` and takes the fingerprint there.
    private func arrive(at g: UInt64, then completion: @escaping (MachineFingerprint) -> Void) {
        timeline.run(toG: g) { [self] in
            guard case .success = $0 else { return fail("running to G2=\(g): \($0)") }
            timeline.fingerprint { [self] in
                switch $0 {
                case .success(let fingerprint): completion(fingerprint)
                case .failure(let error): fail("fingerprint at G=\(g): \(error)")
                }
            }
        }
    }
}
