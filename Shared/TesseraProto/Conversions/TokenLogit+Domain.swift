// A top logit reported with a sampled token; its id keeps the bit pattern like every token
// id (TokenIDs+Domain.swift).
extension Tessera_V1_TokenLogit {
    public init(token: Int32, logit: Float, logprob: Float = 0) {
        self.init()
        self.token = token
        self.logit = logit
        self.logprob = logprob
    }

    /// The entry's token as an engine id.
    public var token: Int32 {
        get { Int32(bitPattern: tokenID) }
        set { tokenID = UInt32(bitPattern: newValue) }
    }
}
