import Cluster
import Foundation
import Integrity
import ModelCompression
import ModelStore

/// One variant asked for and what came of it.
struct VariantOutcome: Sendable {
    var model: ModelRow
    /// It was recorded before (with an intact file): nothing was made.
    var alreadyPresent: Bool
    var seconds: Double
}

/// Variants: compact models made from an imported one (docs/variants.md). Each is written
/// to `<store>/models/` by `VariantBuilder` (complete files only), hashed and analysed like
/// an import, and only then recorded, under `<parent>:<method>`, with its parent and method.
extension ModelLibrary {
    nonisolated var variantDirectory: String { storeDirectory + "/models" }

    /// The variant's file: its name, with the characters a file name should not hold
    /// (`/`, and `:` for tools that read it as a host or drive) replaced by `_`.
    nonisolated func variantPath(name: String) -> String {
        let fileName = String(name.map { $0 == "/" || $0 == ":" ? "_" : $0 })
        return "\(variantDirectory)/\(fileName).gguf"
    }

    /// Creates the variant directory and removes what an interrupted variant left behind
    /// (`*.partial`: never recorded, never served).
    static func prepareVariantDirectory(_ directory: String) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in (try? files.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasSuffix(VariantBuilder.partialSuffix) {
            try? files.removeItem(atPath: directory + "/" + name)
        }
    }

    /// The variant of `parent` made by `method`: the recorded one if its file is intact,
    /// else made now. Concurrent requests for the same variant share one build (the later
    /// ones see no progress); the build finishes and is recorded even if its caller leaves.
    func variant(
        of parent: ModelRow, method: VariantMethod, calibrationText: String,
        progress: @escaping VariantProgressHandler
    ) async throws -> VariantOutcome {
        guard !parent.isVariant else {
            throw ModelLibraryError.variantOfVariant(
                model: parent.name,
                parent: parent.parameters?.parentName ?? parent.parentSha256 ?? "")
        }
        let name = method.variantName(parent: parent.name)
        if let request = variantRequests[name] { return try await request.value }
        let request = Task {
            try await self.recordedOrMade(
                name: name, parent: parent, method: method, calibrationText: calibrationText,
                progress: progress)
        }
        variantRequests[name] = request
        defer { variantRequests[name] = nil }
        return try await request.value
    }

    private func recordedOrMade(
        name: String, parent: ModelRow, method: VariantMethod, calibrationText: String,
        progress: @escaping VariantProgressHandler
    ) async throws -> VariantOutcome {
        if let existing = try await catalog.model(named: name) {
            guard existing.parentSha256 == parent.sha256, existing.method == method.description
            else {
                throw ModelLibraryError.variantNameTaken(name: name, holderSHA256: existing.sha256)
            }
            if Self.fileIdentity(existing.path)?.size == existing.fileSize {
                return VariantOutcome(model: existing, alreadyPresent: true, seconds: 0)
            }
            // Its file is gone: made again below (the same bytes, so the same SHA-256).
        }
        // The parent's file must still be the one imported (a changed or truncated one is
        // refused here, with FAILED_PRECONDITION, before anything is written).
        _ = try await openModel(parent)
        let output = variantPath(name: name)
        let started = ContinuousClock.now
        let report: VariantReport
        do {
            report = try await BlockingWork.run { [parent] in
                try VariantBuilder.build(
                    source: parent.path, method: method, output: output,
                    calibrationText: calibrationText, parentSHA256: parent.sha256,
                    progress: progress)
            }
        } catch let error as VariantBuildError {
            throw ModelLibraryError(variant: name, error)
        }
        let row: ModelRow
        do {
            var inspected = try await BlockingWork.run {
                try Self.inspect(path: output, displayName: name).1
            }
            inspected.parentSha256 = parent.sha256
            inspected.method = method.description
            inspected.parameters = VariantParameters(
                fallbacks: report.fallbacks, parentName: parent.name,
                calibrationSHA256: method.pruning == nil
                    ? nil : FileDigest.sha256Hex(of: Array(calibrationText.utf8)),
                seconds: started.duration(to: .now).inSeconds)
            row = inspected
        } catch {
            // Written but unusable (or unhashable): never recorded, so not kept either.
            try? FileManager.default.removeItem(atPath: output)
            throw ModelLibraryError.variantWriteFailed(name: name, reason: "\(error)")
        }
        switch try await catalog.insertModel(row) {
        case .inserted(let model):
            logger.info(
                "variant made",
                metadata: [
                    "model": "\(model.name)", "parent": "\(parent.name)",
                    "sha256": "\(model.sha256)", "bytes": "\(model.fileSize)",
                    "fallbacks": "\(report.fallbacks.count)",
                    "seconds": "\(started.secondsElapsed)",
                ])
            return VariantOutcome(
                model: model, alreadyPresent: false,
                seconds: started.duration(to: .now).inSeconds)
        case .alreadyPresent(let model):
            return VariantOutcome(model: model, alreadyPresent: true, seconds: 0)
        case .nameTaken(let holder):
            try? FileManager.default.removeItem(atPath: output)
            throw ModelLibraryError.variantNameTaken(name: name, holderSHA256: holder.sha256)
        }
    }
}
