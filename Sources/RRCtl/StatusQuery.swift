#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRNode
import RRProto

/// Asks a running cluster's sequencer for its status, as an observer (not the console owner).
enum StatusQuery {
    static func ask(_ directory: RunDirectory, timeoutMilliseconds: UInt64 = 2000) throws -> Rrvm_StatusReply {
        let loop = EventLoop()
        var answer: Result<Rrvm_StatusReply, Error> = .failure(NodeError("no answer from the sequencer"))
        let credentials = try directory.credentials()
        let timer = LoopTimer(loop: loop)
        var connection: Connection?
        timer.start(milliseconds: timeoutMilliseconds) {
            connection?.close()
            timer.close()
            loop.stop()
        }
        join(loop: loop, address: directory.busAddress, role: .control, index: 1, credentials: credentials,
             name: "rrctl ps") { result in
            switch result {
            case .failure(let error):
                answer = .failure(error)
                timer.close()
                loop.stop()
            case .success(let (joined, _)):
                connection = joined
                joined.onEnvelope { envelope in
                    if case .statusReply(let reply)? = envelope.body {
                        answer = .success(reply)
                        joined.close()
                        timer.close()
                        loop.stop()
                    }
                }
                var request = Rrvm_Envelope()
                request.body = .statusRequest(Rrvm_StatusRequest())
                joined.send(request)
            }
        }
        loop.run()
        return try answer.get()
    }
}
