import GRPCCore

extension InvalidMessage: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code { .invalidArgument }
    public var rpcErrorMessage: String { description }
}
