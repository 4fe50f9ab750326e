import ArgumentParser
import Foundation
import ServiceKit

/// `--port-offset N` for the commands that talk to a cluster: `tessera up --port-offset N`
/// adds N to every port it uses, so N added to the default address (the environment's, else
/// 127.0.0.1's) reaches that cluster without spelling out host:port.
struct PortOffsetOption: ParsableArguments {
    @Option(
        help:
            "Added to the default port, to reach a cluster started with `tessera up --port-offset N`."
    )
    var portOffset = 0
    @OptionGroup(title: "Security") var security: SecurityOptions

    func validate() throws {
        guard (0...50000).contains(portOffset) else {
            throw ValidationError("--port-offset must be between 0 and 50000")
        }
    }

    /// An explicit address is taken as is; giving one together with an offset is ambiguous.
    func check(explicit: ListenAddress?, flag: String) throws {
        if explicit != nil, portOffset != 0 {
            throw ValidationError("give \(flag) or --port-offset, not both")
        }
    }

    /// Makes this process's gRPC clients use the operator certificate: from --tls-dir (env
    /// TESSERA_TLS_DIR), else from the state directory of `tessera up --port-offset N`;
    /// plaintext only with --insecure. Call before dialling the cluster.
    func installSecurity() throws {
        var options = security
        options.tlsDir = certificateDirectory ?? ""
        do {
            ClusterSecurity.processWide = try options.resolve(defaultName: "operator")
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// --tls-dir (env TESSERA_TLS_DIR), else the `tessera up` cluster's own, if it exists.
    var certificateDirectory: String? {
        if !security.tlsDir.isEmpty { return security.tlsDir }
        let local = ClusterCertificates.directory(
            stateDirectory: ClusterCertificates.defaultStateDirectory(portOffset: portOffset))
        return FileManager.default.fileExists(atPath: local) ? local : nil
    }

    func address(_ explicit: ListenAddress?, environment: String, defaultPort: Int)
        -> ListenAddress
    {
        if let explicit { return explicit }
        var address =
            ListenAddress(parsing: EnvironmentDefaults.string(environment, ""))
            ?? ListenAddress(host: "127.0.0.1", port: defaultPort)
        address.port += portOffset
        return address
    }
}
