import CacheManager
import Foundation
import GRPCCore
import ServiceKit
import TesseraProto
import Testing

/// ImportModel reads paths only inside the configured import directories, and its errors
/// never quote a file's content (issue 11: ImportModel once answered with the first bytes
/// of /etc/passwd).
@Suite(.timeLimit(.minutes(3))) struct ImportConfinementTests {
    typealias F = ShardCutterFixtures

    @Test func pathsOutsideTheImportDirectoriesAreRefusedUnread() async throws {
        let store = try F.temporaryDirectory("store")
        let allowed = try F.temporaryDirectory("imports")
        defer {
            try? FileManager.default.removeItem(atPath: store)
            try? FileManager.default.removeItem(atPath: allowed)
        }
        let secret = try F.write(
            Array("root:x:0:0:secret-content\n".utf8), named: "secret.gguf", in: store)
        try FileManager.default.createSymbolicLink(
            atPath: allowed + "/link.gguf", withDestinationPath: secret)
        let inside = try F.write(
            Array("root:x:0:0:secret-content\n".utf8), named: "notes.gguf", in: allowed)

        var configuration = CacheManagerConfiguration()
        configuration.storeDirectory = store
        configuration.importConfinement = ImportConfinement(directories: [allowed])
        let application = buildCacheManager(configuration, logger: quietLogger)
        try await application.withInProcessServer { client async throws in
            #expect(try await eventually { await HealthProbe.isServing(client) })
            let api = Tessera_V1_CacheManager.Client(wrapping: client)
            for path in [secret, "/etc/passwd", allowed + "/link.gguf", allowed + "/../" + secret] {
                let failure = await rpcFailure {
                    _ = try await api.importModel(.with { $0.path = path })
                }
                #expect(failure?.code == .permissionDenied, "\(path)")
                #expect(failure?.message.contains("outside the import directories") == true)
                #expect(failure?.message.contains("root") == false)
            }
            // Inside: read, refused as not a model, without quoting it (not even as hex).
            let notAModel = await rpcFailure {
                _ = try await api.importModel(.with { $0.path = inside })
            }
            #expect(notAModel?.code == .invalidArgument)
            #expect(notAModel?.message.contains("not a GGUF file") == true)
            #expect(notAModel?.message.contains("root") == false)
            #expect(notAModel?.message.contains("746f6f72") == false)  // "root" read little-endian
            #expect(try await api.listModels(.init()).models.isEmpty)
        }
    }
}
