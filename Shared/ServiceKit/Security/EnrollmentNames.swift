import Foundation
import SwiftASN1
import X509

/// The names an enrolling worker asks to be reached at (its advertised host, host name and
/// `--san`s), which the enrollment authority writes into the certificate's subjectAltNames
/// so peers can dial the worker with hostname verification on.
///
/// Anyone holding a token asks for these, so they are checked, not trusted: DNS names of
/// letters, digits and hyphens (no wildcard, which would cover every host of a domain), or
/// IP addresses that can be dialled (not 0.0.0.0 or ::); at most `maxCount`; and never the
/// service names other roles are dialled by (`scheduler`, `gateway`...), which no worker may
/// answer for. The role is not the worker's to choose: the authority always issues `worker`.
public enum EnrollmentNames {
    /// More names than a machine plausibly has addresses, few enough to keep certificates small.
    public static let maxCount = 16

    /// Service names of the roles a worker must not pass for (compose and Kubernetes dial
    /// services by these).
    static let reserved: Set<String> = Set(
        ServiceRole.allCases.filter { $0 != .worker }.map(\.rawValue))

    /// `names` checked, without duplicates, in order; the first bad one is an error naming it.
    public static func validated(_ names: [String]) throws -> [String] {
        var unique: [String] = []
        for name in names where !unique.contains(name) {
            try check(name)
            unique.append(name)
        }
        guard unique.count <= maxCount else {
            throw EnrollmentError.badAlternativeName(
                names.joined(separator: ","), "at most \(maxCount) names")
        }
        return unique
    }

    /// Throws `badAlternativeName` with the reason when `name` may not be asked for.
    public static func check(_ name: String) throws {
        func refuse(_ reason: String) -> EnrollmentError {
            .badAlternativeName(name, reason)
        }
        if isIPAddress(name) {
            guard name != "0.0.0.0", name != "::" else {
                throw refuse("an unspecified address cannot be dialled")
            }
            return
        }
        guard !name.isEmpty, name.utf8.count <= 253 else {
            throw refuse("a DNS name has 1 to 253 characters")
        }
        guard !name.contains("*") else { throw refuse("wildcards are not issued") }
        guard !reserved.contains(name.lowercased()) else {
            throw refuse("it is the service name of another role")
        }
        let labelCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.count <= 63,
                label.allSatisfy({ labelCharacters.contains($0) }),
                label.first != "-", label.last != "-"
            else {
                throw refuse(
                    "a DNS name is dot-separated labels of 1 to 63 letters, digits and inner hyphens"
                )
            }
        }
    }

    /// Whether `name` is an IPv4 or IPv6 address (as certificates carry them).
    static func isIPAddress(_ name: String) -> Bool {
        guard let general = try? AlternativeName.parse(name) else { return false }
        if case .ipAddress = general { return true }
        return false
    }

    /// The names a signing request asks for in its extensionRequest attribute's
    /// subjectAltName, as text (IP addresses in their usual notation); other kinds of name
    /// (e-mail, URI, ...) are refused.
    static func requested(in request: CertificateSigningRequest) throws -> [String] {
        let extensions: Certificate.Extensions?
        do {
            extensions = try request.attributes.extensionRequest?.extensions
        } catch {
            throw EnrollmentError.badRequest("its extension request does not decode: \(error)")
        }
        guard let alternatives = try extensions?.subjectAlternativeNames else { return [] }
        var names: [String] = []
        for general in alternatives {
            switch general {
            case .dnsName(let name): names.append(name)
            case .ipAddress(let octets):
                guard let text = AlternativeName.text(ofAddress: Array(octets.bytes)) else {
                    throw EnrollmentError.badRequest("an IP address of \(octets.bytes.count) bytes")
                }
                names.append(text)
            default:
                throw EnrollmentError.badRequest(
                    "only DNS names and IP addresses may be asked for, not \(general)")
            }
        }
        return names
    }

    /// The subjectAltName request a joining machine puts in its signing request; no
    /// attribute when it asks for no names.
    static func attributes(asking names: [String]) throws -> CertificateSigningRequest.Attributes {
        var attributes = CertificateSigningRequest.Attributes()
        guard !names.isEmpty else { return attributes }
        let general = try names.map { try AlternativeName.parse($0) }
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(general) }
        attributes.insert(
            try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions)))
        return attributes
    }
}
