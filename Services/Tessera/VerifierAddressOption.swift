import ArgumentParser
import GRPCCore
import ServiceKit
import TesseraProto

/// `--verifier HOST:PORT` (or `--port-offset N`) for the commands that ask the verifier.
struct VerifierAddressOption: ParsableArguments {
    @Option(
        help:
            "Verifier address host:port (default: env TESSERA_VERIFIER_ADDRESS, else 127.0.0.1:7403)."
    )
    var verifier: ListenAddress?
    @OptionGroup var offset: PortOffsetOption

    func validate() throws {
        try offset.check(explicit: verifier, flag: "--verifier")
    }

    var address: ListenAddress {
        offset.address(verifier, environment: "TESSERA_VERIFIER_ADDRESS", defaultPort: 7403)
    }

    /// Runs `body` with a verifier client; an unreachable verifier or an error status is one
    /// CLI line (NOT_FOUND keeps its message: "receipt … not found").
    func call<Result: Sendable>(
        _ body:
            @Sendable (Tessera_V1_Verifier.Client<TesseraClientTransport>) async throws -> Result
    ) async throws -> Result {
        let address = address
        try offset.installSecurity()
        do {
            return try await ServiceClient.with(address) { client in
                try await body(Tessera_V1_Verifier.Client(wrapping: client))
            }
        } catch let error as RPCError where error.code != .unavailable {
            throw CLIError("the verifier at \(address): \(error.message) (\(error.code))")
        } catch {
            throw CLIError("cannot reach the verifier at \(address): \(error)")
        }
    }
}
