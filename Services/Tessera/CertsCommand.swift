import ArgumentParser
import Foundation
import ServiceKit

/// `tessera certs`: the cluster's certificate authority and the certificates it signs, for
/// mutual TLS between services (docs/security.md). Keys are made here, in Swift; nothing
/// shells out to openssl.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Make the cluster CA and issue service certificates.",
        subcommands: [Init.self, Issue.self, JoinTokenCommand.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a cluster CA (ca.pem, ca.key) in a directory.")

        @Option(help: "Directory to write to (created if missing).")
        var dir: String

        func run() throws {
            let directory = CertificateDirectory(path: dir)
            do {
                try directory.createAuthority()
            } catch {
                throw CLIError("cannot create a CA in \(dir): \(error)")
            }
            print("created the cluster CA in \(dir) (keep ca.key secret)")
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a certificate (NAME.pem, NAME.key) signed by the CA in --dir.",
            discussion: """
                ROLE is what the holder may do: \(ServiceRole.names). \
                The certificate's subject is O=Tessera, OU=ROLE, CN=NAME; its alternative \
                names are localhost, 127.0.0.1, ::1, NAME, ROLE and every --san.
                """)

        @Argument(help: ArgumentHelp("The holder's role.", valueName: "role"))
        var role: String
        @Argument(help: "The holder's name (also the file name), e.g. worker-4.")
        var name: String
        @Option(help: "Directory holding the CA (ca.pem, ca.key).")
        var dir: String
        @Option(help: "An extra alternative name: a DNS name or IP address (repeatable).")
        var san: [String] = []

        func validate() throws {
            guard ServiceRole(rawValue: role) != nil else {
                throw ValidationError("unknown role '\(role)' (one of: \(ServiceRole.names))")
            }
        }

        func run() throws {
            let directory = CertificateDirectory(path: dir)
            guard directory.hasAuthority else {
                throw CLIError("no CA in \(dir): run `tessera certs init --dir \(dir)` first")
            }
            do {
                try directory.issue(role: ServiceRole(rawValue: role)!, name: name, extraNames: san)
            } catch {
                throw CLIError("cannot issue a certificate for \(name): \(error)")
            }
            print("issued \(role) certificate \(directory.certificatePath(name))")
        }
    }
}
