import RRProto
import SwiftProtobuf

extension Connection {
    /// Sends one Envelope as a frame (`wakingPeer`: see `send(_:wakingPeer:)` of bytes). The messages of a slice
    /// are encoded by `HotMessageCodec`, the rest by SwiftProtobuf: the same bytes either way.
    public func send(_ envelope: Rrvm_Envelope, wakingPeer: Bool = true) {
        if envelope.unknownFields.data.isEmpty, let body = envelope.body {
            return send(EnvelopeHeader(envelope), body, wakingPeer: wakingPeer)
        }
        sendEncodedBySwiftProtobuf(envelope, wakingPeer: wakingPeer)
    }

    /// Sends the Envelope of `header` and `body` (see `send(_:wakingPeer:)`), for a sender that holds them apart: the
    /// messages of a slice are framed from them without building an Envelope.
    public func send(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body, wakingPeer: Bool = true) {
        // Framed in the connection's buffer, taken out meanwhile (a send from within this one gets a fresh one).
        var frame = sendBuffer
        sendBuffer = []
        if HotMessageCodec.frame(header, body, into: &frame) {
            sendUnframed(frame, wakingPeer: wakingPeer)
            if frame.capacity <= Self.keptBufferBytes { sendBuffer = frame }
            return
        }
        sendEncodedBySwiftProtobuf(header.envelope(body), wakingPeer: wakingPeer)
    }

    private func sendEncodedBySwiftProtobuf(_ envelope: Rrvm_Envelope, wakingPeer: Bool) {
        do {
            send(try envelope.serializedBytes() as [UInt8], wakingPeer: wakingPeer)
        } catch {
            close(.malformedMessage("cannot encode \(envelope.body.map { "\($0)" } ?? "empty envelope"): \(error)"))
        }
    }

    /// As `onEnvelope`, each frame delivered as its body and the envelope's other fields (`from` stamped likewise):
    /// the messages of a slice reach the handler without an Envelope built around them (each move of a body in
    /// and out of one copies it). A frame without a body closes the connection.
    public func onMessage(from: UInt32? = nil, _ handler: @escaping (EnvelopeHeader, Rrvm_Envelope.OneOf_Body) -> Void) {
        var header = EnvelopeHeader()
        // Every frame is decoded into this one body, handed to the handler by reference: no copy of it per frame (see
        // `HotMessageCodec.decode(_:header:body:)`). It holds the last message until the next one comes.
        var hotBody = Rrvm_Envelope.OneOf_Body.cut(Rrvm_Cut())
        onFrame = { [unowned self] frame in
            if HotMessageCodec.decode(frame, header: &header, body: &hotBody) {
                if let from { header.from = from }
                return handler(header, hotBody)
            }
            guard let envelope = self.decodedBySwiftProtobuf(frame), let body = envelope.body else { return }
            header = EnvelopeHeader(envelope)
            if let from { header.from = from }
            handler(header, body)
        }
    }

    /// Delivers every frame decoded as an Envelope (by `HotMessageCodec`, or SwiftProtobuf for what it leaves). A
    /// frame that is not a valid Envelope closes the connection with `.malformedMessage`: a broken peer never
    /// reaches the receiver's state. `from`: the sender as the receiver knows it, stamped on every envelope
    /// (whatever the peer put there), here where the envelope is not shared yet, so that stamping copies nothing.
    /// Every frame is decoded into the same envelope: while the handler keeps none, its storage is reused, not
    /// allocated per frame.
    public func onEnvelope(from: UInt32? = nil, _ handler: @escaping (Rrvm_Envelope) -> Void) {
        var envelope = Rrvm_Envelope()
        onFrame = { [unowned self] frame in
            if !HotMessageCodec.decode(frame, into: &envelope) {
                guard let decoded = self.decodedBySwiftProtobuf(frame) else { return }
                envelope = decoded
            }
            if let from { envelope.from = from }
            handler(envelope)
            // What the body holds (a declaration the receiver keeps and changes in place) is the receiver's alone.
            envelope.body = nil
        }
    }

    /// `frame` decoded by SwiftProtobuf (what `HotMessageCodec` leaves to it), an Envelope with a body; else nil, the
    /// connection closed with `.malformedMessage` (`onEnvelope` and `onMessage` both).
    private func decodedBySwiftProtobuf(_ frame: [UInt8]) -> Rrvm_Envelope? {
        do {
            let envelope = try Rrvm_Envelope(serializedBytes: frame)
            guard envelope.body != nil else {
                close(.malformedMessage("envelope without a body from \(name)"))
                return nil
            }
            return envelope
        } catch {
            close(.malformedMessage("undecodable frame of \(frame.count) bytes from \(name)"))
            return nil
        }
    }
}
