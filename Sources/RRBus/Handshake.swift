#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RRProto
#if canImport(Glibc)
import Glibc
#endif

/// What a process must present to join a cluster: the cluster's id and the per-run secret kept in the
/// run directory (readable only by the user who started the cluster).
public struct Credentials: Equatable {
    public var clusterID: String
    public var secret: [UInt8]

    public init(clusterID: String, secret: [UInt8]) {
        self.clusterID = clusterID
        self.secret = secret
    }

    /// The reason to refuse `hello`, or nil if it may join.
    public func refusal(for hello: Rrvm_Hello) -> String? {
        if hello.protocolVersion != protocolVersion {
            return "protocol version \(hello.protocolVersion) is not this sequencer's version \(protocolVersion)"
        }
        if hello.clusterID != clusterID {
            // The real id is not echoed: a refusal tells a stranger nothing about this cluster.
            return "cluster id '\(hello.clusterID.prefix(64))' is not this cluster's"
        }
        // Compare in constant time: the secret is the only thing keeping strangers off the bus.
        let offered = [UInt8](hello.secret)
        var difference = UInt8(offered.count == secret.count ? 0 : 1)
        for (index, byte) in secret.enumerated() where index < offered.count {
            difference |= byte ^ offered[index]
        }
        return difference == 0 ? nil : "wrong secret"
    }
}

/// Connects to the sequencer and introduces this process. `completion` gets the connection (its
/// `onEnvelope` still to be set by the caller) and the Welcome, or why it could not join. Over a Unix
/// socket the frames then move to a shared lane unless `sharedLane` is false.
public func join(loop: EventLoop, address: BusAddress, role: Rrvm_Role, index: Int, credentials: Credentials,
                 name: String, sharedLane: Bool = sharedLanesEnabled,
                 completion: @escaping (Result<(Connection, Rrvm_Welcome), BusError>) -> Void) {
    connect(loop: loop, to: address, name: "sequencer") { result in
        switch result {
        case .failure(let error):
            completion(.failure(error))
        case .success(let connection):
            var answered = false
            connection.onClose = { reason in
                if !answered { answered = true; completion(.failure(reason)) }
            }
            connection.onEnvelope { envelope in
                guard !answered else { return }
                answered = true
                switch envelope.body {
                case .welcome(let welcome)?:
                    connection.onClose = nil
                    connection.onFrame = nil
                    if !welcome.sharedLanePath.isEmpty {
                        do {
                            connection.attachLane(try SharedLane.open(path: welcome.sharedLanePath))
                        } catch {
                            let reason = error as? BusError ?? .io("\(error)")
                            connection.close(reason)
                            return completion(.failure(reason))
                        }
                    }
                    completion(.success((connection, welcome)))
                case .refused(let refused)?:
                    connection.close(.refused(refused.reason))
                    completion(.failure(.refused(refused.reason)))
                default:
                    connection.close(.malformedMessage("expected Welcome, got \(envelope.kindName)"))
                    completion(.failure(.malformedMessage("expected Welcome, got \(envelope.kindName)")))
                }
            }
            var hello = Rrvm_Hello()
            hello.protocolVersion = protocolVersion
            hello.role = role
            hello.index = UInt32(index)
            hello.clusterID = credentials.clusterID
            hello.secret = Data(credentials.secret)
            hello.pid = getpid()
            hello.sharedLane = address.kind == .unix && sharedLane
            var envelope = Rrvm_Envelope()
            envelope.body = .hello(hello)
            connection.send(envelope)
        }
    }
}

/// Local peers move their frames to a shared lane after the handshake unless RRVM_SHARED_LANES=0
/// (everything over the socket: slower, for comparing and for debugging with strace).
public var sharedLanesEnabled: Bool { ProcessInfo.processInfo.environment["RRVM_SHARED_LANES"] != "0" }

/// `join`, retried while the sequencer is not listening yet (it may still be starting: the harts start beside it),
/// for up to `attempts` tries: every millisecond for the first `promptAttempts`, then every 5 ms; refusals and
/// malformed answers are not retried.
public func joinWithRetry(loop: EventLoop, runDirectory: RunDirectory, role: Rrvm_Role, index: Int, name: String,
                          attempts: Int = 2000, promptAttempts: Int = 200, sharedLane: Bool = sharedLanesEnabled,
                          completion: @escaping (Result<(Connection, Rrvm_Welcome), BusError>) -> Void) {
    let credentials: Credentials
    do { credentials = try runDirectory.credentials() } catch {
        completion(.failure(.io("\(error)")))
        return
    }
    var remaining = attempts
    func attempt() {
        join(loop: loop, address: runDirectory.busAddress, role: role, index: index, credentials: credentials,
             name: name, sharedLane: sharedLane) { result in
            if case .failure(.io) = result, remaining > 0 {
                remaining -= 1
                loop.after(milliseconds: attempts - remaining <= promptAttempts ? 1 : 5) { attempt() }
                return
            }
            completion(result)
        }
    }
    attempt()
}
