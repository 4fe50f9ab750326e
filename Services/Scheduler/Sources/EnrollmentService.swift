import GRPCCore
import Logging
import ServiceKit
import TesseraProto

/// Where and with what the scheduler enrolls new workers (`--enrollment-port`).
public struct EnrollmentSettings: Sendable {
    public var address: ListenAddress
    /// The directory with the CA key that signs for new workers, and the token store.
    public var certificateDirectory: String
    /// The scheduler's own certificate, presented on the enrollment listener; nil: the
    /// process's (`ClusterSecurity.processWide`, read when the scheduler is built).
    public var security: ClusterSecurity?
    /// Set to the address bound once the listener is up (port 0 picks one).
    public let bound = OneShot<ListenAddress>()

    public init(
        address: ListenAddress, certificateDirectory: String,
        security: ClusterSecurity? = nil
    ) {
        self.address = address
        self.certificateDirectory = certificateDirectory
        self.security = security
    }
}

/// `tessera.v1.Enrollment` on the scheduler's enrollment listener (`EnrollmentListener`):
/// hands out the CA certificate and spends join tokens on worker certificates
/// (`EnrollmentAuthority`). The scheduler holds the CA key for this; nothing else here uses it.
struct EnrollmentService: Tessera_V1_Enrollment.SimpleServiceProtocol {
    let authority: EnrollmentAuthority
    let logger: Logger

    func getAuthority(
        request: Tessera_V1_GetAuthorityRequest, context: ServerContext
    ) async throws -> Tessera_V1_GetAuthorityResponse {
        var response = Tessera_V1_GetAuthorityResponse()
        response.authorityPem = try authority.authorityPEM()
        return response
    }

    func enroll(request: Tessera_V1_EnrollRequest, context: ServerContext) async throws
        -> Tessera_V1_EnrollResponse
    {
        do {
            let enrolled = try authority.enroll(
                tokenID: request.tokenID, secret: request.tokenSecret,
                signingRequestDER: Array(request.csrDer), requestedName: request.name)
            logger.notice(
                "worker enrolled",
                metadata: [
                    "token": "\(request.tokenID)", "name": "\(enrolled.name)",
                    "peer": "\(context.remotePeer)",
                ])
            var response = Tessera_V1_EnrollResponse()
            response.certificatePem = enrolled.certificatePEM
            response.authorityPem = enrolled.authorityPEM
            response.name = enrolled.name
            return response
        } catch let error as EnrollmentError {
            // Logged here because the caller is a machine nobody vouched for yet.
            logger.warning(
                "enrollment refused",
                metadata: [
                    "token": "\(request.tokenID.prefix(16))", "reason": "\(error)",
                    "peer": "\(context.remotePeer)",
                ])
            throw error
        }
    }
}
