import GRPCCore

extension RPCError {
    /// UNIMPLEMENTED naming the capability that a later issue brings, so a client sees what
    /// is missing rather than a fake answer.
    public static func notImplementedYet(_ capability: String) -> RPCError {
        RPCError(code: .unimplemented, message: "\(capability) is not implemented yet")
    }

    public static func invalidArgument(_ message: String) -> RPCError {
        RPCError(code: .invalidArgument, message: message)
    }
}
