import Crypto
import Foundation
import GRPCCore
import Scheduler
import ServiceKit
import SwiftASN1
import Testing
import X509

/// The names an enrolling worker asks to be reached at end up in its certificate's
/// subjectAltNames, checked by the authority: DNS names and addresses that can be dialled,
/// never a wildcard, another role's service name, or too many. Read back with swift-certificates
/// and, independently, openssl.
@Suite struct EnrollmentNamesTests {
    /// A signing request, as a joining machine makes one, asking for `names` (any kind of
    /// general name, so the tests can ask for what a real worker would not).
    static func signingRequest(asking names: [GeneralName]) throws -> [UInt8] {
        let key = P256.Signing.PrivateKey()
        var attributes = CertificateSigningRequest.Attributes()
        if !names.isEmpty {
            let extensions = try Certificate.Extensions { SubjectAlternativeNames(names) }
            attributes.insert(
                try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions)))
        }
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName {
                OrganizationName("Tessera")
                OrganizationalUnitName("scheduler")  // ignored: the authority issues a worker
                CommonName("edge")
            }, privateKey: Certificate.PrivateKey(key), attributes: attributes,
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }

    static func authority() throws -> EnrollmentAuthority {
        try EnrollmentAuthority(directory: EnrollmentTests.clusterDirectory())
    }

    static func ip(_ bytes: [UInt8]) -> GeneralName {
        .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes)))
    }

    @Test func requestedNamesBecomeAlternativeNames() throws {
        let authority = try Self.authority()
        let token = try authority.tokens.create(name: nil, lifetime: 600)
        var ipv6 = [UInt8](repeating: 0, count: 16)
        ipv6[0] = 0xfd
        ipv6[15] = 7
        let request = try Self.signingRequest(asking: [
            .dnsName("edge-7.lab.example"), Self.ip([10, 0, 0, 7]), Self.ip(ipv6),
        ])
        let enrolled = try authority.enroll(
            tokenID: token.id, secret: token.secret, signingRequestDER: request,
            requestedName: "edge-7")
        let certificate = try Certificate(pemEncoded: enrolled.certificatePEM)
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("edge-7.lab.example")))
        #expect(names.contains(Self.ip([10, 0, 0, 7])))
        #expect(names.contains(Self.ip(ipv6)))
        // Still loopback and its name, and still a worker whatever the request's subject said.
        #expect(names.contains(.dnsName("edge-7")))
        #expect(names.contains(Self.ip([127, 0, 0, 1])))
        #expect(
            PeerIdentity(certificate: certificate) == PeerIdentity(role: .worker, name: "edge-7"))

        // openssl reads the same names from the certificate.
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else { return }
        let file = EnrollmentTests.temporaryPath("edge-7") + ".pem"
        try enrolled.certificatePEM.write(toFile: file, atomically: true, encoding: .utf8)
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = ["x509", "-in", file, "-noout", "-ext", "subjectAltName"]
        process.standardOutput = output
        try process.run()
        let text = String(
            decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(text.contains("DNS:edge-7.lab.example"), "\(text)")
        #expect(text.contains("IP Address:10.0.0.7"), "\(text)")
        #expect(text.contains("IP Address:FD00:0:0:0:0:0:0:7"), "\(text)")
    }

    /// Each bad request is refused with the name and the reason, and leaves the token unspent.
    @Test func badNamesAreRefusedAndTheTokenKept() throws {
        let authority = try Self.authority()
        let token = try authority.tokens.create(name: nil, lifetime: 600)
        let tooMany = (0..<(EnrollmentNames.maxCount + 1)).map { GeneralName.dnsName("n\($0)") }
        let cases: [([GeneralName], String)] = [
            ([.dnsName("*.example.com")], "wildcards are not issued"),
            ([.dnsName("scheduler")], "service name of another role"),
            ([.dnsName("Gateway")], "service name of another role"),
            ([.dnsName("bad_name")], "dot-separated labels"),
            ([.dnsName("-edge")], "dot-separated labels"),
            ([.dnsName("edge..lab")], "dot-separated labels"),
            ([.dnsName(String(repeating: "a", count: 64))], "dot-separated labels"),
            ([Self.ip([0, 0, 0, 0])], "unspecified address"),
            (tooMany, "at most \(EnrollmentNames.maxCount) names"),
            ([.rfc822Name("a@example.com")], "only DNS names and IP addresses"),
        ]
        for (names, reason) in cases {
            let request = try Self.signingRequest(asking: names)
            do {
                _ = try authority.enroll(
                    tokenID: token.id, secret: token.secret, signingRequestDER: request,
                    requestedName: "edge-bad")
                Issue.record("\(names) was issued")
            } catch let error as EnrollmentError {
                #expect("\(error)".contains(reason), "\(names): \(error)")
                #expect(error.rpcErrorCode == .invalidArgument)
            }
        }
        // None of them spent the token.
        let good = try authority.enroll(
            tokenID: token.id, secret: token.secret,
            signingRequestDER: try Self.signingRequest(asking: [.dnsName("edge.lab")]),
            requestedName: "edge-good")
        #expect(good.name == "edge-good")
    }

    /// The joining side checks the names before it sends anything (an explicit bad `--san`
    /// fails at once, with the same reason).
    @Test func joiningMachineChecksItsNames() throws {
        #expect(throws: EnrollmentError.self) { try EnrollmentNames.validated(["*.lab"]) }
        #expect(
            try EnrollmentNames.validated(["edge.lab", "10.0.0.7", "edge.lab"]) == [
                "edge.lab", "10.0.0.7",
            ])
    }

    /// End to end over TLS: a worker enrolled asking for 127.0.0.5 (loopback, but named by no
    /// certificate unless asked) serves there, and a client with hostname verification on
    /// accepts it; a certificate enrolled without the name is refused at that address.
    @Test func enrolledAddressPassesHostnameVerification() async throws {
        let cluster = try await EnrollmentTests.startCluster()
        defer { Task { await cluster.scheduler.shutdown() } }
        let address = "127.0.0.5"
        let machine = CertificateDirectory(path: EnrollmentTests.temporaryPath("edge-named"))
        let name = try await WorkerEnrollment.enroll(
            token: try EnrollmentTests.token(cluster), server: cluster.enrollment,
            directory: machine, requestedName: "edge-named", alternativeNames: [address])
        let bare = CertificateDirectory(path: EnrollmentTests.temporaryPath("edge-bare"))
        let bareName = try await WorkerEnrollment.enroll(
            token: try EnrollmentTests.token(cluster), server: cluster.enrollment,
            directory: bare, requestedName: "edge-bare")

        try cluster.directory.issue(role: .gateway, name: "gateway")
        let gateway = ClusterSecurity.mutualTLS(try cluster.directory.material(for: "gateway"))
        for (directory, certificate, accepted) in [(machine, name, true), (bare, bareName, false)] {
            let worker = try await ServerRoleCheckTests.startServer(
                on: address, as: .mutualTLS(try directory.material(for: certificate)))
            defer { Task { await worker.shutdown() } }
            let failure = await rpcFailure {
                try await ServerRoleCheckTests.checkHealth(worker.addresses.grpc, as: gateway)
            }
            if accepted {
                #expect(failure == nil, "\(String(describing: failure))")
            } else {
                #expect(failure?.code == .unavailable)
            }
        }
    }
}
