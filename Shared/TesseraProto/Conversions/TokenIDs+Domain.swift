// Token ids are `Int32` in the engine (llama.cpp's `llama_token`) and `uint32` on the wire;
// the bit pattern is kept, so a negative id stays detectable after a round trip.
extension Array where Element == UInt32 {
    /// Wire token ids as the engine's.
    public var tokenIDs: [Int32] { map { Int32(bitPattern: $0) } }
}

extension Array where Element == Int32 {
    /// Engine token ids as the wire's.
    public var wireTokenIDs: [UInt32] { map { UInt32(bitPattern: $0) } }
}

extension Tessera_V1_ForwardStep {
    /// The step's tokens as engine ids.
    public var tokens: [Int32] {
        get { tokenIds.tokenIDs }
        set { tokenIds = newValue.wireTokenIDs }
    }
}

extension Tessera_V1_ForwardResponse {
    /// The token the last stage sampled, as an engine id.
    public var token: Int32 {
        get { Int32(bitPattern: tokenID) }
        set { tokenID = UInt32(bitPattern: newValue) }
    }
}
