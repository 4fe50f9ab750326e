import SwiftProtobuf

extension SwiftProtobuf.Message {
    /// Bytes of the message's protobuf encoding (what the hop puts on the wire, less gRPC framing).
    var wireSize: Int { ((try? serializedBytes()) as [UInt8]?)?.count ?? 0 }
}
